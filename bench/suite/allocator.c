/*
 * Resolving an allocator from its own shared object; see allocator.h.
 *
 * Each library is opened RTLD_LOCAL: its malloc does not interpose on the process's,
 * so glibc keeps serving the harness, and the allocator serves exactly what the
 * workloads ask of it through the table.
 */
#define _GNU_SOURCE
#include "allocator.h"

#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

struct allocator_library {
	const char *name;
	const char *library; /* NULL: the kmm_library argument */
	const char *symbols[5];
};

/* Symbol order: malloc, free, realloc, aligned_alloc, usable_size. */
static const struct allocator_library libraries[] = {
        {"glibc",
         "libc.so.6",
         {"malloc", "free", "realloc", "aligned_alloc", "malloc_usable_size"}},
        {"jemalloc",
         "libjemalloc.so.2",
         {"malloc", "free", "realloc", "aligned_alloc", "malloc_usable_size"}},
        {"mimalloc",
         "libmimalloc.so.2",
         {"mi_malloc", "mi_free", "mi_realloc", "mi_aligned_alloc", "mi_usable_size"}},
        /* tc_memalign takes (alignment, size), as aligned_alloc does. */
        {"tcmalloc",
         "libtcmalloc_minimal.so.4",
         {"tc_malloc", "tc_free", "tc_realloc", "tc_memalign", "tc_malloc_size"}},
        {"kmm", NULL, {"malloc", "free", "realloc", "aligned_alloc", "malloc_usable_size"}},
};

const char *const bench_allocator_names[] = {"glibc",    "jemalloc", "mimalloc",
                                             "tcmalloc", "kmm",      NULL};

int bench_allocator_open(struct bench_allocator *table, const char *name, const char *kmm_library,
                         char *error, size_t error_size)
{
	const struct allocator_library *lib = NULL;
	const char *path;
	struct link_map *map;
	void *handle, *functions[5];

	for (size_t i = 0; i < sizeof(libraries) / sizeof(libraries[0]); i++)
		if (strcmp(libraries[i].name, name) == 0)
			lib = &libraries[i];
	if (!lib) {
		snprintf(error, error_size, "unknown allocator '%s'", name);
		return -1;
	}
	path = lib->library ? lib->library : kmm_library;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(error, error_size, "%s: %s", name, dlerror());
		return -1;
	}
	for (int i = 0; i < 5; i++) {
		functions[i] = dlsym(handle, lib->symbols[i]);
		if (!functions[i]) {
			snprintf(error, error_size, "%s: %s has no %s", name, path,
			         lib->symbols[i]);
			return -1;
		}
	}
	table->name = lib->name;
	table->malloc = (void *(*)(size_t))functions[0];
	table->free = (void (*)(void *))functions[1];
	table->realloc = (void *(*)(void *, size_t))functions[2];
	table->aligned_alloc = (void *(*)(size_t, size_t))functions[3];
	table->usable_size = (size_t(*)(void *))functions[4];
	table->library = path;
	if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0)
		table->library = map->l_name;
	return 0;
}

#define VERIFY_BLOCKS 65536
#define VERIFY_SIZE   64

/*
 * aligned_alloc and usable_size, which no count of glibc's shows: blocks of a few sizes
 * at a few alignments must be aligned, and their usable size at least what was asked.
 */
static bool aligned_and_sized(const struct bench_allocator *table)
{
	static const size_t alignments[] = {16, 64, 4096, 65536};
	static const size_t sizes[] = {24, 1000, 100000, 3 << 20};
	bool ok = true;

	for (size_t i = 0; i < sizeof(alignments) / sizeof(alignments[0]); i++) {
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			size_t alignment = alignments[i];
			size_t size = (sizes[j] + alignment - 1) & ~(alignment - 1);
			char *p = table->aligned_alloc(alignment, size);

			if (!p || (uintptr_t)p % alignment != 0 || table->usable_size(p) < size)
				ok = false;
			if (p)
				p[size - 1] = 1;
			table->free(p);
		}
	}
	return ok;
}

bool bench_allocator_verify(const struct bench_allocator *table, FILE *out)
{
	static void *blocks[VERIFY_BLOCKS];
	void *functions[] = {(void *)table->malloc, (void *)table->free, (void *)table->realloc,
	                     (void *)table->aligned_alloc, (void *)table->usable_size};
	bool own_functions = true, glibc_served, is_glibc = strcmp(table->name, "glibc") == 0;
	bool aligned = aligned_and_sized(table);
	size_t before, after;
	Dl_info info;

	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
		if (!dladdr(functions[i], &info) || strcmp(info.dli_fname, table->library) != 0)
			own_functions = false;
	before = mallinfo2().uordblks;
	for (int i = 0; i < VERIFY_BLOCKS; i++)
		blocks[i] = table->malloc(VERIFY_SIZE);
	after = mallinfo2().uordblks;
	for (int i = 0; i < VERIFY_BLOCKS; i++)
		table->free(blocks[i]);
	/* glibc's in-use count grows by at least the 4 MiB requested if glibc served them. */
	glibc_served = after > before && after - before >= VERIFY_BLOCKS * VERIFY_SIZE;
	fprintf(out,
	        "allocator %s: functions %s %s; %d x %d B moved glibc's in-use bytes by %zd "
	        "(%s); aligned_alloc and usable size %s\n",
	        table->name, own_functions ? "all in" : "NOT all in", table->library, VERIFY_BLOCKS,
	        VERIFY_SIZE, (ssize_t)(after - before),
	        glibc_served ? "glibc served them" : "glibc did not serve them",
	        aligned ? "hold" : "DO NOT hold");
	return own_functions && glibc_served == is_glibc && aligned;
}

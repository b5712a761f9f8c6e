/*
 * The allocator table every workload of the suite calls through.
 *
 * Each allocator is resolved from its own shared object with dlopen and dlsym, so the
 * workloads and the same inputs run unchanged on every allocator, and the harness
 * around them (google-benchmark, libstdc++) keeps glibc's malloc for itself. A process
 * opens one allocator only: jemalloc, tcmalloc and kmm use initial-exec TLS, and two
 * allocators that both take sbrk, or both start threads of their own, would measure
 * each other (see docs/bench.md, "One process per allocator").
 */
#ifndef KMM_BENCH_ALLOCATOR_H
#define KMM_BENCH_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bench_allocator {
	const char *name;
	void *(*malloc)(size_t size);
	void (*free)(void *ptr);
	void *(*realloc)(void *ptr, size_t size);
	void *(*aligned_alloc)(size_t alignment, size_t size);
	size_t (*usable_size)(void *ptr);
	/* The shared object the functions were found in, as dladdr names it. */
	const char *library;
};

/* The names bench_allocator_open accepts, NULL-terminated. */
extern const char *const bench_allocator_names[];

/*
 * Opens allocator NAME (glibc, jemalloc, mimalloc, tcmalloc, kmm) into the process and
 * fills TABLE. KMM_LIBRARY is the path of libkmm.so. Returns 0, or -1 with a message
 * naming the library and the reason in ERROR.
 */
int bench_allocator_open(struct bench_allocator *table, const char *name, const char *kmm_library,
                         char *error, size_t error_size);

/*
 * Shows that TABLE, not glibc, serves the allocations: every function lies in the
 * allocator's own library, and 4 MiB allocated in 64-byte blocks through TABLE moves
 * glibc's in-use byte count (mallinfo2) only when TABLE is glibc; and aligned_alloc
 * and usable_size keep their promises. Prints one line to OUT describing what it found;
 * returns true when it all agrees.
 */
bool bench_allocator_verify(const struct bench_allocator *table, FILE *out);

#ifdef __cplusplus
}
#endif

#endif

/*
 * The C allocation API a drop-in malloc provides (glibc 2.36 semantics on x86_64), entry
 * point by entry point: zero sizes, overflows and huge sizes with their errno, every
 * alignment from 8 B to 256 MiB, requests past an address space limit (in a child
 * started under it), realloc across the size classes up to 64 MiB and back with the
 * contents checked at each step, calloc on recycled memory, the __libc_* aliases, the
 * introspection calls, misuse (in forked children), and kmm's own kmm_cache, kmalloc
 * and vmalloc API when the preloaded library provides it.
 *
 * The program does not link kmm: ctest runs it with LD_PRELOAD=libkmm.so, and without
 * the preload it checks the C library's malloc the same way.
 */
#include "preload_test.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <sys/mman.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* C23; glibc 2.36 does not have them, so they are only ever called through dlsym. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

static size_t page_size;
static int kmm;

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/*
 * A block just returned for @size bytes at @align: not NULL, aligned, with at least
 * @size usable bytes, all of them writable (filled with the pattern for @seed). Returns
 * the usable size.
 */
static size_t check_new_block(void *p, size_t size, size_t align, uint64_t seed, const char *what)
{
	size_t usable;

	CHECK(p != NULL, "%s: expected a block of %zu bytes, got NULL (errno %d, %s)", what, size,
	      errno, strerror(errno));
	CHECK(((uintptr_t)p & (align - 1)) == 0, "%s: expected %zu-byte alignment, got %p", what,
	      align, p);
	usable = malloc_usable_size(p);
	CHECK(usable >= size, "%s: expected malloc_usable_size(%p) >= %zu, got %zu", what, p, size,
	      usable);
	pattern_fill(p, 0, usable, seed);
	return usable;
}

/* The call just made returned @p: expected NULL with errno @want (errno read first). */
static void expect_failure(const void *p, int want, const char *fmt, ...)
{
	int got = errno;
	char call[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call, sizeof(call), fmt, ap);
	va_end(ap);
	CHECK(p == NULL && got == want,
	      "%s: expected NULL with errno %d (%s), got %p with errno %d (%s)", call, want,
	      strerror(want), p, got, strerror(got));
}

/*
 * posix_memalign just returned @ret and left *memptr at @memptr (it was @untouched): it
 * should have failed for want of memory, with errno ENOMEM as well (errno read first).
 */
static void expect_memalign_enomem(int ret, const void *memptr, const void *untouched,
                                   const char *fmt, ...)
{
	int got = errno;
	char call[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call, sizeof(call), fmt, ap);
	va_end(ap);
	CHECK(ret == ENOMEM && memptr == untouched && got == ENOMEM,
	      "%s: expected ENOMEM with *memptr untouched (%p) and errno %d (%s), got %d, %p "
	      "and errno %d (%s)",
	      call, untouched, ENOMEM, strerror(ENOMEM), ret, memptr, got, strerror(got));
}

static void check_exports(void)
{
	static const char *const names[] = {"malloc",
	                                    "free",
	                                    "calloc",
	                                    "realloc",
	                                    "reallocarray",
	                                    "posix_memalign",
	                                    "aligned_alloc",
	                                    "memalign",
	                                    "valloc",
	                                    "pvalloc",
	                                    "malloc_usable_size",
	                                    "malloc_trim",
	                                    "mallinfo",
	                                    "mallinfo2",
	                                    "malloc_stats",
	                                    "malloc_info",
	                                    "mallopt",
	                                    "__libc_malloc",
	                                    "__libc_free",
	                                    "__libc_calloc",
	                                    "__libc_realloc",
	                                    "__libc_memalign",
	                                    "__libc_valloc",
	                                    "__libc_pvalloc"};
	static const char *const optional[] = {"free_sized", "free_aligned_sized"};
	Dl_info home, info;
	void *sym = dlsym(RTLD_DEFAULT, "malloc");

	CHECK(sym && dladdr(sym, &home), "malloc: no symbol");
	if (kmm) {
		/* malloc is kmm's, not the C library's. */
		CHECK(dladdr(dlsym(RTLD_DEFAULT, "kmm_kmalloc"), &info), "kmm_kmalloc: no object");
		CHECK(strcmp(info.dli_fname, home.dli_fname) == 0,
		      "expected malloc to come from %s (where kmm_kmalloc is), got %s",
		      info.dli_fname, home.dli_fname);
	}
	/*
	 * Every entry point comes from the object malloc comes from: one the preloaded
	 * library missed would reach the C library's heap with kmm's pointers.
	 */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		sym = dlsym(RTLD_DEFAULT, names[i]);
		CHECK(sym != NULL, "%s: expected the symbol to be defined", names[i]);
		CHECK(dladdr(sym, &info), "%s: dladdr failed", names[i]);
		CHECK(strcmp(info.dli_fname, home.dli_fname) == 0,
		      "%s: expected it to come from %s, like malloc, got %s", names[i],
		      home.dli_fname, info.dli_fname);
	}
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
		sym = dlsym(RTLD_DEFAULT, optional[i]);
		if (!sym)
			continue;
		CHECK(dladdr(sym, &info) && strcmp(info.dli_fname, home.dli_fname) == 0,
		      "%s: expected it to come from %s, like malloc", optional[i], home.dli_fname);
	}
	printf("ok: every entry point comes from %s\n", home.dli_fname);
}

static void test_malloc(void)
{
	enum { N = 1024 };
	static void *blocks[N + 1];
	static size_t usable[N + 1];
	void *a = malloc(opaque(0)), *b = malloc(opaque(0));

	/* malloc(0) is a unique, freeable, aligned pointer. */
	check_new_block(a, 0, 16, 0, "malloc(0)");
	check_new_block(b, 0, 16, 0, "malloc(0)");
	CHECK(a != b, "two malloc(0) returned the same pointer %p", a);
	free(a);
	free(b);

	/* Every size 1..1024 at once: 16-byte aligned, usable size writable, no overlap. */
	for (size_t n = 1; n <= N; n++) {
		char what[64];

		snprintf(what, sizeof(what), "malloc(%zu)", n);
		blocks[n] = malloc(opaque(n));
		usable[n] = check_new_block(blocks[n], n, 16, n, what);
	}
	for (size_t n = 1; n <= N; n++)
		CHECK_PATTERN(blocks[n], 0, usable[n], n, "malloc(1..1024) all live");
	for (size_t n = 1; n <= N; n++)
		free(blocks[n]);

	/* Larger sizes, around each power of two up to 64 MiB. */
	for (size_t p2 = 2 * KiB; p2 <= 64 * MiB; p2 *= 2) {
		size_t sizes[] = {p2 - 1, p2, p2 + 1, p2 + p2 / 2};
		void *held[4];
		size_t u[4];

		for (int i = 0; i < 4; i++) {
			char what[64];

			snprintf(what, sizeof(what), "malloc(%zu)", sizes[i]);
			held[i] = malloc(opaque(sizes[i]));
			u[i] = check_new_block(held[i], sizes[i], 16, sizes[i] * 3 + 1, what);
		}
		for (int i = 0; i < 4; i++) {
			CHECK_PATTERN(held[i], 0, u[i], sizes[i] * 3 + 1, "large malloc");
			free(held[i]);
		}
	}
	printf("ok: malloc: sizes 0..1024 and up to 96 MiB aligned to 16, usable size writable\n");
}

/* Sizes that cannot be satisfied on any machine, each with its own kind of trouble. */
static const size_t huge_sizes[] = {
        (size_t)PTRDIFF_MAX,
        (size_t)PTRDIFF_MAX + 1,
        SIZE_MAX,
        SIZE_MAX - 15,
        SIZE_MAX - 4095,
        SIZE_MAX - 4 * MiB,
        (size_t)PTRDIFF_MAX - 4 * KiB,
        (size_t)1 << 62,
};

static void test_huge_sizes(void)
{
	void *keep = malloc(100);

	pattern_fill(keep, 0, 100, 99);
	for (size_t i = 0; i < sizeof(huge_sizes) / sizeof(huge_sizes[0]); i++) {
		size_t n = opaque(huge_sizes[i]);
		void *memptr = &memptr;
		int ret;

		errno = 0;
		expect_failure(malloc(n), ENOMEM, "malloc(%#zx)", n);
		errno = 0;
		expect_failure(calloc(1, n), ENOMEM, "calloc(1, %#zx)", n);
		errno = 0;
		expect_failure(calloc(n, 1), ENOMEM, "calloc(%#zx, 1)", n);
		errno = 0;
		expect_failure(realloc(opaque_ptr(keep), n), ENOMEM, "realloc(p, %#zx)", n);
		errno = 0;
		expect_failure(realloc(NULL, n), ENOMEM, "realloc(NULL, %#zx)", n);
		errno = 0;
		expect_failure(reallocarray(opaque_ptr(keep), 1, n), ENOMEM,
		               "reallocarray(p, 1, %#zx)", n);
		errno = 0;
		expect_failure(aligned_alloc(64, n), ENOMEM, "aligned_alloc(64, %#zx)", n);
		errno = 0;
		expect_failure(aligned_alloc(4 * MiB, n), ENOMEM, "aligned_alloc(4 MiB, %#zx)", n);
		errno = 0;
		expect_failure(memalign(4096, n), ENOMEM, "memalign(4096, %#zx)", n);
		errno = 0;
		expect_failure(valloc(n), ENOMEM, "valloc(%#zx)", n);
		errno = 0;
		expect_failure(pvalloc(n), ENOMEM, "pvalloc(%#zx)", n);
		/* glibc sets errno as well as returning ENOMEM, and programs print it. */
		errno = 0;
		ret = posix_memalign(&memptr, 64, n);
		expect_memalign_enomem(ret, memptr, &memptr, "posix_memalign(&p, 64, %#zx)", n);
		errno = 0;
		ret = posix_memalign(&memptr, 2 * MiB, n);
		expect_memalign_enomem(ret, memptr, &memptr, "posix_memalign(&p, 2 MiB, %#zx)", n);
	}
	/* The failed reallocs left the block as it was. */
	CHECK(malloc_usable_size(keep) >= 100, "block shrank after failed reallocs");
	CHECK_PATTERN(keep, 0, 100, 99, "block after failed realloc");

	/* calloc's multiplication overflows, or lands just past PTRDIFF_MAX. */
	{
		const size_t pairs[][2] = {
		        {SIZE_MAX / 2 + 1, 2},
		        {2, SIZE_MAX / 2 + 1},
		        {(size_t)1 << 32, (size_t)1 << 32},
		        {SIZE_MAX, SIZE_MAX},
		        {SIZE_MAX / 16 + 1, 16},
		        {3, SIZE_MAX / 3 + 1},
		        {(size_t)PTRDIFF_MAX / 2 + 1, 2},
		        {65537, (size_t)1 << 48},
		};

		for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
			size_t a = opaque(pairs[i][0]), b = opaque(pairs[i][1]);

			errno = 0;
			expect_failure(calloc(a, b), ENOMEM, "calloc(%#zx, %#zx)", a, b);
			errno = 0;
			expect_failure(reallocarray(NULL, a, b), ENOMEM,
			               "reallocarray(NULL, %#zx, %#zx)", a, b);
			errno = 0;
			expect_failure(reallocarray(opaque_ptr(keep), a, b), ENOMEM,
			               "reallocarray(p, %#zx, %#zx)", a, b);
			CHECK_PATTERN(keep, 0, 100, 99, "block after failed reallocarray");
		}
	}
	free(keep);
	printf("ok: sizes past PTRDIFF_MAX, overflowing products and unsatisfiable sizes fail with "
	       "ENOMEM\n");
}

static void test_free(void)
{
	static const size_t sizes[] = {0,       1,       16,          100,      1000,
	                               4096,    5000,    65536,       200000,   1 * MiB,
	                               3 * MiB, 8 * MiB, 8 * MiB + 1, 32 * MiB, 64 * MiB};
	void *p;

	errno = EDOM;
	free(NULL);
	CHECK_EQ(EDOM, errno);

	/* free keeps errno, whatever path the block takes back (slab, pages, unmapping). */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *blocks[5];

		blocks[0] = malloc(opaque(sizes[i]));
		blocks[1] = calloc(1, opaque(sizes[i]));
		blocks[2] = realloc(NULL, opaque(sizes[i]));
		blocks[3] = memalign(4096, opaque(sizes[i]));
		blocks[4] = aligned_alloc(64, opaque(sizes[i]));
		for (int k = 0; k < 5; k++) {
			CHECK(blocks[k] != NULL, "allocation %d of %zu bytes failed", k, sizes[i]);
			memset(blocks[k], 0x5a, sizes[i]);
			errno = EDOM + k;
			free(opaque_ptr(blocks[k]));
			CHECK(errno == EDOM + k,
			      "free of a %zu-byte block changed errno from %d to %d", sizes[i],
			      EDOM + k, errno);
		}
	}
	/* Many blocks freed in an order unlike the order of allocation. */
	{
		enum { N = 4000 };
		static void *many[N];

		for (int i = 0; i < N; i++) {
			many[i] = malloc(opaque((size_t)(i * 37) % 3000 + 1));
			CHECK(many[i] != NULL, "malloc failed");
		}
		errno = ERANGE;
		for (int i = 0; i < N; i += 2)
			free(many[i]);
		for (int i = N - 1; i > 0; i -= 2)
			free(many[i]);
		CHECK_EQ(ERANGE, errno);
	}

	/* free_sized and free_aligned_sized (C23), when the allocator has them. */
	{
		__typeof__(free_sized) *fs =
		        (__typeof__(free_sized) *)dlsym(RTLD_DEFAULT, "free_sized");
		__typeof__(free_aligned_sized) *fas =
		        (__typeof__(free_aligned_sized) *)dlsym(RTLD_DEFAULT, "free_aligned_sized");

		if (fs) {
			fs(NULL, 0);
			fs(NULL, 100);
			for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
				size_t n = sizes[i];

				p = malloc(opaque(n));
				check_new_block(p, n, 16, n, "malloc for free_sized");
				errno = EDOM;
				fs(p, n);
				CHECK_EQ(EDOM, errno);
				p = calloc(opaque(n), 1);
				check_new_block(p, n, 16, n, "calloc for free_sized");
				fs(p, n);
				if (n) {
					p = realloc(malloc(1), opaque(n));
					check_new_block(p, n, 16, n, "realloc for free_sized");
					fs(p, n);
				}
			}
			printf("ok: free_sized\n");
		} else {
			printf("skip: free_sized is not provided by this malloc\n");
		}
		if (fas) {
			fas(NULL, 64, 0);
			for (size_t align = 16; align <= 4 * MiB; align *= 4) {
				for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
					size_t n = round_up(sizes[i], align);

					if (n > 64 * MiB)
						continue;
					p = aligned_alloc(align, opaque(n));
					check_new_block(p, n, align, n,
					                "aligned_alloc for free_aligned_sized");
					errno = EDOM;
					fas(p, align, n);
					CHECK_EQ(EDOM, errno);
				}
			}
			printf("ok: free_aligned_sized\n");
		} else {
			printf("skip: free_aligned_sized is not provided by this malloc\n");
		}
	}
	printf("ok: free(NULL), free keeps errno\n");
}

static void test_calloc(void)
{
	static const size_t sizes[] = {1,      7,      16,      24,          32,      48,
	                               64,     100,    128,     200,         256,     512,
	                               1000,   1024,   2000,    4095,        4096,    4097,
	                               8192,   10000,  32768,   65536,       65537,   131072,
	                               262144, 500000, 1 * MiB, 1 * MiB + 1, 2 * MiB, 4 * MiB + 123,
	                               8 * MiB};
	enum { BATCH = 8 };
	void *p;

	/* Zero sizes give unique freeable blocks. */
	p = calloc(0, 0);
	check_new_block(p, 0, 16, 0, "calloc(0, 0)");
	free(p);
	p = calloc(0, opaque(100));
	check_new_block(p, 0, 16, 0, "calloc(0, 100)");
	free(p);
	p = calloc(opaque(100), 0);
	check_new_block(p, 0, 16, 0, "calloc(100, 0)");
	free(p);

	/*
	 * Memory handed back dirty comes back zeroed: fill blocks of a size with a nonzero
	 * pattern, free them, calloc the same size (whole, or as elements) and check.
	 */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		int rounds = n < 64 * KiB ? 200 : n < 1 * MiB ? 20 : 6;
		int batch = n < 1 * MiB ? BATCH : 2;
		void *blocks[BATCH];

		for (int r = 0; r < rounds; r++) {
			for (int k = 0; k < batch; k++) {
				blocks[k] = malloc(opaque(n));
				CHECK(blocks[k] != NULL, "malloc(%zu) failed", n);
				memset(blocks[k], 0xa5, malloc_usable_size(blocks[k]));
			}
			for (int k = 0; k < batch; k++)
				free(blocks[k]);
			for (int k = 0; k < batch; k++) {
				size_t at;

				switch ((r + k) % 3) {
				case 0:
					blocks[k] = calloc(1, opaque(n));
					break;
				case 1:
					blocks[k] = calloc(opaque(n), 1);
					break;
				default:
					blocks[k] = n % 8 ? calloc(opaque(n), 1)
					                  : calloc(opaque(n / 8), 8);
				}
				CHECK(blocks[k] != NULL, "calloc of %zu bytes failed", n);
				CHECK(((uintptr_t)blocks[k] & 15) == 0,
				      "calloc: %p not 16-byte aligned", blocks[k]);
				at = first_nonzero(blocks[k], n);
				CHECK(at == SIZE_MAX,
				      "calloc of %zu bytes (round %d) after the memory was "
				      "dirtied: byte "
				      "%zu is %#x, expected 0",
				      n, r, at, ((unsigned char *)blocks[k])[at]);
				memset(blocks[k], 0x3c, malloc_usable_size(blocks[k]));
			}
			for (int k = 0; k < batch; k++)
				free(blocks[k]);
		}
	}
	printf("ok: calloc: zero sizes; recycled dirty memory comes back zeroed, 1 B to 8 MiB\n");
}

/* realloc from and to these sizes, every pair. */
static const size_t pair_sizes[] = {
        1,    8,    16,   17,    24,    32,    33,    48,     64,          65,      96,   128,
        129,  192,  256,  257,   512,   513,   1024,  1025,   2048,        2049,    4095, 4096,
        4097, 8192, 8193, 16384, 32768, 65536, 65537, 262145, 1 * MiB + 1, 8 * MiB,
};

/* The step after @n in a growing realloc chain: every size class gets visited. */
static size_t chain_next(size_t n)
{
	if (n < 256)
		return n + 1;
	if (n < 16 * KiB)
		return n + n / 16 + 1;
	return n + n / 4 + 3;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void test_realloc(void)
{
	static const size_t boundaries[] = {16, 8 * KiB, 64 * KiB, 8 * MiB, 64 * MiB};
	static size_t chain[1024];
	size_t nchain = 0, u;
	uint64_t seed = 0x1234;
	void *p, *q;

	/* realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL. */
	for (size_t n = 0; n <= 2 * MiB; n = n ? n * 8 : 1) {
		p = realloc(NULL, opaque(n));
		check_new_block(p, n, 16, n, "realloc(NULL, n)");
		errno = 0;
		q = realloc(p, opaque(0));
		CHECK(q == NULL, "realloc(p, 0) of a %zu-byte block: expected NULL, got %p", n, q);
	}

	/* The same size again is the same block, contents untouched. */
	for (size_t n = 1; n <= 64 * MiB; n = n < 2048 ? n + 1 : n * 2 + 1) {
		p = malloc(opaque(n));
		u = check_new_block(p, n, 16, n, "malloc for same-size realloc");
		q = realloc(p, opaque(n));
		CHECK(q == p,
		      "realloc(p, %zu) of a %zu-byte block: expected the same pointer %p, got %p",
		      n, n, p, q);
		CHECK_PATTERN(q, 0, u, n, "same-size realloc");
		free(q);
	}

	/*
	 * One block grown through every size class, across 16 B, 8 KiB, 64 KiB, 8 MiB and
	 * 64 MiB, then shrunk back to 1 byte: after each step the bytes the old block
	 * could hold (its whole usable size, slack included) are still there, up to the new
	 * size, and the new block's whole usable size is then filled.
	 */
	for (size_t n = 1; n <= 64 * MiB + 1; n = chain_next(n))
		chain[nchain++] = n;
	for (size_t i = 0; i < sizeof(boundaries) / sizeof(boundaries[0]); i++) {
		chain[nchain++] = boundaries[i] - 1;
		chain[nchain++] = boundaries[i];
		chain[nchain++] = boundaries[i] + 1;
	}
	CHECK(nchain <= sizeof(chain) / sizeof(chain[0]), "chain too long: %zu", nchain);
	qsort(chain, nchain, sizeof(chain[0]), cmp_size);
	p = NULL;
	u = 0;
	for (size_t step = 0; step < 2 * nchain; step++) {
		size_t n = step < nchain ? chain[step] : chain[2 * nchain - 1 - step];
		size_t keep = min_size(u, n);
		char what[96];

		snprintf(what, sizeof(what), "realloc chain step %zu: %zu -> %zu bytes", step, u,
		         n);
		q = realloc(p, opaque(n));
		CHECK(q != NULL, "%s: NULL (errno %d)", what, errno);
		CHECK(((uintptr_t)q & 15) == 0, "%s: %p is not 16-byte aligned", what, q);
		CHECK_PATTERN(q, 0, keep, seed, what);
		u = malloc_usable_size(q);
		CHECK(u >= n, "%s: malloc_usable_size %zu", what, u);
		pattern_fill(q, keep, u, seed);
		p = q;
	}
	free(p);

	/* Every pair of sizes: from a full block (slack included) to another size. */
	for (size_t i = 0; i < sizeof(pair_sizes) / sizeof(pair_sizes[0]); i++) {
		for (size_t j = 0; j < sizeof(pair_sizes) / sizeof(pair_sizes[0]); j++) {
			size_t from = pair_sizes[i], to = pair_sizes[j];
			char what[96];

			snprintf(what, sizeof(what), "realloc from %zu to %zu bytes", from, to);
			p = malloc(opaque(from));
			u = check_new_block(p, from, 16, seed + i, what);
			q = realloc(p, opaque(to));
			CHECK(q != NULL, "%s: NULL", what);
			CHECK(((uintptr_t)q & 15) == 0, "%s: %p is not 16-byte aligned", what, q);
			CHECK_PATTERN(q, 0, min_size(u, to), seed + i, what);
			CHECK(malloc_usable_size(q) >= to, "%s: usable %zu", what,
			      malloc_usable_size(q));
			memset(q, 0x77, to);
			free(q);
		}
	}

	/* The slack malloc_usable_size reports is the caller's, and realloc keeps it. */
	for (size_t n = 1; n <= 4096; n += n < 512 ? 1 : 61) {
		p = malloc(opaque(n));
		u = check_new_block(p, n, 16, n ^ 0xabc, "malloc for slack");
		q = realloc(p, opaque(u + 1 + n));
		CHECK(q != NULL, "realloc of a block with usable size %zu to %zu failed", u,
		      u + 1 + n);
		CHECK_PATTERN(q, 0, u, n ^ 0xabc, "slack preserved by realloc");
		free(q);
	}
	printf("ok: realloc: NULL and 0, same size, %zu-step chain up to 64 MiB and back, every "
	       "pair of %zu sizes, usable slack kept\n",
	       2 * nchain, sizeof(pair_sizes) / sizeof(pair_sizes[0]));
}

static void test_reallocarray(void)
{
	void *p = reallocarray(NULL, opaque(7), opaque(9)), *q;
	size_t u;

	u = check_new_block(p, 63, 16, 63, "reallocarray(NULL, 7, 9)");
	q = reallocarray(p, opaque(1000), opaque(8));
	CHECK(q != NULL, "reallocarray(p, 1000, 8) failed");
	CHECK_PATTERN(q, 0, u, 63, "reallocarray(p, 1000, 8)");
	CHECK(malloc_usable_size(q) >= 8000, "reallocarray(p, 1000, 8): usable size %zu",
	      malloc_usable_size(q));
	free(q);
	q = reallocarray(NULL, 0, 0);
	check_new_block(q, 0, 16, 0, "reallocarray(NULL, 0, 0)");
	free(q);

	p = malloc(300);
	pattern_fill(p, 0, 300, 300);
	errno = 0;
	expect_failure(reallocarray(opaque_ptr(p), opaque(SIZE_MAX / 2 + 1), opaque(2)), ENOMEM,
	               "reallocarray(p, SIZE_MAX / 2 + 1, 2)");
	CHECK_PATTERN(p, 0, 300, 300, "block after reallocarray overflow");
	q = reallocarray(p, opaque(100), opaque(40));
	CHECK(q != NULL, "reallocarray(p, 100, 40) failed");
	CHECK_PATTERN(q, 0, 300, 300, "reallocarray growth");
	q = reallocarray(q, opaque(10), opaque(10));
	CHECK(q != NULL, "reallocarray(p, 10, 10) failed");
	CHECK_PATTERN(q, 0, 100, 300, "reallocarray shrink");
	free(q);
	printf("ok: reallocarray: malloc when NULL, overflow is ENOMEM with the block untouched\n");
}

enum align_fn { POSIX_MEMALIGN, ALIGNED_ALLOC, MEMALIGN };
static const char *const align_fn_name[] = {"posix_memalign", "aligned_alloc", "memalign"};

static void *alloc_aligned(enum align_fn fn, size_t align, size_t size)
{
	void *p = NULL;
	int ret;

	switch (fn) {
	case POSIX_MEMALIGN:
		ret = posix_memalign(&p, align, size);
		CHECK(ret == 0, "posix_memalign(&p, %zu, %zu): expected 0, got %d", align, size,
		      ret);
		return p;
	case ALIGNED_ALLOC:
		return aligned_alloc(align, size);
	default:
		return memalign(align, size);
	}
}

static void test_alignment(void)
{
	enum { NSIZES = 9 };

	/* Every power of two from 8 B to 4 MiB, with sizes below, at and past it. */
	for (int fn = POSIX_MEMALIGN; fn <= MEMALIGN; fn++) {
		for (size_t align = 8; align <= 4 * MiB; align *= 2) {
			size_t sizes[NSIZES] = {
			        0, 1, align - 1, align, align + 1, 3 * align + 5, 100, 5000, 70000};
			size_t want = align < 16 ? 16 : align;
			void *held[NSIZES];
			size_t usable[NSIZES];

			for (int i = 0; i < NSIZES; i++) {
				char what[96];

				snprintf(what, sizeof(what), "%s(%zu, %zu)", align_fn_name[fn],
				         align, sizes[i]);
				held[i] = alloc_aligned(fn, opaque(align), opaque(sizes[i]));
				usable[i] =
				        check_new_block(held[i], sizes[i], want, align + i, what);
			}
			for (int i = 0; i < NSIZES; i++)
				CHECK_PATTERN(held[i], 0, usable[i], align + i, align_fn_name[fn]);
			/* Aligned blocks realloc like any other. */
			for (int i = 0; i < NSIZES; i++) {
				size_t to = sizes[i] * 2 + 1;
				void *q = realloc(held[i], opaque(to));

				CHECK(q != NULL, "realloc of a %s block to %zu failed",
				      align_fn_name[fn], to);
				CHECK_PATTERN(q, 0, min_size(usable[i], to), align + i,
				              "realloc of an aligned block");
				free(q);
			}
		}
	}

	/* posix_memalign: EINVAL for a bad alignment, *memptr untouched. */
	{
		static const size_t bad[] = {0,
		                             1,
		                             2,
		                             4,
		                             12,
		                             24,
		                             40,
		                             48,
		                             96,
		                             4095,
		                             4097,
		                             3 * MiB,
		                             SIZE_MAX,
		                             ((size_t)1 << 63) + 8,
		                             SIZE_MAX / 2 + 2};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			void *memptr = &memptr;
			int ret, got;

			/* glibc 2.36 refuses a bad alignment before anything can set errno. */
			errno = EDOM;
			ret = posix_memalign(&memptr, opaque(bad[i]), 64);
			got = errno;
			CHECK(ret == EINVAL && memptr == &memptr && got == EDOM,
			      "posix_memalign(&p, %#zx, 64): expected EINVAL with *memptr "
			      "untouched and errno still %d (%s), got %d, %p and errno %d (%s)",
			      bad[i], EDOM, strerror(EDOM), ret, memptr, got, strerror(got));
		}
	}

	/* memalign rounds an alignment that is not a power of two up to one. */
	{
		static const size_t odd[][2] = {
		        {0, 16},  {1, 16},    {2, 16},      {3, 16},      {24, 32},
		        {48, 64}, {100, 128}, {3000, 4096}, {5000, 8192}, {3 * MiB, 4 * MiB}};

		for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
			char what[64];
			void *p;

			snprintf(what, sizeof(what), "memalign(%zu, 1000)", odd[i][0]);
			p = memalign(opaque(odd[i][0]), opaque(1000));
			check_new_block(p, 1000, odd[i][1], i, what);
			free(p);
			/*
			 * aligned_alloc is memalign in glibc 2.36; later versions reject an
			 * alignment that is not a power of two with EINVAL. Either will do.
			 */
			errno = 0;
			p = aligned_alloc(opaque(odd[i][0]), opaque(1000));
			if (p) {
				snprintf(what, sizeof(what), "aligned_alloc(%zu, 1000)", odd[i][0]);
				check_new_block(p, 1000, odd[i][1], i, what);
				free(p);
			} else {
				expect_failure(p, EINVAL, "aligned_alloc(%zu, 1000)", odd[i][0]);
			}
		}
		/* An alignment past the largest power of two a size_t holds is EINVAL. */
		errno = 0;
		expect_failure(memalign(opaque(SIZE_MAX), 16), EINVAL, "memalign(SIZE_MAX, 16)");
		errno = 0;
		expect_failure(memalign(opaque(SIZE_MAX / 2 + 2), 16), EINVAL,
		               "memalign(SIZE_MAX / 2 + 2, 16)");
		errno = 0;
		expect_failure(aligned_alloc(opaque(SIZE_MAX), 16), EINVAL,
		               "aligned_alloc(SIZE_MAX, 16)");
		/* 2^63 itself: glibc says ENOMEM (it tries), EINVAL is as good an answer. */
		errno = 0;
		{
			void *p = memalign(opaque((size_t)1 << 63), 16);
			int e = errno;

			CHECK(p == NULL && (e == EINVAL || e == ENOMEM),
			      "memalign(1 << 63, 16): expected NULL with EINVAL or ENOMEM, got %p, "
			      "errno %d",
			      p, e);
		}
	}
	printf("ok: posix_memalign, aligned_alloc, memalign: alignments 8 B to 4 MiB, bad "
	       "alignments, rounding\n");
}

/* Grown if small, shrunk if large: realloc of a block of @size takes both paths. */
static size_t realloc_target(size_t size, size_t align)
{
	return size < align / 2 ? size * 2 + 1 : size / 2 + 1;
}

/*
 * Alignments from the largest buddy block (4 MiB) to 256 MiB, where a block is an
 * area of its own whatever its size, with sizes from 0 to just past the alignment. The
 * small blocks of an alignment stay live while each large one is made, so a block that
 * overlaps another shows up; every block must then resize and free like any other.
 */
static void test_huge_alignment(void)
{
	static const size_t aligns[] = {4 * MiB, 8 * MiB, 16 * MiB, 64 * MiB, 256 * MiB};
	enum { NSMALL = 3, NSIZES = 6 };

	for (int fn = POSIX_MEMALIGN; fn <= MEMALIGN; fn++) {
		for (size_t a = 0; a < sizeof(aligns) / sizeof(aligns[0]); a++) {
			size_t align = aligns[a];
			size_t sizes[NSIZES] = {0, 1, page_size, align - 1, align, align + 1};
			void *held[NSIZES];
			size_t usable[NSIZES];

			for (int i = 0; i < NSIZES; i++) {
				uint64_t seed = align + (size_t)i;
				size_t to = realloc_target(sizes[i], align);
				char what[96];
				void *q;

				snprintf(what, sizeof(what), "%s(%zu MiB, %zu)", align_fn_name[fn],
				         align / MiB, sizes[i]);
				held[i] = alloc_aligned(fn, opaque(align), opaque(sizes[i]));
				usable[i] = check_new_block(held[i], sizes[i], align, seed, what);
				for (int k = 0; k < i && k < NSMALL; k++)
					CHECK_PATTERN(held[k], 0, usable[k], align + (size_t)k,
					              "a small block with a huge alignment, while "
					              "others are made");
				if (i < NSMALL)
					continue;
				q = realloc(held[i], opaque(to));
				CHECK(q != NULL, "realloc of the block from %s to %zu failed", what,
				      to);
				CHECK_PATTERN(q, 0, min_size(usable[i], to), seed,
				              "realloc of a block with a huge alignment");
				free(q);
			}
			for (int i = 0; i < NSMALL; i++) {
				size_t to = realloc_target(sizes[i], align);
				void *q = realloc(held[i], opaque(to));

				CHECK(q != NULL,
				      "realloc of a %zu-byte %s block (%zu MiB) to %zu failed",
				      sizes[i], align_fn_name[fn], align / MiB, to);
				CHECK_PATTERN(q, 0, min_size(usable[i], to), align + (size_t)i,
				              "realloc of a small block with a huge alignment");
				CHECK(malloc_usable_size(q) >= to,
				      "realloc of a %zu-byte %s block (%zu MiB) to %zu: expected "
				      "malloc_usable_size >= %zu, got %zu",
				      sizes[i], align_fn_name[fn], align / MiB, to, to,
				      malloc_usable_size(q));
				free(q);
			}
		}
	}
	printf("ok: posix_memalign, aligned_alloc, memalign: alignments 4 MiB to 256 MiB, sizes 0 "
	       "to just past the alignment, usable, resized and freed\n");
}

/* The argument that makes the program run fail_for_want_of_memory() alone. */
#define UNDER_RLIMIT_AS "--under-rlimit-as"
#define RLIMIT_AS_BYTES (1024 * MiB)

/*
 * Run in a process started under an address space limit of RLIMIT_AS_BYTES: a request
 * for twice that cannot be met by any allocator, whatever it reserved at start-up.
 */
static void fail_for_want_of_memory(void)
{
	static const size_t aligns[] = {64, 4096, 2 * MiB, 8 * MiB};
	size_t n = opaque(2 * RLIMIT_AS_BYTES);
	void *p;

	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		void *memptr = &memptr;
		int ret;

		errno = 0;
		ret = posix_memalign(&memptr, aligns[i], n);
		expect_memalign_enomem(ret, memptr, &memptr,
		                       "posix_memalign(&p, %zu, %zu) under RLIMIT_AS %zu",
		                       aligns[i], n, (size_t)RLIMIT_AS_BYTES);
		errno = EDOM;
		ret = posix_memalign(&memptr, aligns[i], n);
		expect_memalign_enomem(ret, memptr, &memptr,
		                       "posix_memalign(&p, %zu, %zu) under RLIMIT_AS %zu, errno "
		                       "EDOM before",
		                       aligns[i], n, (size_t)RLIMIT_AS_BYTES);
		errno = 0;
		expect_failure(memalign(aligns[i], n), ENOMEM,
		               "memalign(%zu, %zu) under RLIMIT_AS %zu", aligns[i], n,
		               (size_t)RLIMIT_AS_BYTES);
	}
	/* The failures cost nothing: small requests are still met. */
	p = malloc(opaque(1000));
	check_new_block(p, 1000, 16, 1000, "malloc(1000) after the failures");
	free(p);
	printf("ok: under RLIMIT_AS\n");
}

/* In a forked child: the limit is set before exec, so the allocator starts under it. */
static void exec_under_rlimit_as(void *arg)
{
	char *argv[] = {"api_conformance", UNDER_RLIMIT_AS, NULL};
	struct rlimit rl;

	(void)arg;
	CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit: %s", strerror(errno));
	rl.rlim_cur = RLIMIT_AS_BYTES;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit: %s", strerror(errno));
	execv("/proc/self/exe", argv);
	CHECK(0, "execv /proc/self/exe: %s", strerror(errno));
}

static void test_out_of_memory(void)
{
	char out[4096];
	int status = run_in_child(exec_under_rlimit_as, NULL, out, sizeof(out));

	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	              strstr(out, "ok: under RLIMIT_AS") != NULL,
	      "requests past RLIMIT_AS, in a child started under it: expected exit status 0 "
	      "and \"ok: under RLIMIT_AS\", got status %#x and output:\n%s",
	      status, out);
	printf("ok: posix_memalign and memalign past RLIMIT_AS fail with ENOMEM, errno ENOMEM\n");
}

static void test_page_aligned(void)
{
	static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 10000, 65536, 1 * MiB + 1};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char what[64];
		void *v, *pv;

		snprintf(what, sizeof(what), "valloc(%zu)", n);
		v = valloc(opaque(n));
		check_new_block(v, n, page_size, n, what);

		/*
		 * pvalloc rounds the size up to a page; pvalloc(0) is one page. (glibc
		 * 2.36 gets pvalloc(0) wrong, a 24-byte block: checked under kmm only.)
		 */
		snprintf(what, sizeof(what), "pvalloc(%zu)", n);
		pv = pvalloc(opaque(n));
		check_new_block(pv, n == 0 && !kmm ? 0 : round_up(n ? n : 1, page_size), page_size,
		                n + 1, what);
		CHECK_PATTERN(v, 0, malloc_usable_size(v), n, "valloc");
		free(v);
		free(pv);
	}
	/* Rounding to a page must not wrap around. */
	{
		const size_t bad[] = {SIZE_MAX, SIZE_MAX - page_size + 2, SIZE_MAX - page_size,
		                      (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - page_size + 2};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			errno = 0;
			expect_failure(pvalloc(opaque(bad[i])), ENOMEM, "pvalloc(%#zx)", bad[i]);
			errno = 0;
			expect_failure(valloc(opaque(bad[i])), ENOMEM, "valloc(%#zx)", bad[i]);
		}
	}
	printf("ok: valloc and pvalloc: page aligned, pvalloc rounds to a page, no wrap-around\n");
}

static void test_alignment_everywhere(void)
{
	enum { N = 3000 };
	static void *blocks[N];

	CHECK_EQ(0, malloc_usable_size(NULL));
	/* 16-byte alignment for every size 1..1024 from every allocation call. */
	for (size_t n = 1; n <= 1024; n++) {
		void *b[6];
		void *c = malloc(1);

		b[0] = malloc(opaque(n));
		b[1] = calloc(opaque(n), 1);
		b[2] = realloc(NULL, opaque(n));
		b[3] = realloc(c, opaque(n));
		b[4] = reallocarray(NULL, opaque(n), 1);
		b[5] = memalign(8, opaque(n));
		for (int k = 0; k < 6; k++) {
			check_new_block(b[k], n, 16, n + k, "16-byte alignment");
			free(b[k]);
		}
	}
	/* And for small blocks allocated in bulk, mixed sizes. */
	for (int i = 0; i < N; i++)
		blocks[i] = malloc(opaque((size_t)(i * 7919) % 1024 + 1));
	for (int i = 0; i < N; i++) {
		CHECK(((uintptr_t)blocks[i] & 15) == 0, "malloc: %p not 16-byte aligned",
		      blocks[i]);
		free(blocks[i]);
	}
	printf("ok: every block from malloc, calloc, realloc, reallocarray, memalign is 16-byte "
	       "aligned\n");
}

static void test_libc_aliases(void)
{
	void *(*l_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
	void (*l_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "__libc_free");
	void *(*l_calloc)(size_t, size_t) =
	        (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_calloc");
	void *(*l_realloc)(void *, size_t) =
	        (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "__libc_realloc");
	void *(*l_memalign)(size_t, size_t) =
	        (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_memalign");
	void *(*l_valloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_valloc");
	void *(*l_pvalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_pvalloc");
	void *p, *q;
	size_t u;

	CHECK(l_malloc && l_free && l_calloc && l_realloc && l_memalign && l_valloc && l_pvalloc,
	      "a __libc_* alias is missing");
	/* They are the same heap as malloc and free: blocks go freely between them. */
	for (size_t n = 1; n <= 4 * MiB; n = n * 3 + 1) {
		p = l_malloc(opaque(n));
		u = check_new_block(p, n, 16, n, "__libc_malloc");
		q = l_realloc(p, opaque(n * 2));
		CHECK(q != NULL, "__libc_realloc failed");
		CHECK_PATTERN(q, 0, u, n, "__libc_realloc");
		free(q);

		p = malloc(opaque(n));
		u = check_new_block(p, n, 16, n, "malloc");
		q = l_realloc(p, opaque(n + 100));
		CHECK_PATTERN(q, 0, u, n, "__libc_realloc of a malloc block");
		l_free(q);

		p = l_calloc(opaque(n), 1);
		CHECK(p && first_nonzero(p, n) == SIZE_MAX, "__libc_calloc(%zu, 1) not zeroed", n);
		q = realloc(p, opaque(n / 2 + 1));
		CHECK(q && first_nonzero(q, n / 2 + 1) == SIZE_MAX,
		      "realloc of a __libc_calloc block");
		l_free(q);

		p = l_memalign(256, opaque(n));
		check_new_block(p, n, 256, n, "__libc_memalign");
		free(p);
		p = l_valloc(opaque(n));
		check_new_block(p, n, page_size, n, "__libc_valloc");
		l_free(p);
		p = l_pvalloc(opaque(n));
		check_new_block(p, round_up(n, page_size), page_size, n, "__libc_pvalloc");
		free(p);
	}
	l_free(NULL);
	q = l_realloc(NULL, 10);
	check_new_block(q, 10, 16, 10, "__libc_realloc(NULL, 10)");
	CHECK(l_realloc(q, 0) == NULL, "__libc_realloc(p, 0) should free and return NULL");
	errno = 0;
	expect_failure(l_malloc(opaque(SIZE_MAX)), ENOMEM, "__libc_malloc(SIZE_MAX)");
	errno = 0;
	expect_failure(l_calloc(opaque(SIZE_MAX), 2), ENOMEM, "__libc_calloc(SIZE_MAX, 2)");
	printf("ok: __libc_malloc, __libc_free, __libc_calloc, __libc_realloc, __libc_memalign, "
	       "__libc_valloc, __libc_pvalloc share malloc's heap\n");
}

static void print_stats(void *arg)
{
	int devnull = open("/dev/null", O_WRONLY);

	(void)arg;
	/* Only stderr is captured: malloc_stats writes there, and nothing to stdout. */
	dup2(devnull, STDOUT_FILENO);
	for (int i = 0; i < 100; i++)
		free(opaque_ptr(malloc(opaque((size_t)i * 100))));
	malloc_stats();
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void test_introspection(void)
{
	char out[4096], *xml;
	void *held = malloc(3 * MiB), *small = malloc(100);
	struct mallinfo mi;
	struct mallinfo2 mi2;
	FILE *f;
	int status, ret;
	long len;

	CHECK(held && small, "malloc failed");
	memset(held, 1, 3 * MiB);

	ret = malloc_trim(0);
	CHECK(ret == 0 || ret == 1, "malloc_trim(0): expected 0 or 1, got %d", ret);
	ret = malloc_trim(1 * MiB);
	CHECK(ret == 0 || ret == 1, "malloc_trim(1 MiB): expected 0 or 1, got %d", ret);

	mi = mallinfo();
	mi2 = mallinfo2();
	(void)mi;
	(void)mi2;

	status = run_in_child(print_stats, NULL, out, sizeof(out));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "malloc_stats in a child: status %#x, output:\n%s", status, out);
	CHECK(out[0] != '\0', "malloc_stats wrote nothing to stderr");

	f = tmpfile();
	CHECK(f != NULL, "tmpfile: %s", strerror(errno));
	ret = malloc_info(0, f);
	CHECK_EQ(0, ret);
	fflush(f);
	len = ftell(f);
	CHECK(len > 0, "malloc_info wrote %ld bytes", len);
	xml = malloc((size_t)len + 1);
	CHECK(xml != NULL, "malloc failed");
	rewind(f);
	CHECK(fread(xml, 1, (size_t)len, f) == (size_t)len, "reading back malloc_info");
	xml[len] = '\0';
	CHECK(strncmp(xml, "<malloc", 7) == 0,
	      "malloc_info: expected XML starting <malloc, got:\n%s", xml);
	CHECK_STR_CONTAINS(xml, "</malloc>");
	free(xml);
	/*
	 * Options other than 0 are refused: glibc 2.36 returns EINVAL itself; -1 with
	 * errno EINVAL says the same.
	 */
	errno = 0;
	ret = malloc_info(1, f);
	CHECK(ret == EINVAL || (ret == -1 && errno == EINVAL),
	      "malloc_info(1, f): expected EINVAL (or -1 with errno EINVAL), got %d, errno %d", ret,
	      errno);
	fclose(f);
	free(held);
	free(small);
	printf("ok: malloc_trim, mallinfo, mallinfo2, malloc_stats, malloc_info\n");
}
#pragma GCC diagnostic pop

static void test_mallopt(void)
{
	static const int params[][2] = {
	        {M_TRIM_THRESHOLD, 256 * 1024},
	        {M_TOP_PAD, 64 * 1024},
	        {M_MMAP_THRESHOLD, 256 * 1024},
	        {M_MMAP_MAX, 65536},
	        {M_ARENA_MAX, 8},
	        {M_ARENA_TEST, 8},
	        {M_PERTURB, 0},
	        {M_MXFAST, 64},
	};
	void *p;

	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		int ret = mallopt(params[i][0], params[i][1]);

		CHECK(ret == 1, "mallopt(%d, %d): expected 1, got %d", params[i][0], params[i][1],
		      ret);
	}
	/* The allocator works as before. */
	for (size_t n = 1; n <= 8 * MiB; n *= 3) {
		p = malloc(opaque(n));
		check_new_block(p, n, 16, n, "malloc after mallopt");
		free(p);
	}
	printf("ok: mallopt returns 1\n");
}

/* ---- misuse: each in a forked child, which must die of SIGABRT ---- */

static char foreign_buffer[256] __attribute__((aligned(64)));

struct misuse {
	const char *call; /* the function the message must name */
	void *ptr;        /* the pointer it must show */
	int kmm_only;     /* glibc does not catch it */
	void (*fn)(void *);
};

static void free_ptr(void *p)
{
	free(opaque_ptr(p));
}

static void realloc_ptr(void *p)
{
	void *q = realloc(opaque_ptr(p), 64);

	printf("realloc returned %p\n", q);
}

static void usable_ptr(void *p)
{
	size_t u = malloc_usable_size(opaque_ptr(p));

	printf("malloc_usable_size returned %zu\n", u);
}

static void free_twice(void *p)
{
	free(opaque_ptr(p));
	free(opaque_ptr(p));
}

static void expect_misuse_abort(const struct misuse *m, const char *what)
{
	char out[4096];
	int status = run_in_child(m->fn, m->ptr, out, sizeof(out));

	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	      "%s: expected the process to abort (SIGABRT), got status %#x and output:\n%s", what,
	      status, out);
	if (!kmm)
		return;
	CHECK(count_lines(out) == 1, "%s: expected exactly one line of output, got:\n%s", what,
	      out);
	CHECK(strstr(out, m->call) != NULL, "%s: expected the message to name %s(), got:\n%s", what,
	      m->call, out);
	CHECK(mentions_pointer(out, m->ptr),
	      "%s: expected the message to show the pointer %p, got:\n%s", what, m->ptr, out);
}

static void test_misuse(void)
{
	unsigned char *page = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
	                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *block = calloc(1, 256);
	/*
	 * Pointers no allocator handed out. Each is 16-byte aligned with zeros before it,
	 * so glibc finds a chunk of size 0 there and aborts too rather than crash.
	 */
	void *outside = foreign_buffer + 64, *mapped = page + page_size, *interior = block + 64;
	const struct misuse cases[] = {
	        {"free", outside, 0, free_ptr},
	        {"free", mapped, 0, free_ptr},
	        {"free", interior, 0, free_ptr},
	        {"realloc", outside, 0, realloc_ptr},
	        {"realloc", mapped, 0, realloc_ptr},
	        {"malloc_usable_size", outside, 1, usable_ptr},
	        {"malloc_usable_size", mapped, 1, usable_ptr},
	};
	static const size_t small[] = {16, 24, 100, 512, 1000};
	int checked = 0;

	CHECK(page != MAP_FAILED && block, "setting up the misuse cases");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[128];

		if (cases[i].kmm_only && !kmm)
			continue;
		snprintf(what, sizeof(what), "%s(%p) (%s)", cases[i].call, cases[i].ptr,
		         cases[i].ptr == outside  ? "a static buffer"
		         : cases[i].ptr == mapped ? "an mmap page"
		                                  : "inside a malloc block");
		expect_misuse_abort(&cases[i], what);
		checked++;
	}
	/* The same small block freed twice in a row. */
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		struct misuse m = {"free", malloc(small[i]), 0, free_twice};
		char what[128];

		snprintf(what, sizeof(what), "free(%p) twice (a %zu-byte block)", m.ptr, small[i]);
		expect_misuse_abort(&m, what);
		free(m.ptr);
		checked++;
	}
	munmap(page, 2 * page_size);
	free(block);
	printf("ok: %d misuse cases abort%s\n", checked,
	       kmm ? " with one line naming the call and the pointer" : "");
}

/* ---- kmm's own API ---- */

struct kmm_cache;

static struct {
	struct kmm_cache *(*cache_create)(const char *, size_t, size_t, unsigned long,
	                                  void (*)(void *));
	void *(*cache_alloc)(struct kmm_cache *);
	void (*cache_free)(struct kmm_cache *, void *);
	void (*cache_destroy)(struct kmm_cache *);
	void *(*kmalloc)(size_t);
	void (*kfree)(const void *);
	size_t (*ksize)(const void *);
	void *(*vmalloc)(size_t);
	void (*vfree)(const void *);
} api;

#define CTOR_MAGIC 0x636f6e7374727563ull

static unsigned long ctor_calls;

static void ctor(void *obj)
{
	uint64_t magic = CTOR_MAGIC;

	memcpy(obj, &magic, sizeof(magic));
	__atomic_add_fetch(&ctor_calls, 1, __ATOMIC_RELAXED);
}

static void destroy_live_cache(void *arg)
{
	struct kmm_cache *cache = api.cache_create("kmm_test_leaky", 96, 0, 0, NULL);
	void *obj;

	(void)arg;
	CHECK(cache != NULL, "kmm_cache_create failed");
	obj = api.cache_alloc(cache);
	CHECK(obj != NULL, "kmm_cache_alloc failed");
	api.cache_destroy(cache);
}

static void test_cache(size_t size, size_t align, int with_ctor)
{
	enum { N = 600 };
	static void *objs[N];
	char name[64];
	struct kmm_cache *cache;
	size_t want = align ? align : sizeof(void *);
	size_t from = with_ctor ? 8 : 0;
	unsigned long calls_before = ctor_calls;

	snprintf(name, sizeof(name), "kmm_test_%zu_%zu%s", size, align, with_ctor ? "_ctor" : "");
	cache = api.cache_create(name, size, align, 0, with_ctor ? ctor : NULL);
	CHECK(cache != NULL, "kmm_cache_create(%s, %zu, %zu) failed", name, size, align);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			uint64_t magic;

			objs[i] = api.cache_alloc(cache);
			CHECK(objs[i] != NULL, "%s: kmm_cache_alloc failed", name);
			CHECK(((uintptr_t)objs[i] & (want - 1)) == 0,
			      "%s: expected %zu-byte alignment, got %p", name, want, objs[i]);
			if (with_ctor) {
				memcpy(&magic, objs[i], sizeof(magic));
				CHECK(magic == CTOR_MAGIC,
				      "%s: object %p (round %d) should come constructed: expected "
				      "%#llx, got %#llx",
				      name, objs[i], round, (unsigned long long)CTOR_MAGIC,
				      (unsigned long long)magic);
			}
			/* The constructed part stays: objects go back in their constructed state.
			 */
			pattern_fill(objs[i], from, size, (uint64_t)i * 31 + size);
		}
		for (int i = 0; i < N; i++) {
			CHECK_PATTERN(objs[i], from, size, (uint64_t)i * 31 + size, name);
			api.cache_free(cache, objs[i]);
		}
	}
	if (with_ctor)
		CHECK(ctor_calls - calls_before >= N,
		      "%s: expected the constructor to run for each of %d objects, ran %lu times",
		      name, N, ctor_calls - calls_before);
	/* Every object is back: destroying the cache is fine. */
	api.cache_destroy(cache);
}

static void test_kmm_api(void)
{
	char out[4096];
	int status;
	void *p;

	if (!kmm) {
		printf("skip: kmm_* API (kmm is not the allocator of this process)\n");
		return;
	}
	api.cache_create = (__typeof__(api.cache_create))dlsym(RTLD_DEFAULT, "kmm_cache_create");
	api.cache_alloc = (__typeof__(api.cache_alloc))dlsym(RTLD_DEFAULT, "kmm_cache_alloc");
	api.cache_free = (__typeof__(api.cache_free))dlsym(RTLD_DEFAULT, "kmm_cache_free");
	api.cache_destroy = (__typeof__(api.cache_destroy))dlsym(RTLD_DEFAULT, "kmm_cache_destroy");
	api.kmalloc = (__typeof__(api.kmalloc))dlsym(RTLD_DEFAULT, "kmm_kmalloc");
	api.kfree = (__typeof__(api.kfree))dlsym(RTLD_DEFAULT, "kmm_kfree");
	api.ksize = (__typeof__(api.ksize))dlsym(RTLD_DEFAULT, "kmm_ksize");
	api.vmalloc = (__typeof__(api.vmalloc))dlsym(RTLD_DEFAULT, "kmm_vmalloc");
	api.vfree = (__typeof__(api.vfree))dlsym(RTLD_DEFAULT, "kmm_vfree");
	CHECK(api.cache_create && api.cache_alloc && api.cache_free && api.cache_destroy &&
	              api.kmalloc && api.kfree && api.ksize && api.vmalloc && api.vfree,
	      "kmm_kmalloc is exported, so every kmm_* call should be (one is missing)");

	/* Caches: objects come constructed, aligned as asked, and distinct. */
	test_cache(8, 8, 1);
	test_cache(24, 8, 1);
	test_cache(64, 64, 1);
	test_cache(100, 64, 1);
	test_cache(200, 128, 1);
	test_cache(1000, 256, 1);
	test_cache(3000, 1024, 1);
	test_cache(5000, 512, 1);
	test_cache(3, 0, 0);
	test_cache(40, 16, 0);
	test_cache(4096, 4096, 0);
	/* A cache that was never used goes away quietly. */
	api.cache_destroy(api.cache_create("kmm_test_unused", 48, 16, 0, ctor));

	/* Destroying a cache with a live object: one line naming the cache, then abort. */
	status = run_in_child(destroy_live_cache, NULL, out, sizeof(out));
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	      "kmm_cache_destroy with a live object: expected an abort, got status %#x and "
	      "output:\n%s",
	      status, out);
	CHECK(count_lines(out) == 1,
	      "kmm_cache_destroy with a live object: expected one line, got:\n%s", out);
	CHECK_STR_CONTAINS(out, "kmm_test_leaky");

	/* kmalloc: ksize covers the request and all of it is writable. */
	for (size_t n = 1; n <= 16 * MiB; n = n < 4096 ? n + 1 : n * 2) {
		size_t k;

		p = api.kmalloc(opaque(n));
		CHECK(p != NULL, "kmm_kmalloc(%zu) failed", n);
		CHECK(((uintptr_t)p & (sizeof(void *) - 1)) == 0, "kmm_kmalloc(%zu): %p misaligned",
		      n, p);
		k = api.ksize(p);
		CHECK(k >= n, "kmm_ksize after kmm_kmalloc(%zu): expected >= %zu, got %zu", n, n,
		      k);
		pattern_fill(p, 0, k, n);
		CHECK_PATTERN(p, 0, k, n, "kmm_kmalloc");
		api.kfree(p);
	}
	api.kfree(NULL);
	errno = 0;
	expect_failure(api.kmalloc(opaque(SIZE_MAX)), ENOMEM, "kmm_kmalloc(SIZE_MAX)");

	/* vmalloc: page aligned, the whole size writable. */
	{
		static const size_t sizes[] = {1, 4095, 4096, 4097, 100000, 1 * MiB, 16 * MiB + 1};
		void *held[sizeof(sizes) / sizeof(sizes[0])];

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			held[i] = api.vmalloc(opaque(sizes[i]));
			CHECK(held[i] != NULL, "kmm_vmalloc(%zu) failed", sizes[i]);
			CHECK(((uintptr_t)held[i] & (page_size - 1)) == 0,
			      "kmm_vmalloc(%zu): expected a page-aligned address, got %p", sizes[i],
			      held[i]);
			pattern_fill(held[i], 0, sizes[i], i);
		}
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			CHECK_PATTERN(held[i], 0, sizes[i], i, "kmm_vmalloc");
			api.vfree(held[i]);
		}
		api.vfree(NULL);
		errno = 0;
		expect_failure(api.vmalloc(opaque(SIZE_MAX)), ENOMEM, "kmm_vmalloc(SIZE_MAX)");
	}
	printf("ok: kmm_cache_*, kmm_kmalloc/kmm_ksize/kmm_kfree, kmm_vmalloc/kmm_vfree\n");
}

int main(int argc, char **argv)
{
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	kmm = under_kmm();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], UNDER_RLIMIT_AS) == 0) {
		fail_for_want_of_memory();
		return 0;
	}
	printf("malloc under test: %s\n", kmm ? "kmm" : "not kmm (the C library's, presumably)");

	check_exports();
	test_malloc();
	test_huge_sizes();
	test_free();
	test_calloc();
	test_realloc();
	test_reallocarray();
	test_alignment();
	test_huge_alignment();
	test_out_of_memory();
	test_page_aligned();
	test_alignment_everywhere();
	test_libc_aliases();
	test_introspection();
	test_misuse();
	test_kmm_api();
	test_mallopt();
	printf("api_conformance: all checks passed\n");
	return 0;
}

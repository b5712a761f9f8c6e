/*
 * Candidate compressors for a compressed swap tier (zswap's idea): each evicted 4 KiB page
 * is compressed into an in-memory pool, and a page that does not compress to 3/4 of a page
 * or less goes to the swap file instead. This measures, on files of raw 4 KiB pages (made
 * by bench/reclaim/capture_pages.sh), what each compressor would keep and what it costs:
 *
 *   lz4      LZ4_compress_fast_extState, acceleration 1; LZ4_decompress_safe
 *   zstd-1   ZSTD_compressCCtx level 1, static CCtx (ZSTD_initStaticCCtx); ZSTD_decompressDCtx
 *   zstd-3   the same at level 3
 *
 *   compress [-p PASSES] FILE...
 *
 * Each FILE is one data set. All-zero pages are counted and left out (the tier would drop
 * them without compressing); a trailing partial page is ignored. Per file and compressor,
 * one line:
 *
 *   pages      non-zero pages measured
 *   mean_B     mean compressed size over all of them (a full-size destination buffer)
 *   stored     fraction of pages that would be stored (compressed size <= 3072 B)
 *   pool_B     mean compressed size of the stored pages (raw bytes, no allocator overhead)
 *   saving     1 - (bytes of the stored pages + 4096 per rejected page) / (4096 * pages)
 *   comp_ns    compress ns/page, median over the passes, every page compressed each pass
 *   dec_ns     decompress ns/page, median over the passes, stored pages only (the ones that
 *              would be read back from the pool; "-" when none is stored)
 *
 * Passes (default 5) alternate the compressors, so a slow patch of a noisy machine does
 * not fall on one of them. Compression reads pages in file order from the loaded file and
 * writes each result to its own slot; decompression writes into one reused 4 KiB buffer.
 * Before timing, every page is compressed and decompressed once and compared byte for byte
 * with the original; a mismatch or a library error aborts with a message (exit 1). Every
 * timed decompression is also checked to return 4096 bytes.
 *
 * Build (gnu11; the experimental zstd API is exported by Debian's libzstd.so):
 *   cc -std=gnu11 -O2 -Wall -Wextra -Werror -o compress bench/reclaim/compress.c -llz4 -lzstd
 *
 * Reproduce the measurement in docs/decisions.md (Debian 12, liblz4 1.9.4, libzstd 1.5.4; root):
 *   apt-get install -y liblz4-dev libzstd-dev
 *   cc -std=gnu11 -O2 -Wall -Wextra -Werror -o /tmp/compress bench/reclaim/compress.c \
 *           -llz4 -lzstd
 *   bench/reclaim/capture_pages.sh /tmp/kmm-pages
 *   cd /tmp/kmm-pages && for round in 1 2 3; do
 *           for f in *.pages; do
 *                   /tmp/compress "$f" | sed "s/^/$round /"
 *           done
 *   done > /tmp/kmm-compress.txt
 * and take, per data set and compressor, the median of the three rounds of each column.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define PAGE_SIZE  4096
#define STORE_MAX  (PAGE_SIZE * 3 / 4) /* larger than this goes to the swap file */
#define MAX_PASSES 99

struct compressor {
	const char *name;
	int level; /* zstd only */
	size_t (*compress)(struct compressor *c, const void *src, void *dst, size_t cap);
	size_t (*decompress)(struct compressor *c, const void *src, size_t len, void *dst);
	size_t bound;
	void *cstate; /* lz4 state or zstd CCtx workspace */
	void *dstate; /* zstd DCtx workspace */
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	size_t cstate_size, dstate_size;
};

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "compress: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static size_t lz4_compress(struct compressor *c, const void *src, void *dst, size_t cap)
{
	int n = LZ4_compress_fast_extState(c->cstate, src, dst, PAGE_SIZE, (int)cap, 1);

	if (n <= 0)
		die("%s: compression failed (%d)", c->name, n);
	return (size_t)n;
}

static size_t lz4_decompress(struct compressor *c, const void *src, size_t len, void *dst)
{
	int n = LZ4_decompress_safe(src, dst, (int)len, PAGE_SIZE);

	if (n < 0)
		die("%s: decompression failed (%d)", c->name, n);
	return (size_t)n;
}

static size_t zstd_compress(struct compressor *c, const void *src, void *dst, size_t cap)
{
	size_t n = ZSTD_compressCCtx(c->cctx, dst, cap, src, PAGE_SIZE, c->level);

	if (ZSTD_isError(n))
		die("%s: compression failed: %s", c->name, ZSTD_getErrorName(n));
	return n;
}

static size_t zstd_decompress(struct compressor *c, const void *src, size_t len, void *dst)
{
	size_t n = ZSTD_decompressDCtx(c->dctx, dst, PAGE_SIZE, src, len);

	if (ZSTD_isError(n))
		die("%s: decompression failed: %s", c->name, ZSTD_getErrorName(n));
	return n;
}

static void *xmalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);

	if (!p)
		die("cannot allocate %zu bytes", n);
	return p;
}

static void setup(struct compressor *c)
{
	if (!c->level) {
		c->bound = (size_t)LZ4_compressBound(PAGE_SIZE);
		c->cstate_size = (size_t)LZ4_sizeofState();
		c->cstate = xmalloc(c->cstate_size);
		return;
	}
	/* Sized for 4 KiB inputs: ZSTD_compressCCtx picks the same parameters from srcSize. */
	ZSTD_compressionParameters cp = ZSTD_getCParams(c->level, PAGE_SIZE, 0);

	c->bound = ZSTD_compressBound(PAGE_SIZE);
	c->cstate_size = ZSTD_estimateCCtxSize_usingCParams(cp);
	c->cstate = xmalloc(c->cstate_size);
	c->cctx = ZSTD_initStaticCCtx(c->cstate, c->cstate_size);
	c->dstate_size = ZSTD_estimateDCtxSize();
	c->dstate = xmalloc(c->dstate_size);
	c->dctx = ZSTD_initStaticDCtx(c->dstate, c->dstate_size);
	if (!c->cctx || !c->dctx)
		die("%s: cannot make static contexts (level %d)", c->name, c->level);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct dataset {
	const char *name;
	unsigned char *pages; /* nr non-zero pages */
	size_t nr, nr_zero;
};

static int all_zero(const unsigned char *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return 0;
	return 1;
}

static void load(struct dataset *d, const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	size_t size, off = 0;

	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", path, strerror(errno));
	size = (size_t)st.st_size / PAGE_SIZE * PAGE_SIZE;
	d->name = path;
	d->pages = xmalloc(size ? size : PAGE_SIZE);
	while (off < size) {
		ssize_t n = read(fd, d->pages + off, size - off);

		if (n <= 0)
			die("%s: short read at %zu", path, off);
		off += (size_t)n;
	}
	close(fd);
	d->nr = d->nr_zero = 0;
	for (size_t i = 0; i < size / PAGE_SIZE; i++) {
		unsigned char *p = d->pages + i * PAGE_SIZE;

		if (all_zero(p)) {
			d->nr_zero++;
			continue;
		}
		if (d->nr != i)
			memcpy(d->pages + d->nr * PAGE_SIZE, p, PAGE_SIZE);
		d->nr++;
	}
	if (!d->nr)
		die("%s: no non-zero 4 KiB page (%zu zero pages)", path, d->nr_zero);
}

struct result {
	size_t total, stored, stored_bytes;
	double comp[MAX_PASSES], dec[MAX_PASSES];
};

/* Untimed: compress every page, check that each decompresses to the original. */
static void check(struct compressor *c, struct dataset *d, unsigned char *out, size_t *len,
                  struct result *r)
{
	unsigned char back[PAGE_SIZE];

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < d->nr; i++) {
		const unsigned char *src = d->pages + i * PAGE_SIZE;
		unsigned char *dst = out + i * c->bound;

		len[i] = c->compress(c, src, dst, c->bound);
		memset(back, 0xa5, sizeof(back));
		if (c->decompress(c, dst, len[i], back) != PAGE_SIZE ||
		    memcmp(back, src, PAGE_SIZE))
			die("%s: %s: page %zu does not round-trip", c->name, d->name, i);
		r->total += len[i];
		if (len[i] <= STORE_MAX) {
			r->stored++;
			r->stored_bytes += len[i];
		}
	}
}

static void timed_pass(struct compressor *c, struct dataset *d, unsigned char *out, size_t *len,
                       struct result *r, int pass)
{
	static unsigned char back[PAGE_SIZE];
	double t0, t1, t2;

	t0 = now_ns();
	for (size_t i = 0; i < d->nr; i++)
		len[i] = c->compress(c, d->pages + i * PAGE_SIZE, out + i * c->bound, c->bound);
	t1 = now_ns();
	for (size_t i = 0; i < d->nr; i++) {
		if (len[i] > STORE_MAX)
			continue;
		if (c->decompress(c, out + i * c->bound, len[i], back) != PAGE_SIZE)
			die("%s: %s: page %zu: short decompression", c->name, d->name, i);
	}
	t2 = now_ns();
	r->comp[pass] = (t1 - t0) / (double)d->nr;
	r->dec[pass] = r->stored ? (t2 - t1) / (double)r->stored : 0;
}

int main(int argc, char **argv)
{
	struct compressor cs[] = {
	        {.name = "lz4", .compress = lz4_compress, .decompress = lz4_decompress},
	        {.name = "zstd-1",
	         .level = 1,
	         .compress = zstd_compress,
	         .decompress = zstd_decompress},
	        {.name = "zstd-3",
	         .level = 3,
	         .compress = zstd_compress,
	         .decompress = zstd_decompress},
	};
	enum { NR_C = sizeof(cs) / sizeof(cs[0]) };
	struct result res[NR_C];
	int passes = 5, first = 1;
	size_t max_bound = 0;

	if (argc > 2 && !strcmp(argv[1], "-p")) {
		passes = atoi(argv[2]);
		first = 3;
	}
	if (first >= argc || passes < 1 || passes > MAX_PASSES) {
		fprintf(stderr, "usage: %s [-p PASSES(1-%d)] FILE...\n", argv[0], MAX_PASSES);
		return 2;
	}
	for (int k = 0; k < NR_C; k++) {
		setup(&cs[k]);
		if (cs[k].bound > max_bound)
			max_bound = cs[k].bound;
	}
	printf("# lz4 %s (state %zu B); zstd %s (level 1 CCtx %zu B, level 3 CCtx %zu B, DCtx "
	       "%zu B); %d passes\n",
	       LZ4_versionString(), cs[0].cstate_size, ZSTD_versionString(), cs[1].cstate_size,
	       cs[2].cstate_size, cs[1].dstate_size, passes);
	printf("%-28s %-7s %8s %7s %7s %7s %7s %8s %8s\n", "dataset", "comp", "pages", "mean_B",
	       "stored", "pool_B", "saving", "comp_ns", "dec_ns");
	for (int a = first; a < argc; a++) {
		struct dataset d;
		const char *base = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];

		load(&d, argv[a]);
		unsigned char *out = xmalloc(d.nr * max_bound);
		size_t *len = xmalloc(d.nr * sizeof(*len));

		for (int k = 0; k < NR_C; k++)
			check(&cs[k], &d, out, len, &res[k]);
		for (int pass = 0; pass < passes; pass++)
			for (int k = 0; k < NR_C; k++)
				timed_pass(&cs[k], &d, out, len, &res[k], pass);
		for (int k = 0; k < NR_C; k++) {
			struct result *r = &res[k];
			size_t rejected = d.nr - r->stored;
			double kept = (double)r->stored_bytes + (double)rejected * PAGE_SIZE;
			char dec[32] = "-";

			if (r->stored)
				snprintf(dec, sizeof(dec), "%.0f", median(r->dec, passes));
			printf("%-28s %-7s %8zu %7.0f %7.4f %7.0f %7.4f %8.0f %8s\n", base,
			       cs[k].name, d.nr, (double)r->total / (double)d.nr,
			       (double)r->stored / (double)d.nr,
			       r->stored ? (double)r->stored_bytes / (double)r->stored : 0.0,
			       1.0 - kept / ((double)PAGE_SIZE * (double)d.nr),
			       median(r->comp, passes), dec);
		}
		if (d.nr_zero)
			printf("# %s: %zu all-zero pages left out\n", base, d.nr_zero);
		fflush(stdout);
		free(out);
		free(len);
		free(d.pages);
	}
	return 0;
}

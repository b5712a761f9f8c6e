/*
 * The single-threaded workloads; see workloads.h. Every block is written where a
 * program would write it (its first byte, or one byte per page of a large block), so
 * an allocator is not credited for memory nobody touched.
 */
#define _GNU_SOURCE
#include "workloads.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE_SIZE 4096

uint64_t bench_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

void bench_fill_sizes(uint32_t *sizes, size_t count, uint32_t min, uint32_t max, uint64_t seed)
{
	for (size_t i = 0; i < count; i++)
		sizes[i] = min + (uint32_t)(bench_random(&seed) % (max - min + 1));
}

int run_small_pairs(const struct bench_allocator *a, const uint32_t *sizes, size_t count,
                    long pairs)
{
	for (long i = 0; i < pairs; i++) {
		char *p = a->malloc(sizes[i & (count - 1)]);

		if (!p)
			return -1;
		p[0] = (char)i;
		a->free(p);
	}
	return 0;
}

int run_batch(const struct bench_allocator *a, const uint32_t *sizes, const uint32_t *permutation,
              void **slots, size_t count, enum free_order order)
{
	int failed = 0;

	for (size_t i = 0; i < count; i++) {
		char *p = a->malloc(sizes[i]);

		if (!p)
			return -1;
		p[0] = (char)i;
		slots[i] = p;
	}
	for (size_t n = 0; n < count; n++) {
		size_t i = order == FREE_LIFO   ? count - 1 - n
		           : order == FREE_FIFO ? n
		                                : permutation[n];
		char *p = slots[i];

		failed |= p[0] != (char)i;
		a->free(p);
	}
	return failed ? -1 : 0;
}

static void touch_pages(char *p, size_t from, size_t to)
{
	for (size_t offset = from; offset < to; offset += PAGE_SIZE)
		p[offset] = (char)offset;
	p[to - 1] = 0x5a;
}

int run_size_step(const struct bench_allocator *a, size_t size, long repeat)
{
	for (long i = 0; i < repeat; i++) {
		char *p = a->malloc(size);

		if (!p)
			return -1;
		touch_pages(p, 0, size);
		a->free(p);
	}
	return 0;
}

int run_realloc_doubling(const struct bench_allocator *a, size_t max)
{
	size_t size = 16;
	char *p = a->malloc(size);

	if (!p)
		return -1;
	touch_pages(p, 0, size);
	while (size < max) {
		char *grown = a->realloc(p, size * 2);

		if (!grown) {
			a->free(p);
			return -1;
		}
		p = grown;
		if (p[size - 1] != 0x5a) {
			a->free(p);
			return -1;
		}
		touch_pages(p, size, size * 2);
		size *= 2;
	}
	a->free(p);
	return 0;
}

#define MAX_STRINGS 64

int run_realloc_append(const struct bench_allocator *a, int strings, size_t final, uint64_t seed)
{
	char *text[MAX_STRINGS] = {0};
	size_t length[MAX_STRINGS] = {0};
	int growing = strings, failed = 0;

	if (strings > MAX_STRINGS)
		return -1;
	while (growing > 0 && !failed) {
		growing = 0;
		for (int i = 0; i < strings; i++) {
			size_t grow = 1 + bench_random(&seed) % 32;
			size_t to = length[i] + grow < final ? length[i] + grow : final;
			char *grown;

			if (length[i] == final)
				continue;
			grown = a->realloc(text[i], to);
			if (!grown) {
				failed = 1;
				break;
			}
			if (length[i] > 0 && grown[0] != (char)('a' + i))
				failed = 1;
			memset(grown + length[i], 'a' + i, to - length[i]);
			text[i] = grown;
			length[i] = to;
			growing++;
		}
	}
	for (int i = 0; i < strings; i++)
		a->free(text[i]);
	return failed ? -1 : 0;
}

int run_large_blocks(const struct bench_allocator *a, const size_t *sizes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		char *p = a->malloc(sizes[i]);

		if (!p)
			return -1;
		touch_pages(p, 0, sizes[i]);
		a->free(p);
	}
	return 0;
}

/* A "Vm...:" line of /proc/self/status, in KiB; -1 if absent. Does not allocate. */
static long status_kib(const char *key)
{
	char buffer[4096];
	size_t key_length = strlen(key);
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buffer, sizeof(buffer) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buffer[n] = '\0';
	for (char *line = buffer; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, key, key_length) == 0 && line[key_length] == ':')
			return strtol(line + key_length + 1, NULL, 10);
	}
	return -1;
}

/* Since Linux 4.0, writing 5 to clear_refs resets the peak resident set (VmHWM). */
static void reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "5", 1) != 1) {
			/* An old kernel: the peak then counts from the process's start. */
		}
		close(fd);
	}
}

#define MIB (1024.0 * 1024.0)

int run_fragmentation(const struct bench_allocator *a, long small,
                      struct fragmentation_result *result)
{
	/* The bookkeeping comes from the harness's malloc and is resident before the start. */
	char **smalls = calloc(small, sizeof(*smalls));
	uint16_t *small_sizes = calloc(small, sizeof(*small_sizes));
	char **larges = calloc(small / 2 + 1, sizeof(*larges));
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	size_t live = 0, peak_live, freed = 0, nlarge = 0;
	long baseline_kib;
	int failed = 0;

	if (!smalls || !small_sizes || !larges) {
		failed = 1;
		goto out;
	}
	memset(smalls, 0, small * sizeof(*smalls));
	memset(larges, 0, (small / 2 + 1) * sizeof(*larges));
	for (long i = 0; i < small; i++)
		small_sizes[i] = 16 + bench_random(&seed) % 497;
	baseline_kib = status_kib("VmRSS");
	reset_peak_rss();

	for (long i = 0; i < small; i++) {
		smalls[i] = a->malloc(small_sizes[i]);
		if (!smalls[i]) {
			failed = 1;
			goto out;
		}
		memset(smalls[i], (int)i, small_sizes[i]);
		live += small_sizes[i];
	}
	peak_live = live;
	for (long i = 0; i < small; i++) {
		if (bench_random(&seed) % 4 == 0)
			continue;
		freed += small_sizes[i];
		a->free(smalls[i]);
		smalls[i] = NULL;
	}
	live -= freed;
	/* At most SMALL / 2 blocks of 1 KiB or more add up to what SMALL blocks of 512 did. */
	for (size_t got = 0; got < freed && nlarge < (size_t)small / 2 + 1;) {
		size_t size = 1024 + bench_random(&seed) % (7 * 1024 + 1);

		larges[nlarge] = a->malloc(size);
		if (!larges[nlarge]) {
			failed = 1;
			goto out;
		}
		memset(larges[nlarge++], 0x33, size);
		got += size;
		live += size;
	}
	result->live_mib = (double)(live > peak_live ? live : peak_live) / MIB;
	result->peak_rss_mib = (status_kib("VmHWM") - baseline_kib) / 1024.0;
	for (size_t i = 0; i < nlarge; i++) {
		a->free(larges[i]);
		larges[i] = NULL;
	}
	result->final_rss_mib = (status_kib("VmRSS") - baseline_kib) / 1024.0;

out:
	for (long i = 0; smalls && i < small; i++)
		a->free(smalls[i]);
	for (size_t i = 0; larges && i < nlarge; i++)
		a->free(larges[i]);
	free(smalls);
	free(small_sizes);
	free(larges);
	return failed ? -1 : 0;
}

/*
 * malloc_trim gives memory back: after 400,000 blocks of random small and medium sizes
 * are freed in shuffled order, empty slabs, the caller's cached slabs and free pages
 * must not keep hundreds of MiB resident.
 */
#include "preload_test.h"

#include <malloc.h>
#include <stdint.h>

static long rss_anon_kb(void)
{
	return proc_status_kb("RssAnon:");
}

int main(void)
{
	enum { N = 400000 };
	void **blocks = malloc(N * sizeof(void *));
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	long before = rss_anon_kb(), full, trimmed;

	for (int i = 0; i < N; i++) {
		size_t size;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		size = seed % 100 < 95 ? 16 + seed % 1024 : 4096 + seed % 65536;
		blocks[i] = malloc(size);
		CHECK(blocks[i] != NULL, "malloc(%zu) failed", size);
		memset(blocks[i], 1, size);
	}
	full = rss_anon_kb();
	for (int i = N - 1; i > 0; i--) {
		int j;
		void *t;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		j = (int)(seed % (uint64_t)(i + 1));
		t = blocks[i];
		blocks[i] = blocks[j];
		blocks[j] = t;
	}
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	malloc_trim(0);
	trimmed = rss_anon_kb();
	printf("RssAnon: %ld kB before, %ld kB with the blocks, %ld kB after free + malloc_trim\n",
	       before, full, trimmed);
	CHECK(trimmed - before < 64 * 1024,
	      "expected less than 64 MiB resident after malloc_trim, got %ld kB (was %ld kB)",
	      trimmed - before, full - before);
	free(blocks);
	return 0;
}

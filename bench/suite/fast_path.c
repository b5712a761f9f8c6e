/*
 * The malloc/free fast path in instructions, for callgrind:
 *
 *   valgrind --tool=callgrind kmm_bench_fast_path --allocator=NAME MODE SIZE COUNT
 *
 * MODE is "pairs" (COUNT malloc(SIZE) + free pairs), "shuffle" (COUNT blocks allocated
 * in batches of 1000 and each batch freed in a fixed random order) or "remote" (the
 * same batches freed by a second thread). Run with two counts, the difference of the
 * two totals divided by the difference of the counts is what one more malloc and free
 * cost: start-up, initialization and exit cancel out. NAME "none" is a do-nothing
 * allocator that measures this program's own loop. jemalloc needs
 * GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384 (see allocator.h).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "workloads.h"

#ifndef KMM_LIBRARY_PATH
#define KMM_LIBRARY_PATH "libkmm.so"
#endif

#define BATCH 1000

static char none_block[1 << 16];

static void *none_malloc(size_t size)
{
	return none_block;
}

static void none_free(void *ptr)
{
}

static struct bench_allocator allocator;
static void *batch[BATCH];
static sem_t batch_ready, batch_freed;
static long batches;

static void *remote_freer(void *arg)
{
	for (long b = 0; b < batches; b++) {
		sem_wait(&batch_ready);
		for (int i = 0; i < BATCH; i++)
			allocator.free(batch[i]);
		sem_post(&batch_freed);
	}
	return NULL;
}

static int fill_batch(size_t size)
{
	for (int i = 0; i < BATCH; i++) {
		char *p = allocator.malloc(size);

		if (!p)
			return -1;
		p[0] = (char)i;
		batch[i] = p;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *name = NULL, *kmm_library = KMM_LIBRARY_PATH, *mode;
	uint32_t order[BATCH];
	uint64_t seed = 11;
	char error[512];
	size_t size;
	long count;
	int arg = 1;

	for (; arg < argc && strncmp(argv[arg], "--", 2) == 0; arg++) {
		if (strncmp(argv[arg], "--allocator=", 12) == 0) {
			name = argv[arg] + 12;
		} else if (strncmp(argv[arg], "--kmm-library=", 14) == 0) {
			kmm_library = argv[arg] + 14;
		} else {
			fprintf(stderr,
			        "%s: unknown option '%s'; accepted: --allocator=NAME, "
			        "--kmm-library=PATH\n",
			        argv[0], argv[arg]);
			return 2;
		}
	}
	if (!name || argc - arg != 3) {
		fprintf(stderr,
		        "usage: %s --allocator=NAME [--kmm-library=PATH] pairs|shuffle|remote "
		        "SIZE COUNT\n",
		        argv[0]);
		return 2;
	}
	mode = argv[arg];
	size = strtoul(argv[arg + 1], NULL, 10);
	count = strtol(argv[arg + 2], NULL, 10);
	if (strcmp(name, "none") == 0) {
		allocator = (struct bench_allocator){
		        .name = "none", .malloc = none_malloc, .free = none_free};
	} else if (bench_allocator_open(&allocator, name, kmm_library, error, sizeof(error)) != 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	if (size == 0 || size > sizeof(none_block) || count < BATCH) {
		fprintf(stderr, "SIZE must be 1 to %zu, COUNT at least %d\n", sizeof(none_block),
		        BATCH);
		return 2;
	}

	if (strcmp(mode, "pairs") == 0) {
		static uint32_t sizes[1];

		sizes[0] = (uint32_t)size;
		return run_small_pairs(&allocator, sizes, 1, count) ? 1 : 0;
	}
	batches = count / BATCH;
	if (strcmp(mode, "shuffle") == 0) {
		for (int i = 0; i < BATCH; i++)
			order[i] = i;
		for (int i = BATCH - 1; i > 0; i--) {
			int j = bench_random(&seed) % (i + 1);
			uint32_t t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (long b = 0; b < batches; b++) {
			if (fill_batch(size))
				return 1;
			for (int i = 0; i < BATCH; i++)
				allocator.free(batch[order[i]]);
		}
		return 0;
	}
	if (strcmp(mode, "remote") == 0) {
		pthread_t freer;

		sem_init(&batch_ready, 0, 0);
		sem_init(&batch_freed, 0, 0);
		if (pthread_create(&freer, NULL, remote_freer, NULL) != 0)
			return 1;
		for (long b = 0; b < batches; b++) {
			if (fill_batch(size))
				return 1;
			sem_post(&batch_ready);
			sem_wait(&batch_freed);
		}
		pthread_join(freer, NULL);
		return 0;
	}
	fprintf(stderr, "unknown mode '%s'\n", mode);
	return 2;
}

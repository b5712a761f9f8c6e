/*
 * Threads > cores exhaust one zone together: every page must be handed out before the
 * first ENOMEM sticks. A thread that fails while another has pages on its way between a
 * per-CPU list and the zone must retry, not give up. Repeated, with frees in between.
 * Run with KMM_NUMA_FAKE=1 KMM_ZONE_SIZE=16M.
 */
#include "../buddy_test.h"

#include <pthread.h>

#define NR_THREADS 8
#define ROUNDS     30

static void **pages[NR_THREADS];
static size_t counts[NR_THREADS];
static pthread_barrier_t barrier;

static void *exhaust(void *arg)
{
	long t = (long)arg;

	for (int round = 0; round < ROUNDS; round++) {
		void *p;

		pthread_barrier_wait(&barrier);
		counts[t] = 0;
		while ((p = kmm_alloc_pages(0)) != NULL)
			pages[t][counts[t]++] = p;
		CHECK(errno == ENOMEM, "thread %ld: expected ENOMEM, got %d", t, errno);
		pthread_barrier_wait(&barrier); /* main counts */
		pthread_barrier_wait(&barrier);
		for (size_t i = 0; i < counts[t]; i++)
			kmm_free_pages(pages[t][i], 0);
	}
	return NULL;
}

int main(void)
{
	pthread_t threads[NR_THREADS];
	unsigned long total;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	total = total_zone_pages();
	pthread_barrier_init(&barrier, NULL, NR_THREADS + 1);
	for (long t = 0; t < NR_THREADS; t++) {
		pages[t] = calloc(total, sizeof(void *));
		pthread_create(&threads[t], NULL, exhaust, (void *)t);
	}
	for (int round = 0; round < ROUNDS; round++) {
		size_t sum = 0;

		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
		for (int t = 0; t < NR_THREADS; t++)
			sum += counts[t];
		CHECK(sum == total,
		      "round %d: threads got %zu pages before ENOMEM, the zone has %lu", round, sum,
		      total);
		pthread_barrier_wait(&barrier);
	}
	for (int t = 0; t < NR_THREADS; t++)
		pthread_join(threads[t], NULL);
	check_fully_merged();
	printf("exhaustion threads: %d rounds of %d threads took all %lu pages\n", ROUNDS,
	       NR_THREADS, total);
	return 0;
}

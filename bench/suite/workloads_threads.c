/*
 * The multi-threaded workloads; see workloads.h. Threads start together on a barrier,
 * and a thread that waits for another (an empty or full ring) yields its CPU: with
 * more threads than CPUs the other one has to run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "workloads.h"

#define RING_SLOTS  1024
#define WORKING_SET 1024
#define MIN_OBJECT  16
#define MAX_OBJECT  1024

/* One producer and its consumer; the two indices sit on cache lines of their own. */
struct handoff {
	_Alignas(64) _Atomic unsigned long head; /* written by the producer */
	_Alignas(64) _Atomic unsigned long tail; /* written by the consumer */
	_Alignas(64) unsigned char *ring[RING_SLOTS];
	const struct bench_allocator *a;
	pthread_barrier_t *start;
	long objects;
	uint64_t seed;
	_Atomic int producer_done;
	int failed;
};

static void *producer(void *arg)
{
	struct handoff *h = arg;
	uint64_t seed = h->seed;
	unsigned long head = 0;

	pthread_barrier_wait(h->start);
	for (long i = 0; i < h->objects; i++) {
		size_t size = MIN_OBJECT + bench_random(&seed) % (MAX_OBJECT - MIN_OBJECT + 1);
		unsigned char *p = h->a->malloc(size);

		if (!p) {
			h->failed = 1;
			break;
		}
		/* The consumer checks the size and the mark: a block handed out twice shows. */
		p[0] = (unsigned char)size;
		p[1] = (unsigned char)(size >> 8);
		p[size - 1] = 0xa5;
		while (head - atomic_load_explicit(&h->tail, memory_order_acquire) == RING_SLOTS)
			sched_yield();
		h->ring[head % RING_SLOTS] = p;
		atomic_store_explicit(&h->head, ++head, memory_order_release);
	}
	atomic_store_explicit(&h->producer_done, 1, memory_order_release);
	return NULL;
}

static void *consumer(void *arg)
{
	struct handoff *h = arg;
	uint64_t seed = h->seed ^ 0x5555555555555555ULL;
	unsigned char *held[WORKING_SET] = {0};
	unsigned long tail = 0;

	pthread_barrier_wait(h->start);
	for (;;) {
		unsigned long head = atomic_load_explicit(&h->head, memory_order_acquire);

		if (head == tail) {
			if (atomic_load_explicit(&h->producer_done, memory_order_acquire) &&
			    atomic_load_explicit(&h->head, memory_order_acquire) == tail)
				break;
			sched_yield();
			continue;
		}
		while (tail != head) {
			unsigned char *p = h->ring[tail % RING_SLOTS];
			size_t size = p[0] | (size_t)p[1] << 8;
			size_t slot = bench_random(&seed) % WORKING_SET;

			if (size < MIN_OBJECT || size > MAX_OBJECT || p[size - 1] != 0xa5)
				h->failed = 1;
			atomic_store_explicit(&h->tail, ++tail, memory_order_release);
			h->a->free(held[slot]);
			held[slot] = p;
		}
	}
	for (size_t i = 0; i < WORKING_SET; i++)
		h->a->free(held[i]);
	return NULL;
}

int run_producer_consumer(const struct bench_allocator *a, int pairs, long objects)
{
	struct handoff *handoffs;
	pthread_t threads[2 * BENCH_MAX_THREADS];
	pthread_barrier_t start;
	int failed = 0, started = 0;

	if (pairs < 1 || pairs > BENCH_MAX_THREADS)
		return -1;
	/* Harness memory, from glibc: only the objects handed over come from A. */
	handoffs = aligned_alloc(64, sizeof(*handoffs) * pairs);
	if (!handoffs)
		return -1;
	pthread_barrier_init(&start, NULL, 2 * pairs);
	for (int i = 0; i < pairs; i++) {
		struct handoff *h = &handoffs[i];

		atomic_init(&h->head, 0);
		atomic_init(&h->tail, 0);
		atomic_init(&h->producer_done, 0);
		h->a = a;
		h->start = &start;
		h->objects = objects;
		h->seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		h->failed = 0;
	}
	for (int i = 0; i < pairs; i++) {
		if (pthread_create(&threads[started], NULL, producer, &handoffs[i]) != 0)
			abort(); /* the barrier waits for every thread: nothing to unwind to */
		started++;
		if (pthread_create(&threads[started], NULL, consumer, &handoffs[i]) != 0)
			abort();
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < pairs; i++)
		failed |= handoffs[i].failed;
	pthread_barrier_destroy(&start);
	free(handoffs);
	return failed ? -1 : 0;
}

#define SCRATCH_OBJECT 8

struct scratch {
	const struct bench_allocator *a;
	pthread_barrier_t *start;
	char *given; /* allocated by the main thread, next to the other threads' */
	int rounds, writes, failed;
};

static void *scratch_thread(void *arg)
{
	struct scratch *s = arg;

	pthread_barrier_wait(s->start);
	s->a->free(s->given);
	for (int r = 0; r < s->rounds; r++) {
		char *block = s->a->malloc(SCRATCH_OBJECT);
		volatile char *p = block; /* every write goes to memory, as a counter's would */

		if (!block) {
			s->failed = 1;
			break;
		}
		for (int w = 0; w < s->writes; w++)
			for (int i = 0; i < SCRATCH_OBJECT; i++)
				p[i]++;
		s->a->free(block);
	}
	return NULL;
}

int run_cache_scratch(const struct bench_allocator *a, int threads, int rounds, int writes)
{
	struct scratch scratches[BENCH_MAX_THREADS];
	pthread_t ids[BENCH_MAX_THREADS];
	pthread_barrier_t start;
	int failed = 0;

	if (threads < 1 || threads > BENCH_MAX_THREADS)
		return -1;
	pthread_barrier_init(&start, NULL, threads);
	for (int i = 0; i < threads; i++) {
		scratches[i] =
		        (struct scratch){a, &start, a->malloc(SCRATCH_OBJECT), rounds, writes, 0};
		if (!scratches[i].given)
			abort();
	}
	for (int i = 0; i < threads; i++)
		if (pthread_create(&ids[i], NULL, scratch_thread, &scratches[i]) != 0)
			abort();
	for (int i = 0; i < threads; i++) {
		pthread_join(ids[i], NULL);
		failed |= scratches[i].failed;
	}
	pthread_barrier_destroy(&start);
	return failed ? -1 : 0;
}

#define MAX_BATCH 1024

/*
 * The batchers sit side by side in one array: a thread copies its own into locals and
 * writes back once at the end, so that the harness shares no cache line between threads.
 */
struct batcher {
	const struct bench_allocator *a;
	pthread_barrier_t *start;
	uint64_t seed;
	int rounds, batch, failed;
};

static void *batch_thread(void *arg)
{
	struct batcher *b = arg;
	const struct bench_allocator *a = b->a;
	uint64_t seed = b->seed;
	char *blocks[MAX_BATCH];
	int batch = b->batch, failed = 0;

	pthread_barrier_wait(b->start);
	for (int r = 0; r < b->rounds && !failed; r++) {
		for (int i = 0; i < batch; i++) {
			blocks[i] = a->malloc(8 + bench_random(&seed) % 505);
			if (!blocks[i]) {
				failed = 1;
				batch = i;
				break;
			}
			blocks[i][0] = (char)i;
		}
		for (int i = 0; i < batch; i++) {
			failed |= blocks[i][0] != (char)i;
			a->free(blocks[i]);
		}
	}
	b->failed = failed;
	return NULL;
}

int run_thread_batches(const struct bench_allocator *a, int threads, int rounds, int batch)
{
	struct batcher batchers[BENCH_MAX_THREADS];
	pthread_t ids[BENCH_MAX_THREADS];
	pthread_barrier_t start;
	int failed = 0;

	if (threads < 1 || threads > BENCH_MAX_THREADS || batch < 1 || batch > MAX_BATCH)
		return -1;
	pthread_barrier_init(&start, NULL, threads);
	for (int i = 0; i < threads; i++) {
		batchers[i] = (struct batcher){a,      &start, 0x9e3779b97f4a7c15ULL * (i + 1),
		                               rounds, batch,  0};
		if (pthread_create(&ids[i], NULL, batch_thread, &batchers[i]) != 0)
			abort();
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(ids[i], NULL);
		failed |= batchers[i].failed;
	}
	pthread_barrier_destroy(&start);
	return failed ? -1 : 0;
}

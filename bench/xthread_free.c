/*
 * Objects freed by another thread than the one that allocated them, larson-like: P
 * producer/consumer pairs (default 4, so 8 threads). Each producer mallocs objects of
 * random sizes from 16 to 1024 bytes, writes each object's size into its first two
 * bytes and a mark into its last, and passes them through a lock-free single-producer
 * single-consumer ring of 1024 slots to its consumer, which checks both. The consumer
 * keeps a working set of 1024 objects: each object it receives goes to a random slot of
 * it, and the object that was there is freed, so objects live a while and are freed in
 * no particular order, always by the thread that did not allocate them. A thread whose
 * ring is full (producer) or empty (consumer) calls sched_yield(): with more threads
 * than CPUs the other side has to run.
 *
 * Prints "ops_per_s", mallocs plus frees of all threads per second of wall-clock time,
 * and "seconds". Arguments: objects per pair (default 2000000), pairs (default 4). Does
 * not link kmm.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RING_SLOTS  1024
#define WORKING_SET 1024
#define MIN_SIZE    16
#define MAX_SIZE    1024

struct pair {
	_Alignas(64) _Atomic unsigned long head; /* written by the producer */
	_Alignas(64) _Atomic unsigned long tail; /* written by the consumer */
	_Alignas(64) unsigned char *ring[RING_SLOTS];
	long objects;
	uint64_t seed;
	_Atomic int producer_done;
	int corrupt;
};

static pthread_barrier_t start;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static void *producer(void *arg)
{
	struct pair *pr = arg;
	uint64_t rng = pr->seed;
	unsigned long head = 0;

	pthread_barrier_wait(&start);
	for (long i = 0; i < pr->objects; i++) {
		size_t size = MIN_SIZE + next_random(&rng) % (MAX_SIZE - MIN_SIZE + 1);
		unsigned char *p = malloc(size);

		if (!p) {
			fprintf(stderr, "malloc(%zu) failed\n", size);
			exit(1);
		}
		p[0] = (unsigned char)size;
		p[1] = (unsigned char)(size >> 8);
		p[size - 1] = 0xa5;
		while (head - atomic_load_explicit(&pr->tail, memory_order_acquire) == RING_SLOTS)
			sched_yield();
		pr->ring[head % RING_SLOTS] = p;
		atomic_store_explicit(&pr->head, ++head, memory_order_release);
	}
	atomic_store_explicit(&pr->producer_done, 1, memory_order_release);
	return NULL;
}

static void *consumer(void *arg)
{
	struct pair *pr = arg;
	uint64_t rng = pr->seed ^ 0x5555555555555555ULL;
	unsigned char *held[WORKING_SET] = {0};
	unsigned long tail = 0;

	pthread_barrier_wait(&start);
	for (;;) {
		unsigned long head = atomic_load_explicit(&pr->head, memory_order_acquire);

		if (head == tail) {
			if (atomic_load_explicit(&pr->producer_done, memory_order_acquire) &&
			    atomic_load_explicit(&pr->head, memory_order_acquire) == tail)
				break;
			sched_yield();
			continue;
		}
		while (tail != head) {
			unsigned char *p = pr->ring[tail % RING_SLOTS];
			size_t size = p[0] | (size_t)p[1] << 8;
			size_t slot = next_random(&rng) % WORKING_SET;

			if (size < MIN_SIZE || size > MAX_SIZE || p[size - 1] != 0xa5)
				pr->corrupt++;
			atomic_store_explicit(&pr->tail, ++tail, memory_order_release);
			free(held[slot]);
			held[slot] = p;
		}
	}
	for (size_t i = 0; i < WORKING_SET; i++)
		free(held[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	long objects = argc > 1 ? atol(argv[1]) : 2000000;
	int npairs = argc > 2 ? atoi(argv[2]) : 4;
	struct pair *pairs;
	pthread_t *threads;
	double t0, t1;
	int corrupt = 0;

	if (objects <= 0 || npairs <= 0 || npairs > 64) {
		fprintf(stderr, "usage: %s [objects per pair] [pairs, 1-64]\n", argv[0]);
		return 2;
	}
	pairs = aligned_alloc(64, sizeof(*pairs) * npairs);
	threads = malloc(sizeof(*threads) * 2 * npairs);
	if (!pairs || !threads)
		return 1;
	pthread_barrier_init(&start, NULL, 2 * npairs + 1);
	for (int i = 0; i < npairs; i++) {
		atomic_init(&pairs[i].head, 0);
		atomic_init(&pairs[i].tail, 0);
		atomic_init(&pairs[i].producer_done, 0);
		pairs[i].objects = objects;
		pairs[i].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		pairs[i].corrupt = 0;
		if (pthread_create(&threads[2 * i], NULL, producer, &pairs[i]) ||
		    pthread_create(&threads[2 * i + 1], NULL, consumer, &pairs[i])) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	pthread_barrier_wait(&start);
	t0 = now_s();
	for (int i = 0; i < 2 * npairs; i++)
		pthread_join(threads[i], NULL);
	t1 = now_s();
	for (int i = 0; i < npairs; i++)
		corrupt += pairs[i].corrupt;
	if (corrupt)
		fprintf(stderr, "%d objects arrived with their size or mark overwritten\n",
		        corrupt);
	printf("ops_per_s %.0f\n", 2.0 * objects * npairs / (t1 - t0));
	printf("seconds %.3f\n", t1 - t0);
	free(threads);
	free(pairs);
	return corrupt ? 1 : 0;
}

/*
 * More threads than cores allocating, writing, verifying and freeing blocks, half of
 * them freed by another thread than the one that allocated them (so pages travel
 * between CPUs' lists). Afterwards the zones must be consistent and merge back whole.
 * Run with KMM_NUMA_FAKE=2 KMM_ZONE_SIZE=64M, with and without KMM_DECAY_MS=0.
 */
#include "../buddy_test.h"

#include <pthread.h>
#include <stdint.h>

#define NR_THREADS 8
#define OPS        60000
#define LIVE       128
#define SLOTS      64

struct block {
	uint8_t *addr;
	unsigned int order;
	uint8_t fill;
};

/* Blocks handed from one thread to another. Guarded by swapping whole pointers. */
static struct block *exchange[SLOTS];

static size_t checked_bytes(unsigned int order)
{
	return order <= 1 ? (size_t)KMM_PAGE_SIZE << order : 64;
}

static void fill_block(struct block *b)
{
	size_t n = checked_bytes(b->order);

	memset(b->addr, b->fill, n);
	memset(b->addr + (KMM_PAGE_SIZE << b->order) - 64, b->fill, 64);
}

static void verify_and_free(struct block *b)
{
	size_t n = checked_bytes(b->order);
	uint8_t *tail = b->addr + (KMM_PAGE_SIZE << b->order) - 64;

	for (size_t i = 0; i < n; i++)
		CHECK(b->addr[i] == b->fill, "block %p order %u byte %zu: expected %#x, got %#x",
		      (void *)b->addr, b->order, i, b->fill, b->addr[i]);
	for (size_t i = 0; i < 64; i++)
		CHECK(tail[i] == b->fill, "block %p order %u tail byte %zu: expected %#x, got %#x",
		      (void *)b->addr, b->order, i, b->fill, tail[i]);
	kmm_free_pages(b->addr, b->order);
	free(b);
}

static void *worker(void *arg)
{
	uint64_t seed = tests_seed() + (uintptr_t)arg * 7919;
	struct block *mine[LIVE] = {0};

	for (int op = 0; op < OPS; op++) {
		size_t i = rnd_next(&seed) % LIVE;
		uint64_t r = rnd_next(&seed) % 100;

		if (mine[i]) {
			if (r < 50) {
				/* Hand it to whichever thread picks this slot next. */
				struct block *old = __atomic_exchange_n(&exchange[r % SLOTS],
				                                        mine[i], __ATOMIC_ACQ_REL);

				if (old)
					verify_and_free(old);
			} else {
				verify_and_free(mine[i]);
			}
			mine[i] = NULL;
			continue;
		}
		mine[i] = malloc(sizeof(struct block));
		mine[i]->order = r < 90 ? (unsigned int)(r % 4) : (unsigned int)(r % 11);
		mine[i]->fill = (uint8_t)(rnd_next(&seed) | 1);
		mine[i]->addr = kmm_alloc_pages(mine[i]->order);
		if (!mine[i]->addr) {
			CHECK(errno == ENOMEM, "expected ENOMEM, got %d", errno);
			free(mine[i]);
			mine[i] = NULL;
			continue;
		}
		fill_block(mine[i]);
	}
	for (size_t i = 0; i < LIVE; i++)
		if (mine[i])
			verify_and_free(mine[i]);
	return NULL;
}

int main(void)
{
	pthread_t threads[NR_THREADS];

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	for (long t = 0; t < NR_THREADS; t++)
		CHECK(pthread_create(&threads[t], NULL, worker, (void *)t) == 0, "pthread_create");
	for (int t = 0; t < NR_THREADS; t++)
		pthread_join(threads[t], NULL);
	for (int s = 0; s < SLOTS; s++)
		if (exchange[s])
			verify_and_free(exchange[s]);
	check_fully_merged();
	printf("threads: %d threads x %d operations passed\n", NR_THREADS, OPS);
	return 0;
}

/*
 * fork while other threads allocate and free: the child must be able to allocate and
 * free (no lock left held by a thread that does not exist in the child), and must see
 * the parent's blocks with their contents (private memory, copy-on-write). The locks
 * fork takes come to the child unlocked in pages it was given zeroed, not copied: the
 * child's handler wrote none of them.
 */
#include "../buddy_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#include "base/lock.h"

#define NR_THREADS 6
#define NR_FORKS   40
#define KEEP       64

static volatile int stop;

static void *churn(void *arg)
{
	uint64_t seed = tests_seed() + (uintptr_t)arg;
	void *held[16] = {0};
	unsigned int orders[16];

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		size_t i = rnd_next(&seed) % 16;

		if (held[i]) {
			kmm_free_pages(held[i], orders[i]);
			held[i] = NULL;
		} else {
			orders[i] = (unsigned int)(rnd_next(&seed) % 11);
			orders[i] = orders[i] > 4 ? orders[i] % 4 : orders[i];
			held[i] = kmm_alloc_pages(orders[i]);
			if (held[i])
				memset(held[i], 1, 64);
		}
	}
	for (size_t i = 0; i < 16; i++)
		if (held[i])
			kmm_free_pages(held[i], orders[i]);
	return NULL;
}

static int child(uint64_t **kept)
{
	void *p[32];

	alarm(20); /* a lock left held would hang here */
	for (int i = 0; i < KEEP; i++)
		for (int w = 0; w < 512; w++)
			if (kept[i][w] != ((uint64_t)i << 32 | (uint64_t)w))
				return 3;
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 32; i++) {
			p[i] = kmm_alloc_pages((unsigned int)(i % 5));
			if (!p[i])
				return 4;
			memset(p[i], 0xcd, KMM_PAGE_SIZE);
		}
		for (int i = 0; i < 32; i++)
			kmm_free_pages(p[i], (unsigned int)(i % 5));
	}
	/* Writes in the child never show in the parent (checked after wait). */
	kept[0][0] = 0xdeadbeef;
	return 0;
}

static struct zone *first_zone(void)
{
	struct zone *zone;

	for_each_zone(zone, nid)
		return zone;
	return NULL;
}

static bool page_resident(const void *addr)
{
	unsigned char vec = 0;

	return mincore((void *)((uintptr_t)addr & ~(uintptr_t)(KMM_PAGE_SIZE - 1)), 1, &vec) == 0 &&
	       (vec & 1);
}

/* The child, right after fork: the zone's and its per-CPU lists' locks. */
static int child_checks_locks(void)
{
	struct zone *zone = first_zone();

	if (page_resident(zone->lock) || page_resident(zone->per_cpu_pageset[0].lock))
		return 5; /* the lock page came from the parent, or the child wrote it */
	if (zone->lock->state != 0 || zone->per_cpu_pageset[0].lock->state != 0)
		return 6;
	kmm_free_pages(kmm_alloc_pages(0), 0);
	return 0;
}

static void test_fork_locks_wiped(void)
{
	int status;
	pid_t pid;

	if (!fork_locks_wiped) {
		printf("fork locks: MADV_WIPEONFORK refused, the child handlers reset them\n");
		return;
	}
	pid = fork(); /* the churning threads run: fork takes every lock */
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(child_checks_locks());
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the fork child's locks: expected them unlocked in pages never written, got "
	      "status %#x (5: a lock page resident in the child, 6: a lock still held)",
	      status);
	CHECK(page_resident(first_zone()->lock), "the parent's zone lock page is not resident");
}

int main(void)
{
	pthread_t threads[NR_THREADS];
	uint64_t *kept[KEEP];

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	for (int i = 0; i < KEEP; i++) {
		kept[i] = kmm_alloc_pages(0);
		for (int w = 0; w < 512; w++)
			kept[i][w] = (uint64_t)i << 32 | (uint64_t)w;
	}
	for (long t = 0; t < NR_THREADS; t++)
		pthread_create(&threads[t], NULL, churn, (void *)t);
	test_fork_locks_wiped();
	for (int f = 0; f < NR_FORKS; f++) {
		int status;
		pid_t pid = fork();

		CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0)
			_exit(child(kept));
		CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "fork %d: child failed with status %#x (3: parent data wrong, 4: "
		      "allocation failed, SIGALRM: hang)",
		      f, status);
		CHECK_EQ(0, kept[0][0]);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int t = 0; t < NR_THREADS; t++)
		pthread_join(threads[t], NULL);
	for (int i = 0; i < KEEP; i++)
		kmm_free_pages(kept[i], 0);
	check_fully_merged();
	printf("fork: %d forks under %d churning threads passed\n", NR_FORKS, NR_THREADS);
	return 0;
}

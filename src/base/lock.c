/*
 * Slow paths of the futex mutex in lock.h.
 */
#include "lock.h"

#include "os.h"

#define FORK_LOCK_CHUNK (64UL << 10)
#define FORK_LOCK_SIZE  64 /* a cache line: locks of different CPUs and caches share none */

bool fork_locks_wiped = true;
static char *fork_lock_next, *fork_lock_end;

kmm_lock_t *fork_lock_alloc(void)
{
	kmm_lock_t *lock;

	if (fork_lock_next == fork_lock_end) {
		fork_lock_next = os_map(FORK_LOCK_CHUNK);
		if (!fork_lock_next) {
			fork_lock_end = NULL;
			return NULL;
		}
		fork_lock_end = fork_lock_next + FORK_LOCK_CHUNK;
		if (os_advise_wipeonfork(fork_lock_next, FORK_LOCK_CHUNK) != 0)
			fork_locks_wiped = false;
	}
	lock = (kmm_lock_t *)fork_lock_next;
	fork_lock_next += FORK_LOCK_SIZE;
	return lock;
}

/* A short spin first: zone and pcp critical sections are a few hundred nanoseconds. */
#define LOCK_SPINS 64

void __kmm_lock_slow(kmm_lock_t *lock)
{
	for (int i = 0; i < LOCK_SPINS; i++) {
		cpu_relax();
		if (READ_ONCE(lock->state) == 0 && kmm_trylock(lock))
			return;
	}
	/* Mark the lock contended; whoever holds it will wake us on unlock. */
	while (__atomic_exchange_n(&lock->state, 2, __ATOMIC_ACQUIRE) != 0)
		os_futex_wait(&lock->state, 2);
}

void __kmm_unlock_wake(kmm_lock_t *lock)
{
	os_futex_wake_one(&lock->state);
}

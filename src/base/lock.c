/*
 * Slow paths of the futex mutex in lock.h.
 */
#include "lock.h"

#include "os.h"

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

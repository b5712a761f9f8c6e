/*
 * A futex-based mutex that needs nothing from libc: no pthread state, no allocation,
 * and a plain word that a fork child can reset.
 *
 * States: 0 unlocked, 1 locked, 2 locked with (possible) waiters. This is the classic
 * three-state futex mutex; the uncontended path is one compare-and-swap to lock and one
 * exchange to unlock. Waiters sleep in the kernel instead of spinning, which matters
 * when threads outnumber cores and the holder may be preempted.
 */
#ifndef KMM_BASE_LOCK_H
#define KMM_BASE_LOCK_H

#include <stdbool.h>

#include "compiler.h"

typedef struct {
	int state;
} kmm_lock_t;

#define KMM_LOCK_INIT \
	{             \
		0     \
	}

void __kmm_lock_slow(kmm_lock_t *lock);
void __kmm_unlock_wake(kmm_lock_t *lock);

static inline bool kmm_trylock(kmm_lock_t *lock)
{
	int unlocked = 0;

	return __atomic_compare_exchange_n(&lock->state, &unlocked, 1, false, __ATOMIC_ACQUIRE,
	                                   __ATOMIC_RELAXED);
}

static inline void kmm_lock(kmm_lock_t *lock)
{
	if (unlikely(!kmm_trylock(lock)))
		__kmm_lock_slow(lock);
}

static inline void kmm_unlock(kmm_lock_t *lock)
{
	if (unlikely(__atomic_exchange_n(&lock->state, 0, __ATOMIC_RELEASE) == 2))
		__kmm_unlock_wake(lock);
}

/*
 * The same while the process has one thread: then only a signal handler that
 * interrupted the holder can find the lock taken (with kmm_trylock), and a plain store
 * tells it, without the atomic instruction's full barrier.
 */
static inline void kmm_lock_single(kmm_lock_t *lock)
{
	__atomic_store_n(&lock->state, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void kmm_unlock_single(kmm_lock_t *lock)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&lock->state, 0, __ATOMIC_RELAXED);
}

/* Only for a fork child, where no other thread exists to hold the lock. */
static inline void kmm_lock_reinit(kmm_lock_t *lock)
{
	__atomic_store_n(&lock->state, 0, __ATOMIC_RELAXED);
}

#endif /* KMM_BASE_LOCK_H */

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

/*
 * The locks fork takes, a cache line each, in memory that a fork child gets zeroed
 * (MADV_WIPEONFORK): zero is unlocked, so the child's handler writes none of them, and
 * fork does not write-protect those pages in the parent, so its unlocks after fork
 * fault nowhere. Anywhere else each page holding such a lock word would be copied on
 * write twice per fork, once by the parent's unlock and once by the child's reset.
 * Taken at initialization only (the allocation is not thread-safe); NULL when no
 * memory can be mapped.
 */
kmm_lock_t *fork_lock_alloc(void);

/*
 * Whether every lock from fork_lock_alloc() is zeroed in a fork child; when the
 * kernel refused MADV_WIPEONFORK, the child handlers reset them with kmm_lock_reinit().
 */
extern bool fork_locks_wiped KMM_HIDDEN;

#endif /* KMM_BASE_LOCK_H */

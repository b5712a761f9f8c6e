/*
 * Bringing libkmm up: options, then physical memory, then fork handlers. Runs from a
 * constructor, or from whichever entry point is called first, whatever comes first.
 */
#ifndef KMM_INIT_H
#define KMM_INIT_H

#include <stdbool.h>

#include "base/compiler.h"

enum kmm_init_state { KMM_UNINITIALIZED, KMM_READY, KMM_FAILED };

extern int kmm_init_state;

bool __kmm_init_slow(void);

/* True once kmm can allocate; false if initialization failed (or is re-entered). */
static __always_inline bool kmm_ensure_init(void)
{
	if (likely(__atomic_load_n(&kmm_init_state, __ATOMIC_ACQUIRE) == KMM_READY))
		return true;
	return __kmm_init_slow();
}

#endif /* KMM_INIT_H */

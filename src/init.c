/*
 * libkmm initialization; see init.h.
 *
 * Nothing here calls malloc: options are read straight from the environment, sysfs
 * with raw read(2), and memory comes from mmap. pthread_atfork keeps its first handlers
 * in static storage, so registering ours does not allocate either.
 */
#include "init.h"

#include <pthread.h>

#include "base/lock.h"
#include "base/options.h"
#include "base/printk.h"
#include "buddy/internal.h"
#include "buddy/mm_init.h"
#include "buddy/page_alloc.h"
#include "slab/kmalloc.h"
#include "stats/stats.h"
#include "vmalloc/vmalloc.h"

int kmm_init_state = KMM_UNINITIALIZED;

static kmm_lock_t init_lock = KMM_LOCK_INIT;
static __thread bool initializing __attribute__((tls_model("initial-exec")));

/*
 * fork: every lock, outermost first: page reporting's runner (it calls vmalloc's
 * shrinker, which takes vmap_area_lock), then the slab list locks (held while the page
 * allocator is called, never the other way round), vmalloc, the page allocator. The child resets
 * the page allocator before the slab layer takes back the slabs of threads it does not have.
 */
static void kmm_fork_prepare(void)
{
	kmm_stats_fork_prepare();      /* not a lock of the allocator's: a dump in progress */
	page_reporting_fork_prepare(); /* its runner calls vmalloc's shrinker */
	slab_fork_prepare();
	vmalloc_fork_prepare();
	page_alloc_fork_prepare();
}

static void kmm_fork_parent(void)
{
	page_alloc_fork_parent();
	vmalloc_fork_parent();
	slab_fork_parent();
	page_reporting_fork_parent();
	kmm_stats_fork_parent();
}

static void kmm_fork_child(void)
{
	page_reporting_fork_child();
	page_alloc_fork_child();
	vmalloc_fork_child();
	slab_fork_child();
	kmm_stats_fork_child();
}

static int kmm_init(void)
{
	kmm_options_init(NULL);
	if (mm_init() != 0) {
		kmm_printk("cannot reserve any address space for the zones; allocations fail "
		           "with ENOMEM");
		return KMM_FAILED;
	}
	if (vmalloc_init() != 0)
		kmm_printk("cannot reserve a vmalloc area; allocations above 4 MiB fail with "
		           "ENOMEM");
	if (kmalloc_init() != 0 || slab_init() != 0) {
		kmm_printk("cannot set up the kmalloc caches; allocations fail with ENOMEM");
		return KMM_FAILED;
	}
	kmm_stats_init();
	if (pthread_atfork(kmm_fork_prepare, kmm_fork_parent, kmm_fork_child) != 0)
		kmm_printk("pthread_atfork failed: a fork while other threads allocate may "
		           "leave the child's allocator locked");
	return KMM_READY;
}

bool __kmm_init_slow(void)
{
	/* Re-entry from inside initialization on the same thread: not ready yet. */
	if (initializing)
		return false;
	initializing = true;
	kmm_lock(&init_lock);
	if (kmm_init_state == KMM_UNINITIALIZED)
		__atomic_store_n(&kmm_init_state, kmm_init(), __ATOMIC_RELEASE);
	kmm_unlock(&init_lock);
	initializing = false;
	return kmm_init_state == KMM_READY;
}

/* Threads are started here, not in kmm_init: creating one allocates. */
__attribute__((constructor(101))) static void kmm_constructor(void)
{
	if (kmm_ensure_init())
		kmm_stats_start();
}

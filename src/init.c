/*
 * libkmm initialization; see init.h.
 *
 * Nothing here calls malloc: options are read straight from the environment, sysfs
 * with raw read(2), and memory comes from mmap. pthread_atfork keeps its first handlers
 * in static storage, so registering ours does not allocate either.
 */
#include "init.h"

#include <pthread.h>
#include <sys/single_threaded.h>

#include "base/lock.h"
#include "base/options.h"
#include "base/printk.h"
#include "buddy/internal.h"
#include "buddy/mm_init.h"
#include "buddy/page_alloc.h"
#include "reclaim/memory.h"
#include "slab/kmalloc.h"
#include "stats/stats.h"
#include "vmalloc/vmalloc.h"

int kmm_init_state = KMM_UNINITIALIZED;

static kmm_lock_t init_lock = KMM_LOCK_INIT;
static __thread bool initializing __attribute__((tls_model("initial-exec")));

/*
 * fork. glibc 2.36's fork() runs the prepare handlers (this one last, being registered
 * first), then, only in a multi-threaded process, takes the stdio list lock and its own
 * malloc locks, in that order. A thread can hold a FILE's lock and wait in malloc
 * (getline -> realloc) while another holds the list lock and waits for that FILE
 * (fflush(NULL)): if kmm's locks were taken before the list lock, the forking thread
 * would wait for the list lock while holding what the getline thread needs. So prepare
 * takes the list lock first, as glibc orders its own: the list lock is recursive, and
 * glibc taking it again on the same thread only counts. glibc's parent path unlocks it
 * as often as it locked it, so the parent handler drops our one level; glibc's child path
 * may or may not reset it, so the child handler resets it in any case (one thread is
 * left, so nothing else can hold it).
 *
 * kmm's own locks follow, outermost first: page reporting's runner (it calls vmalloc's
 * shrinker, which takes vmap_area_lock), then the slab list locks (held while the page
 * allocator is called, never the other way round), vmalloc, the page allocator. The
 * child resets the page allocator before the slab layer takes back the slabs of threads
 * it does not have.
 *
 * A single-threaded process takes nothing, as glibc does "to make fork safer to use in
 * signal handlers": then the only holder of a kmm lock can be the code that a signal
 * handler calling fork interrupted, waiting for it would deadlock, and in both processes
 * that same code resumes when the handler returns, finishes its update and unlocks. No
 * other thread exists to see a list mid-update. __libc_single_threaded never goes back to
 * true once a thread was created, so parent and child see the same answer prepare saw.
 * kmm's own threads (os_start_helper_thread) hold none of its locks across a fork and do
 * not count: where kmm started one, the process's threads are counted against them.
 */
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);
extern void _IO_list_resetlock(void);

static bool fork_took_locks;

static void kmm_fork_prepare(void)
{
	/* kmm's own threads hold none of its locks across a fork: they do not count. */
	bool multi_threaded = !__libc_single_threaded && !os_only_helper_threads();

	/* Written only when it changes: a write here is a page copied on every fork. */
	if (fork_took_locks != multi_threaded)
		fork_took_locks = multi_threaded;
	if (multi_threaded) {
		_IO_list_lock();
		kmm_stats_fork_prepare(); /* not a lock of the allocator's: a dump in progress */
		page_reporting_fork_prepare(); /* its runner calls vmalloc's shrinker */
		slab_fork_prepare();
		vmalloc_fork_prepare();
		page_alloc_fork_prepare();
	}
	/* Last (the lock order), and always: the handler and kswapd run in any process. */
	reclaim_fork_prepare();
}

static void kmm_fork_parent(void)
{
	reclaim_fork_parent();
	if (!fork_took_locks)
		return;
	page_alloc_fork_parent();
	vmalloc_fork_parent();
	slab_fork_parent();
	page_reporting_fork_parent();
	kmm_stats_fork_parent();
	_IO_list_unlock();
}

/*
 * The child's own fault handler runs before anything here can touch the heap, and the
 * heap is registered with it as soon as the page allocator's and vmalloc's locks are
 * usable: until then a page the parent swapped out would read as zeros.
 */
static void kmm_fork_child(void)
{
	os_helper_threads_gone();
	reclaim_fork_child();
	if (fork_took_locks) {
		page_reporting_fork_child();
		page_alloc_fork_child();
		vmalloc_fork_child();
	}
	reclaim_fork_child_register();
	if (!fork_took_locks)
		return;
	slab_fork_child();
	kmm_stats_fork_child();
	_IO_list_resetlock();
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
	if (slab_init() != 0 || kmalloc_init() != 0) {
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
	if (kmm_ensure_init()) {
		uffd_start();
		kmm_stats_start();
	}
}

/*
 * SLUB-style slab caches; see slab.h for the design.
 *
 * Invariants:
 *  - a slab's inuse counts the objects not on its shared freelist: allocated ones, and
 *    those on the private freelist of the thread whose active slab it is (frozen);
 *  - a slab is on its node's partial list iff it is not frozen and has free objects
 *    on its shared freelist (plus up to min_partial empty slabs kept there);
 *  - a full slab that is not frozen is on no list; the free that makes room in it
 *    puts it on the partial list (under list_lock);
 *  - freelist and counters change together, through cmpxchg_freelist while other
 *    threads may race (so a remote free never races the owner collecting them), or
 *    with plain stores while the process has one thread;
 *  - inuse_mark - inuse is the frees into the slab not yet counted (slab.h); whoever
 *    resets inuse_mark counts them, and a slab's active thread or list lock holder
 *    does it, so that a dump finds each slab's frees where the slab is.
 */
#include "slab.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../base/printk.h"
#include "../buddy/page_alloc.h"
#include "../buddy/topology.h"
#include "../init.h"

struct kmem_cache kmem_caches[KMM_MAX_CACHES];
struct kmem_cache_node kmem_cache_nodes[MAX_NUMNODES][KMM_MAX_CACHES];
__thread struct kmem_cache_cpu kmem_cache_cpus[KMM_MAX_CACHES]
        __attribute__((tls_model("initial-exec")));

static kmm_lock_t *slab_caches_lock; /* fork_lock_alloc() */

/*
 * Threads that have used a cache, so that kmm_cache_destroy can take back the slabs
 * they hold (the kernel's flush_all) and a fork child can take back those of threads
 * it does not have. Each entry lives in its thread's TLS. Guarded by slab_threads_lock.
 */
struct slab_thread {
	struct list_head list;
	struct kmem_cache_cpu *cpus;
	bool registered;
	bool exiting; /* its exit flush has run: it must cache nothing from now on */
};

static __thread struct slab_thread this_slab_thread __attribute__((tls_model("initial-exec")));
static struct list_head slab_threads = {&slab_threads, &slab_threads};
static kmm_lock_t *slab_threads_lock; /* fork_lock_alloc() */
static pthread_key_t slab_thread_key;

typedef union {
	struct {
		void *freelist;
		unsigned long counters;
	};
	__int128 full;
} freelist_aba_t;

/* SLUB's cmpxchg_double: freelist and counters change together or not at all. */
static inline bool cmpxchg_freelist(struct page *slab, void *old_fl, unsigned long old_c,
                                    void *new_fl, unsigned long new_c)
{
	freelist_aba_t old = {.freelist = old_fl, .counters = old_c};
	freelist_aba_t new = {.freelist = new_fl, .counters = new_c};

	if (single_threaded()) {
		if (slab->freelist != old_fl || slab->counters != old_c)
			return false;
		slab->freelist = new_fl;
		slab->counters = new_c;
		return true;
	}
	return __sync_bool_compare_and_swap((__int128 *)&slab->freelist, old.full, new.full);
}

/* With one thread, held only against a statistics dump in a signal handler. */
static inline void node_lock(struct kmem_cache_node *n)
{
	if (single_threaded())
		kmm_lock_single(n->list_lock);
	else
		kmm_lock(n->list_lock);
}

static inline void node_unlock(struct kmem_cache_node *n)
{
	if (single_threaded())
		kmm_unlock_single(n->list_lock);
	else
		kmm_unlock(n->list_lock);
}

static inline void slab_stat_atomic(struct kmem_cache *s, enum slub_stat_item si,
                                    unsigned long count)
{
	if (count)
		__atomic_add_fetch(&s->stat[si], count, __ATOMIC_RELAXED);
}

/*
 * Per-thread events on a slow path. A thread that is not on the thread list (its exit
 * flush has run) counts in the cache, or its count would never be seen.
 */
static void slab_stat_slow(struct kmem_cache *s, enum slub_stat_item si, unsigned long count)
{
	if (likely(this_slab_thread.registered))
		kmem_cache_cpus[s->id].stat[si] += count;
	else
		slab_stat_atomic(s, si, count);
}

__noreturn void slab_double_free(struct kmem_cache *s, const char *caller, void *obj)
{
	kmm_bug("%s(): double free of %p (cache %s)", caller, obj, s->name);
}

/* ---- slabs from the page allocator ---------------------------------------------------- */

static struct page *new_slab(struct kmem_cache *s, int nid, void **freelist)
{
	struct page *slab = __alloc_pages(s->order, nid);
	char *base;

	if (!slab)
		return NULL;
	base = page_address(slab);
	for (unsigned int i = 0; i < (1u << s->order); i++) {
		SetPageSlab(&slab[i]);
		slab[i].order = s->order;
	}
	if (s->flags & SLAB_KMALLOC)
		SetPageKmallocSlab(slab);
	slab->slab_cache = s;
	slab->slab_cpu_slab = s->cpu_slab;
	for (unsigned int i = 0; i < s->objects; i++) {
		char *obj = base + (size_t)i * s->size;

		if (s->ctor)
			s->ctor(obj);
		set_freepointer(s, obj, i + 1 < s->objects ? obj + s->size : NULL);
	}
	/* Every object goes to the allocating thread: the slab starts frozen and full. */
	slab->freelist = NULL;
	slab->counters = ((slab_counters_t){.inuse = s->objects,
	                                    .objects = s->objects,
	                                    .frozen = 1,
	                                    .inuse_mark = s->objects})
	                         .counters;
	__atomic_add_fetch(&get_node(s, page_to_nid(slab))->nr_slabs, 1, __ATOMIC_RELAXED);
	slab_stat_atomic(s, ALLOC_SLAB, 1);
	*freelist = base;
	return slab;
}

/*
 * Add the frees into a slab that nobody else holds to the cache's count; under the
 * list lock, as a dump finds the slab on no list from here.
 */
static void slab_count_frees(struct kmem_cache *s, struct page *slab)
{
	slab_counters_t counters = {.counters = slab->counters};

	slab_stat_atomic(s, FREE_SLOWPATH, slab_frees_pending(counters));
	counters.inuse_mark = counters.inuse;
	slab->counters = counters.counters;
}

/* An empty slab that nobody holds goes back; its frees are counted. */
static void discard_slab(struct kmem_cache *s, struct page *slab)
{
	__atomic_sub_fetch(&get_node(s, page_to_nid(slab))->nr_slabs, 1, __ATOMIC_RELAXED);
	slab_stat_atomic(s, FREE_SLAB, 1);
	for (unsigned int i = 0; i < (1u << s->order); i++)
		ClearPageSlab(&slab[i]);
	ClearPageKmallocSlab(slab);
	slab->slab_cache = NULL;
	slab->slab_cpu_slab = 0; /* contig_blocks, should a large block start here next */
	slab->order = s->order;
	__free_pages(slab, s->order);
}

/* ---- allocation slow path -------------------------------------------------------------- */

/*
 * Take a slab's whole shared freelist for the calling thread: every object is then in
 * use or on the thread's private list. The slab ends up frozen (the thread's), except
 * when @unfreeze_if_empty and there was nothing to take: a full slab then goes on no
 * list. The frees into the slab since its last count are the calling thread's to count.
 */
static void *take_freelist(struct kmem_cache *s, struct page *slab, bool unfreeze_if_empty,
                           unsigned int *taken)
{
	void *freelist;
	slab_counters_t old, new;

	do {
		freelist = slab->freelist;
		old.counters = slab->counters;
		new.counters = old.counters;
		new.inuse = new.objects;
		new.inuse_mark = new.objects;
		new.frozen = freelist != NULL || !unfreeze_if_empty;
	} while (!cmpxchg_freelist(slab, freelist, old.counters, NULL, new.counters));
	slab_stat_slow(s, FREE_SLOWPATH, slab_frees_pending(old));
	*taken = new.objects - old.inuse;
	return freelist;
}

/* Freeze the first slab off the node's partial list and take its objects. */
static struct page *get_partial(struct kmem_cache *s, int nid, void **freelist, unsigned int *taken)
{
	struct kmem_cache_node *n = get_node(s, nid);
	struct page *slab;

	if (!READ_ONCE(n->nr_partial))
		return NULL;
	node_lock(n);
	if (list_empty(&n->partial)) {
		node_unlock(n);
		return NULL;
	}
	slab = list_first_entry(&n->partial, struct page, slab_list);
	*freelist = take_freelist(s, slab, false, taken);
	list_del(&slab->slab_list);
	n->nr_partial--;
	node_unlock(n);
	slab_stat_atomic(s, ALLOC_FROM_PARTIAL, 1);
	return slab;
}

static void flush_cpu(struct kmem_cache *s, struct kmem_cache_cpu *c);
static void fold_cpu_stats(struct kmem_cache *s, struct kmem_cache_cpu *c);

/*
 * A fork child's orphans: the kmem_cache_cpu slots of the threads it does not have,
 * copied out of their memory. Reading a dead thread's memory costs the child nothing;
 * flushing its slabs at fork would write each slab's descriptor and objects, a page
 * copied on write per cache (85 µs of a 200 µs fork with two threads). A cache's
 * orphaned slots are flushed and folded the first time the child refills, shrinks or
 * destroys that cache, and the statistics count them meanwhile as a live thread's. A
 * new thread of the child may reuse a dead one's memory, so the slots are copied, not
 * kept in place. Guarded by slab_threads_lock.
 */
#define FORK_ORPHANS_MAX 8

static struct kmem_cache_cpu fork_orphans[FORK_ORPHANS_MAX][KMM_MAX_CACHES];
static unsigned int nr_fork_orphans;
static unsigned long fork_orphaned[(KMM_MAX_CACHES + 63) / 64]; /* caches with orphans */

static bool cache_has_fork_orphans(const struct kmem_cache *s)
{
	return (READ_ONCE(fork_orphaned[s->id / 64]) >> (s->id % 64)) & 1;
}

/* Called with slab_threads_lock held. */
static void __adopt_fork_orphans(struct kmem_cache *s)
{
	if (!cache_has_fork_orphans(s))
		return;
	for (unsigned int k = 0; k < nr_fork_orphans; k++) {
		flush_cpu(s, &fork_orphans[k][s->id]);
		fold_cpu_stats(s, &fork_orphans[k][s->id]);
	}
	fork_orphaned[s->id / 64] &= ~(1UL << (s->id % 64));
}

static __noinline void adopt_fork_orphans(struct kmem_cache *s)
{
	kmm_lock(slab_threads_lock);
	__adopt_fork_orphans(s);
	kmm_unlock(slab_threads_lock);
}

/*
 * c->slab while its thread takes the slab's objects or gives it back. A fork child
 * must not find the slab there (it may be on a list by then), and a dump must see that
 * the slab's uncounted frees are on their way to the thread's count, so it says its
 * counts are not exact rather than miss them.
 */
#define SLAB_DETACHED 1UL

static inline struct page *slab_detached(struct page *slab)
{
	return (struct page *)((uintptr_t)slab | SLAB_DETACHED);
}

static inline bool slab_is_detached(const struct page *slab)
{
	return (uintptr_t)slab & SLAB_DETACHED;
}

static void slab_thread_register(void)
{
	struct slab_thread *t = &this_slab_thread;

	t->registered = true;
	t->cpus = kmem_cache_cpus;
	kmm_lock(slab_threads_lock);
	list_add(&t->list, &slab_threads);
	kmm_unlock(slab_threads_lock);
	/* Keys below 32 live in the thread descriptor: this does not allocate. */
	pthread_setspecific(slab_thread_key, t);
}

/*
 * The private freelist's epoch ends with @left objects still on it: besides the refill's
 * objects, credited when it came, the list gave out what was freed onto it, less what
 * is left. The sum may dip below zero for a moment; unsigned arithmetic keeps it right.
 */
static void slab_epoch_end(struct kmem_cache_cpu *c, unsigned long left)
{
	c->stat[ALLOC_FASTPATH] += c->stat[FREE_FASTPATH] - c->pushes_mark - left;
	c->pushes_mark = c->stat[FREE_FASTPATH];
}

void *__slab_alloc(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	void *freelist = NULL;
	unsigned int taken = 0;
	struct page *slab;
	int nid;

	if (unlikely(!kmm_ensure_init()))
		return NULL;
	/* Before initialization every cache's id read 0: find the right slot now. */
	c = &kmem_cache_cpus[s->id];
	if (unlikely(!this_slab_thread.registered) && !this_slab_thread.exiting)
		slab_thread_register();
	if (c->slab) {
		slab = c->slab;
		c->slab = slab_detached(slab);
		freelist = take_freelist(s, slab, true, &taken);
		if (freelist) {
			c->slab = slab;
			goto load;
		}
	}
	if (unlikely(cache_has_fork_orphans(s)))
		adopt_fork_orphans(s);
	nid = numa_node_id();
	slab = get_partial(s, nid, &freelist, &taken);
	if (!slab) {
		slab = new_slab(s, nid, &freelist);
		taken = s->objects;
	}
	c->slab = slab;
	if (unlikely(!slab))
		return NULL;
load:
	/* The private list ran dry: an epoch ends, and one starts with the rest of @taken. */
	slab_epoch_end(c, 0);
	c->stat[ALLOC_FASTPATH] += taken - 1;
	c->random = s->random;
	c->freelist = get_freepointer(s, freelist);
	slab_stat_slow(s, ALLOC_SLOWPATH, 1);
	/*
	 * A thread past its exit flush keeps no slab, and no counts: the next flush and
	 * fold would not come.
	 */
	if (unlikely(this_slab_thread.exiting)) {
		flush_cpu(s, c);
		fold_cpu_stats(s, c);
	}
	return freelist;
}

/* ---- free slow path -------------------------------------------------------------------- */

/*
 * The free emptied @slab or made room in a full one (@prior was NULL): its place on
 * the node's lists changes. The caller holds n->list_lock. The page allocator may
 * make system calls here, and free() must not change errno.
 */
static void slab_free_relist(struct kmem_cache *s, struct kmem_cache_node *n, struct page *slab,
                             void *prior, unsigned int inuse)
{
	int saved_errno = errno;

	/* Keep min_partial other partial slabs before an empty one goes back. */
	if (!inuse && n->nr_partial - (prior ? 1 : 0) >= s->min_partial) {
		if (prior) {
			list_del(&slab->slab_list);
			n->nr_partial--;
		}
		slab_count_frees(s, slab);
		node_unlock(n);
		discard_slab(s, slab);
	} else {
		if (!prior) {
			list_add_tail(&slab->slab_list, &n->partial);
			n->nr_partial++;
		}
		node_unlock(n);
	}
	errno = saved_errno;
}

/* slab_free_single's free that changes the slab's place on the lists. */
void slab_free_single_relist(struct kmem_cache *s, struct page *slab, void *obj, void *prior,
                             unsigned long counters)
{
	struct kmem_cache_node *n = get_node(s, page_to_nid(slab));

	node_lock(n);
	slab_set_freelist(slab, obj, counters);
	slab_free_relist(s, n, slab, prior, ((slab_counters_t){.counters = counters}).inuse);
}

void __slab_free(struct kmem_cache *s, struct page *slab, void *obj)
{
	struct kmem_cache_node *n = NULL;
	slab_counters_t new;
	unsigned long counters;
	bool was_frozen;
	void *prior;

	do {
		prior = slab->freelist;
		counters = slab->counters;
		if (unlikely(prior == obj))
			slab_double_free(s, "free", obj);
		set_freepointer(s, obj, prior);
		new.counters = counters;
		was_frozen = new.frozen;
		if (unlikely(new.inuse == 0)) /* more frees than objects handed out */
			slab_double_free(s, "free", obj);
		new.inuse--;
		/* Emptied, or was full: the slab's place on the lists may change. */
		if ((!new.inuse || !prior) && !was_frozen && !n) {
			n = get_node(s, page_to_nid(slab));
			node_lock(n);
		}
	} while (!cmpxchg_freelist(slab, prior, counters, obj, new.counters));

	if (!n)
		return;
	if (was_frozen) { /* a thread froze it meanwhile: it owns the slab now */
		node_unlock(n);
		return;
	}
	slab_free_relist(s, n, slab, prior, new.inuse);
}

/*
 * Give a thread's active slab back: its private freelist goes onto the slab's shared
 * one and the slab is unfrozen onto the partial list, or freed if empty (the kernel's
 * deactivate_slab). @freelist belongs to the caller: the owning thread, or a thread
 * acting for one that is gone or promised not to use the cache. Returns how many
 * objects @freelist held; *@frees is the frees into the slab since its last count.
 */
static unsigned int deactivate_slab(struct kmem_cache *s, struct page *slab, void *freelist,
                                    unsigned int *frees)
{
	struct kmem_cache_node *n = get_node(s, page_to_nid(slab));
	unsigned int nr = 0;
	void *tail = NULL, *old;
	unsigned long counters;
	slab_counters_t new;

	for (void *p = freelist; p; p = get_freepointer(s, p)) {
		tail = p;
		/* A freelist longer than the slab loops: an object was freed twice. */
		if (unlikely(++nr > s->objects))
			slab_double_free(s, "free", p);
	}
	node_lock(n);
	do {
		old = slab->freelist;
		counters = slab->counters;
		if (tail)
			set_freepointer(s, tail, old);
		new.counters = counters;
		*frees = slab_frees_pending(new);
		new.inuse -= nr;
		new.inuse_mark = new.inuse;
		new.frozen = 0;
	} while (!cmpxchg_freelist(slab, old, counters, freelist ? freelist : old, new.counters));

	if (!new.inuse && n->nr_partial >= s->min_partial) {
		node_unlock(n);
		discard_slab(s, slab);
		return nr;
	}
	if (freelist || old) {
		list_add(&slab->slab_list, &n->partial);
		n->nr_partial++;
	}
	node_unlock(n);
	return nr;
}

static void flush_cpu(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	struct page *slab = c->slab;
	void *freelist = c->freelist;
	unsigned int left = 0, frees = 0;

	/* Detached: a thread gone in the middle of a refill (fork child) left it so. */
	if (slab && !slab_is_detached(slab)) {
		c->slab = slab_detached(slab);
		c->freelist = NULL;
		left = deactivate_slab(s, slab, freelist, &frees);
		c->stat[FREE_SLOWPATH] += frees;
	}
	c->slab = NULL;
	c->freelist = NULL;
	slab_epoch_end(c, left);
}

void flush_cpu_slab(struct kmem_cache *s)
{
	flush_cpu(s, &kmem_cache_cpus[s->id]);
}

/* ---- thread exit and fork -------------------------------------------------------------- */

/* Move the counters of a flushed kmem_cache_cpu (its epoch has ended) into @s. */
static void fold_cpu_stats(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	for (int si = 0; si < NR_SLUB_STAT_CPU_ITEMS; si++) {
		slab_stat_atomic(s, si, c->stat[si]);
		c->stat[si] = 0;
	}
	c->pushes_mark = 0;
}

/*
 * Move a thread's counters into its caches, as it leaves the thread list: under
 * slab_threads_lock, so the statistics see each count exactly once.
 */
static void fold_thread_stats(struct slab_thread *t)
{
	/* Its slabs were flushed first: every epoch has ended. */
	for (int i = 0; i < KMM_MAX_CACHES; i++)
		fold_cpu_stats(&kmem_caches[i], &t->cpus[i]);
}

/*
 * A thread exits: give back every active slab it holds. Destructors that run after
 * this one may still allocate and free: __slab_alloc gives back at once any slab an
 * exiting thread takes, and its counts go to the caches (slab_stat_slow).
 */
static void slab_thread_exit(void *arg)
{
	struct slab_thread *t = arg;

	/* Flush under the lock, so kmm_cache_destroy never misses this thread's slabs. */
	kmm_lock(slab_threads_lock);
	t->exiting = true;
	for (int i = 0; i < KMM_MAX_CACHES; i++)
		if (kmem_caches[i].in_use)
			flush_cpu(&kmem_caches[i], &t->cpus[i]);
	fold_thread_stats(t);
	list_del(&t->list);
	t->registered = false;
	kmm_unlock(slab_threads_lock);
}

/* Before any cache is set up: the list locks of every slot, and the slab layer's own. */
int slab_init(void)
{
	slab_caches_lock = fork_lock_alloc();
	slab_threads_lock = fork_lock_alloc();
	if (!slab_caches_lock || !slab_threads_lock)
		return -1;
	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		if (!node_zones[nid])
			continue;
		for (int i = 0; i < KMM_MAX_CACHES; i++) {
			kmem_cache_nodes[nid][i].list_lock = fork_lock_alloc();
			if (!kmem_cache_nodes[nid][i].list_lock)
				return -1;
		}
	}
	return pthread_key_create(&slab_thread_key, slab_thread_exit);
}

/*
 * Only caches in use: slab_caches_lock, taken first, keeps the set from changing until
 * the parent or child handler. The locks are fork locks (lock.h): the child gets them
 * zeroed, so only where the kernel refused that does its handler reset them.
 */
void slab_fork_prepare(void)
{
	kmm_lock(slab_caches_lock);
	kmm_lock(slab_threads_lock);
	for (int nid = 0; nid < MAX_NUMNODES; nid++)
		for (int i = 0; i < KMM_MAX_CACHES; i++)
			if (kmem_caches[i].in_use && node_zones[nid])
				kmm_lock(kmem_cache_nodes[nid][i].list_lock);
}

void slab_fork_parent(void)
{
	for (int nid = 0; nid < MAX_NUMNODES; nid++)
		for (int i = 0; i < KMM_MAX_CACHES; i++)
			if (kmem_caches[i].in_use && node_zones[nid])
				kmm_unlock(kmem_cache_nodes[nid][i].list_lock);
	kmm_unlock(slab_threads_lock);
	kmm_unlock(slab_caches_lock);
}

/*
 * In the child only the forking thread exists. The other threads' active slabs, with
 * the objects on their private freelists, are still in memory: their slots become
 * orphans, given back cache by cache as the child uses each (above). Past
 * FORK_ORPHANS_MAX threads, the rest are given back now.
 */
void slab_fork_child(void)
{
	bool none_pending = true, forker_listed = false;
	struct slab_thread *t;

	if (!fork_locks_wiped) {
		for (int nid = 0; nid < MAX_NUMNODES; nid++)
			for (int i = 0; i < KMM_MAX_CACHES; i++)
				if (kmem_caches[i].in_use && node_zones[nid])
					kmm_lock_reinit(kmem_cache_nodes[nid][i].list_lock);
		kmm_lock_reinit(slab_threads_lock);
		kmm_lock_reinit(slab_caches_lock);
	}
	for (unsigned int w = 0; w < ARRAY_SIZE(fork_orphaned); w++)
		none_pending = none_pending && !fork_orphaned[w];
	if (none_pending && nr_fork_orphans)
		nr_fork_orphans = 0;
	list_for_each_entry(t, &slab_threads, list) {
		if (t == &this_slab_thread) {
			forker_listed = true;
			continue;
		}
		if (nr_fork_orphans < FORK_ORPHANS_MAX) {
			for (int i = 0; i < KMM_MAX_CACHES; i++) {
				if (!kmem_caches[i].in_use)
					continue;
				fork_orphans[nr_fork_orphans][i] = t->cpus[i];
				fork_orphaned[i / 64] |= 1UL << (i % 64);
			}
			nr_fork_orphans++;
			continue;
		}
		for (int i = 0; i < KMM_MAX_CACHES; i++)
			if (kmem_caches[i].in_use)
				flush_cpu(&kmem_caches[i], &t->cpus[i]);
		fold_thread_stats(t);
	}
	/* The list starts again, leaving the gone threads' entries (their memory) unwritten. */
	INIT_LIST_HEAD(&slab_threads);
	if (forker_listed)
		list_add(&this_slab_thread.list, &slab_threads);
}

/* ---- cache setup and teardown ---------------------------------------------------------- */

static uintptr_t random_key(void)
{
	uintptr_t key = 0;

	if (os_random(&key, sizeof(key)) != 0 || key == 0)
		key = (uintptr_t)__builtin_ia32_rdtsc() * 0x9e3779b97f4a7c15ULL;
	return key;
}

/*
 * The smallest slab order (up to SLAB_MAX_ORDER) that wastes at most 1/8 of the slab
 * and holds at least 4 objects, or else the order that wastes least: the kernel's
 * calculate_order() in short.
 */
static unsigned int slab_order(unsigned int size)
{
	unsigned int best = SLAB_MAX_ORDER;
	unsigned long best_waste = ~0UL;

	for (unsigned int order = 0; order <= SLAB_MAX_ORDER; order++) {
		unsigned long slab_size = PAGE_SIZE << order;
		unsigned long objects = slab_size / size;
		unsigned long waste = slab_size - objects * size;

		if (objects == 0)
			continue;
		if (objects >= 4 && waste * 8 <= slab_size)
			return order;
		if (waste * 1024 / slab_size < best_waste) {
			best_waste = waste * 1024 / slab_size;
			best = order;
		}
	}
	return best;
}

struct kmem_cache *kmem_cache_slot(void)
{
	struct kmem_cache *s = NULL;

	kmm_lock(slab_caches_lock);
	for (int i = 0; i < KMM_MAX_CACHES && !s; i++) {
		if (!kmem_caches[i].in_use) {
			s = &kmem_caches[i];
			s->in_use = true;
		}
	}
	kmm_unlock(slab_caches_lock);
	return s;
}

/*
 * A new cache in a reused slot starts from zero. No thread counts in the slot until
 * the cache is published, so the threads' counters can be cleared here.
 */
static void reset_stats(struct kmem_cache *s)
{
	struct slab_thread *t;

	kmm_lock(slab_threads_lock);
	memset(s->stat, 0, sizeof(s->stat)); /* under the lock: exiting threads fold into it */
	list_for_each_entry(t, &slab_threads, list) {
		struct kmem_cache_cpu *c = &t->cpus[s->id];

		for (int si = 0; si < NR_SLUB_STAT_CPU_ITEMS; si++)
			c->stat[si] = 0;
		c->pushes_mark = 0; /* kmm_cache_destroy flushed it: its epoch has ended */
	}
	kmm_unlock(slab_threads_lock);
}

int kmem_cache_setup(struct kmem_cache *s, const char *name, size_t size, size_t align,
                     unsigned long flags, void (*ctor)(void *))
{
	uint64_t excess;
	size_t stride;

	if (size == 0 || (align & (align - 1)) || align > PAGE_SIZE) {
		errno = EINVAL;
		return -1;
	}
	if (align < sizeof(void *))
		align = sizeof(void *);
	/* With a constructor the free pointer must not overwrite constructed state. */
	stride = ALIGN_UP(size, sizeof(void *)) + (ctor ? sizeof(void *) : 0);
	stride = ALIGN_UP(stride, align);
	if (stride > (PAGE_SIZE << SLAB_MAX_ORDER)) {
		errno = EINVAL;
		return -1;
	}
	s->size = (unsigned int)stride;
	s->object_size = ctor ? (unsigned int)size : (unsigned int)(stride);
	s->offset = ctor ? (unsigned int)ALIGN_UP(size, sizeof(void *)) : 0;
	s->align = (unsigned int)align;
	s->order = (flags & SLAB_KMALLOC) ? KMALLOC_SLAB_ORDER : slab_order(s->size);
	s->objects = (unsigned int)((PAGE_SIZE << s->order) / s->size);
	s->slab_mask = (unsigned int)((PAGE_SIZE << s->order) - 1);
	s->divisor = UINT64_MAX / stride + 1; /* stride > 1: 2^64 / stride rounded up */
	excess = s->divisor * stride;         /* e of slab_object_valid, mod 2^64 */
	s->valid_limit = excess ? s->objects * excess : 1;
	s->min_partial = (unsigned int)(SLAB_MIN_PARTIAL_BYTES >> (PAGE_SHIFT + s->order));
	if (s->min_partial > SLAB_MIN_PARTIAL)
		s->min_partial = SLAB_MIN_PARTIAL;
	if (s->min_partial < 2)
		s->min_partial = 2;
	s->id = (unsigned int)(s - kmem_caches);
	s->cpu_slab = (char *)&kmem_cache_cpus[s->id] - (char *)__builtin_thread_pointer();
	s->flags = flags;
	s->ctor = ctor;
	s->random = random_key();
	kmm_snprintf(s->name, sizeof(s->name), "%s", name);
	/* slabinfo's columns are separated by spaces: a name must be one word. */
	for (char *c = s->name; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			*c = '_';
	/* Only nodes with a zone: the rest of the table is never touched. */
	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		if (!node_zones[nid])
			continue;
		INIT_LIST_HEAD(&get_node(s, nid)->partial);
		get_node(s, nid)->nr_partial = 0;
		get_node(s, nid)->nr_slabs = 0;
	}
	reset_stats(s);
	return 0;
}

/* Take back every thread's active slab of @s: the caller promises nobody uses it. */
static void flush_all(struct kmem_cache *s)
{
	struct slab_thread *t;

	kmm_lock(slab_threads_lock);
	__adopt_fork_orphans(s);
	list_for_each_entry(t, &slab_threads, list)
		flush_cpu(s, &t->cpus[s->id]);
	kmm_unlock(slab_threads_lock);
}

unsigned long kmem_cache_live_objects(struct kmem_cache *s)
{
	unsigned long live = 0;

	flush_all(s);
	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		struct kmem_cache_node *n = get_node(s, nid);
		unsigned long listed = 0;

		if (!node_zones[nid])
			continue;
		struct page *slab;

		if (!node_zones[nid])
			continue;
		kmm_lock(n->list_lock);
		list_for_each_entry(slab, &n->partial, slab_list) {
			live += slab->inuse;
			listed++;
		}
		/* Full slabs are on no list; each holds objects that are all in use. */
		live += (READ_ONCE(n->nr_slabs) - listed) * s->objects;
		kmm_unlock(n->list_lock);
	}
	return live;
}

/*
 * The dump may run in a signal handler that interrupted this very thread inside the
 * lock: try it a bounded number of times, never wait for it.
 */
static bool stats_trylock(kmm_lock_t *lock)
{
	for (int i = 0; i < 100; i++) {
		if (kmm_trylock(lock))
			return true;
		os_yield();
	}
	return false;
}

/*
 * Objects on @c's private freelist, counted by walking it; -1 when the walk leaves the
 * slab's objects, which happens when the owning thread changes the list meanwhile: only
 * pointers to objects of the slab are followed, so the walk reads nothing else.
 */
static long private_freelist_length(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	struct page *slab = READ_ONCE(c->slab);
	void *p = READ_ONCE(c->freelist);
	long n = 0;

	if (slab_is_detached(slab)) /* a refill or flush is under way */
		return -1;
	for (; p; p = get_freepointer(s, p)) {
		if (!slab || !virt_addr_valid(p) || virt_to_slab(p) != slab ||
		    !slab_object_valid(s, p) || ++n > s->objects)
			return -1;
	}
	return n;
}

/*
 * The uncounted frees into a slab found where it was last seen: a word read without
 * the slab's lock when the dump could not take it, so it is checked to be a slab of
 * @s and its count is kept within the slab.
 */
static unsigned int frees_pending_read(const struct kmem_cache *s, const struct page *slab)
{
	slab_counters_t counters = {.counters = READ_ONCE(slab->counters)};

	if (counters.objects != s->objects || counters.inuse > counters.inuse_mark ||
	    counters.inuse_mark > s->objects)
		return 0;
	return slab_frees_pending(counters);
}

/*
 * Add a thread's remote-free count of @s and the uncounted frees into its active slab,
 * which a refill or a flush moves from one to the other. False when the thread is
 * doing that, or did it meanwhile.
 */
static bool collect_cpu_frees(struct kmem_cache *s, struct kmem_cache_cpu *c,
                              struct kmem_cache_stats *stats)
{
	unsigned long frees = READ_ONCE(c->stat[FREE_SLOWPATH]);
	struct page *slab = READ_ONCE(c->slab);

	stats->stat[FREE_SLOWPATH] += frees;
	if (slab_is_detached(slab))
		return false;
	if (slab)
		stats->stat[FREE_SLOWPATH] += frees_pending_read(s, slab);
	return READ_ONCE(c->slab) == slab && READ_ONCE(c->stat[FREE_SLOWPATH]) == frees;
}

/*
 * Add a thread's other counts of @s, with the current epoch's allocations
 * (slab_epoch_end). False when the thread changed its private freelist meanwhile: then
 * the refill's objects count as all given out.
 */
static bool collect_cpu_stats(struct kmem_cache *s, struct kmem_cache_cpu *c,
                              struct kmem_cache_stats *stats)
{
	long left = private_freelist_length(s, c);

	for (int si = 0; si < NR_SLUB_STAT_CPU_ITEMS; si++)
		if (si != FREE_SLOWPATH)
			stats->stat[si] += READ_ONCE(c->stat[si]);
	if (left < 0)
		return false;
	stats->stat[ALLOC_FASTPATH] +=
	        READ_ONCE(c->stat[FREE_FASTPATH]) - READ_ONCE(c->pushes_mark) - (unsigned long)left;
	return true;
}

/*
 * One cache's counts. Its list locks are held while the remote frees are added up, so
 * no slab moves between a partial list, a thread and the page allocator meanwhile and
 * each slab's uncounted frees are read once, where the slab is; the walks of the
 * threads' private freelists come after, without them.
 */
static bool collect_cache_stats(struct kmem_cache *s, bool threads_locked,
                                struct kmem_cache_stats *stats)
{
	bool locked[MAX_NUMNODES] = {false}, exact = threads_locked;
	struct slab_thread *t;

	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		if (!node_zones[nid])
			continue;
		locked[nid] = stats_trylock(get_node(s, nid)->list_lock);
		if (!locked[nid])
			exact = false;
	}
	for (int si = 0; si < NR_SLUB_STAT_ITEMS; si++)
		stats->stat[si] = READ_ONCE(s->stat[si]);
	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		struct page *slab;

		if (!node_zones[nid])
			continue;
		stats->nr_slabs += READ_ONCE(get_node(s, nid)->nr_slabs);
		stats->nr_partial += READ_ONCE(get_node(s, nid)->nr_partial);
		if (!locked[nid])
			continue;
		list_for_each_entry(slab, &get_node(s, nid)->partial, slab_list)
			stats->stat[FREE_SLOWPATH] += frees_pending_read(s, slab);
	}
	if (threads_locked) {
		list_for_each_entry(t, &slab_threads, list)
			if (!collect_cpu_frees(s, &t->cpus[s->id], stats))
				exact = false;
		for (unsigned int k = 0; cache_has_fork_orphans(s) && k < nr_fork_orphans; k++)
			if (!collect_cpu_frees(s, &fork_orphans[k][s->id], stats))
				exact = false;
	}
	for (int nid = 0; nid < MAX_NUMNODES; nid++)
		if (locked[nid])
			kmm_unlock(get_node(s, nid)->list_lock);
	if (threads_locked) {
		list_for_each_entry(t, &slab_threads, list)
			if (!collect_cpu_stats(s, &t->cpus[s->id], stats))
				exact = false;
		for (unsigned int k = 0; cache_has_fork_orphans(s) && k < nr_fork_orphans; k++)
			if (!collect_cpu_stats(s, &fork_orphans[k][s->id], stats))
				exact = false;
	}
	return exact;
}

bool kmem_cache_collect_stats(struct kmem_cache_stats stats[KMM_MAX_CACHES])
{
	bool threads_locked = stats_trylock(slab_threads_lock), exact = threads_locked;

	memset(stats, 0, sizeof(*stats) * KMM_MAX_CACHES);
	for (int i = 0; i < KMM_MAX_CACHES; i++)
		if (READ_ONCE(kmem_caches[i].in_use) &&
		    !collect_cache_stats(&kmem_caches[i], threads_locked, &stats[i]))
			exact = false;
	if (threads_locked)
		kmm_unlock(slab_threads_lock);
	return exact;
}

void kmem_cache_shrink_all(void)
{
	for (int i = 0; i < KMM_MAX_CACHES; i++) {
		struct kmem_cache *s = &kmem_caches[i];

		if (!s->in_use)
			continue;
		adopt_fork_orphans(s);
		flush_cpu_slab(s);
		for (int nid = 0; nid < MAX_NUMNODES; nid++) {
			struct kmem_cache_node *n = get_node(s, nid);
			struct page *slab, *tmp;

			if (!node_zones[nid] || !READ_ONCE(n->nr_partial))
				continue;
			node_lock(n);
			list_for_each_entry_safe(slab, tmp, &n->partial, slab_list) {
				if (slab->inuse)
					continue;
				list_del(&slab->slab_list);
				n->nr_partial--;
				slab_count_frees(s, slab);
				discard_slab(s, slab);
			}
			node_unlock(n);
		}
	}
}

void kmem_cache_unreserve(struct kmem_cache *s)
{
	kmm_lock(slab_caches_lock);
	s->in_use = false;
	kmm_unlock(slab_caches_lock);
}

void kmem_cache_release(struct kmem_cache *s)
{
	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		struct kmem_cache_node *n = get_node(s, nid);
		struct page *slab, *tmp;

		if (!node_zones[nid])
			continue;

		if (!node_zones[nid])
			continue;
		kmm_lock(n->list_lock);
		list_for_each_entry_safe(slab, tmp, &n->partial, slab_list) {
			list_del(&slab->slab_list);
			n->nr_partial--;
			slab_count_frees(s, slab);
			discard_slab(s, slab);
		}
		kmm_unlock(n->list_lock);
	}
	kmm_lock(slab_caches_lock);
	s->in_use = false;
	kmm_unlock(slab_caches_lock);
}

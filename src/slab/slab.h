/*
 * SLUB-style slab caches (the kernel's mm/slub.c), for objects up to 8 KiB.
 *
 * A slab is a buddy block of order 0-3 cut into equal objects; its page descriptor is
 * the slab's only metadata (slab_cache, freelist, inuse/objects/frozen). Each thread
 * has, per cache, an active slab and a private freelist of that slab's objects: the
 * kernel's kmem_cache_cpu, kept per thread instead of per CPU because a userspace
 * thread can be preempted anywhere. Allocation pops from the private freelist and a
 * free to the thread's own active slab pushes onto it: no lock, no atomic instruction.
 * A free into any other slab pushes onto the slab's shared freelist with one
 * double-word compare-and-swap (SLUB's __slab_free), which the owning thread collects
 * when its private list runs dry. Slabs that are nobody's active slab and have free
 * objects sit on their node's partial list.
 *
 * Lock order: kmem_cache_node->list_lock is taken alone, or before the page
 * allocator's locks (a new or discarded slab), never inside them.
 */
#ifndef KMM_SLAB_SLAB_H
#define KMM_SLAB_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/single_threaded.h>

#include "../base/compiler.h"
#include "../base/list.h"
#include "../base/lock.h"
#include "../buddy/mmzone.h"
#include "../buddy/page.h"

#define KMM_MAX_CACHES   96 /* kmalloc caches and dedicated ones together */
#define SLAB_NAME_LEN    32
#define SLAB_MAX_ORDER   PAGE_ALLOC_COSTLY_ORDER
#define SLAB_MIN_PARTIAL 5 /* partial slabs a node keeps before empties go back */
/* ...and at most this much of them, when slabs are large (kmalloc's). */
#define SLAB_MIN_PARTIAL_BYTES (64 << 10)

/*
 * Every kmalloc slab is a naturally aligned order-3 block (32 KiB), where SLUB picks
 * the order per cache. A free then finds the slab's head descriptor from the address
 * alone, without reading the descriptor of the object's own page first: 2,048 head
 * descriptors cover 64 MiB of objects and stay in cache, where reading tail
 * descriptors would walk 16,384 of them. Frees in random order over a large heap are
 * bound by those cache misses. Dedicated caches keep SLUB's per-cache order.
 */
#define KMALLOC_SLAB_ORDER 3
#define SLAB_KMALLOC       (1UL << 0) /* internal flag: a kmalloc cache */

/*
 * SLUB's statistics (CONFIG_SLUB_STATS), always on. The first NR_SLUB_STAT_CPU_ITEMS
 * are per thread, in its kmem_cache_cpu; the rest are slow-path events, counted
 * atomically in the cache. Allocations minus frees is the number of live objects.
 *
 * Only a free onto the private freelist counts as it happens, with a plain increment
 * on the line it writes anyway. malloc's fast path is short enough that one more
 * read-modify-write costs it 3 %, and a free into another slab waits behind the cache
 * miss of the object it writes, where each store it adds costs it (docs/stats.md).
 * Both are worked out instead:
 *  - allocations: between two refills (an epoch) the private list takes in the objects
 *    of the refill and those freed onto it, and gives out the rest. A refill credits
 *    its objects to ALLOC_FASTPATH at once; when the epoch ends (the next refill finds
 *    the list empty, or a flush takes what is left) the frees onto the list are added
 *    and the objects left taken off (slab_epoch_end), and a dump does the same for the
 *    current epoch by walking the list;
 *  - frees into other slabs: each lowers the slab's inuse by one, and nothing else
 *    changes inuse between the times a thread takes the slab's freelist or gives the
 *    slab back. The slab's counters keep inuse_mark, inuse as of the last such time, so
 *    the frees since are inuse_mark - inuse. They are added to FREE_SLOWPATH when a
 *    thread takes the freelist or gives the slab back, when the slab goes to the page
 *    allocator, and by a dump for slabs that are partial or active (slab_frees_pending).
 */
enum slub_stat_item {
	ALLOC_FASTPATH, /* from the thread's private freelist; see above */
	ALLOC_SLOWPATH, /* the object a refill returns */
	FREE_FASTPATH,  /* onto the thread's private freelist */
	FREE_SLOWPATH,  /* into any other slab (a remote free); see above */
	NR_SLUB_STAT_CPU_ITEMS,
	ALLOC_SLAB = NR_SLUB_STAT_CPU_ITEMS, /* slabs taken from the page allocator */
	FREE_SLAB,                           /* slabs given back to it */
	ALLOC_FROM_PARTIAL,                  /* refills from a node's partial list */
	NR_SLUB_STAT_ITEMS
};

/*
 * A node's share of a cache: its partial slabs, in one table by node, then cache
 * (kmem_cache_nodes), a cache line each, so that a node's loops over the caches walk
 * one array. fork takes every list lock of the caches in use, so the lock is a fork
 * lock (lock.h), outside the table.
 */
struct kmem_cache_node {
	kmm_lock_t *list_lock;    /* fork_lock_alloc() */
	unsigned long nr_partial; /* guarded by list_lock */
	struct list_head partial; /* guarded by list_lock */
	unsigned long nr_slabs;   /* atomic: slabs of this cache on this node */
} __attribute__((aligned(64)));

struct kmem_cache {
	/* What every free reads comes first, in one cache line: see slab_object_valid. */
	uint64_t divisor;         /* 2^64 / size, rounded up */
	uint64_t valid_limit;     /* offset * divisor is below this for objects only */
	uintptr_t random;         /* key that encodes in-object free pointers */
	unsigned int slab_mask;   /* bytes in a slab, less one */
	unsigned int offset;      /* of the free pointer in a free object */
	unsigned int id;          /* index of this cache's per-thread state */
	unsigned int size;        /* stride between objects */
	unsigned int object_size; /* what a user may use: ksize() */
	unsigned int align;
	unsigned int order;       /* of each slab */
	unsigned int objects;     /* per slab */
	unsigned int min_partial; /* partial slabs kept before an empty one goes back */
	unsigned long flags;
	long cpu_slab; /* from the thread pointer to the thread's kmem_cache_cpus[id] */
	void (*ctor)(void *);
	char name[SLAB_NAME_LEN];
	bool in_use;
	/*
	 * Atomic: the slow-path events, and the per-thread counts of threads that are
	 * gone (folded in at thread exit) or not registered.
	 */
	unsigned long stat[NR_SLUB_STAT_ITEMS];
} __attribute__((aligned(64)));

/*
 * The kernel's kmem_cache_cpu, one per thread per cache; see the top of this file. One
 * cache line: what malloc and free read and write, the counters included, is there.
 */
struct kmem_cache_cpu {
	void *freelist;    /* objects of @slab that only this thread may take */
	struct page *slab; /* the thread's active (frozen) slab */
	/*
	 * The cache's key (kmem_cache.random), copied by __slab_alloc before @freelist is
	 * set: malloc then reads one line of its own, not the cache.
	 */
	uintptr_t random;
	/*
	 * Written by this thread (or one acting for it, as flush_cpu does) only; read by
	 * the statistics of others without a lock.
	 */
	unsigned long stat[NR_SLUB_STAT_CPU_ITEMS];
	unsigned long pushes_mark; /* stat[FREE_FASTPATH] when this epoch's refill came */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct kmem_cache_cpu) == 64, "kmem_cache_cpu is one cache line");

/*
 * 6 KiB of initial-exec TLS: more than glibc keeps for libraries loaded with dlopen
 * (under 2 KiB), so dlopen of libkmm needs GLIBC_TUNABLES=glibc.rtld.optional_static_tls
 * raised (the README says how); preloaded or linked, it is part of the initial TLS.
 * The counters elsewhere, behind a pointer, cost the pair loop 0.4 ns of its 3.2.
 */
extern __thread struct kmem_cache_cpu kmem_cache_cpus[KMM_MAX_CACHES]
        __attribute__((tls_model("initial-exec")));

/*
 * The calling thread's kmem_cache_cpu for the cache of @slab, the kernel's
 * this_cpu_ptr(s->cpu_slab): initial-exec TLS lies at one offset from every thread's
 * thread pointer, so each cache keeps that offset (cpu_slab) and each slab's head a
 * copy of it. free() has read the head already; through the cache, or by indexing
 * kmem_cache_cpus with s->id (which also reads the array's offset from the GOT), the
 * thread's freelist would be one or two loads further from the freed pointer. Only
 * for a live slab: new_slab sets the copy with slab_cache.
 */
static __always_inline struct kmem_cache_cpu *slab_this_cpu(const struct page *slab)
{
	return (struct kmem_cache_cpu *)((char *)__builtin_thread_pointer() + slab->slab_cpu_slab);
}

/*
 * Free pointers live in free objects (the one piece of metadata inside the memory it
 * describes), encoded as the kernel's CONFIG_SLAB_FREELIST_HARDENED does, so a stray
 * write or a leaked pointer does not hand out arbitrary memory: stored = pointer ^ key,
 * the key being the cache's random value ^ the address the pointer is stored at.
 *
 * The key depends on neither the pointer nor the stored value, and is kept opaque so
 * that the compiler computes it first: between one malloc and the next the freelist's
 * head passes through memory (the load of the stored value, the store of the new head,
 * the next load of it), and one XOR on that chain costs less than two.
 */
static __always_inline uintptr_t freeptr_key(uintptr_t random, const void *obj)
{
	uintptr_t key = random ^ (uintptr_t)obj;

	OPTIMIZER_HIDE_VAR(key);
	return key;
}

static __always_inline void *get_freepointer(const struct kmem_cache *s, void *obj)
{
	return (void *)(*(uintptr_t *)((char *)obj + s->offset) ^ freeptr_key(s->random, obj));
}

static __always_inline void set_freepointer(const struct kmem_cache *s, void *obj, void *fp)
{
	*(uintptr_t *)((char *)obj + s->offset) = (uintptr_t)fp ^ freeptr_key(s->random, obj);
}

/*
 * set_freepointer for a kmalloc cache's object: its free pointer is at offset 0, so the
 * store's address is the object's, known before the cache is read.
 */
static __always_inline void set_freepointer_kmalloc(const struct kmem_cache *s, void *obj, void *fp)
{
	*(uintptr_t *)obj = (uintptr_t)fp ^ freeptr_key(s->random, obj);
}

/* Store a free pointer through the thread's copy of the key (offset 0, as below). */
static __always_inline void set_freepointer_cpu(const struct kmem_cache_cpu *c, void *obj, void *fp)
{
	*(uintptr_t *)obj = (uintptr_t)fp ^ freeptr_key(c->random, obj);
}

/*
 * The same through the thread's copy of the key, for caches whose free pointer is at
 * offset 0 (those without a constructor, all the kmalloc caches among them): what
 * malloc reads is then all in the thread's kmem_cache_cpu.
 */
static __always_inline void *get_freepointer_cpu(const struct kmem_cache_cpu *c, void *obj)
{
	return (void *)(*(uintptr_t *)obj ^ freeptr_key(c->random, obj));
}

static __always_inline void slab_stat(struct kmem_cache_cpu *c, enum slub_stat_item si)
{
	c->stat[si]++;
}

/* page->counters, field by field. */
typedef union {
	unsigned long counters;
	struct {
		unsigned int inuse : 16;
		unsigned int objects : 15;
		unsigned int frozen : 1;
		unsigned int inuse_mark : 16; /* see the statistics above */
	};
} slab_counters_t;

_Static_assert(sizeof(slab_counters_t) == sizeof(unsigned long), "counters is one word");
/* The most objects a slab can hold (8-byte objects) fit objects, inuse and inuse_mark. */
_Static_assert((PAGE_SIZE << SLAB_MAX_ORDER) / sizeof(void *) < (1u << 15),
               "a slab's object count fits its 15-bit field");

/* Frees into @counters' slab not yet added to FREE_SLOWPATH. */
static inline unsigned int slab_frees_pending(slab_counters_t counters)
{
	return counters.inuse_mark - counters.inuse;
}

/* page->counters with inuse at 1: inuse is the first field, its lowest bits (tested). */
#define SLAB_INUSE_ONE 1UL

void *__slab_alloc(struct kmem_cache *s, struct kmem_cache_cpu *c);
/* A free into another slab while threads may race: SLUB's cmpxchg_double loop. */
void __slab_free(struct kmem_cache *s, struct page *slab, void *obj);
__noreturn void slab_double_free(struct kmem_cache *s, const char *caller, void *obj);
void slab_free_single_relist(struct kmem_cache *s, struct page *slab, void *obj, void *prior,
                             unsigned long counters);

/*
 * While the process has a single thread, nothing can race a slab's freelist or a node's
 * list, so the atomic instructions (each a full barrier that waits for every pending
 * store, among them the write of the free pointer into a cold object) are skipped, as
 * glibc's malloc does. glibc clears __libc_single_threaded when the first thread is
 * created and never sets it again, and no thread can be created inside kmm's calls.
 */
static inline bool single_threaded(void)
{
	return __libc_single_threaded;
}

/*
 * A slab's freelist and counters in one 16-byte store. A free into a cold object waits
 * in the store queue behind that object's cache miss, and every store it makes holds a
 * slot there until the miss is served: the fewer slots each free takes, the more frees
 * overlap their misses (docs/bench-malloc.md: 0.5 ns of a 9.6 ns free in random order).
 */
static __always_inline void slab_set_freelist(struct page *slab, void *freelist,
                                              unsigned long counters)
{
	typedef unsigned long freelist_pair_t __attribute__((vector_size(16), may_alias));

	*(freelist_pair_t *)&slab->freelist = (freelist_pair_t){(uintptr_t)freelist, counters};
}

/*
 * With one thread nothing races the slab: plain loads and stores, and as few of them
 * as possible, since a free in random order is a cache miss on the object and the CPU
 * overlaps only as many of them as fit in its store queue and reorder window.
 * @kmalloc: the free pointer is at offset 0 (kmalloc caches have no constructor), so
 * the store into the object has its address before the cache is read, and its miss
 * starts that much sooner (1.7 ns of 11.3 in the same measurement).
 */
static __always_inline void slab_free_single(struct kmem_cache *s, struct page *slab, void *obj,
                                             bool kmalloc)
{
	void *prior = slab->freelist;
	slab_counters_t c = {.counters = slab->counters};

	if (unlikely(prior == obj || c.inuse == 0)) /* more frees than objects handed out */
		slab_double_free(s, "free", obj);
	if (kmalloc)
		set_freepointer_kmalloc(s, obj, prior);
	else
		set_freepointer(s, obj, prior);
	/* inuse is the low bits of the word and not 0: no bitfield merge, no borrow. */
	c.counters -= SLAB_INUSE_ONE;
	/* Emptied, or was full: its place on the lists changes, under the list lock. */
	if (unlikely(!c.inuse || !prior) && !c.frozen)
		slab_free_single_relist(s, slab, obj, prior, c.counters);
	else
		slab_set_freelist(slab, obj, c.counters);
}

/*
 * A free into a slab that is not the calling thread's active one. Inline, so that
 * free() reaches the single-threaded case without a call: frees in random order land
 * here nearly every time, and the fewer instructions each takes, the more of their
 * cache misses the CPU overlaps. Counted by the slab's inuse_mark, see above.
 */
static __always_inline void slab_free_remote(struct kmem_cache *s, struct page *slab, void *obj,
                                             bool kmalloc)
{
	if (single_threaded())
		slab_free_single(s, slab, obj, kmalloc);
	else
		__slab_free(s, slab, obj);
}

static __always_inline void *slab_alloc(struct kmem_cache *s)
{
	struct kmem_cache_cpu *c = &kmem_cache_cpus[s->id];
	void *obj = c->freelist;

	if (unlikely(!obj))
		return __slab_alloc(s, c);
	c->freelist = get_freepointer(s, obj);
	return obj;
}

/* @caller names the entry point in a double-free report. */
static __always_inline void slab_free(struct kmem_cache *s, struct page *slab, void *obj,
                                      const char *caller)
{
	struct kmem_cache_cpu *c = slab_this_cpu(slab);

	if (likely(slab == c->slab)) {
		if (unlikely(obj == c->freelist))
			slab_double_free(s, caller, obj);
		set_freepointer(s, obj, c->freelist);
		c->freelist = obj;
		slab_stat(c, FREE_FASTPATH);
		return;
	}
	slab_free_remote(s, slab, obj, false);
}

/* The head page of the slab that holds @page (a slab's pages all carry its order). */
static __always_inline struct page *slab_head(struct page *page)
{
	unsigned long pfn = page_to_pfn(page);

	return pfn_to_page(pfn & ~((1UL << page->order) - 1));
}

/*
 * The kmalloc slab holding @obj, an address inside the zones, or NULL when there is
 * none. Every kmalloc slab is of order KMALLOC_SLAB_ORDER, so the descriptor at that
 * alignment is the head of the block that covers @obj when it is a kmalloc slab's:
 * buddy blocks are naturally aligned, and no slab is larger. Such heads carry
 * PG_kmalloc_slab, so one test tells (a slab of a smaller order there would not cover
 * @obj); dedicated caches' slabs do not carry it, whatever their order.
 */
static __always_inline struct page *virt_to_kmalloc_slab(const void *obj)
{
	/* Any address of the range will do: an offline section's descriptors read as zero. */
	struct page *head = pfn_to_page_any(virt_to_pfn(obj) & ~((1UL << KMALLOC_SLAB_ORDER) - 1));

	return PageKmallocSlab(head) ? head : NULL;
}

/* The same for a slab of any order: the fallback reads the object's own descriptor. */
static __always_inline struct page *virt_to_slab(const void *obj)
{
	struct page *head = virt_to_kmalloc_slab(obj);
	struct page *page;

	if (likely(head))
		return head;
	page = virt_to_page(obj);
	return PageSlab(page) ? slab_head(page) : NULL;
}

/*
 * Whether @obj is the start of an object in its slab of @s (not inside one, not past
 * the end), in one multiply and one compare. Buddy blocks are aligned to their size within the
 * zone window, which is itself aligned to the largest block, so the offset in the slab
 * is the address masked. With c = 2^64 / size rounded up and e = c * size - 2^64
 * (0 <= e < size), an offset n < 2^32 is a multiple of size iff n * c mod 2^64 < c
 * (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019), and the
 * multiple q * size maps to q * e, so the objects 0 .. objects - 1 are exactly the
 * offsets mapping below objects * e (below 1 when size is a power of two, e = 0: then
 * every multiple in the slab is an object). kmem_cache_setup computes the limit.
 */
static __always_inline bool slab_object_valid(const struct kmem_cache *s, const void *obj)
{
	uint32_t offset = (uint32_t)(uintptr_t)obj & s->slab_mask;

	return (uint64_t)offset * s->divisor < s->valid_limit;
}

/*
 * The kernel's kmem_cache_shrink, for every cache: the caller's active slabs go back,
 * and empty slabs kept on partial lists go to the buddy allocator (malloc_trim).
 */
void kmem_cache_shrink_all(void);

/* Give a reserved slot back after kmem_cache_setup failed (nothing was built in it). */
void kmem_cache_unreserve(struct kmem_cache *s);

/*
 * Set up a cache in the slot the caller reserved. Returns 0, or -1 with errno EINVAL
 * when no slab of up to SLAB_MAX_ORDER holds one object of @size.
 */
int kmem_cache_setup(struct kmem_cache *s, const char *name, size_t size, size_t align,
                     unsigned long flags, void (*ctor)(void *));

/* Reserve a free cache slot, or NULL when all KMM_MAX_CACHES are taken. */
struct kmem_cache *kmem_cache_slot(void);

/* Give back the caller's cached slabs and its active slab of @s; empty slabs go home. */
void flush_cpu_slab(struct kmem_cache *s);

/* Objects of @s allocated and not freed, over all nodes; exact when the cache is idle. */
unsigned long kmem_cache_live_objects(struct kmem_cache *s);

/* Free every empty slab of @s and retire the cache. The caller checked it is empty. */
void kmem_cache_release(struct kmem_cache *s);

/*
 * The counters of every cache (@stats[id]), summed over the threads, and its slabs.
 * Safe from a signal handler: it reads without locks, except the thread list and each
 * cache's list locks, which it only tries to take. False when the counts are not
 * exact: a lock was busy (the running threads' counts, or the partial slabs' uncounted
 * frees, are missing), or a thread changed its private freelist or active slab while
 * it was counted (that epoch's allocations, or the slab's frees, are missing).
 */
struct kmem_cache_stats {
	unsigned long stat[NR_SLUB_STAT_ITEMS];
	unsigned long nr_slabs;
	unsigned long nr_partial;
};
bool kmem_cache_collect_stats(struct kmem_cache_stats stats[KMM_MAX_CACHES]);

/* fork(): the node list locks, and in the child the slabs of threads that are gone. */
void slab_fork_prepare(void);
void slab_fork_parent(void);
void slab_fork_child(void);

/* Set up the thread-exit hook; at initialization, before any slab is used. */
int slab_init(void);

extern struct kmem_cache kmem_caches[KMM_MAX_CACHES] KMM_HIDDEN;
extern struct kmem_cache_node kmem_cache_nodes[MAX_NUMNODES][KMM_MAX_CACHES] KMM_HIDDEN;

/* The kernel's get_node(): cache @s's share of node @nid. */
static inline struct kmem_cache_node *get_node(const struct kmem_cache *s, int nid)
{
	return &kmem_cache_nodes[nid][s->id];
}

#endif /* KMM_SLAB_SLAB_H */

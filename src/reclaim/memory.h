/*
 * Demand faulting through userfaultfd (the kernel's mm/memory.c fault path, in kmm's
 * form): with KMM_UFFD=on, the frames of the zones and the vmalloc areas are registered
 * with a userfaultfd as they are mapped, and a page that is not present is brought in by
 * kmm's handler thread, zero-filled on its first touch, with fault-around. The first
 * layer of reclaim: what swap-out and swap-in build on.
 *
 * The layer is reached only through the memory notifier (buddy/page_alloc.h), which the
 * sections and the vmalloc area call as they map memory; without KMM_UFFD=on nothing is
 * registered and no notifier is set, so the allocator's paths are as they were.
 */
#ifndef KMM_RECLAIM_MEMORY_H
#define KMM_RECLAIM_MEMORY_H

#include <stdbool.h>

/*
 * Open the userfaultfd, start the handler thread, and register what is mapped already
 * and, through the memory notifier, everything mapped from now on. Called once, after
 * initialization, where a thread may be created (creating one allocates). Says in one
 * line why, and leaves the process without demand faulting, when userfaultfd is not
 * available.
 */
void uffd_start(void);

/*
 * The heap's resident memory, charged when a page is brought in (or found resident when
 * its range is registered) and uncharged when it is swapped out, or kmm gives it back
 * or unmaps it: the kernel's page_counter of a memory cgroup, in pages.
 */
struct page_counter {
	long usage;            /* pages charged now */
	long watermark;        /* the most ever charged (memcg's max_usage) */
	unsigned long limit;   /* KMM_MEM_LIMIT in pages, 0 for none */
	unsigned long failcnt; /* times a charge went past the limit, nothing left to reclaim */
};

struct uffd_events {
	unsigned long nr_faults;       /* faults the handler resolved (the kernel's pgfault) */
	unsigned long pages_filled;    /* pages it brought in, fault-around included */
	unsigned long nr_registered;   /* ranges registered */
	unsigned long nr_fault_around; /* faults that brought in more than their own page */
};

/* The kernel's vmstat counters of reclaim, under the names /proc/vmstat gives them. */
struct reclaim_events {
	unsigned long pgmajfault;  /* faults on a swapped-out page */
	unsigned long pswpin;      /* pages read from swap */
	unsigned long pswpout;     /* pages written to swap */
	unsigned long swpout_zero; /* pages dropped instead, all zero */
	unsigned long pgscan_kswapd;
	unsigned long pgscan_direct;
	unsigned long pgsteal_kswapd;
	unsigned long pgsteal_direct;
	unsigned long pgactivate;   /* inactive pages touched, moved back and activated */
	unsigned long pgdeactivate; /* active pages moved to the inactive list */
	unsigned long workingset_refault_anon; /* swapped-out pages faulted on */
	unsigned long pageoutrun;              /* kswapd's balance runs */
	unsigned long allocstall;              /* faults that reclaimed directly */
	unsigned long zswpin;                  /* pages read from the compressed tier */
	unsigned long zswpout;                 /* pages stored in it */
	unsigned long zswpwb; /* pages written back from it to the file when it was full */
};

/* min, low and high headroom under the limit, in pages (zoneinfo's watermarks). */
struct watermarks {
	unsigned long limit, min, low, high;
};

/* One swap device, a line of /proc/swaps. */
struct swap_device_stats {
	int fd;                   /* its descriptor in this process */
	bool writeok;             /* takes writes (a device frozen at a fork does not) */
	unsigned long size_pages; /* slots, the header's excluded */
	unsigned long used_pages;
};

/* The swap devices (/proc/swaps, and meminfo's SwapTotal and SwapFree for them all). */
struct swap_stats {
	unsigned int nr_devices;
	unsigned long total_pages; /* with the next device, made when one is needed */
	unsigned long used_pages;
	const char *dir;
	struct swap_device_stats device[8]; /* the first ones, of nr_devices */
};

/* The compressed tier (meminfo's Zswap and Zswapped, and the kernel's zswap debugfs). */
struct zswap_stats {
	bool enabled;
	unsigned long pool_pages;           /* the pool's charged memory (Zswap) */
	unsigned long max_pool_pages;       /* KMM_ZSWAP_MAX_POOL_PERCENT of the limit */
	unsigned long stored_pages;         /* pages whose data is in the pool (Zswapped) */
	unsigned long reject_compress_poor; /* pages that went to the file, incompressible */
	unsigned long reject_pool_full;     /* and for want of room, after writeback */
};

struct reclaim_stats {
	struct page_counter memory;
	struct reclaim_events events;
	struct watermarks wmark;
	unsigned long nr_active, nr_inactive; /* Active(anon), Inactive(anon), in pages */
	unsigned long nr_swapcache;           /* SwapCached: resident, and a copy in swap */
	struct swap_stats swap;
	struct zswap_stats zswap;
};

/* Snapshots, read without locks. */
void uffd_collect_events(struct uffd_events *events);
void reclaim_collect(struct reclaim_stats *out);

/* Whether a page of kmm's memory may be swapped out (a limit is in force). */
bool reclaim_active(void);

/*
 * fork: the handler and kswapd stop at a page boundary (prepare) and go on (parent).
 * The child opens its own userfaultfd and starts its own handler and kswapd before
 * anything touches the heap (reclaim_fork_child, first of the child handlers), then
 * registers kmm's memory with it once the allocator's locks are usable again
 * (reclaim_fork_child_register): it reads the parent's data, swapped out or not, and
 * reclaims on its own. Without a limit the child leaves demand faulting to the kernel.
 */
void reclaim_fork_prepare(void);
void reclaim_fork_parent(void);
void reclaim_fork_child(void);
void reclaim_fork_child_register(void);

#endif /* KMM_RECLAIM_MEMORY_H */

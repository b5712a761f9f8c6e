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
 * its range is registered) and uncharged when kmm gives it back or unmaps it: the
 * kernel's page_counter of a memory cgroup, in pages (its limit and failcnt come with
 * the memory limit).
 */
struct page_counter {
	long usage;     /* pages charged now */
	long watermark; /* the most ever charged (memcg's max_usage) */
};

struct uffd_events {
	unsigned long nr_faults;       /* faults the handler resolved (the kernel's pgfault) */
	unsigned long pages_filled;    /* pages it brought in, fault-around included */
	unsigned long nr_registered;   /* ranges registered */
	unsigned long nr_fault_around; /* faults that brought in more than their own page */
};

/* A snapshot, read without locks. */
void uffd_collect_events(struct uffd_events *events);
void uffd_collect_charge(struct page_counter *counter);

/*
 * fork: the child's mappings lose their registration (no UFFD_FEATURE_EVENT_FORK), and
 * the userfaultfd it inherits belongs to the parent's address space, so the child stops
 * registering and the kernel serves its faults.
 */
void uffd_fork_child(void);

#endif /* KMM_RECLAIM_MEMORY_H */

/*
 * Statistics in the kernel's own formats: /proc/buddyinfo, /proc/slabinfo,
 * /proc/meminfo, /proc/vmstat and /proc/zoneinfo, plus the same numbers as JSON.
 *
 * The counters live where the work happens and cost no atomic instruction there: in
 * the per-CPU page lists and the zones under the locks those already hold, in each
 * thread's kmem_cache_cpu (src/slab), in the vmalloc area under its lock. A dump takes
 * one snapshot of them all (struct kmm_stats) without taking a lock, so that it can
 * run in a signal handler that interrupted malloc, and every format prints from that
 * one snapshot, so the sections of a dump agree with each other (zoneinfo's per-CPU
 * list lengths alone are read as it prints them: up to KMM_MAX_CPUS of them per zone
 * would not fit a static snapshot).
 *
 * Configuration (src/base/options.h): KMM_STATS (what), KMM_STATS_FILE (where; %p is
 * the pid), KMM_STATS_SIGNAL (dump on a signal), KMM_STATS_INTERVAL (snapshots).
 */
#ifndef KMM_STATS_STATS_H
#define KMM_STATS_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/options.h"
#include "../buddy/mmzone.h"
#include "../reclaim/memory.h"
#include "../slab/slab.h"
#include "../vmalloc/vmalloc.h"
#include "seq_buf.h"

/* The name of kmm's one zone per node, as buddyinfo and zoneinfo print it. */
#define ZONE_NAME "Normal"

struct zone_stats {
	bool present;
	unsigned long start_pfn;
	unsigned long spanned_pages;
	unsigned long present_pages; /* in online sections */
	unsigned long nr_section_events[NR_SECTION_EVENTS];
	unsigned long free_blocks[NR_PAGE_ORDERS]; /* what buddyinfo shows */
	unsigned long nr_free_pages;               /* the zone's count: the blocks must sum to it */
	unsigned long nr_reported_pages;           /* of those, given back to the OS */
	unsigned long nr_pcp_pages;                /* on the per-CPU lists */
	unsigned long nr_in_transit;               /* between a per-CPU list and the zone */
	unsigned long nr_slab_pages;               /* in slabs of any cache */
	unsigned long hugetlb_pages;               /* backed by the hugetlb pool */
	struct page_alloc_events events;           /* zone and per-CPU lists together */
	unsigned long pcp_alloc;                   /* of events.pgalloc: per-CPU list hits */
	unsigned long pcp_free;                    /* of events.pgfree: onto a per-CPU list */
	unsigned long numa_miss, numa_foreign;
};

/* Allocations the zone served for callers that preferred it: all of them but the misses. */
static inline unsigned long zone_numa_hit(const struct zone_stats *zs)
{
	unsigned long allocs = 0;

	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		allocs += zs->events.pgalloc[o];
	return allocs > zs->numa_miss ? allocs - zs->numa_miss : 0;
}

struct kmm_stats {
	int pid;
	const char *reason;   /* "exit", "signal", "interval" or "call" */
	uint64_t time_ms;     /* wall clock */
	uint64_t uptime_ms;   /* since kmm started */
	unsigned long rss_kb; /* the process's resident memory (/proc/self/statm), 0 if unknown */
	/* False when the slab counts of running threads are not exact (kmem_cache_collect_stats).
	 */
	bool slab_complete;
	struct zone_stats zone[MAX_NUMNODES];
	struct kmem_cache_stats slab[KMM_MAX_CACHES];
	struct vmalloc_info vmalloc;
	struct uffd_events uffd;      /* demand faulting (KMM_UFFD) */
	struct reclaim_stats reclaim; /* the charge, LRU, swap and their events (KMM_MEM_LIMIT) */
};

/* os_now_ms() when kmm started, for uptime. */
extern uint64_t kmm_stats_start_ms;

/* Fill @st from the allocator's counters, without taking a lock that could be held. */
void kmm_stats_collect(struct kmm_stats *st, const char *reason);

/*
 * Print the sections @what (STATS_* bits) of @st: the kernel's text formats. These and
 * the JSON keep their row buffers static: they only run holding the dump (dump.c), and
 * a signal handler's stack may be small.
 */
void kmm_stats_print_proc(struct seq_buf *m, const struct kmm_stats *st, unsigned int what);

/* The same numbers as one line of JSON. */
void kmm_stats_print_json(struct seq_buf *m, const struct kmm_stats *st, unsigned int what);

/*
 * Rows shared by the text and JSON forms: meminfo in kB, vmstat as counts. Fill @rows
 * (room for MAX_STAT_ROWS) and return how many.
 */
struct stat_row {
	const char *name;
	unsigned long value;
};
#define MAX_STAT_ROWS 128
int kmm_stats_meminfo_rows(const struct kmm_stats *st, struct stat_row *rows);
int kmm_stats_vmstat_rows(const struct kmm_stats *st, struct stat_row *rows);

/* One cache's line of /proc/slabinfo (the kernel's struct slabinfo). */
struct slabinfo {
	unsigned long active_objs, num_objs, active_slabs, num_slabs;
	unsigned int objects_per_slab, pages_per_slab, objsize;
};
void kmm_stats_slabinfo(const struct kmm_stats *st, int id, struct slabinfo *info);

/*
 * Read the KMM_STATS* options, keep a copy of stderr for the exit dump (a destructor)
 * and catch the signal. Called once kmm is initialized; the snapshot thread starts
 * from kmm_stats_start(), in kmm's constructor.
 */
void kmm_stats_init(void);
void kmm_stats_start(void);
void kmm_stats_fork_prepare(void);
void kmm_stats_fork_parent(void);
void kmm_stats_fork_child(void);

#endif /* KMM_STATS_STATS_H */

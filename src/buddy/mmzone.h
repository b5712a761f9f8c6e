/*
 * Zones, free areas and per-CPU page lists: the kernel's include/linux/mmzone.h.
 *
 * kmm has one zone per NUMA node (or per fake node with KMM_NUMA_FAKE), so a zone's
 * index is its node id. Zones span ranges of the physical address space back to back,
 * each as large as its node's memory and starting on a section boundary; a zone holds
 * only the sections it has hot-added (sparse.c), so most of its span is usually absent.
 *
 * Lock order, outermost first (a thread never takes an earlier lock while holding a
 * later one):
 *   reporting_runner  →  (slab list locks, vmap_area_lock)  →  zone->report_lock
 *   →  pcp->lock  →  zone->lock
 * fork's prepare handler and the verify walker take all of them in this order. The
 * allocation paths themselves never nest pcp->lock and zone->lock (page_alloc.c says
 * why); page reporting holds report_lock around zone->lock.
 */
#ifndef KMM_BUDDY_MMZONE_H
#define KMM_BUDDY_MMZONE_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/compiler.h"
#include "../base/list.h"
#include "../base/lock.h"
#include "page.h"

/* Free lists for orders 0 … MAX_PAGE_ORDER: blocks of 4 KiB … 4 MiB. */
#define MAX_PAGE_ORDER     10
#define NR_PAGE_ORDERS     (MAX_PAGE_ORDER + 1)
#define MAX_ORDER_NR_PAGES (1UL << MAX_PAGE_ORDER)
#define MAX_ORDER_BYTES    (MAX_ORDER_NR_PAGES << PAGE_SHIFT)

/* Orders the per-CPU lists cache, as in the kernel: up to 32 KiB blocks. */
#define PAGE_ALLOC_COSTLY_ORDER 3
#define NR_PCP_LISTS            (PAGE_ALLOC_COSTLY_ORDER + 1)

/* Smallest order page reporting gives back: one 2 MiB huge page, a THP unit. */
#define PAGE_REPORTING_ORDER (HPAGE_SHIFT - PAGE_SHIFT)

#define MAX_NUMNODES         64
#define NUMA_NO_NODE         (-1)

enum zone_backing {
	ZONE_BACKING_THP,     /* anonymous memory with MADV_HUGEPAGE */
	ZONE_BACKING_HUGETLB, /* the hugetlb pool, 2 MiB pages */
	ZONE_BACKING_MIXED,   /* hugetlb for the first hugetlb_end_pfn, THP after */
};

enum section_event { SECTION_ADDED, SECTION_REMOVED, SECTION_HOLES, NR_SECTION_EVENTS };

struct free_area {
	/*
	 * Blocks still resident sit at the head, blocks given back to the OS (PG_reported)
	 * at the tail: allocation takes memory that needs no page fault first, and page
	 * reporting finds the candidates at the front.
	 */
	struct list_head free_list;
	unsigned long nr_free; /* blocks, not pages */
};

/*
 * Page allocator events (the kernel's vm_event counters), counted where a lock already
 * serializes them, so they cost no atomic instruction: on a per-CPU list under its
 * lock, in the zone under zone->lock. They only grow; the statistics (src/stats) sum
 * them without the locks.
 */
struct page_alloc_events {
	unsigned long pgalloc[NR_PAGE_ORDERS]; /* blocks handed out, by order */
	unsigned long pgfree[NR_PAGE_ORDERS];  /* blocks freed, by order */
	unsigned long pcp_refill;              /* zone: batches moved to a per-CPU list */
	unsigned long pcp_flush;               /* pcp: batches given back past the high mark */
	unsigned long pgreported;              /* zone: pages given back to the OS */
};

/*
 * A CPU's cache of low-order free pages in front of the zone lock. Refilled from the
 * zone @batch pages at a time, and flushed back @batch pages at a time once it holds
 * more than @high. The lock is only ever contended by a migrated thread or a drain, so
 * the allocation path just tries it and falls back to the zone when it is busy.
 */
struct per_cpu_pages {
	kmm_lock_t *lock; /* fork_lock_alloc() */
	int count;        /* pages on all lists; guarded by lock */
	int high;
	int batch;
	unsigned int ticks; /* operations, to poll page reporting; guarded by lock */
	struct list_head lists[NR_PCP_LISTS]; /* guarded by lock */
	struct page_alloc_events events;      /* hits on the lists; guarded by lock */
} ____cacheline_aligned;

/*
 * Every PCP_POLL_TICKS operations on a per-CPU list, the CPU looks at its zone's page
 * reporting deadline: churn that never leaves the list still gives free memory back.
 */
#define PCP_POLL_TICKS 256

struct zone {
	/* Read-mostly, set at initialization. */
	int node;      /* this zone's node id, also its index */
	int phys_node; /* the real NUMA node its memory is bound to */
	enum zone_backing backing;
	int mempolicy; /* KMM_MPOL_* mode applied with mbind, or -1 */
	unsigned long zone_start_pfn;
	unsigned long spanned_pages;           /* the span: the node's memory */
	unsigned long hugetlb_end_pfn;         /* sections below are hugetlb-backed */
	struct per_cpu_pages *per_cpu_pageset; /* [nr_cpu_ids] */
	int nr_zonelist;
	struct zone *zonelist[MAX_NUMNODES]; /* fallback order, this zone first */

	/*
	 * Pages on their way between a per-CPU list and the free lists, on some thread's
	 * local list (page_alloc.c). Atomic; read by the exhaustion path.
	 */
	long nr_pages_in_transit;

	/* Allocations that fell back from (foreign) or to (miss) this zone; atomic. */
	unsigned long numa_miss;
	unsigned long numa_foreign;

	/* Serializes page reporting, which drops zone->lock around madvise. */
	kmm_lock_t *report_lock; /* fork_lock_alloc(), as lock */

	kmm_lock_t *lock;
	/* Everything below is guarded by lock. */
	struct free_area free_area[NR_PAGE_ORDERS] ____cacheline_aligned;
	unsigned long nr_free_pages;     /* pages in free_area, the kernel's NR_FREE_PAGES */
	unsigned long nr_reported_pages; /* of those, given back to the OS */
	unsigned long present_pages;     /* in online sections; read without the lock too */
	unsigned long section_hint;      /* no absent section of the zone lies below */
	unsigned long nr_section_events[NR_SECTION_EVENTS]; /* hot-adds, removes, holes */
	uint64_t next_report_ms;         /* when page reporting should look again */
	struct page_alloc_events events; /* what the per-CPU lists did not serve */
	uint64_t last_pcp_drain_ms;      /* guarded by report_lock, not lock */
};

extern struct zone *node_zones[MAX_NUMNODES];
extern int nr_online_nodes;
extern unsigned int nr_cpu_ids;

#define for_each_zone(zone, i)                 \
	for (int i = 0; i < MAX_NUMNODES; i++) \
		if (((zone) = node_zones[i]) != NULL)

static inline unsigned long zone_end_pfn(const struct zone *zone)
{
	return zone->zone_start_pfn + zone->spanned_pages;
}

static inline struct zone *page_zone(const struct page *page)
{
	return node_zones[page_to_nid(page)];
}

static inline bool zone_spans_pfn(const struct zone *zone, unsigned long pfn)
{
	return pfn - zone->zone_start_pfn < zone->spanned_pages;
}

#endif /* KMM_BUDDY_MMZONE_H */

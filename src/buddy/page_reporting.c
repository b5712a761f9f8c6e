/*
 * Giving free memory back to the OS (the kernel's mm/page_reporting.c, which reports
 * free pages to a hypervisor; kmm reports them to Linux with MADV_DONTNEED).
 *
 * Policy:
 *  - only blocks of order >= PAGE_REPORTING_ORDER (2 MiB) are given back, so a THP is
 *    dropped whole and never split; smaller free fragments stay resident until they
 *    merge into a 2 MiB block;
 *  - a block is given back once it has stayed free for KMM_DECAY_MS (default 1 s):
 *    a page fault costs about 1.5 µs, and a program that frees and allocates again
 *    within the decay pays none (DESIGN rule 8);
 *  - pages parked on per-CPU lists keep their 2 MiB blocks from merging, so a pass
 *    first drains the zone's per-CPU lists (at most once per decay period); a list
 *    flush schedules a pass for that reason. Freed memory is therefore resident for at
 *    most about two decay periods while the program keeps calling the allocator;
 *  - a section whose blocks are then all free and given back is hot-removed (sparse.c),
 *    so its address space goes back too;
 *  - hugetlb-backed blocks are never given back: the pool is reserved for this process
 *    anyway, and a private hugetlb page dropped with MADV_DONTNEED loses its
 *    reservation, so a later touch could fail with SIGBUS;
 *  - nothing runs on a timer: the allocator polls one global deadline where it takes
 *    the zone lock anyway (a per-CPU list refill or flush, a high-order free) and every
 *    PCP_POLL_TICKS operations on a per-CPU list, always after dropping its locks. A
 *    poll reads the coarse clock and one word. A process that stops calling the
 *    allocator keeps its free memory until it calls again (as jemalloc and mimalloc do
 *    without background threads); kmm starts no thread of its own for this, because a
 *    thread the program did not ask for breaks unshare(CLONE_NEWUSER) and surprises
 *    programs that count their threads.
 *
 * The madvise runs without zone->lock: up to REPORTING_CAPACITY blocks at a time are
 * taken off the free lists (isolated), given back, and put back flagged PG_reported at
 * the tail of their free lists. zone->report_lock keeps one reporter per zone and lets
 * fork wait for isolated blocks to come back; reporting_runner keeps one thread walking
 * the zones (see mmzone.h for the lock order).
 */
#include "../base/options.h"
#include "internal.h"
#include "page_alloc.h"
#include "sparse.h"

/* Blocks isolated per round, as the kernel's PAGE_REPORTING_CAPACITY. */
#define REPORTING_CAPACITY 32

/* Per-CPU lists are drained by reporting at most this often, whatever the decay. */
#define PCP_DRAIN_MIN_MS 100

uint64_t page_reporting_deadline = NO_REPORT_PENDING;

static kmm_lock_t *reporting_runner; /* fork_lock_alloc() */

/*
 * Take up to REPORTING_CAPACITY overdue blocks off the free lists onto @isolated, and
 * lower *@next to the deadline of the youngest resident block left behind. Called with
 * zone->lock held. Returns the number of blocks isolated.
 */
static int isolate_overdue(struct zone *zone, uint64_t now, uint64_t decay, bool force,
                           unsigned int min_order, struct list_head *isolated, uint64_t *next)
{
	int n = 0;

	for (unsigned int order = min_order; order < NR_PAGE_ORDERS; order++) {
		struct list_head *free_list = &zone->free_area[order].free_list;
		struct page *page, *tmp;

		list_for_each_entry_safe(page, tmp, free_list, buddy_list) {
			if (PageReported(page))
				break; /* the rest of the list is reported already */
			if (page_to_pfn(page) < zone->hugetlb_end_pfn)
				continue;
			if (!force && now - page->freed_at_ms < decay) {
				if (page->freed_at_ms + decay < *next)
					*next = page->freed_at_ms + decay;
				continue;
			}
			if (n == REPORTING_CAPACITY) {
				*next = now; /* more to do: come back at once */
				return n;
			}
			del_page_from_free_list(page, zone, order);
			page->order = order;
			list_add(&page->buddy_list, isolated);
			n++;
		}
	}
	return n;
}

/* Give isolated blocks back to the OS and return them to the free lists, reported. */
static unsigned long report_isolated(struct zone *zone, struct list_head *isolated, uint64_t now)
{
	unsigned long released = 0;
	struct page *page, *tmp;

	list_for_each_entry(page, isolated, buddy_list) {
		sparse_release_pages(page_to_pfn(page), 1UL << page->order);
		released += 1UL << page->order;
	}
	kmm_lock(zone->lock);
	list_for_each_entry_safe(page, tmp, isolated, buddy_list) {
		list_del(&page->buddy_list);
		__free_one_page(page, page_to_pfn(page), zone, page->order, now, true);
	}
	zone->events.pgreported += released;
	kmm_unlock(zone->lock);
	return released;
}

static unsigned long report_zone(struct zone *zone, bool force, unsigned int min_order)
{
	uint64_t decay = (uint64_t)kmm_option(OPT_DECAY_MS);
	unsigned long released = 0;
	uint64_t now;

	if (force)
		kmm_lock(zone->report_lock);
	else if (!kmm_trylock(zone->report_lock))
		return 0; /* another reporter is on it and will set the next deadline */

	now = os_now_ms();
	if (force || now - zone->last_pcp_drain_ms >= max_ul(decay, PCP_DRAIN_MIN_MS)) {
		zone->last_pcp_drain_ms = now;
		drain_zone_pages(zone);
	}
	for (;;) {
		uint64_t next = NO_REPORT_PENDING;
		struct list_head isolated;
		int n;

		INIT_LIST_HEAD(&isolated);
		kmm_lock(zone->lock);
		n = isolate_overdue(zone, now, decay, force, min_order, &isolated, &next);
		if (n == 0)
			zone_set_report_deadline(zone, next);
		kmm_unlock(zone->lock);
		if (n == 0)
			break;
		released += report_isolated(zone, &isolated, now);
	}
	kmm_unlock(zone->report_lock);
	/* A section given back whole holds only address space now: return that too. */
	if (released)
		zone_remove_free_sections(zone, true);
	return released;
}

unsigned long page_reporting_process(struct zone *zone, bool force)
{
	return report_zone(zone, force, PAGE_REPORTING_ORDER);
}

unsigned long release_free_pages(void)
{
	unsigned long released = 0;
	struct zone *zone;

	for_each_zone(zone, nid)
		released += report_zone(zone, true, 0);
	return released;
}

#define MAX_SHRINKERS 4

static shrinker_fn shrinkers[MAX_SHRINKERS];
static int nr_shrinkers;

/* At initialization, before any thread can poll. */
void register_shrinker(shrinker_fn fn)
{
	if (nr_shrinkers < MAX_SHRINKERS)
		shrinkers[nr_shrinkers++] = fn;
}

void drop_caches(void)
{
	uint64_t now = os_now_ms();

	for (int i = 0; i < nr_shrinkers; i++)
		page_reporting_lower_deadline(shrinkers[i](now, true));
	drain_all_pages();
	remove_free_sections(false);
}

void page_reporting_schedule(uint64_t when)
{
	page_reporting_lower_deadline(when);
}

int page_reporting_init(void)
{
	reporting_runner = fork_lock_alloc();
	return reporting_runner ? 0 : -1;
}

void page_reporting_run(uint64_t now)
{
	struct zone *zone;

	if (!kmm_trylock(reporting_runner))
		return;
	/*
	 * Start the global deadline afresh and let every zone lower it again: the ones
	 * processed here set their next deadline, the others contribute theirs. A zone that
	 * sets a deadline meanwhile lowers it itself after this reset.
	 */
	__atomic_store_n(&page_reporting_deadline, NO_REPORT_PENDING, __ATOMIC_RELAXED);
	for_each_zone(zone, nid) {
		uint64_t when = READ_ONCE(zone->next_report_ms);

		if (now >= when)
			page_reporting_process(zone, false);
		else
			page_reporting_lower_deadline(when);
	}
	for (int i = 0; i < nr_shrinkers; i++)
		page_reporting_lower_deadline(shrinkers[i](now, false));
	kmm_unlock(reporting_runner);
}

void page_reporting_fork_prepare(void)
{
	kmm_lock(reporting_runner);
}

void page_reporting_fork_parent(void)
{
	kmm_unlock(reporting_runner);
}

void page_reporting_fork_child(void)
{
	if (!fork_locks_wiped)
		kmm_lock_reinit(reporting_runner);
}

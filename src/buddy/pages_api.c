/*
 * The exported page allocator API (include/kmm/kmm.h): argument checking, errno, and
 * the misuse reports. The allocator itself is page_alloc.c.
 */
#include <errno.h>

#include <kmm/kmm.h>

#include "../base/printk.h"
#include "../init.h"
#include "page_alloc.h"
#include "topology.h"

_Static_assert(KMM_MAX_PAGE_ORDER == MAX_PAGE_ORDER, "kmm.h and mmzone.h disagree");
_Static_assert(KMM_PAGE_SIZE == PAGE_SIZE, "kmm.h and os.h disagree");

KMM_EXPORT void *kmm_alloc_pages_node(int nid, unsigned int order)
{
	struct page *page;

	if (unlikely(order > MAX_PAGE_ORDER)) {
		errno = EINVAL;
		return NULL;
	}
	if (unlikely(!kmm_ensure_init())) {
		errno = ENOMEM;
		return NULL;
	}
	if (nid == NUMA_NO_NODE) {
		nid = numa_node_id();
	} else if (unlikely(nid < 0 || nid >= MAX_NUMNODES || !node_zones[nid])) {
		errno = EINVAL;
		return NULL;
	}
	page = __alloc_pages(order, nid);
	if (unlikely(!page)) {
		errno = ENOMEM;
		return NULL;
	}
	return page_address(page);
}

KMM_EXPORT void *kmm_alloc_pages(unsigned int order)
{
	return kmm_alloc_pages_node(NUMA_NO_NODE, order);
}

static struct zone *zone_of_pfn(unsigned long pfn)
{
	struct zone *zone;

	for_each_zone(zone, nid)
		if (zone_spans_pfn(zone, pfn))
			return zone;
	return NULL;
}

/* Whether @addr lies in a section that a zone has hot-added. */
static bool addr_in_service(const void *addr)
{
	return kmm_init_state == KMM_READY && virt_addr_valid(addr);
}

/*
 * Catch what would otherwise corrupt the free lists: a foreign pointer, a pointer into
 * the middle of a block, a block already free, a wrong order.
 */
static struct page *page_to_free_checked(void *addr, unsigned int order)
{
	struct page *page;

	if (unlikely(!addr_in_service(addr)))
		kmm_bug("kmm_free_pages(): invalid pointer %p (not memory from kmm)", addr);
	if (unlikely(order > MAX_PAGE_ORDER))
		kmm_bug("kmm_free_pages(): order %u is past the largest order %d (pointer %p)",
		        order, MAX_PAGE_ORDER, addr);
	page = virt_to_page(addr);
	if (unlikely(((uintptr_t)addr & (PAGE_SIZE - 1)) || page_ref_count(page) != 1 ||
	             PageBuddy(page)))
		kmm_bug("kmm_free_pages(): invalid pointer %p (double free, or not the start of "
		        "an allocated block)",
		        addr);
	if (unlikely(page->order != order))
		kmm_bug("kmm_free_pages(): pointer %p was allocated with order %u, freed with "
		        "order %u",
		        addr, page->order, order);
	return page;
}

KMM_EXPORT void kmm_free_pages(void *addr, unsigned int order)
{
	if (unlikely(!addr))
		return;
	__free_pages(page_to_free_checked(addr, order), order);
}

KMM_EXPORT int kmm_page_to_nid(const void *addr)
{
	struct zone *zone;

	if (kmm_init_state != KMM_READY || !virt_addr_valid(addr))
		return -1;
	zone = zone_of_pfn(virt_to_pfn(addr));
	return zone ? zone->node : -1;
}

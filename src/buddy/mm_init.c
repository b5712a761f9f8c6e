/*
 * Physical memory setup; see mm_init.h.
 *
 * Layout: kmm chooses, at a random place high in the address space, one range for the
 * physical address space (every zone's span, back to back, each a whole number of
 * sections), one for mem_map, which describes it, and one for the vmalloc area:
 *
 *   kmm_phys_base                        mem_map                   vmalloc_start
 *   | zone 0 span | zone 1 span | ... |  | descriptors |  ...      | vmalloc window |
 *
 * None of it is reserved: a zone maps a section of its span, and that section's part of
 * mem_map, when it hot-adds it (sparse.c). The kernel places mmap below the stack,
 * tens of TiB above these ranges, so other mappings land in them only by MAP_FIXED,
 * and a section whose range is taken is skipped as a hole.
 */
#include "mm_init.h"

#include <string.h>

#include "../base/options.h"
#include "../base/printk.h"
#include "internal.h"
#include "sparse.h"
#include "topology.h"

#define HUGETLB_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB"

char *kmm_phys_base;
unsigned long kmm_max_pfn;
struct page *mem_map;
struct zone *node_zones[MAX_NUMNODES];
int nr_online_nodes;
unsigned int nr_cpu_ids;

static struct zone zone_storage[MAX_NUMNODES];

const char *zone_backing_name(enum zone_backing backing)
{
	switch (backing) {
	case ZONE_BACKING_THP:
		return kmm_option(OPT_THP) == THP_ON ? "thp" : "4k pages";
	case ZONE_BACKING_HUGETLB:
		return "hugetlb";
	case ZONE_BACKING_MIXED:
		return "hugetlb+thp";
	}
	return "?";
}

static bool read_ulong_file(const char *path, unsigned long *value)
{
	char buf[64];

	if (os_read_file(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
		return false;
	*value = 0;
	for (const char *p = buf; *p >= '0' && *p <= '9'; p++)
		*value = *value * 10 + (unsigned long)(*p - '0');
	return true;
}

/*
 * 2 MiB hugetlb pages this process could reserve on @phys_node now: the node's free
 * pages, capped by the pool's free pages not yet promised to other mappings.
 */
static unsigned long hugetlb_pages_available(int phys_node)
{
	char path[160];
	unsigned long global_free = 0, global_resv = 0, node_free;

	read_ulong_file(HUGETLB_SYSFS "/free_hugepages", &global_free);
	read_ulong_file(HUGETLB_SYSFS "/resv_hugepages", &global_resv);
	global_free = global_free > global_resv ? global_free - global_resv : 0;
	kmm_snprintf(path, sizeof(path),
	             "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages",
	             phys_node);
	if (!read_ulong_file(path, &node_free))
		node_free = global_free;
	return min_ul(node_free, global_free);
}

/* Zone sizes in sections; 0 for nodes without a zone. */
static void plan_zone_sizes(unsigned long sections[MAX_NUMNODES])
{
	unsigned long fixed = (unsigned long)kmm_option(OPT_ZONE_SIZE);

	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++) {
		unsigned long bytes;

		sections[nid] = 0;
		if (!((numa_topology.node_has_memory >> nid) & 1))
			continue;
		bytes = fixed ? fixed : numa_topology.node_bytes[nid];
		sections[nid] = max_ul(ALIGN_UP(bytes, SECTION_BYTES) / SECTION_BYTES, 1);
	}
}

/* Where kmm's ranges may start: far below where the kernel puts mmap and the stack. */
#define LAYOUT_LOW   (16UL << 40)
#define LAYOUT_HIGH  (64UL << 40)
#define LAYOUT_ALIGN (1UL << 30)

void *kmm_layout_end;

/*
 * Choose the physical address space and mem_map for @total sections, and leave
 * kmm_layout_end after them for the vmalloc window. A random place, as mmap's own, so
 * heap addresses differ from run to run.
 */
static int plan_physical_layout(unsigned long total, size_t vmalloc_room)
{
	size_t phys = total << SECTION_SIZE_BITS;
	size_t map = ALIGN_UP((total << PFN_SECTION_SHIFT) * sizeof(struct page), LAYOUT_ALIGN);
	size_t bytes = phys + map + vmalloc_room + 2 * LAYOUT_ALIGN;
	uint64_t random = 0;
	uintptr_t base = LAYOUT_LOW;

	mem_section = os_map(ALIGN_UP(total * sizeof(struct mem_section), PAGE_SIZE));
	if (!mem_section)
		return -1;
	if (os_random(&random, sizeof(random)) != 0)
		random = __builtin_ia32_rdtsc();
	if (bytes < LAYOUT_HIGH - LAYOUT_LOW)
		base += (random % ((LAYOUT_HIGH - LAYOUT_LOW - bytes) / LAYOUT_ALIGN)) *
		        LAYOUT_ALIGN;
	kmm_phys_base = (char *)base;
	kmm_max_pfn = total << PFN_SECTION_SHIFT;
	mem_map = (struct page *)(kmm_phys_base + phys + LAYOUT_ALIGN);
	kmm_layout_end = (char *)mem_map + map + LAYOUT_ALIGN;
	return sparse_init(total);
}

/*
 * How much of the zone, from its start, hot-adds its sections from the hugetlb pool
 * where the policy allows and the pool has pages; the rest is THP.
 */
static unsigned long plan_hugetlb(struct zone *zone, unsigned long bytes)
{
	long mode = kmm_option(OPT_HUGETLB);
	unsigned long pages, want;

	if (mode == HUGETLB_OFF)
		return 0;
	pages = hugetlb_pages_available(zone->phys_node);
	want = min_ul(pages * HPAGE_SIZE, bytes);
	/*
	 * A private hugetlb page shared with a fork child after fork needs a free page from
	 * the pool when either side writes it; with none, the kernel raises SIGBUS. auto
	 * therefore takes the pool only when as much again stays free for copy-on-write,
	 * and only for the whole zone. on takes what there is, as asked.
	 */
	if (mode == HUGETLB_AUTO && (pages * HPAGE_SIZE < 2 * bytes))
		want = 0;
	want = ALIGN_DOWN(want, SECTION_BYTES);
	if (mode == HUGETLB_ON && want < bytes)
		kmm_printk("KMM_HUGETLB=on: node %d has %lu free 2 MiB hugetlb pages for a %lu MiB "
		           "zone; zone %d uses hugetlb for %lu MiB and THP for the rest",
		           zone->phys_node, pages, bytes >> 20, zone->node, want >> 20);
	return want;
}

/*
 * A range policy from mbind overrides the process's policy, so when the program runs
 * under one (numactl --membind, --interleave, --preferred), kmm leaves its memory to it.
 */
static int zone_mempolicy(void)
{
	static const int modes[] = {
	        [MBIND_BIND] = KMM_MPOL_BIND, [MBIND_PREFERRED] = KMM_MPOL_PREFERRED};
	long policy = kmm_option(OPT_MBIND);

	if (policy == MBIND_OFF || os_process_mempolicy() != KMM_MPOL_DEFAULT)
		return -1;
	return modes[policy];
}

/*
 * The kernel's zone_batchsize(): about a quarter of a MiB per batch on a big zone,
 * rounded to 2^n - 1 pages so that batches do not line up with cache colours.
 */
static int zone_batchsize(const struct zone *zone)
{
	unsigned long batch = min_ul(zone->spanned_pages / 1024, (1UL << 20) / PAGE_SIZE) / 4;

	batch = batch + batch / 2;
	if (batch < 2)
		return 1;
	return (int)((1UL << (63 - __builtin_clzl(batch))) - 1);
}

/* The zones' and their per-CPU lists' locks: fork takes them all (lock.h). */
static int alloc_zone_locks(void)
{
	struct zone *zone;

	for_each_zone(zone, nid) {
		zone->lock = fork_lock_alloc();
		zone->report_lock = fork_lock_alloc();
		if (!zone->lock || !zone->report_lock)
			return -1;
		for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++) {
			zone->per_cpu_pageset[cpu].lock = fork_lock_alloc();
			if (!zone->per_cpu_pageset[cpu].lock)
				return -1;
		}
	}
	return 0;
}

static int setup_pagesets(void)
{
	size_t per_zone = nr_cpu_ids * sizeof(struct per_cpu_pages);
	struct per_cpu_pages *all;
	struct zone *zone;
	int zones = 0;

	for_each_zone(zone, nid)
		zones++;
	all = os_map(per_zone * (size_t)zones);
	if (!all)
		return -1;
	for_each_zone(zone, nid) {
		int batch = zone_batchsize(zone);

		zone->per_cpu_pageset = all;
		for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++) {
			struct per_cpu_pages *pcp = &all[cpu];

			pcp->batch = batch;
			pcp->high = 6 * batch;
			for (int i = 0; i < NR_PCP_LISTS; i++)
				INIT_LIST_HEAD(&pcp->lists[i]);
		}
		all += nr_cpu_ids;
	}
	return 0;
}

/*
 * The kernel's build_zonelists(): every zone ordered by distance from @zone, ties
 * broken by the next node id after it, so that equally near nodes share the overflow
 * of different nodes instead of all spilling onto the lowest id.
 */
static void build_zonelist(struct zone *zone)
{
	int n = 0;
	struct zone *other;

	for_each_zone(other, nid)
		zone->zonelist[n++] = other;
	for (int i = 1; i < n; i++) {
		for (int j = i; j > 0; j--) {
			struct zone *a = zone->zonelist[j - 1], *b = zone->zonelist[j];
			int da = node_distance(zone->node, a->node);
			int db = node_distance(zone->node, b->node);
			int ra = (a->node - zone->node + MAX_NUMNODES) % MAX_NUMNODES;
			int rb = (b->node - zone->node + MAX_NUMNODES) % MAX_NUMNODES;

			if (da < db || (da == db && ra <= rb))
				break;
			zone->zonelist[j - 1] = b;
			zone->zonelist[j] = a;
		}
	}
	zone->nr_zonelist = n;
}

static void init_zone(struct zone *zone, int nid, unsigned long start_pfn, unsigned long pages)
{
	unsigned long bytes = pages << PAGE_SHIFT;
	unsigned long hugetlb_bytes;

	memset(zone, 0, sizeof(*zone));
	zone->node = nid;
	zone->phys_node = numa_topology.phys_node[nid];
	zone->zone_start_pfn = start_pfn;
	zone->spanned_pages = pages;
	zone->section_hint = pfn_to_section_nr(start_pfn);
	zone->next_report_ms = NO_REPORT_PENDING;
	zone->mempolicy = zone_mempolicy();
	for (int order = 0; order < NR_PAGE_ORDERS; order++)
		INIT_LIST_HEAD(&zone->free_area[order].free_list);
	for (unsigned long nr = pfn_to_section_nr(start_pfn);
	     nr < pfn_to_section_nr(start_pfn + pages); nr++)
		mem_section[nr].nid = (uint8_t)nid;

	hugetlb_bytes = plan_hugetlb(zone, bytes);
	zone->hugetlb_end_pfn = start_pfn + (hugetlb_bytes >> PAGE_SHIFT);
	zone->backing = hugetlb_bytes == 0       ? ZONE_BACKING_THP
	                : hugetlb_bytes == bytes ? ZONE_BACKING_HUGETLB
	                                         : ZONE_BACKING_MIXED;
	node_zones[nid] = zone;
}

static const char *zone_policy_name(const struct zone *zone)
{
	if (zone->mempolicy == KMM_MPOL_BIND)
		return "bind";
	if (zone->mempolicy == KMM_MPOL_PREFERRED)
		return "preferred";
	if (os_process_mempolicy() != KMM_MPOL_DEFAULT)
		return "off (the process has a policy)";
	return "off";
}

static void report_zones(void)
{
	struct zone *zone;
	char where[48];

	for_each_zone(zone, nid) {
		if (numa_topology.fake)
			kmm_snprintf(where, sizeof(where), "fake node %d on node %d", zone->node,
			             zone->phys_node);
		else
			kmm_snprintf(where, sizeof(where), "node %d", zone->node);
		kmm_printk("zone %d: %s, spans %lu MiB at %p in %lu MiB sections, backing %s, "
		           "mbind %s, pcp batch %d high %d",
		           zone->node, where, zone->spanned_pages >> (20 - PAGE_SHIFT),
		           page_address(pfn_to_page(zone->zone_start_pfn)), SECTION_BYTES >> 20,
		           zone_backing_name(zone->backing), zone_policy_name(zone),
		           zone->per_cpu_pageset[0].batch, zone->per_cpu_pageset[0].high);
	}
}

int mm_init(void)
{
	unsigned long sections[MAX_NUMNODES], pfn = 0, total = 0;
	struct zone *zone;

	nr_cpu_ids = os_nr_possible_cpus();
	numa_topology_init();
	plan_zone_sizes(sections);
	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++)
		total += sections[nid];
	/* The vmalloc window: as large as physical memory, at least 256 MiB. */
	if (plan_physical_layout(total, max_ul(total << SECTION_SIZE_BITS, 256UL << 20)) != 0)
		return -1;
	nr_online_nodes = 0;
	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++) {
		if (!sections[nid])
			continue;
		init_zone(&zone_storage[nid], nid, pfn, sections[nid] << PFN_SECTION_SHIFT);
		pfn += sections[nid] << PFN_SECTION_SHIFT;
		nr_online_nodes++;
	}
	if (setup_pagesets() != 0 || alloc_zone_locks() != 0 || page_reporting_init() != 0)
		return -1;
	for_each_zone(zone, nid)
		build_zonelist(zone);
	if (kmm_option(OPT_VERBOSE))
		report_zones();
	return 0;
}

/*
 * Memory hotplug: a zone holds only the sections it has hot-added, so the address space
 * and descriptor memory a process holds follow what it uses. With KMM_NUMA_FAKE=1
 * KMM_ZONE_SIZE=8G:
 *  - after initialization and one page, VmSize has grown by one 2 MiB subsection of
 *    frames and its section's descriptors plus kmm's tables, not by the zone's 8 GiB,
 *    and the rest of the section's frames are not mapped;
 *  - 256 MiB of max-order blocks bring in 16 or 17 sections, and mem_map grows by the
 *    descriptors actually written;
 *  - freed and given back, every section is hot-removed and VmSize is back;
 *  - a section whose range another mapping holds becomes a hole, the zone goes on past
 *    it, and the other mapping keeps its contents;
 *  - another mapping in a subsection of an online section that kmm has not mapped yet
 *    is never handed out, given back to the OS or unmapped by kmm;
 *  - random allocations and frees with sections removed at random points keep every
 *    invariant of the buddy allocator across section boundaries (checked against a
 *    model of which pages are allocated).
 */
#include "../buddy_test.h"

#include <stdint.h>
#include <sys/mman.h>

#include "buddy/internal.h"
#include "buddy/page.h"
#include "buddy/sparse.h"

#define MiB (1024L * 1024)

static long vm_size_kb(void)
{
	return proc_status_kb("VmSize:");
}

static unsigned long online_sections(const struct zone *zone)
{
	return zone->present_pages / PAGES_PER_SECTION;
}

static bool mapped(const void *addr, size_t len)
{
	unsigned char vec[1024];

	return len <= sizeof(vec) * PAGE_SIZE && mincore((void *)addr, len, vec) == 0;
}

static void give_everything_back(void)
{
	drain_all_pages();
	page_reporting_process(node_zones[0], true);
	remove_free_sections(false);
}

static void test_vm_size(long before_kb)
{
	enum { BLOCKS = 64 }; /* 256 MiB */
	struct zone *zone = node_zones[0];
	void *blocks[BLOCKS];
	long one_kb, many_kb, after_kb;
	char rss[256];

	blocks[0] = kmm_alloc_pages(0);
	CHECK(blocks[0] != NULL, "one page from an 8 GiB zone");
	one_kb = vm_size_kb() - before_kb;
	CHECK(online_sections(zone) == 1, "after one page: expected 1 section online, got %lu",
	      online_sections(zone));
	/* One 2 MiB subsection, 256 KiB of descriptors, the per-CPU and vmalloc tables. */
	CHECK(one_kb <= 4 * 1024,
	      "after one page: expected VmSize to grow by at most 4 MiB, got %ld kB", one_kb);
	CHECK(mapped(kmm_phys_base, PAGES_PER_SUBSECTION * PAGE_SIZE) &&
	              !mapped(kmm_phys_base + (PAGES_PER_SUBSECTION << PAGE_SHIFT), PAGE_SIZE),
	      "after one page: expected the first subsection's frames mapped and the next "
	      "one's not");
	smaps_line(mem_map, "Rss:", rss, sizeof(rss));
	CHECK(rss[0] && strtol(rss + 4, NULL, 10) <= 64,
	      "after one page: expected at most 64 kB of mem_map resident, got %s", rss);

	for (int i = 1; i < BLOCKS; i++) {
		blocks[i] = kmm_alloc_pages(MAX_PAGE_ORDER);
		CHECK(blocks[i] != NULL, "max-order block %d of 63", i);
	}
	many_kb = vm_size_kb() - before_kb;
	CHECK(online_sections(zone) == 16 || online_sections(zone) == 17,
	      "after 256 MiB: expected 16-17 sections online, got %lu", online_sections(zone));
	CHECK(many_kb >= 256 * 1024 && many_kb <= 300 * 1024,
	      "after 256 MiB: expected VmSize to grow by 256-300 MiB, got %ld kB", many_kb);
	check_zones_consistent();

	kmm_free_pages(blocks[0], 0);
	for (int i = 1; i < BLOCKS; i++)
		kmm_free_pages(blocks[i], MAX_PAGE_ORDER);
	give_everything_back();
	after_kb = vm_size_kb() - before_kb;
	CHECK(online_sections(zone) == 0,
	      "all freed and given back: expected no section online, "
	      "got %lu",
	      online_sections(zone));
	CHECK(after_kb <= 4 * 1024,
	      "all freed and given back: expected VmSize within 4 MiB of the start, got +%ld kB",
	      after_kb);
	CHECK(!virt_addr_valid(blocks[1]), "a removed section's address is no longer valid");
	check_zones_consistent();
	printf("sections: VmSize +%ld kB after one page, +%ld kB after 256 MiB, +%ld kB after "
	       "giving it back\n",
	       one_kb, many_kb, after_kb);
}

/*
 * Another mapping in the second subsection of the zone's first section, which kmm maps
 * only when it hands out a block there: a free block that merges over it is given back
 * to the OS around it, the blocks it covers become a hole, and nothing kmm does
 * (allocation, page reporting, hot-removal) touches the other mapping.
 */
static void test_subsection_hole(void)
{
	struct zone *zone = node_zones[0];
	char *second = kmm_phys_base + (PAGES_PER_SUBSECTION << PAGE_SHIFT), *foreign, *first;
	unsigned long holes = zone->nr_section_events[SECTION_HOLES];
	enum { BLOCKS = 64 }; /* order 6: the section's 16 MiB */
	void *blocks[BLOCKS];

	CHECK(online_sections(zone) == 0, "expected no section online, got %lu",
	      online_sections(zone));
	foreign = mmap(second, PAGE_SIZE, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(foreign == second, "mmap in the second subsection: %s", strerror(errno));
	memset(foreign, 0x6b, PAGE_SIZE);

	/* The first subsection, written and freed: it merges with its free buddy over ours. */
	first = kmm_alloc_pages(MAX_PAGE_ORDER - 1);
	CHECK(first == kmm_phys_base, "expected the zone's first block at %p, got %p",
	      (void *)kmm_phys_base, (void *)first);
	memset(first, 0x22, PAGES_PER_SUBSECTION << PAGE_SHIFT);
	kmm_free_pages(first, MAX_PAGE_ORDER - 1);
	page_reporting_process(zone, true);
	CHECK(!mapped(first, PAGE_SIZE) || first[0] == 0,
	      "the first subsection was not given back");

	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = kmm_alloc_pages(6);
		CHECK(blocks[i] != NULL, "order-6 block %d with another mapping in the section", i);
		CHECK((char *)blocks[i] + (PAGE_SIZE << 6) <= second ||
		              (char *)blocks[i] >= second + (PAGES_PER_SUBSECTION << PAGE_SHIFT),
		      "block %p lies in the subsection another mapping holds (%p)", blocks[i],
		      (void *)second);
		memset(blocks[i], 0x11, PAGE_SIZE << 6);
	}
	CHECK(zone->nr_section_events[SECTION_HOLES] > holes,
	      "expected the subsection another mapping holds to count as a hole");
	for (int i = 0; i < BLOCKS; i++)
		kmm_free_pages(blocks[i], 6);
	give_everything_back();
	CHECK(mapped(foreign, PAGE_SIZE), "the other mapping was unmapped");
	for (int i = 0; i < (int)PAGE_SIZE; i++)
		CHECK(foreign[i] == 0x6b, "the other mapping's byte %d changed: %#x", i,
		      (unsigned char)foreign[i]);
	munmap(foreign, PAGE_SIZE);
	printf("sections: another mapping in an unmapped subsection was never touched\n");
}

/* Another mapping where the zone's second section would go: the zone skips it. */
static void test_hole(void)
{
	struct zone *zone = node_zones[0];
	char *second = kmm_phys_base + SECTION_BYTES;
	char *foreign = mmap(second, PAGE_SIZE, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	enum { BLOCKS = 8 }; /* two sections' worth */
	void *blocks[BLOCKS];

	CHECK(foreign == second, "mmap at the second section: %s", strerror(errno));
	memset(foreign, 0x5a, PAGE_SIZE);
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = kmm_alloc_pages(MAX_PAGE_ORDER);
		CHECK(blocks[i] != NULL, "block %d with a hole in the zone", i);
		CHECK((char *)blocks[i] < second || (char *)blocks[i] >= second + SECTION_BYTES,
		      "block %p lies in the hole at %p", blocks[i], (void *)second);
	}
	CHECK_EQ(SECTION_HOLE, mem_section[1].state);
	CHECK_EQ(1, zone->nr_section_events[SECTION_HOLES]);
	for (int i = 0; i < (int)PAGE_SIZE; i++)
		CHECK(foreign[i] == 0x5a, "the other mapping's byte %d changed: %#x", i,
		      (unsigned char)foreign[i]);
	check_zones_consistent();
	for (int i = 0; i < BLOCKS; i++)
		kmm_free_pages(blocks[i], MAX_PAGE_ORDER);
	give_everything_back();
	munmap(foreign, PAGE_SIZE);
	printf("sections: a foreign mapping in the zone's range became a hole and kept its "
	       "bytes\n");
}

/*
 * A random walk: allocations of every order, frees, and sections hot-removed at random
 * points, against a model of which pages are allocated. Every block lies in one online
 * section, no two overlap, their contents survive, and the zone verifies.
 */
static void test_random_model(void)
{
	enum { LIVE = 48, STEPS = 40000 };
	static struct {
		char *addr;
		unsigned int order;
	} live[LIVE];
	unsigned char *owner = calloc(kmm_max_pfn, 1);
	unsigned int seed = 12345;
	unsigned long removed = 0;

	CHECK(owner != NULL, "model");
	for (int step = 0; step < STEPS; step++) {
		int i = rand_r(&seed) % LIVE;
		int r = rand_r(&seed) % 1000;

		if (live[i].addr) {
			unsigned long pfn = virt_to_pfn(live[i].addr);

			CHECK(live[i].addr[0] == (char)i, "block %p lost its first byte",
			      (void *)live[i].addr);
			for (unsigned long p = pfn; p < pfn + (1UL << live[i].order); p++)
				owner[p] = 0;
			kmm_free_pages(live[i].addr, live[i].order);
			live[i].addr = NULL;
		} else {
			/* Mostly small orders, sometimes whole blocks, as programs do. */
			unsigned int order = r < 700 ? (unsigned)r % 4 : (unsigned)r % 11;
			char *p = kmm_alloc_pages(order);
			unsigned long pfn;

			if (!p)
				continue;
			pfn = virt_to_pfn(p);
			CHECK(pfn_valid(pfn) && pfn_valid(pfn + (1UL << order) - 1) &&
			              pfn_to_section_nr(pfn) ==
			                      pfn_to_section_nr(pfn + (1UL << order) - 1),
			      "order-%u block at pfn %lu is not inside one online section", order,
			      pfn);
			for (unsigned long q = pfn; q < pfn + (1UL << order); q++) {
				CHECK(!owner[q], "pfn %lu handed out twice (order %u)", q, order);
				owner[q] = 1;
			}
			p[0] = (char)i;
			live[i].addr = p;
			live[i].order = order;
		}
		if (r >= 990) {
			drain_all_pages();
			removed += remove_free_sections(rand_r(&seed) % 2);
			check_zones_consistent();
		}
	}
	for (int i = 0; i < LIVE; i++)
		if (live[i].addr)
			kmm_free_pages(live[i].addr, live[i].order);
	give_everything_back();
	check_zones_consistent();
	CHECK(node_zones[0]->present_pages == 0,
	      "everything freed: expected no section online, got %lu pages present",
	      node_zones[0]->present_pages);
	free(owner);
	printf("sections: %d random steps, %lu sections hot-removed on the way, invariants "
	       "held\n",
	       STEPS, removed);
}

int main(void)
{
	long before_kb = vm_size_kb();

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	CHECK_EQ(8UL << 30 >> PAGE_SHIFT, node_zones[0]->spanned_pages);
	test_vm_size(before_kb);
	test_hole();
	test_random_model();
	test_subsection_hole(); /* last: the hole's blocks keep the section online for good */
	return 0;
}

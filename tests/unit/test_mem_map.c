/*
 * Descriptor memory is paid for frames in use only: with a zone of several GiB, using a
 * few MiB touches a few pages of mem_map, and using more grows it by 1/64 of what is
 * used (64-byte descriptors per 4 KiB frame). Run with KMM_NUMA_FAKE=1 KMM_ZONE_SIZE=8G.
 */
#include "../buddy_test.h"

#include <stdint.h>

#include "buddy/page.h"

/* Rss of the mapping that contains @addr, in kB. */
static long mapping_rss_kb(const void *addr)
{
	char line[256];

	smaps_line(addr, "Rss:", line, sizeof(line));
	return line[0] ? strtol(line + 4, NULL, 10) : -1;
}

int main(void)
{
	enum { BLOCKS = 64 }; /* 256 MiB */
	void *blocks[BLOCKS];
	long one_block_kb, many_kb;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	CHECK_EQ(8UL << 30 >> PAGE_SHIFT, node_zones[0]->spanned_pages);

	blocks[0] = kmm_alloc_pages(0);
	one_block_kb = mapping_rss_kb(mem_map);
	/* One 4 MiB block's descriptors: 64 KiB. Not the 128 MiB of the whole zone. */
	CHECK(one_block_kb >= 64 && one_block_kb <= 128,
	      "after one page: expected 64-128 kB of mem_map resident, got %ld kB", one_block_kb);

	for (int i = 1; i < BLOCKS; i++)
		blocks[i] = kmm_alloc_pages(MAX_PAGE_ORDER);
	many_kb = mapping_rss_kb(mem_map);
	/* 64 blocks in service (the first one split for the page): 64 x 64 KiB. */
	CHECK(many_kb >= 64 * 64 && many_kb <= 66 * 64,
	      "after 256 MiB: expected about 4160 kB of mem_map resident, got %ld kB", many_kb);
	/* The frames nobody touched cost nothing either. */
	CHECK(mapping_rss_kb(kmm_phys_base) <= 4096,
	      "untouched blocks should not be resident, got %ld kB", mapping_rss_kb(kmm_phys_base));

	kmm_free_pages(blocks[0], 0);
	for (int i = 1; i < BLOCKS; i++)
		kmm_free_pages(blocks[i], MAX_PAGE_ORDER);
	check_fully_merged();
	printf("mem_map: %ld kB for one page, %ld kB for 256 MiB of an 8 GiB zone\n", one_block_kb,
	       many_kb);
	return 0;
}

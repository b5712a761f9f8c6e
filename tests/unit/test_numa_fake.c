/*
 * Fake NUMA: KMM_NUMA_FAKE=4 KMM_ZONE_SIZE=16M gives four zones on a one-node machine.
 * Allocation prefers the calling CPU's node and falls back to the nearest other zone
 * (the zonelist) when the local one is exhausted.
 */
#include "../buddy_test.h"

#include <sched.h>

#include "buddy/topology.h"

static void check_zonelist(int nid, const int *expected)
{
	struct zone *zone = node_zones[nid];

	CHECK_EQ(4, zone->nr_zonelist);
	for (int i = 0; i < 4; i++)
		CHECK(zone->zonelist[i]->node == expected[i],
		      "zonelist of node %d, position %d: expected node %d, got node %d", nid, i,
		      expected[i], zone->zonelist[i]->node);
}

static void test_topology(void)
{
	static const int lists[4][4] = {{0, 1, 2, 3}, {1, 2, 0, 3}, {2, 3, 1, 0}, {3, 2, 1, 0}};

	CHECK_EQ(4, nr_online_nodes);
	CHECK(numa_topology.fake, "topology should be marked fake");
	for (int nid = 0; nid < 4; nid++) {
		CHECK(node_zones[nid] != NULL, "node %d has no zone", nid);
		CHECK_EQ(4096, node_zones[nid]->spanned_pages);
		check_zonelist(nid, lists[nid]);
	}
	CHECK_EQ(10, node_distance(1, 1));
	CHECK_EQ(20, node_distance(1, 2));
	CHECK_EQ(30, node_distance(0, 2));
	CHECK_EQ(40, node_distance(0, 3));
	/* CPUs are dealt round-robin to the fake nodes. */
	CHECK_EQ(0, cpu_to_node_map[0]);
	CHECK_EQ(1, cpu_to_node_map[1]);
}

static void test_local_preference(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	for (int cpu = 0; cpu < ncpu && cpu < 4; cpu++) {
		void *p;

		pin_to_cpu(cpu);
		p = kmm_alloc_pages(0);
		CHECK(p != NULL, "allocation on cpu %d failed", cpu);
		CHECK(kmm_page_to_nid(p) == cpu % 4, "on cpu %d: expected node %d, got node %d",
		      cpu, cpu % 4, kmm_page_to_nid(p));
		kmm_free_pages(p, 0);
	}
	for (int nid = 0; nid < 4; nid++) {
		void *p = kmm_alloc_pages_node(nid, 3);

		CHECK(p && kmm_page_to_nid(p) == nid, "kmm_alloc_pages_node(%d): got node %d", nid,
		      p ? kmm_page_to_nid(p) : -1);
		kmm_free_pages(p, 3);
	}
	errno = 0;
	CHECK(kmm_alloc_pages_node(4, 0) == NULL && errno == EINVAL,
	      "node 4 does not exist: expected NULL+EINVAL, got errno %d", errno);
	errno = 0;
	CHECK(kmm_alloc_pages_node(-2, 0) == NULL && errno == EINVAL,
	      "node -2: expected NULL+EINVAL, got errno %d", errno);
}

/* From node 0, the order of exhaustion must follow node 0's zonelist: 0, 1, 2, 3. */
static void test_fallback_order(void)
{
	static void *blocks[64];
	int n = 0;

	/* Pages parked on per-CPU lists would make a zone look smaller than it is. */
	drain_all_pages();
	pin_to_cpu(0);
	for (int expect = 0; expect < 4; expect++) {
		for (int i = 0; i < 4; i++, n++) {
			blocks[n] = kmm_alloc_pages(MAX_PAGE_ORDER);
			CHECK(blocks[n] != NULL, "block %d: %s", n, strerror(errno));
			CHECK(kmm_page_to_nid(blocks[n]) == expect,
			      "block %d from cpu 0: expected node %d (zonelist order), got node %d",
			      n, expect, kmm_page_to_nid(blocks[n]));
		}
	}
	errno = 0;
	CHECK(kmm_alloc_pages(MAX_PAGE_ORDER) == NULL && errno == ENOMEM,
	      "all four zones are full: expected ENOMEM, got errno %d", errno);
	/* Free one block on node 2: node 0's next allocation finds it there. */
	kmm_free_pages(blocks[9], MAX_PAGE_ORDER);
	blocks[9] = kmm_alloc_pages(MAX_PAGE_ORDER);
	CHECK(blocks[9] && kmm_page_to_nid(blocks[9]) == 2, "expected the freed node 2 block");
	for (int i = 0; i < n; i++)
		kmm_free_pages(blocks[i], MAX_PAGE_ORDER);
	check_fully_merged();
}

int main(void)
{
	CHECK(kmm_ensure_init(), "kmm did not initialize");
	test_topology();
	test_local_preference();
	test_fallback_order();
	printf("numa fake: passed\n");
	return 0;
}

/*
 * Every zone's memory carries the NUMA policy kmm set with mbind, read back with
 * get_mempolicy. The expected mode is the first argument: bind, preferred or off
 * (run with the matching KMM_MBIND). With --under-process-policy the test sets a
 * process policy (as numactl would) and runs itself again: kmm must then leave its
 * zones without a policy of their own, so the process policy governs them.
 */
#include "../buddy_test.h"

#include <sys/syscall.h>

#include "base/os.h"
#include "buddy/topology.h"

static int policy_of(void *addr, unsigned long *mask)
{
	int mode = -1;

	*mask = 0;
	CHECK(syscall(SYS_get_mempolicy, &mode, mask, 64, addr, KMM_MPOL_F_ADDR) == 0,
	      "get_mempolicy(%p): %s", addr, strerror(errno));
	return mode;
}

static int rerun_under_process_policy(void)
{
	unsigned long node0 = 1;
	char *argv[] = {"self", "process", NULL};

	CHECK(syscall(SYS_set_mempolicy, KMM_MPOL_PREFERRED, &node0, 65) == 0, "set_mempolicy: %s",
	      strerror(errno));
	execv("/proc/self/exe", argv);
	CHECK(0, "execv: %s", strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	const char *want = argc > 1 ? argv[1] : "bind";

	if (strcmp(want, "--under-process-policy") == 0)
		return rerun_under_process_policy();
	int expected_mode = strcmp(want, "bind") == 0        ? KMM_MPOL_BIND
	                    : strcmp(want, "preferred") == 0 ? KMM_MPOL_PREFERRED
	                                                     : KMM_MPOL_DEFAULT;
	struct zone *zone;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	for_each_zone(zone, nid) {
		unsigned char *p = kmm_alloc_pages_node(nid, 0);
		unsigned long mask;
		int mode;

		CHECK(p != NULL, "allocation on node %d", nid);
		p[0] = 1; /* the policy applies to the touched page as to the range */
		mode = policy_of(p, &mask);
		CHECK(mode == expected_mode, "zone %d (%s): expected policy mode %d, got %d", nid,
		      want, expected_mode, mode);
		if (strcmp(want, "process") == 0)
			CHECK(zone->mempolicy == -1,
			      "under a process policy zone %d should have no policy, has mode %d",
			      nid, zone->mempolicy);
		if (expected_mode != KMM_MPOL_DEFAULT)
			CHECK(mask == 1UL << zone->phys_node,
			      "zone %d: expected node mask %#lx, got %#lx", nid,
			      1UL << zone->phys_node, mask);
		/* The page descriptors are bound to the same node. */
		mode = policy_of(mem_map + zone->zone_start_pfn, &mask);
		CHECK(mode == expected_mode, "mem_map of zone %d: expected mode %d, got %d", nid,
		      expected_mode, mode);
		kmm_free_pages(p, 0);
	}
	printf("mbind %s: passed on %d zones\n", want, nr_online_nodes);
	return 0;
}

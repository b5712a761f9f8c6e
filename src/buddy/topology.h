/*
 * NUMA topology: which nodes have memory, how much, how far apart they are, and which
 * node each CPU belongs to. Read from /sys/devices/system/node with raw syscalls at
 * initialization, or made up by KMM_NUMA_FAKE=N (the kernel's numa=fake).
 *
 * Node ids are the kernel's ids (a machine with nodes 0 and 2 keeps those numbers);
 * fake nodes are numbered 0 … N-1.
 */
#ifndef KMM_BUDDY_TOPOLOGY_H
#define KMM_BUDDY_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/os.h"
#include "mmzone.h"

#define KMM_MAX_CPUS 8192

struct numa_topology {
	int nr_node_ids;             /* highest node id + 1 */
	uint64_t node_has_memory;    /* bitmap of node ids that get a zone */
	int phys_node[MAX_NUMNODES]; /* real node behind each (fake) node */
	unsigned long node_bytes[MAX_NUMNODES];
	unsigned char distance[MAX_NUMNODES][MAX_NUMNODES];
	bool fake;
};

extern struct numa_topology numa_topology;
extern unsigned char cpu_to_node_map[KMM_MAX_CPUS];

/*
 * Discover the machine (or build KMM_NUMA_FAKE's fake one) into numa_topology and
 * cpu_to_node_map. Node memory sizes come from nodeN/meminfo, scaled up so they add up
 * to the system's total memory when some memory is attributed to no node (seen with
 * hot-plugged guest memory).
 */
void numa_topology_init(void);

static inline int node_distance(int a, int b)
{
	return numa_topology.distance[a][b];
}

/* The node of the CPU this thread runs on: a hint, the thread may migrate. */
static inline int numa_node_id(void)
{
	unsigned int cpu = os_current_cpu();

	return cpu < KMM_MAX_CPUS ? cpu_to_node_map[cpu] : cpu_to_node_map[0];
}

#endif /* KMM_BUDDY_TOPOLOGY_H */

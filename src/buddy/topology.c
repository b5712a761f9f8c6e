/*
 * NUMA topology discovery; see topology.h.
 */
#include "topology.h"

#include <string.h>
#include <sys/sysinfo.h>

#include "../base/options.h"
#include "../base/printk.h"

#define NODE_SYSFS         "/sys/devices/system/node"
#define LOCAL_DISTANCE     10
#define REMOTE_DISTANCE    20
#define FAKE_DISTANCE_STEP 10
#define MAX_DISTANCE       254

struct numa_topology numa_topology;
unsigned char cpu_to_node_map[KMM_MAX_CPUS];

typedef void (*id_fn)(unsigned int id, void *arg);

/* Calls @fn for every id of a sysfs list such as "0-3,8,10-11". */
static void for_each_id_in_list(const char *s, id_fn fn, void *arg)
{
	while (*s >= '0' && *s <= '9') {
		unsigned int first = 0, last;

		for (; *s >= '0' && *s <= '9'; s++)
			first = first * 10 + (unsigned int)(*s - '0');
		last = first;
		if (*s == '-') {
			last = 0;
			for (s++; *s >= '0' && *s <= '9'; s++)
				last = last * 10 + (unsigned int)(*s - '0');
		}
		for (unsigned int id = first; id <= last; id++)
			fn(id, arg);
		if (*s == ',')
			s++;
	}
}

static void set_bit64(unsigned int id, void *arg)
{
	if (id < 64)
		*(uint64_t *)arg |= 1ULL << id;
}

static uint64_t read_node_list(const char *name)
{
	char path[128], buf[512];
	uint64_t mask = 0;

	kmm_snprintf(path, sizeof(path), NODE_SYSFS "/%s", name);
	if (os_read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	for_each_id_in_list(buf, set_bit64, &mask);
	return mask;
}

static unsigned long parse_kb_field(const char *text, const char *field)
{
	const char *p = strstr(text, field);
	unsigned long kb = 0;

	if (!p)
		return 0;
	for (p += strlen(field); *p == ' '; p++)
		;
	for (; *p >= '0' && *p <= '9'; p++)
		kb = kb * 10 + (unsigned long)(*p - '0');
	return kb << 10;
}

static unsigned long read_node_bytes(int nid)
{
	char path[128], buf[4096];

	kmm_snprintf(path, sizeof(path), NODE_SYSFS "/node%d/meminfo", nid);
	if (os_read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	return parse_kb_field(buf, "MemTotal:");
}

static unsigned long system_ram_bytes(void)
{
	struct sysinfo si;

	if (sysinfo(&si) != 0)
		return 1UL << 30;
	return (unsigned long)si.totalram * si.mem_unit;
}

/* nodeN/distance lists the distances to the online nodes, in node id order. */
static void read_node_distances(int nid, uint64_t online)
{
	char path[128], buf[1024];
	const char *p = buf;

	kmm_snprintf(path, sizeof(path), NODE_SYSFS "/node%d/distance", nid);
	if (os_read_file(path, buf, sizeof(buf)) <= 0)
		return;
	for (int to = 0; to < MAX_NUMNODES && *p; to++) {
		unsigned int d = 0;

		if (!(online & (1ULL << to)))
			continue;
		for (; *p == ' '; p++)
			;
		for (; *p >= '0' && *p <= '9'; p++)
			d = d * 10 + (unsigned int)(*p - '0');
		if (d)
			numa_topology.distance[nid][to] = (unsigned char)min_ul(d, MAX_DISTANCE);
	}
}

struct cpu_list_arg {
	int nid;
};

static void set_cpu_node(unsigned int cpu, void *arg)
{
	if (cpu < KMM_MAX_CPUS)
		cpu_to_node_map[cpu] = (unsigned char)((struct cpu_list_arg *)arg)->nid;
}

static void read_node_cpus(int nid)
{
	char path[128], buf[4096];
	struct cpu_list_arg arg = {nid};

	kmm_snprintf(path, sizeof(path), NODE_SYSFS "/node%d/cpulist", nid);
	if (os_read_file(path, buf, sizeof(buf)) > 0)
		for_each_id_in_list(buf, set_cpu_node, &arg);
}

static bool node_has_memory(int nid)
{
	return nid >= 0 && nid < MAX_NUMNODES && (numa_topology.node_has_memory >> nid) & 1;
}

static int nearest_memory_node(int from)
{
	int best = -1;

	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++) {
		if (node_has_memory(nid) &&
		    (best < 0 || node_distance(from, nid) < node_distance(from, best)))
			best = nid;
	}
	return best < 0 ? 0 : best;
}

static void init_default_distances(void)
{
	for (int a = 0; a < MAX_NUMNODES; a++)
		for (int b = 0; b < MAX_NUMNODES; b++)
			numa_topology.distance[a][b] = a == b ? LOCAL_DISTANCE : REMOTE_DISTANCE;
}

/* Scale node sizes up when part of the system's memory is attributed to no node. */
static void scale_to_system_ram(void)
{
	unsigned long total = 0, ram = system_ram_bytes();

	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++)
		if (node_has_memory(nid))
			total += numa_topology.node_bytes[nid];
	if (total == 0 || total >= ram)
		return;
	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++)
		if (node_has_memory(nid))
			numa_topology.node_bytes[nid] =
			        (unsigned long)((double)numa_topology.node_bytes[nid] * ram /
			                        total);
}

static void read_real_topology(void)
{
	uint64_t online = read_node_list("online");
	uint64_t memory = read_node_list("has_memory");

	init_default_distances();
	if (!online) {
		/* No NUMA support in this kernel: one node holding everything. */
		numa_topology.nr_node_ids = 1;
		numa_topology.node_has_memory = 1;
		numa_topology.node_bytes[0] = system_ram_bytes();
		return;
	}
	/* Memory nowhere we can see (a stripped sysfs): every online node is a candidate. */
	if (!(memory & online))
		memory = online;
	numa_topology.nr_node_ids = 64 - __builtin_clzll(online);
	numa_topology.node_has_memory = memory & online;
	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++) {
		if (!(online & (1ULL << nid)))
			continue;
		numa_topology.phys_node[nid] = nid;
		numa_topology.node_bytes[nid] = read_node_bytes(nid);
		read_node_distances(nid, online);
		read_node_cpus(nid);
	}
	for (int nid = 0; nid < numa_topology.nr_node_ids; nid++)
		if (node_has_memory(nid) && numa_topology.node_bytes[nid] == 0)
			numa_topology.node_bytes[nid] = MAX_ORDER_BYTES;
	/* CPUs of memoryless nodes allocate from the nearest node with memory. */
	for (unsigned int cpu = 0; cpu < KMM_MAX_CPUS; cpu++)
		if (!node_has_memory(cpu_to_node_map[cpu]))
			cpu_to_node_map[cpu] =
			        (unsigned char)nearest_memory_node(cpu_to_node_map[cpu]);
	scale_to_system_ram();
}

/*
 * KMM_NUMA_FAKE=N: N fake nodes spread over the real memory nodes in order, each real
 * node's memory split evenly among its fakes. CPUs of a real node are dealt round-robin
 * to its fakes (cpu c gets the (c mod k)-th of k fakes). Fake nodes lie on a line:
 * distance 10 to themselves and 10 more for each step along the line (20, 30, …),
 * never closer than the real nodes behind them, so "nearest" is well defined.
 */
static void build_fake_topology(int nr_fake)
{
	struct numa_topology real = numa_topology;
	int real_ids[MAX_NUMNODES], nr_real = 0;
	int fakes_on[MAX_NUMNODES] = {0};
	int first_fake[MAX_NUMNODES];

	for (int nid = 0; nid < real.nr_node_ids; nid++)
		if ((real.node_has_memory >> nid) & 1)
			real_ids[nr_real++] = nid;

	memset(&numa_topology, 0, sizeof(numa_topology));
	numa_topology.fake = true;
	numa_topology.nr_node_ids = nr_fake;
	numa_topology.node_has_memory = nr_fake == 64 ? ~0ULL : (1ULL << nr_fake) - 1;
	for (int f = nr_fake - 1; f >= 0; f--) {
		int phys = real_ids[(long)f * nr_real / nr_fake];

		numa_topology.phys_node[f] = phys;
		fakes_on[phys]++;
		first_fake[phys] = f;
	}
	for (int f = 0; f < nr_fake; f++) {
		int phys = numa_topology.phys_node[f];

		numa_topology.node_bytes[f] = real.node_bytes[phys] / (unsigned long)fakes_on[phys];
		for (int g = 0; g < nr_fake; g++) {
			int steps = f > g ? f - g : g - f;
			int d = steps == 0
			                ? LOCAL_DISTANCE
			                : (int)max_ul(
			                          real.distance[phys][numa_topology.phys_node[g]],
			                          REMOTE_DISTANCE) +
			                          FAKE_DISTANCE_STEP * (steps - 1);

			numa_topology.distance[f][g] =
			        (unsigned char)min_ul((unsigned long)d, MAX_DISTANCE);
		}
	}
	for (unsigned int cpu = 0; cpu < KMM_MAX_CPUS; cpu++) {
		int phys = cpu_to_node_map[cpu];

		if (fakes_on[phys] == 0)
			phys = numa_topology.phys_node[0];
		cpu_to_node_map[cpu] =
		        (unsigned char)(first_fake[phys] + (int)(cpu % (unsigned)fakes_on[phys]));
	}
}

void numa_topology_init(void)
{
	memset(&numa_topology, 0, sizeof(numa_topology));
	memset(cpu_to_node_map, 0, sizeof(cpu_to_node_map));
	read_real_topology();
	if (kmm_option(OPT_NUMA_FAKE) > 0)
		build_fake_topology((int)kmm_option(OPT_NUMA_FAKE));
}

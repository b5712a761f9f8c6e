/*
 * The kernel's /proc formats, line for line: the same headers, field widths and
 * order as Linux 6.18's mm/vmstat.c, fs/proc/meminfo.c and mm/slab_common.c print
 * them, so that what reads those files reads these. kmm leaves out the fields it has
 * no meaning for (the README lists them); zoneinfo keeps the kernel's whole layout and
 * shows 0 where kmm has nothing to count yet. kmm's own counters follow the kernel's
 * in vmstat, in the same form.
 */
#include "stats.h"

#include "../base/os.h"
#include "../base/printk.h"

#define ORDER_NAMES(prefix)                                                             \
	{                                                                               \
		prefix "0", prefix "1", prefix "2", prefix "3", prefix "4", prefix "5", \
		        prefix "6", prefix "7", prefix "8", prefix "9", prefix "10"     \
	}
static const char *const pgalloc_order_names[NR_PAGE_ORDERS] = ORDER_NAMES("pgalloc_order_");
static const char *const pgfree_order_names[NR_PAGE_ORDERS] = ORDER_NAMES("pgfree_order_");
_Static_assert(NR_PAGE_ORDERS == 11, "one name per order");

static const char *const slub_stat_names[NR_SLUB_STAT_ITEMS] = {
        [ALLOC_FASTPATH] = "slab_alloc_fastpath",
        [ALLOC_SLOWPATH] = "slab_alloc_slowpath",
        [FREE_FASTPATH] = "slab_free_fastpath",
        [FREE_SLOWPATH] = "slab_free_slowpath",
        [ALLOC_SLAB] = "slab_alloc_slab",
        [FREE_SLAB] = "slab_free_slab",
        [ALLOC_FROM_PARTIAL] = "slab_alloc_from_partial",
};

/* ---- rows shared with JSON ------------------------------------------------------------- */

static unsigned long pages_kb(unsigned long pages)
{
	return pages << (PAGE_SHIFT - 10);
}

int kmm_stats_meminfo_rows(const struct kmm_stats *st, struct stat_row *rows)
{
	unsigned long total = 0, free = 0, pcp = 0, slab = 0, hugetlb = 0;
	const struct vmalloc_info *vi = &st->vmalloc;
	const struct reclaim_stats *re = &st->reclaim;
	int n = 0;

	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		const struct zone_stats *zs = &st->zone[nid];

		total += zs->spanned_pages;
		free += zs->nr_free_pages;
		pcp += zs->nr_pcp_pages + zs->nr_in_transit;
		slab += zs->nr_slab_pages;
		hugetlb += zs->hugetlb_pages;
	}
	rows[n++] = (struct stat_row){"MemTotal", pages_kb(total)};
	rows[n++] = (struct stat_row){"MemFree", pages_kb(free)};
	/* What a new allocation can have without any OS call failing: free, cached, lazy. */
	rows[n++] =
	        (struct stat_row){"MemAvailable", pages_kb(free + pcp) + (vi->lazy_bytes >> 10)};
	rows[n++] = (struct stat_row){"SwapCached", pages_kb(re->nr_swapcache)};
	rows[n++] = (struct stat_row){"Active(anon)", pages_kb(re->nr_active)};
	rows[n++] = (struct stat_row){"Inactive(anon)", pages_kb(re->nr_inactive)};
	rows[n++] = (struct stat_row){"SwapTotal", pages_kb(re->swap.total_pages)};
	rows[n++] =
	        (struct stat_row){"SwapFree", pages_kb(re->swap.total_pages - re->swap.used_pages)};
	rows[n++] = (struct stat_row){"Zswap", pages_kb(re->zswap.pool_pages)};
	rows[n++] = (struct stat_row){"Zswapped", pages_kb(re->zswap.stored_pages)};
	rows[n++] = (struct stat_row){"Slab", pages_kb(slab)};
	rows[n++] = (struct stat_row){"VmallocTotal", vi->total_bytes >> 10};
	rows[n++] = (struct stat_row){"VmallocUsed", vi->used_bytes >> 10};
	rows[n++] = (struct stat_row){"VmallocChunk", vi->largest_free_bytes >> 10};
	rows[n++] = (struct stat_row){"Hugepagesize", HPAGE_SIZE >> 10};
	rows[n++] = (struct stat_row){"Hugetlb", pages_kb(hugetlb)};
	return n;
}

int kmm_stats_vmstat_rows(const struct kmm_stats *st, struct stat_row *rows)
{
	unsigned long free = 0, slab = 0, hit = 0, miss = 0, foreign = 0, pgalloc = 0, pgfree = 0;
	unsigned long pcp_alloc = 0, pcp_free = 0, reported = 0;
	const struct reclaim_stats *re = &st->reclaim;
	struct page_alloc_events ev = {0};
	struct kmem_cache_stats slub = {0};
	int n = 0;

	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		const struct zone_stats *zs = &st->zone[nid];

		for (int o = 0; o < NR_PAGE_ORDERS; o++) {
			ev.pgalloc[o] += zs->events.pgalloc[o];
			ev.pgfree[o] += zs->events.pgfree[o];
		}
		ev.pcp_refill += zs->events.pcp_refill;
		ev.pcp_flush += zs->events.pcp_flush;
		reported += zs->events.pgreported;
		free += zs->nr_free_pages;
		slab += zs->nr_slab_pages;
		hit += zone_numa_hit(zs);
		miss += zs->numa_miss;
		foreign += zs->numa_foreign;
		pcp_alloc += zs->pcp_alloc;
		pcp_free += zs->pcp_free;
	}
	for (int o = 0; o < NR_PAGE_ORDERS; o++) {
		pgalloc += ev.pgalloc[o] << o;
		pgfree += ev.pgfree[o] << o;
	}
	for (int i = 0; i < KMM_MAX_CACHES; i++)
		for (int si = 0; si < NR_SLUB_STAT_ITEMS; si++)
			slub.stat[si] += st->slab[i].stat[si];

	/* The kernel's order: zone counters, NUMA events, node counters, events. */
	rows[n++] = (struct stat_row){"nr_free_pages", free};
	rows[n++] = (struct stat_row){"numa_hit", hit};
	rows[n++] = (struct stat_row){"numa_miss", miss};
	rows[n++] = (struct stat_row){"numa_foreign", foreign};
	rows[n++] = (struct stat_row){"nr_slab_unreclaimable", slab};
	rows[n++] = (struct stat_row){"pgalloc_normal", pgalloc};
	rows[n++] = (struct stat_row){"pgfree", pgfree};
	rows[n++] = (struct stat_row){"pgactivate", re->events.pgactivate};
	rows[n++] = (struct stat_row){"pgdeactivate", re->events.pgdeactivate};
	rows[n++] = (struct stat_row){"pgfault", st->uffd.nr_faults};
	rows[n++] = (struct stat_row){"pgmajfault", re->events.pgmajfault};
	rows[n++] = (struct stat_row){"pswpin", re->events.pswpin};
	rows[n++] = (struct stat_row){"pswpout", re->events.pswpout};
	rows[n++] =
	        (struct stat_row){"workingset_refault_anon", re->events.workingset_refault_anon};
	rows[n++] = (struct stat_row){"pgsteal_kswapd", re->events.pgsteal_kswapd};
	rows[n++] = (struct stat_row){"pgsteal_direct", re->events.pgsteal_direct};
	rows[n++] = (struct stat_row){"pgscan_kswapd", re->events.pgscan_kswapd};
	rows[n++] = (struct stat_row){"pgscan_direct", re->events.pgscan_direct};
	rows[n++] = (struct stat_row){"pageoutrun", re->events.pageoutrun};
	rows[n++] = (struct stat_row){"allocstall_normal", re->events.allocstall};
	rows[n++] = (struct stat_row){"swpout_zero", re->events.swpout_zero};
	rows[n++] = (struct stat_row){"zswpin", re->events.zswpin};
	rows[n++] = (struct stat_row){"zswpout", re->events.zswpout};
	rows[n++] = (struct stat_row){"zswpwb", re->events.zswpwb};
	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		rows[n++] = (struct stat_row){pgalloc_order_names[o], ev.pgalloc[o]};
	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		rows[n++] = (struct stat_row){pgfree_order_names[o], ev.pgfree[o]};
	/* kmm's own. */
	rows[n++] = (struct stat_row){"nr_vmalloc", st->vmalloc.used_bytes >> PAGE_SHIFT};
	rows[n++] = (struct stat_row){"pcp_alloc_hit", pcp_alloc};
	rows[n++] = (struct stat_row){"pcp_free", pcp_free};
	rows[n++] = (struct stat_row){"pcp_refill", ev.pcp_refill};
	rows[n++] = (struct stat_row){"pcp_flush", ev.pcp_flush};
	rows[n++] = (struct stat_row){"pgreported", reported};
	for (int si = 0; si < NR_SLUB_STAT_ITEMS; si++)
		rows[n++] = (struct stat_row){slub_stat_names[si], slub.stat[si]};
	rows[n++] = (struct stat_row){"vmalloc_alloc", st->vmalloc.events.nr_vmalloc};
	rows[n++] = (struct stat_row){"vmalloc_free", st->vmalloc.events.nr_vfree};
	rows[n++] = (struct stat_row){"vmalloc_purge", st->vmalloc.events.nr_purged};
	rows[n++] = (struct stat_row){"vmalloc_purged_pages", st->vmalloc.events.pages_purged};
	/* What kmm's userfaultfd handler's faults filled. */
	rows[n++] = (struct stat_row){"pgfault_around", st->uffd.nr_fault_around};
	rows[n++] = (struct stat_row){"pgfault_filled_pages", st->uffd.pages_filled};
	rows[n++] = (struct stat_row){"uffd_registrations", st->uffd.nr_registered};
	/* The charge of the heap's resident pages, as memcg's usage, max_usage and failcnt. */
	rows[n++] = (struct stat_row){"memcg_usage_pages", (unsigned long)re->memory.usage};
	rows[n++] = (struct stat_row){"memcg_max_usage_pages", (unsigned long)re->memory.watermark};
	rows[n++] = (struct stat_row){"memcg_limit_pages", re->memory.limit};
	rows[n++] = (struct stat_row){"memcg_failcnt", re->memory.failcnt};
	return n;
}

void kmm_stats_slabinfo(const struct kmm_stats *st, int id, struct slabinfo *info)
{
	const struct kmem_cache *s = &kmem_caches[id];
	const struct kmem_cache_stats *ss = &st->slab[id];
	unsigned long allocs = ss->stat[ALLOC_FASTPATH] + ss->stat[ALLOC_SLOWPATH];
	unsigned long frees = ss->stat[FREE_FASTPATH] + ss->stat[FREE_SLOWPATH];

	info->objsize = s->size;
	info->objects_per_slab = s->objects;
	info->pages_per_slab = 1u << s->order;
	info->num_slabs = info->active_slabs = ss->nr_slabs;
	info->num_objs = ss->nr_slabs * s->objects;
	/*
	 * Objects allocated and not freed. The kernel also counts objects cached on CPU
	 * freelists as active; kmm's count is exact. A dump racing other threads can
	 * read a free before its allocation: clamp.
	 */
	info->active_objs = allocs > frees ? allocs - frees : 0;
	if (info->active_objs > info->num_objs)
		info->active_objs = info->num_objs;
}

/* ---- the text formats ------------------------------------------------------------------ */

static void print_buddyinfo(struct seq_buf *m, const struct kmm_stats *st)
{
	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		const struct zone_stats *zs = &st->zone[nid];

		if (!zs->present)
			continue;
		seq_buf_printf(m, "Node %d, zone %8s ", nid, ZONE_NAME);
		for (int o = 0; o < NR_PAGE_ORDERS; o++)
			seq_buf_printf(m, "%6lu ", zs->free_blocks[o]);
		seq_buf_puts(m, "\n");
	}
}

static void print_slabinfo(struct seq_buf *m, const struct kmm_stats *st)
{
	seq_buf_puts(m, "slabinfo - version: 2.1\n");
	seq_buf_puts(m, "# name            <active_objs> <num_objs> <objsize> <objperslab> "
	                "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
	                "slabdata <active_slabs> <num_slabs> <sharedavail>\n");
	/* Newest cache first, as the kernel walks its slab_caches list. */
	for (int id = KMM_MAX_CACHES - 1; id >= 0; id--) {
		struct slabinfo si;

		if (!READ_ONCE(kmem_caches[id].in_use))
			continue;
		kmm_stats_slabinfo(st, id, &si);
		seq_buf_printf(m, "%-17s %6lu %6lu %6u %4u %4u", kmem_caches[id].name,
		               si.active_objs, si.num_objs, si.objsize, si.objects_per_slab,
		               si.pages_per_slab);
		seq_buf_printf(m, " : tunables %4u %4u %4u", 0u, 0u, 0u);
		seq_buf_printf(m, " : slabdata %6lu %6lu %6lu\n", si.active_slabs, si.num_slabs,
		               0UL);
	}
}

/* fs/proc/meminfo.c: the name and colon in 16 columns, the value in 8, then " kB". */
static void print_meminfo(struct seq_buf *m, const struct kmm_stats *st)
{
	static struct stat_row rows[MAX_STAT_ROWS];
	int n = kmm_stats_meminfo_rows(st, rows);

	for (int i = 0; i < n; i++) {
		char label[32];

		kmm_snprintf(label, sizeof(label), "%s:", rows[i].name);
		seq_buf_printf(m, "%-16s%8lu kB\n", label, rows[i].value);
	}
}

static void print_vmstat(struct seq_buf *m, const struct kmm_stats *st)
{
	static struct stat_row rows[MAX_STAT_ROWS];
	int n = kmm_stats_vmstat_rows(st, rows);

	for (int i = 0; i < n; i++)
		seq_buf_printf(m, "%s %lu\n", rows[i].name, rows[i].value);
}

static int first_online_nid(const struct kmm_stats *st)
{
	for (int nid = 0; nid < MAX_NUMNODES; nid++)
		if (st->zone[nid].present)
			return nid;
	return 0;
}

static void print_zoneinfo_zone(struct seq_buf *m, const struct kmm_stats *st, int nid)
{
	const struct zone_stats *zs = &st->zone[nid];
	struct zone *zone = node_zones[nid];

	seq_buf_printf(m, "Node %d, zone %8s", nid, ZONE_NAME);
	seq_buf_puts(m, "\n  per-node stats");
	seq_buf_printf(m, "\n      %-12s %lu", "nr_slab_unreclaimable", zs->nr_slab_pages);
	/*
	 * Under KMM_MEM_LIMIT the watermarks are the limit's (headroom under it that kswapd
	 * keeps, for the whole heap): shown on the first zone. 0 elsewhere, as for an
	 * unwatched zone.
	 */
	const struct watermarks *wm = &st->reclaim.wmark;
	bool first = nid == first_online_nid(st);

	seq_buf_printf(m,
	               "\n  pages free     %lu"
	               "\n        boost    %lu"
	               "\n        min      %lu"
	               "\n        low      %lu"
	               "\n        high     %lu"
	               "\n        promo    %lu"
	               "\n        spanned  %lu"
	               "\n        present  %lu"
	               "\n        managed  %lu"
	               "\n        cma      %lu",
	               zs->nr_free_pages, 0UL, first ? wm->min : 0UL, first ? wm->low : 0UL,
	               first ? wm->high : 0UL, 0UL, zs->spanned_pages, zs->present_pages,
	               zs->present_pages, 0UL);
	/* One value per zone type, and kmm has one. */
	seq_buf_puts(m, "\n        protection: (0)");
	seq_buf_printf(m, "\n      %-12s %lu", "nr_free_pages", zs->nr_free_pages);
	seq_buf_printf(m, "\n      %-12s %lu", "nr_free_reported", zs->nr_reported_pages);
	seq_buf_printf(m, "\n      %-12s %lu", "numa_hit", zone_numa_hit(zs));
	seq_buf_printf(m, "\n      %-12s %lu", "numa_miss", zs->numa_miss);
	seq_buf_printf(m, "\n      %-12s %lu", "numa_foreign", zs->numa_foreign);
	seq_buf_puts(m, "\n  pagesets");
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++) {
		const struct per_cpu_pages *pcp = &zone->per_cpu_pageset[cpu];

		/* kmm's high mark does not move: high_min and high_max are the same. */
		seq_buf_printf(m,
		               "\n    cpu: %u"
		               "\n              count:    %d"
		               "\n              high:     %d"
		               "\n              batch:    %d"
		               "\n              high_min: %d"
		               "\n              high_max: %d",
		               cpu, READ_ONCE(pcp->count), pcp->high, pcp->batch, pcp->high,
		               pcp->high);
		seq_buf_printf(m, "\n  vm stats threshold: %d", 0);
	}
	seq_buf_printf(m,
	               "\n  node_unreclaimable:  %u"
	               "\n  start_pfn:           %lu\n",
	               0u, zs->start_pfn);
}

static void print_zoneinfo(struct seq_buf *m, const struct kmm_stats *st)
{
	for (int nid = 0; nid < MAX_NUMNODES; nid++)
		if (st->zone[nid].present)
			print_zoneinfo_zone(m, st, nid);
}

/*
 * /proc/swaps: a line per device, in the kernel's columns. A device is an unlinked
 * file; it is named by its directory and descriptor, and the priorities are the
 * kernel's defaults for swap files (-2, -3, ... in the order they were made).
 */
static void print_swaps(struct seq_buf *m, const struct kmm_stats *st)
{
	const struct swap_stats *sw = &st->reclaim.swap;

	seq_buf_puts(m, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
	for (unsigned int i = 0; i < sw->nr_devices && i < ARRAY_SIZE(sw->device); i++) {
		const struct swap_device_stats *d = &sw->device[i];
		char name[160];
		size_t len = kmm_snprintf(name, sizeof(name), "%s/(deleted fd %d%s)", sw->dir,
		                          d->fd, d->writeok ? "" : ", read-only since fork");

		/* The kernel's columns: the name padded to 40, and at least one space after. */
		seq_buf_printf(m, "%s%*s%s\t\t%lu\t\t%lu\t\t%d\n", name,
		               len < 40 ? (int)(40 - len) : 1, " ", "file", pages_kb(d->size_pages),
		               pages_kb(d->used_pages), -2 - (int)i);
	}
}

static const struct {
	unsigned int bit;
	const char *name;
	void (*print)(struct seq_buf *m, const struct kmm_stats *st);
} proc_files[] = {
        {STATS_BUDDYINFO, "buddyinfo", print_buddyinfo},
        {STATS_SLABINFO, "slabinfo", print_slabinfo},
        {STATS_MEMINFO, "meminfo", print_meminfo},
        {STATS_VMSTAT, "vmstat", print_vmstat},
        {STATS_ZONEINFO, "zoneinfo", print_zoneinfo},
        {STATS_SWAPS, "swaps", print_swaps},
};

/*
 * Each file under a "==> name <==" line, as head(1) separates files, after one line
 * that says whose snapshot this is and when.
 */
void kmm_stats_print_proc(struct seq_buf *m, const struct kmm_stats *st, unsigned int what)
{
	seq_buf_printf(m, "==> kmm pid %d %s at %lu.%03lu uptime %lu.%03lu rss %lu kB%s <==\n",
	               st->pid, st->reason, (unsigned long)(st->time_ms / 1000),
	               (unsigned long)(st->time_ms % 1000), (unsigned long)(st->uptime_ms / 1000),
	               (unsigned long)(st->uptime_ms % 1000), st->rss_kb,
	               st->slab_complete ? "" : " (slab counts of running threads not exact)");
	for (size_t i = 0; i < ARRAY_SIZE(proc_files); i++) {
		if (!(what & proc_files[i].bit))
			continue;
		seq_buf_printf(m, "==> %s <==\n", proc_files[i].name);
		proc_files[i].print(m, st);
	}
}

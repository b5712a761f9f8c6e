/*
 * The snapshot as one line of JSON, for tools (kmm top, kmm plot): the same numbers
 * as the text formats, from the same rows where the two share them. Only a cache's
 * name (kmm_cache_create) and the swap directory (KMM_SWAP_DIR) come from a user, so
 * only they are escaped.
 */
#include "stats.h"

static void print_string(struct seq_buf *m, const char *s)
{
	seq_buf_puts(m, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			seq_buf_printf(m, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			seq_buf_printf(m, "\\u%04x", (unsigned int)(unsigned char)*s);
		else
			seq_buf_printf(m, "%c", *s);
	}
	seq_buf_puts(m, "\"");
}

static void print_rows(struct seq_buf *m, const char *key, const struct stat_row *rows, int n)
{
	seq_buf_printf(m, ",\"%s\":{", key);
	for (int i = 0; i < n; i++)
		seq_buf_printf(m, "%s\"%s\":%lu", i ? "," : "", rows[i].name, rows[i].value);
	seq_buf_puts(m, "}");
}

/* /proc/swaps's lines, with the directory the unlinked files are in. */
static void print_swaps(struct seq_buf *m, const struct kmm_stats *st)
{
	const struct swap_stats *sw = &st->reclaim.swap;

	seq_buf_puts(m, ",\"swaps\":[");
	for (unsigned int i = 0; i < sw->nr_devices && i < ARRAY_SIZE(sw->device); i++) {
		const struct swap_device_stats *d = &sw->device[i];

		seq_buf_printf(m, "%s{\"dir\":", i ? "," : "");
		print_string(m, sw->dir ? sw->dir : "");
		seq_buf_printf(m,
		               ",\"fd\":%d,\"type\":\"file\",\"size_kb\":%lu,\"used_kb\":%lu,"
		               "\"priority\":%d,\"writeok\":%s}",
		               d->fd, d->size_pages << (PAGE_SHIFT - 10),
		               d->used_pages << (PAGE_SHIFT - 10), -2 - (int)i,
		               d->writeok ? "true" : "false");
	}
	seq_buf_puts(m, "]");
}

static void print_array(struct seq_buf *m, const unsigned long *v, int n)
{
	seq_buf_puts(m, "[");
	for (int i = 0; i < n; i++)
		seq_buf_printf(m, "%s%lu", i ? "," : "", v[i]);
	seq_buf_puts(m, "]");
}

static void print_zones(struct seq_buf *m, const struct kmm_stats *st)
{
	bool first = true;

	seq_buf_puts(m, ",\"zones\":[");
	for (int nid = 0; nid < MAX_NUMNODES; nid++) {
		const struct zone_stats *zs = &st->zone[nid];

		if (!zs->present)
			continue;
		seq_buf_printf(m,
		               "%s{\"node\":%d,\"zone\":\"" ZONE_NAME "\",\"start_pfn\":%lu,"
		               "\"spanned\":%lu,\"free_pages\":%lu,\"reported_pages\":%lu,"
		               "\"pcp_pages\":%lu,\"slab_pages\":%lu,\"free_blocks\":",
		               first ? "" : ",", nid, zs->start_pfn, zs->spanned_pages,
		               zs->nr_free_pages, zs->nr_reported_pages,
		               zs->nr_pcp_pages + zs->nr_in_transit, zs->nr_slab_pages);
		print_array(m, zs->free_blocks, NR_PAGE_ORDERS);
		seq_buf_puts(m, ",\"pgalloc\":");
		print_array(m, zs->events.pgalloc, NR_PAGE_ORDERS);
		seq_buf_puts(m, ",\"pgfree\":");
		print_array(m, zs->events.pgfree, NR_PAGE_ORDERS);
		/* Memory hotplug, as /sys/devices/system/memory counts it: 16 MiB sections. */
		seq_buf_printf(
		        m,
		        ",\"present_pages\":%lu,\"section_bytes\":%lu,\"sections_online\":%lu,"
		        "\"sections_added\":%lu,\"sections_removed\":%lu,\"section_holes\":%lu}",
		        zs->present_pages, SECTION_BYTES, zs->present_pages / PAGES_PER_SECTION,
		        zs->nr_section_events[SECTION_ADDED],
		        zs->nr_section_events[SECTION_REMOVED],
		        zs->nr_section_events[SECTION_HOLES]);
		first = false;
	}
	seq_buf_puts(m, "]");
}

static void print_slabs(struct seq_buf *m, const struct kmm_stats *st)
{
	bool first = true;

	seq_buf_puts(m, ",\"slabinfo\":[");
	for (int id = 0; id < KMM_MAX_CACHES; id++) {
		const struct kmem_cache_stats *ss = &st->slab[id];
		struct slabinfo si;

		if (!READ_ONCE(kmem_caches[id].in_use))
			continue;
		kmm_stats_slabinfo(st, id, &si);
		seq_buf_puts(m, first ? "{\"name\":" : ",{\"name\":");
		print_string(m, kmem_caches[id].name);
		seq_buf_printf(m,
		               ",\"active_objs\":%lu,\"num_objs\":%lu,\"objsize\":%u,"
		               "\"objperslab\":%u,\"pagesperslab\":%u,\"active_slabs\":%lu,"
		               "\"num_slabs\":%lu,\"partial_slabs\":%lu,\"alloc_fastpath\":%lu,"
		               "\"alloc_slowpath\":%lu,\"free_fastpath\":%lu,\"free_slowpath\":%lu,"
		               "\"alloc_slab\":%lu,\"free_slab\":%lu,\"alloc_from_partial\":%lu}",
		               si.active_objs, si.num_objs, si.objsize, si.objects_per_slab,
		               si.pages_per_slab, si.active_slabs, si.num_slabs, ss->nr_partial,
		               ss->stat[ALLOC_FASTPATH], ss->stat[ALLOC_SLOWPATH],
		               ss->stat[FREE_FASTPATH], ss->stat[FREE_SLOWPATH],
		               ss->stat[ALLOC_SLAB], ss->stat[FREE_SLAB],
		               ss->stat[ALLOC_FROM_PARTIAL]);
		first = false;
	}
	seq_buf_puts(m, "]");
}

void kmm_stats_print_json(struct seq_buf *m, const struct kmm_stats *st, unsigned int what)
{
	static struct stat_row rows[MAX_STAT_ROWS];

	seq_buf_printf(m,
	               "{\"pid\":%d,\"reason\":\"%s\",\"time_ms\":%lu,\"uptime_ms\":%lu,"
	               "\"rss_kb\":%lu,\"slab_complete\":%s",
	               st->pid, st->reason, (unsigned long)st->time_ms,
	               (unsigned long)st->uptime_ms, st->rss_kb,
	               st->slab_complete ? "true" : "false");
	if (what & (STATS_BUDDYINFO | STATS_ZONEINFO))
		print_zones(m, st);
	if (what & STATS_SLABINFO)
		print_slabs(m, st);
	if (what & STATS_MEMINFO)
		print_rows(m, "meminfo", rows, kmm_stats_meminfo_rows(st, rows));
	if (what & STATS_VMSTAT)
		print_rows(m, "vmstat", rows, kmm_stats_vmstat_rows(st, rows));
	if (what & STATS_SWAPS)
		print_swaps(m, st);
	seq_buf_puts(m, "}\n");
}

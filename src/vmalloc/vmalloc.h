/*
 * The vmalloc area (the kernel's mm/vmalloc.c): allocations above the largest buddy
 * block, and mid-sized ones under an address-space limit, in a window of address space
 * of their own.
 *
 * An area is a run of 2 MiB chunks of the window (vmap_area) whose first size bytes are
 * mapped on allocation and unmapped when it is purged; the window itself is a range kmm
 * chose beside its physical address space (mm_init.c) and does not reserve, so an area
 * costs its size in address space, and only while it exists. The kernel maps physical
 * frames at a second, contiguous virtual address; userspace cannot map one private
 * anonymous page at two addresses without shared memory, which would break fork's
 * copy-on-write (DESIGN rule 1), so an area's memory is its own mapping and takes no
 * frames from the zones: frames taken as accounting would hold address space of their
 * own, and a program under ulimit -v would get only half of its limit in large blocks.
 * Growing an area extends it in place when the rest of its last chunk and the chunks
 * after it are free, and otherwise moves its pages with mremap: never a copy.
 */
#ifndef KMM_VMALLOC_VMALLOC_H
#define KMM_VMALLOC_VMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int vmalloc_init(void);

/* @size bytes aligned to @align (a power of two, at least 2 MiB honoured); zeroed. */
void *vmalloc_aligned(size_t size, size_t align);

/*
 * Free an area lazily: it stays resident for reuse until KMM_DECAY_MS has passed (or too
 * much waits), then goes back to the OS.
 */
void vfree_caller(const void *addr, const char *caller);

/* Whether the area at @addr has not been written since it was committed (all zeros). */
bool vmalloc_area_zeroed(const void *addr);

/* Give every lazily freed area back now (malloc_trim). */
void vmalloc_purge_all(void);

/* The usable size of the area that starts at @addr, or 0 if no area starts there. */
size_t vmalloc_size(const void *addr);

/* Resize the area at @addr to @size without copying; NULL (area unchanged) on failure. */
void *vrealloc(void *addr, size_t size);

struct vmalloc_events {
	unsigned long nr_vmalloc;   /* areas handed out (a lazily freed one reused counts) */
	unsigned long nr_vfree;     /* areas freed */
	unsigned long nr_purged;    /* lazily freed areas given back to the OS */
	unsigned long pages_purged; /* and their pages */
};

/* What /proc/meminfo's Vmalloc lines and the vmstat counters show. */
struct vmalloc_info {
	size_t total_bytes;                /* the window */
	size_t used_bytes;                 /* live areas, as asked for (rounded to pages) */
	size_t lazy_bytes;                 /* freed areas still resident, waiting for reuse */
	size_t largest_free_bytes;         /* the longest run of free chunks */
	unsigned long largest_free_chunks; /* the same, in chunks */
	unsigned long nr_areas;            /* live areas */
	struct vmalloc_events events;
};

/* @fn(start, mapped size) for each area, live or lazily freed; under vmap_area_lock. */
void vmalloc_for_each_area(void (*fn)(void *start, size_t size));

/* A snapshot, without locks: safe from a signal handler. */
void vmalloc_collect_info(struct vmalloc_info *info);

/* fork(): vmap_area_lock is taken alone, so any place in the order will do. */
void vmalloc_fork_prepare(void);
void vmalloc_fork_parent(void);
void vmalloc_fork_child(void);

extern char *vmalloc_start;
extern size_t vmalloc_bytes;

static inline bool is_vmalloc_addr(const void *addr)
{
	return (uintptr_t)addr - (uintptr_t)vmalloc_start < vmalloc_bytes;
}

#endif /* KMM_VMALLOC_VMALLOC_H */

/*
 * The vmalloc area; see vmalloc.h for the design.
 *
 * The window is cut into 2 MiB chunks (a THP each). A bitmap says which chunks are
 * taken, and each area is described by a vmap_area stored in the table slot of its
 * first chunk, so finding the area of an address is an index, not a search. An area is
 * never empty: it spans at least a page, so it owns the chunk it is found by, and a
 * size of 0 means no area.
 *
 * An area maps exactly its size, as the kernel's vmalloc maps the pages asked for: the
 * rest of its last chunk stays claimed but unmapped, so an area of 600 KiB costs 600 KiB
 * of address space, not 2 MiB, which is what lets mid-sized blocks come here under an
 * address-space limit (kmalloc.c). Nothing is unmapped past an area's size, since
 * another mapping of the process may have landed in that unmapped tail.
 *
 * Chunks that another mapping of the process turns out to hold (mmap says EEXIST) stay
 * claimed for good, with no area: holes, as sparse.c keeps sections.
 *
 * Lock: vmap_area_lock guards the bitmap and the table; the syscalls that map, move and
 * unmap memory run outside it, on chunks the caller has claimed. vmap_area_lock is
 * never held across a call into the page allocator, so the page allocator's slow path
 * may purge lazily freed areas (a shrinker) whatever lock its caller holds.
 */
#include "vmalloc.h"

#include <errno.h>
#include <string.h>

#include "../base/list.h"
#include "../base/lock.h"
#include "../base/options.h"
#include "../base/os.h"
#include "../base/printk.h"
#include "../buddy/mm_init.h"
#include "../buddy/page_alloc.h"
#include "../buddy/topology.h"
#include "../init.h"

#define VMAP_CHUNK_SHIFT HPAGE_SHIFT
#define VMAP_CHUNK_SIZE  (1UL << VMAP_CHUNK_SHIFT)

struct vmap_area {
	size_t size;           /* bytes the owner asked for, rounded to pages: all mapped */
	unsigned long chunks;  /* chunks the area spans */
	bool zeroed;           /* never written since it was mapped */
	uint64_t freed_at_ms;  /* lazily freed: when */
	struct list_head lazy; /* on vmap_purge_list; guarded by vmap_area_lock */
};

/*
 * Lazily freed areas (the kernel's lazy vmap purge): vfree keeps an area mapped and
 * resident, so the next vmalloc of a similar size reuses it without a page fault; it
 * goes back after KMM_DECAY_MS, or at once while more than VMAP_LAZY_MAX bytes wait.
 * Newest at the head. Guarded by vmap_area_lock.
 */
#define VMAP_LAZY_MAX (64UL << 20)

static struct list_head vmap_purge_list = {&vmap_purge_list, &vmap_purge_list};
static size_t vmap_lazy_bytes;

char *vmalloc_start;
size_t vmalloc_bytes;

static unsigned long nr_chunks;
static unsigned long *chunk_bitmap;   /* guarded by vmap_area_lock */
static struct vmap_area **chunk_area; /* area by first chunk; guarded by vmap_area_lock */
static struct vmap_area *vmap_area_storage;
static kmm_lock_t *vmap_area_lock; /* fork_lock_alloc() */

/* Areas handed out and freed (guarded by vmap_area_lock), purged to the OS (atomic). */
static struct vmalloc_events vmalloc_events;

static uint64_t purge_vmap_areas(uint64_t now, bool force);

static uint64_t vmalloc_shrinker(uint64_t now, bool force)
{
	return purge_vmap_areas(now, force);
}

int vmalloc_init(void)
{
	/* As large as physical memory, and at least 256 MiB: it costs nothing until used. */
	size_t want = max_ul(kmm_max_pfn << PAGE_SHIFT, 128 * VMAP_CHUNK_SIZE);

	vmap_area_lock = fork_lock_alloc();
	if (!vmap_area_lock)
		return -1;
	vmalloc_start = kmm_layout_end;
	nr_chunks = want >> VMAP_CHUNK_SHIFT;
	chunk_bitmap = os_map(ALIGN_UP(nr_chunks, 64) / 8);
	chunk_area = os_map(nr_chunks * sizeof(*chunk_area));
	/* At most one area per chunk; descriptors are only touched as areas are made. */
	vmap_area_storage = os_map(nr_chunks * sizeof(struct vmap_area));
	if (!chunk_bitmap || !chunk_area || !vmap_area_storage)
		return -1;
	vmalloc_bytes = want;
	register_shrinker(vmalloc_shrinker);
	return 0;
}

static bool chunk_taken(unsigned long i)
{
	return (chunk_bitmap[i / 64] >> (i % 64)) & 1;
}

static void mark_chunks(unsigned long first, unsigned long n, bool taken)
{
	for (unsigned long i = first; i < first + n; i++) {
		if (taken)
			chunk_bitmap[i / 64] |= 1UL << (i % 64);
		else
			chunk_bitmap[i / 64] &= ~(1UL << (i % 64));
	}
}

/*
 * First fit of @n free chunks whose start address is aligned to @align (a power of two,
 * at least a chunk). Under vmap_area_lock.
 */
static long find_chunks(unsigned long n, size_t align)
{
	uintptr_t base = (uintptr_t)vmalloc_start, aligned = ALIGN_UP(base, align);
	unsigned long step = align >> VMAP_CHUNK_SHIFT, first;

	if (aligned < base || aligned - base >= vmalloc_bytes)
		return -1; /* no chunk of the window starts on such a boundary */
	for (first = (aligned - base) >> VMAP_CHUNK_SHIFT; first + n <= nr_chunks; first += step) {
		unsigned long i = first;

		while (i < first + n && !chunk_taken(i))
			i++;
		if (i == first + n)
			return (long)first;
		while (first + step <= i) /* skip past the taken chunk */
			first += step;
	}
	return -1;
}

static char *chunk_addr(unsigned long chunk)
{
	return vmalloc_start + (chunk << VMAP_CHUNK_SHIFT);
}

static unsigned long addr_chunk(const void *addr)
{
	return (unsigned long)(((uintptr_t)addr - (uintptr_t)vmalloc_start) >> VMAP_CHUNK_SHIFT);
}

/*
 * Map @bytes (whole pages) of claimed chunks from @addr: 0; -EEXIST when another
 * mapping holds some (the chunks stay claimed).
 */
static int map_range(char *addr, size_t bytes)
{
	int err = os_map_at(addr, bytes);

	if (!err) {
		os_advise_hugepage(addr, bytes);
		memory_notify(MEM_MAPPED, addr, bytes);
	}
	return err;
}

/* Unmap part of an area (pages kmm mapped), and say so to the memory notifier. */
static void unmap_range(void *addr, size_t bytes)
{
	memory_notify(MEM_RELEASING, addr, bytes);
	os_unmap(addr, bytes);
	memory_notify(MEM_RELEASED, addr, bytes);
}

static long claim_chunks(unsigned long n, size_t align)
{
	long first;

	kmm_lock(vmap_area_lock);
	first = find_chunks(n, align);
	if (first >= 0)
		mark_chunks((unsigned long)first, n, true);
	kmm_unlock(vmap_area_lock);
	return first;
}

static void unclaim_chunks(unsigned long first, unsigned long n)
{
	kmm_lock(vmap_area_lock);
	mark_chunks(first, n, false);
	kmm_unlock(vmap_area_lock);
}

/*
 * Take a lazily freed area of at least @size and at most twice @chunks, starting on
 * @align, off the purge list: the newest first, its pages most likely still in cache.
 * Pages past @size and chunks past @chunks go back. Returns its first chunk, or -1.
 */
static long reuse_lazy_area(unsigned long chunks, size_t align, size_t size)
{
	struct vmap_area *va, *found = NULL;
	unsigned long first;

	kmm_lock(vmap_area_lock);
	list_for_each_entry(va, &vmap_purge_list, lazy) {
		first = (unsigned long)(va - vmap_area_storage);
		if (va->size >= size && va->chunks <= 2 * chunks &&
		    IS_ALIGNED((uintptr_t)chunk_addr(first), align)) {
			found = va;
			list_del(&va->lazy);
			vmap_lazy_bytes -= va->size;
			break;
		}
	}
	kmm_unlock(vmap_area_lock);
	if (!found)
		return -1;
	first = (unsigned long)(found - vmap_area_storage);
	if (found->size > size)
		unmap_range(chunk_addr(first) + size, found->size - size);
	if (found->chunks > chunks) {
		unclaim_chunks(first + chunks, found->chunks - chunks);
		found->chunks = chunks;
	}
	found->size = size;
	found->zeroed = false;
	return (long)first;
}

/*
 * Claim @chunks on @align and map their first @size bytes: first fit, past holes. -1
 * when the window has no room or the address space limit refuses the mapping.
 */
static long map_new_area(unsigned long chunks, size_t align, size_t size)
{
	for (;;) {
		long first = claim_chunks(chunks, align);
		int err;

		if (first < 0) {
			purge_vmap_areas(os_now_ms(), true); /* lazily freed areas in the way */
			first = claim_chunks(chunks, align);
		}
		if (first < 0)
			return -1;
		err = map_range(chunk_addr((unsigned long)first), size);
		if (err == -ENOMEM) {
			/* Address space held by lazily freed areas and free sections. */
			drop_caches();
			err = map_range(chunk_addr((unsigned long)first), size);
		}
		if (!err)
			return first;
		if (err != -EEXIST) {
			unclaim_chunks((unsigned long)first, chunks);
			return -1;
		}
	}
}

void *vmalloc_aligned(size_t size, size_t align)
{
	unsigned long chunks;
	struct vmap_area *va;
	long first;

	if (unlikely(!kmm_ensure_init() || !vmalloc_bytes || size > vmalloc_bytes ||
	             (READ_ONCE(memory_exhausted) && memory_exhausted_after_release()))) {
		errno = ENOMEM;
		return NULL;
	}
	/* A block of 0 bytes whose alignment only an area honours (memalign) is a page. */
	size = ALIGN_UP(max_ul(size, 1), PAGE_SIZE);
	chunks = ALIGN_UP(size, VMAP_CHUNK_SIZE) >> VMAP_CHUNK_SHIFT;
	if (align < VMAP_CHUNK_SIZE)
		align = VMAP_CHUNK_SIZE;
	first = reuse_lazy_area(chunks, align, size);
	if (first >= 0) {
		va = &vmap_area_storage[first];
		goto publish;
	}
	first = map_new_area(chunks, align, size);
	if (first < 0) {
		errno = ENOMEM;
		return NULL;
	}
	va = &vmap_area_storage[first];
	va->size = size;
	va->chunks = chunks;
	va->zeroed = true;
publish:
	kmm_lock(vmap_area_lock);
	chunk_area[first] = va;
	vmalloc_events.nr_vmalloc++;
	kmm_unlock(vmap_area_lock);
	return chunk_addr((unsigned long)first);
}

/* Give an area back for good: its pages, commit charge and address space. */
static void purge_vmap_area(struct vmap_area *va)
{
	unsigned long first = (unsigned long)(va - vmap_area_storage);

	unmap_range(chunk_addr(first), va->size);
	__atomic_add_fetch(&vmalloc_events.nr_purged, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vmalloc_events.pages_purged, va->size >> PAGE_SHIFT, __ATOMIC_RELAXED);
	unclaim_chunks(first, va->chunks);
}

/*
 * Purge the lazily freed areas that have waited KMM_DECAY_MS (all of them when @force),
 * oldest first, and any while more than VMAP_LAZY_MAX bytes wait. Returns when the
 * next one is due.
 */
static uint64_t purge_vmap_areas(uint64_t now, bool force)
{
	uint64_t decay = (uint64_t)kmm_option(OPT_DECAY_MS), next = UINT64_MAX;
	struct list_head purge, *pos, *prev;
	struct vmap_area *va, *tmp;

	INIT_LIST_HEAD(&purge);
	kmm_lock(vmap_area_lock);
	for (pos = vmap_purge_list.prev; pos != &vmap_purge_list; pos = prev) {
		prev = pos->prev;
		va = list_entry(pos, struct vmap_area, lazy);
		if (force || now - va->freed_at_ms >= decay || vmap_lazy_bytes > VMAP_LAZY_MAX) {
			list_move_tail(&va->lazy, &purge);
			vmap_lazy_bytes -= va->size;
		} else if (va->freed_at_ms + decay < next) {
			next = va->freed_at_ms + decay;
		}
	}
	kmm_unlock(vmap_area_lock);
	list_for_each_entry_safe(va, tmp, &purge, lazy)
		purge_vmap_area(va);
	return next;
}

/* The area that starts exactly at @addr, or NULL. */
static struct vmap_area *find_vmap_area(const void *addr)
{
	unsigned long chunk;
	struct vmap_area *va;

	if (!is_vmalloc_addr(addr) || ((uintptr_t)addr & (VMAP_CHUNK_SIZE - 1)))
		return NULL;
	chunk = addr_chunk(addr);
	kmm_lock(vmap_area_lock);
	va = chunk_area[chunk];
	kmm_unlock(vmap_area_lock);
	return va;
}

bool vmalloc_area_zeroed(const void *addr)
{
	struct vmap_area *va = find_vmap_area(addr);

	return va && va->zeroed;
}

size_t vmalloc_size(const void *addr)
{
	struct vmap_area *va = find_vmap_area(addr);

	return va ? va->size : 0;
}

void vfree_caller(const void *addr, const char *caller)
{
	uint64_t now = os_now_ms();
	struct vmap_area *va = NULL;
	bool over;

	kmm_lock(vmap_area_lock);
	if (is_vmalloc_addr(addr) && IS_ALIGNED((uintptr_t)addr, VMAP_CHUNK_SIZE))
		va = chunk_area[addr_chunk(addr)];
	if (va) {
		chunk_area[addr_chunk(addr)] = NULL;
		va->freed_at_ms = now;
		list_add(&va->lazy, &vmap_purge_list);
		vmap_lazy_bytes += va->size;
		vmalloc_events.nr_vfree++;
	}
	over = vmap_lazy_bytes > VMAP_LAZY_MAX;
	kmm_unlock(vmap_area_lock);
	if (!va)
		kmm_bug("%s(): invalid pointer %p (not the start of a vmalloc area)", caller, addr);
	if (over)
		purge_vmap_areas(now, false);
	page_reporting_schedule(now + (uint64_t)kmm_option(OPT_DECAY_MS));
}

/* malloc_trim: every lazily freed area goes back now. */
void vmalloc_purge_all(void)
{
	purge_vmap_areas(os_now_ms(), true);
}

/* Shrink: the pages past the new end are unmapped, the chunks past it given back. */
static void *vshrink(struct vmap_area *va, void *addr, size_t size, unsigned long chunks)
{
	unsigned long first = addr_chunk(addr);

	if (size < va->size)
		unmap_range((char *)addr + size, va->size - size);
	if (chunks < va->chunks) {
		unclaim_chunks(first + chunks, va->chunks - chunks);
		va->chunks = chunks;
	}
	va->size = size;
	return addr;
}

/* Grow to @size in place: over the rest of the last chunk and the free chunks after it. */
static bool vgrow_in_place(struct vmap_area *va, void *addr, size_t size, unsigned long chunks)
{
	unsigned long extra = chunks - va->chunks, tail = addr_chunk(addr) + va->chunks;
	bool ok = true;

	kmm_lock(vmap_area_lock);
	for (unsigned long i = tail; i < tail + extra && ok; i++)
		ok = i < nr_chunks && !chunk_taken(i);
	if (ok)
		mark_chunks(tail, extra, true);
	kmm_unlock(vmap_area_lock);
	if (!ok)
		return false;
	if (map_range((char *)addr + va->size, size - va->size) != 0) {
		unclaim_chunks(tail, extra);
		return false;
	}
	va->chunks = chunks;
	return true;
}

/* Move the area's pages to a larger run of chunks, without copying them. */
static void *vgrow_move(struct vmap_area *va, void *addr, size_t size, unsigned long chunks)
{
	unsigned long first = addr_chunk(addr);
	long to = claim_chunks(chunks, VMAP_CHUNK_SIZE);
	struct vmap_area *moved;
	char *dest;
	int err;

	if (to < 0)
		return NULL;
	if (memory_swaps()) {
		unclaim_chunks((unsigned long)to, chunks);
		return NULL; /* its swapped-out pages are kept by address: copy instead */
	}
	dest = chunk_addr((unsigned long)to);
	/*
	 * Map all of the new place first, so that the move replaces kmm's own mapping and
	 * never another one that landed there: once the pages have moved, nothing may fail.
	 */
	err = map_range(dest, size);
	if (err == -EEXIST)
		return NULL; /* another mapping holds part of them: they stay claimed, a hole */
	if (err || os_move(addr, va->size, dest) != 0) {
		if (!err)
			unmap_range(dest, size);
		unclaim_chunks((unsigned long)to, chunks);
		return NULL;
	}
	moved = &vmap_area_storage[to];
	*moved = *va;
	moved->chunks = chunks;
	kmm_lock(vmap_area_lock);
	chunk_area[first] = NULL;
	chunk_area[to] = moved;
	kmm_unlock(vmap_area_lock);
	unmap_range(addr, va->size);
	/* The moved mapping lost its registration with userfaultfd, if any: announce it again. */
	memory_notify(MEM_MAPPED, dest, size);
	unclaim_chunks(first, va->chunks);
	return dest;
}

void *vrealloc(void *addr, size_t size)
{
	struct vmap_area *va = find_vmap_area(addr);
	unsigned long chunks;
	void *result = addr;

	if (!va)
		kmm_bug("realloc(): invalid pointer %p (not the start of a vmalloc area)", addr);
	if (size > vmalloc_bytes) {
		errno = ENOMEM;
		return NULL;
	}
	size = ALIGN_UP(max_ul(size, 1), PAGE_SIZE);
	chunks = ALIGN_UP(size, VMAP_CHUNK_SIZE) >> VMAP_CHUNK_SHIFT;
	if (size <= va->size)
		return vshrink(va, addr, size, chunks);
	if (!vgrow_in_place(va, addr, size, chunks)) {
		result = vgrow_move(va, addr, size, chunks);
		if (!result) {
			/* No mremap (an old kernel, say): a new area and a copy, as any realloc. */
			result = vmalloc_aligned(size, VMAP_CHUNK_SIZE);
			if (!result)
				return NULL;
			memcpy(result, addr, va->size);
			vfree_caller(addr, "realloc");
			return result;
		}
		va = find_vmap_area(result);
	}
	va->size = size;
	return result;
}

void vmalloc_for_each_area(void (*fn)(void *start, size_t size))
{
	struct vmap_area *va;

	kmm_lock(vmap_area_lock);
	for (unsigned long i = 0; i < nr_chunks; i++)
		if (chunk_area[i])
			fn(chunk_addr(i), chunk_area[i]->size);
	list_for_each_entry(va, &vmap_purge_list, lazy)
		fn(chunk_addr((unsigned long)(va - vmap_area_storage)), va->size);
	kmm_unlock(vmap_area_lock);
}

void vmalloc_fork_prepare(void)
{
	kmm_lock(vmap_area_lock);
}

void vmalloc_fork_parent(void)
{
	kmm_unlock(vmap_area_lock);
}

void vmalloc_fork_child(void)
{
	if (!fork_locks_wiped)
		kmm_lock_reinit(vmap_area_lock);
}

/*
 * Read without vmap_area_lock, so that a signal handler can call it: the table and the
 * bitmap never move, and an entry read mid-change is one area more or less.
 */
void vmalloc_collect_info(struct vmalloc_info *info)
{
	unsigned long run = 0;

	*info = (struct vmalloc_info){.total_bytes = vmalloc_bytes};
	if (!vmalloc_bytes)
		return;
	for (unsigned long i = 0; i < nr_chunks; i++) {
		struct vmap_area *va;

		/* A window is mostly free: 64 free chunks at a time. */
		if (i % 64 == 0 && i + 64 <= nr_chunks && !READ_ONCE(chunk_bitmap[i / 64])) {
			run += 64;
			i += 63;
		} else if (chunk_taken(i)) {
			run = 0;
			va = READ_ONCE(chunk_area[i]);
			if (va) {
				info->nr_areas++;
				info->used_bytes += READ_ONCE(va->size);
			}
		} else {
			run++;
		}
		if (run > info->largest_free_chunks)
			info->largest_free_chunks = run;
	}
	info->largest_free_bytes = info->largest_free_chunks << VMAP_CHUNK_SHIFT;
	info->lazy_bytes = READ_ONCE(vmap_lazy_bytes);
	info->events.nr_vmalloc = READ_ONCE(vmalloc_events.nr_vmalloc);
	info->events.nr_vfree = READ_ONCE(vmalloc_events.nr_vfree);
	info->events.nr_purged = READ_ONCE(vmalloc_events.nr_purged);
	info->events.pages_purged = READ_ONCE(vmalloc_events.pages_purged);
}

/*
 * The compressed tier in front of the swap devices (the kernel's mm/zswap.c): a page on
 * its way to swap is compressed (LZ4 by default, zstd level 1 with
 * KMM_ZSWAP_COMPRESSOR=zstd: a third less pool for three times the time, see
 * docs/decisions.md) into an in-memory pool and the file is not written; a page that compresses
 * worse than ZSWAP_MAX_STORED, or finds the pool full after the oldest entries were written back,
 * goes to the file as before.
 *
 * An entry is keyed by the page's swap slot, as in the kernel: every evicted page has a
 * slot whether its data is in the pool or in the file, so the rest of the layer knows
 * only slots, and a slot written back from the pool to the file keeps its number. Each
 * device has a table of one zswap_entry per slot (MAP_NORESERVE, touched only where
 * slots are used). Loads do not free the entry: the page gives up its slot, and with it
 * the entry, once it is back in place (swap_free), so a swap-in that fails half-way
 * loses nothing.
 *
 * The pool (the kernel's zsmalloc, simplified by having one contiguous reservation) is
 * carved into chunks of ZSWAP_CHUNK bytes; a chunk serves one size class, in steps of
 * ZSWAP_CLASS_STEP bytes, and objects may cross page boundaries inside it. Each object
 * is the compressed length (two bytes) and the compressed data. A chunk's memory is
 * charged to the memory counter from the time it serves a class until its last object
 * is freed and it goes back to the OS, so the pool and the heap together stay under
 * KMM_MEM_LIMIT; the pool may take KMM_ZSWAP_MAX_POOL_PERCENT of it. The entries form
 * one LRU list in order of storing; when no chunk is left, the oldest are decompressed
 * and written to their slots in the file (zswpwb), as the kernel's zswap shrinker does.
 *
 * Invariants: everything here runs under reclaim_lock (internal.h), on kmm's raw
 * threads, so nothing allocates and every system call is os_raw_syscall. The pool is
 * never registered with userfaultfd: it is always resident and nobody faults on it.
 *
 * fork: the pool, the tables and the list are private memory, copied into the child,
 * which reads the same data from them. A slot that both processes hold on a frozen
 * device may be written back by either; both write the same bytes.
 *
 * Lock order: reclaim_lock only.
 */
#define ZSTD_STATIC_LINKING_ONLY /* contexts in kmm's own memory: nothing allocates */
#include <errno.h>
#include <lz4.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <zstd.h>

#include "../base/options.h"
#include "../base/printk.h"
#include "internal.h"

#define ZSWAP_CHUNK       (16UL << 10)
#define ZSWAP_CHUNK_PAGES (ZSWAP_CHUNK >> PAGE_SHIFT)
#define ZSWAP_CLASS_STEP  64
#define ZSWAP_HEADER      sizeof(uint16_t)
#define ZSWAP_MAX_STORED  (PAGE_SIZE * 3 / 4) /* an object's size, header included */
#define ZSWAP_NR_CLASSES  (ZSWAP_MAX_STORED / ZSWAP_CLASS_STEP)
#define ZSWAP_WRITEBACK   16 /* entries written back at a time when the pool is full */
#define ZSWAP_NO_OBJECT   UINT16_MAX
#define ZSWAP_NO_CHUNK    UINT32_MAX
#define ZSWAP_OBJ_BITS    8 /* a chunk holds at most 256 objects of the smallest class */
#define ZSWAP_MAX_CHUNKS  ((1UL << (32 - ZSWAP_OBJ_BITS)) - 1) /* handle 0 is none */

/* A slot's entry; handle 0: the slot's data is not in the pool. */
struct zswap_entry {
	uint32_t handle;        /* (chunk << ZSWAP_OBJ_BITS | object) + 1 */
	swp_entry_t prev, next; /* the LRU list, oldest at the tail; 0 is none */
};

/* A chunk of the pool: free, serving a size class, or on a class's partial list. */
struct zchunk {
	uint16_t inuse;     /* objects handed out */
	uint16_t freelist;  /* first freed object, linked through the objects' first bytes */
	uint16_t carved;    /* objects handed out at least once: the rest never touched */
	uint8_t size_class; /* valid while inuse or carved */
	bool partial;       /* on its class's partial list */
	uint32_t next, prev;
};

static bool zswap_enabled;
static long limit_pages; /* KMM_MEM_LIMIT: a chunk is charged only below it */
static char *pool_base;
static struct zchunk *chunks;
static unsigned long nr_chunks;
static uint32_t free_chunks = ZSWAP_NO_CHUNK; /* a stack through zchunk.next */
static unsigned long never_used;              /* chunks from here on were never handed out */
static uint32_t partial[ZSWAP_NR_CLASSES];
static struct zswap_entry *trees[MAX_SWAPFILES];
static swp_entry_t lru_head, lru_tail;
static struct zswap_stats zstats;
static LZ4_stream_t lz4_state;
static ZSTD_CCtx *zstd_cctx;
static ZSTD_DCtx *zstd_dctx;
static char compress_buffer[ZSTD_COMPRESSBOUND(PAGE_SIZE)];
static char writeback_buffer[PAGE_SIZE];

static unsigned int class_size(unsigned int size_class)
{
	return (size_class + 1) * ZSWAP_CLASS_STEP;
}

static unsigned int objects_per_chunk(unsigned int size_class)
{
	return (unsigned int)(ZSWAP_CHUNK / class_size(size_class));
}

static char *object_address(uint32_t handle)
{
	uint32_t chunk = (handle - 1) >> ZSWAP_OBJ_BITS;
	uint32_t object = (handle - 1) & ((1U << ZSWAP_OBJ_BITS) - 1);

	return pool_base + chunk * ZSWAP_CHUNK + object * class_size(chunks[chunk].size_class);
}

static struct zswap_entry *zswap_entry_of(swp_entry_t swp)
{
	struct zswap_entry *tree = trees[swp_type(swp)];

	return tree ? &tree[swp_offset(swp)] : NULL;
}

/* ---- the pool -------------------------------------------------------------------------- */

static void partial_add(unsigned int size_class, uint32_t c)
{
	chunks[c].partial = true;
	chunks[c].prev = ZSWAP_NO_CHUNK;
	chunks[c].next = partial[size_class];
	if (partial[size_class] != ZSWAP_NO_CHUNK)
		chunks[partial[size_class]].prev = c;
	partial[size_class] = c;
}

static void partial_del(unsigned int size_class, uint32_t c)
{
	struct zchunk *ch = &chunks[c];

	if (ch->prev != ZSWAP_NO_CHUNK)
		chunks[ch->prev].next = ch->next;
	else
		partial[size_class] = ch->next;
	if (ch->next != ZSWAP_NO_CHUNK)
		chunks[ch->next].prev = ch->prev;
	ch->partial = false;
}

/*
 * A chunk for @size_class: a free one, or a never used one; charged. None when its
 * charge would cross the limit: the page being stored is still charged itself, and
 * goes to the file.
 */
static uint32_t chunk_get(unsigned int size_class)
{
	uint32_t c;

	if (READ_ONCE(memory_counter.usage) + (long)ZSWAP_CHUNK_PAGES > limit_pages)
		return ZSWAP_NO_CHUNK;
	if (free_chunks != ZSWAP_NO_CHUNK) {
		c = free_chunks;
		free_chunks = chunks[c].next;
	} else if (never_used < nr_chunks) {
		c = (uint32_t)never_used++;
	} else {
		return ZSWAP_NO_CHUNK;
	}
	chunks[c] = (struct zchunk){.freelist = ZSWAP_NO_OBJECT, .size_class = (uint8_t)size_class};
	partial_add(size_class, c);
	page_counter_charge(&memory_counter, ZSWAP_CHUNK_PAGES);
	zstats.pool_pages += ZSWAP_CHUNK_PAGES;
	return c;
}

/* A chunk whose last object was freed goes back to the OS and to the free stack. */
static void chunk_put(uint32_t c)
{
	partial_del(chunks[c].size_class, c);
	os_raw_syscall(SYS_madvise, pool_base + c * ZSWAP_CHUNK, ZSWAP_CHUNK, MADV_DONTNEED);
	chunks[c].carved = 0;
	chunks[c].next = free_chunks;
	free_chunks = c;
	page_counter_charge(&memory_counter, -(long)ZSWAP_CHUNK_PAGES);
	zstats.pool_pages -= ZSWAP_CHUNK_PAGES;
}

static uint32_t zs_malloc(size_t size)
{
	unsigned int size_class = (unsigned int)((size - 1) / ZSWAP_CLASS_STEP);
	uint32_t c = partial[size_class];
	struct zchunk *ch;
	unsigned int object;

	if (c == ZSWAP_NO_CHUNK && (c = chunk_get(size_class)) == ZSWAP_NO_CHUNK)
		return 0;
	ch = &chunks[c];
	if (ch->freelist != ZSWAP_NO_OBJECT) {
		object = ch->freelist;
		ch->freelist = *(uint16_t *)(pool_base + c * ZSWAP_CHUNK +
		                             object * class_size(size_class));
	} else {
		object = ch->carved++;
	}
	if (++ch->inuse == objects_per_chunk(size_class))
		partial_del(size_class, c);
	return (c << ZSWAP_OBJ_BITS | object) + 1;
}

static void zs_free(uint32_t handle)
{
	uint32_t c = (handle - 1) >> ZSWAP_OBJ_BITS;
	struct zchunk *ch = &chunks[c];

	*(uint16_t *)object_address(handle) = ch->freelist;
	ch->freelist = (uint16_t)((handle - 1) & ((1U << ZSWAP_OBJ_BITS) - 1));
	if (!ch->partial)
		partial_add(ch->size_class, c);
	if (--ch->inuse == 0)
		chunk_put(c);
}

/* ---- the entries ----------------------------------------------------------------------- */

static void lru_link_entry(swp_entry_t swp, struct zswap_entry *entry)
{
	entry->prev.val = 0;
	entry->next = lru_head;
	if (lru_head.val)
		zswap_entry_of(lru_head)->prev = swp;
	else
		lru_tail = swp;
	lru_head = swp;
}

static void lru_unlink_entry(struct zswap_entry *entry)
{
	if (entry->prev.val)
		zswap_entry_of(entry->prev)->next = entry->next;
	else
		lru_head = entry->next;
	if (entry->next.val)
		zswap_entry_of(entry->next)->prev = entry->prev;
	else
		lru_tail = entry->prev;
}

static void entry_free(struct zswap_entry *entry)
{
	lru_unlink_entry(entry);
	zs_free(entry->handle);
	entry->handle = 0;
	zstats.stored_pages--;
}

#define ZSTD_LEVEL 1

/* @page compressed into compress_buffer: its length, or 0 when it needs more than @cap. */
static size_t compress(const char *page, size_t cap)
{
	size_t length;

	if (!zstd_cctx)
		return (size_t)LZ4_compress_fast_extState(&lz4_state, page, compress_buffer,
		                                          PAGE_SIZE, (int)cap, 1);
	length = ZSTD_compressCCtx(zstd_cctx, compress_buffer, cap, page, PAGE_SIZE, ZSTD_LEVEL);
	return ZSTD_isError(length) ? 0 : length;
}

static bool decompress(uint32_t handle, char *dst)
{
	const char *object = object_address(handle);
	uint16_t length = *(const uint16_t *)object;

	if (zstd_dctx)
		return ZSTD_decompressDCtx(zstd_dctx, dst, PAGE_SIZE, object + ZSWAP_HEADER,
		                           length) == PAGE_SIZE;
	return LZ4_decompress_safe(object + ZSWAP_HEADER, dst, length, PAGE_SIZE) == (int)PAGE_SIZE;
}

/* Write up to ZSWAP_WRITEBACK of the oldest entries to their slots in the file and free
 * them: false when none could be. */
static bool zswap_writeback(void)
{
	unsigned int done = 0;

	for (; done < ZSWAP_WRITEBACK && lru_tail.val; done++) {
		swp_entry_t swp = lru_tail;
		struct zswap_entry *entry = zswap_entry_of(swp);
		char *page = writeback_buffer;

		if (!decompress(entry->handle, writeback_buffer) ||
		    swap_writepages(&swp, &page, 1) != 0)
			return false; /* the entry stays: its data is nowhere else */
		entry_free(entry);
		reclaim_events.zswpwb++;
		reclaim_events.pswpout++;
	}
	return done > 0;
}

bool zswap_store(swp_entry_t swp, const char *page)
{
	struct zswap_entry *entry;
	size_t length;
	uint32_t handle;

	if (!zswap_enabled)
		return false;
	if (!trees[swp_type(swp)]) {
		/* A raw mmap: this runs on kmm's raw threads, which must not touch errno. */
		long tree = os_raw_syscall6(
		        SYS_mmap, 0,
		        (long)ALIGN_UP((SWP_OFFSET_MAX + 1) * sizeof(struct zswap_entry),
		                       PAGE_SIZE),
		        PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (tree < 0 && tree > -4096)
			return false;
		trees[swp_type(swp)] = (struct zswap_entry *)tree;
	}
	length = compress(page, ZSWAP_MAX_STORED - ZSWAP_HEADER);
	if (!length) {
		zstats.reject_compress_poor++;
		return false;
	}
	handle = zs_malloc(ZSWAP_HEADER + length);
	for (int tries = 0; !handle && tries < 4 && zswap_writeback(); tries++)
		handle = zs_malloc(ZSWAP_HEADER + length);
	if (!handle) {
		zstats.reject_pool_full++;
		return false;
	}
	*(uint16_t *)object_address(handle) = (uint16_t)length;
	__builtin_memcpy(object_address(handle) + ZSWAP_HEADER, compress_buffer, length);
	entry = zswap_entry_of(swp);
	entry->handle = handle;
	lru_link_entry(swp, entry);
	zstats.stored_pages++;
	reclaim_events.zswpout++;
	return true;
}

bool zswap_present(swp_entry_t swp)
{
	const struct zswap_entry *entry = zswap_entry_of(swp);

	return entry && entry->handle;
}

int zswap_load(swp_entry_t swp, char *dst)
{
	struct zswap_entry *entry = zswap_entry_of(swp);

	if (!decompress(entry->handle, dst))
		return -EIO;
	reclaim_events.zswpin++;
	return 0;
}

void zswap_invalidate(swp_entry_t swp)
{
	struct zswap_entry *entry = zswap_entry_of(swp);

	if (entry && entry->handle)
		entry_free(entry);
}

void zswap_swapoff(unsigned int type)
{
	/* Every slot was freed, so no entry is left; the pages go, the table reads as empty. */
	if (trees[type])
		os_raw_syscall(
		        SYS_madvise, trees[type],
		        ALIGN_UP((SWP_OFFSET_MAX + 1) * sizeof(struct zswap_entry), PAGE_SIZE),
		        MADV_DONTNEED);
}

void zswap_collect(struct zswap_stats *out)
{
	*out = zstats;
	out->enabled = zswap_enabled;
	out->max_pool_pages = nr_chunks * ZSWAP_CHUNK_PAGES;
}

int zswap_init(unsigned long limit)
{
	unsigned long pool = limit * (unsigned long)kmm_option(OPT_ZSWAP_MAX_POOL_PERCENT) / 100;

	if (kmm_option(OPT_ZSWAP) != ZSWAP_ON || !limit)
		return 0;
	limit_pages = (long)limit;
	nr_chunks = min_ul(pool / ZSWAP_CHUNK_PAGES, ZSWAP_MAX_CHUNKS);
	if (!nr_chunks)
		return 0;
	pool_base = os_map_sparse(nr_chunks * ZSWAP_CHUNK);
	chunks = os_map_sparse(ALIGN_UP(nr_chunks * sizeof(*chunks), PAGE_SIZE));
	if (!pool_base || !chunks)
		return -1;
	/* Charged by the chunk: a huge page would fault in, or collapse, far more. */
	os_raw_syscall(SYS_madvise, pool_base, nr_chunks * ZSWAP_CHUNK, MADV_NOHUGEPAGE);
	if (kmm_option(OPT_ZSWAP_COMPRESSOR) == ZSWAP_ZSTD) {
		size_t csize = ZSTD_estimateCCtxSize_usingCParams(
		        ZSTD_getCParams(ZSTD_LEVEL, PAGE_SIZE, 0));
		size_t dsize = ZSTD_estimateDCtxSize();
		void *cwork = os_map_sparse(ALIGN_UP(csize, PAGE_SIZE));
		void *dwork = os_map_sparse(ALIGN_UP(dsize, PAGE_SIZE));

		zstd_cctx = cwork ? ZSTD_initStaticCCtx(cwork, csize) : NULL;
		zstd_dctx = dwork ? ZSTD_initStaticDCtx(dwork, dsize) : NULL;
		if (!zstd_cctx || !zstd_dctx)
			return -1;
	}
	for (unsigned int i = 0; i < ZSWAP_NR_CLASSES; i++)
		partial[i] = ZSWAP_NO_CHUNK;
	zswap_enabled = true;
	return 0;
}

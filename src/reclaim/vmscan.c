/*
 * Aging and eviction (the kernel's mm/vmscan.c and mm/swap.c): the LRU lists of each
 * node, the watermarks derived from KMM_MEM_LIMIT, kswapd, and direct reclaim.
 *
 * Userspace has no accessed bit, so the inactive list is where a page proves it is in
 * use: deactivating a page moves it (UFFDIO_MOVE, atomic against writers) from the
 * program's address to its place in the staging mirror, where it stays resident and
 * charged. A touch faults, and the handler moves it back and activates it; a page that
 * reaches the inactive tail untouched is written to swap and dropped: to the compressed
 * tier when it compresses (zswap.c), not at all when it came in from the swap file and
 * still hashes as it did then (the swap cache). The staged copies go back to the OS in
 * one process_madvise per batch (struct mmu_gather). The active list
 * is thus in order of the last fault, and the inactive list is the kernel's second
 * chance. Pages all zero are not written: they drop, and the next touch gets zeros.
 *
 * kswapd is a raw thread (os_start_raw_thread): a fork child starts its own before
 * anything of kmm's can allocate. It wakes when the headroom under the limit falls
 * below the low watermark and reclaims until it is above the high one, in rounds of
 * SWAP_CLUSTER_MAX pages (balance_pgdat over a scan_control), first giving back the
 * free memory the buddy allocator holds (free memory is never swapped), then aging and
 * evicting. A fault that would cross the limit reclaims directly in the handler, up to
 * the min watermark's headroom.
 *
 * Invariants: see internal.h. In addition, kswapd calls into the buddy allocator only
 * with reclaim_lock dropped (the allocator's locks come first in the lock order), and
 * never into the slab layer, whose locks assume glibc's thread count.
 *
 * Lock order: zone->lock -> reclaim_lock.
 */
#include <errno.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "../base/printk.h"
#include "../buddy/page_alloc.h"
#include "internal.h"
#include "uffd_compat.h"

#define SWAP_CLUSTER_MAX 32
#define DEF_PRIORITY     12
#define KSWAPD_STACK     (64UL << 10)

struct page_ext *page_ext_map;
char *staging_base;
kmm_lock_t reclaim_lock;
struct page_counter memory_counter;
struct reclaim_events reclaim_events;
bool reclaim_swapping;

static struct lruvec lruvecs[KMM_MAX_NUMNODES];
static struct watermarks wmark;
static int kswapd_wait;     /* futex word: 1 when kswapd was woken */
static bool swap_full_said; /* one line per process */

/* ---- the lists -------------------------------------------------------------------------- */

static struct lruvec *page_lruvec(uint32_t index)
{
	if (index < kmm_max_pfn)
		return &lruvecs[mem_section[pfn_to_section_nr(index)].nid];
	return &lruvecs[0];
}

static void list_link(struct lruvec *lruvec, enum lru_list lru, uint32_t index)
{
	struct page_ext *ext = &page_ext_map[index];

	ext->prev = EXT_NONE;
	ext->next = lruvec->head[lru];
	if (lruvec->head[lru] != EXT_NONE)
		page_ext_map[lruvec->head[lru]].prev = index;
	else
		lruvec->tail[lru] = index;
	lruvec->head[lru] = index;
	lruvec->nr_pages[lru]++;
}

static void list_unlink(struct lruvec *lruvec, enum lru_list lru, uint32_t index)
{
	struct page_ext *ext = &page_ext_map[index];

	if (ext->prev != EXT_NONE)
		page_ext_map[ext->prev].next = ext->next;
	else
		lruvec->head[lru] = ext->next;
	if (ext->next != EXT_NONE)
		page_ext_map[ext->next].prev = ext->prev;
	else
		lruvec->tail[lru] = ext->prev;
	lruvec->nr_pages[lru]--;
}

static enum lru_list page_lru(const struct page_ext *ext)
{
	return page_ext_test(ext, PG_active) ? LRU_ACTIVE_ANON : LRU_INACTIVE_ANON;
}

void page_counter_charge(struct page_counter *counter, long pages)
{
	long usage = __atomic_add_fetch(&counter->usage, pages, __ATOMIC_RELAXED);

	if (usage > READ_ONCE(counter->watermark))
		WRITE_ONCE(counter->watermark, usage); /* under reclaim_lock */
	/* Room again (the program freed memory, and it went back): allocations may go on. */
	if (unlikely(READ_ONCE(memory_exhausted)) && pages < 0 &&
	    (long)wmark.limit - usage >= (long)wmark.low)
		WRITE_ONCE(memory_exhausted, false);
}

void lru_add_active(uint32_t index)
{
	struct page_ext *ext = &page_ext_map[index];

	if (page_ext_test(ext, PG_lru))
		return;
	ext->flags = 1U << PG_lru | 1U << PG_active;
	list_link(page_lruvec(index), LRU_ACTIVE_ANON, index);
	page_counter_charge(&memory_counter, 1);
}

static unsigned long nr_swapcache; /* pages with PG_swapcache: meminfo's SwapCached */
static uint64_t *swapcache_hash;   /* by page_ext index: the contents a page came in with */

/*
 * A 64-bit hash of a page: xor, multiply and rotate by word, in four independent lanes
 * so that the multiplications overlap (about 0.6 µs a page), the lanes mixed at the end.
 */
static uint64_t page_hash(const char *page)
{
	const uint64_t *word = (const uint64_t *)page;
	uint64_t lane[4] = {0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL,
	                    0x27d4eb2f165667c5ULL};
	uint64_t h;

	for (size_t i = 0; i < PAGE_SIZE / sizeof(*word); i += 4)
		for (int l = 0; l < 4; l++) {
			lane[l] = (lane[l] ^ word[i + l]) * 0xff51afd7ed558ccdULL;
			lane[l] = lane[l] << 31 | lane[l] >> 33;
		}
	h = lane[0];
	for (int l = 1; l < 4; l++) {
		h = (h ^ lane[l]) * 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 29;
	}
	return h;
}

void swapcache_add(uint32_t index, const char *data)
{
	swapcache_hash[index] = page_hash(data);
	page_ext_map[index].flags |= 1U << PG_swapcache;
	nr_swapcache++;
}

void swapcache_del(uint32_t index)
{
	struct page_ext *ext = &page_ext_map[index];

	if (!page_ext_test(ext, PG_swapcache))
		return;
	ext->flags &= ~(1U << PG_swapcache);
	swap_free(ext->swap);
	ext->swap.val = 0;
	nr_swapcache--;
}

void lru_del(uint32_t index)
{
	struct page_ext *ext = &page_ext_map[index];

	if (!page_ext_test(ext, PG_lru))
		return;
	swapcache_del(index);
	list_unlink(page_lruvec(index), page_lru(ext), index);
	ext->flags = 0;
	page_counter_charge(&memory_counter, -1);
}

/* A page of the swap cache stays in it: its hash is checked when it is next evicted. */
void lru_activate(uint32_t index)
{
	struct page_ext *ext = &page_ext_map[index];
	struct lruvec *lruvec = page_lruvec(index);

	list_unlink(lruvec, LRU_INACTIVE_ANON, index);
	ext->flags |= 1U << PG_active | 1U << PG_referenced;
	list_link(lruvec, LRU_ACTIVE_ANON, index);
	reclaim_events.pgactivate++;
}

/* ---- deactivation and eviction ---------------------------------------------------------- */

struct scan_control {
	unsigned long nr_to_reclaim;
	unsigned long nr_scanned;
	unsigned long nr_reclaimed;
	int priority;
	bool kswapd;
	bool swap_failed;                /* a swap-out found no slot or failed to write */
	uint32_t busy[SWAP_CLUSTER_MAX]; /* pages UFFDIO_MOVE found shared (after a fork) */
	unsigned int nr_busy;
};

static long uffd_move(uintptr_t dst, uintptr_t src, size_t len)
{
	struct uffdio_move move = {.dst = dst, .src = src, .len = len, .mode = 0};

	if (os_raw_syscall(SYS_ioctl, uffd_descriptor(), UFFDIO_MOVE, &move) == 0)
		return (long)len;
	return move.move;
}

/* pidfd_open's PIDFD_SELF_THREAD_GROUP (Linux 6.15): this process, without a descriptor. */
#define PIDFD_SELF_THREAD_GROUP (-10001)

static bool no_process_madvise; /* the kernel refused it once: madvise from then on */

void tlb_finish_mmu(struct mmu_gather *tlb)
{
	size_t len = 0;
	long done;

	for (unsigned int i = 0; i < tlb->nr; i++)
		len += tlb->ranges[i].iov_len;
	if (tlb->nr > 1 && !no_process_madvise) {
		done = os_raw_syscall6(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP,
		                       (long)tlb->ranges, tlb->nr, MADV_DONTNEED, 0, 0);
		if (done == (long)len) {
			tlb->nr = 0;
			return;
		}
		no_process_madvise = done < 0; /* refused: an older kernel */
	}
	/* Each range alone (what was cut short too: dropping twice is harmless). */
	for (unsigned int i = 0; i < tlb->nr; i++)
		os_raw_syscall(SYS_madvise, tlb->ranges[i].iov_base, tlb->ranges[i].iov_len,
		               MADV_DONTNEED);
	tlb->nr = 0;
}

void tlb_remove_range(struct mmu_gather *tlb, void *addr, size_t len)
{
	struct iovec *last = tlb->nr ? &tlb->ranges[tlb->nr - 1] : NULL;

	if (last && (char *)last->iov_base + last->iov_len == (char *)addr) {
		last->iov_len += len;
		return;
	}
	if (tlb->nr == MMU_GATHER_MAX)
		tlb_finish_mmu(tlb);
	tlb->ranges[tlb->nr++] = (struct iovec){.iov_base = addr, .iov_len = len};
}

/* Where a page that cannot move now goes: back to the active head, noted for kswapd. */
static void keep_active(struct lruvec *lruvec, uint32_t index, long err, struct scan_control *sc)
{
	struct page_ext *ext = &page_ext_map[index];

	if (err == -ENOENT) {
		/* Gone without kmm (the program's own MADV_DONTNEED): nothing to keep. */
		swapcache_del(index);
		ext->flags = 0;
		page_counter_charge(&memory_counter, -1);
		return;
	}
	list_link(lruvec, LRU_ACTIVE_ANON, index);
	if (err == -EBUSY && sc->kswapd && sc->nr_busy < SWAP_CLUSTER_MAX)
		sc->busy[sc->nr_busy++] = index;
}

/*
 * Move up to @nr pages from the active tail to the staging mirror and the inactive
 * list (the kernel's shrink_active_list), a run of neighbours in one UFFDIO_MOVE. A
 * page still shared with a fork child cannot move (EBUSY): kswapd notes it to be made
 * private, outside the lock, and it goes round again.
 */
static void deactivate(struct lruvec *lruvec, uint32_t index)
{
	page_ext_map[index].flags &= ~(1U << PG_active | 1U << PG_referenced);
	list_link(lruvec, LRU_INACTIVE_ANON, index);
	reclaim_events.pgdeactivate++;
}

/* Move the run of @n neighbours from @first out of the program's reach, one call. */
static void deactivate_run(struct lruvec *lruvec, uint32_t first, unsigned int n,
                           struct scan_control *sc)
{
	long moved;
	unsigned int done;

	moved = uffd_move((uintptr_t)staging_address(first), page_ext_address(first),
	                  (size_t)n << PAGE_SHIFT);
	done = moved > 0 ? (unsigned int)(moved >> PAGE_SHIFT) : 0;

	for (unsigned int k = 0; k < done; k++)
		deactivate(lruvec, first + k);
	/* The first page that did not move says why; the rest go one by one. */
	for (unsigned int k = done; k < n; k++) {
		if (k > done || moved > 0)
			moved = uffd_move((uintptr_t)staging_address(first + k),
			                  page_ext_address(first + k), PAGE_SIZE);
		if (moved == PAGE_SIZE)
			deactivate(lruvec, first + k);
		else
			keep_active(lruvec, first + k, moved, sc);
	}
}

/*
 * Move up to @nr pages from the active tail to the staging mirror and the inactive
 * list (the kernel's shrink_active_list), a run of neighbours in one UFFDIO_MOVE. A
 * page still shared with a fork child cannot move (EBUSY): kswapd notes it to be made
 * private, outside the lock, and it goes round again. kswapd lets the fault handler in
 * between two runs: each move interrupts the other CPUs to flush their TLBs, and a
 * fault should not wait for a whole batch of them.
 */
static void shrink_active_list(struct lruvec *lruvec, unsigned long nr, struct scan_control *sc)
{
	while (nr && lruvec->tail[LRU_ACTIVE_ANON] != EXT_NONE) {
		uint32_t first = lruvec->tail[LRU_ACTIVE_ANON];
		unsigned int n = 1;

		list_unlink(lruvec, LRU_ACTIVE_ANON, first);
		/* Neighbours in memory: the frames and the vmalloc window are not adjacent. */
		while (n < nr && lruvec->tail[LRU_ACTIVE_ANON] == first + n &&
		       first + n != kmm_max_pfn) {
			list_unlink(lruvec, LRU_ACTIVE_ANON, first + n);
			n++;
		}
		sc->nr_scanned += n;
		nr -= n;
		deactivate_run(lruvec, first, n, sc);
		if (sc->kswapd) {
			kmm_unlock(&reclaim_lock);
			kmm_lock(&reclaim_lock);
		}
	}
}

static bool page_is_zero(const char *page)
{
	const uint64_t *word = (const uint64_t *)page;

	for (size_t i = 0; i < PAGE_SIZE / sizeof(*word); i++)
		if (word[i])
			return false;
	return true;
}

static void swap_full(int err, struct scan_control *sc)
{
	sc->swap_failed = true;
	if (swap_full_said)
		return;
	swap_full_said = true;
	if (err == -ENOSPC || err == 0)
		kmm_printk("KMM_MEM_LIMIT: swap is full (KMM_SWAP_SIZE); allocations that need "
		           "more memory fail with ENOMEM until some is freed, nothing lost");
	else
		kmm_printk("KMM_MEM_LIMIT: writing to swap failed (errno %d); allocations that "
		           "need more memory fail with ENOMEM until some is freed, nothing lost",
		           -err);
}

/*
 * Save @nr pages in their slots: in the compressed tier those that fit there, the
 * others in one write per run of consecutive slots. 0, or the write's error (the
 * pages' data is then still in the pages, and the pool's copies go with the slots).
 */
static int swap_out(swp_entry_t *entries, char **pages, unsigned int nr)
{
	swp_entry_t to_file[SWAP_CLUSTER_MAX];
	char *from[SWAP_CLUSTER_MAX];
	unsigned int n = 0;
	int err;

	for (unsigned int i = 0; i < nr; i++) {
		if (zswap_store(entries[i], pages[i]))
			continue;
		to_file[n] = entries[i];
		from[n++] = pages[i];
	}
	err = n ? swap_writepages(to_file, from, n) : 0;
	if (!err)
		reclaim_events.pswpout += n;
	return err;
}

/*
 * Take the inactive pages of @batch off their list, uncharged, with their swap entries
 * (@entries, or the ones they keep from the swap cache, or none for a page that was
 * zeros), and give the staged copies back in one batch.
 */
static void evict_staged(struct lruvec *lruvec, const uint32_t *batch, const swp_entry_t *entries,
                         unsigned int nr)
{
	struct mmu_gather tlb = {.nr = 0};

	for (unsigned int i = 0; i < nr; i++) {
		struct page_ext *ext = &page_ext_map[batch[i]];

		tlb_remove_range(&tlb, staging_address(batch[i]), PAGE_SIZE);
		list_unlink(lruvec, LRU_INACTIVE_ANON, batch[i]);
		if (page_ext_test(ext, PG_swapcache))
			nr_swapcache--; /* the slot stays: it holds the data */
		ext->flags = 0;
		if (entries)
			ext->swap = entries[i];
	}
	tlb_finish_mmu(&tlb);
	page_counter_charge(&memory_counter, -(long)nr);
}

/*
 * Write up to SWAP_CLUSTER_MAX pages from the inactive tail to swap and drop them (the
 * kernel's shrink_inactive_list and pageout); pages all zero drop without a write.
 * Returns the pages reclaimed; on a swap failure the pages stay where they were, data
 * intact.
 */
static unsigned long shrink_inactive_list(struct lruvec *lruvec, unsigned long nr,
                                          struct scan_control *sc)
{
	uint32_t batch[SWAP_CLUSTER_MAX], zeros[SWAP_CLUSTER_MAX], clean[SWAP_CLUSTER_MAX];
	char *pages[SWAP_CLUSTER_MAX];
	swp_entry_t entries[SWAP_CLUSTER_MAX];
	unsigned int n = 0, nr_zero = 0, nr_clean = 0, got;
	uint32_t index = lruvec->tail[LRU_INACTIVE_ANON];
	int err;

	nr = min_ul(nr, SWAP_CLUSTER_MAX);
	for (; n + nr_zero + nr_clean < nr && index != EXT_NONE; index = page_ext_map[index].prev) {
		sc->nr_scanned++;
		/* Unchanged since it came in, its slot has its data: no write. */
		if (page_ext_test(&page_ext_map[index], PG_swapcache) &&
		    swapcache_hash[index] == page_hash(staging_address(index))) {
			clean[nr_clean++] = index;
			continue;
		}
		swapcache_del(index); /* written since: the slot's copy is stale */
		if (page_is_zero(staging_address(index))) {
			zeros[nr_zero++] = index;
		} else {
			pages[n] = staging_address(index);
			batch[n++] = index;
		}
	}
	if (nr_zero)
		evict_staged(lruvec, zeros, NULL, nr_zero);
	if (nr_clean)
		evict_staged(lruvec, clean, NULL, nr_clean);
	reclaim_events.swpout_zero += nr_zero;
	if (!n)
		return nr_zero + nr_clean;
	got = get_swap_pages(n, entries);
	err = got < n ? -ENOSPC : swap_out(entries, pages, n);
	if (err) {
		for (unsigned int i = 0; i < got; i++)
			swap_free(entries[i]);
		swap_full(err, sc);
		return nr_zero + nr_clean;
	}
	evict_staged(lruvec, batch, entries, n);
	return nr_zero + nr_clean + n;
}

/*
 * The kernel's inactive_is_low: inactive * ratio < active. The kernel's ratio is
 * sqrt(10 * GiB), 1 below 1 GiB; here an inactive page is out of the program's reach
 * and a touch costs a fault, so the list is kept smaller: INACTIVE_RATIO at least.
 */
#define INACTIVE_RATIO 4

static bool inactive_is_low(const struct lruvec *lruvec)
{
	unsigned long gb = (lruvec->nr_pages[0] + lruvec->nr_pages[1]) >> (30 - PAGE_SHIFT);
	unsigned long ratio = 1;

	while ((ratio + 1) * (ratio + 1) <= 10 * gb)
		ratio++;
	ratio = max_ul(ratio, INACTIVE_RATIO);
	return lruvec->nr_pages[LRU_INACTIVE_ANON] * ratio < lruvec->nr_pages[LRU_ACTIVE_ANON];
}

static void shrink_lruvec(struct lruvec *lruvec, struct scan_control *sc)
{
	unsigned long nr = SWAP_CLUSTER_MAX;
	unsigned long reclaimed;

	if (inactive_is_low(lruvec) || !lruvec->nr_pages[LRU_INACTIVE_ANON])
		shrink_active_list(lruvec, 2 * nr, sc);
	reclaimed = shrink_inactive_list(lruvec, nr, sc);
	sc->nr_reclaimed += reclaimed;
}

static long headroom(void)
{
	return (long)wmark.limit - READ_ONCE(memory_counter.usage);
}

/*
 * Reclaim could not make room for want of swap: what is resident stays (a fault on
 * memory already handed out is still served, past the limit), and new allocations
 * fail until memory is freed or a slot comes free (memory_exhausted).
 */
static void reclaim_failed(const struct scan_control *sc, unsigned long nr_pages)
{
	if (headroom() >= (long)nr_pages)
		return;
	memory_counter.failcnt++;
	if (sc->swap_failed)
		WRITE_ONCE(memory_exhausted, true);
}

/* One round over the nodes' lists; false when it reclaimed nothing. */
static bool shrink_node(struct scan_control *sc)
{
	unsigned long before = sc->nr_reclaimed;

	for (unsigned int nid = 0; nid < KMM_MAX_NUMNODES; nid++)
		if (lruvecs[nid].nr_pages[0] | lruvecs[nid].nr_pages[1])
			shrink_lruvec(&lruvecs[nid], sc);
	return sc->nr_reclaimed > before;
}

/* Direct reclaim, in the handler: until @nr_pages fit above the min watermark. */
void reclaim_make_room(unsigned long nr_pages)
{
	struct scan_control sc = {.priority = DEF_PRIORITY, .kswapd = false};

	if (!reclaim_swapping)
		return;
	if (headroom() < (long)(nr_pages + wmark.low) && !READ_ONCE(kswapd_wait)) {
		WRITE_ONCE(kswapd_wait, 1);
		os_raw_syscall6(SYS_futex, (long)&kswapd_wait, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
	}
	if (headroom() >= (long)nr_pages)
		return;
	reclaim_events.allocstall++;
	while (headroom() < (long)(nr_pages + wmark.min) && sc.priority > 0) {
		unsigned long reclaimed = sc.nr_reclaimed;

		shrink_node(&sc);
		if (sc.nr_reclaimed == reclaimed)
			sc.priority--;
	}
	reclaim_events.pgscan_direct += sc.nr_scanned;
	reclaim_events.pgsteal_direct += sc.nr_reclaimed;
	reclaim_failed(&sc, nr_pages);
}

/* Make pages that a fork left shared private again, so that they can move. */
static void unshare_pages(const uint32_t *busy, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++) {
		/* A write that changes nothing: the kernel copies the page for this process. */
		__atomic_fetch_add((uint64_t *)page_ext_address(busy[i]), 0, __ATOMIC_RELAXED);
	}
}

/* The kernel's balance_pgdat: reclaim until the headroom is above the high watermark. */
static void balance_pgdat(void)
{
	struct scan_control sc = {.priority = DEF_PRIORITY, .kswapd = true};

	reclaim_events.pageoutrun++;
	/* Free memory first: it is given back, never swapped. */
	release_free_pages();
	while (headroom() < (long)wmark.high && sc.priority > 0) {
		unsigned long reclaimed = sc.nr_reclaimed;

		sc.nr_busy = 0;
		kmm_lock(&reclaim_lock);
		shrink_node(&sc);
		kmm_unlock(&reclaim_lock);
		unshare_pages(sc.busy, sc.nr_busy);
		if (sc.nr_reclaimed == reclaimed && !sc.nr_busy)
			sc.priority--;
	}
	kmm_lock(&reclaim_lock);
	reclaim_events.pgscan_kswapd += sc.nr_scanned;
	reclaim_events.pgsteal_kswapd += sc.nr_reclaimed;
	if (sc.swap_failed && headroom() < (long)wmark.min)
		WRITE_ONCE(memory_exhausted, true);
	kmm_unlock(&reclaim_lock);
}

static int kswapd(void *arg)
{
	(void)arg;
	for (;;) {
		while (!__atomic_load_n(&kswapd_wait, __ATOMIC_ACQUIRE))
			os_raw_syscall6(SYS_futex, (long)&kswapd_wait, FUTEX_WAIT_PRIVATE, 0, 0, 0,
			                0);
		balance_pgdat();
		__atomic_store_n(&kswapd_wait, 0, __ATOMIC_RELEASE);
		/* Woken meanwhile by a fault that still finds too little headroom: go again. */
		if (headroom() < (long)wmark.low)
			__atomic_store_n(&kswapd_wait, 1, __ATOMIC_RELEASE);
	}
	return 0;
}

int kswapd_start(void)
{
	if (!reclaim_swapping)
		return 0;
	return os_start_raw_thread(kswapd, NULL, KSWAPD_STACK);
}

/* ---- set-up ----------------------------------------------------------------------------- */

static unsigned long int_sqrt(unsigned long x)
{
	unsigned long r = 0;

	while ((r + 1) * (r + 1) <= x)
		r++;
	return r;
}

/*
 * The watermarks, as the kernel derives them from a zone's size (min_free_kbytes =
 * sqrt(16 * kB), at least 512 KiB here; low and high a quarter and a half of min above
 * it, or 1/256 and 1/128 of the limit when that is more, as the kernel's
 * watermark_scale_factor widens them): kmm's kswapd answers a wake-up a scheduling
 * round trip later, and a fault that finds too little headroom reclaims directly.
 * Headroom is memory the program cannot use: a wider one made a working set the size
 * of the limit swap 2.4 times as long (docs/decisions.md).
 */
static void setup_watermarks(unsigned long limit_pages)
{
	unsigned long min_kb = int_sqrt((limit_pages << (PAGE_SHIFT - 10)) * 16);
	unsigned long min = max_ul(min_kb >> (PAGE_SHIFT - 10), 128);

	min = min_ul(min, limit_pages / 8);
	wmark.limit = limit_pages;
	wmark.min = min;
	wmark.low = min + max_ul(min / 4, limit_pages / 256);
	wmark.high = min + max_ul(min / 2, limit_pages / 128);
}

int vmscan_init(unsigned long limit_pages)
{
	size_t nr = kmm_max_pfn + (vmalloc_bytes >> PAGE_SHIFT);

	page_ext_map = os_map_sparse(ALIGN_UP(nr * sizeof(struct page_ext), PAGE_SIZE));
	if (!page_ext_map)
		return -1;
	for (unsigned int nid = 0; nid < KMM_MAX_NUMNODES; nid++)
		for (int lru = 0; lru < NR_LRU_LISTS; lru++)
			lruvecs[nid].head[lru] = lruvecs[nid].tail[lru] = EXT_NONE;
	if (!limit_pages)
		return 0;
	staging_base = os_map_sparse(nr << PAGE_SHIFT);
	swapcache_hash = os_map_sparse(ALIGN_UP(nr * sizeof(*swapcache_hash), PAGE_SIZE));
	if (!staging_base || !swapcache_hash)
		return -1;
	setup_watermarks(limit_pages);
	reclaim_swapping = true;
	return 0;
}

void vmscan_fork_child(void)
{
	kswapd_wait = 0;
	kmm_lock_reinit(&reclaim_lock);
}

/*
 * Under reclaim_lock, so that the counters agree with each other, when it can be had:
 * a dump may run in a signal handler that interrupted a holder, and then reads as is.
 */
void reclaim_collect(struct reclaim_stats *out)
{
	bool locked = false;

	for (int tries = 0; tries < 1000 && !(locked = kmm_trylock(&reclaim_lock)); tries++)
		os_yield();
	out->events = reclaim_events;
	out->memory.usage = READ_ONCE(memory_counter.usage);
	out->memory.watermark = READ_ONCE(memory_counter.watermark);
	out->memory.limit = wmark.limit;
	out->memory.failcnt = READ_ONCE(memory_counter.failcnt);
	out->wmark = wmark;
	out->nr_swapcache = nr_swapcache;
	out->nr_active = out->nr_inactive = 0;
	for (unsigned int nid = 0; nid < KMM_MAX_NUMNODES; nid++) {
		out->nr_active += READ_ONCE(lruvecs[nid].nr_pages[LRU_ACTIVE_ANON]);
		out->nr_inactive += READ_ONCE(lruvecs[nid].nr_pages[LRU_INACTIVE_ANON]);
	}
	swap_collect(&out->swap);
	zswap_collect(&out->zswap);
	if (locked)
		kmm_unlock(&reclaim_lock);
}

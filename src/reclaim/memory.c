/*
 * The fault path (the kernel's mm/memory.c, do_anonymous_page and do_swap_page, with
 * mm/swap_state.c's readahead); see memory.h.
 *
 * One handler thread reads the fault messages. A fault on a page with no data brings in
 * the window around it, aligned, as the kernel's fault-around does: FAULT_AROUND_PAGES
 * to start with, doubled while each fault lands near the last window, above or below it
 * (a walk through memory pays one round trip per window, not per page), up to a
 * subsection, and back to the start on a fault elsewhere. A fault on a page swapped out
 * or staged reads ahead from the fault in the walk's direction, doubling from 2 pages up
 * to 64 while the walk goes through every page or nearly; a fault out of sequence, or a
 * stride that would leave most of the window untouched, brings in that page alone:
 * readahead that guesses evicts as much as it brings (the kernel sizes its swap
 * readahead by its hits for the same reason). No window leaves the 2 MiB block, so the
 * subsection (or vmalloc chunk), of its fault. Each page is brought in by its state
 * (internal.h): zeros for a page with no data (UFFDIO_COPY from a read-only zero
 * region), its staged copy moved back for an inactive page (UFFDIO_MOVE, which also
 * activates it), its slot read for a swapped-out one (consecutive slots in one read, the
 * compressed tier's pages decompressed). Present pages are skipped, and the faulting
 * page is woken whatever happened, in case a racing fault filled it.
 *
 * Invariants:
 *  - nothing is registered before the handler runs, so no thread can wait for a fault
 *    nobody reads;
 *  - the handler is a raw thread (os_start_raw_thread): no errno, no allocation, no
 *    lock but reclaim_lock, which no thread holds while it may fault; it touches only
 *    its stack, the zero region, its bounce buffer, the staging mirror and page_ext;
 *  - only the process that opened the userfaultfd registers with it (a child made
 *    without the fork handlers, by _Fork or clone, would register in its parent);
 *  - hugetlb memory is not registered (4 KiB copies do not apply to it), nor is kmm's
 *    own metadata: only frames, vmalloc areas and the staging mirror.
 *
 * Lock order: the notifier runs under the lock of whoever maps (zone->lock, or nothing
 * for vmalloc) and takes reclaim_lock.
 */
#include "memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../base/options.h"
#include "../base/os.h"
#include "../base/printk.h"
#include "../buddy/page_alloc.h"
#include "../vmalloc/vmalloc.h"
#include "internal.h"
#include "uffd_compat.h"

#define FAULT_AROUND_PAGES 16UL                       /* 64 KiB, the kernel's default */
#define FAULT_AROUND_MAX   (1UL << (21 - PAGE_SHIFT)) /* a subsection */
#define ZERO_REGION_BYTES  (FAULT_AROUND_MAX << PAGE_SHIFT)
/*
 * Swap readahead stops at 256 KiB: a round trip to the handler is worth about ten
 * pages read, and under a limit every page read ahead and not used evicts one that
 * was (a 2 MiB window made a program that frees its blocks from the end read each
 * page two and a half times).
 */
#define SWAP_READAHEAD_MAX 64UL
#define HANDLER_STACK      (64UL << 10)

/*
 * The userfaultfd sits at descriptor UFFD_FD_LOWEST or above, out of the way of the
 * program's own, and is checked to be the same file before each read and ioctl: a
 * program that closes every descriptor (close_range, as daemons do) and opens another
 * in its place must get its data, not kmm's handler. Closed under kmm, it ends the
 * handler: the kernel drops the registrations with the last reference and serves the
 * faults itself.
 */
#define UFFD_FD_LOWEST 210

static int uffd = -1;
static uint64_t uffd_identity;
static int uffd_owner;          /* the pid whose address space the userfaultfd serves */
static bool uffd_serving;       /* registered and served */
static const char *zero_region; /* ZERO_REGION_BYTES that read as zero */
static char *swapin_buffer;     /* ZERO_REGION_BYTES the handler reads swap into */
static struct uffd_events events;

int uffd_descriptor(void)
{
	return uffd;
}

bool reclaim_active(void)
{
	return READ_ONCE(uffd_serving) && reclaim_swapping;
}

static bool uffd_still_ours(void)
{
	if (os_fd_identity(uffd) == uffd_identity)
		return true;
	if (READ_ONCE(uffd_serving)) {
		WRITE_ONCE(uffd_serving, false);
		kmm_printk("KMM_UFFD: the program closed kmm's userfaultfd (descriptor %d); the "
		           "kernel serves its faults from now on",
		           uffd);
	}
	return false;
}

void uffd_collect_events(struct uffd_events *out)
{
	out->nr_faults = READ_ONCE(events.nr_faults);
	out->pages_filled = READ_ONCE(events.pages_filled);
	out->nr_registered = READ_ONCE(events.nr_registered);
	out->nr_fault_around = READ_ONCE(events.nr_fault_around);
}

static long uffd_ioctl(unsigned long request, void *arg)
{
	return os_raw_syscall(SYS_ioctl, uffd, request, arg);
}

/* ---- registration and the notifier ----------------------------------------------------- */

/* Charge the pages of a newly registered range that are resident already. */
static void charge_resident(char *start, size_t size)
{
	unsigned char vec[256];

	for (size_t off = 0; off < size; off += sizeof(vec) << PAGE_SHIFT) {
		size_t len = min_ul(size - off, sizeof(vec) << PAGE_SHIFT);

		if (mincore(start + off, len, vec) != 0)
			continue;
		kmm_lock(&reclaim_lock);
		for (size_t i = 0; i < len >> PAGE_SHIFT; i++)
			if (vec[i] & 1)
				lru_add_active(
				        page_ext_index((uintptr_t)start + off + (i << PAGE_SHIFT)));
		kmm_unlock(&reclaim_lock);
	}
}

static int register_range(void *start, size_t size)
{
	struct uffdio_register reg = {
	        .range = {.start = (uintptr_t)start, .len = size},
	        .mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return (int)uffd_ioctl(UFFDIO_REGISTER, &reg);
}

static void uffd_register(void *start, size_t size)
{
	int err;

	if (!READ_ONCE(uffd_serving) || os_getpid() != uffd_owner || !uffd_still_ours())
		return;
	err = register_range(start, size);
	if (err) {
		kmm_printk("KMM_UFFD: cannot register %p-%p with userfaultfd (errno %d); its pages "
		           "are faulted in, and kept, by the kernel",
		           start, (void *)((char *)start + size), -err);
		return;
	}
	__atomic_add_fetch(&events.nr_registered, 1, __ATOMIC_RELAXED);
	charge_resident(start, size);
}

/*
 * Before a range goes back to the OS: what of it is staged or swapped out is dropped,
 * so that the handler brings back nothing but zeros there. The resident pages go with
 * the range, and are uncharged after it (MEM_RELEASED).
 */
static void drop_swapped(uintptr_t start, size_t size)
{
	struct mmu_gather tlb = {.nr = 0};

	kmm_lock(&reclaim_lock);
	for (uintptr_t addr = start; addr < start + size; addr += PAGE_SIZE) {
		uint32_t index = page_ext_index(addr);
		struct page_ext *ext = &page_ext_map[index];

		if (page_ext_test(ext, PG_lru) && !page_ext_test(ext, PG_active)) {
			tlb_remove_range(&tlb, staging_address(index), PAGE_SIZE);
			lru_del(index);
		} else if (page_ext_test(ext, PG_swapcache)) {
			swapcache_del(index); /* resident: uncharged after the release */
		} else if (ext->swap.val) {
			swap_free(ext->swap);
			ext->swap.val = 0;
		}
	}
	tlb_finish_mmu(&tlb);
	kmm_unlock(&reclaim_lock);
}

static void uncharge_range(uintptr_t start, size_t size)
{
	kmm_lock(&reclaim_lock);
	for (uintptr_t addr = start; addr < start + size; addr += PAGE_SIZE)
		lru_del(page_ext_index(addr));
	kmm_unlock(&reclaim_lock);
}

static void uffd_memory_notify(enum memory_action action, void *start, size_t size)
{
	if (action == MEM_MAPPED)
		uffd_register(start, size);
	else if (!READ_ONCE(uffd_serving))
		return;
	else if (action == MEM_RELEASING)
		drop_swapped((uintptr_t)start, size);
	else
		uncharge_range((uintptr_t)start, size);
}

/* ---- bringing pages in ------------------------------------------------------------------ */

enum page_source { SOURCE_PRESENT, SOURCE_ZERO, SOURCE_STAGED, SOURCE_SWAP };

static enum page_source page_source(uint32_t index)
{
	const struct page_ext *ext = &page_ext_map[index];

	if (page_ext_test(ext, PG_lru))
		return page_ext_test(ext, PG_active) ? SOURCE_PRESENT : SOURCE_STAGED;
	return ext->swap.val ? SOURCE_SWAP : SOURCE_ZERO;
}

/* UFFDIO_COPY of [@dst, @dst + @len) from @src; the bytes copied, or a negative errno. */
static long uffd_copy(uintptr_t dst, const char *src, size_t len)
{
	struct uffdio_copy copy = {.dst = dst, .src = (uintptr_t)src, .len = len};

	if (uffd_ioctl(UFFDIO_COPY, &copy) == 0)
		return (long)len;
	return copy.copy;
}

/*
 * Copy @nr pages from @src to the pages from @index on (zeros, or swap read back), and
 * charge them; a page present already is charged as it is. Returns the pages brought
 * in, or -1 when the range leaves the mapping before any was.
 */
static long fill_pages(uint32_t index, unsigned long nr, const char *src, bool step_src)
{
	long filled = 0;

	for (unsigned long done = 0; done < nr;) {
		uintptr_t dst = page_ext_address(index + (uint32_t)done);
		long n = uffd_copy(dst, step_src ? src + (done << PAGE_SHIFT) : src,
		                   (nr - done) << PAGE_SHIFT);

		if (n > 0) {
			for (unsigned long i = 0; i < (unsigned long)n >> PAGE_SHIFT; i++)
				lru_add_active(index + (uint32_t)(done + i));
			filled += n >> PAGE_SHIFT;
			done += (unsigned long)n >> PAGE_SHIFT;
		} else if (n == -EEXIST) {
			lru_add_active(index + (uint32_t)done);
			done++;
		} else {
			return filled ? filled : -1;
		}
	}
	return filled;
}

/* Move @nr staged pages from @index back where they belong, and activate them. */
static void unstage_pages(uint32_t index, unsigned long nr)
{
	struct uffdio_move move = {.dst = page_ext_address(index),
	                           .src = (uintptr_t)staging_address(index),
	                           .len = nr << PAGE_SHIFT};
	unsigned long moved = 0;

	if (uffd_ioctl(UFFDIO_MOVE, &move) == 0)
		moved = nr;
	else if (move.move > 0)
		moved = (unsigned long)move.move >> PAGE_SHIFT;
	for (unsigned long i = 0; i < moved; i++)
		lru_activate(index + (uint32_t)i);
	for (unsigned long i = moved; i < nr; i++) {
		/* Shared with a fork child (EBUSY): a copy, and the staged page goes. */
		char *staged = staging_address(index + (uint32_t)i);
		long copied = uffd_copy(page_ext_address(index + (uint32_t)i), staged, PAGE_SIZE);

		if (copied != PAGE_SIZE && copied != -EEXIST)
			continue; /* still staged, data intact: the fault comes again */
		os_raw_syscall(SYS_madvise, staged, PAGE_SIZE, MADV_DONTNEED);
		lru_activate(index + (uint32_t)i);
	}
}

static __noreturn void swap_read_failed(uintptr_t addr, int err)
{
	kmm_printk("KMM_MEM_LIMIT: cannot read back the page at %p from swap (errno %d); "
	           "stopping rather than giving the program wrong data",
	           (void *)addr, -err);
	os_raw_syscall(SYS_kill, os_raw_syscall(SYS_getpid, 0, 0, 0), SIGKILL, 0);
	for (;;)
		;
}

/*
 * Read @nr swapped-out pages from @index on, whose slots are consecutive, and put them
 * in place (do_swap_page, with the neighbours as readahead). A page the read cannot
 * bring back stays swapped out, unless the fault is on it.
 */
static long swapin_pages(uint32_t index, unsigned long nr, uint32_t fault_index)
{
	swp_entry_t first = page_ext_map[index].swap;
	int err = swap_readpages(first, (unsigned int)nr, swapin_buffer);
	long filled;

	if (err) {
		if (fault_index - index < nr)
			swap_read_failed(page_ext_address(fault_index), err);
		return 0;
	}
	filled = fill_pages(index, nr, swapin_buffer, true);
	for (unsigned long i = 0; i < nr; i++) {
		struct page_ext *ext = &page_ext_map[index + (uint32_t)i];

		/*
		 * Only a page now in place gives up its slot: one the copy missed keeps its data.
		 * A page read from the file keeps it as its copy (the swap cache) while swap is
		 * less than half full (the kernel's vm_swap_full); one from the compressed tier
		 * does not (the pool would hold it twice; the kernel's zswap does not either).
		 */
		if (!page_ext_test(ext, PG_lru))
			continue;
		if (!zswap_present(ext->swap) && !vm_swap_full()) {
			swapcache_add(index + (uint32_t)i, swapin_buffer + (i << PAGE_SHIFT));
			continue;
		}
		swap_free(ext->swap);
		ext->swap.val = 0;
	}
	return filled;
}

/* The run of pages from @index with the same source, up to @end: consecutive slots for swap. */
static unsigned long source_run(uint32_t index, uint32_t end, enum page_source source)
{
	unsigned long n = 1;

	while (index + n < end && page_source(index + (uint32_t)n) == source &&
	       (source != SOURCE_SWAP ||
	        page_ext_map[index + n].swap.val == page_ext_map[index].swap.val + n))
		n++;
	return n;
}

/*
 * A fault on a page marked resident: another fault brought it in meanwhile, or the
 * state is wrong and the page is not mapped, which would bring the thread back here
 * for ever. Then it gets zeros, as the kernel would give it, and one line says so.
 */
static void check_present(uint32_t index)
{
	static bool said;

	if (uffd_copy(page_ext_address(index), zero_region, PAGE_SIZE) != PAGE_SIZE)
		return;
	if (!said)
		kmm_printk("KMM_UFFD: the page at %p was marked resident but was not mapped; it "
		           "reads as zeros (a bug in kmm's reclaim: please report it)",
		           (void *)page_ext_address(index));
	said = true;
}

/* Bring in the window [@first, @end) around the faulting page: the pages brought in, or -1. */
static long fill_window(uint32_t first, uint32_t end, uint32_t fault_index)
{
	long filled = 0;

	for (uint32_t index = first; index < end;) {
		enum page_source source = page_source(index);
		unsigned long n = source_run(index, end, source);
		long got = 0;

		if (source == SOURCE_ZERO)
			got = fill_pages(index, n, zero_region, false);
		else if (source == SOURCE_STAGED)
			unstage_pages(index, n), got = (long)n;
		else if (source == SOURCE_SWAP)
			got = swapin_pages(index, n, fault_index);
		if (source == SOURCE_PRESENT && fault_index - index < n)
			check_present(fault_index);
		if (got < 0) /* the window leaves the mapping here */
			return index > fault_index ? filled : -1;
		filled += got;
		index += (uint32_t)n;
	}
	return filled;
}

static void wake_page(uintptr_t page)
{
	struct uffdio_range range = {.start = page, .len = PAGE_SIZE};

	uffd_ioctl(UFFDIO_WAKE, &range);
}

struct fault_around {
	uintptr_t start, next; /* where the last window began and ended */
	unsigned long pages;   /* the window's size */
};

static void count_fault(uint32_t index, long filled)
{
	struct page_ext *ext = &page_ext_map[index];

	if (ext->swap.val && !page_ext_test(ext, PG_lru)) {
		reclaim_events.pgmajfault++;
		reclaim_events.workingset_refault_anon++;
	}
	__atomic_add_fetch(&events.nr_faults, 1, __ATOMIC_RELAXED);
	if (filled > 0)
		__atomic_add_fetch(&events.pages_filled, (unsigned long)filled, __ATOMIC_RELAXED);
	if (filled > 1)
		__atomic_add_fetch(&events.nr_fault_around, 1, __ATOMIC_RELAXED);
}

/*
 * A walk through memory, up or down, maybe with a stride (a program freeing a list of
 * blocks from its end touches one header every few pages): the fault lands within
 * FAULT_AROUND_PAGES, or a window's size, past either edge of the last window (the
 * kernel's swap_vma_readahead looks at the previous fault the same way).
 */
static bool fault_is_near(const struct fault_around *fa, uintptr_t page)
{
	uintptr_t reach = max_ul(fa->pages, FAULT_AROUND_PAGES) << PAGE_SHIFT;

	return (page >= fa->next && page - fa->next < reach) ||
	       (page < fa->start && fa->start - page <= reach);
}

/*
 * Pages between the last window's edge and the fault: none for a walk that went through
 * every page, a few for one that touches one page in a few (the first page of each
 * 8 KiB block), more for a stride that skipped most of what the window brought in.
 */
#define READAHEAD_MAX_GAP 2

static uintptr_t fault_gap(const struct fault_around *fa, uintptr_t page)
{
	uintptr_t gap = page >= fa->next ? page - fa->next : fa->start - page - PAGE_SIZE;

	return gap >> PAGE_SHIFT;
}

/*
 * The window to bring in for a fault on @page (index @index), its start returned and its
 * size left in fa->pages. Zeros (fault-around): an aligned window, doubling while the
 * faults follow each other, up to a subsection. Swap readahead: from the fault on in the
 * walk's direction, doubling from 2 pages while the walk goes through every page or
 * nearly (a stride that skips most of what was read in gets no readahead), up to
 * SWAP_READAHEAD_MAX; never past the fault's 2 MiB block.
 */
static uintptr_t fault_window(struct fault_around *fa, uintptr_t page, uint32_t index)
{
	uintptr_t block = page & ~(uintptr_t)((FAULT_AROUND_MAX << PAGE_SHIFT) - 1);
	bool near = fault_is_near(fa, page), down = page < fa->start;

	if (page_source(index) == SOURCE_ZERO) {
		fa->pages =
		        near ? min_ul(max_ul(fa->pages * 2, FAULT_AROUND_PAGES), FAULT_AROUND_MAX)
		             : FAULT_AROUND_PAGES;
		return page & ~(uintptr_t)((fa->pages << PAGE_SHIFT) - 1);
	}
	if (!near || fault_gap(fa, page) > READAHEAD_MAX_GAP) {
		fa->pages = 1; /* a swapped or staged page touched at random: no readahead */
		return page;
	}
	fa->pages = min_ul(max_ul(fa->pages * 2, 2), SWAP_READAHEAD_MAX);
	if (down) {
		fa->pages = min_ul(fa->pages, ((page - block) >> PAGE_SHIFT) + 1);
		return page - ((fa->pages - 1) << PAGE_SHIFT);
	}
	fa->pages = min_ul(fa->pages, FAULT_AROUND_MAX - ((page - block) >> PAGE_SHIFT));
	return page;
}

static void handle_fault(struct fault_around *fa, uintptr_t address)
{
	uintptr_t page = address & ~(uintptr_t)(PAGE_SIZE - 1), start;
	uint32_t index = page_ext_index(page);
	long filled;

	if (index == EXT_NONE) { /* the staging mirror: only kmm reads it, and never a hole */
		uffd_copy(page, zero_region, PAGE_SIZE);
		wake_page(page);
		return;
	}
	kmm_lock(&reclaim_lock);
	start = fault_window(fa, page, index);
	reclaim_make_room(fa->pages);
	count_fault(index, 0);
	filled = fill_window(page_ext_index(start), page_ext_index(start) + (uint32_t)fa->pages,
	                     index);
	if (filled < 0) /* the window leaves the mapping: the page alone */
		filled = fill_window(index, index + 1, index);
	kmm_unlock(&reclaim_lock);
	fa->start = start;
	fa->next = start + (fa->pages << PAGE_SHIFT);
	wake_page(page);
	if (filled > 0)
		__atomic_add_fetch(&events.pages_filled, (unsigned long)filled, __ATOMIC_RELAXED);
	if (filled > 1)
		__atomic_add_fetch(&events.nr_fault_around, 1, __ATOMIC_RELAXED);
}

static int uffd_handler(void *arg)
{
	struct fault_around fa = {.start = 0, .next = 0, .pages = FAULT_AROUND_PAGES};
	struct uffd_msg msgs[16];

	(void)arg;
	while (uffd_still_ours()) {
		long n = os_raw_syscall(SYS_read, uffd, msgs, sizeof(msgs));

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n == -EBADF) {
			uffd_still_ours();
			break;
		}
		if (n < 0) {
			kmm_printk("KMM_UFFD: reading the userfaultfd failed (errno %ld); threads "
			           "touching new memory will wait",
			           -n);
			os_raw_syscall6(SYS_pause, 0, 0, 0, 0, 0, 0);
			continue;
		}
		if (!uffd_still_ours())
			break;
		for (long i = 0; i < n / (long)sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				handle_fault(&fa, (uintptr_t)msgs[i].arg.pagefault.address);
	}
	return 0;
}

/* ---- start-up and fork ----------------------------------------------------------------- */

/* A userfaultfd at UFFD_FD_LOWEST or above, with @features: the descriptor or -errno. */
static int open_uffd(uint64_t features)
{
	struct uffdio_api api = {.api = UFFD_API, .features = features};
	int fd = (int)os_raw_syscall(SYS_userfaultfd, O_CLOEXEC, 0, 0), high;

	if (fd < 0)
		return fd;
	if (os_raw_syscall(SYS_ioctl, fd, UFFDIO_API, &api) != 0 ||
	    (api.features & features) != features) {
		os_raw_syscall(SYS_close, fd, 0, 0);
		return -ENOSYS;
	}
	high = (int)os_raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, UFFD_FD_LOWEST);
	if (high >= 0) {
		os_raw_syscall(SYS_close, fd, 0, 0);
		fd = high;
	}
	return fd;
}

/* The descriptor, the handler, kswapd and the staging mirror's registration. */
static bool start_serving(int fd)
{
	int err;

	uffd = fd;
	uffd_identity = os_fd_identity(fd);
	uffd_owner = (int)os_raw_syscall(SYS_getpid, 0, 0, 0);
	if (reclaim_swapping &&
	    register_range(staging_base, (kmm_max_pfn + (vmalloc_bytes >> PAGE_SHIFT))
	                                         << PAGE_SHIFT) != 0) {
		kmm_printk("KMM_MEM_LIMIT: cannot register the staging area with userfaultfd; "
		           "running without a limit");
		reclaim_swapping = false;
	}
	err = os_start_raw_thread(uffd_handler, NULL, HANDLER_STACK);
	if (!err)
		err = kswapd_start();
	if (err) {
		kmm_printk("KMM_UFFD: cannot start the fault handler or kswapd (errno %d); running "
		           "without demand faulting",
		           -err);
		os_raw_syscall(SYS_close, fd, 0, 0);
		uffd = -1;
		return false;
	}
	WRITE_ONCE(uffd_serving, true);
	return true;
}

static unsigned long memory_limit_pages(void)
{
	return (unsigned long)kmm_option(OPT_MEM_LIMIT) >> PAGE_SHIFT;
}

void uffd_start(void)
{
	unsigned long limit = memory_limit_pages();
	uint64_t features = limit ? UFFD_FEATURE_MOVE : 0;
	int fd;

	if (kmm_option(OPT_UFFD) != UFFD_ON && !limit)
		return;
	fd = open_uffd(features);
	if (fd == -ENOSYS && limit) {
		kmm_printk("KMM_MEM_LIMIT: this kernel has no UFFDIO_MOVE (Linux 6.8), which "
		           "swapping out safely needs; running without the limit");
		return;
	}
	if (fd < 0) {
		kmm_printk("%s: userfaultfd is not available (errno %d: %s); running without %s",
		           limit ? "KMM_MEM_LIMIT" : "KMM_UFFD", -fd,
		           fd == -EPERM ? "vm.unprivileged_userfaultfd is 0, or a seccomp filter"
		                        : "no userfaultfd in this kernel or container",
		           limit ? "the limit" : "demand faulting");
		return;
	}
	zero_region = os_map_zeroes(ZERO_REGION_BYTES);
	swapin_buffer = os_map(ZERO_REGION_BYTES);
	if (!zero_region || !swapin_buffer || vmscan_init(limit) != 0 || swapfile_init() != 0 ||
	    zswap_init(limit) != 0) {
		kmm_printk("%s: cannot map the reclaim layer's tables; running without %s",
		           limit ? "KMM_MEM_LIMIT" : "KMM_UFFD",
		           limit ? "the limit" : "demand faulting");
		close(fd);
		return;
	}
	if (!start_serving(fd))
		return;
	register_memory_notifier(uffd_memory_notify, reclaim_swapping);
	for_each_mapped_frames(uffd_memory_notify);
	vmalloc_for_each_area(uffd_register);
}

void reclaim_fork_prepare(void)
{
	if (!READ_ONCE(uffd_serving))
		return;
	kmm_lock(&reclaim_lock);
	if (reclaim_swapping)
		swap_fork_freeze();
}

void reclaim_fork_parent(void)
{
	if (READ_ONCE(uffd_serving))
		kmm_unlock(&reclaim_lock);
}

void reclaim_fork_child(void)
{
	int fd;

	if (!uffd_serving)
		return;
	uffd_serving = false;
	os_raw_syscall(SYS_close, uffd, 0, 0);
	uffd = -1;
	vmscan_fork_child();
	if (!reclaim_swapping)
		return; /* nothing swapped out: the kernel serves the child's faults */
	fd = open_uffd(UFFD_FEATURE_MOVE);
	if (fd < 0 || !start_serving(fd))
		kmm_printk("KMM_MEM_LIMIT: the fork child cannot serve its own faults (errno %d); "
		           "what the parent swapped out reads as zeros here",
		           fd < 0 ? -fd : 0);
}

void reclaim_fork_child_register(void)
{
	if (!uffd_serving)
		return;
	for_each_mapped_frames(uffd_memory_notify);
	vmalloc_for_each_area(uffd_register);
}

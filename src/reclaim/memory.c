/*
 * Demand faulting through userfaultfd; see memory.h.
 *
 * One handler thread reads the fault messages and resolves each with UFFDIO_COPY from a
 * read-only zero region (a first touch: nothing is swapped yet). A fault brings in the
 * window around it, aligned, as the kernel's fault-around does: FAULT_AROUND_PAGES to
 * start with, doubled while faults come one after another in address order (a walk
 * through memory pays one round trip per window, not per page) up to a subsection, and
 * back to the start on a fault elsewhere. An aligned window of at most 2 MiB never
 * leaves the subsection (or vmalloc chunk) it lies in; one that leaves the mapping
 * (a vmalloc area's end) falls back to the faulting page alone.
 *
 * Charge: a bit per page of the physical range and of the vmalloc window says the page
 * is charged (resident memory of the heap). The handler sets the bits of the pages it
 * fills; registering a range sets those of its pages already resident (mincore); a
 * range given back or unmapped (MEM_RELEASED) clears its bits. Only the bits that
 * change move the counter, so a page is charged once however many fills race for it.
 *
 * Invariants:
 *  - nothing is registered before the handler runs, so no thread can wait for a fault
 *    nobody reads (the thread's creation allocates, and that memory is present);
 *  - the handler never takes a lock, never allocates, and touches only its own stack,
 *    the zero region and its counters: a faulting thread may hold any lock of kmm's;
 *  - only the process that opened the userfaultfd registers with it (a child made
 *    without the fork handlers, by _Fork or clone, would register in its parent);
 *  - hugetlb memory is not registered (4 KiB copies do not apply to it), nor is kmm's
 *    own metadata: only frames and vmalloc areas.
 *
 * Lock order: the notifier runs under the lock of whoever maps (zone->lock, or nothing
 * for vmalloc) and takes none of its own; the handler takes none.
 */
#include "memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../base/options.h"
#include "../base/os.h"
#include "../base/printk.h"
#include "../buddy/page_alloc.h"
#include "../vmalloc/vmalloc.h"

#define FAULT_AROUND_PAGES 16UL                       /* 64 KiB, the kernel's default */
#define FAULT_AROUND_MAX   (1UL << (21 - PAGE_SHIFT)) /* a subsection */
#define ZERO_REGION_BYTES  (FAULT_AROUND_MAX << PAGE_SHIFT)

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
static struct page_counter memory_counter;
static unsigned long *charged_phys;    /* a bit per page of the physical range */
static unsigned long *charged_vmalloc; /* a bit per page of the vmalloc window */
static int uffd_owner;                 /* the pid whose address space the userfaultfd serves */
static bool uffd_serving;              /* registered and served; false in a fork child */
static const char *zero_region;        /* ZERO_REGION_BYTES that read as zero */
static struct uffd_events events;

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

void uffd_collect_charge(struct page_counter *out)
{
	out->usage = READ_ONCE(memory_counter.usage);
	out->watermark = READ_ONCE(memory_counter.watermark);
}

/* ---- charge ---------------------------------------------------------------------------- */

static void page_counter_charge(struct page_counter *counter, long pages)
{
	long usage = __atomic_add_fetch(&counter->usage, pages, __ATOMIC_RELAXED);
	long mark = READ_ONCE(counter->watermark);

	while (usage > mark &&
	       !__atomic_compare_exchange_n(&counter->watermark, &mark, usage, false,
	                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* The bitmap and first bit for the page at @addr, or NULL outside kmm's memory. */
static unsigned long *charge_bits(uintptr_t addr, unsigned long *bit)
{
	if (addr - (uintptr_t)kmm_phys_base < (kmm_max_pfn << PAGE_SHIFT)) {
		*bit = (addr - (uintptr_t)kmm_phys_base) >> PAGE_SHIFT;
		return charged_phys;
	}
	if (is_vmalloc_addr((void *)addr)) {
		*bit = (addr - (uintptr_t)vmalloc_start) >> PAGE_SHIFT;
		return charged_vmalloc;
	}
	return NULL;
}

/*
 * Set (@set) or clear the charge bits of @nr pages from @addr, and move the counter by
 * the bits that changed. Word by word, atomically: the handler and a releasing thread
 * may work on neighbouring pages.
 */
static void charge_pages(uintptr_t addr, unsigned long nr, bool set)
{
	unsigned long bit, *map = charge_bits(addr, &bit);
	long changed = 0;

	if (!map)
		return;
	while (nr) {
		unsigned long *word = &map[bit / 64], off = bit % 64;
		unsigned long n = min_ul(nr, 64 - off);
		unsigned long mask = (n == 64 ? ~0UL : ((1UL << n) - 1)) << off, old;

		if (set) {
			old = __atomic_fetch_or(word, mask, __ATOMIC_RELAXED);
			changed += __builtin_popcountl(~old & mask);
		} else {
			old = __atomic_fetch_and(word, ~mask, __ATOMIC_RELAXED);
			changed -= __builtin_popcountl(old & mask);
		}
		bit += n;
		nr -= n;
	}
	if (changed)
		page_counter_charge(&memory_counter, changed);
}

/* Charge the pages of a newly registered range that are resident already. */
static void charge_resident(char *start, size_t size)
{
	unsigned char vec[256];

	for (size_t off = 0; off < size; off += sizeof(vec) << PAGE_SHIFT) {
		size_t len = min_ul(size - off, sizeof(vec) << PAGE_SHIFT);

		if (mincore(start + off, len, vec) != 0)
			continue;
		for (size_t i = 0; i < len >> PAGE_SHIFT; i++)
			if (vec[i] & 1)
				charge_pages((uintptr_t)start + off + (i << PAGE_SHIFT), 1, true);
	}
}

/* ---- registration ---------------------------------------------------------------------- */

static void uffd_register(void *start, size_t size)
{
	struct uffdio_register reg = {
	        .range = {.start = (uintptr_t)start, .len = size},
	        .mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (!READ_ONCE(uffd_serving) || os_getpid() != uffd_owner || !uffd_still_ours())
		return;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
		kmm_printk("KMM_UFFD: cannot register %p-%p with userfaultfd (errno %d); its pages "
		           "are faulted in by the kernel",
		           start, (void *)((char *)start + size), errno);
		return;
	}
	__atomic_add_fetch(&events.nr_registered, 1, __ATOMIC_RELAXED);
	charge_resident(start, size);
}

static void uffd_memory_notify(enum memory_action action, void *start, size_t size)
{
	if (action == MEM_MAPPED)
		uffd_register(start, size);
	else if (READ_ONCE(uffd_serving))
		charge_pages((uintptr_t)start, size >> PAGE_SHIFT, false);
}

/* ---- the handler ----------------------------------------------------------------------- */

/*
 * Zero-fill [@start, @end): page by page past the ones already present (another fault
 * of the window filled them, or the program touched them before registration). Returns
 * the pages filled, or -1 when the range leaves the mapping.
 */
static long fill_zero(uintptr_t start, uintptr_t end)
{
	long filled = 0;

	while (start < end) {
		struct uffdio_copy copy = {
		        .dst = start, .src = (uintptr_t)zero_region, .len = end - start};

		if (ioctl(uffd, UFFDIO_COPY, &copy) == 0) {
			charge_pages(start, (end - start) >> PAGE_SHIFT, true);
			filled += (long)((end - start) >> PAGE_SHIFT);
			break;
		}
		if (copy.copy > 0) { /* part of it, up to a present page */
			charge_pages(start, (unsigned long)copy.copy >> PAGE_SHIFT, true);
			filled += copy.copy >> PAGE_SHIFT;
			start += (uintptr_t)copy.copy;
		} else if (copy.copy == -EEXIST) {
			start += PAGE_SIZE;
		} else {
			return filled ? filled : -1;
		}
	}
	return filled;
}

static void wake_page(uintptr_t page)
{
	struct uffdio_range range = {.start = page, .len = PAGE_SIZE};

	ioctl(uffd, UFFDIO_WAKE, &range);
}

struct fault_around {
	uintptr_t next;      /* where the last window ended */
	unsigned long pages; /* the window's size */
};

static void handle_fault(struct fault_around *fa, uintptr_t address)
{
	uintptr_t page = address & ~(uintptr_t)(PAGE_SIZE - 1), start, end;
	long filled;

	fa->pages = page == fa->next ? min_ul(fa->pages * 2, FAULT_AROUND_MAX) : FAULT_AROUND_PAGES;
	start = page & ~(uintptr_t)((fa->pages << PAGE_SHIFT) - 1);
	end = start + (fa->pages << PAGE_SHIFT);
	filled = fill_zero(start, end);
	if (filled < 0) { /* the window leaves the mapping: the page alone */
		end = page + PAGE_SIZE;
		filled = fill_zero(page, end);
	}
	fa->next = end;
	/* A waiter on a page that was present already (filled by a racing fault). */
	wake_page(page);
	__atomic_add_fetch(&events.nr_faults, 1, __ATOMIC_RELAXED);
	if (filled > 0)
		__atomic_add_fetch(&events.pages_filled, (unsigned long)filled, __ATOMIC_RELAXED);
	if (filled > 1)
		__atomic_add_fetch(&events.nr_fault_around, 1, __ATOMIC_RELAXED);
}

static void *uffd_handler(void *arg)
{
	struct fault_around fa = {.next = 0, .pages = FAULT_AROUND_PAGES};
	struct uffd_msg msgs[16];

	(void)arg;
	while (uffd_still_ours()) {
		ssize_t n = read(uffd, msgs, sizeof(msgs));

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EBADF) {
				uffd_still_ours();
				break;
			}
			kmm_printk("KMM_UFFD: reading the userfaultfd failed (errno %d); threads "
			           "touching new memory will wait",
			           errno);
			os_sleep_ms(UINT32_MAX);
			continue;
		}
		if (!uffd_still_ours())
			break;
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				handle_fault(&fa, (uintptr_t)msgs[i].arg.pagefault.address);
	}
	return NULL;
}

/* ---- start-up -------------------------------------------------------------------------- */

static int open_uffd(void)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC), high;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	high = os_dup_high(fd, UFFD_FD_LOWEST);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	return fd;
}

static bool start_handler(void)
{
	int err = os_start_helper_thread(uffd_handler, 64 << 10);

	if (err)
		kmm_printk("KMM_UFFD: cannot start the fault handler thread (error %d); running "
		           "without demand faulting",
		           err);
	return err == 0;
}

void uffd_start(void)
{
	int fd;

	if (kmm_option(OPT_UFFD) != UFFD_ON)
		return;
	fd = open_uffd();
	if (fd < 0) {
		kmm_printk("KMM_UFFD: userfaultfd is not available (errno %d: %s); running "
		           "without demand faulting",
		           -fd,
		           fd == -EPERM ? "vm.unprivileged_userfaultfd is 0, or a seccomp filter"
		                        : "no userfaultfd in this kernel or container");
		return;
	}
	zero_region = os_map_zeroes(ZERO_REGION_BYTES);
	/* Touched only where pages are charged: a bit per page costs 1/32768 of the memory. */
	charged_phys = os_map(ALIGN_UP(ALIGN_UP(kmm_max_pfn, 64) / 8, PAGE_SIZE));
	charged_vmalloc =
	        os_map(ALIGN_UP(ALIGN_UP(vmalloc_bytes >> PAGE_SHIFT, 64) / 8, PAGE_SIZE));
	if (!zero_region || !charged_phys || !charged_vmalloc) {
		close(fd);
		return;
	}
	uffd = fd;
	uffd_identity = os_fd_identity(fd);
	uffd_owner = os_getpid();
	if (!start_handler()) {
		close(fd);
		uffd = -1;
		return;
	}
	WRITE_ONCE(uffd_serving, true);
	register_memory_notifier(uffd_memory_notify);
	for_each_mapped_frames(uffd_memory_notify);
	vmalloc_for_each_area(uffd_register);
}

void uffd_fork_child(void)
{
	if (!uffd_serving)
		return;
	uffd_serving = false;
	close(uffd);
	uffd = -1;
}

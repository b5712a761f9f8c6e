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
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
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

static int uffd = -1;
static int uffd_owner;          /* the pid whose address space the userfaultfd serves */
static bool uffd_serving;       /* registered and served; false in a fork child */
static const char *zero_region; /* ZERO_REGION_BYTES that read as zero */
static struct uffd_events events;

bool uffd_active(void)
{
	return READ_ONCE(uffd_serving);
}

void uffd_collect_events(struct uffd_events *out)
{
	out->nr_faults = READ_ONCE(events.nr_faults);
	out->pages_filled = READ_ONCE(events.pages_filled);
	out->nr_registered = READ_ONCE(events.nr_registered);
	out->nr_fault_around = READ_ONCE(events.nr_fault_around);
}

/* ---- registration ---------------------------------------------------------------------- */

static void uffd_register(void *start, size_t size)
{
	struct uffdio_register reg = {
	        .range = {.start = (uintptr_t)start, .len = size},
	        .mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (!READ_ONCE(uffd_serving) || os_getpid() != uffd_owner)
		return;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
		kmm_printk("KMM_UFFD: cannot register %p-%p with userfaultfd (errno %d); its pages "
		           "are faulted in by the kernel",
		           start, (void *)((char *)start + size), errno);
		return;
	}
	__atomic_add_fetch(&events.nr_registered, 1, __ATOMIC_RELAXED);
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
			filled += (long)((end - start) >> PAGE_SHIFT);
			break;
		}
		if (copy.copy > 0) { /* part of it, up to a present page */
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

static __noreturn void *uffd_handler(void *arg)
{
	struct fault_around fa = {.next = 0, .pages = FAULT_AROUND_PAGES};
	struct uffd_msg msgs[16];

	(void)arg;
	for (;;) {
		ssize_t n = read(uffd, msgs, sizeof(msgs));

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			kmm_printk("KMM_UFFD: reading the userfaultfd failed (errno %d); threads "
			           "touching new memory will wait",
			           errno);
			os_sleep_ms(UINT32_MAX);
			continue;
		}
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				handle_fault(&fa, (uintptr_t)msgs[i].arg.pagefault.address);
	}
}

/* ---- start-up -------------------------------------------------------------------------- */

static int open_uffd(void)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static bool start_handler(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t thread;
	int err;

	/* Blocks every signal: a handler run here could touch memory only this thread serves. */
	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&thread, &attr, uffd_handler, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
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
	if (!zero_region) {
		close(fd);
		return;
	}
	uffd = fd;
	uffd_owner = os_getpid();
	if (!start_handler()) {
		close(fd);
		uffd = -1;
		return;
	}
	WRITE_ONCE(uffd_serving, true);
	register_memory_notifier(uffd_register);
	for_each_mapped_frames(uffd_register);
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

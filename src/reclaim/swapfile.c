/*
 * Swap devices (the kernel's mm/swapfile.c): unlinked files in KMM_SWAP_DIR (default
 * $TMPDIR, else /tmp), created with mode 0600 and never given a name that outlives the
 * call that made them (O_TMPFILE, or a random name unlinked at once where the file
 * system has no O_TMPFILE), so no exit, not even SIGKILL, leaves one behind.
 *
 * A device is a swap_info_struct: its descriptor (at 210 or above, out of the program's
 * way, and checked to be the same file before each use), a swap_map of one count per
 * slot (0 free, 1 held by one page of this process: a page has one owner here, the
 * kernel's counts of several PTEs do not arise) and a next-fit cursor that hands out
 * consecutive slots, so a batch of pages written together is one pwritev and a run of
 * neighbours read back together is one preadv (the kernel's swap clusters).
 *
 * fork: the child and the parent both read what was swapped out before the fork, so
 * neither may write a slot again that the other might read. The device written at the
 * fork stops taking writes in both (it loses SWP_WRITEOK) and each process opens a new
 * one when it next swaps out; a device that takes no writes is closed when its last
 * slot is freed, and the kernel frees the file with the last process's descriptor. No
 * count is shared between processes: each one's swap_map says which slots it still
 * needs.
 *
 * Invariants: everything here runs under reclaim_lock (internal.h), on kmm's raw
 * threads too, so every system call is os_raw_syscall and nothing allocates.
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "../base/options.h"
#include "../base/printk.h"
#include "../buddy/page_alloc.h"
#include "internal.h"

#define SWAP_FD_LOWEST 220
#define SWAP_IOV_MAX   64 /* pages per preadv/pwritev */

enum { SWP_USED = 1 << 0, SWP_WRITEOK = 1 << 1 };

struct swap_info_struct {
	unsigned int flags;
	int fd;
	uint64_t identity;         /* os_fd_identity(fd) when it was opened */
	unsigned long max;         /* slots, slot 0 never handed out */
	unsigned long inuse_pages; /* slots held */
	unsigned long cluster_next;
	uint8_t *swap_map; /* a count per slot */
};

static struct swap_info_struct swap_info[MAX_SWAPFILES];
static int writing_type = -1;    /* the device that takes writes, or -1 */
static unsigned long swap_slots; /* a device's size, in slots */
static char swap_dir[PATH_MAX];
static bool swap_failed; /* said once that no device could be opened */

static int raw_close(int fd)
{
	return (int)os_raw_syscall(SYS_close, fd, 0, 0);
}

/* A high duplicate of @fd, closing @fd: the program's low descriptors stay its own. */
static int move_fd_high(int fd)
{
	int high = (int)os_raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, SWAP_FD_LOWEST);

	if (high < 0)
		return fd;
	raw_close(fd);
	return high;
}

static int open_unlinked(void)
{
	int fd = (int)os_raw_syscall6(SYS_openat, AT_FDCWD, (long)swap_dir,
	                              O_TMPFILE | O_RDWR | O_CLOEXEC, 0600, 0, 0);
	char name[PATH_MAX + 32];
	uint64_t random = __builtin_ia32_rdtsc();

	if (fd >= 0 || (fd != -EOPNOTSUPP && fd != -EISDIR && fd != -EINVAL))
		return fd;
	/* No O_TMPFILE here: a name nobody guesses, unlinked before anything is written. */
	for (int tries = 0; tries < 8; tries++, random = random * 6364136223846793005ULL + 1) {
		size_t len = 0;

		for (const char *s = swap_dir; *s && len < PATH_MAX; s++)
			name[len++] = *s;
		for (const char *s = "/.kmm-swap-"; *s; s++)
			name[len++] = *s;
		for (int i = 0; i < 16; i++)
			name[len++] = "0123456789abcdef"[(random >> (4 * i)) & 15];
		name[len] = 0;
		fd = (int)os_raw_syscall6(SYS_openat, AT_FDCWD, (long)name,
		                          O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, 0, 0);
		if (fd >= 0) {
			os_raw_syscall(SYS_unlinkat, AT_FDCWD, name, 0);
			return fd;
		}
		if (fd != -EEXIST)
			return fd;
	}
	return fd;
}

/* A new device to write to; false (said once) when none can be made. */
static bool swapon(void)
{
	int type, fd;

	for (type = 0; type < (int)MAX_SWAPFILES; type++)
		if (!(swap_info[type].flags & SWP_USED))
			break;
	if (type == (int)MAX_SWAPFILES)
		return false;
	fd = open_unlinked();
	if (fd < 0) {
		if (!swap_failed)
			kmm_printk(
			        "KMM_SWAP_DIR: cannot create a swap file in %s (errno %d); pages "
			        "stay resident past KMM_MEM_LIMIT",
			        swap_dir, -fd);
		swap_failed = true;
		return false;
	}
	fd = move_fd_high(fd);
	if (!swap_info[type].swap_map) {
		swap_info[type].swap_map = os_map_sparse(ALIGN_UP(swap_slots, PAGE_SIZE));
		if (!swap_info[type].swap_map) {
			raw_close(fd);
			return false;
		}
	}
	swap_info[type].fd = fd;
	swap_info[type].identity = os_fd_identity(fd);
	swap_info[type].max = swap_slots;
	swap_info[type].inuse_pages = 0;
	swap_info[type].cluster_next = 1;
	swap_info[type].flags = SWP_USED | SWP_WRITEOK;
	writing_type = type;
	return true;
}

static void swapoff(struct swap_info_struct *si)
{
	zswap_swapoff((unsigned int)(si - swap_info));
	raw_close(si->fd);
	os_release(si->swap_map, ALIGN_UP(si->max, PAGE_SIZE));
	si->flags = 0;
	si->fd = -1;
}

/* Up to @nr free slots from the cursor on, consecutive: the first, and *@got of them. */
static unsigned long scan_swap_map(struct swap_info_struct *si, unsigned int nr, unsigned int *got)
{
	for (unsigned long pass = 0, off = si->cluster_next; pass < 2; pass++, off = 1) {
		for (; off < si->max; off++) {
			unsigned int n = 0;

			if (si->swap_map[off])
				continue;
			while (n < nr && off + n < si->max && !si->swap_map[off + n])
				n++;
			*got = n;
			si->cluster_next = off + n;
			return off;
		}
	}
	*got = 0;
	return 0;
}

bool vm_swap_full(void)
{
	const struct swap_info_struct *si;

	if (writing_type < 0)
		return false;
	si = &swap_info[writing_type];
	return si->inuse_pages * 2 > si->max;
}

unsigned int get_swap_pages(unsigned int nr, swp_entry_t *entries)
{
	unsigned int done = 0;

	while (done < nr) {
		struct swap_info_struct *si;
		unsigned long off;
		unsigned int got;

		if (writing_type < 0 && !swapon())
			break;
		si = &swap_info[writing_type];
		off = scan_swap_map(si, nr - done, &got);
		if (!got)
			break; /* full */
		for (unsigned int i = 0; i < got; i++) {
			si->swap_map[off + i] = 1;
			entries[done++] = swp_entry((unsigned int)writing_type, off + i);
		}
		si->inuse_pages += got;
	}
	return done;
}

void swap_free(swp_entry_t entry)
{
	struct swap_info_struct *si = &swap_info[swp_type(entry)];
	unsigned long off = swp_offset(entry);

	if (!entry.val || !si->swap_map[off])
		return;
	zswap_invalidate(entry);
	si->swap_map[off] = 0;
	if (unlikely(READ_ONCE(memory_exhausted)))
		WRITE_ONCE(memory_exhausted, false); /* a slot to swap to: reclaim may go on */
	if (--si->inuse_pages == 0 && !(si->flags & SWP_WRITEOK))
		swapoff(si);
}

/* The device's descriptor, or -EBADF (said once) when the program closed it. */
static int device_fd(struct swap_info_struct *si)
{
	if (os_fd_identity(si->fd) == si->identity)
		return si->fd;
	if (si->identity != UINT64_MAX)
		kmm_printk("KMM_MEM_LIMIT: the program closed kmm's swap file (descriptor %d)",
		           si->fd);
	si->identity = UINT64_MAX;
	return -EBADF;
}

/* One preadv or pwritev of the @nr vectors of @iov at @entry's slot, completed. */
static int swap_io(swp_entry_t entry, struct iovec *iov, unsigned int nr, bool write)
{
	struct swap_info_struct *si = &swap_info[swp_type(entry)];
	long off = (long)swp_offset(entry) << PAGE_SHIFT;
	size_t left = 0;
	int fd = device_fd(si);

	for (unsigned int i = 0; i < nr; i++)
		left += iov[i].iov_len;
	if (fd < 0)
		return fd;
	while (left) {
		long n = os_raw_syscall6(write ? SYS_pwritev : SYS_preadv, fd, (long)iov, nr, off,
		                         0, 0);

		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		left -= (size_t)n;
		off += n;
		/* A short transfer: step over what was done and go on. */
		while (nr && (size_t)n >= iov->iov_len) {
			n -= (long)iov->iov_len;
			iov++;
			nr--;
		}
		if (nr) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int swap_writepages(swp_entry_t *entries, char *const *pages, unsigned int nr)
{
	struct iovec iov[SWAP_IOV_MAX];

	for (unsigned int i = 0, j; i < nr; i = j) {
		int err;

		/* A run of consecutive slots on one device is one write. */
		for (j = i;
		     j < nr && j - i < SWAP_IOV_MAX && entries[j].val == entries[i].val + (j - i);
		     j++)
			iov[j - i] = (struct iovec){.iov_base = pages[j], .iov_len = PAGE_SIZE};
		err = swap_io(entries[i], iov, j - i, true);
		if (err)
			return err;
	}
	return 0;
}

/* The pages in the compressed tier come from there; the runs between are one read each. */
int swap_readpages(swp_entry_t first, unsigned int nr, char *buf)
{
	for (unsigned int i = 0, j; i < nr; i = j) {
		swp_entry_t swp = {first.val + i};
		struct iovec iov;
		int err;

		j = i + 1;
		if (zswap_present(swp)) {
			err = zswap_load(swp, buf + ((size_t)i << PAGE_SHIFT));
			if (err)
				return err;
			continue;
		}
		while (j < nr && !zswap_present((swp_entry_t){first.val + j}))
			j++;
		iov = (struct iovec){.iov_base = buf + ((size_t)i << PAGE_SHIFT),
		                     .iov_len = (size_t)(j - i) << PAGE_SHIFT};
		err = swap_io(swp, &iov, 1, false);
		if (err)
			return err;
		reclaim_events.pswpin += j - i;
	}
	return 0;
}

void swap_fork_freeze(void)
{
	for (unsigned int type = 0; type < MAX_SWAPFILES; type++) {
		struct swap_info_struct *si = &swap_info[type];

		if (!(si->flags & SWP_USED))
			continue;
		si->flags &= ~SWP_WRITEOK;
		if (si->inuse_pages == 0)
			swapoff(si);
	}
	writing_type = -1;
}

void swap_collect(struct swap_stats *out)
{
	out->nr_devices = 0;
	out->total_pages = 0;
	out->used_pages = 0;
	for (unsigned int type = 0; type < MAX_SWAPFILES; type++) {
		const struct swap_info_struct *si = &swap_info[type];

		if (!(READ_ONCE(si->flags) & SWP_USED))
			continue;
		if (out->nr_devices < ARRAY_SIZE(out->device))
			out->device[out->nr_devices] = (struct swap_device_stats){
			        .fd = si->fd,
			        .writeok = READ_ONCE(si->flags) & SWP_WRITEOK,
			        .size_pages = si->max - 1,
			        .used_pages = READ_ONCE(si->inuse_pages),
			};
		out->nr_devices++;
		out->used_pages += READ_ONCE(si->inuse_pages);
		/* A device that takes no more writes counts only what it still holds. */
		out->total_pages += (READ_ONCE(si->flags) & SWP_WRITEOK)
		                            ? si->max - 1
		                            : READ_ONCE(si->inuse_pages);
	}
	if (writing_type < 0 && !swap_failed && swap_slots)
		out->total_pages += swap_slots - 1; /* the next device, made on demand */
	out->dir = swap_dir;
}

int swapfile_init(void)
{
	const char *dir = kmm_option_path(OPT_SWAP_DIR);
	unsigned long size = (unsigned long)kmm_option(OPT_SWAP_SIZE);
	size_t len = 0;

	if (!dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	while (dir[len] && len < sizeof(swap_dir) - 1) {
		swap_dir[len] = dir[len];
		len++;
	}
	swap_dir[len] = 0;
	swap_slots = min_ul(size >> PAGE_SHIFT, SWP_OFFSET_MAX) + 1;
	for (unsigned int type = 0; type < MAX_SWAPFILES; type++)
		swap_info[type].fd = -1;
	return 0;
}

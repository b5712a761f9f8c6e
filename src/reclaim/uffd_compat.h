/*
 * The userfaultfd uAPI that Debian 12's kernel headers (6.1) lack and the running kernel
 * may have: UFFDIO_MOVE (Linux 6.8). The values are
 * the kernel's ABI; whether the kernel has the feature is asked at UFFDIO_API time, never assumed.
 */
#ifndef KMM_RECLAIM_UFFD_COMPAT_H
#define KMM_RECLAIM_UFFD_COMPAT_H

#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE        ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move; /* bytes moved, or a negative errno */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#endif /* KMM_RECLAIM_UFFD_COMPAT_H */

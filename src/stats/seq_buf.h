/*
 * A fixed buffer in front of a file descriptor (the kernel's seq_buf): the statistics
 * are formatted into it and written out as it fills. No allocation, no stdio, no lock:
 * usable from a signal handler.
 *
 * Output is written in whole lines, and a dump that fits the buffer (all of them, short
 * of dozens of nodes) in a single write: processes that append to one file
 * (KMM_STATS_FILE without %p) then never cut each other's lines or snapshots.
 */
#ifndef KMM_STATS_SEQ_BUF_H
#define KMM_STATS_SEQ_BUF_H

#include <stddef.h>

#include "../base/compiler.h"

#define SEQ_BUF_SIZE (64 << 10) /* also the longest line that is written whole */

struct seq_buf {
	int fd;
	int error;  /* errno of the first write that failed, or 0 */
	size_t len; /* bytes in buf */
	char buf[SEQ_BUF_SIZE];
};

static inline void seq_buf_init(struct seq_buf *m, int fd)
{
	m->fd = fd;
	m->error = 0;
	m->len = 0;
}

void seq_buf_printf(struct seq_buf *m, const char *fmt, ...) __printf(2, 3);
void seq_buf_puts(struct seq_buf *m, const char *s);

/* Write out everything; 0, or -1 with errno of the first write that failed. */
int seq_buf_flush(struct seq_buf *m);

#endif /* KMM_STATS_SEQ_BUF_H */

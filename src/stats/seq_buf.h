/*
 * A fixed buffer in front of a file descriptor (the kernel's seq_buf): the statistics
 * are formatted into it and written out as it fills. No allocation, no stdio, no lock:
 * usable from a signal handler.
 */
#ifndef KMM_STATS_SEQ_BUF_H
#define KMM_STATS_SEQ_BUF_H

#include <stddef.h>

#include "../base/compiler.h"

#define SEQ_BUF_SIZE 8192 /* also the longest line */

struct seq_buf {
	int fd;
	size_t len;
	char buf[SEQ_BUF_SIZE];
};

static inline void seq_buf_init(struct seq_buf *m, int fd)
{
	m->fd = fd;
	m->len = 0;
}

void seq_buf_printf(struct seq_buf *m, const char *fmt, ...) __printf(2, 3);
void seq_buf_puts(struct seq_buf *m, const char *s);
void seq_buf_flush(struct seq_buf *m);

#endif /* KMM_STATS_SEQ_BUF_H */

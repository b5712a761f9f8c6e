/*
 * See seq_buf.h.
 */
#include "seq_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "../base/os.h"
#include "../base/printk.h"

static void write_out(struct seq_buf *m, size_t len)
{
	if (len && os_write_all(m->fd, m->buf, len) != 0 && !m->error)
		m->error = errno;
	memmove(m->buf, m->buf + len, m->len - len);
	m->len -= len;
}

/* Make room by writing the complete lines; a line longer than the buffer goes as is. */
static void make_room(struct seq_buf *m)
{
	size_t lines = m->len;

	while (lines > 0 && m->buf[lines - 1] != '\n')
		lines--;
	write_out(m, lines ? lines : m->len);
}

void seq_buf_printf(struct seq_buf *m, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	for (int attempt = 0;; attempt++) {
		va_start(ap, fmt);
		n = kmm_vsnprintf(m->buf + m->len, SEQ_BUF_SIZE - m->len, fmt, ap);
		va_end(ap);
		if (m->len + n < SEQ_BUF_SIZE || attempt == 2)
			break;
		make_room(m); /* then format it again */
	}
	m->len += n < SEQ_BUF_SIZE - m->len ? n : SEQ_BUF_SIZE - 1 - m->len;
}

void seq_buf_puts(struct seq_buf *m, const char *s)
{
	seq_buf_printf(m, "%s", s);
}

int seq_buf_flush(struct seq_buf *m)
{
	write_out(m, m->len);
	if (m->error) {
		errno = m->error;
		return -1;
	}
	return 0;
}

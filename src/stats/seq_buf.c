/*
 * See seq_buf.h.
 */
#include "seq_buf.h"

#include <stdarg.h>
#include <string.h>

#include "../base/os.h"
#include "../base/printk.h"

void seq_buf_flush(struct seq_buf *m)
{
	if (m->len)
		os_write_all(m->fd, m->buf, m->len);
	m->len = 0;
}

void seq_buf_printf(struct seq_buf *m, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = kmm_vsnprintf(m->buf + m->len, SEQ_BUF_SIZE - m->len, fmt, ap);
	va_end(ap);
	if (m->len + n < SEQ_BUF_SIZE) {
		m->len += n;
		return;
	}
	/* It did not fit: write out what came before and format it again at the start. */
	seq_buf_flush(m);
	va_start(ap, fmt);
	n = kmm_vsnprintf(m->buf, SEQ_BUF_SIZE, fmt, ap);
	va_end(ap);
	m->len = n < SEQ_BUF_SIZE ? n : SEQ_BUF_SIZE - 1;
}

void seq_buf_puts(struct seq_buf *m, const char *s)
{
	seq_buf_printf(m, "%s", s);
}

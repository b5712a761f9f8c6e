/*
 * An allocation-free printf subset; see printk.h.
 */
#include "printk.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "os.h"

struct out {
	char *buf;
	size_t size; /* capacity including the terminating NUL */
	size_t len;  /* characters produced so far, even past size */
};

static void out_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_padded(struct out *o, const char *s, size_t n, int width, bool left, char pad)
{
	size_t fill = width > 0 && (size_t)width > n ? (size_t)width - n : 0;

	if (!left) {
		/* Zero padding goes after the sign, as printf does. */
		if (pad == '0' && n > 0 && *s == '-') {
			out_char(o, *s++);
			n--;
		}
		while (fill--)
			out_char(o, pad);
	}
	while (n--)
		out_char(o, *s++);
	if (left)
		while (fill--)
			out_char(o, ' ');
}

static size_t format_unsigned(char *tmp, unsigned long long v, unsigned int base, bool negative)
{
	char rev[24];
	size_t n = 0, len = 0;

	do {
		rev[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative)
		tmp[len++] = '-';
	while (n)
		tmp[len++] = rev[--n];
	return len;
}

size_t kmm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {.buf = buf, .size = size, .len = 0};

	for (; *fmt; fmt++) {
		char tmp[32];
		bool left = false;
		char pad = ' ';
		int width = 0, precision = -1, longs = 0;
		unsigned long long v;

		if (*fmt != '%') {
			out_char(&o, *fmt);
			continue;
		}
		fmt++;
		for (; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-')
				left = true;
			else
				pad = '0';
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = true;
				width = -width;
			}
			fmt++;
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		if (*fmt == '.') {
			precision = 0;
			if (*++fmt == '*') {
				precision = va_arg(ap, int);
				fmt++;
			}
			for (; *fmt >= '0' && *fmt <= '9'; fmt++)
				precision = precision * 10 + (*fmt - '0');
		}
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			longs++;
		if (left)
			pad = ' ';

		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n = 0;

			if (!s)
				s = "(null)";
			while (s[n] && (precision < 0 || n < (size_t)precision))
				n++;
			out_padded(&o, s, n, width, left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			out_padded(&o, tmp, 1, width, left, ' ');
			break;
		case 'd':
		case 'i': {
			long long sv = longs >= 2   ? va_arg(ap, long long)
			               : longs == 1 ? va_arg(ap, long)
			                            : va_arg(ap, int);
			bool neg = sv < 0;

			v = neg ? 0ULL - (unsigned long long)sv : (unsigned long long)sv;
			out_padded(&o, tmp, format_unsigned(tmp, v, 10, neg), width, left, pad);
			break;
		}
		case 'u':
		case 'x':
			v = longs >= 2   ? va_arg(ap, unsigned long long)
			    : longs == 1 ? va_arg(ap, unsigned long)
			                 : va_arg(ap, unsigned int);
			out_padded(&o, tmp, format_unsigned(tmp, v, *fmt == 'u' ? 10 : 16, false),
			           width, left, pad);
			break;
		case 'p':
			v = (uintptr_t)va_arg(ap, void *);
			if (!v) {
				out_padded(&o, "(nil)", 5, width, left, ' ');
				break;
			}
			tmp[0] = '0';
			tmp[1] = 'x';
			out_padded(&o, tmp, 2 + format_unsigned(tmp + 2, v, 16, false), width, left,
			           ' ');
			break;
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			out_char(&o, '%');
			out_char(&o, *fmt);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}

size_t kmm_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = kmm_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

static void vprintk_line(const char *fmt, va_list ap)
{
	char line[512] = "kmm: ";
	size_t n = 5;

	n += kmm_vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	os_write_all(STDERR_FILENO, line, n);
}

void kmm_printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk_line(fmt, ap);
	va_end(ap);
}

void kmm_bug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk_line(fmt, ap);
	va_end(ap);
	abort();
}

/*
 * Formatted output that never allocates: libkmm cannot use stdio, which calls malloc,
 * and its messages must be safe from inside malloc, early in startup and (for the
 * statistics dump) from a signal handler.
 *
 * Supported conversions: %s %c %d %i %u %x %p %% with the l, ll and z length modifiers,
 * a field width (or *, negative for '-'), a precision for %s (or .*), and the '-' and '0'
 * flags. Other conversions are not supported and must not be used. Output is truncated
 * to the buffer.
 */
#ifndef KMM_BASE_PRINTK_H
#define KMM_BASE_PRINTK_H

#include <stdarg.h>
#include <stddef.h>

#include "compiler.h"

size_t kmm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
size_t kmm_snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

/* One line to stderr, prefixed "kmm: " and ended with a newline. */
void kmm_printk(const char *fmt, ...) __printf(1, 2);

/*
 * Report heap misuse and abort, as the C library does: one line naming the call and
 * the address, e.g. "kmm: kmm_free_pages(): invalid pointer 0x7f00001000".
 */
__noreturn __cold void kmm_bug(const char *fmt, ...) __printf(1, 2);

#endif /* KMM_BASE_PRINTK_H */

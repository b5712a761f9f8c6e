/*
 * kmm_snprintf must agree with the C library's snprintf on every form libkmm uses:
 * the statistics dumps are byte-for-byte formats, and they are built with it.
 */
#include "../test.h"

#include <limits.h>
#include <stdint.h>

#include "base/printk.h"

#define AGREE(...)                                                                                \
	do {                                                                                      \
		char mine[256], libc[256];                                                        \
		size_t n = kmm_snprintf(mine, sizeof(mine), __VA_ARGS__);                         \
		int m = snprintf(libc, sizeof(libc), __VA_ARGS__);                                \
		CHECK(strcmp(mine, libc) == 0 && (int)n == m,                                     \
		      "format %s: expected \"%s\" (%d), got \"%s\" (%zu)", #__VA_ARGS__, libc, m, \
		      mine, n);                                                                   \
	} while (0)

int main(void)
{
	char small[8];
	size_t n;

	AGREE("plain text");
	AGREE("%d %i %u", -42, 0, 42u);
	AGREE("%ld %lu %lld %llu", LONG_MIN, ULONG_MAX, LLONG_MIN, ULLONG_MAX);
	AGREE("%zu %x %lx", (size_t)12345, 0xbeefu, 0xdeadbeefUL);
	AGREE("%p", (void *)0x7f00dead1000);
	AGREE("[%p] [%8p]", (void *)0, (void *)0);
	AGREE("[%*d] [%*s]", -6, 42, -4, "ab");
	AGREE("[%8lu] [%-8lu] [%08lu] [%5d] [%-5d] [%05d]", 42UL, 42UL, 42UL, -7, -7, -7);
	AGREE("[%s] [%10s] [%-10s] [%.3s] [%.*s]", "zone", "Normal", "DMA", "abcdef", 2, "xyz");
	AGREE("[%c] [%%] [%*d]", 'k', 6, 99);
	AGREE("Node %d, zone %8s %6lu %6lu", 0, "Normal", 1UL, 2UL);

	/* Truncation keeps a terminated prefix and reports the full length. */
	n = kmm_snprintf(small, sizeof(small), "%s", "0123456789");
	CHECK_EQ(10, n);
	CHECK(strcmp(small, "0123456") == 0, "expected \"0123456\", got \"%s\"", small);
	printf("printk: all checks passed\n");
	return 0;
}

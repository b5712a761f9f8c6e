/*
 * Bad input gets one clear line: misuse of kmm_free_pages aborts naming the call and
 * the pointer; a bad order or node is NULL with EINVAL.
 */
#include "../buddy_test.h"

#include <signal.h>
#include <stdint.h>

#include "buddy/page.h"

static int misuse(const char *what)
{
	static char stack_buffer[64];
	void *p;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	if (strcmp(what, "foreign") == 0) {
		kmm_free_pages(stack_buffer, 0);
	} else if (strcmp(what, "double") == 0) {
		p = kmm_alloc_pages(2);
		kmm_free_pages(p, 2);
		kmm_free_pages(p, 2);
	} else if (strcmp(what, "order") == 0) {
		p = kmm_alloc_pages(2);
		kmm_free_pages(p, 3);
	} else if (strcmp(what, "interior") == 0) {
		p = kmm_alloc_pages(2);
		kmm_free_pages((char *)p + KMM_PAGE_SIZE, 0);
	} else if (strcmp(what, "unaligned") == 0) {
		p = kmm_alloc_pages(0);
		kmm_free_pages((char *)p + 8, 0);
	} else if (strcmp(what, "beyond") == 0) {
		/* Inside a zone's window, past what the zone has brought into service. */
		kmm_free_pages(kmm_phys_base + (kmm_max_pfn << PAGE_SHIFT) - PAGE_SIZE, 0);
	} else if (strcmp(what, "bigorder") == 0) {
		p = kmm_alloc_pages(0);
		kmm_free_pages(p, 11);
	}
	return 0; /* not reached when the misuse is caught */
}

static void expect_abort(const char *what, const char *message)
{
	char out[4096];
	char *args[] = {"--misuse", (char *)what, NULL};
	int status = run_self(args, NULL, out, sizeof(out));
	int lines = 0;

	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	      "%s: expected an abort, got status %#x and output:\n%s", what, status, out);
	CHECK_STR_CONTAINS(out, message);
	CHECK_STR_CONTAINS(out, " 0x");
	for (const char *c = out; *c; c++)
		lines += *c == '\n';
	CHECK(lines == 1, "%s: expected one line, got %d:\n%s", what, lines, out);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--misuse") == 0)
		return misuse(argv[2]);

	expect_abort("foreign", "kmm: kmm_free_pages(): invalid pointer 0x");
	expect_abort("double", "kmm: kmm_free_pages(): invalid pointer 0x");
	expect_abort("interior", "(double free, or not the start of an allocated block)");
	expect_abort("unaligned", "kmm: kmm_free_pages(): invalid pointer 0x");
	expect_abort("beyond", "kmm: kmm_free_pages(): invalid pointer 0x");
	expect_abort("order", "was allocated with order 2, freed with order 3");
	expect_abort("bigorder", "kmm_free_pages(): order 11 is past the largest order 10");

	errno = 0;
	CHECK(kmm_alloc_pages(11) == NULL && errno == EINVAL, "order 11: expected EINVAL, got %d",
	      errno);
	errno = 0;
	CHECK(kmm_alloc_pages(UINT32_MAX) == NULL && errno == EINVAL,
	      "order UINT_MAX: expected EINVAL, got %d", errno);
	errno = 0;
	CHECK(kmm_alloc_pages_node(63, 0) == NULL && errno == EINVAL,
	      "node 63: expected EINVAL, got %d", errno);
	kmm_free_pages(NULL, 0); /* a no-op, as free_pages(0, order) in the kernel */
	CHECK_EQ(-1, kmm_page_to_nid(&argc));
	CHECK_EQ(-1, kmm_page_to_nid(NULL));
	printf("errors: passed\n");
	return 0;
}

/*
 * Backing selection. With KMM_HUGETLB=on and no free hugetlb pages, a zone falls back
 * to THP and says so on stderr; its window is marked for THP (VmFlags "hg"). Where the
 * machine does have free 2 MiB pages, the zone must use them instead.
 *
 * With --reserve (root only), the test reserves hugetlb pages itself for the duration,
 * checks that KMM_HUGETLB=auto picks them up and that allocations work, and restores
 * the pool; it is skipped (exit 77) when the pool cannot be grown.
 */
#include "../buddy_test.h"

#include <stdint.h>

#include "buddy/mm_init.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Child: report what backing zone 0 got, after touching some memory. */
static int child_report(void)
{
	struct zone *zone;
	char flags[512];
	unsigned char *p;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	zone = node_zones[0];
	p = kmm_alloc_pages(MAX_PAGE_ORDER);
	CHECK(p != NULL, "allocation failed: %s", strerror(errno));
	memset(p, 0x5a, KMM_PAGE_SIZE << MAX_PAGE_ORDER);
	smaps_line(p, "VmFlags:", flags, sizeof(flags));
	printf("backing=%s\n%s", zone_backing_name(zone->backing), flags);
	fflush(stdout);
	/* A fork child writes inherited memory and allocates new: copy-on-write must work. */
	if (zone->backing != ZONE_BACKING_THP) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			unsigned char *q = kmm_alloc_pages(0);

			memset(p, 0x33, KMM_PAGE_SIZE << MAX_PAGE_ORDER);
			if (!q)
				_exit(2);
			memset(q, 0x44, KMM_PAGE_SIZE);
			_exit(p[0] == 0x33 && q[0] == 0x44 ? 0 : 3);
		}
		waitpid(pid, &status, 0);
		printf("fork child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok"
		                           : WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
		                                                 : "failed");
		CHECK(p[0] == 0x5a, "the parent's block changed after the child wrote its copy");
	}
	kmm_free_pages(p, MAX_PAGE_ORDER);
	return 0;
}

static long free_hugepages(void)
{
	return read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
}

static void test_on_without_pool(void)
{
	char out[4096];
	char *args[] = {"--child", NULL};
	char *env[] = {"KMM_HUGETLB=on", "KMM_ZONE_SIZE=16M", "KMM_NUMA_FAKE=1", NULL};
	int status;

	if (free_hugepages() >= 8) {
		status = run_self(args, env, out, sizeof(out));
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed:\n%s", out);
		CHECK_STR_CONTAINS(out, "backing=hugetlb\n");
		return;
	}
	status = run_self(args, env, out, sizeof(out));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed:\n%s", out);
	CHECK_STR_CONTAINS(out, "kmm: KMM_HUGETLB=on: node 0 has");
	CHECK_STR_CONTAINS(out, "THP for the rest");
	CHECK_STR_CONTAINS(out, "backing=thp\n");
	CHECK_STR_CONTAINS(out, " hg");
}

static void test_auto_and_off_are_quiet(void)
{
	char out[4096];
	char *args[] = {"--child", NULL};
	char *env_off[] = {"KMM_HUGETLB=off", "KMM_ZONE_SIZE=16M", "KMM_NUMA_FAKE=1", NULL};
	int status = run_self(args, env_off, out, sizeof(out));

	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed:\n%s", out);
	CHECK(strstr(out, "kmm:") == NULL, "KMM_HUGETLB=off should print nothing, got:\n%s", out);
	CHECK_STR_CONTAINS(out, "backing=thp\n");
}

/* KMM_THP=off: no MADV_HUGEPAGE on the zone, and the report says so. */
static void test_thp_off(void)
{
	char out[4096];
	char *args[] = {"--child", NULL};
	char *env[] = {"KMM_HUGETLB=off", "KMM_THP=off", "KMM_ZONE_SIZE=16M", "KMM_NUMA_FAKE=1",
	               NULL};
	int status = run_self(args, env, out, sizeof(out));

	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed:\n%s", out);
	CHECK_STR_CONTAINS(out, "backing=4k pages\n");
	CHECK(strstr(out, " hg") == NULL, "KMM_THP=off: expected no hg VmFlag, got:\n%s", out);
}

/*
 * Root: grow the pool by 16 pages, expect auto to use 8 of them for a 16 MiB zone and
 * leave 8 free for copy-on-write after fork.
 */
static int test_reserved_pool(void)
{
	long before = read_long(NR_HUGEPAGES), free_before = free_hugepages();
	char out[4096];
	char *args[] = {"--child", NULL};
	char *env[] = {"KMM_HUGETLB=auto", "KMM_ZONE_SIZE=16M", "KMM_NUMA_FAKE=1", NULL};
	int status;

	if (before < 0 || write_long(NR_HUGEPAGES, before + 16) != 0) {
		printf("hugetlb pool: cannot grow %s (not root?), skipped\n", NR_HUGEPAGES);
		return 77;
	}
	if (free_hugepages() < free_before + 16) {
		write_long(NR_HUGEPAGES, before);
		printf("hugetlb pool: the kernel found no free 2 MiB pages, skipped\n");
		return 77;
	}
	status = run_self(args, env, out, sizeof(out));
	write_long(NR_HUGEPAGES, before);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed:\n%s", out);
	CHECK_STR_CONTAINS(out, "backing=hugetlb\n");
	CHECK_STR_CONTAINS(out, " ht"); /* VM_HUGETLB */
	CHECK_STR_CONTAINS(out, "fork child: ok\n");
	CHECK_EQ(before, read_long(NR_HUGEPAGES));
	printf("hugetlb pool: auto used 8 of 16 free pages; a fork child wrote its copy\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_report();
	if (argc > 1 && strcmp(argv[1], "--reserve") == 0)
		return test_reserved_pool();
	test_on_without_pool();
	test_auto_and_off_are_quiet();
	test_thp_off();
	printf("hugetlb fallback: passed\n");
	return 0;
}

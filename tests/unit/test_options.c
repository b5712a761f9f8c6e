/*
 * The KMM_* options table: every accepted form, every rejected one, and the one-line
 * report of a bad value in a real process.
 */
#include "../test.h"

#include <signal.h>

#include "base/options.h"

static void check_parse(enum kmm_option_id id, const char *text, long expected)
{
	long value = -12345;

	CHECK(kmm_option_parse(id, text, &value), "\"%s\" should parse", text);
	CHECK(value == expected, "\"%s\": expected %ld, got %ld", text, expected, value);
}

static void check_rejects(enum kmm_option_id id, const char *text)
{
	long value;

	CHECK(!kmm_option_parse(id, text, &value), "\"%s\" should be rejected, got %ld", text,
	      value);
}

static void test_sizes(void)
{
	check_parse(OPT_ZONE_SIZE, "0", 0);
	check_parse(OPT_ZONE_SIZE, "4194304", 4L << 20);
	check_parse(OPT_ZONE_SIZE, "512M", 512L << 20);
	check_parse(OPT_ZONE_SIZE, "512m", 512L << 20);
	check_parse(OPT_ZONE_SIZE, "4MiB", 4L << 20);
	check_parse(OPT_ZONE_SIZE, "4MB", 4L << 20);
	check_parse(OPT_ZONE_SIZE, "2G", 2L << 30);
	check_parse(OPT_ZONE_SIZE, "1T", 1L << 40);
	check_parse(OPT_ZONE_SIZE, "8192K", 8L << 20);
	check_rejects(OPT_ZONE_SIZE, "lots");
	check_rejects(OPT_ZONE_SIZE, "");
	check_rejects(OPT_ZONE_SIZE, "-1");
	check_rejects(OPT_ZONE_SIZE, "12X");
	check_rejects(OPT_ZONE_SIZE, "1 G");
	check_rejects(OPT_ZONE_SIZE, "1M");                   /* below one max-order block */
	check_rejects(OPT_ZONE_SIZE, "99999999999999999999"); /* overflows */
	check_rejects(OPT_ZONE_SIZE, "17179869184G");         /* overflows when shifted */
}

static void test_numbers_and_choices(void)
{
	check_parse(OPT_NUMA_FAKE, "4", 4);
	check_parse(OPT_NUMA_FAKE, "64", 64);
	check_rejects(OPT_NUMA_FAKE, "65");
	check_rejects(OPT_NUMA_FAKE, "4x");
	check_parse(OPT_DECAY_MS, "0", 0);
	check_parse(OPT_DECAY_MS, "3600000", 3600000);
	check_rejects(OPT_DECAY_MS, "3600001");
	check_parse(OPT_HUGETLB, "auto", HUGETLB_AUTO);
	check_parse(OPT_HUGETLB, "ON", HUGETLB_ON);
	check_parse(OPT_HUGETLB, "off", HUGETLB_OFF);
	check_rejects(OPT_HUGETLB, "yes");
	check_rejects(OPT_HUGETLB, "of");
	check_parse(OPT_MBIND, "preferred", MBIND_PREFERRED);
	check_rejects(OPT_MBIND, "interleave");
}

static void test_stats_options(void)
{
	long value;

	check_parse(OPT_STATS, "buddyinfo", STATS_BUDDYINFO);
	check_parse(OPT_STATS, "slabinfo,meminfo", STATS_SLABINFO | STATS_MEMINFO);
	check_parse(OPT_STATS, "VMSTAT,zoneinfo,json", STATS_VMSTAT | STATS_ZONEINFO | STATS_JSON);
	check_parse(OPT_STATS, "all", STATS_ALL);
	check_parse(OPT_STATS, "json,all", STATS_ALL);
	check_parse(OPT_STATS, "", 0);
	check_rejects(OPT_STATS, "buddyinfo,");
	check_rejects(OPT_STATS, ",buddyinfo");
	check_rejects(OPT_STATS, "buddyinfo,,slabinfo");
	check_rejects(OPT_STATS, "pagetypeinfo");
	check_rejects(OPT_STATS, "buddyinfo slabinfo");

	check_parse(OPT_STATS_SIGNAL, "USR2", SIGUSR2);
	check_parse(OPT_STATS_SIGNAL, "SIGUSR1", SIGUSR1);
	check_parse(OPT_STATS_SIGNAL, "sigwinch", SIGWINCH);
	check_parse(OPT_STATS_SIGNAL, "12", 12);
	check_parse(OPT_STATS_SIGNAL, "RTMIN", SIGRTMIN);
	check_parse(OPT_STATS_SIGNAL, "RTMIN+3", SIGRTMIN + 3);
	check_parse(OPT_STATS_SIGNAL, "SIGRTMAX-1", SIGRTMAX - 1);
	check_rejects(OPT_STATS_SIGNAL, "KILL");
	check_rejects(OPT_STATS_SIGNAL, "9");
	check_rejects(OPT_STATS_SIGNAL, "STOP");
	check_rejects(OPT_STATS_SIGNAL, "SEGV");
	check_rejects(OPT_STATS_SIGNAL, "ABRT");
	check_rejects(OPT_STATS_SIGNAL, "0");
	check_rejects(OPT_STATS_SIGNAL, "65");
	check_rejects(OPT_STATS_SIGNAL, "32"); /* glibc's own */
	check_rejects(OPT_STATS_SIGNAL, "33");
	check_rejects(OPT_STATS_SIGNAL, "RTMIN-1");
	check_rejects(OPT_STATS_SIGNAL, "RTMAX+1");
	check_rejects(OPT_STATS_SIGNAL, "RTMIN+99");
	check_rejects(OPT_STATS_SIGNAL, "USR3");
	check_rejects(OPT_STATS_SIGNAL, "");

	check_parse(OPT_STATS_INTERVAL, "250", 250);
	check_rejects(OPT_STATS_INTERVAL, "86400001");
	check_rejects(OPT_STATS_INTERVAL, "1s");

	CHECK(kmm_option_parse(OPT_STATS_FILE, "/tmp/kmm.%p.stats", &value), "a path parses");
	check_rejects(OPT_STATS_FILE, "");
}

static void test_init_from_envp(void)
{
	char *good[] = {"PATH=/bin", "KMM_ZONE_SIZE=64M", "KMM_HUGETLB=off", "KMM_DECAY_MS=5",
	                NULL};
	char *empty[] = {NULL};

	CHECK_EQ(0, kmm_options_init(good));
	CHECK_EQ(64L << 20, kmm_option(OPT_ZONE_SIZE));
	CHECK_EQ(HUGETLB_OFF, kmm_option(OPT_HUGETLB));
	CHECK_EQ(5, kmm_option(OPT_DECAY_MS));
	CHECK(kmm_option_path(OPT_STATS_FILE) == NULL, "no KMM_STATS_FILE: got %s",
	      kmm_option_path(OPT_STATS_FILE));
	/* A second initialization starts from the defaults again. */
	CHECK_EQ(0, kmm_options_init(empty));
	CHECK_EQ(0, kmm_option(OPT_ZONE_SIZE));
	CHECK_EQ(HUGETLB_AUTO, kmm_option(OPT_HUGETLB));
	CHECK_EQ(1000, kmm_option(OPT_DECAY_MS));

	/* The path is copied: it outlives the environment it came from. */
	{
		char entry[] = "KMM_STATS_FILE=/tmp/stats.%p";
		char *paths[] = {entry, "KMM_STATS=slabinfo", NULL};

		CHECK_EQ(0, kmm_options_init(paths));
		memset(entry, 'x', sizeof(entry) - 1);
		CHECK(strcmp(kmm_option_path(OPT_STATS_FILE), "/tmp/stats.%p") == 0,
		      "expected /tmp/stats.%%p, got %s", kmm_option_path(OPT_STATS_FILE));
		CHECK_EQ(STATS_SLABINFO, kmm_option(OPT_STATS));
		CHECK_EQ(0, kmm_options_init(empty));
		CHECK(kmm_option_path(OPT_STATS_FILE) == NULL, "reset: got %s",
		      kmm_option_path(OPT_STATS_FILE));
	}
}

/* A real process: the bad values are reported in one line each and defaults apply. */
static void test_bad_values_reported(void)
{
	char out[8192];
	char *args[] = {"--print-options", NULL};
	char *env[] = {"KMM_ZONE_SIZE=lots",
	               "KMM_HUGETLB=maybe",
	               "KMM_ZONESIZE=1G",
	               "KMM_DECAY_MS=250",
	               "KMM_STATS=buddyinfo,pagetypeinfo",
	               "KMM_STATS_SIGNAL=KILL",
	               NULL};
	int status = run_self(args, env, out, sizeof(out));

	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, output:\n%s", status,
	      out);
	CHECK_STR_CONTAINS(out, "kmm: KMM_ZONE_SIZE=lots is not valid: expected a size in bytes "
	                        "with an optional K, M, G or T suffix");
	CHECK_STR_CONTAINS(out, "using the default\n");
	CHECK_STR_CONTAINS(out, "kmm: KMM_HUGETLB=maybe is not valid: expected auto, on or off; "
	                        "using the default\n");
	CHECK_STR_CONTAINS(out, "kmm: KMM_ZONESIZE is not a kmm variable");
	CHECK_STR_CONTAINS(out, "kmm: KMM_STATS=buddyinfo,pagetypeinfo is not valid: expected a "
	                        "comma list of buddyinfo, slabinfo, meminfo, vmstat, zoneinfo, "
	                        "swaps, json, or all; using the default\n");
	CHECK_STR_CONTAINS(out, "kmm: KMM_STATS_SIGNAL=KILL is not valid: expected a signal name "
	                        "such as USR2");
	/* Defaults for the bad ones, the good one applied. */
	CHECK_STR_CONTAINS(out, "zone_size=0 hugetlb=0 decay_ms=250\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print-options") == 0) {
		kmm_options_init(NULL);
		printf("zone_size=%ld hugetlb=%ld decay_ms=%ld\n", kmm_option(OPT_ZONE_SIZE),
		       kmm_option(OPT_HUGETLB), kmm_option(OPT_DECAY_MS));
		return 0;
	}
	test_sizes();
	test_numbers_and_choices();
	test_stats_options();
	test_init_from_envp();
	test_bad_values_reported();
	printf("options: all checks passed\n");
	return 0;
}

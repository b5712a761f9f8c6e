/*
 * Configuration: one table of KMM_* environment variables, read once at initialization,
 * before anything else in libkmm runs, without allocating (DESIGN: "Configuration, the
 * kmm way"). A bad value prints one line naming the variable, the value and the
 * accepted forms, and the default stays in force.
 *
 * To add an option, add one line to KMM_OPTIONS and one row to the README's table.
 */
#ifndef KMM_BASE_OPTIONS_H
#define KMM_BASE_OPTIONS_H

#include <stdbool.h>

enum kmm_option_kind {
	OPTION_SIZE,   /* bytes, with an optional K/M/G/T suffix */
	OPTION_NUMBER, /* a decimal integer within [min, max] */
	OPTION_CHOICE, /* one word out of a fixed list; the value is its index */
	OPTION_FLAGS,  /* a comma list of words out of a fixed list; bit i for word i */
	OPTION_SIGNAL, /* a catchable signal, by name (USR2, SIGUSR2, RTMIN+1) or number */
	OPTION_PATH,   /* a file name; kmm_option_path() returns it */
};

/* Values of KMM_HUGETLB and KMM_MBIND, in the order of their choice lists. */
enum { HUGETLB_AUTO, HUGETLB_ON, HUGETLB_OFF };
enum { MBIND_BIND, MBIND_PREFERRED, MBIND_OFF };
enum { THP_ON, THP_OFF };
enum { UFFD_OFF, UFFD_ON };
enum { ZSWAP_ON, ZSWAP_OFF };
enum { ZSWAP_LZ4, ZSWAP_ZSTD };
/* Bits of KMM_STATS, in the order of its word list; "all" sets every one. */
enum {
	STATS_BUDDYINFO = 1 << 0,
	STATS_SLABINFO = 1 << 1,
	STATS_MEMINFO = 1 << 2,
	STATS_VMSTAT = 1 << 3,
	STATS_ZONEINFO = 1 << 4,
	STATS_SWAPS = 1 << 5,
	STATS_JSON = 1 << 6,
	STATS_ALL = (1 << 7) - 1,
};
#define STATS_WORDS "buddyinfo,slabinfo,meminfo,vmstat,zoneinfo,swaps,json,all"

/*
 * X(ID, variable, kind, default, min, max, choices, accepted forms)
 *
 * KMM_ZONE_SIZE 0 means "size each zone to its node's memory"; the minimum of a
 * non-zero size is one max-order block (4 MiB).
 */
#define KMM_OPTIONS(X)                                                                          \
	X(ZONE_SIZE, "KMM_ZONE_SIZE", OPTION_SIZE, 0, 4L << 20, 1L << 50, NULL,                 \
	  "a size in bytes with an optional K, M, G or T suffix, from 4M up (e.g. 512M), "      \
	  "or 0 for the node's memory")                                                         \
	X(HUGETLB, "KMM_HUGETLB", OPTION_CHOICE, HUGETLB_AUTO, 0, 2, "auto,on,off",             \
	  "auto, on or off")                                                                    \
	X(THP, "KMM_THP", OPTION_CHOICE, THP_ON, 0, 1, "on,off", "on or off")                   \
	X(NUMA_FAKE, "KMM_NUMA_FAKE", OPTION_NUMBER, 0, 0, 64, NULL,                            \
	  "a number of fake nodes from 1 to 64, or 0 for the real topology")                    \
	X(MBIND, "KMM_MBIND", OPTION_CHOICE, MBIND_BIND, 0, 2, "bind,preferred,off",            \
	  "bind, preferred or off")                                                             \
	X(DECAY_MS, "KMM_DECAY_MS", OPTION_NUMBER, 1000, 0, 3600000, NULL,                      \
	  "milliseconds from 0 to 3600000")                                                     \
	X(VERBOSE, "KMM_VERBOSE", OPTION_NUMBER, 0, 0, 1, NULL, "0 or 1")                       \
	X(STATS, "KMM_STATS", OPTION_FLAGS, 0, 0, STATS_ALL, STATS_WORDS,                       \
	  "a comma list of buddyinfo, slabinfo, meminfo, vmstat, zoneinfo, swaps, json, "       \
	  "or all")                                                                             \
	X(STATS_FILE, "KMM_STATS_FILE", OPTION_PATH, 0, 0, 0, NULL,                             \
	  "a file name of up to 4095 bytes, where %p stands for the process id")                \
	X(STATS_SIGNAL, "KMM_STATS_SIGNAL", OPTION_SIGNAL, 0, 0, 0, NULL,                       \
	  "a signal name such as USR2 or SIGUSR2 (not KILL, STOP, SEGV, BUS, ILL, FPE, "        \
	  "TRAP or ABRT), RTMIN+n, RTMAX-n, or a signal number")                                \
	X(STATS_INTERVAL, "KMM_STATS_INTERVAL", OPTION_NUMBER, 0, 0, 86400000, NULL,            \
	  "milliseconds from 1 to 86400000, or 0 for no snapshots")                             \
	X(UFFD, "KMM_UFFD", OPTION_CHOICE, UFFD_OFF, 0, 1, "off,on", "off or on")               \
	X(MEM_LIMIT, "KMM_MEM_LIMIT", OPTION_SIZE, 0, 4L << 20, 1L << 50, NULL,                 \
	  "a size in bytes with an optional K, M, G or T suffix, from 4M up (e.g. 256M), "      \
	  "or 0 for no limit")                                                                  \
	X(SWAP_DIR, "KMM_SWAP_DIR", OPTION_PATH, 0, 0, 0, NULL,                                 \
	  "a directory name of up to 4095 bytes")                                               \
	X(SWAP_SIZE, "KMM_SWAP_SIZE", OPTION_SIZE, 64L << 30, 1L << 20, 256L << 30, NULL,       \
	  "a size in bytes with an optional K, M, G or T suffix, from 1M to 256G")              \
	X(ZSWAP, "KMM_ZSWAP", OPTION_CHOICE, ZSWAP_ON, 0, 1, "on,off", "on or off")             \
	X(ZSWAP_MAX_POOL_PERCENT, "KMM_ZSWAP_MAX_POOL_PERCENT", OPTION_NUMBER, 20, 1, 90, NULL, \
	  "a percentage of KMM_MEM_LIMIT from 1 to 90")                                         \
	X(ZSWAP_COMPRESSOR, "KMM_ZSWAP_COMPRESSOR", OPTION_CHOICE, ZSWAP_LZ4, 0, 1, "lz4,zstd", \
	  "lz4 or zstd")

enum kmm_option_id {
#define X(id, ...) OPT_##id,
	KMM_OPTIONS(X)
#undef X
	        NR_KMM_OPTIONS
};

extern long kmm_option_values[NR_KMM_OPTIONS];

static inline long kmm_option(enum kmm_option_id id)
{
	return kmm_option_values[id];
}

/*
 * Reset every option to its default, then apply the KMM_* entries of @envp (NULL: the
 * process environment, ignored in setuid and setgid programs). Bad values and unknown
 * KMM_ variables are reported, one line each. Returns the number of problems reported.
 */
int kmm_options_init(char **envp);

/* The value of an OPTION_PATH option, or NULL when it is not set. */
const char *kmm_option_path(enum kmm_option_id id);

/* Parse one value for option @id; false if it is not an accepted form. */
bool kmm_option_parse(enum kmm_option_id id, const char *text, long *value);

#endif /* KMM_BASE_OPTIONS_H */

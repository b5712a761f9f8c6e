/*
 * Demand faulting with KMM_UFFD=on: kmm's memory is registered with userfaultfd and its
 * handler brings every new page in, zero-filled, with fault-around. Run under
 * LD_PRELOAD=libkmm.so with KMM_UFFD=on, KMM_STATS_SIGNAL=USR2 and
 * KMM_STATS_FILE=uffd_fault_%p.txt (ctest sets them); the program asks for a dump with
 * the signal and reads kmm's counters from it.
 *  - the mappings of a huge block (vmalloc) and of small ones (the zones' frames) carry
 *    the userfaultfd flag (VmFlags "um" in smaps);
 *  - 64 MiB written with a checksummed pattern read back right, in address order and in
 *    a random order, and new memory reads as zeros;
 *  - six threads (more than this machine's cores) fill and check blocks of their own;
 *  - a fork child reads the parent's data and allocates, while the parent goes on;
 *  - the handler resolved faults, more than one page a fault on the sequential walk
 *    (fault-around), and filled at least the pages the program touched;
 *  - the charge is exact: kmm's count of charged pages is the resident size of its
 *    registered mappings (smaps), before and after the huge block is freed and
 *    malloc_trim gives it back, which uncharges it;
 *  - a program that closes every descriptor and opens a pipe gets its own bytes back,
 *    and new memory still works (the kernel serves it once kmm's userfaultfd is gone).
 */
#include "preload_test.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#define MiB       (1024UL * 1024)
#define BIG       (64 * MiB)
#define NTHREADS  6
#define PER_BLOCK (64 << 10)
#define NBLOCKS   64

static uint64_t word_at(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e995;
}

/* Whether the mapping holding @p is registered with userfaultfd ("um" in VmFlags). */
static int registered(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in_range = 0, found = -1;

	CHECK(f != NULL, "open smaps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in_range = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in_range && strncmp(line, "VmFlags:", 8) == 0)
			found = strstr(line, " um") != NULL;
	}
	fclose(f);
	return found;
}

/* The resident kB of the mappings registered with userfaultfd, from smaps. */
static unsigned long registered_rss_kb(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long total = 0, rss = 0, kb;
	char line[512];

	CHECK(f != NULL, "open smaps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %lu kB", &kb) == 1)
			rss = kb;
		else if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " um"))
			total += rss;
	}
	fclose(f);
	return total;
}

static void *thread_fills(void *arg)
{
	uint64_t seed = (uintptr_t)arg;
	uint64_t *blocks[NBLOCKS];

	for (int b = 0; b < NBLOCKS; b++) {
		blocks[b] = malloc(PER_BLOCK);
		CHECK(blocks[b] != NULL, "thread malloc(%d)", PER_BLOCK);
		for (size_t w = 0; w < PER_BLOCK / 8; w++)
			blocks[b][w] = word_at(seed * 1000003 + (uint64_t)b * PER_BLOCK + w);
	}
	for (int b = 0; b < NBLOCKS; b++) {
		for (size_t w = 0; w < PER_BLOCK / 8; w++)
			CHECK(blocks[b][w] == word_at(seed * 1000003 + (uint64_t)b * PER_BLOCK + w),
			      "thread %lu block %d word %zu: expected %#lx, got %#lx",
			      (unsigned long)seed, b, w,
			      (unsigned long)word_at(seed * 1000003 + (uint64_t)b * PER_BLOCK + w),
			      (unsigned long)blocks[b][w]);
		free(blocks[b]);
	}
	return NULL;
}

static unsigned long counter(const char *dump, const char *name)
{
	const char *last = NULL, *p = dump;
	size_t len = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == dump || p[-1] == '\n') && p[len] == ' ')
			last = p;
		p += len;
	}
	CHECK(last != NULL, "no %s line in kmm's dump:\n%s", name, dump);
	return strtoul(last + len + 1, NULL, 10);
}

static char dump[1 << 16];

static void read_dump(void)
{
	char path[64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "uffd_fault_%d.txt", (int)getpid());
	CHECK(raise(SIGUSR2) == 0, "raise: %s", strerror(errno));
	f = fopen(path, "r");
	CHECK(f != NULL, "kmm's dump %s: %s", path, strerror(errno));
	n = fread(dump, 1, sizeof(dump) - 1, f);
	dump[n] = 0;
	fclose(f);
	unlink(path);
}

int main(void)
{
	uint64_t *big, *fresh, rng = 1;
	size_t words = BIG / 8;
	char *small = malloc(100);
	pthread_t threads[NTHREADS];
	unsigned long faults, filled, around, usage, after, rss_kb;
	int status;
	pid_t pid;

	if (!getenv("LD_PRELOAD") || !getenv("KMM_UFFD")) {
		printf("not under LD_PRELOAD with KMM_UFFD=on: nothing to check\n");
		return 0;
	}
	big = malloc(BIG);
	CHECK(big != NULL && small != NULL, "malloc");
	CHECK(registered(big) == 1, "the huge block's mapping is not registered with userfaultfd");
	CHECK(registered(small) == 1, "the zone's frames are not registered with userfaultfd");

	for (size_t w = 0; w < words; w += 512)
		CHECK(big[w] == 0, "new memory at word %zu reads %#lx", w, (unsigned long)big[w]);
	for (size_t w = 0; w < words; w++)
		big[w] = word_at(w);
	for (size_t w = 0; w < words; w++)
		CHECK(big[w] == word_at(w), "sequential: word %zu: expected %#lx, got %#lx", w,
		      (unsigned long)word_at(w), (unsigned long)big[w]);
	for (int i = 0; i < 1000000; i++) {
		size_t w;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		w = (size_t)(rng >> 33) % words;
		CHECK(big[w] == word_at(w), "random: word %zu: expected %#lx, got %#lx", w,
		      (unsigned long)word_at(w), (unsigned long)big[w]);
	}

	for (long t = 0; t < NTHREADS; t++)
		CHECK(pthread_create(&threads[t], NULL, thread_fills, (void *)(t + 1)) == 0,
		      "pthread_create");
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		for (size_t w = 0; w < words; w += 97)
			if (big[w] != word_at(w))
				_exit(3);
		fresh = malloc(8 * MiB);
		if (!fresh)
			_exit(4);
		for (size_t w = 0; w < MiB; w++)
			fresh[w] = w;
		for (size_t w = 0; w < MiB; w++)
			if (fresh[w] != w)
				_exit(5);
		_exit(0);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(threads[t], NULL);
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the fork child: expected exit 0, got status %#x (3: the parent's data was wrong, "
	      "4: malloc failed, 5: its own data was wrong)",
	      status);

	read_dump();
	faults = counter(dump, "pgfault");
	filled = counter(dump, "pgfault_filled_pages");
	around = counter(dump, "pgfault_around");
	printf("uffd: %lu faults filled %lu pages (%lu with fault-around)\n", faults, filled,
	       around);
	CHECK(faults > 0, "expected kmm's handler to resolve faults, got %lu", faults);
	CHECK(filled >= BIG / 4096,
	      "expected at least %lu pages filled (the 64 MiB block), got %lu", BIG / 4096, filled);
	CHECK(filled >= faults * 16,
	      "expected fault-around to fill 16 pages or more a fault on average, got %lu pages "
	      "for %lu faults",
	      filled, faults);

	/*
	 * Reading smaps and the dump allocates (stdio's buffers): once before, so that the
	 * second reading reuses those blocks and the charge is read in the same state.
	 */
	rss_kb = registered_rss_kb();
	read_dump();
	usage = counter(dump, "memcg_usage_pages");
	printf("uffd: %lu pages charged, %lu kB resident in registered mappings\n", usage, rss_kb);
	CHECK(usage * 4 == rss_kb,
	      "expected the charge to be the registered mappings' resident size, %lu kB, got "
	      "%lu pages (%lu kB)",
	      rss_kb, usage, usage * 4);
	free(big);
	malloc_trim(0);
	rss_kb = registered_rss_kb();
	read_dump();
	after = counter(dump, "memcg_usage_pages");
	printf("uffd: after free and malloc_trim: %lu pages charged, %lu kB resident\n", after,
	       rss_kb);
	CHECK(usage >= after + BIG / 4096,
	      "expected freeing the 64 MiB block and malloc_trim to uncharge %lu pages, the "
	      "charge went from %lu to %lu",
	      BIG / 4096, usage, after);
	CHECK(after * 4 == rss_kb,
	      "after malloc_trim: expected the charge to be the resident size, %lu kB, got %lu "
	      "pages",
	      rss_kb, after);
	CHECK(counter(dump, "memcg_max_usage_pages") >= usage,
	      "expected the charge's watermark to be at least %lu pages", usage);
	free(small);

	/* Daemons close every descriptor: the next pipe must not be read by kmm's handler. */
	{
		int fds[2];
		char got[6] = {0};
		uint64_t *later;

		close_range(3, ~0U, 0);
		CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
		CHECK(write(fds[1], "hello", 5) == 5, "write: %s", strerror(errno));
		usleep(100000);
		CHECK(read(fds[0], got, 5) == 5 && strcmp(got, "hello") == 0,
		      "after close_range: expected to read back 'hello' from the pipe, got '%s'",
		      got);
		later = malloc(16 * MiB);
		CHECK(later != NULL, "malloc after close_range");
		for (size_t w = 0; w < 2 * MiB; w += 512)
			CHECK(later[w] == 0, "new memory after close_range reads %#lx",
			      (unsigned long)later[w]);
		for (size_t w = 0; w < 2 * MiB; w++)
			later[w] = word_at(w);
		for (size_t w = 0; w < 2 * MiB; w++)
			CHECK(later[w] == word_at(w), "after close_range: word %zu wrong", w);
		free(later);
	}
	return 0;
}

/*
 * Reclaim under KMM_MEM_LIMIT, one concern per mode (each a ctest of its own):
 *
 *   integrity   a working set 4x the limit, checksummed, read back in order and at
 *               random; peak resident memory within the limit plus slack; the dump's
 *               counters agree with each other
 *   writers     more threads than cores incrementing counters spread over every page
 *               while reclaim moves the pages: not one increment lost
 *   fork        children verify and write while the parent keeps reclaiming
 *   syscalls    write(2) from swapped-out memory and read(2) into it
 *   hot         a small hot set stays resident: no swap-ins for it after warm-up
 *   swapcache   a page read back and not written is dropped without a write; one written
 *               after it came back is written again, and reads back as written
 *   zswap       compressible data 4x the limit: most of it in the compressed tier, the
 *               pool within its share of the limit and written back to the file when
 *               full, every word read back intact
 *   swapfull    a swap too small for the working set: one line, data intact, and the
 *               allocations that need more memory fail with ENOMEM until some is freed
 *   noleftover  no swap file in KMM_SWAP_DIR after exit, _exit or SIGKILL
 *   spawn       posix_spawn, vfork + exec and _Fork + _exit with pages swapped out: the
 *               parent's data intact, the children's exit status as expected
 *
 * Run under LD_PRELOAD=libkmm.so with KMM_MEM_LIMIT, KMM_STATS_SIGNAL=USR2 and
 * KMM_STATS_FILE=reclaim_%p.txt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1UL << 20)

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fprintf(stderr, "\n");                                                   \
			exit(1);                                                                 \
		}                                                                                \
	} while (0)

static unsigned long limit_bytes;

static uint64_t word_at(uint64_t i)
{
	i ^= i >> 33;
	i *= 0xff51afd7ed558ccdULL;
	i ^= i >> 33;
	return i | 1; /* never zero: a zero page where data was is caught */
}

static char dump[1 << 16];

static void read_dump(void)
{
	char path[64];
	size_t n = 0;
	ssize_t got;
	int fd;

	/* No stdio: with the swap full, a FILE's buffer is an allocation that may fail. */
	snprintf(path, sizeof(path), "reclaim_%d.txt", (int)getpid());
	CHECK(raise(SIGUSR2) == 0, "raise: %s", strerror(errno));
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0, "kmm's dump %s: %s", path, strerror(errno));
	while (n < sizeof(dump) - 1 && (got = read(fd, dump + n, sizeof(dump) - 1 - n)) > 0)
		n += (size_t)got;
	dump[n] = 0;
	close(fd);
	unlink(path);
}

/* The last value of the vmstat row or meminfo field @name in the dump. */
static unsigned long counter(const char *name)
{
	const char *last = NULL, *p = dump;
	size_t len = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == dump || p[-1] == '\n') && (p[len] == ' ' || p[len] == ':'))
			last = p;
		p += len;
	}
	CHECK(last != NULL, "no %s line in kmm's dump:\n%s", name, dump);
	last += len + 1;
	while (*last == ' ')
		last++;
	return strtoul(last, NULL, 10);
}

static unsigned long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = 0;

	CHECK(f != NULL, "open status");
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtoul(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return kb;
}

static uint64_t *fill(size_t bytes, uint64_t seed)
{
	uint64_t *p = malloc(bytes);

	CHECK(p != NULL, "malloc(%zu): %s", bytes, strerror(errno));
	for (size_t w = 0; w < bytes / 8; w++)
		p[w] = word_at(seed + w);
	return p;
}

static void verify(const uint64_t *p, size_t bytes, uint64_t seed, const char *what)
{
	for (size_t w = 0; w < bytes / 8; w++)
		CHECK(p[w] == word_at(seed + w), "%s: word %zu: expected %#lx, got %#lx", what, w,
		      (unsigned long)word_at(seed + w), (unsigned long)p[w]);
}

static void verify_random(const uint64_t *p, size_t bytes, uint64_t seed, long reads)
{
	uint64_t rng = 12345;

	for (long i = 0; i < reads; i++) {
		size_t w;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		w = (size_t)(rng >> 20) % (bytes / 8);
		CHECK(p[w] == word_at(seed + w),
		      "random read %ld: word %zu: expected %#lx, got %#lx", i, w,
		      (unsigned long)word_at(seed + w), (unsigned long)p[w]);
	}
}

/* ---- integrity ------------------------------------------------------------------------ */

static int test_integrity(void)
{
	size_t bytes = 4 * limit_bytes;
	uint64_t *p = fill(bytes, 7);
	unsigned long out, in, used_kb, charged, lru_kb, hwm_kb, slack_kb = 24 * 1024;
	unsigned long dev_size_kb, dev_used_kb;
	char type[16], *swaps;
	int prio;

	verify(p, bytes, 7, "sequential pass 1");
	verify_random(p, bytes, 7, (long)(bytes / 4096) * 2);
	verify(p, bytes, 7, "sequential pass 2");
	read_dump();
	out = counter("pswpout");
	in = counter("pswpin");
	used_kb = counter("SwapTotal") - counter("SwapFree");
	charged = counter("memcg_usage_pages");
	lru_kb = counter("Active(anon)") + counter("Inactive(anon)");
	hwm_kb = status_kb("VmHWM:");
	printf("integrity: %zu MiB under a %lu MiB limit: pswpout %lu pswpin %lu, swap used "
	       "%lu kB, charged %lu pages, max %lu, VmHWM %lu kB, pgmajfault %lu\n",
	       bytes / MiB, limit_bytes / MiB, out, in, used_kb, charged,
	       counter("memcg_max_usage_pages"), hwm_kb, counter("pgmajfault"));
	CHECK(out > bytes / 4096 / 2, "expected more than %zu pages swapped out, got %lu",
	      bytes / 4096 / 2, out);
	CHECK(in > out, "expected more pages read back than written, got pswpin %lu, pswpout %lu",
	      in, out);
	/*
	 * The swap cache: a page read back and not written keeps its slot and is dropped
	 * without a write, so four read-only passes write each page about once.
	 */
	CHECK(out < 2 * bytes / 4096,
	      "expected the swap cache to spare the read-only passes' writes: pswpout below %zu, "
	      "got %lu",
	      2 * bytes / 4096, out);
	CHECK(counter("SwapCached") > 0 && counter("SwapCached") <= used_kb &&
	              used_kb <= bytes / 1024,
	      "expected 0 < SwapCached <= swap used <= the working set (%zu kB), got %lu and %lu "
	      "kB",
	      bytes / 1024, counter("SwapCached"), used_kb);
	swaps = strstr(dump, "==> swaps <==\nFilename");
	CHECK(swaps != NULL, "expected a /proc/swaps section in the dump:\n%s", dump);
	swaps = strchr(swaps + 14, '\n') + 1;
	CHECK(sscanf(swaps, "%*s %*s %*s %15s %lu %lu %d", type, &dev_size_kb, &dev_used_kb,
	             &prio) == 4,
	      "expected a device line under /proc/swaps' header, got %.120s", swaps);
	CHECK(!strcmp(type, "file") && dev_used_kb == used_kb && prio == -2,
	      "expected the device as a file with %lu kB used, priority -2, got %s, %lu kB, %d",
	      used_kb, type, dev_used_kb, prio);
	CHECK(lru_kb + counter("Zswap") == charged * 4,
	      "expected Active(anon) + Inactive(anon) + Zswap to be the charge, %lu kB, got %lu kB",
	      charged * 4, lru_kb + counter("Zswap"));
	CHECK(counter("memcg_max_usage_pages") <= limit_bytes / 4096,
	      "expected the charge never above the limit (%lu pages), got a maximum of %lu",
	      limit_bytes / 4096, counter("memcg_max_usage_pages"));
	CHECK(hwm_kb <= limit_bytes / 1024 + slack_kb,
	      "expected peak resident memory within the limit plus %lu kB, %lu kB, got %lu kB",
	      slack_kb, limit_bytes / 1024 + slack_kb, hwm_kb);
	CHECK(counter("pgmajfault") > 0 &&
	              counter("pgsteal_kswapd") + counter("pgsteal_direct") > 0,
	      "expected major faults and pages stolen, got %lu and %lu", counter("pgmajfault"),
	      counter("pgsteal_kswapd") + counter("pgsteal_direct"));
	free(p);
	return 0;
}

/* ---- swapcache -------------------------------------------------------------------------- */

static unsigned long pswpout_now(void)
{
	read_dump();
	return counter("pswpout");
}

static int test_swapcache(void)
{
	size_t bytes = 4 * limit_bytes, pages = bytes / 4096;
	uint64_t *p = fill(bytes, 23);
	unsigned long before, read_only, written;

	verify(p, bytes, 23, "first pass"); /* everything comes back once, clean */
	before = pswpout_now();
	verify(p, bytes, 23, "read-only pass");
	read_only = pswpout_now() - before;
	/* Every other page written after it came back: those must go out again. */
	before = pswpout_now();
	for (size_t pg = 0; pg < pages; pg += 2)
		p[pg * 512 + 7] = ~word_at(23 + pg * 512 + 7);
	for (int pass = 0; pass < 2; pass++)
		for (size_t w = 0; w < bytes / 8; w++) {
			uint64_t want = word_at(23 + w);

			if (w % 512 == 7 && (w / 512) % 2 == 0)
				want = ~want;
			CHECK(p[w] == want,
			      "pass %d after the writes: word %zu: expected %#lx, got %#lx", pass,
			      w, (unsigned long)want, (unsigned long)p[w]);
		}
	written = pswpout_now() - before;
	printf("swapcache: %zu pages under a %lu MiB limit: a read-only pass wrote %lu pages, "
	       "the passes after writing half of them %lu; SwapCached %lu kB\n",
	       pages, limit_bytes / MiB, read_only, written, counter("SwapCached"));
	CHECK(read_only < pages / 20,
	      "expected a read-only pass to write almost nothing (< %zu pages), got %lu",
	      pages / 20, read_only);
	CHECK(written > pages / 4,
	      "expected the written half to be written again (> %zu pages), got %lu", pages / 4,
	      written);
	free(p);
	return 0;
}

/* ---- zswap ------------------------------------------------------------------------------ */

/* Each word four times over: about 4:1 for LZ4 and zstd, never a zero page. */
static uint64_t compressible_word(uint64_t seed, size_t w)
{
	return word_at(seed + w / 4);
}

static int test_zswap(void)
{
	size_t bytes = 4 * limit_bytes, words = bytes / 8;
	uint64_t *p = malloc(bytes);
	unsigned long pool_kb, max_pool_kb = limit_bytes / 1024 / 5, stored_kb, charged, lru_kb;
	uint64_t rng = 99;

	CHECK(p != NULL, "malloc(%zu): %s", bytes, strerror(errno));
	for (size_t w = 0; w < words; w++)
		p[w] = compressible_word(5, w);
	for (int pass = 0; pass < 2; pass++)
		for (size_t w = 0; w < words; w++)
			CHECK(p[w] == compressible_word(5, w),
			      "pass %d: word %zu: expected %#lx, got %#lx", pass, w,
			      (unsigned long)compressible_word(5, w), (unsigned long)p[w]);
	for (size_t i = 0; i < bytes / 4096; i++) {
		size_t w;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		w = (size_t)(rng >> 20) % words;
		CHECK(p[w] == compressible_word(5, w),
		      "random read %zu: word %zu: expected %#lx, got %#lx", i, w,
		      (unsigned long)compressible_word(5, w), (unsigned long)p[w]);
	}
	read_dump();
	pool_kb = counter("Zswap");
	stored_kb = counter("Zswapped");
	charged = counter("memcg_usage_pages");
	lru_kb = counter("Active(anon)") + counter("Inactive(anon)");
	printf("zswap: %zu MiB under a %lu MiB limit: zswpout %lu zswpin %lu zswpwb %lu pswpout "
	       "%lu pswpin %lu; pool %lu kB holding %lu kB, charged %lu pages, max %lu\n",
	       bytes / MiB, limit_bytes / MiB, counter("zswpout"), counter("zswpin"),
	       counter("zswpwb"), counter("pswpout"), counter("pswpin"), pool_kb, stored_kb,
	       charged, counter("memcg_max_usage_pages"));
	CHECK(counter("zswpout") > bytes / 4096 / 2 && counter("zswpin") > 0,
	      "expected most evictions to go to the compressed tier (> %zu) and some back, got "
	      "zswpout %lu, zswpin %lu",
	      bytes / 4096 / 2, counter("zswpout"), counter("zswpin"));
	CHECK(stored_kb > 2 * pool_kb && pool_kb > 0,
	      "expected the pool to hold more than twice its size, got %lu kB in %lu kB", stored_kb,
	      pool_kb);
	CHECK(pool_kb <= max_pool_kb,
	      "expected the pool within KMM_ZSWAP_MAX_POOL_PERCENT=20 of the limit, %lu kB, got "
	      "%lu kB",
	      max_pool_kb, pool_kb);
	/* 4x the limit at 4:1 does not fit in a fifth of it: the oldest go on to the file. */
	CHECK(counter("zswpwb") > 0 && counter("pswpout") >= counter("zswpwb"),
	      "expected the full pool written back to the file, got zswpwb %lu, pswpout %lu",
	      counter("zswpwb"), counter("pswpout"));
	CHECK(lru_kb + pool_kb == charged * 4,
	      "expected Active(anon) + Inactive(anon) + Zswap to be the charge, %lu kB, got %lu kB",
	      charged * 4, lru_kb + pool_kb);
	CHECK(counter("memcg_max_usage_pages") <= limit_bytes / 4096,
	      "expected the charge, pool included, never above the limit (%lu pages), got %lu",
	      limit_bytes / 4096, counter("memcg_max_usage_pages"));
	free(p);
	return 0;
}

/* ---- writers ---------------------------------------------------------------------------- */

#define WRITERS 6
#define ROUNDS  6

static uint64_t *shared;
static size_t shared_pages;

static void *writer(void *arg)
{
	long t = (long)arg;

	for (int r = 0; r < ROUNDS; r++)
		for (size_t pg = 0; pg < shared_pages; pg++)
			shared[pg * 512 + (size_t)t * 8]++; /* a word of its own on every page */
	return NULL;
}

static int test_writers(void)
{
	pthread_t threads[WRITERS];
	size_t bytes = 3 * limit_bytes;

	shared = calloc(1, bytes);
	CHECK(shared != NULL, "calloc(%zu)", bytes);
	shared_pages = bytes / 4096;
	for (long t = 0; t < WRITERS; t++)
		CHECK(pthread_create(&threads[t], NULL, writer, (void *)t) == 0, "pthread_create");
	for (int t = 0; t < WRITERS; t++)
		pthread_join(threads[t], NULL);
	for (size_t pg = 0; pg < shared_pages; pg++)
		for (long t = 0; t < WRITERS; t++)
			CHECK(shared[pg * 512 + (size_t)t * 8] == ROUNDS,
			      "page %zu, thread %ld: expected %d increments, got %lu", pg, t,
			      ROUNDS, (unsigned long)shared[pg * 512 + (size_t)t * 8]);
	read_dump();
	printf("writers: %d threads x %d rounds over %zu pages: every increment there; pswpout "
	       "%lu, pgdeactivate %lu\n",
	       WRITERS, ROUNDS, shared_pages, counter("pswpout") + counter("zswpout"),
	       counter("pgdeactivate"));
	/* Pages of counters compress well: most go to the compressed tier. */
	CHECK(counter("pswpout") + counter("zswpout") > shared_pages,
	      "expected reclaim during the run, got pswpout + zswpout %lu",
	      counter("pswpout") + counter("zswpout"));
	return 0;
}

/* ---- fork ----------------------------------------------------------------------------- */

static int test_fork(void)
{
	size_t bytes = 3 * limit_bytes, half = bytes / 2;
	uint64_t *p = fill(bytes, 11);
	pid_t pids[2];

	verify(p, bytes, 11, "before fork");
	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		CHECK(pids[c] >= 0, "fork: %s", strerror(errno));
		if (pids[c] == 0) {
			uint64_t *own;

			verify(p, bytes, 11, "child, the parent's data");
			/* Its own writes over half of it, and memory of its own. */
			for (size_t w = 0; w < half / 8; w++)
				p[w] = word_at(1000 + (uint64_t)c + w);
			own = fill(limit_bytes, 99);
			verify(p, half, 1000 + (uint64_t)c, "child, its own writes");
			verify(p + half / 8, bytes - half, 11 + half / 8, "child, the rest");
			verify(own, limit_bytes, 99, "child, its own block");
			_exit(0);
		}
	}
	/* The parent rewrites the other half meanwhile, and reads everything back. */
	for (size_t w = half / 8; w < bytes / 8; w++)
		p[w] = word_at(5000 + w);
	verify(p, half, 11, "parent, the half it kept");
	verify(p + half / 8, bytes - half, 5000 + half / 8, "parent, the half it rewrote");
	for (int c = 0; c < 2; c++) {
		int status;

		CHECK(waitpid(pids[c], &status, 0) == pids[c], "waitpid");
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child %d: expected exit 0, got status %#x", c, status);
	}
	verify(p, half, 11, "parent after the children, the half it kept");
	verify(p + half / 8, bytes - half, 5000 + half / 8, "parent after the children");
	return 0;
}

/* ---- syscalls ---------------------------------------------------------------------------- */

static int test_syscalls(void)
{
	size_t bytes = 4 * limit_bytes, chunk = 256 * 1024;
	uint64_t *src = fill(bytes, 21), *dst = malloc(bytes);
	FILE *tmp = tmpfile();
	int fd = fileno(tmp);

	CHECK(dst != NULL && tmp != NULL, "malloc or tmpfile");
	memset(dst, 0, bytes);
	/* src was written first: most of it is swapped out now. write(2) reads it. */
	for (size_t off = 0; off < bytes; off += chunk)
		CHECK(write(fd, (char *)src + off, chunk) == (ssize_t)chunk, "write: %s",
		      strerror(errno));
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
	free(src);
	/* dst is swapped out too after the writes; read(2) writes into it. */
	for (size_t off = 0; off < bytes; off += chunk)
		CHECK(read(fd, (char *)dst + off, chunk) == (ssize_t)chunk, "read: %s",
		      strerror(errno));
	verify(dst, bytes, 21, "read(2) into swapped-out memory");
	fclose(tmp);
	free(dst);
	printf("syscalls: %zu MiB through write(2) and read(2) on swapped-out buffers\n",
	       bytes / MiB);
	return 0;
}

/* ---- hot -------------------------------------------------------------------------------- */

static int test_hot(void)
{
	size_t hot_bytes = limit_bytes / 8, cold_bytes = 4 * limit_bytes;
	uint64_t *hot = fill(hot_bytes, 31), *cold = fill(cold_bytes, 41);
	unsigned long before, after;
	volatile uint64_t sum = 0;

	for (int round = 0; round < 3; round++) { /* warm-up: the hot set proves itself */
		for (size_t w = 0; w < hot_bytes / 8; w += 64)
			sum += hot[w];
		for (size_t w = 0; w < cold_bytes / 8; w += 512)
			sum += cold[w];
	}
	for (size_t w = 0; w < hot_bytes / 8; w += 64)
		sum += hot[w];
	read_dump();
	before = counter("pgmajfault");
	for (int round = 0; round < 50; round++)
		for (size_t w = 0; w < hot_bytes / 8; w += 64)
			sum += hot[w];
	read_dump();
	after = counter("pgmajfault");
	printf("hot: %zu MiB hot beside %zu MiB cold: %lu major faults in 50 passes over the "
	       "hot set\n",
	       hot_bytes / MiB, cold_bytes / MiB, after - before);
	CHECK(after == before, "expected no major faults on the hot set after warm-up, got %lu",
	      after - before);
	verify(hot, hot_bytes, 31, "hot");
	verify(cold, cold_bytes, 41, "cold");
	return 0;
}

/* ---- swapfull ---------------------------------------------------------------------------- */

#define BLOCK      (1UL << 20)
#define MAX_BLOCKS 1024

static int test_swapfull(void)
{
	size_t bytes = 3 * limit_bytes, nr = 0, again = 0;
	uint64_t *p = fill(bytes, 51);
	static uint64_t *blocks[MAX_BLOCKS];
	int err = 0;

	verify(p, bytes, 51, "with the swap full");
	read_dump();
	printf("swapfull: failcnt %lu, SwapFree %lu kB\n", counter("memcg_failcnt"),
	       counter("SwapFree"));
	CHECK(counter("memcg_failcnt") > 0, "expected the limit's failcnt to count, got 0");
	/* More memory, a block at a time: refused, not served past the limit for ever. */
	while (nr < MAX_BLOCKS) {
		errno = 0;
		blocks[nr] = malloc(BLOCK);
		if (!blocks[nr]) {
			err = errno;
			break;
		}
		for (size_t w = 0; w < BLOCK / 8; w++)
			blocks[nr][w] = word_at(1000 * nr + w);
		nr++;
	}
	printf("swapfull: %zu more blocks of 1 MiB, then %s\n", nr, strerror(err));
	CHECK(nr < MAX_BLOCKS && err == ENOMEM,
	      "expected malloc to fail with ENOMEM before %d MiB more, got %zu MiB and errno %d",
	      MAX_BLOCKS, nr, err);
	verify(p, bytes, 51, "after the refused allocation");
	for (size_t i = 0; i < nr; i++)
		for (size_t w = 0; w < BLOCK / 8; w++)
			CHECK(blocks[i][w] == word_at(1000 * i + w),
			      "block %zu word %zu: expected %#lx, got %#lx", i, w,
			      (unsigned long)word_at(1000 * i + w), (unsigned long)blocks[i][w]);
	/* Memory freed makes room: allocations succeed again. */
	free(p);
	for (; again < 4; again++) {
		void *q = malloc(BLOCK);

		CHECK(q != NULL,
		      "expected malloc to succeed after 3x the limit was freed, got NULL "
		      "(errno %d) for block %zu",
		      errno, again);
		memset(q, 1, BLOCK);
		free(q);
	}
	return 0;
}

/* ---- noleftover ---------------------------------------------------------------------------- */

static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	CHECK(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' || (e->d_name[1] && e->d_name[1] != '.'))
			n++;
	closedir(d);
	return n;
}

static int test_noleftover(void)
{
	const char *dir = getenv("KMM_SWAP_DIR");

	CHECK(dir != NULL, "KMM_SWAP_DIR not set");
	for (int how = 0; how < 3; how++) {
		int pipefd[2], status;
		pid_t pid;
		char c;

		CHECK(pipe(pipefd) == 0, "pipe");
		pid = fork();
		CHECK(pid >= 0, "fork");
		if (pid == 0) {
			uint64_t *p = fill(3 * limit_bytes, 61);

			verify(p, 3 * limit_bytes, 61, "child");
			CHECK(write(pipefd[1], "x", 1) == 1, "write");
			if (how == 0)
				exit(0);
			if (how == 1)
				_exit(0);
			pause(); /* SIGKILLed */
		}
		CHECK(read(pipefd[0], &c, 1) == 1, "the child did not get as far as swapping");
		if (how == 2)
			kill(pid, SIGKILL);
		CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
		CHECK(files_in(dir) == 0, "expected no file left in %s after %s, found %d", dir,
		      how == 0   ? "exit"
		      : how == 1 ? "_exit"
		                 : "SIGKILL",
		      files_in(dir));
		close(pipefd[0]);
		close(pipefd[1]);
	}
	printf("noleftover: nothing in %s after exit, _exit and SIGKILL\n", dir);
	return 0;
}

/* ---- spawn ------------------------------------------------------------------------------- */

extern char **environ;
pid_t _Fork(void);

static void expect_exit(pid_t pid, int code, const char *how)
{
	int status;

	CHECK(pid > 0, "%s: %s", how, strerror(errno));
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid after %s", how);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == code,
	      "%s: expected exit %d, got status %#x", how, code, status);
}

static int test_spawn(void)
{
	size_t bytes = 3 * limit_bytes;
	uint64_t *p = fill(bytes, 71);
	char *argv_true[] = {"/bin/sh", "-c", "exit 7", NULL};
	pid_t pid;

	verify(p, bytes, 71, "before");
	CHECK(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv_true, environ) == 0, "posix_spawn");
	expect_exit(pid, 7, "posix_spawn");
	verify(p, bytes, 71, "after posix_spawn");
	pid = vfork();
	if (pid == 0) {
		execve("/bin/sh", argv_true, environ);
		_exit(127);
	}
	expect_exit(pid, 7, "vfork + execve");
	verify(p, bytes, 71, "after vfork");
	/* A _Fork child runs no fork handlers: it may only exec or _exit. */
	pid = _Fork();
	if (pid == 0)
		_exit(5);
	expect_exit(pid, 5, "_Fork + _exit");
	verify(p, bytes, 71, "after _Fork");
	printf("spawn: posix_spawn, vfork and _Fork with %zu MiB mostly swapped out\n",
	       bytes / MiB);
	return 0;
}

int main(int argc, char **argv)
{
	const char *limit = getenv("KMM_MEM_LIMIT");

	if (!getenv("LD_PRELOAD") || !limit) {
		printf("not under LD_PRELOAD with KMM_MEM_LIMIT: nothing to check\n");
		return 0;
	}
	limit_bytes = strtoul(limit, NULL, 10) * MiB; /* the tests give it in M */
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "integrity"))
		return test_integrity();
	if (!strcmp(argv[1], "writers"))
		return test_writers();
	if (!strcmp(argv[1], "fork"))
		return test_fork();
	if (!strcmp(argv[1], "syscalls"))
		return test_syscalls();
	if (!strcmp(argv[1], "hot"))
		return test_hot();
	if (!strcmp(argv[1], "swapcache"))
		return test_swapcache();
	if (!strcmp(argv[1], "zswap"))
		return test_zswap();
	if (!strcmp(argv[1], "swapfull"))
		return test_swapfull();
	if (!strcmp(argv[1], "noleftover"))
		return test_noleftover();
	if (!strcmp(argv[1], "spawn"))
		return test_spawn();
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}

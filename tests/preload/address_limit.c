/*
 * Programs under an address-space limit (RLIMIT_AS, ulimit -v) get nearly all of it,
 * as under the C library's malloc: measured for kmm and for glibc in the same run.
 *
 * For limits of 256 MiB and 1 GiB set before the program starts, a child measures
 *  - the largest single malloc that succeeds,
 *  - the total it gets in chunks of 4 KiB to 1 MiB,
 *  - the total in chunks again after it took and freed as many 16 MiB blocks as it could
 *    (memory freed in one size must serve another),
 * kmm's largest malloc and its total in chunks must reach 90 % of glibc's, and after the
 * 16 MiB blocks are freed it must get 95 % of its own first total in chunks again. A
 * program that lowers its limit after start-up to 512 MiB (a trivial program uses a few)
 * must still create threads, mmap and allocate, and one that lowers it to 256 MiB above
 * what it has mapped must get 90 % of glibc's total in chunks under the same headroom.
 * Run under LD_PRELOAD=libkmm.so; the glibc figures come from the same program started
 * without it.
 */
#include "preload_test.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define MiB        (1024UL * 1024)
#define MAX_CHUNKS (1 << 19)

static void *chunks[MAX_CHUNKS];

static size_t largest_malloc(void)
{
	size_t lo = 0, hi = 4096 * MiB;

	while (hi - lo > MiB) {
		size_t mid = lo + (hi - lo) / 2;
		void *p = malloc(mid);

		if (p)
			lo = mid;
		else
			hi = mid;
		free(p);
	}
	return lo;
}

/* Chunks of 4 KiB to 1 MiB until malloc fails; they are freed again. */
static size_t total_in_chunks(unsigned int seed)
{
	size_t total = 0;
	int n = 0;

	while (n < MAX_CHUNKS) {
		size_t size = 4096 + (size_t)rand_r(&seed) % (MiB - 4096 + 1);

		chunks[n] = malloc(size);
		if (!chunks[n])
			break;
		memset(chunks[n], 1, 64);
		total += size;
		n++;
	}
	while (n > 0)
		free(chunks[--n]);
	return total;
}

static size_t big_blocks_then_chunks(void)
{
	int n = 0;

	while (n < MAX_CHUNKS && (chunks[n] = malloc(16 * MiB)) != NULL)
		memset(chunks[n++], 1, 4096);
	while (n > 0)
		free(chunks[--n]);
	return total_in_chunks(7);
}

/* The child, started under the limit: prints its three figures. */
static int measure(void)
{
	size_t largest = largest_malloc();
	size_t total = total_in_chunks(1);
	size_t after = big_blocks_then_chunks();
	void *c = calloc(1, 64 * MiB);

	printf("%zu %zu %zu %d\n", largest, total, after, c != NULL);
	return 0;
}

/*
 * The child, started without a limit: once it has allocated, it lowers the limit to
 * @headroom above its VmSize and prints its total in chunks.
 */
static int measure_lowered(size_t headroom)
{
	void *warm = malloc(64 << 10);
	struct rlimit rl;

	free(warm);
	rl.rlim_cur = rl.rlim_max = (size_t)proc_status_kb("VmSize:") * 1024 + headroom;
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return 1;
	printf("%zu\n", total_in_chunks(3));
	return 0;
}

struct figures {
	size_t largest, total, after;
	int calloc_ok;
};

/*
 * Run this program in @mode ("measure" under @limit; "lowered", which lowers its own
 * limit to @limit above its size) with kmm when @preload, else glibc; its output in @out.
 */
static void run_mode(const char *mode, size_t limit, const char *preload, char *out, size_t len)
{
	char arg[32];
	int pipefd[2], status;
	pid_t pid;

	snprintf(arg, sizeof(arg), "%zu", limit);
	CHECK(pipe(pipefd) == 0, "pipe: %s", strerror(errno));
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit rl = {limit, limit};

		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		if (strcmp(mode, "measure") == 0)
			setrlimit(RLIMIT_AS, &rl);
		execl("/proc/self/exe", "address_limit", mode, arg, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	status = collect_child(pipefd[0], pid, out, len);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "%s with a %zu MiB limit (%s): status %#x, output: %s", mode, limit / MiB,
	      preload ? "kmm" : "glibc", status, out);
}

static struct figures run_measure(size_t limit, const char *preload)
{
	struct figures f = {0};
	char out[4096];

	run_mode("measure", limit, preload, out, sizeof(out));
	CHECK(sscanf(out, "%zu %zu %zu %d", &f.largest, &f.total, &f.after, &f.calloc_ok) == 4,
	      "measuring under a %zu MiB limit (%s): output: %s", limit / MiB,
	      preload ? "kmm" : "glibc", out);
	return f;
}

static void check_ratio(const char *what, size_t limit, size_t kmm, size_t glibc)
{
	CHECK(kmm * 10 >= glibc * 9,
	      "under ulimit -v %zu MiB, %s: expected kmm to reach 90%% of glibc's %zu MiB, got "
	      "%zu MiB",
	      limit / MiB, what, glibc / MiB, kmm / MiB);
}

static void compare_at(size_t limit, const char *kmm_path)
{
	struct figures g = run_measure(limit, NULL), k = run_measure(limit, kmm_path);

	printf("ulimit -v %4zu MiB: largest malloc glibc %4zu kmm %4zu MiB; 4 KiB-1 MiB chunks "
	       "glibc %4zu kmm %4zu MiB; after 16 MiB blocks glibc %4zu kmm %4zu MiB\n",
	       limit / MiB, g.largest / MiB, k.largest / MiB, g.total / MiB, k.total / MiB,
	       g.after / MiB, k.after / MiB);
	check_ratio("the largest malloc", limit, k.largest, g.largest);
	check_ratio("the total in 4 KiB-1 MiB chunks", limit, k.total, g.total);
	CHECK(k.after * 100 >= k.total * 95,
	      "under ulimit -v %zu MiB: after 16 MiB blocks were freed, expected kmm to get 95%% "
	      "of its first %zu MiB in chunks again, got %zu MiB",
	      limit / MiB, k.total / MiB, k.after / MiB);
	CHECK(k.calloc_ok == g.calloc_ok,
	      "under ulimit -v %zu MiB: calloc(64 MiB) %s under "
	      "glibc, %s under kmm",
	      limit / MiB, g.calloc_ok ? "succeeds" : "fails", k.calloc_ok ? "succeeds" : "fails");
}

static void *thread_allocates(void *arg)
{
	void *p = malloc(1 * MiB);

	(void)arg;
	if (p)
		memset(p, 1, MiB);
	return p;
}

/* Totals in chunks once the limit is lowered to @headroom above what is mapped. */
static void compare_lowered(size_t headroom, const char *kmm_path)
{
	size_t g = 0, k = 0;
	char out[4096];

	run_mode("lowered", headroom, NULL, out, sizeof(out));
	CHECK(sscanf(out, "%zu", &g) == 1, "lowered (glibc): output: %s", out);
	run_mode("lowered", headroom, kmm_path, out, sizeof(out));
	CHECK(sscanf(out, "%zu", &k) == 1, "lowered (kmm): output: %s", out);
	printf("RLIMIT_AS lowered to %zu MiB above VmSize: 4 KiB-1 MiB chunks glibc %4zu kmm "
	       "%4zu MiB\n",
	       headroom / MiB, g / MiB, k / MiB);
	CHECK(k * 10 >= g * 9,
	      "with RLIMIT_AS lowered to %zu MiB above VmSize after start-up: expected kmm's "
	      "total in chunks to reach 90%% of glibc's %zu MiB, got %zu MiB",
	      headroom / MiB, g / MiB, k / MiB);
}

/* The limit lowered after start-up to 512 MiB, as test harnesses and daemons do. */
static void lowered_after_start(void *arg)
{
	void *warm = malloc(10 * MiB), *big, *m, *result = NULL;
	long vm_kb = proc_status_kb("VmSize:");
	struct rlimit rl;
	pthread_t t;

	(void)arg;
	free(warm);
	rl.rlim_cur = rl.rlim_max = 512 * MiB;
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit: %s", strerror(errno));
	CHECK(pthread_create(&t, NULL, thread_allocates, NULL) == 0,
	      "with VmSize at %ld kB and the limit lowered to 512 MiB: pthread_create failed",
	      vm_kb);
	pthread_join(t, &result);
	CHECK(result != NULL, "the new thread's malloc(1 MiB) failed");
	free(result);
	m = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED, "with the limit lowered: mmap(16 MiB): %s", strerror(errno));
	munmap(m, 16 * MiB);
	big = malloc(24 * MiB);
	CHECK(big != NULL, "with the limit lowered: malloc(24 MiB) failed");
	memset(big, 1, 24 * MiB);
	free(big);
}

int main(int argc, char **argv)
{
	const char *kmm_path = getenv("LD_PRELOAD");
	char out[4096];
	int status;

	if (argc > 1 && strcmp(argv[1], "measure") == 0)
		return measure();
	if (argc > 2 && strcmp(argv[1], "lowered") == 0)
		return measure_lowered(strtoul(argv[2], NULL, 10));
	status = run_in_child(lowered_after_start, NULL, out, sizeof(out));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "RLIMIT_AS lowered after start-up: status %#x, output:\n%s", status, out);
	printf("RLIMIT_AS lowered after start-up: threads, mmap and malloc still work\n");
	if (!kmm_path || !*kmm_path) {
		printf("not under LD_PRELOAD: nothing to compare with glibc\n");
		return 0;
	}
	compare_at(256 * MiB, kmm_path);
	compare_at(1024 * MiB, kmm_path);
	compare_lowered(256 * MiB, kmm_path);
	return 0;
}

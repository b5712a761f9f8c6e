/*
 * Programs under an address-space limit (RLIMIT_AS, ulimit -v) get nearly all of it,
 * as under the C library's malloc: measured for kmm and for glibc in the same run.
 *
 * For limits of 256 MiB and 1 GiB set before the program starts, a child measures
 *  - the largest single malloc that succeeds,
 *  - the total it gets in chunks of 4 KiB to 1 MiB,
 *  - the total in chunks again after it took and freed as many 16 MiB blocks as it could
 *    (memory freed in one size must serve another),
 * kmm's largest malloc must reach 90 % of glibc's, and after the 16 MiB blocks are
 * freed it must get 95 % of its own first total in chunks again. Its first total in
 * chunks is printed beside glibc's: buddy blocks round a chunk up to a power of two, so
 * it stays short of glibc's (docs/page-allocator.md). Then a program that lowers its
 * limit after start-up to 512 MiB (a trivial program uses a few) must still create
 * threads, mmap and allocate. Run under LD_PRELOAD=libkmm.so; the glibc figures come from the same
 * program started without it.
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

struct figures {
	size_t largest, total, after;
	int calloc_ok;
};

/* Run this program's "measure" under @limit, with kmm when @preload, else glibc. */
static struct figures run_measure(size_t limit, const char *preload)
{
	struct figures f = {0};
	char out[4096];
	int pipefd[2], status;
	pid_t pid;

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
		setrlimit(RLIMIT_AS, &rl);
		execl("/proc/self/exe", "address_limit", "measure", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	status = collect_child(pipefd[0], pid, out, sizeof(out));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	              sscanf(out, "%zu %zu %zu %d", &f.largest, &f.total, &f.after, &f.calloc_ok) ==
	                      4,
	      "measuring under a %zu MiB limit (%s): status %#x, output: %s", limit / MiB,
	      preload ? "kmm" : "glibc", status, out);
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
	return 0;
}

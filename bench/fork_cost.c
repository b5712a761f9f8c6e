/*
 * What fork() costs with the allocator in place. An allocator adds to fork through its
 * pthread_atfork handlers (prepare in the parent, parent and child afterwards: each
 * lock word they write after fork is a page copied on write), through the address
 * space it leaves behind (mappings and page tables to copy, then to tear down at the
 * child's exit) and through the child's first allocations, which write to memory the
 * child still shares with its parent and so fault page by page. A program that forks a
 * lot (shells, servers with worker processes, test harnesses) pays all of it each time.
 *
 * Six configurations, each in a fresh process (the program runs itself again with the
 * configuration as arguments):
 *  - heap "tiny": 100 blocks of 16 to 512 bytes, what a small tool has;
 *  - heap "small": about 4 MiB of small blocks of 16 to 512 bytes, every third one freed
 *    again, and two large blocks of 1 and 4 MiB, all written;
 *  - heap "big": the same plus 64 blocks of 4 MiB (256 MiB), a byte written per 4 KiB;
 *  - "1t": the process has one thread; "2t": a second thread, which allocated blocks
 *    of several sizes once, is alive and blocked in read(2) while fork runs, so glibc
 *    and the allocators take their locks around fork.
 * Each runs two tests of ITERATIONS forks (after 10 warm-up ones):
 *  - "exit": the child calls _exit(0) at once; the parent waits for it;
 *  - "alloc": the child mallocs 1000 blocks of 16 to 1024 bytes, writes up to 64 bytes
 *    of each, frees them, then mallocs 64 KiB, 256 KiB and 1 MiB, writes a byte per
 *    4 KiB of each and frees it, and calls _exit(0).
 * Per fork, on CLOCK_MONOTONIC: from before fork() to waitpid's return ("total"), fork()
 * as the parent sees it, prepare and parent handlers included ("fork"), from before
 * fork() to fork's return in the child, child handlers included ("child_start": the
 * child stores its clock in a shared page, which costs it one minor fault), and in the
 * alloc test the child's small blocks ("small") and all its allocations ("work"). The
 * child's minor faults ("minflt") come from wait4's rusage.
 *
 * Prints "name value" lines, <heap>_<threads>_<test>_<what> followed by the median over
 * the iterations (microseconds; faults for minflt), and per configuration the number of
 * mappings (<heap>_<threads>_vmas, lines of /proc/self/maps) and the page table size
 * (<heap>_<threads>_vmpte_kb, VmPTE of /proc/self/status) when the forks start.
 * Arguments: iterations per test (default 400), then optionally one configuration,
 * "tiny|small|big 1|2". Does not link kmm: run it plain (glibc) and under LD_PRELOAD,
 * interleaved, and take medians over several runs, e.g. from the build directory:
 *
 *   libs="glibc $PWD/libkmm.so /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
 *         /usr/lib/x86_64-linux-gnu/libmimalloc.so.2
 *         /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
 *   for rep in 1 2 3 4 5; do
 *     for lib in $libs; do
 *       if [ $lib = glibc ]; then env -u LD_PRELOAD bench/fork_cost
 *       else env LD_PRELOAD=$lib bench/fork_cost; fi | sed "s|^|$(basename $lib) |"
 *     done
 *   done >fork-cost.txt
 *   sort -k1,2 -k3g fork-cost.txt | awk '{k = $1 " " $2; v[k, ++n[k]] = $3}
 *       END {for (k in n) print k, v[k, int((n[k] + 1) / 2)]}' | sort
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP       10
#define SMALL_BLOCKS 16000
#define BIG_BLOCKS   64
#define BIG_BLOCK    (4UL << 20)
#define CHILD_BLOCKS 1000
#define PAGE         4096

static const size_t child_large[] = {64 << 10, 256 << 10, 1 << 20};

/* Written by the child, read by the parent once the child is reaped. */
struct shared {
	double child_start_ns;
	double small_ns; /* the 1000 small blocks */
	double work_ns;  /* small and large */
};

static struct shared *shared;
static int block_fd[2] = {-1, -1};

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", size);
		exit(1);
	}
	return p;
}

static void touch_pages(char *p, size_t size)
{
	for (size_t i = 0; i < size; i += PAGE)
		p[i] = (char)i;
	p[size - 1] = 1;
}

/* The parent's heap; the blocks stay live (leaked) until the process exits. */
static void build_heap(const char *heap)
{
	static void *small[SMALL_BLOCKS];
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	int big = strcmp(heap, "big") == 0;

	if (strcmp(heap, "tiny") == 0) {
		for (int i = 0; i < 100; i++) {
			size_t size = 16 + next_random(&rng) % (512 - 16 + 1);

			memset(xmalloc(size), i, size);
		}
		return;
	}
	for (int i = 0; i < SMALL_BLOCKS; i++) {
		size_t size = 16 + next_random(&rng) % (512 - 16 + 1);

		small[i] = xmalloc(size);
		memset(small[i], i, size);
	}
	for (int i = 0; i < SMALL_BLOCKS; i += 3)
		free(small[i]);
	memset(xmalloc(1 << 20), 1, 1 << 20);
	memset(xmalloc(4 << 20), 1, 4 << 20);
	for (int i = 0; big && i < BIG_BLOCKS; i++)
		touch_pages(xmalloc(BIG_BLOCK), BIG_BLOCK);
}

/* The second thread: holds blocks of several size classes, then waits. */
static void *idle_thread(void *arg)
{
	void *held[64];
	char c;

	for (int i = 0; i < 64; i++) {
		held[i] = xmalloc(16 + (size_t)i * 48);
		memset(held[i], 0, 16);
	}
	for (int i = 0; i < 64; i += 2)
		free(held[i]);
	pthread_barrier_wait(arg);
	while (read(block_fd[0], &c, 1) < 0 && errno == EINTR)
		;
	for (int i = 1; i < 64; i += 2)
		free(held[i]);
	return NULL;
}

static void child_work(double start_ns)
{
	static void *blocks[CHILD_BLOCKS];
	uint64_t rng = 12345;

	for (int i = 0; i < CHILD_BLOCKS; i++) {
		size_t size = 16 + next_random(&rng) % (1024 - 16 + 1);

		blocks[i] = malloc(size);
		if (!blocks[i])
			_exit(2);
		memset(blocks[i], i, size < 64 ? size : 64);
	}
	for (int i = 0; i < CHILD_BLOCKS; i++)
		free(blocks[i]);
	shared->small_ns = now_ns() - start_ns;
	for (size_t i = 0; i < sizeof(child_large) / sizeof(child_large[0]); i++) {
		char *p = malloc(child_large[i]);

		if (!p)
			_exit(2);
		touch_pages(p, child_large[i]);
		free(p);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Samples of one test, microseconds (faults for minflt). */
struct samples {
	double *total, *fork, *child_start, *small, *work, *minflt;
};

static void one_fork(int alloc, struct samples *s, int i)
{
	struct rusage ru;
	double t0, t1, t2;
	int status;
	pid_t pid;

	shared->child_start_ns = 0;
	shared->small_ns = 0;
	shared->work_ns = 0;
	t0 = now_ns();
	pid = fork();
	if (pid == 0) {
		double c0 = now_ns();

		shared->child_start_ns = c0;
		if (alloc) {
			child_work(c0);
			shared->work_ns = now_ns() - c0;
		}
		_exit(0);
	}
	t1 = now_ns();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("wait4");
			exit(1);
		}
	t2 = now_ns();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child failed (status %#x)\n", status);
		exit(1);
	}
	if (i < 0)
		return;
	s->total[i] = (t2 - t0) / 1e3;
	s->fork[i] = (t1 - t0) / 1e3;
	s->child_start[i] = (shared->child_start_ns - t0) / 1e3;
	s->small[i] = shared->small_ns / 1e3;
	s->work[i] = shared->work_ns / 1e3;
	s->minflt[i] = (double)ru.ru_minflt;
}

static void run_test(const char *prefix, const char *test, int alloc, int n)
{
	struct samples s;
	double *all = malloc(6 * (size_t)n * sizeof(double));

	if (!all) {
		fprintf(stderr, "cannot allocate the samples\n");
		exit(1);
	}
	s.total = all;
	s.fork = all + n;
	s.child_start = all + 2 * n;
	s.small = all + 3 * n;
	s.work = all + 4 * n;
	s.minflt = all + 5 * n;
	for (int i = 0; i < WARMUP; i++)
		one_fork(alloc, &s, -1);
	for (int i = 0; i < n; i++)
		one_fork(alloc, &s, i);
	printf("%s_%s_total_us %.1f\n", prefix, test, median(s.total, n));
	printf("%s_%s_fork_us %.1f\n", prefix, test, median(s.fork, n));
	printf("%s_%s_child_start_us %.1f\n", prefix, test, median(s.child_start, n));
	if (alloc) {
		printf("%s_%s_small_us %.1f\n", prefix, test, median(s.small, n));
		printf("%s_%s_work_us %.1f\n", prefix, test, median(s.work, n));
	}
	printf("%s_%s_minflt %.0f\n", prefix, test, median(s.minflt, n));
	free(all);
}

static void print_layout(const char *prefix)
{
	char line[512];
	long vmas = 0, pte_kb = -1;
	FILE *f = fopen("/proc/self/maps", "r");

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (strchr(line, '\n'))
				vmas++;
		fclose(f);
	}
	f = fopen("/proc/self/status", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "VmPTE: %ld", &pte_kb) == 1)
				break;
		fclose(f);
	}
	printf("%s_vmas %ld\n", prefix, vmas);
	printf("%s_vmpte_kb %ld\n", prefix, pte_kb);
}

static int run_config(const char *heap, int threads, int n)
{
	pthread_barrier_t ready;
	pthread_t thread;
	char prefix[32];

	if (strcmp(heap, "tiny") != 0 && strcmp(heap, "small") != 0 && strcmp(heap, "big") != 0) {
		fprintf(stderr, "heap must be tiny, small or big\n");
		return 2;
	}
	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	build_heap(heap);
	if (threads > 1) {
		if (pipe(block_fd) != 0) {
			perror("pipe");
			return 1;
		}
		pthread_barrier_init(&ready, NULL, 2);
		if (pthread_create(&thread, NULL, idle_thread, &ready) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
		pthread_barrier_wait(&ready);
	}
	snprintf(prefix, sizeof(prefix), "%s_%dt", heap, threads);
	print_layout(prefix);
	fflush(stdout);
	run_test(prefix, "exit", 0, n);
	run_test(prefix, "alloc", 1, n);
	if (threads > 1) {
		close(block_fd[1]);
		pthread_join(thread, NULL);
	}
	return 0;
}

/* Each configuration in a fresh process: a process that had a thread stays "threaded". */
static int run_all(const char *self, const char *iterations)
{
	static const char *const heaps[] = {"tiny", "small", "big"};
	static const char *const threads[] = {"1", "2"};

	for (int h = 0; h < 3; h++)
		for (int t = 0; t < 2; t++) {
			int status;
			pid_t pid;

			fflush(stdout);
			pid = fork();
			if (pid == 0) {
				execl(self, self, iterations, heaps[h], threads[t], (char *)NULL);
				perror("execl");
				_exit(127);
			}
			if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
			    WEXITSTATUS(status) != 0) {
				fprintf(stderr, "configuration %s %s failed\n", heaps[h],
				        threads[t]);
				return 1;
			}
		}
	return 0;
}

int main(int argc, char **argv)
{
	const char *iterations = argc > 1 ? argv[1] : "400";
	int n = atoi(iterations);

	if (n < 1 || argc == 3 || argc > 4) {
		fprintf(stderr, "usage: %s [iterations [tiny|small|big 1|2]]\n", argv[0]);
		return 2;
	}
	if (argc == 4)
		return run_config(argv[2], atoi(argv[3]), n);
	return run_all("/proc/self/exe", iterations);
}

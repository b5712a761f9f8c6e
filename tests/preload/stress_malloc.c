/*
 * Eight threads allocate, reallocate and free at random, checked against a model: each
 * keeps a shadow table of its live blocks (size, pattern seed), fills every new block
 * with a pattern only that block should hold and checks it before the block is
 * reallocated or freed. Sizes are mostly small, some up to 1 MiB, a few 8 MiB. Blocks
 * move between threads through a shared exchange, so many are freed by a thread other
 * than the one that allocated them. Meanwhile the main thread forks: each child checks
 * a sample of the parent's live blocks, frees some of them, allocates and frees plenty
 * from threads of its own, and exits 0.
 *
 * The program does not link kmm: ctest runs it with LD_PRELOAD=libkmm.so, and without
 * the preload it runs against the C library's malloc.
 *   usage: stress_malloc [seconds]    (default 5; STRESS_SEED=n repeats a run)
 */
#include "preload_test.h"

#include <malloc.h>
#include <pthread.h>
#include <time.h>

#define KiB            ((size_t)1 << 10)
#define MiB            ((size_t)1 << 20)

#define NR_THREADS     8
#define ERRNO_MARK     4242 /* no call sets it */
#define SLOTS          256
#define EXCHANGE_SLOTS 64
#define NR_FORKS       4
#define CHILD_THREADS  3
#define CHILD_OPS      20000
#define CHILD_WAIT_S   60

enum kind { PLAIN, ALIGNED_ALLOC, OTHER_ALIGNED };

struct block {
	unsigned char *p;
	size_t size;    /* requested */
	size_t len;     /* bytes holding the pattern: the size, or the whole usable size */
	size_t align;   /* for free_aligned_sized */
	uint64_t seed;  /* of the pattern */
	int owner;      /* the thread that allocated it */
	enum kind kind; /* how it may be freed with its size */
};

struct worker {
	/* Held while the table changes: whenever it is free the table is the truth. */
	pthread_mutex_t lock;
	struct block slots[SLOTS];
	pthread_t thread;
	int id;
	uint64_t rng;
	uint64_t seq;
	unsigned long ops, allocs, frees, reallocs, cross_frees, swaps;
	unsigned long max_ops; /* stop after this many (the fork children), or 0 */
};

static struct worker workers[NR_THREADS];
static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block exchange[EXCHANGE_SLOTS];
static int stop;

/* C23, absent from glibc 2.36: used when the allocator has them. */
static void (*free_sized_fn)(void *, size_t);
static void (*free_aligned_sized_fn)(void *, size_t, size_t);

static uint64_t rnd(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Mostly small, some up to 1 MiB, a few around 8 MiB, now and then 0. */
static size_t random_size(uint64_t *rng)
{
	uint64_t r = rnd(rng) % 100000;

	if (r < 500)
		return 0;
	if (r < 60000)
		return 1 + rnd(rng) % 128;
	if (r < 88000)
		return 1 + rnd(rng) % 1024;
	if (r < 99000)
		return 1 + rnd(rng) % (64 * KiB);
	if (r < 99980)
		return 64 * KiB + rnd(rng) % (960 * KiB);
	return 8 * MiB - 4 * KiB + rnd(rng) % (8 * KiB);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Bytes [from, to) of @b hold its pattern: all of them, or a sample of a large range. */
static void check_range(const struct block *b, size_t from, size_t to, const char *what)
{
	char ctx[160];

	snprintf(ctx, sizeof(ctx), "%s (block of %zu bytes from thread %d)", what, b->size,
	         b->owner);
	if (to - from <= 256 * KiB) {
		CHECK_PATTERN(b->p, from, to, b->seed, ctx);
		return;
	}
	CHECK_PATTERN(b->p, from, from + 64 * KiB, b->seed, ctx);
	CHECK_PATTERN(b->p, to - 64 * KiB, to, b->seed, ctx);
	for (size_t k = 1; k < 16; k++) {
		size_t at = from + (to - from) / 16 * k;

		CHECK_PATTERN(b->p, at, at + 512, b->seed, ctx);
	}
}

static void new_block(struct worker *w, struct block *b)
{
	size_t size = random_size(&w->rng), align = 16, usable;
	uint64_t how = rnd(&w->rng) % 100;
	void *p = NULL;
	int ret;

	b->kind = PLAIN;
	if (how < 60) {
		p = malloc(size);
	} else if (how < 75) {
		p = how & 1 ? calloc(1, size) : calloc(size, 1);
		CHECK(p != NULL, "calloc(%zu) failed", size);
		CHECK(first_nonzero(p, size) == SIZE_MAX, "calloc(%zu) returned nonzero memory",
		      size);
	} else if (how < 85) {
		align = (size_t)16 << rnd(&w->rng) % 9;
		ret = posix_memalign(&p, align, size);
		CHECK(ret == 0, "posix_memalign(&p, %zu, %zu): %d", align, size, ret);
		b->kind = OTHER_ALIGNED;
	} else if (how < 90) {
		align = (size_t)32 << rnd(&w->rng) % 6;
		p = aligned_alloc(align, size);
		b->kind = ALIGNED_ALLOC;
	} else if (how < 95) {
		align = (size_t)64 << rnd(&w->rng) % 7;
		p = memalign(align, size);
		b->kind = OTHER_ALIGNED;
	} else {
		p = realloc(NULL, size);
	}
	CHECK(p != NULL, "allocating %zu bytes (method %d) failed: %s", size, (int)how,
	      strerror(errno));
	CHECK(((uintptr_t)p & (align - 1)) == 0, "%zu bytes at %zu alignment: got %p", size, align,
	      p);
	usable = malloc_usable_size(p);
	CHECK(usable >= size, "malloc_usable_size: %zu for %zu bytes", usable, size);
	b->p = p;
	b->size = size;
	b->len = rnd(&w->rng) & 1 ? usable : size;
	b->align = align;
	b->owner = w->id;
	b->seed = ((uint64_t)w->id << 56) ^ (w->seq++ * 0x100000001b3ull) ^ (uintptr_t)w;
	pattern_fill(p, 0, b->len, b->seed);
	w->allocs++;
}

static void release(struct worker *w, struct block *b)
{
	uint64_t how = rnd(&w->rng) % 4;

	check_range(b, 0, b->len, "before free");
	errno = ERRNO_MARK;
	if (b->owner != w->id)
		w->cross_frees++;
	if (how == 0 && b->kind == PLAIN && free_sized_fn)
		free_sized_fn(b->p, b->size);
	else if (how == 0 && b->kind == ALIGNED_ALLOC && free_aligned_sized_fn)
		free_aligned_sized_fn(b->p, b->align, b->size);
	else
		free(b->p);
	/* No free changes errno, even one that waits for a lock other threads hold. */
	CHECK(errno == ERRNO_MARK, "free(%p) changed errno: expected %d, got %d", b->p, ERRNO_MARK,
	      errno);
	b->p = NULL;
	w->frees++;
}

static struct block take(struct worker *w, int i)
{
	struct block b;

	pthread_mutex_lock(&w->lock);
	b = w->slots[i];
	w->slots[i].p = NULL;
	pthread_mutex_unlock(&w->lock);
	return b;
}

static void put(struct worker *w, int i, const struct block *b)
{
	pthread_mutex_lock(&w->lock);
	w->slots[i] = *b;
	pthread_mutex_unlock(&w->lock);
}

/* A few reallocs in a row of the same block, its contents checked after each. */
static void realloc_chain(struct worker *w, int i)
{
	struct block b = take(w, i);
	int steps = 1 + (int)(rnd(&w->rng) % 4);

	if (!b.p)
		new_block(w, &b);
	for (int s = 0; s < steps; s++) {
		uint64_t how = rnd(&w->rng) % 4;
		size_t to, keep, usable;
		void *q;

		if (how < 2)
			to = random_size(&w->rng);
		else if (how == 2)
			to = b.size + rnd(&w->rng) % 64 - min_size(b.size, 32);
		else
			to = b.size > 4 * MiB ? b.size / 2 : b.size * 2 + 1;
		check_range(&b, 0, b.len, "before realloc");
		q = realloc(b.p, to);
		w->reallocs++;
		if (to == 0) {
			/* realloc(p, 0) frees the block and returns NULL. */
			CHECK(q == NULL, "realloc(p, 0) returned %p", q);
			if (b.owner != w->id)
				w->cross_frees++;
			w->frees++;
			b.p = NULL;
			break;
		}
		CHECK(q != NULL, "realloc(%p, %zu) failed: %s", (void *)b.p, to, strerror(errno));
		CHECK(((uintptr_t)q & 15) == 0, "realloc to %zu: %p not 16-byte aligned", to, q);
		usable = malloc_usable_size(q);
		CHECK(usable >= to, "malloc_usable_size after realloc to %zu: %zu", to, usable);
		keep = min_size(b.len, to);
		b.p = q;
		check_range(&b, 0, keep, "after realloc");
		b.size = to;
		b.len = rnd(&w->rng) & 1 ? usable : to;
		b.kind = PLAIN;
		b.align = 16;
		if (b.len > keep)
			pattern_fill(q, keep, b.len, b.seed);
	}
	put(w, i, &b);
}

/* Swap a slot with one of the shared exchange: blocks change hands between threads. */
static void swap_exchange(struct worker *w, int i)
{
	int j = (int)(rnd(&w->rng) % EXCHANGE_SLOTS);
	struct block b;

	pthread_mutex_lock(&w->lock);
	pthread_mutex_lock(&exchange_lock);
	b = exchange[j];
	exchange[j] = w->slots[i];
	w->slots[i] = b;
	pthread_mutex_unlock(&exchange_lock);
	pthread_mutex_unlock(&w->lock);
	w->swaps++;
}

static void verify_table(struct worker *w, const char *what)
{
	for (int i = 0; i < SLOTS; i++)
		if (w->slots[i].p)
			check_range(&w->slots[i], 0, w->slots[i].len, what);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED) && (!w->max_ops || w->ops < w->max_ops)) {
		int i = (int)(rnd(&w->rng) % SLOTS);
		uint64_t op = rnd(&w->rng) % 100;
		struct block b;

		if (op < 42) {
			b = take(w, i);
			if (b.p)
				release(w, &b);
			new_block(w, &b);
			put(w, i, &b);
		} else if (op < 72) {
			b = take(w, i);
			if (b.p)
				release(w, &b);
		} else if (op < 90) {
			realloc_chain(w, i);
		} else {
			swap_exchange(w, i);
		}
		if (++w->ops % 4096 == 0)
			verify_table(w, "periodic check of the live blocks");
	}
	return NULL;
}

static void lock_all(void)
{
	for (int i = 0; i < NR_THREADS; i++)
		pthread_mutex_lock(&workers[i].lock);
	pthread_mutex_lock(&exchange_lock);
}

static void unlock_all(void)
{
	pthread_mutex_unlock(&exchange_lock);
	for (int i = NR_THREADS - 1; i >= 0; i--)
		pthread_mutex_unlock(&workers[i].lock);
}

/*
 * In the child: the parent's blocks are here with their contents; some are checked and
 * freed, the rest are reallocated and freed by threads that allocate plenty of their
 * own; everything left is checked and freed at the end.
 */
static void __attribute__((noreturn)) child_main(int k)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
	unsigned long verified = 0, freed = 0, left = 0;
	struct worker *w = &workers[0];

	/* Gone with the parent (killed at a timeout, say), not left behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	unlock_all();
	for (int t = 0; t < NR_THREADS; t++) {
		for (int i = 0; i < SLOTS; i++) {
			struct block *b = &workers[t].slots[i];

			if (!b->p || rnd(&rng) % 4)
				continue;
			check_range(b, 0, b->len, "fork child: parent's block");
			verified++;
			if (rnd(&rng) & 1) {
				release(w, b);
				freed++;
			}
		}
	}
	for (int j = 0; j < EXCHANGE_SLOTS; j++) {
		if (exchange[j].p) {
			check_range(&exchange[j], 0, exchange[j].len,
			            "fork child: exchanged block");
			release(w, &exchange[j]);
			verified++;
			freed++;
		}
	}
	CHECK(verified > 0, "fork child %d: found no live block of the parent to check", k);

	/* Threads of the child's own, working on the inherited tables. */
	__atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
	for (int t = 0; t < CHILD_THREADS; t++) {
		workers[t].max_ops = workers[t].ops + CHILD_OPS;
		CHECK(pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) == 0,
		      "fork child: pthread_create failed");
	}
	for (int t = 0; t < CHILD_THREADS; t++)
		pthread_join(workers[t].thread, NULL);
	for (int t = 0; t < NR_THREADS; t++) {
		for (int i = 0; i < SLOTS; i++) {
			if (workers[t].slots[i].p) {
				release(w, &workers[t].slots[i]);
				left++;
			}
		}
	}
	printf("fork child %d: checked %lu of the parent's blocks and freed %lu of them, %d "
	       "threads did %d operations each, %lu blocks freed at the end\n",
	       k, verified, freed, CHILD_THREADS, CHILD_OPS, left);
	fflush(stdout);
	exit(0);
}

static pid_t fork_while_running(int k)
{
	pid_t pid;

	/* The tables are consistent; the threads may be anywhere inside malloc. */
	lock_all();
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		child_main(k);
	unlock_all();
	CHECK(pid > 0, "fork: %s", strerror(errno));
	return pid;
}

/* Every child exits 0 in time; one that does not is killed, and so are the others. */
static void wait_children(const pid_t *pids, int n)
{
	double deadline = now() + CHILD_WAIT_S;
	int status[NR_FORKS], done[NR_FORKS] = {0}, left = n;

	while (left) {
		for (int k = 0; k < n; k++) {
			if (!done[k] && waitpid(pids[k], &status[k], WNOHANG) == pids[k]) {
				done[k] = 1;
				left--;
			}
		}
		if (left && now() > deadline) {
			char stuck[64] = "";

			for (int k = 0; k < n; k++) {
				if (done[k])
					continue;
				kill(pids[k], SIGKILL);
				waitpid(pids[k], NULL, 0);
				snprintf(stuck + strlen(stuck), sizeof(stuck) - strlen(stuck),
				         " %d", k);
			}
			CHECK(0,
			      "fork children%s did not finish within %d s (stuck in the allocator "
			      "after fork?)",
			      stuck, CHILD_WAIT_S);
		}
		if (left)
			usleep(10000);
	}
	for (int k = 0; k < n; k++)
		CHECK(WIFEXITED(status[k]) && WEXITSTATUS(status[k]) == 0,
		      "fork child %d: expected exit 0, got status %#x (its messages are above)", k,
		      status[k]);
}

struct span {
	uintptr_t start, end;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Every live block checked, no two overlapping (usable sizes included), then freed. */
static void final_check(void)
{
	static struct span spans[NR_THREADS * SLOTS + EXCHANGE_SLOTS];
	size_t n = 0;

	for (int t = 0; t < NR_THREADS; t++) {
		for (int i = 0; i < SLOTS; i++) {
			struct block *b = &workers[t].slots[i];

			if (!b->p)
				continue;
			check_range(b, 0, b->len, "final check");
			spans[n].start = (uintptr_t)b->p;
			spans[n++].end = (uintptr_t)b->p + malloc_usable_size(b->p);
		}
	}
	for (int j = 0; j < EXCHANGE_SLOTS; j++) {
		if (!exchange[j].p)
			continue;
		check_range(&exchange[j], 0, exchange[j].len, "final check");
		spans[n].start = (uintptr_t)exchange[j].p;
		spans[n++].end = (uintptr_t)exchange[j].p + malloc_usable_size(exchange[j].p);
	}
	qsort(spans, n, sizeof(spans[0]), cmp_span);
	for (size_t i = 1; i < n; i++)
		CHECK(spans[i - 1].end <= spans[i].start,
		      "live blocks overlap: [%#lx, %#lx) and [%#lx, %#lx)",
		      (unsigned long)spans[i - 1].start, (unsigned long)spans[i - 1].end,
		      (unsigned long)spans[i].start, (unsigned long)spans[i].end);
	for (int t = 0; t < NR_THREADS; t++)
		for (int i = 0; i < SLOTS; i++)
			if (workers[t].slots[i].p)
				release(&workers[t], &workers[t].slots[i]);
	for (int j = 0; j < EXCHANGE_SLOTS; j++)
		if (exchange[j].p)
			release(&workers[0], &exchange[j]);
	printf("final check: %zu live blocks intact and disjoint, all freed\n", n);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	uint64_t seed = getenv("STRESS_SEED") ? strtoull(getenv("STRESS_SEED"), NULL, 0)
	                                      : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	unsigned long ops = 0, allocs = 0, frees = 0, reallocs = 0, cross = 0, swaps = 0;
	pid_t children[NR_FORKS];
	double start;

	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(seconds > 0 && seconds < 3600, "usage: stress_malloc [seconds]");
	free_sized_fn = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
	free_aligned_sized_fn =
	        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
	printf("stress_malloc: %d threads for %.1f s, %d forks, STRESS_SEED=%#llx, malloc %s, "
	       "free_sized %s\n",
	       NR_THREADS, seconds, NR_FORKS, (unsigned long long)seed,
	       under_kmm() ? "from kmm" : "not from kmm", free_sized_fn ? "used" : "absent");

	for (int t = 0; t < NR_THREADS; t++) {
		struct worker *w = &workers[t];

		pthread_mutex_init(&w->lock, NULL);
		w->id = t;
		w->rng = seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(t + 1));
		if (!w->rng)
			w->rng = 1;
		CHECK(pthread_create(&w->thread, NULL, worker_main, w) == 0,
		      "pthread_create failed");
	}
	start = now();
	/* The forks come in the middle of the run, with every thread busy. */
	for (int k = 0; k < NR_FORKS; k++) {
		double at = start + seconds * (0.25 + 0.15 * k);

		while (now() < at)
			usleep(10000);
		children[k] = fork_while_running(k);
	}
	while (now() < start + seconds)
		usleep(10000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int t = 0; t < NR_THREADS; t++)
		pthread_join(workers[t].thread, NULL);
	wait_children(children, NR_FORKS);

	for (int t = 0; t < NR_THREADS; t++) {
		struct worker *w = &workers[t];

		CHECK(w->ops > 0, "thread %d did nothing", t);
		ops += w->ops;
		allocs += w->allocs;
		frees += w->frees;
		reallocs += w->reallocs;
		cross += w->cross_frees;
		swaps += w->swaps;
	}
	printf("parent: %lu operations: %lu allocations, %lu frees (%lu by another thread), %lu "
	       "reallocs, %lu exchanges\n",
	       ops, allocs, frees, cross, reallocs, swaps);
	CHECK(cross > 0, "no block was freed by a thread other than its allocator");
	final_check();
	printf("stress_malloc: all checks passed\n");
	return 0;
}

/*
 * What a per-CPU freelist costs against a per-thread one: the price of "per-CPU" taken
 * literally in userspace, through restartable sequences (rseq) as tcmalloc does.
 *
 * Each variant pops an object off a freelist and pushes it back (the shape of a
 * malloc + free pair on the fast path), on
 *  - thread:    a per-thread freelist in initial-exec TLS, kmm's kmem_cache_cpu: plain
 *               loads and stores through the thread pointer plus the list's offset;
 *  - thread_fs: the same list addressed %fs:offset with the offset a constant, as an
 *               executable addresses its own TLS: no offset to load per operation, so
 *               a lower bound for the per-thread list rather than kmm's shape (kmm is a
 *               shared library and its malloc and free are separate calls);
 *  - rseq:      a per-CPU freelist, one 64-byte slot per CPU, indexed by the CPU number
 *               in glibc's registered struct rseq, each pop and each push an rseq
 *               critical section (x86-64 asm) that the kernel aborts on preemption,
 *               migration or signal delivery, and that restarts;
 *  - cpu_index: the same per-CPU slots indexed the same way but with plain loads and
 *               stores, no critical section. NOT SAFE (a thread preempted between the
 *               load of the head and the store of the new one corrupts the list); it
 *               is there only to split what the CPU lookup costs from what the
 *               sequence costs.
 * All encode the free pointer stored in the object as kmm does (pointer ^ the list's
 * random key ^ the address it is stored at), and all are inlined, with compiler
 * barriers so that every pop and push loads and stores the head as separate malloc and
 * free calls would; the cost of the calls themselves is not included.
 *
 * The single-thread runs are interleaved (thread, thread_fs, rseq, cpu_index, thread,
 * ...) so that a disturbance from other processes hits all variants alike; each is
 * timed with CLOCK_MONOTONIC and the median and the minimum over the runs are printed.
 * The thread is pinned to the CPU it started on unless told otherwise. The loops are a
 * few nanoseconds or less, and where the linker places them moves the plain ones by up
 * to half a nanosecond (the same instructions 16 bytes further on): compare variants
 * within a build, and builds only with that in mind.
 *
 * Then the rseq lists are checked under contention: threads pop two objects, mark them
 * as theirs, and push them back in the other order, for some seconds; first one thread
 * pinned (the rate with almost no aborts), then more threads than CPUs left to the
 * scheduler (preempted inside critical sections), then the same with the threads moved
 * between CPUs at random every 100 us (migrated inside them). After each, every object
 * must be on exactly one list, once; the program exits with status 1 if one is lost or
 * duplicated.
 *
 * Run: percpu_freelist [pairs per run [runs [seconds [threads [pin]]]]]
 * defaults 30000000 7 3 4 1 (pin 0: not pinned). Output: "name value" lines; lines
 * starting with '#' are the figures of each run. Needs glibc 2.35+ with rseq
 * registered (not under valgrind, nor with GLIBC_TUNABLES=glibc.pthread.rseq=0).
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <time.h>
#include <unistd.h>

#define barrier() __asm__ __volatile__("" ::: "memory")

/* Objects each list starts with: the single-thread loops cycle one of them. */
#define OBJECTS_PER_LIST 256

/*
 * One freelist, on a line of its own as the kernel's kmem_cache_cpu is: per CPU, two
 * CPUs' slots on one line would bounce it between them. @random is the key of the
 * free pointers, read from the line the head is on as kmm reads it.
 */
struct kmem_cache_cpu {
	void *freelist;
	uintptr_t random;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct kmem_cache_cpu) == 64, "the asm indexes slots with a shift by 6");

/* An object; @owner marks it as held by a thread in the threaded check. */
struct object {
	uintptr_t free; /* the encoded free pointer, while on a list */
	atomic_uint owner;
} __attribute__((aligned(64)));

static __thread struct kmem_cache_cpu thread_slab __attribute__((tls_model("initial-exec")));

/*
 * kmm's slab_this_cpu: the thread pointer plus the list's offset from it, the offset
 * read from memory by every operation as kmem_cache.cpu_slab (or the GOT's TLS offset)
 * is. The list is then read and written through a plain pointer, as kmm's malloc and
 * free compile to.
 */
static long thread_slab_offset;

static inline struct kmem_cache_cpu *this_thread_slab(void)
{
	char *c = (char *)__builtin_thread_pointer() + thread_slab_offset;

	__asm__("" : "+r"(c)); /* no folding back into %fs:offset addressing */
	return (struct kmem_cache_cpu *)c;
}

/*
 * kmm's freeptr_key: the key does not depend on the pointer, and is hidden from the
 * compiler so that it is computed off the head -> next -> head dependency chain.
 */
static inline uintptr_t freeptr_key(uintptr_t random, const void *obj)
{
	uintptr_t key = random ^ (uintptr_t)obj;

	__asm__("" : "+r"(key));
	return key;
}

static inline void *get_freepointer(const struct kmem_cache_cpu *c, void *obj)
{
	return (void *)(*(uintptr_t *)obj ^ freeptr_key(c->random, obj));
}

static inline void set_freepointer(const struct kmem_cache_cpu *c, void *obj, void *fp)
{
	*(uintptr_t *)obj = (uintptr_t)fp ^ freeptr_key(c->random, obj);
}

/* Plain pop and push: the thread's own list, or the unsafe per-CPU reference. */
static inline void *freelist_pop(struct kmem_cache_cpu *c)
{
	void *obj = c->freelist;

	if (obj)
		c->freelist = get_freepointer(c, obj);
	return obj;
}

static inline void freelist_push(struct kmem_cache_cpu *c, void *obj)
{
	set_freepointer(c, obj, c->freelist);
	c->freelist = obj;
}

/*
 * The pieces every critical section shares, after the kernel selftests (rseq-x86.h),
 * with struct rseq addressed as %fs:field(%[rseq]), %[rseq] holding glibc's
 * __rseq_offset (the area is in the TCB, at that offset from the thread pointer):
 *  - the struct rseq_cs descriptor (label 3: version 0, flags 0, start_ip = label 2,
 *    post_commit_offset up to label 5, abort_ip = label 4), in __rseq_cs, writable
 *    because start_ip and abort_ip need relocating in a position-independent program;
 *  - the start: the CPU number from cpu_id_start (always a valid index, even while the
 *    thread migrates), its slot, then rseq->rseq_cs = &descriptor, which arms the
 *    section. The kernel clears rseq_cs itself when it next finds the thread outside
 *    the section, so nothing has to disarm it;
 *  - inside, cpu_id is compared with the CPU the slot was chosen for: a migration
 *    between the read of cpu_id_start and the arming is not an abort, the compare
 *    catches it;
 *  - the abort handler, out of line in __rseq_failure, after the signature the kernel
 *    checks in the 4 bytes before abort_ip (RSEQ_SIG, as the operand of a ud1 so that a
 *    disassembler sees an instruction): it counts the abort and starts over, reading
 *    the CPU number again.
 */
#define RSEQ_ASM_START                                     \
	"1:\n\t"                                           \
	"movl %%fs:%c[cpu_id_start](%[rseq]), %k[cpu]\n\t" \
	"movl %k[cpu], %k[slot]\n\t"                       \
	"shlq $6, %[slot]\n\t"                             \
	"addq %[slots], %[slot]\n\t"                       \
	"leaq 3f(%%rip), %[tmp]\n\t"                       \
	"movq %[tmp], %%fs:%c[rseq_cs](%[rseq])\n\t"       \
	"2:\n\t"                                           \
	"cmpl %%fs:%c[cpu_id](%[rseq]), %k[cpu]\n\t"       \
	"jnz 4f\n\t"

#define RSEQ_ASM_END                              \
	"5:\n\t"                                  \
	".pushsection __rseq_cs, \"aw\"\n\t"      \
	".balign 32\n\t"                          \
	"3:\n\t"                                  \
	".long 0, 0\n\t"                          \
	".quad 2b, 5b - 2b, 4f\n\t"               \
	".popsection\n\t"                         \
	".pushsection __rseq_failure, \"ax\"\n\t" \
	".byte 0x0f, 0xb9, 0x3d\n\t"              \
	".long %c[sig]\n\t"                       \
	"4:\n\t"                                  \
	"addq $1, %[aborts]\n\t"                  \
	"jmp 1b\n\t"                              \
	".popsection\n\t"

/* The operands RSEQ_ASM_START and RSEQ_ASM_END name, besides cpu, slot, tmp, aborts. */
#define RSEQ_ASM_INPUTS(rseq, slots)                                     \
	[rseq] "r"(rseq), [slots] "r"(slots),                            \
	        [cpu_id_start] "i"(offsetof(struct rseq, cpu_id_start)), \
	        [cpu_id] "i"(offsetof(struct rseq, cpu_id)),             \
	        [rseq_cs] "i"(offsetof(struct rseq, rseq_cs)), [sig] "i"(RSEQ_SIG)

/*
 * Pop from this CPU's list; NULL if it is empty. The commit is the store of the new
 * head: the kernel aborts the section before it or not at all, so the head and the
 * next pointer read from the object are this CPU's and current.
 */
static inline void *rseq_pop(struct kmem_cache_cpu *slots, long rseq, unsigned long *aborts)
{
	uintptr_t cpu, slot, tmp;
	void *obj;

	__asm__ __volatile__(RSEQ_ASM_START "movq (%[slot]), %[obj]\n\t"
	                                    "testq %[obj], %[obj]\n\t"
	                                    "jz 5f\n\t"
	                                    "movq 8(%[slot]), %[tmp]\n\t"
	                                    "xorq %[obj], %[tmp]\n\t"
	                                    "xorq (%[obj]), %[tmp]\n\t"
	                                    "movq %[tmp], (%[slot])\n\t" RSEQ_ASM_END
	                     : [cpu] "=&r"(cpu), [slot] "=&r"(slot), [tmp] "=&r"(tmp),
	                       [obj] "=&r"(obj), [aborts] "+m"(*aborts)
	                     : RSEQ_ASM_INPUTS(rseq, slots)
	                     : "memory", "cc");
	return obj;
}

/*
 * Push onto this CPU's list. The store of the free pointer into the object comes
 * before the commit and may be repeated after an abort: the object is the caller's
 * alone until the commit publishes it.
 */
static inline void rseq_push(struct kmem_cache_cpu *slots, long rseq, void *obj,
                             unsigned long *aborts)
{
	uintptr_t cpu, slot, tmp;

	__asm__ __volatile__(
	        RSEQ_ASM_START "movq 8(%[slot]), %[tmp]\n\t"
	                       "xorq %[obj], %[tmp]\n\t"
	                       "xorq (%[slot]), %[tmp]\n\t"
	                       "movq %[tmp], (%[obj])\n\t"
	                       "movq %[obj], (%[slot])\n\t" RSEQ_ASM_END
	        : [cpu] "=&r"(cpu), [slot] "=&r"(slot), [tmp] "=&r"(tmp), [aborts] "+m"(*aborts)
	        : RSEQ_ASM_INPUTS(rseq, slots), [obj] "r"(obj)
	        : "memory", "cc");
}

/* The one load that the unsafe reference shares with the sequences. */
static inline unsigned int rseq_cpu_id_start(long rseq)
{
	unsigned int cpu;

	__asm__ __volatile__(
	        "movl %%fs:%c[cpu_id_start](%[rseq]), %[cpu]"
	        : [cpu] "=r"(cpu)
	        : [rseq] "r"(rseq), [cpu_id_start] "i"(offsetof(struct rseq, cpu_id_start)));
	return cpu;
}

static long nr_slots;          /* possible CPUs: cpu_id ranges over them */
static uintptr_t freelist_key; /* one random key for all lists */

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void die(const char *msg)
{
	fprintf(stderr, "percpu_freelist: %s\n", msg);
	exit(1);
}

static struct object *new_objects(long n)
{
	struct object *objs = aligned_alloc(64, n * sizeof(*objs));

	if (!objs)
		die("out of memory");
	memset(objs, 0, n * sizeof(*objs));
	return objs;
}

static void fill_list(struct kmem_cache_cpu *c, struct object *objs, long n)
{
	c->freelist = NULL;
	c->random = freelist_key;
	for (long i = 0; i < n; i++)
		freelist_push(c, &objs[i]);
}

/* One list per possible CPU, each with @per_list objects taken from @objs. */
static struct kmem_cache_cpu *new_percpu_lists(struct object *objs, long per_list)
{
	struct kmem_cache_cpu *slots = aligned_alloc(64, nr_slots * sizeof(*slots));

	if (!slots)
		die("out of memory");
	for (long cpu = 0; cpu < nr_slots; cpu++)
		fill_list(&slots[cpu], objs + cpu * per_list, per_list);
	return slots;
}

#define WARMUP_PAIRS 100000

static __attribute__((noinline)) double thread_pairs_ns(long pairs)
{
	double t0 = 0;

	for (long i = -WARMUP_PAIRS; i < pairs; i++) {
		void *obj;

		if (i == 0)
			t0 = now_ns();
		obj = freelist_pop(this_thread_slab());
		if (!obj)
			die("thread freelist empty");
		barrier();
		freelist_push(this_thread_slab(), obj);
		barrier();
	}
	return (now_ns() - t0) / pairs;
}

static __attribute__((noinline)) double thread_fs_pairs_ns(long pairs)
{
	struct kmem_cache_cpu *c = &thread_slab;
	double t0 = 0;

	for (long i = -WARMUP_PAIRS; i < pairs; i++) {
		void *obj;

		if (i == 0)
			t0 = now_ns();
		obj = freelist_pop(c);
		if (!obj)
			die("thread freelist empty");
		barrier();
		freelist_push(c, obj);
		barrier();
	}
	return (now_ns() - t0) / pairs;
}

/*
 * As the thread's list offset is, the per-CPU array and glibc's __rseq_offset are read
 * from memory by every pop and every push, as an allocator's malloc and free would.
 */
static struct kmem_cache_cpu *percpu_slab;

static __attribute__((noinline)) double rseq_pairs_ns(long pairs, unsigned long *aborts)
{
	unsigned long n = 0;
	double t0 = 0;

	for (long i = -WARMUP_PAIRS; i < pairs; i++) {
		void *obj;

		if (i == 0)
			t0 = now_ns();
		obj = rseq_pop(percpu_slab, __rseq_offset, &n);
		if (!obj)
			die("per-CPU freelist empty");
		rseq_push(percpu_slab, __rseq_offset, obj, &n);
	}
	*aborts += n;
	return (now_ns() - t0) / pairs;
}

static __attribute__((noinline)) double cpu_index_pairs_ns(long pairs)
{
	double t0 = 0;

	for (long i = -WARMUP_PAIRS; i < pairs; i++) {
		void *obj;

		if (i == 0)
			t0 = now_ns();
		obj = freelist_pop(&percpu_slab[rseq_cpu_id_start(__rseq_offset)]);
		if (!obj)
			die("per-CPU freelist empty");
		barrier();
		freelist_push(&percpu_slab[rseq_cpu_id_start(__rseq_offset)], obj);
		barrier();
	}
	return (now_ns() - t0) / pairs;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void print_stats(const char *name, const double *v, long runs)
{
	double s[runs];

	memcpy(s, v, sizeof(s));
	qsort(s, runs, sizeof(s[0]), cmp_double);
	printf("%s_pair_ns %.2f\n", name,
	       runs % 2 ? s[runs / 2] : (s[runs / 2 - 1] + s[runs / 2]) / 2);
	printf("%s_pair_min_ns %.2f\n", name, s[0]);
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity failed");
}

/* The threaded check. */
struct worker_stats {
	unsigned long pairs, aborts, empty, migrations, bad_owner;
};

/* Counted in locals and stored at the end: workers on adjacent lines would share them. */
struct worker {
	pthread_t thread;
	unsigned int id; /* 1.., what it writes into the objects it holds */
	int pin;         /* CPU, or -1 */
	struct kmem_cache_cpu *slots;
	struct worker_stats stats;
};

static atomic_int stop;

/*
 * An object handed to two threads at once would show as an owner already set when it
 * is popped or changed while held: relaxed loads and stores, plain moves on x86, so
 * that the check costs no locked instruction (it may miss a duplicate that the count
 * at the end still finds).
 */
static void take(struct worker_stats *st, unsigned int id, struct object *obj)
{
	if (atomic_load_explicit(&obj->owner, memory_order_relaxed) != 0)
		st->bad_owner++;
	atomic_store_explicit(&obj->owner, id, memory_order_relaxed);
}

static void give_back(struct worker_stats *st, unsigned int id, struct object *obj)
{
	if (atomic_load_explicit(&obj->owner, memory_order_relaxed) != id)
		st->bad_owner++;
	atomic_store_explicit(&obj->owner, 0, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct kmem_cache_cpu *slots = w->slots;
	unsigned int id = w->id;
	long rseq = __rseq_offset;
	unsigned int last_cpu = rseq_cpu_id_start(rseq);
	struct worker_stats st = {0};

	if (w->pin >= 0)
		pin_to(w->pin);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 256; i++) {
			struct object *a, *b;
			unsigned int cpu = rseq_cpu_id_start(rseq);

			st.migrations += cpu != last_cpu;
			last_cpu = cpu;
			a = rseq_pop(slots, rseq, &st.aborts);
			if (!a) {
				st.empty++;
				continue;
			}
			b = rseq_pop(slots, rseq, &st.aborts);
			if (!b) {
				rseq_push(slots, rseq, a, &st.aborts);
				st.empty++;
				continue;
			}
			take(&st, id, a);
			take(&st, id, b);
			give_back(&st, id, a);
			give_back(&st, id, b);
			/* The other order: the lists do not merely cycle the same heads. */
			rseq_push(slots, rseq, a, &st.aborts);
			rseq_push(slots, rseq, b, &st.aborts);
			st.pairs += 2;
		}
	}
	w->stats = st;
	return NULL;
}

/* Walk every list; each object must be found exactly once. */
static void check_lists(struct kmem_cache_cpu *slots, struct object *objs, long nr_objs)
{
	unsigned char *seen = calloc(nr_objs, 1);
	long found = 0;

	if (!seen)
		die("out of memory");
	for (long cpu = 0; cpu < nr_slots; cpu++) {
		struct kmem_cache_cpu *c = &slots[cpu];

		for (struct object *obj = c->freelist; obj; obj = get_freepointer(c, obj)) {
			uintptr_t off = (uintptr_t)obj - (uintptr_t)objs;
			long idx = off / sizeof(*obj);

			if (off >= nr_objs * sizeof(*obj) || off % sizeof(*obj))
				die("FAILED: a list holds a pointer that is no object");
			if (seen[idx]++)
				die("FAILED: an object is on the lists twice (duplicated)");
			if (obj->owner)
				die("FAILED: an object on a list is still marked as held");
			found++;
		}
	}
	if (found != nr_objs) {
		fprintf(stderr,
		        "percpu_freelist: FAILED: %ld objects on the lists, %ld created (lost)\n",
		        found, nr_objs);
		exit(1);
	}
	free(seen);
}

static int allowed_cpus[CPU_SETSIZE], nr_allowed_cpus;

/*
 * Move a random worker onto a random CPU every 100 us until @deadline: migrations then
 * land anywhere in the loop, inside critical sections too, not only where the
 * scheduler would balance the load.
 */
static void shake(struct worker *w, int nr, double deadline)
{
	struct timespec ts = {0, 100000};
	unsigned long x = (unsigned long)now_ns() | 1;

	while (now_ns() < deadline) {
		cpu_set_t set;

		nanosleep(&ts, NULL);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		CPU_ZERO(&set);
		CPU_SET(allowed_cpus[(x >> 8) % nr_allowed_cpus], &set);
		pthread_setaffinity_np(w[x % nr].thread, sizeof(set), &set);
	}
}

/* @nr threads for @seconds on fresh lists, then the lists are checked. */
static void run_threads(int nr, int pin, int migrate, double seconds, const char *prefix)
{
	long nr_objs = nr_slots * OBJECTS_PER_LIST;
	struct object *objs = new_objects(nr_objs);
	struct kmem_cache_cpu *slots = new_percpu_lists(objs, OBJECTS_PER_LIST);
	struct worker w[nr];
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	unsigned long pairs = 0, aborts = 0, empty = 0, migrations = 0, bad = 0;
	double t0, elapsed;

	atomic_store(&stop, 0);
	t0 = now_ns();
	for (int i = 0; i < nr; i++) {
		w[i] = (struct worker){.id = i + 1, .pin = pin, .slots = slots};
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
			die("pthread_create failed");
	}
	if (migrate)
		shake(w, nr, t0 + seconds * 1e9);
	else
		nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < nr; i++) {
		pthread_join(w[i].thread, NULL);
		pairs += w[i].stats.pairs;
		aborts += w[i].stats.aborts;
		empty += w[i].stats.empty;
		migrations += w[i].stats.migrations;
		bad += w[i].stats.bad_owner;
	}
	elapsed = (now_ns() - t0) / 1e9;
	if (bad) {
		fprintf(stderr, "percpu_freelist: FAILED: %lu objects found held by two threads\n",
		        bad);
		exit(1);
	}
	check_lists(slots, objs, nr_objs);
	printf("%s_nr_threads %d\n", prefix, nr);
	printf("%s_pairs_per_s %.4g\n", prefix, pairs / elapsed);
	printf("%s_aborts %lu\n", prefix, aborts);
	printf("%s_aborts_per_mpair %.3g\n", prefix, aborts / (pairs / 1e6));
	printf("%s_migrations_seen %lu\n", prefix, migrations);
	printf("%s_empty_pops %lu\n", prefix, empty);
	printf("%s_check passed: %ld objects, each on one list once\n", prefix, nr_objs);
	free(slots);
	free(objs);
}

int main(int argc, char **argv)
{
	long pairs = argc > 1 ? atol(argv[1]) : 30000000;
	long runs = argc > 2 ? atol(argv[2]) : 7;
	double seconds = argc > 3 ? atof(argv[3]) : 3;
	int nr_threads = argc > 4 ? atoi(argv[4]) : 4;
	int pin = argc > 5 ? atoi(argv[5]) : 1;
	unsigned long aborts = 0;
	struct object *objs;
	cpu_set_t all;
	int cpu;

	if (pairs <= 0 || runs <= 0 || runs > 1000 || seconds <= 0 || nr_threads <= 0 ||
	    nr_threads > 1024) {
		fprintf(stderr, "usage: %s [pairs per run [runs [seconds [threads [pin]]]]]\n",
		        argv[0]);
		return 2;
	}
	if (__rseq_size < offsetof(struct rseq, rseq_cs) + 8 ||
	    (int)((struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset))->cpu_id < 0)
		die("glibc has not registered rseq (valgrind, glibc.pthread.rseq=0, or an old "
		    "kernel)");
	nr_slots = sysconf(_SC_NPROCESSORS_CONF);
	if (nr_slots < 1)
		nr_slots = 1;
	freelist_key = (uintptr_t)now_ns() * 0x9e3779b97f4a7c15ul | 1;

	if (sched_getaffinity(0, sizeof(all), &all) != 0)
		die("sched_getaffinity failed");
	cpu = sched_getcpu();
	if (pin)
		pin_to(cpu);
	printf("# %s cpu %d, %ld pairs per run, %ld runs, %ld cpu slots\n",
	       pin ? "pinned to" : "not pinned, started on", cpu, pairs, runs, nr_slots);

	objs = new_objects((nr_slots + 1) * OBJECTS_PER_LIST);
	thread_slab_offset = (char *)&thread_slab - (char *)__builtin_thread_pointer();
	fill_list(&thread_slab, objs + nr_slots * OBJECTS_PER_LIST, OBJECTS_PER_LIST);
	percpu_slab = new_percpu_lists(objs, OBJECTS_PER_LIST);
	{
		double thread_ns[runs], thread_fs_ns[runs], rseq_ns[runs], cpu_index_ns[runs];

		for (long r = 0; r < runs; r++) {
			thread_ns[r] = thread_pairs_ns(pairs);
			thread_fs_ns[r] = thread_fs_pairs_ns(pairs);
			rseq_ns[r] = rseq_pairs_ns(pairs, &aborts);
			cpu_index_ns[r] = cpu_index_pairs_ns(pairs);
			printf("# run %ld: thread %.3f thread_fs %.3f rseq %.3f cpu_index %.3f\n",
			       r + 1, thread_ns[r], thread_fs_ns[r], rseq_ns[r], cpu_index_ns[r]);
		}
		print_stats("thread", thread_ns, runs);
		print_stats("thread_fs", thread_fs_ns, runs);
		print_stats("rseq", rseq_ns, runs);
		print_stats("cpu_index", cpu_index_ns, runs);
		printf("rseq_single_aborts %lu\n", aborts);
	}
	free(percpu_slab);
	free(objs);

	run_threads(1, pin ? cpu : -1, 0, seconds / 3, "rseq_1thread");
	if (sched_setaffinity(0, sizeof(all), &all) != 0)
		die("sched_setaffinity failed");
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all))
			allowed_cpus[nr_allowed_cpus++] = i;
	run_threads(nr_threads, -1, 0, seconds, "rseq_threads");
	run_threads(nr_threads, -1, 1, seconds, "rseq_migrate");
	return 0;
}

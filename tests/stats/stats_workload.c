/*
 * A workload whose statistics are known: run by test_stats.py with KMM_STATS=all, it
 * prints the numbers the dumps must show, and the script checks them.
 *
 *   - a dedicated cache "stats_test" (200-byte objects): the main thread allocates
 *     MAIN_OBJECTS and NR_THREADS threads THREAD_OBJECTS each. While they run, one
 *     of them frees the main thread's last objects that it keeps (into its
 *     active slab, and the slab before), and the main thread frees all of the first
 *     thread's objects (emptied slabs go back to the page allocator) and every other
 *     object of the others' (partial slabs, and active ones that the threads give
 *     back as they exit); then a third of its own. Every kind of remote free, and
 *     every place a slab's frees are counted, is in the numbers. One more thread
 *     allocates LATE_OBJECTS and frees LATE_FREES of them in a thread-specific data
 *     destructor that runs after kmm's exit flush. Then malloc_trim gives back the
 *     empty slabs that the node kept, with their frees, and the main thread's active
 *     slab; the main thread allocates AFTER_TRIM objects, and another thread frees
 *     the last AFTER_TRIM_FREES of them, into its new active slab, for the dumps;
 *   - one live vmalloc area of VMALLOC_BYTES, one freed;
 *   - an order-5 block from the page allocator, kept, one block of each order
 *     allocated and freed, and a block realloc'ed from 300 KiB to 10 MiB and back;
 *   - a dump through kmm_stats_dump() in the middle, to the file named by argv[1];
 *   - a fork whose child allocates CHILD_OBJECTS more and exits: its own dump.
 *
 * Output: "live <n>" (objects of stats_test live at exit), "child_live <n>",
 * "call_live <n>" (live when kmm_stats_dump ran), "allocs <n>", "frees <n>" (of
 * stats_test, by the parent) and "pid <n>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kmm/kmm.h>

#define MAIN_OBJECTS     10000
#define THREAD_OBJECTS   3000
#define NR_THREADS       4
#define MAIN_TAIL        30 /* of these, the ones the main thread keeps are freed */
#define AFTER_TRIM       30
#define AFTER_TRIM_FREES 10
#define LATE_OBJECTS     50
#define LATE_FREES       10
#define CHILD_OBJECTS    100
#define VMALLOC_BYTES    (16UL << 20)

static struct kmm_cache *cache;
static void *main_objects[MAIN_OBJECTS];
static void *thread_objects[NR_THREADS][THREAD_OBJECTS];
static pthread_barrier_t allocated, freed;

#define FAIL(...)                                                \
	do {                                                     \
		fprintf(stderr, "stats_workload: " __VA_ARGS__); \
		fputc('\n', stderr);                             \
		exit(1);                                         \
	} while (0)

/* The main thread frees a third of its objects itself: these are the others. */
static bool main_keeps(int i)
{
	return i % 3 != 0;
}

/* Runs after kmm's own destructor (its key was created first): the thread is exiting. */
static void allocate_late(void *arg)
{
	void *late[LATE_OBJECTS];

	(void)arg;
	for (int i = 0; i < LATE_OBJECTS; i++)
		if (!(late[i] = kmm_cache_alloc(cache)))
			FAIL("kmm_cache_alloc failed in a destructor");
	for (int i = 0; i < LATE_FREES; i++)
		kmm_cache_free(cache, late[i]);
}

static void *set_late_destructor(void *arg)
{
	pthread_key_t *key = arg;

	pthread_setspecific(*key, key);
	return NULL;
}

static void *after_trim[AFTER_TRIM];

static void *free_after_trim(void *arg)
{
	for (int i = AFTER_TRIM - AFTER_TRIM_FREES; i < AFTER_TRIM; i++)
		kmm_cache_free(cache, after_trim[i]);
	return arg;
}

static void *allocate_and_exit(void *arg)
{
	void **objs = arg;

	for (int i = 0; i < THREAD_OBJECTS; i++) {
		objs[i] = kmm_cache_alloc(cache);
		if (!objs[i])
			FAIL("kmm_cache_alloc failed in a thread");
		memset(objs[i], 0x5a, 200);
	}
	if (objs == thread_objects[1])
		for (int i = MAIN_OBJECTS - MAIN_TAIL; i < MAIN_OBJECTS; i++)
			if (main_keeps(i))
				kmm_cache_free(cache, main_objects[i]);
	pthread_barrier_wait(&allocated);
	pthread_barrier_wait(&freed); /* the main thread freed into its active slab */
	return NULL;
}

int main(int argc, char **argv)
{
	void **objs = main_objects;
	pthread_t threads[NR_THREADS];
	long live = 0;
	void *area, *gone, *pages, *grown = NULL;
	int fd, status;
	pid_t child;

	if (argc != 2)
		FAIL("usage: stats_workload CALL_DUMP_FILE");
	cache = kmm_cache_create("stats_test", 200, 8, 0, NULL);
	if (!cache)
		FAIL("kmm_cache_create: %s", strerror(errno));
	for (int i = 0; i < MAIN_OBJECTS; i++) {
		objs[i] = kmm_cache_alloc(cache);
		if (!objs[i])
			FAIL("kmm_cache_alloc failed");
	}
	live += MAIN_OBJECTS;
	pthread_barrier_init(&allocated, NULL, NR_THREADS + 1);
	pthread_barrier_init(&freed, NULL, NR_THREADS + 1);
	for (int t = 0; t < NR_THREADS; t++)
		if (pthread_create(&threads[t], NULL, allocate_and_exit, thread_objects[t]) != 0)
			FAIL("pthread_create failed");
	pthread_barrier_wait(&allocated);
	live += NR_THREADS * THREAD_OBJECTS;
	for (int i = MAIN_OBJECTS - MAIN_TAIL; i < MAIN_OBJECTS; i++)
		live -= main_keeps(i);
	for (int t = 0; t < NR_THREADS; t++)
		for (int i = 0; i < THREAD_OBJECTS; i += t == 0 ? 1 : 2, live--)
			kmm_cache_free(cache, thread_objects[t][i]);
	pthread_barrier_wait(&freed);
	for (int t = 0; t < NR_THREADS; t++)
		pthread_join(threads[t], NULL);
	for (int i = 0; i < MAIN_OBJECTS; i += 3, live--)
		kmm_cache_free(cache, objs[i]);
	{
		pthread_key_t key;
		pthread_t late;

		if (pthread_key_create(&key, allocate_late) != 0 ||
		    pthread_create(&late, NULL, set_late_destructor, &key) != 0)
			FAIL("pthread_key_create or pthread_create failed");
		pthread_join(late, NULL);
		live += LATE_OBJECTS - LATE_FREES;
	}
	malloc_trim(0);
	for (int i = 0; i < AFTER_TRIM; i++)
		if (!(after_trim[i] = kmm_cache_alloc(cache)))
			FAIL("kmm_cache_alloc failed after malloc_trim");
	if (pthread_create(&threads[0], NULL, free_after_trim, NULL) != 0)
		FAIL("pthread_create failed");
	pthread_join(threads[0], NULL);
	live += AFTER_TRIM - AFTER_TRIM_FREES;

	area = kmm_vmalloc(VMALLOC_BYTES);
	gone = kmm_vmalloc(VMALLOC_BYTES / 2);
	pages = kmm_alloc_pages(5);
	if (!area || !gone || !pages)
		FAIL("kmm_vmalloc or kmm_alloc_pages failed");
	memset(area, 1, VMALLOC_BYTES);
	kmm_vfree(gone);
	/* Blocks of every order through the per-CPU lists and the zone, freed again. */
	for (unsigned int order = 0; order <= 10; order++)
		kmm_free_pages(kmm_alloc_pages(order), order);
	/* A block grown and shrunk in place, past the largest order and back. */
	for (size_t i = 0, sizes[] = {300 << 10, 1 << 20, 3 << 20, 10 << 20, 5 << 20, 300 << 10};
	     i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (!(grown = realloc(grown, sizes[i])))
			FAIL("realloc to %zu failed", sizes[i]);
	free(grown);

	if (kmm_stats_dump(1, "pagetypeinfo") != -1 || errno != EINVAL)
		FAIL("kmm_stats_dump with a bad list: expected -1 and EINVAL");
	if (kmm_stats_dump(-1, "buddyinfo") != -1 || errno != EBADF)
		FAIL("kmm_stats_dump to a closed descriptor: expected -1 and EBADF, got errno %d",
		     errno);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || kmm_stats_dump(fd, "slabinfo,meminfo,json") != 0)
		FAIL("kmm_stats_dump to %s: %s", argv[1], strerror(errno));
	close(fd);
	printf("call_live %ld\n", live);

	fflush(stdout);
	child = fork();
	if (child < 0)
		FAIL("fork: %s", strerror(errno));
	if (child == 0) {
		for (int i = 0; i < CHILD_OBJECTS; i++)
			if (!kmm_cache_alloc(cache))
				FAIL("kmm_cache_alloc failed in the child");
		exit(0); /* the child's dump, with CHILD_OBJECTS more objects live */
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("the child failed: status %d", status);
	printf("child_live %ld\n", live + CHILD_OBJECTS);
	printf("live %ld\n", live);
	printf("allocs %d\n",
	       MAIN_OBJECTS + NR_THREADS * THREAD_OBJECTS + LATE_OBJECTS + AFTER_TRIM);
	printf("frees %ld\n",
	       MAIN_OBJECTS + NR_THREADS * THREAD_OBJECTS + LATE_OBJECTS + AFTER_TRIM - live);
	printf("pid %d\n", (int)getpid());
	return 0;
}

/*
 * fork while other threads use stdio and allocate: the shape of glibc's
 * tst-malloc-fork-deadlock. Readers hold a FILE's lock while getline and getdelim grow
 * their buffer with realloc; flushers hold the stdio list lock in fflush(NULL) while they
 * wait for each FILE's lock; allocators churn every size class; the main thread forks.
 * glibc's fork takes the list lock after the atfork prepare handlers, so an allocator
 * whose prepare handler takes its own locks first closes a cycle of three and hangs
 * within a few rounds. The child allocates, uses stdio and checks the parent's data.
 */
#include "preload_test.h"

#include <pthread.h>
#include <stdint.h>

#define READERS    4
#define FLUSHERS   2
#define ALLOCATORS 2
#define ROUNDS     400
#define DEADLINE_S 90

static volatile int stop;
static char text[64 << 10];

/* Lines of every length up to 2 KiB: getline reallocs as it reads the long ones. */
static void make_text(void)
{
	size_t at = 0;

	for (unsigned int line = 0; at + 2100 < sizeof(text); line++) {
		size_t len = (line * 37) % 2048;

		memset(text + at, 'a' + (int)(line % 26), len);
		at += len;
		text[at++] = '\n';
	}
	text[at] = '\0';
}

static void *reader(void *arg)
{
	(void)arg;
	while (!stop) {
		FILE *f = fmemopen(text, strlen(text), "r");
		char *line = NULL;
		size_t cap = 0;

		CHECK(f != NULL, "fmemopen: %s", strerror(errno));
		for (int i = 0; getline(&line, &cap, f) > 0; i++)
			if (i % 8 == 0) { /* a fresh buffer, so the next getline allocates again */
				free(line);
				line = NULL;
				cap = 0;
			}
		free(line);
		fclose(f);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	(void)arg;
	while (!stop)
		fflush(NULL);
	return NULL;
}

static void *allocator(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	void *live[64] = {0};

	while (!stop) {
		unsigned int i = (unsigned int)rand_r(&seed) % 64;
		size_t size = (size_t)1 << ((unsigned int)rand_r(&seed) % 23);

		free(live[i]);
		live[i] = malloc(size);
		CHECK(live[i] != NULL, "malloc(%zu) failed", size);
		memset(live[i], (int)i, size < 4096 ? size : 4096);
	}
	for (int i = 0; i < 64; i++)
		free(live[i]);
	return NULL;
}

static void forking_process(void *arg)
{
	pthread_t threads[READERS + FLUSHERS + ALLOCATORS];
	char *parent_data = malloc(1 << 20);
	volatile long *rounds = shared_counter();
	int n = 0;

	(void)arg;
	pattern_fill(parent_data, 0, 1 << 20, 42);
	make_text();
	for (int i = 0; i < READERS; i++)
		pthread_create(&threads[n++], NULL, reader, NULL);
	for (int i = 0; i < FLUSHERS; i++)
		pthread_create(&threads[n++], NULL, flusher, NULL);
	for (int i = 0; i < ALLOCATORS; i++)
		pthread_create(&threads[n++], NULL, allocator, (void *)(uintptr_t)(i + 1));
	for (int round = 0; round < ROUNDS; round++) {
		int status;
		pid_t pid = fork();

		CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			char *line = NULL;
			size_t cap = 0;
			FILE *f = fmemopen(text, strlen(text), "r");

			for (int i = 0; i < 1000; i++)
				free(malloc((size_t)i * 7 + 1));
			free(malloc(8 << 20));
			if (!f || getline(&line, &cap, f) < 0)
				_exit(2);
			free(line);
			fclose(f);
			fflush(NULL);
			_exit(pattern_mismatch(parent_data, 0, 1 << 20, 42) == SIZE_MAX ? 0 : 3);
		}
		CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "fork round %d: expected the child to exit 0, got status %#x", round, status);
		*rounds = round + 1;
	}
	stop = 1;
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	free(parent_data);
}

int main(void)
{
	volatile long *rounds = shared_counter();
	int status = run_with_deadline(forking_process, NULL, DEADLINE_S);

	CHECK(status != -1,
	      "expected %d forks under %d stdio readers, %d fflush(NULL) loops and %d "
	      "allocators within %d s; the process hung after %ld",
	      ROUNDS, READERS, FLUSHERS, ALLOCATORS, DEADLINE_S, *rounds);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the forking process failed (status %#x) after %ld rounds", status, *rounds);
	printf("fork under stdio: %d forks while %d threads read lines, %d flush all streams "
	       "and %d allocate: passed\n",
	       ROUNDS, READERS, FLUSHERS, ALLOCATORS);
	return 0;
}

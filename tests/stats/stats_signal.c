/*
 * A busy multi-threaded program for the signal dump, run by test_stats.py under
 * LD_PRELOAD with KMM_STATS_SIGNAL and KMM_STATS_FILE:
 *
 *   - NR_WORKERS threads malloc, fill, check and free blocks of random sizes, and check
 *     that errno survives every signal that lands in their free and memset;
 *   - a churn thread keeps starting short-lived threads that allocate, free and exit,
 *     so the thread list changes under the dumps;
 *   - the main thread sends the dump signal (argv[2], a number) to a random worker,
 *     waits until the dump is in the statistics file, and sends the next: each signal
 *     lands on a thread that is busy allocating. KMM_STATS must end with json, whose
 *     one line closes each dump.
 *
 * Prints "signals <sent> dumps <arrived>". argv[1]: seconds; argv[2] 0 sends no signal
 * (for KMM_STATS_INTERVAL runs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NR_WORKERS 6 /* more threads than the machine's CPUs */
#define SLOTS      512

static volatile int stop;

#define FAIL(...)                                              \
	do {                                                   \
		fprintf(stderr, "stats_signal: " __VA_ARGS__); \
		fputc('\n', stderr);                           \
		exit(1);                                       \
	} while (0)

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *worker(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	unsigned char *slot[SLOTS] = {0};
	size_t size[SLOTS] = {0};

	while (!stop) {
		unsigned int i = (unsigned int)(xorshift(&seed) % SLOTS);
		size_t new_size = 1 + xorshift(&seed) % (xorshift(&seed) % 8 ? 512 : 65536);
		unsigned char *block = malloc(new_size);

		if (!block)
			FAIL("malloc(%zu) failed", new_size);
		if (slot[i])
			for (size_t b = 0; b < size[i]; b += 61)
				if (slot[i][b] != (unsigned char)(i + size[i]))
					FAIL("block %u corrupted", i);
		/* free() keeps errno, and so must a dump that interrupts it or memset. */
		errno = EDOM;
		free(slot[i]);
		memset(block, (unsigned char)(i + new_size), new_size);
		if (errno != EDOM)
			FAIL("errno changed across free and memset: expected %d, got %d", EDOM,
			     errno);
		slot[i] = block;
		size[i] = new_size;
	}
	for (int i = 0; i < SLOTS; i++)
		free(slot[i]);
	return NULL;
}

static void *short_lived(void *arg)
{
	void *blocks[64];

	for (int round = 0; round < 16; round++) {
		for (int i = 0; i < 64; i++)
			if (!(blocks[i] = malloc(16 + (size_t)i * 24)))
				FAIL("malloc failed in a short-lived thread");
		for (int i = 0; i < 64; i++)
			free(blocks[i]);
	}
	return arg;
}

static void *churn(void *arg)
{
	while (!stop) {
		pthread_t t;

		if (pthread_create(&t, NULL, short_lived, NULL) != 0)
			FAIL("pthread_create failed");
		pthread_join(t, NULL);
	}
	return arg;
}

static long file_size(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Whether the file at @path ends with the end of a JSON line, as a whole dump does. */
static bool ends_with_dump(const char *path)
{
	char tail[2] = {0};
	FILE *f = fopen(path, "r");
	bool whole;

	if (!f)
		return false;
	whole = fseek(f, -2, SEEK_END) == 0 && fread(tail, 1, 2, f) == 2 && tail[0] == '}' &&
	        tail[1] == '\n';
	fclose(f);
	return whole;
}

/*
 * Wait up to 5 s for a whole dump more in the statistics file than @size bytes. The
 * size alone would not do: a file grows page by page while a write copies into it,
 * and a signal sent then would land in the same dump as the one before (a pending
 * signal is one, however many were sent).
 */
static bool dump_arrived(const char *path, long size)
{
	struct timespec tick = {0, 1000 * 1000};

	for (double deadline = now_s() + 5; now_s() < deadline; nanosleep(&tick, NULL))
		if (file_size(path) > size && ends_with_dump(path))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	pthread_t threads[NR_WORKERS], churner;
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	int sig = argc > 2 ? atoi(argv[2]) : SIGUSR2;
	const char *path = getenv("KMM_STATS_FILE");
	struct timespec gap = {0, 5 * 1000 * 1000};
	long sent = 0, arrived = 0;
	uint64_t seed = 42;

	for (long t = 0; t < NR_WORKERS; t++)
		if (pthread_create(&threads[t], NULL, worker, (void *)t) != 0)
			FAIL("pthread_create failed");
	if (pthread_create(&churner, NULL, churn, NULL) != 0)
		FAIL("pthread_create failed");
	for (double end = now_s() + seconds; now_s() < end; nanosleep(&gap, NULL)) {
		long size = file_size(path);

		if (!sig)
			continue;
		pthread_kill(threads[xorshift(&seed) % NR_WORKERS], sig);
		sent++;
		arrived += dump_arrived(path, size);
	}
	stop = 1;
	for (int t = 0; t < NR_WORKERS; t++)
		pthread_join(threads[t], NULL);
	pthread_join(churner, NULL);
	printf("signals %ld dumps %ld\n", sent, arrived);
	return 0;
}

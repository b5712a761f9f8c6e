/*
 * A busy multi-threaded program for the signal dump: NR_WORKERS threads malloc, fill,
 * check and free blocks of random sizes for the given seconds, while the main thread
 * sends the dump signal (argv[2], a number) to a random worker every 10 ms, so that it
 * lands inside malloc and free most of the time. Run by test_stats.py under
 * LD_PRELOAD with KMM_STATS_SIGNAL; it must finish and print "signals <n>".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NR_WORKERS 6 /* more threads than the machine's CPUs */
#define SLOTS      512

static volatile int stop;

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	unsigned char *slot[SLOTS] = {0};
	size_t size[SLOTS] = {0};

	while (!stop) {
		unsigned int i = (unsigned int)(xorshift(&seed) % SLOTS);

		if (slot[i]) {
			for (size_t b = 0; b < size[i]; b += 61)
				if (slot[i][b] != (unsigned char)(i + size[i])) {
					fprintf(stderr, "stats_signal: block %u corrupted\n", i);
					exit(1);
				}
			free(slot[i]);
		}
		size[i] = 1 + xorshift(&seed) % (xorshift(&seed) % 8 ? 512 : 65536);
		slot[i] = malloc(size[i]);
		if (!slot[i]) {
			fprintf(stderr, "stats_signal: malloc(%zu) failed\n", size[i]);
			exit(1);
		}
		memset(slot[i], (unsigned char)(i + size[i]), size[i]);
	}
	for (int i = 0; i < SLOTS; i++)
		free(slot[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[NR_WORKERS];
	struct timespec gap = {0, 10 * 1000 * 1000};
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	int sig = argc > 2 ? atoi(argv[2]) : SIGUSR2;
	long sent = 0;
	uint64_t seed = 42;

	for (long t = 0; t < NR_WORKERS; t++)
		if (pthread_create(&threads[t], NULL, worker, (void *)t) != 0) {
			fprintf(stderr, "stats_signal: pthread_create failed\n");
			return 1;
		}
	for (long n = (long)(seconds * 100); n > 0; n--, sent++) {
		nanosleep(&gap, NULL);
		pthread_kill(threads[xorshift(&seed) % NR_WORKERS], sig);
	}
	stop = 1;
	for (int t = 0; t < NR_WORKERS; t++)
		pthread_join(threads[t], NULL);
	printf("signals %ld\n", sent);
	return 0;
}

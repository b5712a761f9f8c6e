/*
 * fork in a loop while threads allocate, touch and free blocks of 1-13 MiB: page
 * reporting and vmalloc's purge run all the time, and fork must take their locks in the
 * same order as they do (a wrong order deadlocks within seconds).
 */
#include "preload_test.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>

static volatile int stop;

static void *churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!stop) {
		size_t n = (1 << 20) + (size_t)rand_r(&seed) % (12 << 20);
		char *p = malloc(n);

		CHECK(p != NULL, "malloc(%zu) failed", n);
		memset(p, 1, n);
		free(p);
	}
	return NULL;
}

int main(void)
{
	pthread_t threads[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&threads[i], NULL, churn, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < 400; i++) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			free(malloc(3 << 20));
			_exit(0);
		}
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		              WEXITSTATUS(status) == 0,
		      "fork %d: child status %#x", i, status);
	}
	stop = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	printf("fork churn: 400 forks under 4 threads freeing multi-MiB blocks passed\n");
	return 0;
}

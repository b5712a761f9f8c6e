/*
 * The first malloc of the process comes from a library constructor, before kmm's: the
 * block must land in its own size class's per-thread state, so that a fork from another
 * thread, thread exits and pthread_exit from main all work afterwards.
 */
#include "preload_test.h"

#include <pthread.h>
#include <sys/wait.h>

extern void *early_block;

static void *fork_from_thread(void *arg)
{
	pid_t pid = fork();
	int status;

	(void)arg;
	if (pid == 0) {
		void *p = malloc(472);

		free(p);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "a fork child after an early allocation died: status %#x", status);
	return NULL;
}

static void *allocate_and_exit(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		free(malloc((size_t)(i % 600) + 1));
	return NULL;
}

int main(void)
{
	pthread_t t;

	CHECK(((unsigned char *)early_block)[471] == 0x5a, "the early block was overwritten");
	for (int i = 0; i < 4; i++) {
		pthread_create(&t, NULL, fork_from_thread, NULL);
		pthread_join(t, NULL);
		pthread_create(&t, NULL, allocate_and_exit, NULL);
		pthread_join(t, NULL);
	}
	free(early_block);
	printf("early constructor: passed\n");
	fflush(stdout);
	pthread_exit(NULL); /* main's own thread-exit path, with the early slab in it */
}

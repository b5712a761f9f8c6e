/*
 * fork from a SIGALRM handler that interrupts malloc and free, in a single-threaded
 * process: the shape of glibc's tst-mallocfork2, which glibc supports. A timer fires
 * every 200 µs while the program allocates and frees in a tight loop, across the size
 * classes, the page allocator and vmalloc, so the handler lands inside the allocator,
 * with its locks held, thousands of times. The handler forks. The parent must not wait
 * for a lock the interrupted code holds; in the child the interrupted call must finish
 * when the handler returns, and the child then allocates and checks its data.
 */
#include "preload_test.h"

#include <stdint.h>
#include <sys/time.h>

#define FORKS      3000
#define DEADLINE_S 90
#define NR_LIVE    256

static volatile sig_atomic_t in_child;
static volatile sig_atomic_t forks, children;
/*
 * Set by each round of the loop, cleared by a fork: at most one fork a round, so a
 * machine where fork takes longer than the timer's period does not spend all its time
 * in the handler (signals pending on return) and leave unreaped children behind.
 */
static volatile sig_atomic_t round_done;

static void on_alarm(int sig)
{
	int saved = errno;
	pid_t pid;

	(void)sig;
	if (in_child || !round_done)
		return;
	round_done = 0;
	pid = fork();
	if (pid == 0) {
		in_child = 1;
	} else if (pid > 0) {
		forks++;
		children++;
	}
	errno = saved;
}

static size_t block_size(unsigned int r)
{
	switch (r % 16) {
	case 0:
		return (size_t)(64 << 10) + r % 4096; /* the page allocator */
	case 1:
		return (size_t)(5 << 20) + r % 65536; /* vmalloc */
	default:
		return 1 + r % 2048; /* the slab caches */
	}
}

/* The child: the interrupted call has finished; the heap must be whole and usable. */
static __attribute__((noreturn)) void child_checks(void **live, size_t *sizes)
{
	for (int i = 0; i < NR_LIVE; i++)
		if (live[i] && pattern_mismatch(live[i], 0, sizes[i] < 256 ? sizes[i] : 256,
		                                (uint64_t)i) != SIZE_MAX)
			_exit(3);
	for (int i = 0; i < 200; i++) {
		size_t size = block_size((unsigned int)i * 2654435761u);
		char *p = malloc(size);

		if (!p)
			_exit(4);
		memset(p, 1, size < 4096 ? size : 4096);
		free(p);
	}
	_exit(0);
}

static void reap(int options)
{
	int status;
	pid_t pid;

	while (children && (pid = waitpid(-1, &status, options)) > 0) {
		children--;
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "a child forked from the signal handler: expected exit 0, got status %#x "
		      "(3: its heap lost the parent's data, 4: malloc failed)",
		      status);
	}
}

static void forking_process(void *arg)
{
	static void *live[NR_LIVE];
	static size_t sizes[NR_LIVE];
	struct sigaction sa = {.sa_handler = on_alarm};
	struct itimerval every = {{0, 200}, {0, 200}};
	volatile long *progress = shared_counter();
	unsigned int seed = 1;

	(void)arg;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction: %s", strerror(errno));
	CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0, "setitimer: %s", strerror(errno));
	while (forks < FORKS) {
		unsigned int i = (unsigned int)rand_r(&seed) % NR_LIVE;
		size_t size;
		void *block;

		free(live[i]);
		live[i] = NULL;
		if (in_child)
			child_checks(live, sizes);
		size = block_size((unsigned int)rand_r(&seed));
		block = malloc(size);
		if (in_child)
			child_checks(live, sizes);
		CHECK(block != NULL, "malloc(%zu) failed", size);
		/* Only a filled block goes in the table the child checks. */
		pattern_fill(block, 0, size < 256 ? size : 256, (uint64_t)i);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		sizes[i] = size;
		live[i] = block;
		*progress = forks;
		round_done = 1;
		if (children > 16)
			reap(0);
	}
	setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL);
	reap(0);
}

int main(void)
{
	volatile long *progress = shared_counter();
	int status = run_with_deadline(forking_process, NULL, DEADLINE_S);

	CHECK(status != -1,
	      "expected %d forks from a SIGALRM handler that interrupts malloc and free "
	      "within %d s; the process hung after %ld",
	      FORKS, DEADLINE_S, *progress);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the forking process failed (status %#x) after %ld forks", status, *progress);
	printf("fork from a signal handler: %d forks interrupting malloc and free: passed\n",
	       FORKS);
	return 0;
}

/*
 * Helpers for the C programs that test the malloc API under LD_PRELOAD=libkmm.so:
 * position-dependent fill patterns, barriers that keep the compiler from reasoning
 * about the allocations under test, and a forked child whose output and fate are
 * captured. The programs do not link kmm, so they run against the C library's malloc
 * just as well.
 */
#ifndef KMM_TESTS_PRELOAD_TEST_H
#define KMM_TESTS_PRELOAD_TEST_H

#include "../test.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

/* The value passes through an empty asm: sizes stay unknown, pointers escape. */
static inline size_t opaque(size_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

static inline void *opaque_ptr(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

/* kmm is the allocator in this process (its own API is in the global scope). */
static inline int under_kmm(void)
{
	return dlsym(RTLD_DEFAULT, "kmm_kmalloc") != NULL;
}

/*
 * Byte i of a block filled for @seed is byte (i % 8) of pattern_word(seed, i / 8): the
 * value depends on the position in the block, so a block moved by realloc, two blocks
 * that overlap or a stale copy all show up as a mismatch.
 */
static inline uint64_t pattern_word(uint64_t seed, size_t word)
{
	uint64_t x = seed ^ ((word + 1) * 0x9e3779b97f4a7c15ull);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x;
}

static inline unsigned char pattern_byte(uint64_t seed, size_t i)
{
	return (unsigned char)(pattern_word(seed, i / 8) >> (8 * (i % 8)));
}

static inline void pattern_fill(void *block, size_t from, size_t to, uint64_t seed)
{
	unsigned char *b = block;
	size_t i = from;

	for (; i < to && i % 8; i++)
		b[i] = pattern_byte(seed, i);
	for (; i + 8 <= to; i += 8) {
		uint64_t w = pattern_word(seed, i / 8);

		memcpy(b + i, &w, 8);
	}
	for (; i < to; i++)
		b[i] = pattern_byte(seed, i);
}

/* The first offset in [from, to) that does not hold the pattern, or SIZE_MAX. */
static inline size_t pattern_mismatch(const void *block, size_t from, size_t to, uint64_t seed)
{
	const unsigned char *b = block;
	size_t i = from;

	for (; i < to && i % 8; i++)
		if (b[i] != pattern_byte(seed, i))
			return i;
	for (; i + 8 <= to; i += 8) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		if (w != pattern_word(seed, i / 8))
			break;
	}
	for (; i < to; i++)
		if (b[i] != pattern_byte(seed, i))
			return i;
	return SIZE_MAX;
}

#define CHECK_PATTERN(block, from, to, seed, what)                                          \
	do {                                                                                \
		const unsigned char *b_ = (const void *)(block);                            \
		size_t at_ = pattern_mismatch(b_, (from), (to), (seed));                    \
		CHECK(at_ == SIZE_MAX,                                                      \
		      "%s: block %p, bytes [%zu, %zu) should hold their pattern: byte %zu " \
		      "expected %#x, got %#x",                                              \
		      (what), (const void *)b_, (size_t)(from), (size_t)(to), at_,          \
		      pattern_byte((seed), at_), b_[at_]);                                  \
	} while (0)

/* The first nonzero byte of [0, len), or SIZE_MAX. */
static inline size_t first_nonzero(const void *block, size_t len)
{
	const unsigned char *b = block;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		if (w)
			break;
	}
	for (; i < len; i++)
		if (b[i])
			return i;
	return SIZE_MAX;
}

static inline int count_lines(const char *s)
{
	int lines = 0;

	for (; *s; s++)
		lines += *s == '\n';
	return lines;
}

/* @text holds "0x" followed by the hexadecimal value of @p (leading zeros allowed). */
static inline int mentions_pointer(const char *text, const void *p)
{
	for (const char *c = strstr(text, "0x"); c; c = strstr(c + 2, "0x"))
		if (strtoull(c + 2, NULL, 16) == (unsigned long long)(uintptr_t)p)
			return 1;
	return 0;
}

/*
 * Run @fn(@arg) in a forked child with stdout and stderr captured into @out (no core
 * file when it aborts); returns the wait status. A child that returns from @fn exits 0.
 */
static inline int run_in_child(void (*fn)(void *), void *arg, char *out, size_t outlen)
{
	int pipefd[2];
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	CHECK(pipe(pipefd) == 0, "pipe: %s", strerror(errno));
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit no_core = {0, 0};

		/* Gone with the parent (killed at a timeout, say), not left behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setrlimit(RLIMIT_CORE, &no_core);
		/* glibc's fatal messages go to stderr, not the terminal. */
		setenv("LIBC_FATAL_STDERR_", "1", 1);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		fn(arg);
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}
	close(pipefd[1]);
	return collect_child(pipefd[0], pid, out, outlen);
}

/*
 * Run @fn(@arg) in a forked child, in a process group of its own, and give it @seconds:
 * a child still running then is killed with every process it forked, and the result
 * is -1, so a deadlock is a failure with a message instead of a hang. Otherwise the
 * result is the child's wait status. Progress that the failure message should report
 * goes through shared_counter(), which parent and child both see.
 */
static inline int run_with_deadline(void (*fn)(void *), void *arg, int seconds)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fn(arg);
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}
	setpgid(pid, pid);
	for (int waited_ms = 0; waited_ms < seconds * 1000; waited_ms += 10) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		CHECK(got >= 0, "waitpid: %s", strerror(errno));
		if (got == pid)
			return status;
		usleep(10000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* A counter in memory that a forked child shares with its parent (not from malloc). */
static inline volatile long *shared_counter(void)
{
	static volatile long *counter;

	if (!counter) {
		counter =
		        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		CHECK(counter != MAP_FAILED, "mmap: %s", strerror(errno));
	}
	return counter;
}

#endif /* KMM_TESTS_PRELOAD_TEST_H */

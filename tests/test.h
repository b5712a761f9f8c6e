/*
 * A minimal test harness: CHECK macros that print what was expected and what was got,
 * and helpers to re-run the test binary as a child with another environment (for what
 * happens at initialization, or what aborts).
 */
#ifndef KMM_TESTS_TEST_H
#define KMM_TESTS_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
			exit(1);                                                                 \
		}                                                                                \
	} while (0)

#define CHECK_EQ(expected, got)                                                                \
	do {                                                                                   \
		long long e_ = (long long)(expected), g_ = (long long)(got);                   \
		CHECK(e_ == g_, "expected %s = %lld, got %s = %lld", #expected, e_, #got, g_); \
	} while (0)

#define CHECK_STR_CONTAINS(haystack, needle)                                                       \
	CHECK(strstr((haystack), (needle)) != NULL, "expected output containing \"%s\", got:\n%s", \
	      (needle), (haystack))

/*
 * Read a child's output from @fd into @out until it closes (or @out is full), then reap
 * the child. Returns its wait status.
 */
static inline int collect_child(int fd, pid_t pid, char *out, size_t outlen)
{
	size_t used = 0;
	int status;

	for (;;) {
		ssize_t n = read(fd, out + used, outlen - 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == outlen - 1)
			break;
	}
	out[used] = '\0';
	close(fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/*
 * Run /proc/self/exe with @args (NULL-terminated, not counting argv[0]) and the extra
 * environment entries @env (NULL-terminated "NAME=value"), capturing stdout and stderr
 * into @out. Returns the wait status.
 */
static inline int run_self(char *const args[], char *const env[], char *out, size_t outlen)
{
	int pipefd[2];
	pid_t pid;

	if (pipe(pipefd) != 0)
		abort();
	pid = fork();
	if (pid == 0) {
		char *argv[32] = {"self"};
		int n = 1;

		for (; args && args[n - 1] && n < 31; n++)
			argv[n] = args[n - 1];
		argv[n] = NULL;
		for (; env && *env; env++)
			putenv(*env);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(pipefd[1]);
	return collect_child(pipefd[0], pid, out, outlen);
}

/* A field of /proc/self/status in kB, e.g. "RssAnon:". */
static inline long proc_status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return kb;
}

/*
 * The line starting with @field ("Rss:", "VmFlags:") of the mapping that contains @addr,
 * from /proc/self/smaps; empty when there is none.
 */
static inline void smaps_line(const void *addr, const char *field, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int inside = 0;

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			inside = (unsigned long)addr >= lo && (unsigned long)addr < hi;
		else if (inside && strncmp(line, field, strlen(field)) == 0) {
			size_t n = strlen(line) < len ? strlen(line) : len - 1;

			memcpy(out, line, n);
			out[n] = '\0';
		}
	}
	if (f)
		fclose(f);
}

#endif /* KMM_TESTS_TEST_H */

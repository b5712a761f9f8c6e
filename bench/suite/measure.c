/*
 * Runs a command and reports its wall-clock time and peak resident set:
 *
 *   kmm_bench_measure RESULT_FILE [--preload=LIBRARY] -- COMMAND [ARG...]
 *
 * RESULT_FILE gets one line, "SECONDS PEAK_RSS_KIB STATUS", STATUS being the exit code
 * or minus the signal that ended the command. The peak is wait4's ru_maxrss: the
 * command's and that of the children it waited for (gcc's cc1).
 *
 * bench.py cannot take these from its own wait4: Linux carries the resident set of the
 * image a process replaces into its maxrss at execve, so a command started from Python
 * would count the interpreter's pages as its own. This program is small, and the
 * command is forked from it. --preload sets LD_PRELOAD for the command only, so this
 * program does not start the allocator under test itself.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *result_path, *preload = NULL;
	struct rusage usage;
	double start, seconds;
	int status, arg = 2;
	FILE *result;
	pid_t child;

	if (argc < 4)
		goto usage;
	result_path = argv[1];
	if (strncmp(argv[arg], "--preload=", 10) == 0)
		preload = argv[arg++] + 10;
	if (strcmp(argv[arg++], "--") != 0 || arg >= argc)
		goto usage;

	start = now_seconds();
	child = fork();
	if (child < 0) {
		perror("fork");
		return 127;
	}
	if (child == 0) {
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		execvp(argv[arg], argv + arg);
		fprintf(stderr, "%s: cannot run %s: %m\n", argv[0], argv[arg]);
		_exit(127);
	}
	if (wait4(child, &status, 0, &usage) < 0) {
		perror("wait4");
		return 127;
	}
	seconds = now_seconds() - start;

	result = fopen(result_path, "w");
	if (!result) {
		perror(result_path);
		return 127;
	}
	fprintf(result, "%.6f %ld %d\n", seconds, usage.ru_maxrss,
	        WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	return fclose(result) == 0 ? 0 : 127;

usage:
	fprintf(stderr, "usage: %s RESULT_FILE [--preload=LIBRARY] -- COMMAND [ARG...]\n", argv[0]);
	return 2;
}

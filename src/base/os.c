/*
 * Operating-system primitives; see os.h for the contract.
 */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

/*
 * MAP_FIXED_NOREPLACE (Linux 4.17) fails with EEXIST where anything is mapped already;
 * an older kernel takes the flag for a hint and may place the mapping elsewhere, which
 * is the same answer.
 */
static int map_at(void *addr, size_t size, int flags)
{
	void *got = mmap(addr, size, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | flags, -1, 0);

	if (got == addr)
		return 0;
	if (got != MAP_FAILED) {
		munmap(got, size);
		return -EEXIST;
	}
	return errno == EEXIST ? -EEXIST : -ENOMEM;
}

int os_map_at(void *addr, size_t size)
{
	return map_at(addr, size, 0);
}

static unsigned int helper_threads; /* running now */
static bool helper_threads_ever;    /* inherited by fork children */

int os_start_helper_thread(void *(*fn)(void *), size_t stack_bytes)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t thread;
	int err;

	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, stack_bytes);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&thread, &attr, fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!err) {
		__atomic_add_fetch(&helper_threads, 1, __ATOMIC_RELAXED);
		WRITE_ONCE(helper_threads_ever, true);
	}
	return err;
}

int os_start_raw_thread(int (*fn)(void *), void *arg, size_t stack_bytes)
{
	const int flags =
	        CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
	char *stack = os_map(stack_bytes);
	sigset_t all, old;
	int tid;

	if (!stack)
		return -ENOMEM;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	tid = clone(fn, stack + stack_bytes, flags, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (tid < 0) {
		int err = -errno;

		os_unmap(stack, stack_bytes);
		return err;
	}
	__atomic_add_fetch(&helper_threads, 1, __ATOMIC_RELAXED);
	WRITE_ONCE(helper_threads_ever, true);
	return 0;
}

void os_helper_threads_gone(void)
{
	helper_threads = 0;
}

/* Field 20 of /proc/self/stat, past the command name (which may hold spaces), or 0. */
static long thread_count(void)
{
	char buf[512], *p;
	long n = os_read_file("/proc/self/stat", buf, sizeof(buf) - 1);
	int field = 2;

	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	for (; p && *p && field < 20; p++)
		if (*p == ' ')
			field++;
	return p ? strtol(p, NULL, 10) : 0;
}

bool os_only_helper_threads(void)
{
	if (!READ_ONCE(helper_threads_ever))
		return false;
	return thread_count() == 1 + (long)READ_ONCE(helper_threads);
}

bool os_address_space_limited(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

int os_map_hugetlb_at(void *addr, size_t size)
{
	return map_at(addr, size, MAP_HUGETLB | MAP_HUGE_2MB);
}

int os_move(void *from, size_t size, void *to)
{
	/* MREMAP_DONTUNMAP keeps @from mapped, so no other mapping can land in the hole. */
	if (mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to) ==
	    MAP_FAILED)
		return -1;
	return 0;
}

int os_random(void *buf, size_t len)
{
	return syscall(SYS_getrandom, buf, len, GRND_NONBLOCK) == (long)len ? 0 : -1;
}

void *os_map_zeroes(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *os_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *os_map_sparse(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void os_unmap(void *addr, size_t size)
{
	munmap(addr, size);
}

int os_advise_hugepage(void *addr, size_t size)
{
	return madvise(addr, size, MADV_HUGEPAGE);
}

int os_advise_wipeonfork(void *addr, size_t size)
{
	return madvise(addr, size, MADV_WIPEONFORK);
}

int os_release(void *addr, size_t size)
{
	return madvise(addr, size, MADV_DONTNEED);
}

int os_mbind(void *addr, size_t size, int mode, int node)
{
	unsigned long nodemask[KMM_MAX_NUMNODES / (8 * sizeof(unsigned long))] = {0};
	const unsigned long bits = 8 * sizeof(unsigned long);

	if (node < 0 || node >= KMM_MAX_NUMNODES)
		return -1;
	nodemask[node / bits] = 1UL << (node % bits);
	return (int)syscall(SYS_mbind, addr, size, mode, nodemask, KMM_MAX_NUMNODES + 1, 0);
}

/*
 * File I/O uses raw syscalls: the libc wrappers are cancellation points, and a thread
 * cancelled inside initialization would leave kmm's init lock held forever.
 */
long os_read_file(const char *path, char *buf, size_t size)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done + 1 < size) {
		long n = syscall(SYS_read, fd, buf + done, size - 1 - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	syscall(SYS_close, fd);
	buf[done] = '\0';
	return (long)done;
}

uint64_t os_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int os_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		long n = syscall(SYS_write, fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int os_process_mempolicy(void)
{
	int mode = KMM_MPOL_DEFAULT;

	if (syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0) != 0)
		return KMM_MPOL_DEFAULT;
	return mode;
}

void os_yield(void)
{
	sched_yield();
}

/*
 * The futex calls keep errno: a lock taken inside free() must not change it, and a wait
 * fails with EAGAIN whenever the lock word moved first.
 */
void os_futex_wait(int *word, int expected)
{
	int saved_errno = errno;

	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
	errno = saved_errno;
}

void os_futex_wake_one(int *word)
{
	int saved_errno = errno;

	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = saved_errno;
}

/* Parses "0-3,8,10-11" and returns the highest id + 1, or 0 when nothing parses. */
static unsigned int highest_in_cpulist(const char *s)
{
	unsigned int highest = 0, value = 0;
	bool in_number = false;

	for (;; s++) {
		if (*s >= '0' && *s <= '9') {
			value = value * 10 + (unsigned int)(*s - '0');
			in_number = true;
			continue;
		}
		if (in_number && value + 1 > highest)
			highest = value + 1;
		value = 0;
		in_number = false;
		if (*s == '\0')
			return highest;
	}
}

unsigned int os_nr_possible_cpus(void)
{
	char buf[256];
	unsigned int n = 0;

	if (os_read_file("/sys/devices/system/cpu/possible", buf, sizeof(buf)) > 0)
		n = highest_in_cpulist(buf);
	if (n == 0) {
		long conf = sysconf(_SC_NPROCESSORS_CONF);

		n = conf > 0 ? (unsigned int)conf : 1;
	}
	return n;
}

/* Without rseq (glibc.pthread.rseq=0): glibc's sched_getcpu, a vDSO call. */
unsigned int __os_current_cpu_slow(void)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? 0 : (unsigned int)cpu;
}

uint64_t os_wall_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int os_open_append(const char *path)
{
	int fd;

	do
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	while (fd < 0 && errno == EINTR);
	return fd;
}

void os_close(int fd)
{
	close(fd);
}

int os_getpid(void)
{
	return (int)syscall(SYS_getpid);
}

void os_sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	                      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * The kernel raises SIGPIPE for a write to a pipe nobody reads. With it blocked the
 * write fails with EPIPE and the signal stays pending: if it was not pending before,
 * take it off again before unblocking, so it is never delivered.
 */
void os_sigpipe_block(struct os_sigpipe_state *state)
{
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	state->was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe, &state->old_mask);
}

void os_sigpipe_restore(const struct os_sigpipe_state *state)
{
	static const struct timespec no_wait;
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	if (!state->was_pending && sigismember(&pending, SIGPIPE) == 1)
		while (sigtimedwait(&pipe, NULL, &no_wait) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &state->old_mask, NULL);
}

long os_getcwd(char *buf, size_t size)
{
	return syscall(SYS_getcwd, buf, size);
}

int os_catch_signal(int sig, void (*handler)(int))
{
	struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

int os_nr_signals(void)
{
	return SIGRTMAX + 1;
}

int os_dup_high(int fd, int lowest)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, lowest);
}

uint64_t os_fd_identity(int fd)
{
	struct stat st;

	/* Raw: kmm's raw threads ask too, and may not write errno. */
	if (os_raw_syscall(SYS_fstat, fd, &st, 0) != 0)
		return 0;
	return ((uint64_t)st.st_dev << 32) ^ (uint64_t)st.st_ino ^ 1;
}

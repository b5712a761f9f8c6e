/*
 * Operating-system primitives. Every syscall libkmm makes goes through this file, so
 * the contract with the kernel is written down in one place:
 *
 *  - nothing here allocates or touches libc's malloc, stdio or locale state;
 *  - failures return an error value and leave errno as the kernel set it; callers that
 *    must preserve errno (the C library's free) save it themselves;
 *  - memory is always private and anonymous, so fork keeps copy-on-write semantics.
 */
#ifndef KMM_BASE_OS_H
#define KMM_BASE_OS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/rseq.h>

#include "compiler.h"

#define PAGE_SHIFT  12
#define PAGE_SIZE   (1UL << PAGE_SHIFT)

#define HPAGE_SHIFT 21 /* 2 MiB, x86_64 PMD */
#define HPAGE_SIZE  (1UL << HPAGE_SHIFT)

/* mbind/get_mempolicy modes (linux/mempolicy.h), spelled out: no libnuma at run time. */
#define KMM_MPOL_DEFAULT   0
#define KMM_MPOL_PREFERRED 1
#define KMM_MPOL_BIND      2
#define KMM_MPOL_F_ADDR    (1 << 1)
#define KMM_MAX_NUMNODES   1024

/*
 * Map [addr, addr + size) readable and writable, private and anonymous, exactly at
 * @addr and only if nothing is mapped there yet (kmm's address ranges are chosen, not
 * reserved: see mm_init.c). This is where the kernel charges RLIMIT_AS and, under
 * vm.overcommit_memory=2, the commit limit; pages cost memory only when touched.
 * 0; -EEXIST when another mapping holds part of the range; -ENOMEM when a limit says no.
 */
int os_map_at(void *addr, size_t size);

/*
 * Threads kmm itself starts (the fault handler, the snapshot thread) take no allocator
 * lock that a fork must wait for, but they make glibc's __libc_single_threaded false for
 * good, in fork children too. os_start_helper_thread() starts and counts one; in a
 * process that ever had one, os_only_helper_threads() says whether every thread but the
 * caller is one of them (from /proc/self/stat: async-signal-safe, a fork from a signal handler
 * asks); a fork child, which has none, calls os_helper_threads_gone().
 */
bool os_only_helper_threads(void);
void os_helper_threads_gone(void);

/*
 * Start one of kmm's helper threads, detached, on a stack of @stack_bytes, with every
 * signal blocked (a handler run there could touch memory that only the thread serves, or
 * find kmm's state mid-update), and count it. 0, or pthread_create's error.
 */
int os_start_helper_thread(void *(*fn)(void *), size_t stack_bytes);

/*
 * Start a thread that glibc does not know of (clone with a stack of kmm's own), with
 * every signal blocked, and count it as a helper: it runs @fn(@arg) until the process
 * exits. It has no TLS of its own and shares the creator's, so @fn may not use errno,
 * glibc's thread state or anything that allocates: only os_raw_syscall and memory
 * kmm's helpers own. In return it needs no allocation to start (a fork child starts
 * one before any lock of kmm's is usable again), leaves __libc_single_threaded as it
 * was, and is left alone by glibc's set-id broadcast. 0 or a negative errno.
 */
int os_start_raw_thread(int (*fn)(void *), void *arg, size_t stack_bytes);

/* A system call that writes no errno: the only kind a raw thread may make. */
static inline long os_raw_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}

#define os_raw_syscall(nr, a, b, c) os_raw_syscall6(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)

/* Whether the process has an address-space limit (RLIMIT_AS, ulimit -v). */
bool os_address_space_limited(void);

/*
 * The same from the hugetlb pool (MAP_HUGETLB, 2 MiB pages). Without MAP_NORESERVE the
 * kernel takes the pool reservation now, so this process's first touch of a page never
 * raises SIGBUS (after fork, copy-on-write needs free pages beyond the reservation: see
 * mm_init.c). -ENOMEM when the pool cannot cover @size.
 */
int os_map_hugetlb_at(void *addr, size_t size);

/*
 * Move the pages of [from, from + size) to @to (where nothing else is) without
 * copying them (mremap). @from stays mapped, empty, until the caller unmaps it. 0, or -1.
 */
int os_move(void *from, size_t size, void *to);

/* Fill @buf with random bytes from the kernel (getrandom); 0, or -1. */
int os_random(void *buf, size_t len);

/* @size bytes of ordinary private memory for kmm's own metadata; NULL on failure. */
void *os_map(size_t size);

/* The same for a large table touched only where used: not counted against the commit limit. */
void *os_map_sparse(size_t size);

/* @size bytes that read as zero and cannot be written (no memory, no commit charge). */
void *os_map_zeroes(size_t size);

void os_unmap(void *addr, size_t size);

/* Ask for transparent huge pages on a range (MADV_HUGEPAGE). */
int os_advise_hugepage(void *addr, size_t size);

/* Have a fork child get zeros for a range of private anonymous memory (MADV_WIPEONFORK). */
int os_advise_wipeonfork(void *addr, size_t size);

/* Give the physical pages of a range back to the OS; it reads back as zeros. */
int os_release(void *addr, size_t size);

/* Bind a range to one node with the raw mbind syscall; @mode is a KMM_MPOL_* mode. */
int os_mbind(void *addr, size_t size, int mode, int node);

/* Read a small file with raw syscalls into @buf, NUL-terminated; bytes read or -1. */
long os_read_file(const char *path, char *buf, size_t size);

/* Monotonic milliseconds from the coarse clock: a vDSO read, no syscall. */
uint64_t os_now_ms(void);

/* Write all of @len bytes to @fd, retrying on EINTR and short writes; 0, or -1. */
int os_write_all(int fd, const char *buf, size_t len);

/* The calling thread's NUMA policy mode (KMM_MPOL_*), as numactl or set_mempolicy left it. */
int os_process_mempolicy(void);

/* Give the CPU to another thread (sched_yield). */
void os_yield(void);

void os_futex_wait(int *word, int expected);
void os_futex_wake_one(int *word);

/* Highest possible CPU id + 1, from /sys/devices/system/cpu/possible. */
unsigned int os_nr_possible_cpus(void);

unsigned int __os_current_cpu_slow(void);

/*
 * The CPU this thread runs on. glibc (2.35+) registers rseq for every thread, and the
 * kernel keeps rseq->cpu_id current on every return to user space, so this is one load
 * from the thread's own TLS block. The value can be stale by the time it is used
 * (the thread may migrate); callers treat it as a hint and lock what they touch.
 */
static __always_inline unsigned int os_current_cpu(void)
{
	if (likely(__rseq_size > 0)) {
		const struct rseq *rs =
		        (const struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
		int cpu = (int)READ_ONCE(rs->cpu_id);

		if (likely(cpu >= 0))
			return (unsigned int)cpu;
	}
	return __os_current_cpu_slow();
}

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME, a vDSO read). */
uint64_t os_wall_clock_ms(void);

/*
 * Open @path for appending, creating it (mode 0644); close-on-exec. A file descriptor,
 * or -1. These four are async-signal-safe, for the statistics dump.
 */
int os_open_append(const char *path);
void os_close(int fd);
int os_getpid(void);
void os_sleep_ms(uint64_t ms);

/* A close-on-exec duplicate of @fd numbered @lowest or above; -1 on failure. */
int os_dup_high(int fd, int lowest);

/* What @fd refers to (device and inode folded), to tell it is still the same file; 0 if closed. */
uint64_t os_fd_identity(int fd);

/*
 * Keep SIGPIPE from killing the process while it writes to a pipe nobody reads (the
 * write fails with EPIPE instead): block it, then restore the mask, discarding a
 * SIGPIPE that the writes raised. Async-signal-safe.
 */
struct os_sigpipe_state {
	sigset_t old_mask;
	bool was_pending;
};
void os_sigpipe_block(struct os_sigpipe_state *state);
void os_sigpipe_restore(const struct os_sigpipe_state *state);

/* The current directory into @buf (the raw getcwd syscall): its length, or -1. */
long os_getcwd(char *buf, size_t size);

/* Run @handler on @sig (sigaction, SA_RESTART, nothing masked); 0, or -1. */
int os_catch_signal(int sig, void (*handler)(int));

/* One more than the highest signal number (SIGRTMAX + 1). */
int os_nr_signals(void);

#endif /* KMM_BASE_OS_H */

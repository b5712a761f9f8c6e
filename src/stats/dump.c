/*
 * When and where the statistics are dumped: at exit, on a signal, every interval, or
 * when a program calls kmm_stats_dump(). See stats.h and the README.
 *
 * A dump allocates nothing and waits for no allocator lock (the snapshot reads without
 * them, or only tries them), so a signal that lands inside malloc dumps and returns.
 * One dump runs at a time, since the snapshot and the output buffer are static: a
 * signal that arrives while another dump runs cannot wait for it (it may have
 * interrupted it), so it leaves a note and the dump that is running makes another one
 * when it ends. The others wait up to 2 s for their turn.
 *
 * The snapshot thread (KMM_STATS_INTERVAL) runs with every signal blocked, so the dump
 * signal never interrupts it in the middle of its own dump. It is not started again in
 * a fork child: only async-signal-safe calls are allowed there after a fork of a
 * threaded process, and a thread would make every child multi-threaded, which
 * unshare(CLONE_NEWUSER) and the like refuse. A child that runs a program starts anew.
 *
 * Writes block SIGPIPE: a dump to a pipe whose reader is gone fails with EPIPE instead
 * of killing the program, at exit above all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <kmm/kmm.h>

#include "../base/options.h"
#include "../base/os.h"
#include "../base/printk.h"
#include "../init.h"
#include "stats.h"

static unsigned int stats_what;      /* STATS_* bits; 0: no dump at exit */
static unsigned int stats_on_demand; /* what a signal or an interval dumps */
static int dump_busy;                /* one dump at a time; atomic */
static int signal_pending;           /* a signal came during a dump; atomic */
static bool fork_holds_dump;         /* the fork prepare handler took dump_busy */
static bool open_failed_reported;

/*
 * KMM_STATS_FILE made absolute at start-up, so that a program that changes directory
 * keeps writing to the same file; %p is expanded at each dump.
 */
#define STATS_PATH_MAX 4096
static char stats_file[2 * STATS_PATH_MAX];
static char stats_path[2 * STATS_PATH_MAX + 32]; /* expanded; guarded by dump_busy */

/*
 * stderr as it was at start-up. Programs close their standard streams on the way out
 * (GNU tools' close_stdout closes stderr too), so the exit dump writes to a copy kept
 * at a high number, as long as it is still the file it was: a program that closes all
 * its descriptors may have reused the number.
 */
#define STDERR_COPY_FD 200
static int stderr_copy = -1;
static uint64_t stderr_identity;

static struct kmm_stats snapshot; /* guarded by dump_busy */
static struct seq_buf out;        /* guarded by dump_busy */

/* Take the dump; @wait: for up to 2 s, else give up at once. */
static bool dump_begin(bool wait)
{
	for (int tries = 0; tries < 2000; tries++) {
		if (!__atomic_exchange_n(&dump_busy, 1, __ATOMIC_SEQ_CST))
			return true;
		if (!wait)
			return false;
		os_sleep_ms(1);
	}
	return false;
}

static void dump_configured(unsigned int what, const char *reason);

/*
 * Let the dump go, and answer a signal that came meanwhile. The handler sets the note
 * before it tries the dump and this reads it after letting go (both sequentially
 * consistent), so one of the two always sees the other.
 */
static void dump_end(void)
{
	for (;;) {
		__atomic_store_n(&dump_busy, 0, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&signal_pending, __ATOMIC_SEQ_CST) || !dump_begin(false))
			return;
		if (__atomic_exchange_n(&signal_pending, 0, __ATOMIC_SEQ_CST))
			dump_configured(stats_on_demand, "signal");
	}
}

/* 0, or -1 with errno of the first write that failed. */
static int write_snapshot(int fd, unsigned int what, const char *reason)
{
	struct os_sigpipe_state sigpipe;
	int ret, err;

	kmm_stats_collect(&snapshot, reason);
	seq_buf_init(&out, fd);
	if (what & ~STATS_JSON)
		kmm_stats_print_proc(&out, &snapshot, what);
	if (what & STATS_JSON) {
		/* Beside text sections JSON gets a header of its own; alone it is JSON Lines. */
		if (what & ~STATS_JSON)
			seq_buf_puts(&out, "==> json <==\n");
		kmm_stats_print_json(&out, &snapshot, what & ~STATS_JSON ? what : STATS_ALL);
	}
	os_sigpipe_block(&sigpipe);
	ret = seq_buf_flush(&out);
	err = errno;
	os_sigpipe_restore(&sigpipe);
	errno = err;
	return ret;
}

/* KMM_STATS_FILE with %p replaced by the pid (this process's: fork children differ). */
static bool expand_path(char *buf, size_t size, const char *template)
{
	size_t len = 0;

	for (const char *p = template; *p; p++) {
		if (p[0] == '%' && (p[1] == 'p' || p[1] == '%')) {
			p++;
			if (*p == 'p') {
				len += kmm_snprintf(buf + len, size - len, "%d", os_getpid());
				if (len >= size)
					return false;
				continue;
			}
		}
		if (len + 1 >= size)
			return false;
		buf[len++] = *p;
	}
	buf[len] = '\0';
	return true;
}

static int stderr_fd(void)
{
	if (stderr_copy >= 0 && os_fd_identity(stderr_copy) == stderr_identity)
		return stderr_copy;
	return 2;
}

/* KMM_STATS_FILE, opened for appending (children and snapshots may share it), or -1. */
static int open_stats_file(void)
{
	int fd;

	if (!expand_path(stats_path, sizeof(stats_path), stats_file)) {
		if (!open_failed_reported)
			kmm_printk("KMM_STATS_FILE=%s: the file name is too long with the pid in "
			           "it; the statistics go to stderr",
			           stats_file);
		open_failed_reported = true;
		return -1;
	}
	fd = os_open_append(stats_path);
	if (fd < 0 && !open_failed_reported) {
		kmm_printk("KMM_STATS_FILE: cannot open %s (errno %d); the statistics go to stderr",
		           stats_path, errno);
		open_failed_reported = true;
	}
	return fd;
}

/* Dump to KMM_STATS_FILE, or to stderr as it was at start-up. Called holding the dump. */
static void dump_configured(unsigned int what, const char *reason)
{
	int fd = stats_file[0] ? open_stats_file() : -1;

	write_snapshot(fd >= 0 ? fd : stderr_fd(), what, reason);
	if (fd >= 0)
		os_close(fd);
}

static void dump_signal_handler(int sig)
{
	int saved = errno;

	__atomic_store_n(&signal_pending, 1, __ATOMIC_SEQ_CST);
	if (dump_begin(false)) {
		if (__atomic_exchange_n(&signal_pending, 0, __ATOMIC_SEQ_CST))
			dump_configured(stats_on_demand, "signal");
		dump_end();
	}
	errno = saved;
}

/* The last dump: it keeps the dump, so that no snapshot follows it. */
__attribute__((destructor)) static void dump_at_exit(void)
{
	if (!stats_what || kmm_init_state != KMM_READY || !dump_begin(true))
		return;
	dump_configured(stats_what, "exit");
}

/* Every interval on the clock; intervals missed (the process was stopped) are skipped. */
static __noreturn void *snapshot_thread(void *arg)
{
	uint64_t interval = (uint64_t)kmm_option(OPT_STATS_INTERVAL);
	uint64_t next = os_now_ms() + interval;

	for (;;) {
		uint64_t now = os_now_ms();

		if (now < next)
			os_sleep_ms(next - now);
		next += interval;
		if (next <= os_now_ms())
			next = os_now_ms() + interval;
		if (dump_begin(true)) {
			dump_configured(stats_on_demand, "interval");
			dump_end();
		}
	}
}

static void start_snapshot_thread(void)
{
	int err = os_start_helper_thread(snapshot_thread, 256 << 10);

	if (err)
		kmm_printk("KMM_STATS_INTERVAL: cannot start the snapshot thread (error %d); no "
		           "snapshots will be taken",
		           err);
}

/* A relative KMM_STATS_FILE is taken from the directory the program started in. */
static void set_stats_file(const char *template)
{
	long len = 0;

	if (template[0] != '/') {
		len = os_getcwd(stats_file, STATS_PATH_MAX);
		if (len > 0)
			stats_file[len - 1] = '/'; /* over the NUL, which getcwd counts */
		else
			len = 0;
	}
	kmm_snprintf(stats_file + len, sizeof(stats_file) - (size_t)len, "%s", template);
}

void kmm_stats_init(void)
{
	const char *template = kmm_option_path(OPT_STATS_FILE);
	int sig = (int)kmm_option(OPT_STATS_SIGNAL);

	kmm_stats_start_ms = os_now_ms();
	stats_what = (unsigned int)kmm_option(OPT_STATS);
	/* A signal or an interval alone asks for everything. */
	stats_on_demand = stats_what ? stats_what : STATS_ALL;
	if (template) {
		set_stats_file(template);
	} else if (stats_what || sig || kmm_option(OPT_STATS_INTERVAL)) {
		stderr_copy = os_dup_high(2, STDERR_COPY_FD);
		stderr_identity = stderr_copy >= 0 ? os_fd_identity(stderr_copy) : 0;
	}
	if (sig && os_catch_signal(sig, dump_signal_handler) != 0)
		kmm_printk("KMM_STATS_SIGNAL: cannot catch signal %d (errno %d)", sig, errno);
}

void kmm_stats_start(void)
{
	if (kmm_option(OPT_STATS_INTERVAL))
		start_snapshot_thread();
}

/*
 * fork: no dump may be half done in the child, whose dumping thread would be gone. A
 * dump stuck for 2 s (its output blocked) is left alone and fork goes on: the parent
 * must not then release a dump it never took.
 */
void kmm_stats_fork_prepare(void)
{
	fork_holds_dump = dump_begin(true);
}

void kmm_stats_fork_parent(void)
{
	if (fork_holds_dump)
		dump_end();
}

void kmm_stats_fork_child(void)
{
	__atomic_store_n(&signal_pending, 0, __ATOMIC_RELAXED); /* the parent answers it */
	dump_end();
}

KMM_EXPORT int kmm_stats_dump(int fd, const char *what)
{
	long bits = STATS_ALL;
	int ret, err;

	if (what && *what && (!kmm_option_parse(OPT_STATS, what, &bits) || !bits)) {
		errno = EINVAL;
		return -1;
	}
	if (!kmm_ensure_init()) {
		errno = ENOMEM;
		return -1;
	}
	if (!dump_begin(true)) {
		errno = EBUSY;
		return -1;
	}
	ret = write_snapshot(fd, (unsigned int)bits, "call");
	err = errno;
	dump_end();
	errno = err;
	return ret;
}

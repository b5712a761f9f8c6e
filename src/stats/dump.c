/*
 * When and where the statistics are dumped: at exit, on a signal, every interval, or
 * when a program calls kmm_stats_dump(). See stats.h and the README.
 *
 * A dump allocates nothing and takes no allocator lock (the snapshot reads without
 * them), so a signal that lands inside malloc dumps and returns. One dump runs at a
 * time, since the snapshot and the output buffer are static: a signal that arrives
 * while another dump runs is skipped, the others wait their turn.
 *
 * The snapshot thread (KMM_STATS_INTERVAL) runs with every signal blocked, so the
 * dump signal never interrupts it in the middle of its own dump, and is started again
 * in a fork child, which has no threads but the forking one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
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
static bool open_failed_reported;

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

static bool dump_begin(bool wait)
{
	for (int tries = 0; tries < 2000; tries++) {
		if (!__atomic_exchange_n(&dump_busy, 1, __ATOMIC_ACQUIRE))
			return true;
		if (!wait)
			return false;
		os_sleep_ms(1);
	}
	return false;
}

static void dump_end(void)
{
	__atomic_store_n(&dump_busy, 0, __ATOMIC_RELEASE);
}

static void write_snapshot(int fd, unsigned int what, const char *reason)
{
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
	seq_buf_flush(&out);
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

/* Dump to KMM_STATS_FILE, appended (children and snapshots share it), or stderr. */
static void dump_configured(unsigned int what, const char *reason)
{
	const char *template = kmm_option_path(OPT_STATS_FILE);
	char path[4200];
	int fd = stderr_copy >= 0 && os_fd_identity(stderr_copy) == stderr_identity ? stderr_copy
	                                                                            : 2;

	if (template) {
		fd = expand_path(path, sizeof(path), template) ? os_open_append(path) : -1;
		if (fd < 0) {
			if (!open_failed_reported)
				kmm_printk("KMM_STATS_FILE=%s: cannot open %s (errno %d); the "
				           "statistics go to stderr",
				           template, path, errno);
			open_failed_reported = true;
			fd = 2;
		}
	}
	write_snapshot(fd, what, reason);
	if (template && fd != 2)
		os_close(fd);
}

static void dump_signal_handler(int sig)
{
	int saved = errno;

	if (dump_begin(false)) {
		dump_configured(stats_on_demand, "signal");
		dump_end();
	}
	errno = saved;
}

__attribute__((destructor)) static void dump_at_exit(void)
{
	if (!stats_what || kmm_init_state != KMM_READY || !dump_begin(true))
		return;
	dump_configured(stats_what, "exit");
	dump_end();
}

static void *snapshot_thread(void *arg)
{
	uint64_t interval = (uint64_t)kmm_option(OPT_STATS_INTERVAL);
	uint64_t next = os_now_ms() + interval;

	for (;;) {
		uint64_t now = os_now_ms();

		if (now < next)
			os_sleep_ms(next - now);
		next += interval;
		if (dump_begin(true)) {
			dump_configured(stats_on_demand, "interval");
			dump_end();
		}
	}
	return arg;
}

static void start_snapshot_thread(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t thread;
	int err;

	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&thread, &attr, snapshot_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		kmm_printk("KMM_STATS_INTERVAL: cannot start the snapshot thread (error %d); no "
		           "snapshots will be taken",
		           err);
}

void kmm_stats_init(void)
{
	int sig = (int)kmm_option(OPT_STATS_SIGNAL);

	kmm_stats_start_ms = os_now_ms();
	stats_what = (unsigned int)kmm_option(OPT_STATS);
	/* A signal or an interval alone asks for everything. */
	stats_on_demand = stats_what ? stats_what : STATS_ALL;
	if ((stats_what || sig || kmm_option(OPT_STATS_INTERVAL)) &&
	    !kmm_option_path(OPT_STATS_FILE)) {
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

/* fork: no dump may be half done in the child, whose dumping thread would be gone. */
void kmm_stats_fork_prepare(void)
{
	dump_begin(true);
}

void kmm_stats_fork_parent(void)
{
	dump_end();
}

void kmm_stats_fork_child(void)
{
	dump_end();
	kmm_stats_start();
}

KMM_EXPORT int kmm_stats_dump(int fd, const char *what)
{
	long bits = STATS_ALL;

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
	write_snapshot(fd, (unsigned int)bits, "call");
	dump_end();
	return 0;
}

/*
 * The KMM_* options table; see options.h.
 */
#include "options.h"

#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>

#include "compiler.h"
#include "os.h"
#include "printk.h"

struct option_desc {
	const char *name;
	enum kmm_option_kind kind;
	long default_value;
	long min, max;
	const char *choices; /* comma-separated, for OPTION_CHOICE */
	const char *forms;   /* the accepted forms, for the error line */
};

static const struct option_desc option_descs[NR_KMM_OPTIONS] = {
#define X(id, name, kind, def, min, max, choices, forms) \
	{name, kind, def, min, max, choices, forms},
        KMM_OPTIONS(X)
#undef X
};

long kmm_option_values[NR_KMM_OPTIONS];

/*
 * OPTION_PATH values, copied: the environment may change, and before libc is up it is
 * read into a buffer that goes away. The option's value is 1 + the offset of its text.
 */
#define OPTION_PATH_MAX 4096
static char option_paths[2 * OPTION_PATH_MAX];
static size_t option_paths_used;

const char *kmm_option_path(enum kmm_option_id id)
{
	long v = kmm_option_values[id];

	return v > 0 ? option_paths + v - 1 : NULL;
}

static bool parse_number(const char *s, unsigned long *out, const char **end)
{
	unsigned long v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (unsigned long)(*s - '0'), &v))
			return false;
	}
	*out = v;
	*end = s;
	return true;
}

static unsigned int suffix_shift(char c)
{
	switch (c | 0x20) {
	case 'k':
		return 10;
	case 'm':
		return 20;
	case 'g':
		return 30;
	case 't':
		return 40;
	default:
		return 0;
	}
}

/* "512M", "2g", "4MiB", "4096", "1 G" is not accepted: no spaces. */
static bool parse_size(const char *s, unsigned long *out)
{
	unsigned long v;
	unsigned int shift;

	if (!parse_number(s, &v, &s))
		return false;
	shift = *s ? suffix_shift(*s) : 0;
	if (shift) {
		s++;
		if (*s == 'i')
			s++;
		if (*s == 'B' || *s == 'b')
			s++;
	} else if (*s == 'B' || *s == 'b') {
		s++;
	}
	if (*s != '\0' || (shift && v > (~0UL >> shift)))
		return false;
	*out = v << shift;
	return true;
}

static bool parse_choice(const char *choices, const char *s, long *out)
{
	size_t len = strlen(s);
	long index = 0;

	for (const char *c = choices; *c; index++) {
		const char *comma = strchr(c, ',');
		size_t clen = comma ? (size_t)(comma - c) : strlen(c);

		if (clen == len && strncasecmp(c, s, len) == 0) {
			*out = index;
			return true;
		}
		c += clen + (comma ? 1 : 0);
	}
	return false;
}

/* "buddyinfo,slabinfo": a bit per word; the last word of @choices means all of them. */
static bool parse_flags(const char *choices, const char *s, long max, long *out)
{
	char word[32];
	long flags = 0, index;

	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (len == 0 || len >= sizeof(word))
			return false;
		memcpy(word, s, len);
		word[len] = '\0';
		if (!parse_choice(choices, word, &index))
			return false;
		flags |= (1L << index) > max ? max : 1L << index;
		s += len + (comma ? 1 : 0);
		if (comma && *s == '\0')
			return false; /* a trailing comma */
	}
	*out = flags;
	return true;
}

struct signal_name {
	const char *name;
	int number;
};

/* Signals a dump may be tied to: every catchable one not raised by a fault or abort. */
static const struct signal_name signal_names[] = {
        {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"USR1", SIGUSR1},
        {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM},
        {"CHLD", SIGCHLD},     {"CONT", SIGCONT}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
        {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
        {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
        {"POLL", SIGPOLL},     {"PWR", SIGPWR},   {"SYS", SIGSYS},
};

/* Not those glibc keeps for itself, between the classic signals and SIGRTMIN. */
static bool signal_catchable(long sig)
{
	return sig > 0 && sig < os_nr_signals() && (sig < 32 || sig >= SIGRTMIN) &&
	       sig != SIGKILL && sig != SIGSTOP && sig != SIGSEGV && sig != SIGBUS &&
	       sig != SIGILL && sig != SIGFPE && sig != SIGTRAP && sig != SIGABRT;
}

/* "USR2", "SIGUSR2", "usr2", "12", "RTMIN+2", "SIGRTMAX-1". */
static bool parse_signal(const char *s, long *out)
{
	unsigned long n;
	const char *end;
	long sig = -1;

	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	if (parse_number(s, &n, &end) && *end == '\0') {
		sig = n < 1000 ? (long)n : -1;
	} else if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
		bool min = (s[4] | 0x20) == 'n';

		n = 0;
		if (s[5] != '\0' && (s[5] != (min ? '+' : '-') || !parse_number(s + 6, &n, &end) ||
		                     *end != '\0' || n > 64))
			return false;
		sig = min ? SIGRTMIN + (long)n : SIGRTMAX - (long)n;
		if (sig < SIGRTMIN || sig > SIGRTMAX)
			return false;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
			if (strcasecmp(s, signal_names[i].name) == 0)
				sig = signal_names[i].number;
	}
	if (!signal_catchable(sig))
		return false;
	*out = sig;
	return true;
}

static bool parse_path(const char *s, long *out)
{
	size_t len = strlen(s);

	if (len == 0 || len >= OPTION_PATH_MAX ||
	    option_paths_used + len + 1 > sizeof(option_paths))
		return false;
	memcpy(option_paths + option_paths_used, s, len + 1);
	*out = (long)option_paths_used + 1;
	option_paths_used += len + 1;
	return true;
}

bool kmm_option_parse(enum kmm_option_id id, const char *text, long *value)
{
	const struct option_desc *d = &option_descs[id];
	unsigned long v;
	const char *end;

	switch (d->kind) {
	case OPTION_CHOICE:
		return parse_choice(d->choices, text, value);
	case OPTION_FLAGS:
		return parse_flags(d->choices, text, d->max, value);
	case OPTION_SIGNAL:
		return parse_signal(text, value);
	case OPTION_PATH:
		return parse_path(text, value);
	case OPTION_SIZE:
		if (!parse_size(text, &v))
			return false;
		/* 0 selects the automatic default for sizes. */
		if (v != 0 && (v < (unsigned long)d->min || v > (unsigned long)d->max))
			return false;
		*value = (long)v;
		return true;
	case OPTION_NUMBER:
		if (!parse_number(text, &v, &end) || *end != '\0')
			return false;
		if (v < (unsigned long)d->min || v > (unsigned long)d->max)
			return false;
		*value = (long)v;
		return true;
	}
	return false;
}

static const struct option_desc *find_option(const char *entry, size_t name_len, int *id)
{
	for (int i = 0; i < NR_KMM_OPTIONS; i++) {
		const char *name = option_descs[i].name;

		if (strlen(name) == name_len && memcmp(name, entry, name_len) == 0) {
			*id = i;
			return &option_descs[i];
		}
	}
	return NULL;
}

static int apply_entry(const char *entry)
{
	const char *eq = strchr(entry, '=');
	const struct option_desc *d;
	long value;
	int id;

	if (!eq)
		return 0;
	d = find_option(entry, (size_t)(eq - entry), &id);
	if (!d) {
		kmm_printk("%.*s is not a kmm variable; it is ignored (the README lists them)",
		           (int)(eq - entry), entry);
		return 1;
	}
	if (!kmm_option_parse((enum kmm_option_id)id, eq + 1, &value)) {
		kmm_printk("%s=%s is not valid: expected %s; using the default", d->name, eq + 1,
		           d->forms);
		return 1;
	}
	kmm_option_values[id] = value;
	return 0;
}

/*
 * Before libc has set up environ (a malloc from the dynamic loader's TLS setup), read
 * the environment the kernel gave the process. Option values are numbers, so the
 * buffer can go as soon as they are parsed.
 */
static int apply_proc_environ(void)
{
	const size_t size = 256 * 1024;
	char *buf = os_map(size);
	long len;
	int problems = 0;

	if (!buf)
		return 0;
	len = os_read_file("/proc/self/environ", buf, size);
	for (long i = 0; i < len; i += (long)strlen(buf + i) + 1) {
		if (strncmp(buf + i, "KMM_", 4) == 0)
			problems += apply_entry(buf + i);
	}
	os_unmap(buf, size);
	return problems;
}

int kmm_options_init(char **envp)
{
	extern char **environ;
	int problems = 0;

	for (int i = 0; i < NR_KMM_OPTIONS; i++)
		kmm_option_values[i] = option_descs[i].default_value;
	option_paths_used = 0;
	/* A setuid or setgid program does not take orders from its caller's environment. */
	if (!envp && getauxval(AT_SECURE))
		return 0;
	if (!envp)
		envp = environ;
	if (!envp)
		return apply_proc_environ();
	for (char **e = envp; *e; e++) {
		if (strncmp(*e, "KMM_", 4) == 0)
			problems += apply_entry(*e);
	}
	return problems;
}

/*
 * The KMM_* options table; see options.h.
 */
#include "options.h"

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

bool kmm_option_parse(enum kmm_option_id id, const char *text, long *value)
{
	const struct option_desc *d = &option_descs[id];
	unsigned long v;
	const char *end;

	switch (d->kind) {
	case OPTION_CHOICE:
		return parse_choice(d->choices, text, value);
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

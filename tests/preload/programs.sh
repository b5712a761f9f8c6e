#!/usr/bin/env bash
# Real programs with libkmm.so preloaded, their output checked. Each workload runs once
# without the preload and once with it: both must succeed with the same output, and
# results known in advance are checked too. python3, perl, bash, sort, gcc, g++, git,
# sqlite3 and redis-server (with redis-benchmark against it).
#   usage: programs.sh path/to/libkmm.so
#          programs.sh ""     (no preload at all: checks the workloads themselves)
# Prints ok:/FAIL:/skip: lines. Exit 1 if anything failed; otherwise 77 if a program
# was skipped because it is not installed, 0 when everything ran and passed.
set -u
so=${1-}
failures=0
passes=0
skipped=
out=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmm-programs.XXXXXX") || exit 1
redis_pid=
redis_timeout_pid=

cleanup() {
	if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
		kill "$redis_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$redis_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$redis_pid" 2>/dev/null
	fi
	if [ -n "$redis_timeout_pid" ]; then
		kill "$redis_timeout_pid" 2>/dev/null
		wait "$redis_timeout_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ -n "$so" ]; then
	if [ ! -f "$so" ]; then
		echo "FAIL: $so does not exist"
		exit 1
	fi
	so=$(readlink -f "$so")
	echo "preloading $so"
else
	echo "no preload: every workload runs twice against the C library's malloc"
fi
# Only what a test asks for: no zone report on stderr.
unset KMM_VERBOSE

pass() {
	echo "ok: $*"
	passes=$((passes + 1))
}

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# have NAME PROGRAM...: all are installed, or NAME is skipped (and listed at the end).
have() {
	local name=$1 p
	shift
	for p; do
		if ! command -v "$p" >/dev/null 2>&1; then
			echo "skip: $name ($p is not installed)"
			skipped="$skipped $name"
			return 1
		fi
	done
}

describe_exit() {
	case $1 in
	124) echo "timed out" ;;
	12[5-9]) echo "exit $1" ;;
	1[3-9][0-9] | 2[0-5][0-9]) echo "killed by SIG$(kill -l $(($1 - 128)) 2>/dev/null)" ;;
	*) echo "exit $1" ;;
	esac
}

# run_plain LIMIT COMMAND... / run_kmm LIMIT COMMAND...: without and with the preload,
# stderr to $tmp/err.
run_plain() {
	local limit=$1
	shift
	timeout -k 5 "$limit" env -u LD_PRELOAD "$@" 2>"$tmp/err"
}

run_kmm() {
	local limit=$1
	shift
	timeout -k 5 "$limit" env LD_PRELOAD="$so" "$@" 2>"$tmp/err"
}

# kmm_complained NAME: kmm printed something on stderr (it says nothing when all is well).
kmm_complained() {
	if grep -q '^kmm: ' "$tmp/err"; then
		fail "$1: kmm reported: $(grep '^kmm: ' "$tmp/err" | head -n 3)"
		return 0
	fi
	return 1
}

# compare NAME LIMIT COMMAND...: COMMAND succeeds without and with the preload, with the
# same stdout; the output under the preload is left in $out for further checks.
compare() {
	local name=$1 limit=$2 want rc
	shift 2
	out=
	want=$(run_plain "$limit" "$@")
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name: the run without the preload failed ($(describe_exit $rc)), so the workload itself is broken: $(tail -n 5 "$tmp/err")"
		return 1
	fi
	out=$(run_kmm "$limit" "$@")
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name: $(describe_exit $rc) with the preload (0 without); stderr: $(tail -n 5 "$tmp/err")"
		return 1
	fi
	kmm_complained "$name" && return 1
	if [ "$want" != "$out" ]; then
		fail "$name: the output differs with the preload (< without, > with):"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$out") | head -n 20
		return 1
	fi
	pass "$name ($(printf '%s\n' "$out" | wc -l) lines of output, identical)"
}

# expect NAME LINE: the last output of compare holds LINE.
expect() {
	if printf '%s\n' "$out" | grep -qxF -- "$2"; then
		pass "$1"
	else
		fail "$1: expected the line '$2' in the output, got: $(printf '%s' "$out" | head -c 800)"
	fi
}

# expect_prefix NAME PREFIX: the last output of compare has a line starting with PREFIX.
expect_prefix() {
	local line
	while IFS= read -r line; do
		case $line in
		"$2"*)
			pass "$1"
			return
			;;
		esac
	done <<<"$out"
	fail "$1: expected a line starting '$2' in the output, got: $(printf '%s' "$out" | head -c 800)"
}

# same NAME WANT GOT
same() {
	if [ "$2" = "$3" ]; then
		pass "$1: $2"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

# mapped NAME COMMAND...: the preloaded library is in the command's /proc/self/maps.
mapped() {
	local name=$1
	shift
	[ -n "$so" ] || return 0
	if run_kmm 60 "$@" | grep -qF "$so"; then
		pass "$name: $(basename "$so") is mapped"
	else
		fail "$name: $so is not in its /proc/self/maps"
	fi
}

mapped "cat" cat /proc/self/maps

# ---- python3: every allocation through malloc (PYTHONMALLOC=malloc) ----
if have python3 python3; then
	cat >"$tmp/work.py" <<'EOF'
import hashlib, json, os, subprocess, sys, threading

# Memory-heavy: a dict of a million entries, a big list comprehension.
d = {i: str(i) for i in range(1_000_000)}
print("dict", len(d), sum(len(v) for v in d.values()))
squares = [i * i for i in range(2_000_000)]
print("list", len(squares), sum(squares) % 1_000_000_007)
words = sorted(str(i * 7919 % 1_000_003) for i in range(300_000))
print("sorted", len(words), hashlib.sha256("".join(words[::1000]).encode()).hexdigest()[:16])
del d, squares, words

# Threads, each building and dropping its own structures.
results = [None] * 8
def work(k):
    acc = hashlib.sha256()
    for r in range(25):
        data = [bytes([k, r]) * (j % 300 + 1) for j in range(1500)]
        table = {x: len(x) for x in data}
        acc.update(b"".join(sorted(table)))
        acc.update(str(sum(table.values())).encode())
    results[k] = acc.hexdigest()[:16]
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", " ".join(results))

# A JSON round trip of a large document.
doc = {"items": [{"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 7)] * (i % 5),
                  "price": i * 0.25, "nested": {"a": [i, {"b": None, "c": i % 2 == 0}]}}
                 for i in range(50_000)]}
text = json.dumps(doc, sort_keys=True)
back = json.loads(text)
print("json", back == doc, len(text), hashlib.sha256(text.encode()).hexdigest()[:16])

# Subprocesses: another python (which inherits the preload) and sort.
child = subprocess.run([sys.executable, "-c",
                        "import sys; print(sum(range(10**6)), len({i: i for i in range(10**5)}))"],
                       capture_output=True, text=True, check=True)
print("subprocess", child.stdout.strip())
lines = "".join("%d\n" % i for i in range(20_000, 0, -1))
sorted_out = subprocess.run(["sort", "-n"], input=lines, capture_output=True, text=True,
                            check=True, env=dict(os.environ, LC_ALL="C")).stdout
print("sort", sorted_out.split("\n")[:3], hashlib.sha256(sorted_out.encode()).hexdigest()[:16])
EOF
	if compare "python3: 1M-entry dict, list comprehension, 8 threads, json, subprocess" 300 \
		env PYTHONMALLOC=malloc python3 "$tmp/work.py"; then
		expect "python3: dict of 1M entries" "dict 1000000 5888890"
		expect_prefix "python3: json round trip" "json True "
		expect "python3: child python" "subprocess 499999500000 100000"
		expect_prefix "python3: sort subprocess" "sort ['1', '2', '3'] "
	fi
	mapped "python3" env PYTHONMALLOC=malloc python3 -c 'import sys; sys.stdout.write(open("/proc/self/maps").read())'
fi

# ---- perl ----
if have perl perl; then
	cat >"$tmp/work.pl" <<'EOF'
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

my %h;
for my $i (1 .. 200000) {
	$h{"key$i"} = [ map { $_ * $i } 1 .. 5 ];
}
my $sum = 0;
$sum += $h{$_}[4] for sort keys %h;
delete $h{"key$_"} for grep { $_ % 3 == 0 } 1 .. 200000;
my $s = join(",", map { sprintf("%x", $_ * 2654435761 % 4294967296) } 1 .. 100000);
my @parts = split /,/, $s;
(my $t = $s) =~ s/([a-f]+)/uc $1/ge;
my @sorted = sort { $a cmp $b } @parts;
print scalar(keys %h), " $sum ", scalar(@parts), "\n";
print md5_hex($t), " ", md5_hex(join("", @sorted)), "\n";
EOF
	if compare "perl: hashes of arrays, sort, split, regex substitution" 120 perl "$tmp/work.pl"; then
		expect "perl: known counts" "133334 100000500000 100000"
	fi
fi

# ---- bash pipelines ----
if have bash bash awk; then
	cat >"$tmp/work.sh" <<'EOF'
declare -A count
for w in $(seq 1 20000 | awk '{ print $1 % 97 }'); do
	count[$w]=$((${count[$w]:-0} + 1))
done
echo "buckets ${#count[@]} ${count[0]} ${count[96]}"
s=
for i in $(seq 1 3000); do s+="$i,"; done
echo "string ${#s}"
seq 1 200000 | awk '{ print $1 * 7 % 1000 }' | sort -n | uniq -c | sort -k1,1nr -k2,2n | head -n 3
printf '%s\n' {1..5000} | tac | paste -sd+ | awk -F+ '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print "sum", s }'
words=$(for i in $(seq 1 2000); do printf 'w%d ' $((i * i % 503)); done)
echo "$words" | tr ' ' '\n' | grep -c . | sed 's/^/words /'
EOF
	if compare "bash: associative arrays, string building, pipelines" 120 env LC_ALL=C bash "$tmp/work.sh"; then
		expect "bash: known results" "string 13893"
		expect "bash: pipeline sum" "sum 12502500"
	fi
fi

# ---- sort of a generated file ----
if have sort sort awk; then
	awk 'BEGIN { srand(7); for (i = 0; i < 300000; i++)
		printf "%08d %s %d\n", int(rand() * 1e8), substr("abcdefghijklmnopqrstuvwxyz", int(rand() * 26) + 1, int(rand() * 10) + 1), i }' \
		>"$tmp/lines.txt"
	mkdir -p "$tmp/sorttmp"
	compare "sort: 300000 lines, external merge with 2 threads, keys, unique" 180 \
		env LC_ALL=C sh -c '
			sort -S 1M -T "$1" --parallel=2 "$2" | md5sum
			sort -s -k2,2 -k1,1n "$2" | md5sum
			sort -u -k2,2 "$2" | wc -l
			sort -rn -t " " -k3,3 "$2" | head -n 2' sh "$tmp/sorttmp" "$tmp/lines.txt"
	if [ -n "$out" ]; then
		if run_kmm 120 env LC_ALL=C sort -S 1M -T "$tmp/sorttmp" --parallel=2 "$tmp/lines.txt" >"$tmp/sorted.txt" &&
			! kmm_complained "sort" && LC_ALL=C sort -c "$tmp/sorted.txt" &&
			[ "$(wc -l <"$tmp/sorted.txt")" -eq 300000 ]; then
			pass "sort: the output is sorted and has all 300000 lines"
		else
			fail "sort: the output is not the sorted input"
		fi
	fi
fi

# ---- gcc: compile a real program (cc1, as, collect2, ld under the preload), run it ----
if have gcc gcc; then
	cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *next;
	char *word;
	unsigned count;
};

struct table {
	struct node **buckets;
	size_t nbuckets, nitems;
};

static unsigned long hash(const char *s)
{
	unsigned long h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static void table_grow(struct table *t)
{
	size_t n = t->nbuckets * 2;
	struct node **b = calloc(n, sizeof(*b));

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct node *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[hash(e->word) % n];
			b[hash(e->word) % n] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static void table_add(struct table *t, const char *word)
{
	struct node **head = &t->buckets[hash(word) % t->nbuckets];

	for (struct node *e = *head; e; e = e->next) {
		if (strcmp(e->word, word) == 0) {
			e->count++;
			return;
		}
	}
	struct node *e = malloc(sizeof(*e));
	e->word = strdup(word);
	e->count = 1;
	e->next = *head;
	*head = e;
	if (++t->nitems > t->nbuckets * 2)
		table_grow(t);
}

static int by_count(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->word, y->word);
}

static unsigned count_primes(unsigned limit)
{
	char *composite = calloc(limit, 1);
	unsigned n = 0;

	for (unsigned i = 2; i < limit; i++) {
		if (composite[i])
			continue;
		n++;
		for (unsigned long j = (unsigned long)i * i; j < limit; j += i)
			composite[j] = 1;
	}
	free(composite);
	return n;
}

static unsigned long fib(unsigned n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(void)
{
	struct table t = {calloc(16, sizeof(struct node *)), 16, 0};
	unsigned long x = 12345;
	struct node **all;
	size_t k = 0;
	char word[32];

	for (int i = 0; i < 200000; i++) {
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		snprintf(word, sizeof(word), "w%lu", (x >> 33) % 30011);
		table_add(&t, word);
	}
	all = malloc(t.nitems * sizeof(*all));
	for (size_t i = 0; i < t.nbuckets; i++)
		for (struct node *e = t.buckets[i]; e; e = e->next)
			all[k++] = e;
	qsort(all, k, sizeof(*all), by_count);
	printf("distinct words: %zu\n", k);
	for (int i = 0; i < 3; i++)
		printf("%s %u\n", all[i]->word, all[i]->count);
	for (size_t i = 0; i < k; i++) {
		free(all[i]->word);
		free(all[i]);
	}
	free(all);
	free(t.buckets);
	printf("primes below 1000000: %u\n", count_primes(1000000));
	printf("fib(27) = %lu\n", fib(27));
	return 0;
}
EOF
	if ! (cd "$tmp" && run_plain 120 gcc -O2 -g -Wall -Werror -c prog.c -o plain.o); then
		fail "gcc: compiling without the preload failed: $(tail -n 5 "$tmp/err")"
	elif ! (cd "$tmp" && run_kmm 120 gcc -O2 -g -Wall -Werror -c prog.c -o kmm.o); then
		fail "gcc: compiling with the preload failed: $(tail -n 5 "$tmp/err")"
	elif kmm_complained "gcc: compiling"; then
		:
	elif ! cmp -s "$tmp/plain.o" "$tmp/kmm.o"; then
		fail "gcc: the object code differs with the preload"
	elif ! (cd "$tmp" && run_kmm 120 gcc -o prog kmm.o); then
		fail "gcc: linking with the preload failed: $(tail -n 5 "$tmp/err")"
	elif kmm_complained "gcc: linking"; then
		:
	else
		pass "gcc: compiles and links under the preload, identical object code"
		if compare "gcc: the program it built" 60 "$tmp/prog"; then
			expect "gcc: the program's known results" "primes below 1000000: 78498"
			expect "gcc: the program's known results" "fib(27) = 196418"
		fi
	fi
fi

# ---- g++: a C++ program (cc1plus under the preload) ----
if have g++ g++; then
	cat >"$tmp/prog.cc" <<'EOF'
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

template <typename T> struct Tree {
	struct Node {
		T value;
		std::unique_ptr<Node> left, right;
		explicit Node(T v) : value(std::move(v)) {}
	};
	std::unique_ptr<Node> root;
	size_t size = 0;
	void insert(T v)
	{
		auto *slot = &root;
		while (*slot)
			slot = v < (*slot)->value ? &(*slot)->left : &(*slot)->right;
		*slot = std::make_unique<Node>(std::move(v));
		size++;
	}
};

int main()
{
	std::ostringstream text;
	for (int i = 0; i < 100000; i++)
		text << "word" << (i * 7919) % 1000 << ' ';
	std::map<std::string, int> freq;
	std::istringstream in(text.str());
	for (std::string w; in >> w;)
		freq[w]++;
	std::vector<std::pair<int, std::string>> v;
	for (const auto &kv : freq)
		v.emplace_back(kv.second, kv.first);
	std::sort(v.rbegin(), v.rend());
	std::cout << "distinct " << freq.size() << " top " << v[0].second << ' ' << v[0].first << '\n';

	std::vector<long> sums(4);
	std::vector<std::thread> threads;
	for (int t = 0; t < 4; t++)
		threads.emplace_back([t, &sums] {
			Tree<std::string> tree;
			for (int i = 0; i < 20000; i++)
				tree.insert(std::to_string((i * 2654435761u + t) % 100003));
			sums[t] = static_cast<long>(tree.size);
		});
	for (auto &th : threads)
		th.join();
	std::cout << "trees " << std::accumulate(sums.begin(), sums.end(), 0L) << '\n';
	return 0;
}
EOF
	if ! (cd "$tmp" && run_plain 180 g++ -std=c++17 -O2 -Wall -Werror -c prog.cc -o plainxx.o); then
		fail "g++: compiling without the preload failed: $(tail -n 5 "$tmp/err")"
	elif ! (cd "$tmp" && run_kmm 180 g++ -std=c++17 -O2 -Wall -Werror -c prog.cc -o kmmxx.o); then
		fail "g++: compiling with the preload failed: $(tail -n 5 "$tmp/err")"
	elif kmm_complained "g++: compiling"; then
		:
	elif ! cmp -s "$tmp/plainxx.o" "$tmp/kmmxx.o"; then
		fail "g++: the object code differs with the preload"
	elif ! (cd "$tmp" && run_kmm 120 g++ -pthread -o progxx kmmxx.o); then
		fail "g++: linking with the preload failed: $(tail -n 5 "$tmp/err")"
	elif kmm_complained "g++: linking"; then
		:
	else
		pass "g++: compiles and links under the preload, identical object code"
		if compare "g++: the program it built" 60 "$tmp/progxx"; then
			expect "g++: the program's known results" "distinct 1000 top word999 100"
			expect "g++: the program's known results" "trees 80000"
		fi
	fi
fi

# ---- git: a repository made here, commits, a merge, gc, fsck ----
if have git git; then
	cat >"$tmp/git.sh" <<'EOF'
set -e
rm -rf "$1"
mkdir -p "$1"
cd "$1"
export HOME="$1" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=kmm GIT_AUTHOR_EMAIL=kmm@example.invalid
export GIT_COMMITTER_NAME=kmm GIT_COMMITTER_EMAIL=kmm@example.invalid
export GIT_AUTHOR_DATE='2024-01-01T00:00:00+0000' GIT_COMMITTER_DATE='2024-01-01T00:00:00+0000'
git init -q -b main repo
cd repo
git config gc.auto 0
awk 'BEGIN { for (i = 0; i < 400; i++) { f = sprintf("dir%d/file%d.txt", i % 10, i)
	system("mkdir -p dir" (i % 10)); for (j = 0; j < 50; j++) print "file " i " line " j " " (i * j) % 97 > f; close(f) } }'
git add -A
git commit -q -m "add 400 files"
awk 'BEGIN { for (i = 0; i < 400; i += 3) { f = sprintf("dir%d/file%d.txt", i % 10, i)
	for (j = 0; j < 60; j++) print "file " i " changed " j > f; close(f) } }'
git commit -q -a -m "change a third of them"
git checkout -q -b topic
echo "topic line" >>dir1/file1.txt
git rm -q dir2/file2.txt
git commit -q -a -m "topic work"
git checkout -q main
echo "main line" >>dir4/file4.txt
git commit -q -a -m "main work"
git merge -q --no-edit topic
git log --format='%H %P %s'
git rev-parse 'HEAD^{tree}'
git diff --stat HEAD~3 HEAD | tail -n 1
git gc -q
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
git fsck --full --no-progress && echo "fsck ok"
git log -p | md5sum
git grep -c 'changed 7' | wc -l
git archive --format=tar HEAD | md5sum
EOF
	if compare "git: init, add, commit, branch, merge, log, gc, fsck, archive" 180 \
		bash "$tmp/git.sh" "$tmp/git"; then
		expect "git: fsck after gc" "fsck ok"
		expect "git: everything packed by gc" "count: 0"
	fi
fi

# ---- sqlite3: 50k inserts in a transaction, indexes, joins, aggregates ----
if have sqlite3 sqlite3; then
	awk 'BEGIN {
		print "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);"
		print "CREATE TABLE products(id INTEGER PRIMARY KEY, title TEXT NOT NULL, price REAL NOT NULL);"
		print "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL, note TEXT);"
		print "BEGIN;"
		for (i = 1; i <= 2000; i++)
			printf "INSERT INTO customers VALUES(%d, '\''customer-%05d'\'', '\''city-%02d'\'');\n", i, (i * 7919) % 100000, i % 37
		for (i = 1; i <= 500; i++)
			printf "INSERT INTO products VALUES(%d, '\''product %d'\'', %d.%02d);\n", i, i, (i * 13) % 200 + 1, (i * 7) % 100
		for (i = 1; i <= 50000; i++)
			printf "INSERT INTO orders VALUES(%d, %d, %d, %d, '\''%s'\'');\n", i, (i * 31) % 2000 + 1, (i * 17) % 500 + 1, i % 9 + 1, substr("note-abcdefghijklmnopqrstuvwxyz", 1, i % 30 + 1)
		print "COMMIT;"
	}' >"$tmp/work.sql"
	cat >>"$tmp/work.sql" <<'EOF'
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_product ON orders(product_id, qty);
CREATE INDEX customers_city ON customers(city);
SELECT count(*), sum(qty), sum(length(note)) FROM orders;
SELECT c.city, count(*), printf('%.2f', sum(o.qty * p.price))
  FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id
  GROUP BY c.city ORDER BY 3 DESC, 1 LIMIT 10;
SELECT p.title, count(DISTINCT o.customer_id) FROM products p JOIN orders o ON o.product_id = p.id
  GROUP BY p.id HAVING count(*) > 90 ORDER BY 2 DESC, 1 LIMIT 10;
SELECT customer_id, qty, rank() OVER (PARTITION BY customer_id ORDER BY qty DESC, id) AS r
  FROM orders WHERE customer_id < 5 ORDER BY customer_id, r LIMIT 20;
WITH per AS (SELECT customer_id, sum(qty) s FROM orders GROUP BY customer_id)
  SELECT count(*), max(s), min(s), printf('%.3f', avg(s)) FROM per;
SELECT group_concat(name, ',') FROM (SELECT name FROM customers WHERE id % 97 = 0 ORDER BY name);
UPDATE orders SET note = note || '-updated' WHERE id % 7 = 0;
DELETE FROM orders WHERE id % 11 = 0;
SELECT count(*), sum(length(note)) FROM orders;
CREATE TABLE summary AS SELECT customer_id, count(*) n, sum(qty) q FROM orders GROUP BY customer_id;
SELECT count(*), sum(n), sum(q) FROM summary;
SELECT city, count(*) FROM customers WHERE city IN (SELECT city FROM customers GROUP BY city HAVING count(*) > 54)
  GROUP BY city ORDER BY city;
VACUUM;
PRAGMA integrity_check;
EOF
	if compare "sqlite3: 50000 inserts in a transaction, indexes, joins, aggregates, window" 180 \
		sh -c 'rm -f "$1" && sqlite3 "$1" <"$2"' sh "$tmp/work.db" "$tmp/work.sql"; then
		expect "sqlite3: all orders inserted" "50000|249995|774920"
		expect "sqlite3: integrity check" "ok"
	fi
fi

# ---- redis-server on a loopback port, redis-benchmark against it ----
redis_cli() {
	timeout -k 5 60 env LD_PRELOAD="$so" redis-cli -h 127.0.0.1 -p "$port" "$@" 2>>"$tmp/redis-cli.err"
}

start_redis() {
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		rm -f "$tmp/redis.pid"
		timeout -k 5 300 env LD_PRELOAD="$so" redis-server --port "$port" --bind 127.0.0.1 \
			--save '' --appendonly no --daemonize no --dir "$tmp" \
			--pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" 2>"$tmp/redis.err" &
		redis_timeout_pid=$!
		for _ in $(seq 100); do
			if [ -s "$tmp/redis.pid" ] &&
				[ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
				redis_pid=$(cat "$tmp/redis.pid")
				return 0
			fi
			kill -0 "$redis_timeout_pid" 2>/dev/null || break
			sleep 0.1
		done
		# Most likely the port was taken: try another one.
		kill "$redis_timeout_pid" 2>/dev/null
		wait "$redis_timeout_pid" 2>/dev/null
		redis_timeout_pid=
	done
	return 1
}

if have redis redis-server redis-benchmark redis-cli; then
	if ! start_redis; then
		fail "redis-server: did not start on a loopback port: $(tail -n 5 "$tmp/redis.log" 2>/dev/null)"
	else
		pass "redis-server: running on 127.0.0.1:$port (pid $redis_pid)"
		if [ -n "$so" ]; then
			if grep -qF "$so" "/proc/$redis_pid/maps"; then
				pass "redis-server: $(basename "$so") is mapped in /proc/$redis_pid/maps"
			else
				fail "redis-server: $so is not in /proc/$redis_pid/maps"
			fi
		fi
		timeout -k 5 240 env LD_PRELOAD="$so" redis-benchmark -h 127.0.0.1 -p "$port" -q -n 20000 \
			>"$tmp/bench.out" 2>&1
		rc=$?
		bench=$(tr '\r' '\n' <"$tmp/bench.out")
		results=$(printf '%s\n' "$bench" | grep -c 'requests per second')
		if [ $rc -eq 0 ] && [ "$results" -ge 15 ] && printf '%s\n' "$bench" | grep -q '^SET: .* requests per second' &&
			printf '%s\n' "$bench" | grep -q '^GET: .* requests per second'; then
			pass "redis-benchmark -q -n 20000: $results tests completed"
		else
			fail "redis-benchmark: exit $rc, $results results: $(printf '%s\n' "$bench" | grep -v rps= | tail -n 5)"
		fi
		# What the benchmark left, then data of our own.
		same "redis: the benchmark's INCR counter" 20000 "$(redis_cli get 'counter:__rand_int__')"
		same "redis: the benchmark's list length" 20000 "$(redis_cli llen mylist)"
		seq 1 20000 | awk '{ printf "SET k%d v%d-%s\n", $1, $1, substr("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, $1 % 40) }' | redis_cli >/dev/null
		head -c 3000000 /dev/urandom >"$tmp/big.bin"
		redis_cli -x set big <"$tmp/big.bin" >/dev/null
		redis_cli rpush biglist $(seq 1 2000) >/dev/null
		same "redis: keys, a 3 MB value and a list read back" \
			"20006 v12345-xxxxxxxxxxxxxxxxxxxxxxxxx 3000000 2000 2000" \
			"$(redis_cli dbsize) $(redis_cli get k12345) $(redis_cli strlen big) $(redis_cli llen biglist) $(redis_cli lindex biglist 1999)"
		if [ "$(redis_cli getrange big 0 -1 | head -c 3000000 | cmp -s - "$tmp/big.bin" && echo same)" = same ]; then
			pass "redis: the 3 MB value comes back intact"
		else
			fail "redis: the 3 MB value did not come back intact"
		fi
		redis_cli shutdown nosave >/dev/null 2>&1
		wait "$redis_timeout_pid"
		rc=$?
		redis_timeout_pid=
		if [ $rc -eq 0 ]; then
			pass "redis-server: clean shutdown"
		else
			fail "redis-server: $(describe_exit $rc) at shutdown: $(tail -n 5 "$tmp/redis.log")"
		fi
		grep -q '^kmm: ' "$tmp/redis.err" "$tmp/redis-cli.err" 2>/dev/null &&
			fail "redis: kmm reported: $(grep -h '^kmm: ' "$tmp/redis.err" "$tmp/redis-cli.err" | head -n 3)"
		redis_pid=
	fi
fi

echo
if [ -n "$skipped" ]; then
	echo "skipped (not installed):$skipped"
fi
if [ $failures -ne 0 ]; then
	echo "programs: $failures check(s) failed, $passes passed"
	exit 1
fi
echo "programs: all $passes checks passed"
[ -z "$skipped" ] || exit 77
exit 0

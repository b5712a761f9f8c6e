#!/usr/bin/env bash
# Page files for bench/reclaim/compress.c: raw 4 KiB pages, the ones a compressed swap tier
# would be given, taken from the heaps of real programs and made like bench/reclaim/workload.c
# makes them.
#
#   [PY_N=1000000] [SQL_ROWS=300000] [REDIS_KEYS=200000] [SORT_LINES=1500000] [SYNTH_MIB=64]
#   bench/reclaim/capture_pages.sh OUTDIR
#
# Each program is run until its heap is built, then stopped (SIGSTOP) while it is alive; its
# writable private anonymous mappings ([heap] and the rw-p lines of /proc/PID/maps with no
# file) are copied page by page from /proc/PID/mem into OUTDIR/NAME.pages, all-zero pages
# left out (the tier drops those without compressing them); then it is let go and ends.
#
#   python.pages   python3 building a dict of PY_N str -> int, lists of PY_N strings and
#                  ints, PY_N / 5 small dict records and PY_N / 5 short lists (pymalloc on)
#   sqlite.pages   sqlite3 :memory: with a table of SQL_ROWS rows (ints, real, text) and an
#                  index on a text column, stopped by the CLI itself (.shell kill -STOP)
#   redis.pages    redis-server (jemalloc) with REDIS_KEYS keys set through redis-cli --pipe:
#                  half JSON-like strings, a quarter ints, a quarter short word lists;
#                  skipped with a note if redis-server or redis-cli is not installed
#   sort.pages     GNU sort (C locale) holding a SORT_LINES-line generated text file (the
#                  format of bench/suite/programs.py) read from a pipe not yet closed
#   hashed.pages   SYNTH_MIB MiB filled as workload.c's "hashed" kind (incompressible)
#   2to1.pages     SYNTH_MIB MiB filled as workload.c's "2to1" kind (about 2:1)
#
# The synthetic files come from workload.c itself (its fill_page, with main renamed), so
# they stay what the workload makes. Needs bash, python3, cc, sqlite3, GNU sort, and the
# right to read another process's memory (root, or ptrace_scope 0 for a child of ours).
# Prints one line per file: pages written, all-zero pages left out, mappings copied.
set -euo pipefail

here=$(dirname "$(realpath "$0")")
out=${1:?usage: capture_pages.sh OUTDIR}
py_n=${PY_N:-1000000}
sql_rows=${SQL_ROWS:-300000}
redis_keys=${REDIS_KEYS:-200000}
sort_lines=${SORT_LINES:-1500000}
synth_mib=${SYNTH_MIB:-64}

mkdir -p "$out"
out=$(realpath "$out")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmm-capture.XXXXXX")
live="" # the program started and not yet waited for, ended on exit
cleanup()
{
	if [ -n "$live" ]; then
		kill -CONT "$live" 2>/dev/null || true
		kill "$live" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The interpreter itself, not a wrapper (pyenv's shim) that might stay its parent.
py=$(python3 -c 'import sys; print(sys.executable)')

# dump PID NAME: the anonymous writable mappings of PID into $out/NAME.pages.
dump()
{
	"$py" - "$1" "$out/$2.pages" "$2" <<'EOF'
import sys

pid, path, name = sys.argv[1], sys.argv[2], sys.argv[3]
PAGE = 4096
ZERO = bytes(PAGE)
regions = []
with open(f"/proc/{pid}/maps") as maps:
    for line in maps:
        f = line.split()
        # address perms offset dev inode [path]: private rw, no file, or the brk heap.
        if f[1] != "rw-p" or (len(f) > 5 and f[5] != "[heap]"):
            continue
        start, end = (int(x, 16) for x in f[0].split("-"))
        regions.append((start, end))
written = zero = unreadable = 0
with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem, open(path, "wb") as dst:
    for start, end in regions:
        for addr in range(start, end, 1 << 20):
            size = min(1 << 20, end - addr)
            try:
                mem.seek(addr)
                chunk = mem.read(size)
            except OSError:
                chunk = b""
            if len(chunk) != size:  # a hole: page by page, dropping what cannot be read
                parts = []
                for a in range(addr, addr + size, PAGE):
                    try:
                        mem.seek(a)
                        p = mem.read(PAGE)
                    except OSError:
                        p = b""
                    if len(p) == PAGE:
                        parts.append(p)
                    else:
                        unreadable += 1
                chunk = b"".join(parts)
            for off in range(0, len(chunk), PAGE):
                page = chunk[off:off + PAGE]
                if page == ZERO:
                    zero += 1
                else:
                    dst.write(page)
                    written += 1
print(f"{name}: {written} pages ({written * PAGE / 2**20:.1f} MiB) written, {zero} all-zero "
      f"left out, {unreadable} unreadable, {len(regions)} mappings")
EOF
}

# wait_stopped PID: until PID is stopped (state T), failing if it ends first.
wait_stopped()
{
	local state
	while :; do
		state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || {
			echo "capture_pages.sh: process $1 ended before it stopped" >&2
			return 1
		}
		[ "$state" = T ] && return 0
		sleep 0.2
	done
}

# finish PID: let a stopped program go on to its end.
finish()
{
	kill -CONT "$1"
	wait "$1" || true
	live=""
}

# --- python3 ---------------------------------------------------------------------------
"$py" - "$py_n" <<'EOF' 2>"$tmp/python.out" &
import os, random, signal, sys

n = int(sys.argv[1])
rng = random.Random(1)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
table = {f"key{i}": rng.randrange(10**9) for i in range(n)}
names = [f"{rng.choice(words)}-{i}-{rng.choice(words)}" for i in range(n)]
ints = [rng.randrange(-10**12, 10**12) for _ in range(n)]
records = [{"id": i, "name": f"user{i}", "tags": [rng.choice(words), str(i % 10)],
            "score": i * 0.5} for i in range(n // 5)]
short = [list(range(i % 16)) for i in range(n // 5)]
os.kill(os.getpid(), signal.SIGSTOP)  # the heap is built: dumped here
print(len(table) + len(names) + len(ints) + len(records) + len(short), file=sys.stderr)
EOF
pid=$!
live=$pid
wait_stopped "$pid"
dump "$pid" python
finish "$pid"

# --- sqlite3 ---------------------------------------------------------------------------
cat >"$tmp/sqlite.sql" <<EOF
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, email TEXT, score REAL, qty INTEGER,
               note TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $sql_rows)
INSERT INTO t
SELECT x, 'user' || (x * 7919 % 1000003), 'user' || x || '@example.com',
       (x * 2654435761 % 100000) / 100.0, x * 40503 % 1000,
       printf('%s %d %s', substr('alpha bravo charlie delta echo foxtrot golf hotel', x % 8 * 6 + 1, 6),
              x * 48271 % 2147483647, substr('kilo lima mike november oscar papa', x % 6 * 5 + 1, 5))
FROM c;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(qty) FROM t WHERE name > 'user5';
.shell kill -STOP \$PPID
EOF
sqlite3 :memory: <"$tmp/sqlite.sql" >"$tmp/sqlite.out" &
pid=$!
live=$pid
wait_stopped "$pid"
dump "$pid" sqlite
finish "$pid"

# --- redis-server ----------------------------------------------------------------------
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	sock=$tmp/redis.sock
	redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
		--dir "$tmp" >"$tmp/redis.log" 2>&1 &
	pid=$!
	live=$pid
	for _ in $(seq 100); do
		redis-cli -s "$sock" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$py" - "$redis_keys" <<'EOF' | redis-cli -s "$sock" --pipe >"$tmp/redis.pipe"
import random, sys

n = int(sys.argv[1])
rng = random.Random(2)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
out = sys.stdout.buffer
for i in range(n):
    if i % 4 < 2:
        key = f"user:{i}"
        val = (f'{{"id":{i},"name":"{rng.choice(words)} {rng.choice(words)}",'
               f'"email":"u{rng.randrange(10**8)}@example.com","score":{rng.random():.4f},'
               f'"visits":{rng.randrange(10**5)}}}')
    elif i % 4 == 2:
        key = f"counter:{i}"
        val = str(rng.randrange(10**12))
    else:
        key = f"tags:{i}"
        val = " ".join(rng.choice(words) for _ in range(rng.randrange(2, 8)))
    k, v = key.encode(), val.encode()
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
EOF
	[ "$(redis-cli -s "$sock" dbsize)" = "$redis_keys" ] || {
		echo "capture_pages.sh: redis holds $(redis-cli -s "$sock" dbsize) keys, not $redis_keys" >&2
		exit 1
	}
	kill -STOP "$pid"
	wait_stopped "$pid"
	dump "$pid" redis
	kill -CONT "$pid"
	redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || kill "$pid"
	wait "$pid" || true
	live=""
else
	echo "redis: skipped, redis-server or redis-cli is not installed"
fi

# --- sort ------------------------------------------------------------------------------
# The suite's sort input (bench/suite/programs.py), so the two sort the same text.
"$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import programs
programs.write_text_file(sys.argv[3], int(sys.argv[2]))' "$here/../suite" "$sort_lines" "$tmp/input.txt"
size=$(stat -c %s "$tmp/input.txt")
mkfifo "$tmp/sort.fifo"
# A buffer larger than the input: sort holds all of it, waiting for the end of the pipe.
LC_ALL=C sort --parallel=1 -S $((size * 2 / 1024 + 1024))K <"$tmp/sort.fifo" >/dev/null &
pid=$!
live=$pid
exec 3>"$tmp/sort.fifo"
cat "$tmp/input.txt" >&3
while [ "$(awk '/^rchar/ { print $2 }' "/proc/$pid/io")" -lt "$size" ]; do
	sleep 0.2
done
sleep 0.5 # the lines of the last read are scanned
kill -STOP "$pid"
wait_stopped "$pid"
dump "$pid" sort
exec 3>&-
finish "$pid"
rm -f "$tmp/input.txt"

# --- workload.c's two kinds ------------------------------------------------------------
cat >"$tmp/synth.c" <<'EOF'
#define main workload_main
#include "workload.c"
#undef main

/* synth MIB hashed|2to1 FILE: the pages as workload.c's fill phase leaves them. */
int main(int argc, char **argv)
{
	FILE *f;

	if (argc != 4)
		return 2;
	compressible = !strcmp(argv[2], "2to1");
	nr_pages = (size_t)strtol(argv[1], NULL, 0) << 20 >> 12;
	generation = calloc(nr_pages, sizeof(*generation));
	pages = aligned_alloc(PAGE_SIZE, nr_pages * PAGE_SIZE);
	f = fopen(argv[3], "wb");
	if (!generation || !pages || !f)
		return 2;
	for (size_t page = 0; page < nr_pages; page++)
		fill_page(page);
	if (fwrite(pages, PAGE_SIZE, nr_pages, f) != nr_pages || fclose(f))
		return 2;
	return 0;
}
EOF
cc -std=gnu11 -O2 -pthread -I"$here" -o "$tmp/synth" "$tmp/synth.c"
for kind in hashed 2to1; do
	"$tmp/synth" "$synth_mib" "$kind" "$out/$kind.pages"
	echo "$kind: $((synth_mib * 256)) pages ($synth_mib MiB) written from workload.c's fill_page"
done

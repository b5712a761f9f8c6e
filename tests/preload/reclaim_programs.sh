#!/usr/bin/env bash
# Real programs under KMM_MEM_LIMIT well below their peak: python3, sort, sqlite3 and,
# where installed, redis-server with a data set larger than the limit. Each runs under
# kmm without a limit and with one; the outputs must be identical, and kmm's counters
# must show that pages were swapped out and read back.
#   usage: reclaim_programs.sh path/to/libkmm.so
# Exit 1 if anything failed, 77 if a program was not installed, else 0.
set -u
so=$1
limit=${KMM_TEST_LIMIT:-32M}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmm-reclaim-programs.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
skipped=

run_pair() { # name, then the command; stdin from $tmp/$name.in if it exists
	local name=$1 input=/dev/null
	shift
	[ -f "$tmp/$name.in" ] && input=$tmp/$name.in
	if ! LD_PRELOAD=$so timeout 300 "$@" <"$input" >"$tmp/$name.free" 2>"$tmp/$name.err"; then
		echo "FAIL: $name without a limit: $(tail -3 "$tmp/$name.err")"
		failures=$((failures + 1))
		return
	fi
	if ! LD_PRELOAD=$so KMM_MEM_LIMIT=$limit KMM_SWAP_DIR=$tmp KMM_STATS=vmstat \
		KMM_STATS_FILE="$tmp/$name.%p.stats" timeout 600 "$@" <"$input" \
		>"$tmp/$name.limited" 2>"$tmp/$name.err"; then
		echo "FAIL: $name under KMM_MEM_LIMIT=$limit: $(tail -3 "$tmp/$name.err")"
		failures=$((failures + 1))
		return
	fi
	if ! cmp -s "$tmp/$name.free" "$tmp/$name.limited"; then
		echo "FAIL: $name: the output under KMM_MEM_LIMIT=$limit differs from the output without it"
		diff "$tmp/$name.free" "$tmp/$name.limited" | head -5
		failures=$((failures + 1))
		return
	fi
	out=$(cat "$tmp"/"$name".*.stats | awk '$1 == "pswpout" { o += $2 } $1 == "pswpin" { i += $2 } END { print o + 0, i + 0 }')
	rm -f "$tmp"/"$name".*.stats
	read -r swapped_out swapped_in <<<"$out"
	if [ "$swapped_out" -eq 0 ] || [ "$swapped_in" -eq 0 ]; then
		echo "FAIL: $name: expected pages swapped out and back in, got pswpout $swapped_out pswpin $swapped_in"
		failures=$((failures + 1))
		return
	fi
	echo "ok: $name, same output under KMM_MEM_LIMIT=$limit (pswpout $swapped_out, pswpin $swapped_in)"
}

have() { command -v "$1" >/dev/null 2>&1 || { echo "skip: $1 not installed"; skipped=1; return 1; }; }

if have python3; then
	run_pair python3 python3 -c '
import hashlib
rows = [("key%07d" % i, str(i * 7919 % 1000003) * 5) for i in range(600000)]
table = dict(rows)
total = hashlib.sha256()
for k in sorted(table, key=lambda k: table[k]):
    total.update(k.encode())
print(len(table), total.hexdigest())'
fi
if have python3; then
	# 160 MiB of 4 KiB objects, checked with a stride, then freed from the end at exit:
	# every free touches a swapped-out header, walking the heap downwards.
	run_pair python3_exit python3 -c '
import hashlib
b = [hashlib.sha256(str(i).encode()).digest() * 128 for i in range(40000)]
assert all(b[i] == hashlib.sha256(str(i).encode()).digest() * 128 for i in range(0, 40000, 7))
print(len(b))'
fi
if have sort; then
	python3 -c '
import random
r = random.Random(1)
for i in range(900000):
    print("%016x %s" % (r.getrandbits(64), "x" * r.randrange(20)))' >"$tmp/sort.in"
	run_pair sort sort -S 200M
fi
if have sqlite3; then
	cat >"$tmp/sqlite3.in" <<'SQL'
PRAGMA cache_size = -200000;
CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO t SELECT i, printf('%08d', (i * 7919) % 300007), zeroblob(200 + i % 17) FROM n;
CREATE INDEX tk ON t (k);
SELECT count(*), sum(length(v)), min(k), max(k) FROM t;
SELECT k FROM t ORDER BY k LIMIT 3 OFFSET 150000;
SQL
	run_pair sqlite3 sqlite3 :memory:
fi
if have redis-server && have redis-cli; then
	port=$((20000 + RANDOM % 20000))
	LD_PRELOAD=$so KMM_MEM_LIMIT=$limit KMM_SWAP_DIR=$tmp redis-server --port "$port" \
		--save '' --appendonly no >"$tmp/redis.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	python3 -c '
for i in range(200000):
    v = ("%d-" % i) * 40
    print("SET key:%d %s" % (i, v))' | redis-cli -p "$port" --pipe >/dev/null 2>&1
	got=$(for i in 0 12345 199999; do redis-cli -p "$port" GET "key:$i"; done | md5sum)
	want=$(python3 -c '
for i in (0, 12345, 199999):
    print(("%d-" % i) * 40)' | md5sum)
	used=$(redis-cli -p "$port" INFO memory | awk -F: '/^used_memory:/ { print $2 }' | tr -d '\r')
	kill "$pid"
	wait "$pid" 2>/dev/null
	if [ "$got" = "$want" ] && [ "${used:-0}" -gt $((64 << 20)) ]; then
		echo "ok: redis-server, $((used >> 20)) MiB of data under KMM_MEM_LIMIT=$limit read back"
	else
		echo "FAIL: redis-server under KMM_MEM_LIMIT=$limit: used_memory ${used:-?}, values match: $([ "$got" = "$want" ] && echo yes || echo no)"
		failures=$((failures + 1))
	fi
fi
[ "$failures" -gt 0 ] && exit 1
[ -n "$skipped" ] && exit 77
exit 0

#!/usr/bin/env bash
# The allocator comparison of docs/bench-malloc.md: every benchmark program, run plain
# (glibc) and under LD_PRELOAD of jemalloc, mimalloc, tcmalloc and kmm (default, and
# with KMM_THP=off), interleaved, REPS times each; the contenders' order rotates from one
# repetition to the next. Raw results go to OUT (CSV: bench,contender,rep,key,value),
# medians and ratios to stdout as markdown tables.
#
#   bench/run_malloc_bench.sh BUILD_DIR [REPS] [OUT]
#
# BUILD_DIR holds libkmm.so and bench/ (cmake -S . -B BUILD_DIR
# -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKMM_BUILD_TESTS=OFF). Needs the Debian packages
# libjemalloc2, libmimalloc2.0, libtcmalloc-minimal4, time and python3.
set -euo pipefail

build=$(realpath "${1:?usage: $0 BUILD_DIR [REPS] [OUT]}")
reps=${2:-7}
out=${3:-malloc-bench.csv}
here=$(dirname "$(realpath "$0")")
lib=/usr/lib/x86_64-linux-gnu
python=/usr/bin/python3

contenders=(glibc jemalloc mimalloc tcmalloc kmm kmm_thp_off)

# Runs "$@" as contender $1: sets LD_PRELOAD (and KMM_THP) for that one command.
as() {
	local who=$1
	shift
	case $who in
	glibc) env -u LD_PRELOAD "$@" ;;
	jemalloc) env LD_PRELOAD=$lib/libjemalloc.so.2 "$@" ;;
	mimalloc) env LD_PRELOAD=$lib/libmimalloc.so.2 "$@" ;;
	tcmalloc) env LD_PRELOAD=$lib/libtcmalloc_minimal.so.4 "$@" ;;
	kmm) env LD_PRELOAD="$build/libkmm.so" KMM_THP=on "$@" ;;
	kmm_thp_off) env LD_PRELOAD="$build/libkmm.so" KMM_THP=off "$@" ;;
	esac
}

# run BENCH WHO REP CMD...: one run, its "key value" lines appended to the CSV. A run
# that fails or takes more than 300 s is recorded as key "failed" and reported.
run() {
	local bench=$1 who=$2 rep=$3 output rc=0
	shift 3
	output=$(as "$who" timeout 300 "$@" 2>&1) || rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAILED ($rc): $bench $who rep $rep: $*" >&2
		echo "$output" | head -20 >&2
		echo "$bench,$who,$rep,failed,$rc" >>"$out"
		return 0
	fi
	echo "$output" | awk -v b="$bench" -v w="$who" -v r="$rep" \
		'NF == 2 && $2 ~ /^[0-9.]+$/ { print b "," w "," r "," $1 "," $2 }' >>"$out"
}

rm -f "$out"
for rep in $(seq 1 "$reps"); do
	n=${#contenders[@]}
	for i in $(seq 0 $((n - 1))); do
		who=${contenders[$(((i + rep - 1) % n))]}
		run pairs "$who" "$rep" "$build/bench/malloc_pairs"
		run shuffle "$who" "$rep" "$build/bench/malloc_shuffle"
		run realloc "$who" "$rep" "$build/bench/realloc_chain" double 100
		run realloc "$who" "$rep" "$build/bench/realloc_chain" grow50 100
		run xthread "$who" "$rep" "$build/bench/xthread_free"
		for pm in malloc pymalloc; do
			run "python_$pm" "$who" "$rep" env PYTHONMALLOC=$pm /usr/bin/time \
				-f 'peak_rss_kib %M
wall_s %e' "$python" "$here/py_workload.py"
		done
	done
	echo "repetition $rep of $reps done" >&2
done

"$python" - "$out" <<'EOF'
import csv, statistics, sys
from collections import defaultdict

rows = list(csv.reader(open(sys.argv[1])))
values = defaultdict(list)
for bench, who, rep, key, value in rows:
    values[(bench, key, who)].append(float(value))
whos = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "kmm", "kmm_thp_off"]
others = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
keys = []
for bench, who, rep, key, value in rows:
    if (bench, key) not in keys and key not in ("checksum", "seconds"):
        keys.append((bench, key))
print("| bench | metric | " + " | ".join(whos) + " | " +
      " | ".join(f"kmm/{o}" for o in others) + " | " +
      " | ".join(f"kmm_thp_off/{o}" for o in others) + " |")
print("|" + "---|" * (2 + len(whos) + 2 * len(others)))
for bench, key in keys:
    med = {w: statistics.median(values[(bench, key, w)]) if values[(bench, key, w)] else None
           for w in whos}
    cells = [f"{med[w]:.4g}" if med[w] is not None else "-" for w in whos]
    for k in ("kmm", "kmm_thp_off"):
        for o in others:
            ok = med[k] is not None and med[o]
            cells.append(f"{med[k] / med[o]:.2f}" if ok else "-")
    print(f"| {bench} | {key} | " + " | ".join(cells) + " |")
EOF

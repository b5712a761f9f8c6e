#!/usr/bin/env bash
# kmm's reclaim against the kernel's (the anchor of /work/shared/research/reclaim-anchor.md):
# bench/reclaim/workload run over a working set larger than a 64 MiB limit, three ways,
# interleaved, ROUNDS times for each case (hashed 128 MiB, hashed 256 MiB, 2to1 256 MiB):
#
#   glibc    unlimited, no preload: the baseline
#   kmm      LD_PRELOAD=libkmm.so KMM_MEM_LIMIT=64M (kmm swaps to an unlinked file)
#   kernel   glibc in a cgroup v1 memory cgroup with memory.limit_in_bytes=64M, swapping to
#            /dev/zram0 (2G, lz4)
#
#   [ROUNDS=3] [BUILD=build] [TIMEOUT=600] [CASES="hashed 128,..."] bench/reclaim/run.sh > reclaim.md
#
# Prints markdown: per case and phase, the baseline's median seconds, each limited side's
# slowdown (its median seconds / the baseline's, over the runs that finished the phase) and
# how many runs finished the phase. A run is "killed" if the OOM killer ended it (the
# kernel's), "timeout" past TIMEOUT seconds, "wrong" if the workload found a wrong byte.
# Raw lines (case side round status phase seconds) and each run's stderr stay in the work
# directory it names. Needs bash, cc and awk; the kernel side also needs root, the cgroup v1
# memory controller at /sys/fs/cgroup/memory, /dev/zram0 with lz4, mkswap and swapon, and no
# swap already active; without them it is skipped. Whatever it sets up (the cgroup, zram0
# as swap) is undone on exit, failure or interrupt.
set -uo pipefail

here=$(dirname "$(realpath "$0")")
build=$(realpath "${BUILD:-$here/../../build}")
lib=$build/libkmm.so
rounds=${ROUNDS:-3}
tmo=${TIMEOUT:-600}
limit=64M
cases=("hashed 128" "hashed 256" "2to1 256")
if [ -n "${CASES:-}" ]; then # e.g. CASES="hashed 96,2to1 128"
	IFS=, read -r -a cases <<<"$CASES"
fi
phases=(fill seq rand skew write verify threads total)
memcg=/sys/fs/cgroup/memory
zram=/sys/block/zram0

[ -e "$lib" ] || {
	echo "run.sh: no $lib (set BUILD to the build directory)" >&2
	exit 2
}
work=${WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/kmm-reclaim.XXXXXX")}
mkdir -p "$work"
raw=$work/raw.txt
: >"$raw"
# A copy of the library, so that a rebuild during the runs does not mix two versions.
lib_date=$(date -r "$lib" '+%F %T')
cp "$lib" "$work/libkmm.so" || exit 2
lib=$work/libkmm.so
lib_sum=$(sha256sum "$lib" | cut -c1-12)

# The workload, built once into the work directory (again only if the source is newer).
wl=$work/workload
if [ ! -x "$wl" ] || [ "$here/workload.c" -nt "$wl" ]; then
	cc -std=gnu11 -O2 -pthread -o "$wl" "$here/workload.c" || exit 2
fi

# --- the kernel side: set up, and undo on any exit ------------------------------------
kernel=""         # non-empty: the kernel side runs
kernel_skip=""    # why it does not
zram_set=0        # we configured zram0
swap_on=0         # we swapped on zram0
cg=""             # the cgroup of the current kernel run
child=""          # the pid of the current run's timeout

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	if [ -n "$cg" ] && [ -d "$cg" ]; then
		for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do
			echo "$pid" >"$memcg/cgroup.procs" 2>/dev/null
		done
		for _ in 1 2 3 4 5; do
			rmdir "$cg" 2>/dev/null && break
			sleep 1
		done
		[ -d "$cg" ] && echo "run.sh: could not rmdir $cg" >&2
	fi
	if [ "$swap_on" = 1 ]; then
		swapoff /dev/zram0 || echo "run.sh: swapoff /dev/zram0 failed" >&2
	fi
	if [ "$zram_set" = 1 ]; then
		echo 1 >"$zram/reset" || echo "run.sh: zram0 reset failed" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
	kernel_skip="not root"
elif [ ! -e "$memcg/memory.limit_in_bytes" ]; then
	kernel_skip="no cgroup v1 memory controller at $memcg"
elif [ ! -e "$zram/disksize" ] || ! grep -qw lz4 "$zram/comp_algorithm" 2>/dev/null; then
	kernel_skip="no /dev/zram0 with lz4"
elif ! command -v swapon >/dev/null || ! command -v mkswap >/dev/null; then
	kernel_skip="no swapon/mkswap"
elif [ -n "$(swapon --show 2>/dev/null)" ] || [ "$(wc -l </proc/swaps)" -gt 1 ]; then
	kernel_skip="a swap is already active (left alone): $(swapon --show --noheadings | tr '\n' ' ')"
elif [ "$(cat "$zram/disksize")" != 0 ]; then
	kernel_skip="/dev/zram0 is already set up (disksize $(cat "$zram/disksize")), left alone"
else
	zram_set=1
	if echo lz4 >"$zram/comp_algorithm" && echo 2G >"$zram/disksize" &&
		mkswap /dev/zram0 >/dev/null && swapon /dev/zram0; then
		swap_on=1
		kernel=1
	else
		kernel_skip="setting up zram0 as swap failed"
	fi
fi

# --- one run ---------------------------------------------------------------------------
# run SIDE ROUND KIND MIB: runs the workload, appends "case side round status phase s".
run() {
	local side=$1 round=$2 kind=$3 mib=$4 out=$work/$1.$3.$4.$2 rc status oom
	local vm0 vm1
	case $side in
	glibc)
		env -u LD_PRELOAD timeout "$tmo" "$wl" "$mib" "$kind" >"$out.out" 2>"$out.err" &
		;;
	kmm)
		env LD_PRELOAD="$lib" KMM_MEM_LIMIT=$limit timeout "$tmo" "$wl" "$mib" "$kind" \
			>"$out.out" 2>"$out.err" &
		;;
	kernel)
		cg=$memcg/kmm_reclaim_bench.$$
		mkdir "$cg" && echo $limit >"$cg/memory.limit_in_bytes" || {
			echo "$kind.$mib $side $round setup-failed - -" >>"$raw"
			return
		}
		vm0=$(awk '$1 ~ /^pswp(in|out)$/ {printf "%s ", $2}' /proc/vmstat)
		env -u LD_PRELOAD timeout "$tmo" sh -c 'echo $$ >"$1" && shift && exec "$@"' sh \
			"$cg/cgroup.procs" "$wl" "$mib" "$kind" >"$out.out" 2>"$out.err" &
		;;
	esac
	child=$!
	wait "$child"
	rc=$?
	child=""
	case $rc in
	0) status=ok ;;
	1) status=wrong ;;
	124) status=timeout ;;
	*) status=rc$rc ;;
	esac
	if [ "$side" = kernel ]; then
		oom=$(awk '$1 == "oom_kill" {print $2}' "$cg/memory.oom_control")
		[ "${oom:-0}" -gt 0 ] && status=killed
		vm1=$(awk '$1 ~ /^pswp(in|out)$/ {printf "%s ", $2}' /proc/vmstat)
		echo "pswpin pswpout before: $vm0 after: $vm1 max_usage: $(cat "$cg/memory.max_usage_in_bytes")" \
			>>"$out.err"
		for _ in 1 2 3 4 5; do
			rmdir "$cg" 2>/dev/null && break
			sleep 1
		done
		[ -d "$cg" ] && {
			echo "run.sh: could not rmdir $cg" >&2
			exit 1
		}
		cg=""
	fi
	awk -v c="$kind.$mib" -v s="$side" -v r="$round" -v st="$status" \
		'NF == 2 {print c, s, r, st, $1, $2; n++} END {if (!n) print c, s, r, st, "-", "-"}' \
		"$out.out" >>"$raw"
	echo "$(date +%T) $kind $mib $side round $round: $status" \
		"$(awk '$1 == "total" {print $2 " s"}' "$out.out")" >&2
}

sides=(glibc kmm)
[ -n "$kernel" ] && sides+=(kernel)
start=$(date +%s)
for ((round = 1; round <= rounds; round++)); do
	for c in "${cases[@]}"; do
		for side in "${sides[@]}"; do
			run "$side" "$round" $c
		done
	done
done
elapsed=$(($(date +%s) - start))

# --- the tables ------------------------------------------------------------------------
echo "# kmm reclaim against the kernel's: limit $limit, $rounds round(s)"
echo
echo "$(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo);" \
	"libkmm.so of $lib_date (sha256 $lib_sum); runs took ${elapsed} s; raw results in $raw."
echo "Slowdown = median seconds limited / median seconds of glibc unlimited, each over the runs"
echo "that finished that phase; \"runs\" = runs that finished the phase / runs started."
[ -n "$kernel" ] || echo "Kernel side skipped: $kernel_skip."
for c in "${cases[@]}"; do
	set -- $c
	id=$1.$2
	echo
	echo "## $1, $2 MiB"
	echo
	echo "| phase | glibc unlimited s | kmm slowdown | kernel slowdown | glibc runs | kmm runs | kernel runs |"
	echo "|---|---|---|---|---|---|---|"
	for p in "${phases[@]}"; do
		awk -v id="$id" -v p="$p" -v R="$rounds" -v k="${kernel:-0}" '
		function median(side,   n, i, j, t, v) {
			n = 0
			for (i = 1; i <= cnt[side]; i++)
				v[++n] = val[side, i]
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
					t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
				}
			if (!n)
				return -1
			return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}
		$1 == id && $5 == p && $4 != "wrong" { val[$2, ++cnt[$2]] = $6 }
		END {
			base = median("glibc")
			line = "| " p " | " (base < 0 ? "-" : sprintf("%.3f", base))
			split("kmm kernel", lim, " ")
			for (i = 1; i <= 2; i++) {
				m = median(lim[i])
				if (lim[i] == "kernel" && !k)
					line = line " | skipped"
				else if (m < 0 || base <= 0)
					line = line " | -"
				else
					line = line sprintf(" | %.1f", m / base)
			}
			line = line sprintf(" | %d/%d | %d/%d | ", cnt["glibc"], R, cnt["kmm"], R)
			line = line (k ? sprintf("%d/%d", cnt["kernel"], R) : "-") " |"
			print line
		}' "$raw"
	done
	echo
	for side in "${sides[@]}"; do
		echo "- $side runs: $(awk -v id="$id" -v s="$side" '$1 == id && $2 == s && !seen[$3]++ {printf "%s%s", sep, $4; sep = ", "}' "$raw")"
	done
done

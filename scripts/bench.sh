#!/usr/bin/env bash
# kmm against glibc, jemalloc, mimalloc and tcmalloc, side by side in one run
# (docs/bench.md). Installs what it needs on a fresh Debian 12 machine (as root), builds
# kmm and the suite in build-bench/, runs bench/suite/bench.py, prints the table of
# ratios and rewrites docs/bench.md and docs/bench.png.
#
#   ./scripts/bench.sh [--quick] [--allocators=a,b,...] [--workloads=x,y,...] [--reps=N]
#                      [--no-docs] [--output=DIR] [--kmm-env=VAR=VALUE]
#
# --quick runs every workload once, smaller, and fewer programs: under two minutes on two
# CPUs. --help (bench/suite/bench.py --help) describes the options.
set -euo pipefail
cd "$(dirname "$0")/.."

# The command line as given, recorded in docs/bench.md; bench.py names bench.sh in its
# messages when it is given --command.
command=./scripts/bench.sh
for arg in "$@"; do
	command+=" $(printf '%q' "$arg")"
done
bench=(bench/suite/bench.py --build build-bench --command "$command")

# A mistake in the options ends here, in one line, before anything is installed or built
# (on a machine without python3 yet, bench.py reports it after the build).
if [ -x /usr/bin/python3 ]; then
	for arg in "$@"; do
		case "$arg" in
		-h | --help) exec /usr/bin/python3 "${bench[@]}" --help ;;
		esac
	done
	/usr/bin/python3 "${bench[@]}" --check-options "$@"
fi

packages=(build-essential cmake git ca-certificates python3 python3-matplotlib
	libbenchmark-dev libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 valgrind
	coreutils perl sqlite3 redis-server redis-tools xz-utils liblz4-dev libzstd-dev)
missing=()
for package in "${packages[@]}"; do
	dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "bench.sh: missing Debian packages: ${missing[*]} (run as root to install)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The build users get from `cmake -S . -B build`: RelWithDebInfo.
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKMM_BUILD_TESTS=OFF \
	-DKMM_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null

# Debian's python3, which sees python3-matplotlib, whatever else is first on PATH.
exec /usr/bin/python3 "${bench[@]}" "$@"

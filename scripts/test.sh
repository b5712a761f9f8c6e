#!/usr/bin/env bash
# Install what the tests need on a fresh Debian 12 machine (as root), build, and run the
# whole test suite under ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends \
		build-essential cmake git ca-certificates python3 perl binutils \
		clang-format sqlite3 redis-server redis-tools libbenchmark-dev \
		python3-matplotlib liblz4-dev libzstd-dev >/dev/null
fi

# The benchmarks are built for the suite's smoke test (bench_smoke), which runs them once.
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKMM_BUILD_BENCH=ON
cmake --build build-test -j"$(nproc)"
cd build-test
ctest --output-on-failure -j"$(nproc)" --timeout 600

#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root) to build kmm, build it, and run kmm's main
# job on a real program: python3 under LD_PRELOAD=libkmm.so, with the zones reported,
# then under `kmm run`, with what kmm saw shown as slabtop would.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential cmake git ca-certificates python3 python3-matplotlib perl \
	libbenchmark-dev clang-format liblz4-dev libzstd-dev >/dev/null

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"

echo
echo "== python3 on kmm's malloc (LD_PRELOAD=build/libkmm.so; PYTHONMALLOC=malloc sends every"
echo "== object to malloc; KMM_VERBOSE=1 reports the zones), then the same without kmm"
workload='
import json, resource, threading, time
t = time.perf_counter()
d = {str(i): [i] * 8 for i in range(1_000_000)}
s = json.dumps({k: v for k, v in list(d.items())[:200_000]})
def worker():
    x = [bytearray(i % 4096 + 1) for i in range(100_000)]
threads = [threading.Thread(target=worker) for _ in range(4)]
[th.start() for th in threads]; [th.join() for th in threads]
print(f"  {len(d)} dict entries, {len(s)} bytes of JSON, 4 threads: "
      f"{time.perf_counter() - t:.2f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
'
LD_PRELOAD="$PWD/build/libkmm.so" KMM_VERBOSE=1 PYTHONMALLOC=malloc python3 -c "$workload"
echo "  kmm with KMM_THP=off (4 KiB pages; faster where the first touch of a huge page is slow,"
echo "  as on virtual machines whose host backs guest memory lazily: see KMM_THP in the README):"
LD_PRELOAD="$PWD/build/libkmm.so" KMM_THP=off PYTHONMALLOC=malloc python3 -c "$workload"
echo "  glibc:"
PYTHONMALLOC=malloc python3 -c "$workload"
echo
echo "== the same under 'build/kmm run' (statistics in the kernel's /proc formats), then"
echo "== 'build/kmm top' on the snapshot file it wrote"
stats=$(mktemp -d)/python3.%p.stats
PYTHONMALLOC=malloc build/kmm run --interval=200 --file="$stats" -- /usr/bin/python3 -c "$workload"
build/kmm top --once "$(ls "$(dirname "$stats")"/python3.*.stats | head -1)" | head -n 24

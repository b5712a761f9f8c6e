#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root) to build kmm, build it, and run kmm's main
# job on a real program: python3 under LD_PRELOAD=libkmm.so, with the zones reported.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential cmake git ca-certificates python3 perl \
	libbenchmark-dev clang-format >/dev/null

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"

echo
echo "== python3 under LD_PRELOAD=build/libkmm.so (KMM_VERBOSE=1 reports the zones)"
LD_PRELOAD="$PWD/build/libkmm.so" KMM_VERBOSE=1 python3 -c '
import ctypes, hashlib
kmm = ctypes.CDLL(None)                      # the preloaded libkmm.so is in the global scope
kmm.kmm_alloc_pages.restype = ctypes.c_void_p
kmm.kmm_free_pages.argtypes = [ctypes.c_void_p, ctypes.c_uint]
kmm.kmm_page_to_nid.argtypes = [ctypes.c_void_p]
blocks = [kmm.kmm_alloc_pages(order) for order in range(11)]
for order, addr in enumerate(blocks):
    ctypes.memset(addr, order, 4096 << order)
    print(f"order {order:2d}: {4096 << order:>8d} bytes at {addr:#x}, node {kmm.kmm_page_to_nid(addr)}")
for order, addr in enumerate(blocks):
    kmm.kmm_free_pages(addr, order)
print("python3 ran with kmm preloaded:", hashlib.sha256(b"kmm").hexdigest()[:16])
'

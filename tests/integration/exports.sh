#!/usr/bin/env bash
# libkmm.so exports its public API, the C library's allocation functions and C++
# operator new/delete, and nothing else (every internal symbol is hidden).
#   usage: exports.sh path/to/libkmm.so
set -u
expected="_ZdaPv
_ZdaPvRKSt9nothrow_t
_ZdaPvSt11align_val_t
_ZdaPvSt11align_val_tRKSt9nothrow_t
_ZdaPvm
_ZdaPvmSt11align_val_t
_ZdlPv
_ZdlPvRKSt9nothrow_t
_ZdlPvSt11align_val_t
_ZdlPvSt11align_val_tRKSt9nothrow_t
_ZdlPvm
_ZdlPvmSt11align_val_t
_Znam
_ZnamSt11align_val_t
_Znwm
_ZnwmSt11align_val_t
__libc_calloc
__libc_free
__libc_mallinfo
__libc_malloc
__libc_mallopt
__libc_memalign
__libc_pvalloc
__libc_realloc
__libc_valloc
aligned_alloc
calloc
cfree
free
free_aligned_sized
free_sized
kmm_alloc_pages
kmm_alloc_pages_node
kmm_cache_alloc
kmm_cache_create
kmm_cache_destroy
kmm_cache_free
kmm_free_pages
kmm_kfree
kmm_kmalloc
kmm_ksize
kmm_page_to_nid
kmm_stats_dump
kmm_vfree
kmm_vmalloc
mallinfo
mallinfo2
malloc
malloc_info
malloc_stats
malloc_trim
malloc_usable_size
mallopt
memalign
posix_memalign
pvalloc
realloc
reallocarray
valloc"
got=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TDBWV]$/ { print $3 }' | LC_ALL=C sort)
if [ "$got" != "$expected" ]; then
	echo "FAIL: expected exactly these exported symbols:"
	echo "$expected"
	echo "got:"
	echo "$got"
	exit 1
fi
echo "exports: only the public API is exported"

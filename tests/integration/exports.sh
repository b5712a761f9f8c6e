#!/usr/bin/env bash
# libkmm.so exports its public API and nothing else (every internal symbol is hidden).
#   usage: exports.sh path/to/libkmm.so
set -u
expected="kmm_alloc_pages
kmm_alloc_pages_node
kmm_free_pages
kmm_page_to_nid"
got=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TDBWV]$/ { print $3 }' | grep -v '^_' | sort)
if [ "$got" != "$expected" ]; then
	echo "FAIL: expected exactly these exported symbols:"
	echo "$expected"
	echo "got:"
	echo "$got"
	exit 1
fi
echo "exports: only the public API is exported"

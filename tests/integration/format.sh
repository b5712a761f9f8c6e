#!/usr/bin/env bash
# Every C and C++ source is clang-format clean with the project's .clang-format.
#   usage: format.sh source-dir
set -u
cd "$1" || exit 1
if ! command -v clang-format >/dev/null; then
	echo "clang-format not installed: skipped"
	exit 77
fi
files=$(find src include tests bench -name '*.[ch]' -o -name '*.cc' 2>/dev/null | sort)
bad=$(for f in $files; do clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -n "$bad" ]; then
	echo "FAIL: not clang-format clean (run clang-format -i on them):"
	echo "$bad"
	exit 1
fi
echo "format: $(echo "$files" | wc -w) files clean"

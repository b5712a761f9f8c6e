#!/usr/bin/env bash
# Real programs under LD_PRELOAD=libkmm.so produce exactly the output they produce
# without it; KMM_VERBOSE=1 reports the zones; a bad KMM_* value is one line on stderr
# and the program still runs.
#   usage: preload_programs.sh path/to/libkmm.so path/to/page_user
set -u
so=$1
page_user=$2
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# same_output NAME COMMAND...: stdout and exit status with and without kmm must match.
same_output() {
	local name=$1 want got want_rc got_rc
	shift
	want=$("$@" 2>/dev/null)
	want_rc=$?
	got=$(LD_PRELOAD=$so "$@" 2>/dev/null)
	got_rc=$?
	if [ "$want" != "$got" ] || [ "$want_rc" != "$got_rc" ]; then
		fail "$name: expected exit $want_rc and $(printf '%s' "$want" | wc -c) bytes of output, got exit $got_rc and $(printf '%s' "$got" | wc -c) bytes"
	else
		echo "ok: $name"
	fi
}

same_output "sort" sh -c 'seq 100000 | sort -R --random-source=/dev/zero | sort -n | md5sum'
same_output "bash pipeline" bash -c 'for i in $(seq 200); do echo $i; done | tr 0-9 a-j | sort | uniq -c | wc -l'
same_output "ls" ls -la /usr/lib
if command -v python3 >/dev/null; then
	same_output "python3" python3 -c 'import hashlib,threading
d={str(i):[i]*4 for i in range(100000)}
out=[]
t=[threading.Thread(target=lambda: out.append(sum(len(v) for v in d.values()))) for _ in range(4)]
[x.start() for x in t]; [x.join() for x in t]
print(len(d), out, hashlib.sha256(repr(sorted(d.items())[:1000]).encode()).hexdigest())'
fi
if command -v perl >/dev/null; then
	same_output "perl" perl -e 'my %h; $h{$_}=[1..10] for 1..50000; print scalar(keys %h), "\n"'
fi

# The page allocator is reachable from a program that was not linked against kmm.
out=$(LD_PRELOAD=$so "$page_user" 2>&1)
if [ $? -ne 0 ]; then fail "page_user: $out"; else echo "ok: page_user"; fi

# KMM_VERBOSE=1 reports each zone with its backing.
err=$(LD_PRELOAD=$so KMM_VERBOSE=1 /bin/true 2>&1 >/dev/null)
case $err in
*"kmm: zone 0: node "*"backing "*) echo "ok: verbose zone report" ;;
*) fail "KMM_VERBOSE=1: expected a 'kmm: zone 0: node ... backing ...' line, got: $err" ;;
esac

# A bad value: one line naming variable, value and forms; the program runs normally.
err=$(LD_PRELOAD=$so KMM_ZONE_SIZE=lots sh -c 'echo fine' 2>&1)
want="kmm: KMM_ZONE_SIZE=lots is not valid: expected a size in bytes with an optional K, M, G or T suffix, from 4M up (e.g. 512M), or 0 for the node's memory; using the default
fine"
if [ "$err" != "$want" ]; then fail "bad KMM_ZONE_SIZE: expected:
$want
got:
$err"; else echo "ok: bad value reported"; fi

# Under an address-space limit (RLIMIT_AS) kmm maps sections as it needs them, so the
# program has nearly all of its limit: python3 allocates 400 MiB in one block, and then
# 400 MiB in small ones, under a 512 MiB limit (address_limit compares with glibc).
if command -v python3 >/dev/null; then
	out=$(ulimit -v 524288; LD_PRELOAD=$so python3 -c '
x=bytearray(400*2**20); del x
y=[bytearray(4000) for i in range(100000)]; print(len(y))' 2>&1)
	if [ "$out" = 100000 ]; then echo "ok: RLIMIT_AS left to the program"; else fail "python3 under ulimit -v 524288: $out"; fi
fi

if [ $failures -ne 0 ]; then
	echo "$failures preload check(s) failed"
	exit 1
fi
echo "preload programs: all passed"

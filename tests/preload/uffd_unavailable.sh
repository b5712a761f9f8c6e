#!/bin/sh
# KMM_UFFD=on where userfaultfd is refused (an unprivileged user namespace, with
# vm.unprivileged_userfaultfd=0): one line says so and the program runs without it.
# The same for KMM_MEM_LIMIT in a process that dropped to nobody (setpriv), where the
# program runs without the limit.
# Usage: uffd_unavailable.sh path/to/libkmm.so
lib=$1
if ! unshare -U true 2>/dev/null; then
	echo "no user namespaces here: skipped"
	exit 77
fi
if [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" != 0 ]; then
	echo "vm.unprivileged_userfaultfd is not 0: userfaultfd is allowed, skipped"
	exit 77
fi
# expect_fallback WHAT PATTERN COMMAND...: COMMAND prints "still runs" and exits 0, and
# its stderr is exactly one line matching PATTERN.
expect_fallback() {
	what=$1 pattern=$2
	shift 2
	err=$(mktemp)
	chmod 644 "$err" # the command may run as nobody
	out=$("$@" 2>"$err")
	status=$?
	msg=$(cat "$err")
	rm -f "$err"
	if [ $status -ne 0 ] || [ "$out" != "still runs" ]; then
		echo "FAIL: $what: expected 'still runs' and status 0, got status $status and '$out' ($msg)"
		exit 1
	fi
	# shellcheck disable=SC2254 # a glob pattern on purpose
	case $msg in
	$pattern) ;;
	*)
		echo "FAIL: $what: expected a line on stderr matching '$pattern', got: $msg"
		exit 1
		;;
	esac
	if [ "$(printf '%s\n' "$msg" | wc -l)" -ne 1 ]; then
		echo "FAIL: $what: expected one line on stderr, got: $msg"
		exit 1
	fi
}

expect_fallback "KMM_UFFD=on" "kmm: KMM_UFFD: userfaultfd is not available*running without demand faulting" \
	unshare -U env KMM_UFFD=on LD_PRELOAD="$lib" /bin/echo still runs
echo "KMM_UFFD=on without userfaultfd: one line, and the program ran"

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "not root, or no setpriv: the KMM_MEM_LIMIT case is skipped"
	exit 0
fi
expect_fallback "KMM_MEM_LIMIT as nobody" \
	"kmm: KMM_MEM_LIMIT: userfaultfd is not available*running without the limit" \
	env KMM_MEM_LIMIT=32M LD_PRELOAD="$lib" setpriv --reuid=65534 --regid=65534 \
	--clear-groups /bin/echo still runs
echo "KMM_MEM_LIMIT as nobody without userfaultfd: one line, and the program ran"

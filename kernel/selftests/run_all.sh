#!/bin/sh
# Runs inside the test guest: every UMCG selftest, TAP on stdout.
# Environment: UMCG_STRESS_SECONDS (60), UMCG_FUZZ_SECONDS (20),
# UMCG_TEST_SHARE (a 9p mount for the file-mapping fault test),
# UMCG_ONLY (run only this umcg_basic test, skip stress and fuzz).
fail=0

# Run "$@" with a deadline; on expiry dump every thread (state, wchan,
# kernel stack) for diagnosis, kill it and fail.
watchdog() {
	secs=$1
	shift
	"$@" &
	pid=$!
	n=0
	while kill -0 $pid 2>/dev/null && [ $n -lt $secs ]; do
		sleep 1
		n=$((n + 1))
	done
	if kill -0 $pid 2>/dev/null; then
		echo "# $1 did not finish in $secs s: thread dump"
		for t in /proc/$pid/task/*; do
			echo "# --- tid $(basename $t): $(cut -d' ' -f3 $t/stat) wchan=$(cat $t/wchan) syscall=$(cut -d' ' -f1 $t/syscall)"
			sed 's/^/#     /' $t/stack 2>/dev/null | head -8
		done
		kill -9 $pid
		wait $pid
		return 1
	fi
	wait $pid
}

echo "# kernel: $(uname -r), $(nproc) CPUs"
for f in abi_version nr_umcg_ctl nr_umcg_wait; do
	echo "# /sys/kernel/umcg/$f: $(cat /sys/kernel/umcg/$f 2>&1)"
done
echo "# === umcg_basic"
watchdog 600 umcg_basic $UMCG_ONLY || fail=1
if [ -z "$UMCG_ONLY" ]; then
	s=${UMCG_STRESS_SECONDS:-60}
	if [ "$s" = skip ]; then
		# Not "passed": the caller asked not to run it (see
		# deploy/vm/run-selftests --skip-stress).
		echo "# === umcg_stress SKIPPED on request"
	else
		echo "# === umcg_stress $s s"
		watchdog $((s + 90)) umcg_stress "$s" || fail=1
	fi
	s=${UMCG_FUZZ_SECONDS:-20}
	echo "# === umcg_fuzz $s s"
	watchdog $((s + 120)) umcg_fuzz "$s" || fail=1
fi
if [ $fail = 0 ]; then echo "# UMCG selftests: PASS"; else echo "# UMCG selftests: FAIL"; fi
exit $fail

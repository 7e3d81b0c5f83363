#!/bin/sh
# Runs inside the test guest: every UMCG selftest, TAP on stdout.
# Environment: UMCG_STRESS_SECONDS (60), UMCG_FUZZ_SECONDS (20),
# UMCG_TEST_SHARE (a 9p mount for the file-mapping fault test),
# UMCG_ONLY (run only this umcg_basic test, skip stress and fuzz).
fail=0
echo "# kernel: $(uname -r), $(nproc) CPUs"
for f in abi_version nr_umcg_ctl nr_umcg_wait; do
	echo "# /sys/kernel/umcg/$f: $(cat /sys/kernel/umcg/$f 2>&1)"
done
echo "# === umcg_basic"
umcg_basic $UMCG_ONLY || fail=1
if [ -z "$UMCG_ONLY" ]; then
	echo "# === umcg_stress ${UMCG_STRESS_SECONDS:-60} s"
	umcg_stress "${UMCG_STRESS_SECONDS:-60}" || fail=1
	echo "# === umcg_fuzz ${UMCG_FUZZ_SECONDS:-20} s"
	umcg_fuzz "${UMCG_FUZZ_SECONDS:-20}" || fail=1
fi
if [ $fail = 0 ]; then echo "# UMCG selftests: PASS"; else echo "# UMCG selftests: FAIL"; fi
exit $fail

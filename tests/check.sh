#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/check.sh          (what `make check` runs after set-up)
# Env:   KERNELS="REL ..."       kernels to test (default: the whole matrix)
#        TESTS="pattern"         only suite tests whose name matches (grep -E)
#        DOORBELL_NO_DEBUG_KERNEL=1  leave the debug kernel out of the matrix
#
# Builds the modules for every kernel of the matrix and the tools, runs the
# static checks, then every test in tests/suite/ in its own VM boot per
# kernel (tests/vm/run fails a test on any kernel splat).  Prints kselftest
# TAP per kernel and ends with the line "N passed, N failed, N skipped".
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
user_kernels=${KERNELS:-}
KERNELS=${KERNELS:-$(cat "$CACHE/matrix")}
TESTS=${TESTS:-.}
RES=$TOP/results
mkdir -p "$RES"

pass=0 fail=0 skip=0 n=0
start=$(date +%s)

# result STATUS NAME: STATUS 0 ok, 4 skip, else not ok.
result() {
	n=$((n + 1))
	case "$1" in
	0) echo "ok $n $2"; pass=$((pass + 1)) ;;
	4) echo "ok $n $2 # SKIP"; skip=$((skip + 1)) ;;
	*) echo "not ok $n $2"; fail=$((fail + 1)) ;;
	esac
}

# Run a command, its output as TAP diagnostics; returns its status.
diag() {
	local rc
	"$@" 2>&1 | sed 's/^/# /'
	rc=${PIPESTATUS[0]}
	return "$rc"
}

suite=$(cd tests/suite && ls | grep -E "$TESTS" | sort)

echo "TAP version 13"
echo "# doorbell check: kernels: $KERNELS"
echo "# host: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
echo "# test VMs' QEMU: $(tests/vm/run --which-qemu)"

# Host-side: the tools and test programs, static checks.
echo "# host checks"
diag make -s tools; result $? "host: tools build (-Werror)"
diag tests/build-tests.sh; result $? "host: test programs build (-Werror)"
diag tests/checkpatch.sh; result $? "host: checkpatch --strict on kernel code"
diag tests/sparse.sh; result $? "host: sparse (C=2) and W=1"
# The debug kernel (KASAN, lockdep, kmemleak, fault injection) joins the
# matrix unless KERNELS was given or DOORBELL_NO_DEBUG_KERNEL=1.
if [ -z "$user_kernels" ] && [ "${DOORBELL_NO_DEBUG_KERNEL:-0}" != 1 ]; then
	t0=$(date +%s)
	dbg=$(tests/debug-kernel/build.sh 2> >(sed 's/^/# /' >&2))
	rc=$?
	[ $rc = 0 ] && KERNELS="$KERNELS $dbg"
	result $rc "host: debug kernel ${dbg:-?} (KASAN, lockdep, kmemleak, fault injection): $(( $(date +%s) - t0 )) s"
fi
diag kernel-patch/check.sh --drift; result $? "host: kernel-patch: series up to date (no drift)"
diag kernel-patch/check.sh --no-drift; result $? "host: kernel-patch: applies to 6.12 and builds in tree (W=1), checkpatch clean"

for k in $KERNELS; do
	echo "# kernel $k"
	kres=$RES/$k
	mkdir -p "$kres"
	diag tests/build-matrix.sh "$k"; built=$?
	result $built "$k: modules build (W=1, no warnings)"
	if [ $built != 0 ]; then
		for t in $suite; do result 1 "$k: $t (not run: build failed)"; done
		continue
	fi

	# The runner must report a splat: load a module that WARNs.
	diag tests/vm/run --kernel "$k" --no-doorbell --timeout 300 --results "$kres/runner-selftest" -- \
		insmod "build/$k/tests/vm/warn-module/doorbell_warntest.ko" >/dev/null
	rc=$?
	if [ $rc = 126 ] && grep -q 'WARNING: CPU' "$kres/runner-selftest/splats"; then
		result 0 "$k: runner fails a run whose kernel log has a WARN"
	else
		echo "# runner exit status $rc, expected 126"
		result 1 "$k: runner fails a run whose kernel log has a WARN"
	fi

	for t in $suite; do
		# A test may name the kernels it runs on in its header
		# ("# kernels: default" or "# kernels: ERE" on the release):
		# on the others it is skipped without a VM boot (a boot costs
		# about 150 s on the debug kernel).
		want=$(sed -n 's/^# kernels: //p' "tests/suite/$t" | head -n1)
		[ "$want" = default ] && want="^$(head -n1 "$CACHE/matrix" | sed 's/[.+]/\\&/g')\$"
		if [ -n "$want" ] && ! echo "$k" | grep -qE "$want"; then
			echo "# $t: not on this kernel (it runs on kernels matching $want)"
			result 4 "$k: $t"
			continue
		fi
		# "# smp: N": the test VM gets N CPUs (tests/vm/run --smp).
		smp=$(sed -n 's/^# smp: \([0-9]*\)$/--smp \1/p' "tests/suite/$t" | head -n1)
		t0=$(date +%s)
		diag tests/vm/run --kernel "$k" $smp --timeout 900 --results "$kres/$t" -- "tests/suite/$t"
		rc=$?
		echo "# $t: exit $rc, $(( $(date +%s) - t0 )) s"
		result $rc "$k: $t"
	done
done
echo "1..$n"
echo "# total time: $(( $(date +%s) - start )) s; logs in results/<kernel>/<test>/"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/build-matrix.sh [REL...]
# Builds the modules (W=1) for each kernel of the matrix in build/<REL>/,
# plus the test modules in tests/vm/: the runner's WARN self-test and
# doorbell_delay.  Fails on any compiler warning.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
[ $# -gt 0 ] || set -- $(cat "$CACHE/matrix")
jobs=$(nproc)
rc=0
for k in "$@"; do
	out=$TOP/build/$k
	mkdir -p "$out"
	# A copy of the sources per kernel: kbuild writes objects next to them.
	tar -C "$TOP" --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' --exclude='*.mod*' \
		-cf - Kbuild Makefile drivers include tests/vm/warn-module tests/vm/delay-module |
		tar -C "$out" -xf -
	log=$out/build.log
	if ! make -s -C "$CACHE/kernels/$k/build" M="$out" W=1 -j"$jobs" modules >"$log" 2>&1 ||
	   ! make -s -C "$CACHE/kernels/$k/build" M="$out/tests/vm/warn-module" -j"$jobs" modules >>"$log" 2>&1 ||
	   ! make -s -C "$CACHE/kernels/$k/build" M="$out/tests/vm/delay-module" W=1 -j"$jobs" modules >>"$log" 2>&1; then
		echo "build-matrix: $k: build failed" >&2
		cat "$log" >&2
		rc=1
		continue
	fi
	if grep -E 'warning:|error:' "$log" | grep -v 'Skipping BTF' >&2; then
		echo "build-matrix: $k: compiler warnings (see $log)" >&2
		rc=1
		continue
	fi
	echo "build-matrix: $k: ok ($(cd "$out/drivers" && ls ./*.ko | xargs -n1 basename | tr '\n' ' '))" >&2
done
exit $rc

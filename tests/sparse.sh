#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/sparse.sh [REL]
# Builds the modules with sparse (C=2) and W=1 against a kernel of the
# matrix (default: the first) in build/sparse-<REL>/; fails on any warning.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
k=${1:-$(head -n1 "$CACHE/matrix")}
out=$TOP/build/sparse-$k
rm -rf "$out"
mkdir -p "$out"
tar -C "$TOP" --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' --exclude='*.mod*' \
	-cf - Kbuild Makefile drivers include | tar -C "$out" -xf -
log=$out/sparse.log
make -s -C "$CACHE/kernels/$k/build" M="$out" C=2 W=1 -j"$(nproc)" modules >"$log" 2>&1 ||
	{ cat "$log"; exit 1; }
if grep -E 'warning:|error:' "$log"; then
	echo "sparse: warnings on $k (see $log)"
	exit 1
fi
echo "sparse: clean on $k"

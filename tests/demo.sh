#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/demo.sh [bench options]     (what `make demo` runs)
# Boots the default kernel of the matrix in the test VM with the doorbell
# modules loaded and runs doorbell-bench there: the 2009 table, measured.
# Until doorbell-bench exists, a smoke run instead: the harness test, whose
# KVM case runs a guest whose port writes go through a KVM ioeventfd to
# /dev/doorbell.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
k=$(head -n1 "$CACHE/matrix")
tests/build-matrix.sh "$k"
make -s tools
if [ ! -f tools/doorbell-bench/Makefile ]; then
	echo "demo: no doorbell-bench yet: smoke run (harness test with its KVM ioeventfd guest)"
	make -s -C tests/harness
	exec tests/vm/run --kernel "$k" --timeout 900 --results "results/$k/demo" -- \
		tests/suite/10-harness.sh
fi
exec tests/vm/run --kernel "$k" --timeout 900 --results "results/$k/demo" -- \
	tools/doorbell-bench/doorbell-bench --svg /results/doorbell-bench.svg "$@"

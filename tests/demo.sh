#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/demo.sh [bench options]     (what `make demo` runs)
# Boots the default kernel of the matrix in the test VM with the doorbell
# modules loaded and runs doorbell-bench there: the 2009 table, measured,
# with its ratios.  The chart lands in results/<kernel>/demo/.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
k=$(head -n1 "$CACHE/matrix")
tests/build-matrix.sh "$k"
make -s tools
res=results/$k/demo
# The bench bounds each run of a row (its -t); the whole takes 22 min
# nested under TCG on a host whose 2 cores run 10 other jobs.
# shellcheck disable=SC2016 # expanded inside the VM
tests/vm/run --kernel "$k" --no-npt --timeout 3600 --results "$res" -- \
	sh -c 'tools/doorbell-bench/doorbell-bench --svg "$DOORBELL_RESULTS/doorbell-bench.svg" "$@"' \
	doorbell-bench "$@"
echo "demo: chart in $res/doorbell-bench.svg, console and dmesg in $res/"

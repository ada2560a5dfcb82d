#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: kernel-patch/gen.sh [OUT_DIR]     (what `make kernel-patch` runs)
# Regenerates the in-tree series into OUT_DIR (default kernel-patch/series/,
# commit the result) from the current sources: gen.py against the pristine
# files of Debian's linux-source-6.12 that tests/linux-src.sh unpacks.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$TOP/kernel-patch/gen.py" "$("$TOP/tests/linux-src.sh")" \
	"${1:-$TOP/kernel-patch/series}"

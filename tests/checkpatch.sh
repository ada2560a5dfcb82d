#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/checkpatch.sh [FILE...]
# checkpatch.pl --strict (from Debian's linux-source-6.12) on the kernel code:
# every .c/.h under drivers/, the UAPI headers and the test modules in tests/vm/.
# Fails on any error, warning or check.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=$("$TOP/tests/linux-src.sh")
cd "$TOP"
[ $# -gt 0 ] || set -- $(git ls-files -co --exclude-standard 'drivers/*.[ch]' 'include/*.h' 'tests/vm/*-module/*.c')
rc=0
for f in "$@"; do
	out=$(perl "$SRC/scripts/checkpatch.pl" --strict --no-tree --no-summary --terse \
		--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f "$f" 2>&1) || true
	if [ -n "$out" ]; then
		echo "$out"
		rc=1
	fi
done
[ $rc = 0 ] && echo "checkpatch: $# files clean"
exit $rc

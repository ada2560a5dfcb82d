# SPDX-License-Identifier: GPL-2.0
#
# kselftest TAP helpers for the shell tests (sourced): result RC TEXT
# prints the next "ok"/"not ok" line and counts failures in $failed;
# bail prints "Bail out!" and exits 1; finish prints the plan and exits
# 0 or 1; guest_faulted FILE: a nested guest's console FILE has a
# kernel fault report.
n=0 failed=0
result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}
bail() { echo "Bail out! $*"; exit 1; }
finish() {
	echo "1..$n"
	[ "$failed" = 0 ] && exit 0
	exit 1
}
guest_faulted() {
	grep -aq -E 'Oops|BUG:|Kernel panic|WARNING: CPU|general protection' "$1"
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The /dev/doorbell harness test (tests/harness/doorbell_test), then both
# modules unload.  Runs inside the test VM as root, cwd the repository,
# DOORBELL_KO the directory of the modules built for the running kernel.
# The binary is built on the host beforehand: make -C tests/harness
# Exit: 0 pass, 4 skip, else fail.
# boot: shared
bin=tests/harness/doorbell_test
if [ ! -x "$bin" ]; then
	echo "10-harness: $bin missing: run 'make -C tests/harness' on the host first" >&2
	exit 1
fi
loaded() { grep -q "^$1 " /proc/modules; }
. tests/modules.sh
modules_save

for m in doorbell_core doorbell; do
	loaded "$m" && continue
	if [ -z "${DOORBELL_KO:-}" ] || [ ! -f "$DOORBELL_KO/$m.ko" ]; then
		echo "10-harness: $m not loaded and no $m.ko in DOORBELL_KO='${DOORBELL_KO:-}'" >&2
		exit 1
	fi
	insmod "$DOORBELL_KO/$m.ko" || exit 1
done
# The counters live in debugfs; the test skips that case without it.
grep -q " /sys/kernel/debug debugfs " /proc/mounts ||
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

"$bin"
rc=$?

for m in doorbell doorbell_core; do
	if ! rmmod "$m"; then
		echo "10-harness: rmmod $m failed" >&2
		[ $rc = 0 ] && rc=1
	fi
done
if loaded doorbell || loaded doorbell_core; then
	echo "10-harness: modules still loaded after rmmod" >&2
	[ $rc = 0 ] && rc=1
fi
modules_restore || rc=1
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The doorbell modules load, show their metadata, and unload cleanly.
# Runs inside the test VM (tests/vm/run), which has loaded them already.
# boot: shared
. tests/modules.sh
modules_save
n=0 failed=0
t() {
	n=$((n + 1))
	desc=$1
	shift
	if "$@" >/tmp/t.out 2>&1; then
		echo "ok $n $desc"
	else
		echo "not ok $n $desc"
		sed 's/^/# /' /tmp/t.out
		failed=1
	fi
}
loaded() { grep -q "^$1 " /proc/modules; }
unloaded() { ! grep -q "^$1 " /proc/modules; }

echo "TAP version 13"
echo "1..8"
mods=$(ls "$DOORBELL_KO"/*.ko | xargs -n1 basename | sed 's/\.ko$//')
t "doorbell_core loaded by the runner" loaded doorbell_core
t "modinfo: license GPL on every module" sh -c "for m in $DOORBELL_KO/*.ko; do modinfo -F license \$m | grep -qx GPL || exit 1; done"
t "modinfo: a description on every module" sh -c "for m in $DOORBELL_KO/*.ko; do [ -n \"\$(modinfo -F description \$m)\" ] || exit 1; done"
t "modinfo: every parameter says its default" sh -c "for m in $DOORBELL_KO/*.ko; do modinfo -F parm \$m | grep -v 'default' && exit 1; done; exit 0"
# Unload in reverse dependency order: devices first, core last.
t "every module unloads" sh -c "for m in $(echo "$mods" | grep -v '^doorbell_core$' | tr '\n' ' ') doorbell_core; do ! grep -q \"^\$m \" /proc/modules || rmmod \$m || exit 1; done"
t "core unloaded" unloaded doorbell_core
t "core loads again" insmod "$DOORBELL_KO/doorbell_core.ko"
t "the modules loaded at the start load again ($modules_before)" modules_restore
exit $failed

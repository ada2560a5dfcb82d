# SPDX-License-Identifier: GPL-2.0
#
# The doorbell modules around a suite test (sourced, POSIX sh):
# modules_save records which of them are loaded; modules_restore unloads
# those loaded since (devices first, core last) and loads those unloaded
# since (core first, from DOORBELL_KO), so that the test leaves the VM as it
# found it for the next test of a shared boot (tests/vm/batch checks).
# modules_restore prints what it could not do and returns non-zero then.
doorbell_modules="doorbell_core doorbell doorbell_blk doorbell_net"
modules_loaded() {
	for _m in $doorbell_modules; do
		! grep -q "^$_m " /proc/modules || echo "$_m"
	done
}
modules_save() { modules_before=$(modules_loaded | tr '\n' ' '); }
modules_restore() {
	_rc=0
	for _m in doorbell_net doorbell_blk doorbell doorbell_core; do
		case " $modules_before " in *" $_m "*) continue ;; esac
		grep -q "^$_m " /proc/modules || continue
		rmmod "$_m" || { echo "modules_restore: rmmod $_m failed" >&2; _rc=1; }
	done
	for _m in $modules_before; do
		grep -q "^$_m " /proc/modules && continue
		insmod "$DOORBELL_KO/$_m.ko" || { echo "modules_restore: insmod $_m failed" >&2; _rc=1; }
	done
	return $_rc
}

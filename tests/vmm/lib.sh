# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the tests that boot a nested guest with tools/vmm
# (tests/suite/55-vmm.sh, 56-blk.sh) and by tools/blkbench, inside the test
# VM: TAP helpers, the guest's initramfs, vmm() to boot it.
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
GK=$(head -n1 "$CACHE/matrix")		# the nested guest's kernel
KERNEL=$CACHE/kernels/$GK/vmlinuz
VMM=tools/vmm/doorbell-vmm
TAP=dbvm0
W=$(mktemp -d /tmp/vmm.XXXXXX)
INITRD=$W/guest.cpio.gz
GUEST_MEM=256
. tests/tap.sh
loaded() { grep -q "^$1 " /proc/modules; }
cleanup() {
	pkill -9 -f "$VMM" 2>/dev/null
	ip link del "$TAP" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

# vmm_setup [MODULES [ROOT]]: /dev/kvm and the VMM there (else skip or bail),
# the guest's initramfs with the kernel modules MODULES (and the programs of
# $GUEST_BINS from ROOT, see tests/net/mkguest).
vmm_setup() {
	[ -e /dev/kvm ] || { echo "1..0 # SKIP no /dev/kvm in the test VM"; exit 4; }
	[ -x "$VMM" ] || bail "$VMM missing: make tools"
	GUEST_INIT=tests/vmm/guest-init GUEST_MODULES=${1:-virtio_mmio virtio_blk virtio_net} \
		tests/net/mkguest "$GK" "$INITRD" ${2:+"$2"} || bail "guest initramfs"
	grep -q " /sys/kernel/debug debugfs " /proc/mounts ||
		mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
}

# vmm NAME TEST [doorbell-vmm options...]: boots the guest with
# doorbell.test=TEST; its console in $W/NAME.out, the "DBVM key value"
# lines in $W/NAME.dbvm, the most kicks doorbell's debugfs counters showed
# while it ran in $W/NAME.kicks (they go with the device); returns the
# VMM's exit status.  A guest whose userspace never starts (no "DBVM up"
# line: it died, or hung for BOOT_WAIT seconds) or that triple-faults with
# nothing on its console is not booted again: the TAP output says what
# happened and the check that follows fails.
BOOT_WAIT=${BOOT_WAIT:-180}
# silent_triple_fault RC CONSOLE: the VMM's exit RC is a triple fault and
# the guest's console has no fault report.
silent_triple_fault() {
	[ "$1" = 3 ] && ! guest_faulted "$2"
}
# VMM_EACH: a command run before each boot (a test's peer, started afresh).
VMM_EACH=
vmm() {
	local name=$1 test=$2 rc
	shift 2
	[ -z "$VMM_EACH" ] || $VMM_EACH
	vmm_once "$name" "$test" "$@"
	rc=$?
	if ! has "$name" up; then
		echo "# $name: the nested guest's userspace did not start (exit $rc: $(grep -a -m1 -E 'Oops|triple|panic|BUG|hung' "$W/$name.out" | tr -d '\r' | cut -c1-120))"
		show "$name"
	elif silent_triple_fault $rc "$W/$name.out"; then
		echo "# $name: the nested guest triple-faulted with nothing on its console (exit 3), after: $(grep -a '^\[' "$W/$name.out" | tail -n1 | tr -d '\r' | cut -c1-100)"
		echo "# the test VM's last KVM events for it:"
		tail -n 25 "$W/$name.ktrace" 2>/dev/null | sed 's/^ *[^ ]* *\[[0-9]*\] [^ ]* *//; s/^/#   /'
	fi
	return $rc
}
# The test VM's KVM exits and injected exceptions of each boot, in a
# trace buffer of their own: after a triple fault the last of them say where
# the guest was (SVM resets the vCPU's registers on a shutdown exit, so the
# VMM cannot read them).  The guest runs without KASLR so that its
# addresses can be named from this kernel's /proc/kallsyms when it runs the
# guest's kernel (Debian's System.map is a stub).
KTRACE=/sys/kernel/tracing/instances/doorbell-vmm
SYSMAP=/dev/null
[ "$(uname -r)" != "$GK" ] || SYSMAP=/proc/kallsyms
ktrace_start() {
	[ -d /sys/kernel/tracing/instances ] ||
		mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	[ -d "$KTRACE" ] || mkdir "$KTRACE" 2>/dev/null || return 0
	echo 0 >"$KTRACE/tracing_on"
	echo 256 >"$KTRACE/buffer_size_kb"
	: >"$KTRACE/trace"
	for e in kvm_exit kvm_inj_exception kvm_page_fault; do
		echo 1 >"$KTRACE/events/kvm/$e/enable"
	done 2>/dev/null
	echo 1 >"$KTRACE/tracing_on"
}
# ktrace_save NAME: the last 60 events into $W/NAME.ktrace, each kernel
# address followed by its symbol.
ktrace_save() {
	[ -d "$KTRACE" ] || return 0
	echo 0 >"$KTRACE/tracing_on"
	grep -v '^#' "$KTRACE/trace" | tail -n 60 |
		python3 tests/vmm/symbolize.py "$SYSMAP" >"$W/$1.ktrace" 2>&1
}
# VMM_PREFIX: a command the VMM runs under (doorbell-trace ... --), if any.
VMM_PREFIX=()
vmm_once() {
	local name=$1 test=$2 rc pid k max=0 t0=$SECONDS
	shift 2
	ktrace_start
	timeout 600 "${VMM_PREFIX[@]}" "$VMM" --kernel "$KERNEL" --initrd "$INITRD" --mem "$GUEST_MEM" \
		--append "console=ttyS0 panic=-1 loglevel=4 pci=off maxcpus=1 nokaslr doorbell.test=$test" \
		"$@" </dev/null >"$W/$name.out" 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		k=$(kicks)
		[ "$k" -gt "$max" ] && max=$k
		if [ $((SECONDS - t0)) -gt "$BOOT_WAIT" ] && ! grep -aq "DBVM up" "$W/$name.out"; then
			echo "doorbell-vmm: hung: no userspace after $BOOT_WAIT s (killed by the test)" >>"$W/$name.out"
			kill -9 $pid
		fi
		sleep 0.2
	done
	wait $pid
	rc=$?
	[ $rc != 3 ] || ktrace_save "$name"
	echo $max >"$W/$name.kicks"
	grep -a -o 'DBVM .*' "$W/$name.out" | tr -d '\r' >"$W/$name.dbvm"
	return $rc
}

# dbvm NAME KEY: the value of the guest's "DBVM KEY value" line.
dbvm() { awk -v k="$2" '$2 == k { print $3; exit }' "$W/$1.dbvm"; }
has() { grep -q "^DBVM $2\( \|$\)" "$W/$1.dbvm"; }
show() { sed 's/^/# /' "$W/$1.out" | tail -n 15; }
sum() { head -c "$2" "$1" | sha256sum | cut -c1-64; }
kicks() {
	local k=0 f v
	for f in /sys/kernel/debug/doorbell/*/kicks; do
		# a device may go away between the glob and the read
		v=$(cat "$f" 2>/dev/null) && k=$((k + v))
	done
	echo "$k"
}

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernels: ^6\.(12\.[0-9]+\+deb12(-rt)?|1\.0-[0-9]+)-amd64$
# doorbell-net under unmodified QEMU: QEMU (the host's) boots a nested Linux
# guest with KVM whose virtio-net-pci runs on a vhost fd opened on
# /dev/doorbell-net (-netdev tap,...,vhost=on,vhostfd=3), over a tap with
# link-local addresses (outer 169.254.0.1, guest 169.254.0.2).  Checks:
# ping; 4 MiB TCP transfers both ways with sha256 compared; the guest's
# kicks reached doorbell-net; QEMU stop/cont (backend detached, attached);
# a guest reboot; QEMU killed (SIGKILL) mid-transfer, then doorbell_net
# unloads.  The same checks then run with in-tree vhost-net, the reference.
# The nested guest (tests/net/guest-init) serves a shell on TCP port 5000.
# Not on the debug kernel in make check: a nested QEMU guest on the KASAN +
# lockdep kernel under TCG takes over 900 s (make soak runs it there);
# doorbell-net's rings and ioctls run under KASAN in 45-ring.sh and
# 40-fuzz.sh.
# Exit: 0 pass, 4 skip, else fail.
set -u
. tests/net/lib.sh
. tests/tap.sh
echo "TAP version 13"

[ -e /dev/kvm ] || { echo "1..0 # SKIP no /dev/kvm in the test VM"; exit 4; }
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "1..0 # SKIP no qemu-system-x86_64"; exit 4; }
for m in doorbell_core doorbell_net; do
	loaded "$m" || insmod "$DOORBELL_KO/$m.ko" || exit 1
done
loaded vhost_net || modprobe vhost_net 2>/dev/null
grep -q " /sys/kernel/debug debugfs " /proc/mounts ||
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

net_setup || bail "guest initramfs or tap set-up failed"
head -c 4194304 /dev/urandom >"$W/tx"
tx_sum=$(sha256sum <"$W/tx" | cut -c1-64)
mkfifo "$W/hold"

# The guest's receiving nc reads a FIFO that never ends, so that it never
# closes its side before the sender is done; the outer one does the same.
to_guest() {
	local sum p
	gsh "mkfifo /tmp/h 2>/dev/null; nc -l -p 5001 0<>/tmp/h | sha256sum" >"$W/rxsum" &
	p=$!
	connect 5001 <"$W/tx" >/dev/null
	wait $p
	sum=$(cut -c1-64 "$W/rxsum")
	[ "$sum" = "$tx_sum" ]
}

from_guest() {
	local want got p
	want=$(gsh "head -c 4194304 /dev/urandom >/tmp/tx; sha256sum </tmp/tx" | cut -c1-64)
	gsh "nc -l -p 5002 </tmp/tx" >/dev/null &
	p=$!
	connect 5002 0<>"$W/hold" >"$W/rx"
	wait $p
	got=$(sha256sum <"$W/rx" | cut -c1-64)
	[ ${#want} = 64 ] && [ "$want" = "$got" ]
}

kicks() {
	local k=0 f
	for f in /sys/kernel/debug/doorbell/*/kicks; do
		[ -r "$f" ] && k=$((k + $(cat "$f")))
	done
	echo "$k"
}

# suite NAME DEV MODULE
suite() {
	local name=$1 dev=$2 mod=$3 k0 rc p p2

	echo "# $name: $dev"
	k0=$(kicks)
	boot_up "$name" "$dev"
	rc=$?
	result $rc "$name: QEMU boots the guest, virtio-net up"
	if [ $rc != 0 ]; then
		sed 's/^/# qemu: /' "$W/qemu.$boots"
		tail -40 "$W/console.$boots" | sed 's/^/# console: /'
		ip -s link show "$TAP" | sed 's/^/# /'
		stop_qemu
		return
	fi
	if grep -qi "falling back\|vhost.*fail" "$W/qemu.$boots"; then
		result 1 "$name: QEMU uses the vhost fd ($(head -c 200 "$W/qemu.$boots"))"
	else
		result 0 "$name: QEMU uses the vhost fd"
	fi
	busybox ping -c 5 -i 0.2 -W 2 "$GUEST" >/dev/null
	result $? "$name: ping"
	to_guest
	result $? "$name: 4 MiB TCP to the guest, sha256 equal"
	from_guest
	result $? "$name: 4 MiB TCP from the guest, sha256 equal"
	if [ "$mod" = doorbell_net ]; then
		[ "$(kicks)" -gt "$k0" ]
		result $? "$name: the guest's kicks reached doorbell-net ($k0 -> $(kicks))"
	fi
	monitor stop
	busybox ping -c 1 -W 1 "$GUEST" >/dev/null 2>&1
	[ $? != 0 ]
	result $? "$name: QEMU stop: the guest does not answer"
	monitor cont
	busybox ping -c 3 -i 0.2 -W 3 "$GUEST" >/dev/null && to_guest
	result $? "$name: QEMU cont: ping and a transfer work again"
	reboot_up "$name" && to_guest && from_guest
	result $? "$name: guest reboot: up again, transfers both ways"
	# SIGKILL in the middle of a transfer to the guest.
	gsh "mkfifo /tmp/h 2>/dev/null; nc -l -p 5003 0<>/tmp/h >/dev/null" >/dev/null 2>&1 &
	p=$!
	connect 5003 </dev/zero >/dev/null 2>&1 &
	p2=$!
	sleep 3
	kill -9 "$qpid"
	wait "$qpid" 2>/dev/null
	qpid=
	kill $p $p2 2>/dev/null
	kill "$catpid"
	catpid=
	if [ "$mod" = doorbell_net ]; then
		rmmod doorbell_net
		result $? "$name: QEMU killed mid-transfer: doorbell_net unloads"
		insmod "$DOORBELL_KO/doorbell_net.ko"
	else
		result 0 "$name: QEMU killed mid-transfer"
	fi
	exec 5>&- 6>&-
}

suite doorbell-net /dev/doorbell-net doorbell_net
# The reference's behaviour is checked on the distribution kernels; the
# debug kernel (KASAN, lockdep, kmemleak) runs it too slowly to fit.
if [ -e /sys/kernel/debug/kmemleak ]; then
	echo "# vhost-net (reference): not on the debug kernel"
elif [ -e /dev/vhost-net ]; then
	suite vhost-net /dev/vhost-net vhost_net
else
	echo "# vhost-net (reference) unavailable"
fi
echo "1..$n"
rmmod doorbell_net || failed=$((failed + 1))
[ $failed = 0 ] && exit 0
exit 1

# SPDX-License-Identifier: GPL-2.0
#
# Sourced by tests/suite/50-net.sh and tools/netbench/doorbell-netbench,
# inside the test VM: the host's QEMU boots the nested guest of
# tests/net/guest-init with KVM, its virtio-net-pci on the tap $TAP
# (outer 169.254.0.1/16, guest $GUEST).
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
GK=$(head -n1 "$CACHE/matrix")		# the nested guest's kernel
GUEST=169.254.0.2
TAP=dbnet0
W=$(mktemp -d /tmp/net.XXXXXX)
qpid= catpid= boots=0

loaded() { grep -q "^$1 " /proc/modules; }

# stop_qemu: SIGKILL QEMU (if running) and the monitor reader.
stop_qemu() {
	[ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	qpid=
	[ -n "$catpid" ] && kill "$catpid" 2>/dev/null
	catpid=
}

# net_setup [IPERF3_ROOT]: the guest's initramfs and the tap; 1 on failure.
net_setup() {
	trap 'stop_qemu; ip link del "$TAP" 2>/dev/null' EXIT
	tests/net/mkguest "$GK" "$W/guest.cpio.gz" "$@" || return 1
	ip tuntap add dev "$TAP" mode tap vnet_hdr || return 1
	ip addr add 169.254.0.1/16 dev "$TAP" &&
	ip link set "$TAP" up
}

# boot DEV: QEMU in the background, its vhost fd opened on DEV (vhost=on,
# vhostfd=3); DEV "user" for QEMU's own userspace virtio-net (vhost=off).
boot() {
	local net="tap,id=n0,ifname=$TAP,script=no,downscript=no"

	boots=$((boots + 1))
	rm -f "$W/mon.in" "$W/mon.out"
	mkfifo "$W/mon.in" "$W/mon.out"
	if [ "$1" = user ]; then
		net="$net,vhost=off"
		exec 3</dev/null
	else
		net="$net,vhost=on,vhostfd=3"
		exec 3<>"$1"
	fi
	qemu-system-x86_64 -accel kvm -cpu host -m 256 -smp 1 \
		-nodefaults -no-user-config -display none \
		-kernel "$CACHE/kernels/$GK/vmlinuz" -initrd "$W/guest.cpio.gz" \
		-append "console=ttyS0 panic=-1 loglevel=4" \
		-serial "file:$W/console.$boots" \
		-chardev "pipe,id=mon,path=$W/mon" -mon chardev=mon,mode=readline \
		-netdev "$net" -device virtio-net-pci,netdev=n0,romfile= \
		2>"$W/qemu.$boots" &
	qpid=$!
	exec 3<&-
	# Keep both monitor FIFOs open for QEMU's whole life.
	exec 5<>"$W/mon.in" 6<>"$W/mon.out"
	cat <&6 >>"$W/monitor.log" &
	catpid=$!
}

# console_tail: the console's last lines, as TAP comments.
console_tail() {
	tail -n 15 "$W/console.$boots" 2>/dev/null | tr -d '\r' | sed 's/^/# console: /'
}

# boot_up NAME DEV: boot and wait for "ready 1" (the guest's userspace is up
# and answers ping); on failure the console's last lines go to the TAP
# output.  Returns ready's status.
boot_up() {
	local rc
	boot "$2"
	ready 1
	rc=$?
	[ $rc = 0 ] || console_tail
	return $rc
}

# reboot_up NAME: reboot the guest from its shell (reboot -f) and wait for
# its next ready line; on failure the console's last lines go to the TAP
# output.
reboot_up() {
	local want rc p
	want=$(( $(grep -c DOORBELL-GUEST-READY "$W/console.$boots") + 1 ))
	gsh "reboot -f" >/dev/null 2>&1 &
	p=$!
	ready "$want"
	rc=$?
	[ $rc = 0 ] || console_tail
	kill $p 2>/dev/null
	return $rc
}

# monitor CMD: a human-monitor command.
monitor() { echo "$1" >&5; sleep 1; }

# ready N: the guest printed its N-th ready line and answers ping.
ready() {
	local i c
	for i in $(seq 240); do
		kill -0 "$qpid" 2>/dev/null || return 1
		c=$(grep -c DOORBELL-GUEST-READY "$W/console.$boots" 2>/dev/null)
		if [ "${c:-0}" -ge "$1" ] &&
		   busybox ping -c1 -W1 "$GUEST" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# gsh CMD: run CMD in the guest's shell, print its output.
gsh() { echo "$1" | timeout 120 busybox nc "$GUEST" 5000; }

# connect PORT [nc redirections...]: retry until the guest listens.
connect() {
	local port=$1 i
	shift
	for i in $(seq 40); do
		timeout 120 busybox nc "$GUEST" "$port" "$@" 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}

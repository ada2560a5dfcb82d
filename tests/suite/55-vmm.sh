#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernels: ^6\.12\.[0-9]+\+deb12-amd64$
# tools/vmm (doorbell-vmm) boots a nested Linux guest (the matrix's default
# kernel, initramfs from tests/vmm/guest-init) with KVM in the test VM:
# - boot to userspace and power off (exit 0), on 1 and 2 vCPUs; reboot
#   (exit 2, through the FADT's reset register); a kernel that
#   triple-faults (exit 3, and the test VM's KVM trace shows its shutdown
#   exit: what a nested test prints after a triple fault);
# - virtio-blk on doorbell-blk and on the VMM's userspace backend: 4 MiB
#   written by the guest, read back with the cache dropped, and the file's
#   first 4 MiB have the same sha256; the guest's kicks reached doorbell-blk
#   (its per-queue kick counters); 2 queues on 2 vCPUs; a read-only disk
#   refuses writes;
# - virtio-net on doorbell-net, vhost-net and the userspace backend: ping
#   and 1 MiB TCP from the guest with sha256 compared (tap 169.254.1.1);
# - errors: missing kernel, initramfs or disk, doorbell_blk not loaded,
#   no /dev/kvm: exit 1 and a message saying which; nothing left running.
# Exit: 0 pass, 4 skip, else fail.
set -u
. tests/vmm/lib.sh
echo "TAP version 13"
vmm_setup

# --- errors, first: doorbell_blk is not loaded yet ---
truncate -s 16M "$W/disk"
expect_error() {
	local what=$1 pattern=$2 rc
	shift 2
	"$VMM" "$@" </dev/null >"$W/err.out" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q -- "$pattern" "$W/err.out"; then
		result 0 "error: $what: exit 1, \"$(head -n1 "$W/err.out")\""
	else
		result 1 "error: $what: exit $rc: $(head -c 300 "$W/err.out")"
	fi
}
loaded doorbell_blk && rmmod doorbell_blk
expect_error "missing kernel" "kernel $W/nope: No such file" --kernel "$W/nope"
expect_error "missing initramfs" "initrd $W/nope: No such file" \
	--kernel "$KERNEL" --initrd "$W/nope"
expect_error "disk that does not open" "disk $W/nope: No such file" \
	--kernel "$KERNEL" --disk "$W/nope"
expect_error "doorbell_blk not loaded" "is doorbell_blk loaded" \
	--kernel "$KERNEL" --disk "$W/disk"
# /dev/kvm gone: in a mount namespace whose /dev is an empty tmpfs.
rc=0
unshare -m sh -c "mount -t tmpfs none /dev && exec $VMM --kernel $KERNEL" </dev/null >"$W/err.out" 2>&1 || rc=$?
grep -q "open /dev/kvm: No such file" "$W/err.out"
result $(( rc != 1 || $? )) "error: no /dev/kvm: exit $rc, \"$(head -n1 "$W/err.out")\""
expect_error "not a bzImage" "not a bzImage" --kernel "$W/disk"

# A "kernel" whose 64-bit entry is ud2, with no IDT: #UD, #DF, triple fault.
head -c 2048 /dev/zero >"$W/tf"
printf '\001' | dd of="$W/tf" bs=1 seek=$((0x1f1)) conv=notrunc 2>/dev/null
printf '\152' | dd of="$W/tf" bs=1 seek=$((0x201)) conv=notrunc 2>/dev/null
printf 'HdrS\017\002' | dd of="$W/tf" bs=1 seek=$((0x202)) conv=notrunc 2>/dev/null
printf '\001' | dd of="$W/tf" bs=1 seek=$((0x236)) conv=notrunc 2>/dev/null
printf '\000\010' | dd of="$W/tf" bs=1 seek=$((0x238)) conv=notrunc 2>/dev/null
printf '\017\013' | dd of="$W/tf" bs=1 seek=$((0x600)) conv=notrunc 2>/dev/null
ktrace_start
timeout 60 "$VMM" --kernel "$W/tf" </dev/null >"$W/tf.out" 2>&1
rc=$?
ktrace_save tf
grep -q "triple-faulted" "$W/tf.out"
result $(( rc != 3 || $? )) "a guest that triple-faults: exit $rc, \"$(head -n1 "$W/tf.out")\""
# What the nested tests show after a triple fault: the exits before it.
last=$(grep -m1 'reason shutdown' "$W/tf.ktrace" | sed 's/^.*kvm_exit: //')
[ -n "$last" ]
result $? "a guest that triple-faults: its shutdown exit is in the test VM's KVM trace (${last:-none}; $(grep -c kvm_ "$W/tf.ktrace") events kept)"

for m in doorbell_core doorbell_blk doorbell_net; do
	loaded "$m" || insmod "$DOORBELL_KO/$m.ko" || bail "insmod $m"
done

# --- boot, power off, reboot ---
t0=$(date +%s.%N)
vmm boot1 boot --cpus 1
rc=$?
t1=$(date +%s.%N)
has boot1 "done"
result $(( rc != 0 || $? )) "boot to userspace and power off, 1 vCPU: exit $rc, $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
[ "$rc" = 0 ] || show boot1
vmm boot2 boot --cpus 2
rc=$?
[ "$(dbvm boot2 up)" = cpus=2 ]
result $(( rc != 0 || $? )) "2 vCPUs: the guest runs on both ($(dbvm boot2 up)), exit $rc"
[ "$rc" = 0 ] || show boot2
vmm reboot reboot --cpus 1
rc=$?
result $(( rc != 2 )) "guest reboot: exit $rc (2: rebooted)"
# Through the FADT's reset register: a write of 0xfe to port 0x64, and not
# the keyboard-controller method, which polls the 8042's status 65536 times
# before each write (SVM's IOIO exit info: port << 16, 8-bit, bit 0 IN).
# The reads counted are those before the first write.
read -r wrote polls < <(awk '/reason io .*info1 0x0*640010 / { w++; exit }
	/reason io .*info1 0x0*640011 / { r++ }
	END { print w + 0, r + 0 }' "$KTRACE/trace" 2>/dev/null)
[ "${wrote:-0}" = 1 ] && [ "${polls:-65536}" -lt 100 ]
result $? "guest reboot: through the ACPI reset register (port 0x64 written: ${wrote:-?}; ${polls:-?} reads of its status before)"

# --- virtio-blk ---
blk_rw() {
	local backend=$1 rc want got file
	truncate -s 0 "$W/disk" && truncate -s 16M "$W/disk"
	vmm "blk-$backend" blk-rw --cpus 1 --disk "$W/disk,backend=$backend"
	rc=$?
	want=$(dbvm "blk-$backend" written)
	got=$(dbvm "blk-$backend" read)
	file=$(sum "$W/disk" 4194304)
	[ $rc = 0 ] && [ ${#want} = 64 ] && [ "$want" = "$got" ] && [ "$want" = "$file" ]
	result $? "virtio-blk, $backend backend: 4 MiB written, read back and in the file, sha256 equal (exit $rc)"
	[ $rc = 0 ] || show "blk-$backend"
	[ "$(dbvm "blk-$backend" size)" = 32768 ]
	result $? "virtio-blk, $backend backend: capacity 32768 sectors"
	if [ "$backend" = kernel ]; then
		[ "$(cat "$W/blk-$backend.kicks")" -gt 0 ]
		result $? "virtio-blk, kernel backend: the guest's kicks reached doorbell-blk's queue ($(cat "$W/blk-$backend.kicks") kicks)"
	fi
}
blk_rw kernel
blk_rw user

for backend in kernel user; do
	vmm "mq-$backend" blk-mq --cpus 2 --disk "$W/disk,queues=2,backend=$backend"
	rc=$?
	[ $rc = 0 ] && [ "$(dbvm "mq-$backend" queues)" = 2 ] && has "mq-$backend" cpu0-ok &&
		has "mq-$backend" cpu1-ok
	result $? "virtio-blk, $backend backend: 2 queues on 2 vCPUs, each CPU's writes read back (exit $rc; $(tr '\n' ' ' <"$W/mq-$backend.dbvm" | cut -c1-120))"
	has "mq-$backend" "done" || show "mq-$backend"

	want=$(sum "$W/disk" 4194304)
	vmm "ro-$backend" blk-ro --cpus 1 --disk "$W/disk,ro,backend=$backend"
	rc=$?
	[ $rc = 0 ] && [ "$(dbvm "ro-$backend" ro)" = 1 ] && has "ro-$backend" write-refused &&
		[ "$(dbvm "ro-$backend" read)" = "$want" ] && [ "$(sum "$W/disk" 4194304)" = "$want" ]
	result $? "virtio-blk, $backend backend: read-only disk: reads, refuses writes, the file unchanged (exit $rc)"
	has "ro-$backend" "done" || show "ro-$backend"
done

# --- virtio-net ---
loaded vhost_net || modprobe vhost_net 2>/dev/null
ip tuntap add dev "$TAP" mode tap vnet_hdr && ip addr add 169.254.1.1/16 dev "$TAP" &&
	ip link set "$TAP" up || bail "tap $TAP"
mkfifo "$W/hold"
# The receiver of the guest's 1 MiB: a fresh one for each boot (a boot run
# again sends new data).
ncpid=
nc_stop() {
	[ -z "$ncpid" ] && return
	kill "$ncpid" 2>/dev/null
	wait "$ncpid" 2>/dev/null
	ncpid=
}
nc_start() {
	nc_stop
	rm -f "$W/rx"
	timeout 200 busybox nc -l -p 5001 0<>"$W/hold" >"$W/rx" &
	ncpid=$!
}
for backend in kernel vhost-net user; do
	if [ "$backend" = vhost-net ] && [ ! -e /dev/vhost-net ]; then
		echo "ok $((n += 1)) # SKIP virtio-net, vhost-net backend: no /dev/vhost-net"
		continue
	fi
	VMM_EACH=nc_start
	vmm "net-$backend" net --cpus 1 --net "tap=$TAP,backend=$backend"
	rc=$?
	VMM_EACH=
	nc_stop
	has "net-$backend" ping-ok
	result $? "virtio-net, $backend backend: ping"
	want=$(dbvm "net-$backend" sent)
	[ $rc = 0 ] && [ ${#want} = 64 ] && [ "$(sha256sum <"$W/rx" | cut -c1-64)" = "$want" ]
	result $? "virtio-net, $backend backend: 1 MiB TCP from the guest, sha256 equal (exit $rc)"
	[ $rc = 0 ] || show "net-$backend"
done

# Nothing left behind: no VMM running, the modules unload.
! pgrep -f "$VMM" >/dev/null
result $? "no doorbell-vmm left running"
rmmod doorbell_blk && rmmod doorbell_net
result $? "doorbell_blk and doorbell_net unload"

finish

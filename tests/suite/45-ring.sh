#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Ring-level tests from a fake guest (no KVM):
# - tests/ring/net_ring: doorbell-net's ioctls, TX/RX with exact frames,
#   interrupt suppression, TX going on past a chain the tap refuses every
#   time and after a send it refused once (ENOMEM under failslab, where the
#   kernel has it), every hostile ring case (the queue breaks, the
#   host does not) and a short ring fuzz; then the same program against
#   in-tree vhost-net, the reference (its validation cases skipped).
# - tests/ring/blk_ring: doorbell-blk on a file, on a file opened O_DIRECT
#   and on null_blk (memory backed, completions from a timer: the
#   asynchronous path) when null_blk loads.  Then, on null_blk completing
#   after 100 ms, with the test module doorbell_delay holding doorbell-blk's
#   completion 200 ms in the wakeup after its last inflight decrement
#   (tests/vm/delay-module): the device closed 3 times while a completion
#   is held must not return before it is over (blk_ring -c), as the release
#   frees what the completion touches; the hold must have happened.
# DOORBELL_RING_FUZZ sets the fuzz iterations (default 300).
# Exit: 0 pass, 4 skip, else fail.
# boot: shared
fuzz=${DOORBELL_RING_FUZZ:-300}
for bin in tests/ring/net_ring tests/ring/blk_ring; do
	[ -x "$bin" ] || { echo "45-ring: $bin missing: make -C tests/ring" >&2; exit 1; }
done
loaded() { grep -q "^$1 " /proc/modules; }
. tests/modules.sh
modules_save
# blk_ring reads the workers' counters there.
grep -q " /sys/kernel/debug debugfs " /proc/mounts ||
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
for m in doorbell_core doorbell_net doorbell_blk; do
	loaded "$m" || insmod "$DOORBELL_KO/$m.ko" || exit 1
done
# Closes while a completion is held (blk_ring -c); 1 on failure.
held_close() {
	local delay=$DOORBELL_KO/../tests/vm/delay-module/doorbell_delay.ko n=3 fired r=0

	echo "# doorbell-blk on null_blk: close while a completion is held"
	if [ ! -e "$delay" ]; then
		echo "# $delay not built for this kernel (tests/build-matrix.sh builds it): not tested"
		return 0
	fi
	modprobe null_blk nr_devices=1 memory_backed=1 irqmode=2 \
		completion_nsec=100000000 gb=1 && [ -b /dev/nullb0 ] || return 1
	if ! insmod "$delay" func=__wake_up caller=dbblk_rw_done ms=200; then
		echo "45-ring: insmod $delay failed" >&2
		rmmod null_blk
		return 1
	fi
	tests/ring/blk_ring -b /dev/nullb0 -d -c $n || r=1
	fired=$(cat /sys/module/doorbell_delay/parameters/fired)
	echo "# doorbell_delay held $fired completions"
	if [ "$fired" -lt $n ]; then
		echo "45-ring: doorbell_delay held $fired completions, fewer than $n" >&2
		r=1
	fi
	rmmod doorbell_delay || r=1
	modprobe -r null_blk || r=1
	return $r
}

rc=0
echo "# doorbell-net"
tests/ring/net_ring -d /dev/doorbell-net -f "$fuzz" || rc=1
echo "# vhost-net (reference)"
loaded vhost_net || modprobe vhost_net 2>/dev/null
if [ -e /dev/vhost-net ]; then
	tests/ring/net_ring -d /dev/vhost-net -f 0 || rc=1
fi
echo "# doorbell-blk on a file"
tests/ring/blk_ring -f "$fuzz" || rc=1
echo "# doorbell-blk on a file opened O_DIRECT"
tests/ring/blk_ring -d -f "$fuzz" || rc=1
if modprobe null_blk nr_devices=1 memory_backed=1 discard=1 irqmode=2 \
	completion_nsec=20000 gb=1 2>/dev/null && [ -b /dev/nullb0 ]; then
	echo "# doorbell-blk on null_blk (timer completions)"
	tests/ring/blk_ring -b /dev/nullb0 -d -f "$fuzz" || rc=1
	# modprobe -r: null_blk and configfs, which its load brought in.
	modprobe -r null_blk || rc=1
	held_close || rc=1
else
	echo "# null_blk unavailable: block device backing not tested"
fi
for m in doorbell_net doorbell_blk; do
	if ! rmmod "$m"; then
		echo "45-ring: rmmod $m failed" >&2
		rc=1
	fi
done
modules_restore || rc=1
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Ring-level tests from a fake guest (tests/ring/net_ring): doorbell-net's
# ioctls, TX/RX with exact frames, interrupt suppression, every hostile ring
# case (the queue breaks, the host does not) and a short ring fuzz; then the
# same program against in-tree vhost-net, the reference (its validation
# cases skipped).  DOORBELL_RING_FUZZ sets the fuzz iterations (default 300).
# Exit: 0 pass, 4 skip, else fail.
bin=tests/ring/net_ring
[ -x "$bin" ] || { echo "45-ring: $bin missing: make -C tests/ring" >&2; exit 1; }
loaded() { grep -q "^$1 " /proc/modules; }
for m in doorbell_core doorbell_net; do
	loaded "$m" || insmod "$DOORBELL_KO/$m.ko" || exit 1
done
rc=0
echo "# doorbell-net"
"$bin" -d /dev/doorbell-net -f "${DOORBELL_RING_FUZZ:-300}" || rc=1
echo "# vhost-net (reference)"
loaded vhost_net || modprobe vhost_net 2>/dev/null
if [ -e /dev/vhost-net ]; then
	"$bin" -d /dev/vhost-net -f 0 || rc=1
fi
if ! rmmod doorbell_net; then
	echo "45-ring: rmmod doorbell_net failed" >&2
	rc=1
fi
exit $rc

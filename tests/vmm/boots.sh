#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A probe of the nested platform, not a test of doorbell: inside the test VM,
# boots the nested Linux guest of tests/vmm (doorbell-vmm, no doorbell module
# needed: the disk is on the VMM's userspace backend) M times (default 24),
# alternating 1 and 2 vCPUs, to power-off, and counts how each boot ended:
# clean, userspace never started, a triple fault after userspace, other.
# A bad boot's console is kept in $DOORBELL_RESULTS/boot-N.console.
#   tests/vm/run --kernel REL --timeout 3000 -- env M=24 tests/vmm/boots.sh
# With DOORBELL_QEMU set, this compares QEMUs for the test VM (README).
set -u
cd "${DOORBELL_TOP:-.}"
. tests/vmm/lib.sh
echo "TAP version 13"
vmm_setup
M=${M:-24}
BOOT_WAIT=90
truncate -s 16M "$W/disk"
ok=0 nous=0 tf=0 other=0 t0=$SECONDS
for i in $(seq "$M"); do
	c=$(( i % 2 + 1 ))
	vmm_once "b$i" boot --cpus "$c" --disk "$W/disk,backend=user"
	rc=$?
	if [ $rc = 0 ]; then
		ok=$((ok + 1))
		continue
	elif ! has "b$i" up; then
		nous=$((nous + 1))
		echo "# boot $i ($c vCPUs): userspace did not start, exit $rc: $(grep -a '^\[' "$W/b$i.out" | tail -n1 | tr -d '\r' | cut -c1-120)"
	elif [ $rc = 3 ]; then
		tf=$((tf + 1))
		echo "# boot $i ($c vCPUs): triple fault after userspace started"
	else
		other=$((other + 1))
		echo "# boot $i ($c vCPUs): exit $rc"
	fi
	[ -d "${DOORBELL_RESULTS:-}" ] && cp "$W/b$i.out" "$DOORBELL_RESULTS/boot-$i.console"
done
echo "# $M boots in $((SECONDS - t0)) s: clean $ok, userspace never started $nous, triple fault after userspace $tf, other $other"
result $((ok != M)) "$M nested boots, all clean"
finish

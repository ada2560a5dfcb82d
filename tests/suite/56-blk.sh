#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernels: ^6\.(12\.[0-9]+\+deb12(-rt)?|1\.0-[0-9]+)-amd64$
# doorbell-blk under a real guest driver: tools/vmm boots a nested Linux
# guest whose virtio-blk is served by /dev/doorbell-blk (a file in the
# test VM's tmpfs as the backing store):
# - mke2fs and 32 files with their sha256s; after the power-off a second
#   boot mounts the file system read-only and checks every file;
# - fio verify: random 4k writes at QD 32 with crc32c, then read and
#   verified (fio's exit status and error count);
# - discard and write zeroes from the guest (blkdiscard, blkdiscard -z):
#   the ranges read as zeroes in the backing file, the discarded one is a
#   hole (fewer blocks allocated), the bytes around them unchanged;
# - the guest's kicks reached doorbell-blk.
# Exit: 0 pass, 4 skip, else fail.
set -u
. tests/vmm/lib.sh
echo "TAP version 13"
FIO=$(tools/blkbench/fetch-fio) || bail "fio: tools/blkbench/fetch-fio failed"
INITRD=$W/guest.cpio
GUEST_MEM=768
GUEST_BINS="fio /usr/sbin/blkdiscard" GUEST_GZIP=0 \
	vmm_setup "virtio_mmio virtio_blk ext4" "$FIO"
for m in doorbell_core doorbell_blk; do
	loaded "$m" || insmod "$DOORBELL_KO/$m.ko" || bail "insmod $m"
done
D=$W/disk

truncate -s 64M "$D"
vmm fs blk-fs --cpus 2 --disk "$D"
rc=$?
has fs fs-written
result $(( rc != 0 || $? )) "mke2fs and 32 files written through doorbell-blk, power off (exit $rc)"
[ $rc = 0 ] || show fs
vmm fs2 blk-fs-check --cpus 1 --disk "$D"
rc=$?
[ $rc = 0 ] && has fs2 fs-verified && [ "$(dbvm fs2 files)" = 32 ] &&
	[ "$(dbvm fs2 manifest)" = "$(dbvm fs manifest)" ]
result $? "after the power-off: the file system mounts, 32 files, every sha256 equal"
[ $rc = 0 ] || show fs2
[ "$(cat "$W/fs.kicks")" -gt 0 ]
result $? "the guest's kicks reached doorbell-blk ($(cat "$W/fs.kicks") kicks)"

truncate -s 0 "$D" && truncate -s 64M "$D"
vmm fio blk-fio --cpus 2 --disk "$D"
rc=$?
[ $rc = 0 ] && [ "$(dbvm fio fio-rc)" = 0 ] && [ "$(dbvm fio fio-errors)" = 0 ] && has fio fio-verified
result $? "fio verify: randwrite 4k QD 32 with crc32c, read back and verified (fio exit $(dbvm fio fio-rc), err=$(dbvm fio fio-errors))"
[ $rc = 0 ] || show fio

# The backing file full of data first, so that zeroes and holes show.
head -c 8388608 /dev/urandom >"$D"
cp "$D" "$W/before"
blocks0=$(stat -c %b "$D")
vmm discard blk-discard --cpus 1 --disk "$D"
rc=$?
zero=$(head -c 1048576 /dev/zero | sha256sum | cut -c1-64)
range() { dd if="$1" bs=1M skip="$2" count=1 2>/dev/null | sha256sum | cut -c1-64; }
[ $rc = 0 ] && [ "$(dbvm discard discard-rc)" = 0 ] && [ "$(range "$D" 1)" = "$zero" ] &&
	[ "$(stat -c %b "$D")" -le $((blocks0 - 2048)) ]
result $? "discard from the guest: the range reads zeroes and is a hole in the file ($blocks0 -> $(stat -c %b "$D") blocks; limit $(dbvm discard discard-limit) bytes)"
[ $rc = 0 ] && [ "$(dbvm discard zeroout-rc)" = 0 ] && [ "$(range "$D" 4)" = "$zero" ]
result $? "write zeroes from the guest (blkdiscard -z): the range reads zeroes (limit $(dbvm discard zeroes-limit) bytes)"
ok=0
for i in 0 2 3 5 6 7; do
	[ "$(range "$D" $i)" = "$(range "$W/before" $i)" ] || ok=1
done
result $ok "discard and write zeroes: the other 6 MiB unchanged"
[ $rc = 0 ] || show discard

rmmod doorbell_blk
result $? "doorbell_blk unloads"
finish

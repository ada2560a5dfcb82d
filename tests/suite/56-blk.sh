#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernels: ^6\.12\.[0-9]+\+deb12-amd64$
# doorbell-blk under a real guest driver: tools/vmm boots a nested Linux
# guest whose virtio-blk is served by /dev/doorbell-blk (a file in the
# test VM's tmpfs as the backing store):
# - mke2fs and 32 files with their sha256s; after the power-off a second
#   boot mounts the file system read-only and checks every file;
# - fio verify: random 4k writes at QD 32 with crc32c, then read and
#   verified (fio's exit status and error count), on the file and on a
#   memory-backed null_blk with 4k blocks opened O_DIRECT (bios);
# - discard and write zeroes from the guest (blkdiscard, blkdiscard -z):
#   the ranges read as zeroes in the backing file, the discarded one is a
#   hole (fewer blocks allocated), the bytes around them unchanged;
# - the guest's kicks reached doorbell-blk;
# - doorbell-trace around 800 direct 4k requests from the guest: every hop
#   from the vCPU's exit to the completion interrupt injected, per kick.
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
vmm fio blk-fio --cpus 1 --disk "$D"
rc=$?
[ $rc = 0 ] && [ "$(dbvm fio fio-rc)" = 0 ] && [ "$(dbvm fio fio-errors)" = 0 ] && has fio fio-verified
result $? "fio verify: randwrite 4k QD 32 with crc32c, read back and verified (fio exit $(dbvm fio fio-rc), err=$(dbvm fio fio-errors))"
[ $rc = 0 ] || show fio

# A block device opened O_DIRECT: doorbell-blk's kiocbs go to the block
# layer as bios (blkdev_direct_IO) and complete asynchronously; a
# memory-backed null_blk with 4k blocks keeps the data for fio's verify.
if modprobe null_blk nr_devices=1 gb=1 bs=4096 memory_backed=1 queue_mode=2 2>"$W/nullb.err" &&
	[ -b /dev/nullb0 ]; then
	vmm fionb blk-fio --cpus 2 --disk /dev/nullb0,direct,queues=2
	rc=$?
	[ $rc = 0 ] && [ "$(dbvm fionb fio-rc)" = 0 ] && [ "$(dbvm fionb fio-errors)" = 0 ] &&
		has fionb fio-verified && [ "$(dbvm fionb lbs)" = 4096 ]
	result $? "fio verify on a memory-backed null_blk opened O_DIRECT, 2 queues (bios): fio exit $(dbvm fionb fio-rc), err=$(dbvm fionb fio-errors), the guest's block size $(dbvm fionb lbs) (exit $rc)"
	[ $rc = 0 ] || show fionb
	rmmod null_blk
else
	result 1 "null_blk: $(cat "$W/nullb.err")"
fi

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

# doorbell-trace around a guest workload on a backend: one request in
# flight at a time, so every kick goes guest -> worker -> call -> irqfd ->
# the guest's interrupt (tools/doorbell-trace, issue 9).
R=${DOORBELL_RESULTS:-$W}
truncate -s 0 "$D" && truncate -s 16M "$D"
VMM_PREFIX=(tools/doorbell-trace/doorbell-trace --check 400 --want-call
	--json "$R/trace-blk.json" --svg "$R/trace-blk.svg" --)
vmm trace blk-direct --cpus 1 --disk "$D"
rc=$?
VMM_PREFIX=()
# doorbell-trace's report follows the guest's console.
sed -n '/^doorbell-trace:/,$p' "$W/trace.out" >"$R/trace-blk.txt"
sed 's/^/# /' "$R/trace-blk.txt"
[ $rc = 0 ] && [ "$(dbvm trace direct)" = 1638400 ]
result $? "doorbell-trace, a guest's 800 direct 4k requests on doorbell-blk: >= 400 kicks complete from the vCPU's exit to the interrupt injected, in order, no event lost (exit $rc)"
python3 - "$R/trace-blk.json" >"$W/trace.res" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
tl = d["timeline"]
names = [e["event"] for e in tl]
want = ["kvm_exit", "kvm_mmio", "doorbell_kick", "doorbell_work_queue",
        "doorbell_work_start", "doorbell_call", "kvm_set_irq",
        "kvm_apic_accept_irq", "kvm_inj_virq"]
pos = [names.index(w) if w in names else -1 for w in want]
ok = all(p >= 0 for p in pos) and pos == sorted(pos)
ts = [e["t_ns"] for e in tl]
ok = ok and ts == sorted(ts)
# The interrupt injected is the one the APIC accepted for the irqfd's GSI.
if ok:
    vec = int(tl[names.index("kvm_apic_accept_irq")]["detail"].split()[-1])
    inj = int(tl[names.index("kvm_inj_virq")]["detail"].split()[-1], 16)
    ok = vec == inj and vec >= 32
print("%d one kick's timeline from the vCPU's exit to the injected completion interrupt, in causal order: %s" %
      (not ok, " > ".join(names)))
hops = {h["hop"]: h for h in d["hops"]}
need = ["exit_access", "access_kick", "kick_queue", "queue_start", "start_done",
        "start_call", "call_irq", "irq_accept", "accept_inj", "inj_entry"]
ok2 = all(k in hops and hops[k]["count"] >= 400 and
          hops[k]["p50_ns"] <= hops[k]["p99_ns"] <= hops[k]["max_ns"] for k in need)
print("%d every hop of the backend path has >= 400 samples and p50 <= p99 <= max" % (not ok2))
PY
[ -s "$W/trace.res" ] || echo "1 doorbell-trace's JSON: no result" >"$W/trace.res"
while read -r rc text; do
	result "$rc" "$text"
done <"$W/trace.res"

rmmod doorbell_blk
result $? "doorbell_blk unloads"
finish

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/suite/40-fuzz.sh [--long]
# Ioctl-sequence fuzzing of /dev/doorbell (tests/fuzz/doorbell_fuzz): every
# call returns success or a documented errno, counts stay exact, no splat.
# Then the vhost devices, /dev/doorbell-blk and /dev/doorbell-net
# (tests/fuzz/vhost_fuzz): every vhost call and SET_BACKEND with random
# arguments and random ring contents behind valid set-ups, each call
# success or a documented errno.
# On a kernel with fault injection (the debug kernel) all three run again
# with failslab and fail_page_alloc failing the fuzzers' allocations (ENOMEM
# tolerated, nothing else) and those of the vhost devices' workers.  Then
# the modules must unload.  Short mode: 4 threads x 5000 iterations; --long
# (make fuzz): 4 x 250000 = 1e6, for each of the three devices.  The
# modules loaded at the start are loaded again at the end.
# boot: shared
bin=tests/fuzz/doorbell_fuzz
vbin=tests/fuzz/vhost_fuzz
iters=5000 fiters=2000
if [ "${1:-}" = --long ]; then iters=250000 fiters=50000; fi
if [ ! -x "$bin" ] || [ ! -x "$vbin" ]; then
	echo "40-fuzz: $bin or $vbin missing: run 'make -C tests/fuzz' on the host first" >&2
	exit 1
fi
loaded() { grep -q "^$1 " /proc/modules; }
. tests/modules.sh
modules_save
for m in doorbell_core doorbell doorbell_blk doorbell_net; do
	loaded "$m" || insmod "$DOORBELL_KO/$m.ko" || exit 1
done
grep -q " /sys/kernel/debug debugfs " /proc/mounts ||
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

echo "TAP version 13"
echo "1..7"
n=1 fail=0
ok() { echo "ok $n $*"; n=$((n + 1)); }
notok() { echo "not ok $n $*"; n=$((n + 1)); fail=1; }

seed=$(date +%s)
if "$bin" -n $iters -t 4 -s "$seed" >/tmp/fuzz.out; then
	sed 's/^/# /' /tmp/fuzz.out
	ok "ioctl-sequence fuzzing: 4 x $iters iterations, seed $seed"
else
	sed 's/^/# /' /tmp/fuzz.out
	notok "ioctl-sequence fuzzing: 4 x $iters iterations"
fi

fi_dir=/sys/kernel/debug
if [ -d $fi_dir/failslab ] && [ -d $fi_dir/fail_page_alloc ]; then
	for f in failslab fail_page_alloc; do
		echo Y >$fi_dir/$f/task-filter
		echo 10 >$fi_dir/$f/probability
		echo 1 >$fi_dir/$f/interval
		echo -1 >$fi_dir/$f/times
		echo 0 >$fi_dir/$f/verbose
		echo N >$fi_dir/$f/ignore-gfp-wait
	done
	echo 0 >$fi_dir/fail_page_alloc/min-order
	# User pages (highmem-flagged) are not failed: the fuzzer itself
	# must not die of a page fault.
	echo Y >$fi_dir/fail_page_alloc/ignore-gfp-highmem
	# Only the fuzzer fails its allocations: it sets make-it-fail once
	# loaded (a failed exec would be no test of ours), its threads
	# inherit it.
	if "$bin" -F -n $fiters -t 4 -s 11 >/tmp/fuzz-fi.out; then
		sed 's/^/# /' /tmp/fuzz-fi.out
		ok "the same under failslab + fail_page_alloc (10%): only ENOMEM, counts exact"
	else
		sed 's/^/# /' /tmp/fuzz-fi.out
		notok "the same under failslab + fail_page_alloc (10%)"
	fi
	# The vhost devices: set-up calls and, on a vhost_task kernel, the
	# worker (it inherits make-it-fail) serving random rings.
	for d in blk net; do
		if "$vbin" -F -d /dev/doorbell-$d -n $fiters -t 4 -s 11 >/tmp/vfuzz-fi.out; then
			sed 's/^/# /' /tmp/vfuzz-fi.out
			ok "vhost fuzzing of /dev/doorbell-$d under failslab + fail_page_alloc (10%): only ENOMEM besides the documented errnos"
		else
			sed 's/^/# /' /tmp/vfuzz-fi.out | head -n 60
			notok "vhost fuzzing of /dev/doorbell-$d under failslab + fail_page_alloc (10%)"
		fi
	done
	for f in failslab fail_page_alloc; do echo 0 >$fi_dir/$f/probability; done
else
	for what in "/dev/doorbell" "/dev/doorbell-blk" "/dev/doorbell-net"; do
		echo "ok $n # SKIP $what under fault injection: no failslab/fail_page_alloc in this kernel (the debug kernel has them)"
		n=$((n + 1))
	done
fi

for d in blk net; do
	if "$vbin" -d /dev/doorbell-$d -n $iters -t 4 -s "$seed" >/tmp/vfuzz.out; then
		sed 's/^/# /' /tmp/vfuzz.out
		ok "vhost ioctl-sequence fuzzing of /dev/doorbell-$d: 4 x $iters iterations, seed $seed"
	else
		sed 's/^/# /' /tmp/vfuzz.out | head -n 60
		notok "vhost ioctl-sequence fuzzing of /dev/doorbell-$d: 4 x $iters iterations, seed $seed"
	fi
done

rc=0
for m in doorbell_net doorbell_blk doorbell doorbell_core; do rmmod "$m" || rc=1; done
if [ $rc = 0 ] && ! loaded doorbell && ! loaded doorbell_core; then
	ok "the modules unload after the fuzzing"
else
	notok "the modules unload after the fuzzing"
fi
modules_restore || fail=1
exit $fail

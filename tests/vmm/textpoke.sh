#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A probe of the nested platform, not a test: inside the test VM, records
# every run-time patch of kernel text (kprobes with a stacktrace trigger on
# the x86 text-poke and jump-label/static-call paths) while CMD runs, into
# $DOORBELL_RESULTS/textpoke.trace, and prints how many it saw.  Under TCG,
# text patched while another CPU runs it has broken the test VM before
# (tests/vm/init, tests/kvmhold); this shows when and why it happens.
#   tests/vm/run --kernel REL --timeout 900 -- tests/vmm/textpoke.sh tests/suite/55-vmm.sh
set -u
T=/sys/kernel/tracing
mountpoint -q $T || mount -t tracefs none $T
echo >$T/kprobe_events
for f in text_poke_bp text_poke_queue text_poke_finish \
	 arch_jump_label_transform_apply __static_call_transform; do
	echo "p:tp_$f $f" >>$T/kprobe_events 2>/dev/null ||
		echo "# textpoke: no kprobe on $f"
done
for e in $T/events/kprobes/tp_*; do
	[ -d "$e" ] || continue
	echo stacktrace >"$e/trigger"
	echo 1 >"$e/enable"
done
echo 20000 >$T/buffer_size_kb
echo 1 >$T/tracing_on
"$@"
rc=$?
out=${DOORBELL_RESULTS:-/tmp}/textpoke.trace
cat $T/trace >"$out"
echo "# textpoke: $(grep -c ': tp_' "$out") text patches while the command ran, in $out"
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kernels: ^6\.(12\.[0-9]+\+deb12(-rt)?|1\.0-[0-9]+)-amd64$
# doorbell-trace around a doorbell-bench row (guest port writes through a KVM
# ioeventfd to /dev/doorbell's worker): at least 100 kicks must have their
# whole hop sequence (kvm_exit, kvm_pio, doorbell_kick, doorbell_work_queue,
# kvm_entry, doorbell_work_start, doorbell_work_done), none out of order, no
# event lost, and the timeline of one kick must be in causal order.
# boot: shared
trace=tools/doorbell-trace/doorbell-trace
bench=tools/doorbell-bench/doorbell-bench
R=${DOORBELL_RESULTS:-/tmp}
for b in $trace $bench; do
	if [ ! -x "$b" ]; then
		echo "30-trace: $b missing: run 'make tools' on the host first" >&2
		exit 1
	fi
done
echo "TAP version 13"
echo "1..3"
$trace --check 100 --json "$R/trace.json" --svg "$R/trace.svg" -- \
	$bench -n 500 -R 1 -r ioeventfd-pio >"$R/trace.out" 2>&1
rc=$?
sed 's/^/# /' "$R/trace.out"
if [ $rc = 0 ]; then
	echo "ok 1 ioeventfd-pio: >= 100 complete, ordered kicks, no event lost"
else
	echo "not ok 1 ioeventfd-pio: >= 100 complete, ordered kicks, no event lost (exit $rc)"
fi
python3 - "$R/trace.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [e["event"] for e in d["timeline"]]
want = ["kvm_exit", "kvm_pio", "doorbell_kick", "doorbell_work_queue",
        "doorbell_work_start", "doorbell_work_done"]
pos = [names.index(w) if w in names else -1 for w in want]
ok = all(p >= 0 for p in pos) and pos == sorted(pos) and \
     "kvm_entry" in names and names.index("kvm_entry") > names.index("doorbell_kick")
ts = [e["t_ns"] for e in d["timeline"]]
ok = ok and ts == sorted(ts)
print("%s 2 one kick's timeline is complete and in causal order: %s" %
      ("ok" if ok else "not ok", " > ".join(names)))
hops = {h["hop"]: h for h in d["hops"]}
need = ["exit_access", "access_kick", "kick_queue", "queue_start", "start_done", "kick_entry"]
ok2 = all(k in hops and hops[k]["count"] >= 100 and
          hops[k]["p50_ns"] <= hops[k]["p99_ns"] <= hops[k]["max_ns"] for k in need)
print("%s 3 every hop has >= 100 samples and p50 <= p99 <= max" % ("ok" if ok2 else "not ok"))
sys.exit(0 if ok and ok2 else 1)
PY
py=$?
[ $rc = 0 ] && [ $py = 0 ]

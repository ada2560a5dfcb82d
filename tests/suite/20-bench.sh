#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kernels: ^6\.(12\.[0-9]+\+deb12(-rt)?|1\.0-[0-9]+)-amd64$
# doorbell-bench, short: every row it can run on this kernel must deliver
# exactly the rings its guest wrote (no timing is asserted: under TCG times
# are not hardware times).  Rows the kernel cannot run (n/a) say why.
# Runs inside the test VM as root with the doorbell modules loaded.
# boot: shared
bin=tools/doorbell-bench/doorbell-bench
out=${DOORBELL_RESULTS:-/tmp}/bench.json
if [ ! -x "$bin" ]; then
	echo "20-bench: $bin missing: run 'make tools' on the host first" >&2
	exit 1
fi
echo "TAP version 13"
"$bin" -n 300 -R 1 --json >"$out"
rc=$?
echo "# doorbell-bench exit status $rc"
python3 - "$out" "$rc" <<'PY'
import json, sys
path, rc = sys.argv[1], int(sys.argv[2])
try:
    d = json.load(open(path))
except Exception as e:
    print("1..1\nnot ok 1 JSON parses (%s)" % e)
    sys.exit(1)
rows = d["rows"]
print("1..%d" % (len(rows) + 2))
if not all(d.get(k) for k in ("kernel", "cpu", "accel")):
    print("not ok 1 JSON parses but lacks kernel, cpu or accel")
    sys.exit(1)
print("ok 1 JSON parses; kernel %s, cpu %s, accel %s" % (d["kernel"], d["cpu"], d["accel"]))
bad = 0
n = 2
for r in rows:
    name = r["row"]
    if r["status"] == "n/a" and r["reason"].startswith("n/a: ") and len(r["reason"]) > 8:
        print("ok %d %s # SKIP %s" % (n, name, r["reason"]))
    elif (r["status"] == "ok" and r["written"] == r["delivered"] and r["written"] > 0
          and r.get("ops_per_s", 0) > 0):
        print("ok %d %s: %d rings written, %d delivered" % (n, name, r["written"], r["delivered"]))
    else:
        print("not ok %d %s: %s (written %d, delivered %d)" % (n, name, r["reason"], r["written"], r["delivered"]))
        bad += 1
    n += 1
core = ["qemu-mmio", "qemu-pio", "ioeventfd-mmio", "ioeventfd-pio", "limit-pio",
        "ioeventfd-hc", "qemu-hc", "ioeventfd-pio-2vcpu"]
missing = [c for c in core if not any(r["row"] == c and r["status"] == "ok" for r in rows)]
if missing or rc != 0:
    print("not ok %d core rows ran and the bench exited 0 (missing %s, exit %d)" % (n, missing, rc))
    bad += 1
else:
    print("ok %d core rows ran and the bench exited 0" % n)
sys.exit(1 if bad else 0)
PY

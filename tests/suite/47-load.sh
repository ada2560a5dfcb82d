#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/suite/47-load.sh [--long]
# Many doorbell-blk devices under load at once, with lifecycle faults: 6
# fake guests (tests/ring/blk_ring -S, 2 queues each, half of them on an
# O_DIRECT backing file) keep writes in flight and read them back, each
# with its own mid-IO kick eventfd swaps and backend detaches; meanwhile
# this script SIGKILLs one of them every 2 s or so, mid-IO, and starts
# another in its place, and tries to unload doorbell_blk, which must be
# refused while a device is open.  Checks: every guest that ran to its end
# read back what it wrote; every SIGKILLed one died (no task stuck in the
# device); rmmod refused while busy and clean after.  The VM runner checks
# dmesg for splats.  Short mode: 40 s; --long (make fuzz): 600 s.
# Exit: 0 pass, else fail.
# boot: shared
set -u
secs=40 slice=12
if [ "${1:-}" = --long ]; then secs=600 slice=20; fi
bin=tests/ring/blk_ring
[ -x "$bin" ] || { echo "47-load: $bin missing: make -C tests/ring" >&2; exit 1; }
loaded() { grep -q "^$1 " /proc/modules; }
. tests/modules.sh
modules_save
for m in doorbell_core doorbell_blk; do
	loaded "$m" || insmod "$DOORBELL_KO/$m.ko" || exit 1
done

echo "TAP version 13"
echo "1..4"
n=1 fail=0
ok() { echo "ok $n $*"; n=$((n + 1)); }
notok() { echo "not ok $n $*"; n=$((n + 1)); fail=1; }

W=$(mktemp -d /tmp/load.XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
SLOTS=6
declare -a pid id killed killed_at
loops=0 started=0 good=0 bad=0 kills=0 died=0 refused=0 tries=0

# start SLOT: a new guest in SLOT (odd slots O_DIRECT), its output in a file.
start() {
	local s=$1 d=
	[ $((s % 2)) = 1 ] && d=-d
	started=$((started + 1))
	# Staggered lengths: the guests do not all end at once.
	"$bin" $d -S $((slice + started % 5 * 2)) -s $((started * 7919)) >"$W/out.$started" 2>&1 &
	pid[$s]=$!
	killed[$s]=0
	id[$s]=$started
}

# reap SLOT: the guest in SLOT has exited; account for it.
reap() {
	local s=$1 rc g=${id[$1]}
	wait "${pid[$s]}" 2>/dev/null
	rc=$?
	if [ "${killed[$s]}" = 1 ]; then
		# 137: SIGKILL; 0: it ended just before the signal.
		if [ $rc = 137 ] || [ $rc = 0 ]; then died=$((died + 1)); else
			echo "# guest $g: exit $rc after SIGKILL"
			sed 's/^/#   /' "$W/out.$g"
			bad=$((bad + 1))
		fi
	elif [ $rc = 0 ]; then
		good=$((good + 1))
		[ $good -le 2 ] && grep '^ok .*load:' "$W/out.$g" | sed 's/^/# /'
	else
		bad=$((bad + 1))
		echo "# guest $g: exit $rc"
		sed 's/^/#   /' "$W/out.$g"
	fi
	rm -f "$W/out.$g"
}

# Bash reports each SIGKILLed job on stderr: not here.
exec 3>&2 2>/dev/null
for ((s = 0; s < SLOTS; s++)); do start "$s"; done
t0=$SECONDS
last_kill=$SECONDS
while [ $((SECONDS - t0)) -lt "$secs" ]; do
	sleep 1
	loops=$((loops + 1))
	for ((s = 0; s < SLOTS; s++)); do
		kill -0 "${pid[$s]}" 2>/dev/null && continue
		reap "$s"
		start "$s"
	done
	if [ $((SECONDS - last_kill)) -ge 2 ]; then
		s=$((RANDOM % SLOTS))
		if [ "${killed[$s]}" = 0 ] && kill -9 "${pid[$s]}" 2>/dev/null; then
			killed[$s]=1
			killed_at[s]=$SECONDS
			kills=$((kills + 1))
		fi
		last_kill=$SECONDS
	fi
	for ((s = 0; s < SLOTS; s++)); do
		[ "${killed[$s]}" = 1 ] && kill -0 "${pid[$s]}" 2>/dev/null &&
			[ $((SECONDS - killed_at[s])) -gt 30 ] || continue
		echo "# guest in slot $s is alive 30 s after SIGKILL: its stack:"
		sed 's/^/#   /' "/proc/${pid[$s]}/stack" 2>/dev/null
		bad=$((bad + 1))
		killed_at[s]=$SECONDS
	done
	# Only while a device is open (the module's references say so).
	read -r refs </sys/module/doorbell_blk/refcnt
	[ "$refs" -gt 0 ] || continue
	tries=$((tries + 1))
	if rmmod doorbell_blk 2>/dev/null; then
		echo "# rmmod doorbell_blk succeeded with devices open"
		insmod "$DOORBELL_KO/doorbell_blk.ko"
	else
		refused=$((refused + 1))
	fi
done
echo "# $((SECONDS - t0)) s, $loops rounds of the script's loop"

# The last ones run to their end (a SIGKILLed one is reaped too).
for ((s = 0; s < SLOTS; s++)); do reap "$s"; done
exec 2>&3 3>&-

if [ $bad = 0 ] && [ $good -gt 0 ]; then
	ok "$SLOTS devices x 2 queues under load for $secs s: $good guests read back what they wrote ($started started)"
else
	notok "$SLOTS devices x 2 queues under load for $secs s: $good guests passed, $bad failed"
fi
if [ $died = $kills ] && [ $kills -gt 0 ]; then
	ok "$kills guests SIGKILLed mid-IO: each died at once"
else
	notok "$kills guests SIGKILLed mid-IO, $died died"
fi
if [ $refused = $tries ]; then
	ok "rmmod doorbell_blk refused while devices were open ($refused tries)"
else
	notok "rmmod doorbell_blk: refused $refused of $tries times while devices were open"
fi
if rmmod doorbell_blk; then ok "doorbell_blk unloads after"; else
	notok "doorbell_blk unloads after"; fi
modules_restore || fail=1
exit $fail

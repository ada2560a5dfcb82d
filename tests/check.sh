#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/check.sh [--quick]   (what `make check` and `make check-quick`
#                                   run after set-up)
# Env:   KERNELS="REL ..."       kernels to test (default: the whole matrix)
#        TESTS="pattern"         only suite tests whose name matches (grep -E)
#        DOORBELL_NO_DEBUG_KERNEL=1  leave the debug kernel out of the matrix
#        DOORBELL_NO_HOST_CHECKS=1   skip the host checks (tools and test
#                                    programs are still built)
#
# Builds the modules for every kernel of the matrix and the tools, runs the
# static checks, then the tests in tests/suite/ on each kernel: those whose
# header says "# boot: shared" one after the other in one VM boot
# (tests/vm/batch: each with its own time limit and its own slice of the
# kernel log checked for splats), the others each in its own boot.  A test
# that fails in the shared boot is reported as failed and run again alone,
# in its own boot, to show whether it fails by itself; the tests the shared
# boot did not reach run in their own boots.  tests/vm/run fails a test on
# any kernel splat.  Prints a progress line as each step starts and ends,
# kselftest TAP per kernel, and ends with "N passed, N failed, N skipped".
# --quick: the host checks, then only the default kernel's shared boot (the
# tests without a nested guest).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
QUICK=
[ "${1:-}" != --quick ] || QUICK=1
user_kernels=${KERNELS:-}
KERNELS=${KERNELS:-$(cat "$CACHE/matrix")}
[ -z "$QUICK" ] || KERNELS=${user_kernels:-$(head -n1 "$CACHE/matrix")}
TESTS=${TESTS:-.}
RES=$TOP/results
mkdir -p "$RES"

pass=0 fail=0 skip=0 n=0
start=$(date +%s)

# result STATUS NAME: STATUS 0 ok, 4 skip, else not ok.
result() {
	n=$((n + 1))
	case "$1" in
	0) echo "ok $n $2"; pass=$((pass + 1)) ;;
	4) echo "ok $n $2 # SKIP"; skip=$((skip + 1)) ;;
	*) echo "not ok $n $2"; fail=$((fail + 1)) ;;
	esac
}

# Run a command, its output as TAP diagnostics; returns its status.
diag() {
	local rc
	"$@" 2>&1 | sed 's/^/# /'
	rc=${PIPESTATUS[0]}
	return "$rc"
}

# progress TEXT: a progress line, with the time of day.
progress() { echo "# $(date +%T) $*"; }

# step NAME CMD...: diag CMD between a start and an end progress line.
step() {
	local name=$1 t0 rc
	shift
	progress "$name: start"
	t0=$(date +%s)
	diag "$@"
	rc=$?
	progress "$name: exit $rc, $(( $(date +%s) - t0 )) s"
	return $rc
}

# header NAME TEST: the value of TEST's "# NAME: VALUE" header line.
header() { sed -n "s/^# $1: //p" "tests/suite/$2" | head -n1; }

# kernels_re TEST: the ERE on the release of the kernels TEST runs on
# ("# kernels: default" or "# kernels: ERE"), empty for all of them.
kernels_re() {
	local want
	want=$(header kernels "$1")
	[ "$want" != default ] || want="^$(head -n1 "$CACHE/matrix" | sed 's/[.+]/\\&/g')\$"
	echo "$want"
}

# on_kernel REL TEST: whether TEST runs on REL (elsewhere it is skipped
# without a VM boot, which costs about 150 s on the debug kernel).
on_kernel() {
	local want
	want=$(kernels_re "$2")
	[ -z "$want" ] || echo "$1" | grep -qE "$want"
}

# follow FILE PID: print FILE's lines as progress lines as they come, until
# PID exits.
follow() {
	local f=$1 pid=$2 seen=0 lines alive
	while :; do
		alive=0
		kill -0 "$pid" 2>/dev/null && alive=1
		lines=0
		[ ! -f "$f" ] || lines=$(wc -l <"$f")
		if [ "$lines" -gt "$seen" ]; then
			sed -n "$((seen + 1)),${lines}p" "$f" | sed "s/^\([^ ]*\) /# \1 $k: /"
			seen=$lines
		fi
		[ $alive = 1 ] || break
		sleep 2
	done
}

# run_own REL TEST [RESULTS]: TEST in its own VM boot (results in
# results/REL/TEST, or RESULTS); returns its status.
run_own() {
	local k=$1 t=$2 out=${3:-$RES/$1/$2} smp tmo t0 rc
	# "# smp: N": the test VM gets N CPUs (tests/vm/run --smp).
	smp=$(header smp "$t" | sed -n 's/^\([0-9]*\)$/--smp \1/p')
	# A test of the shared boot gets its VM here too (run_batch).
	[ "$(header boot "$t")" != shared ] || smp="$smp --no-npt"
	tmo=$(header timeout "$t")
	progress "$k: $t: start (own boot)"
	t0=$(date +%s)
	rm -rf "$out"
	diag tests/vm/run --kernel "$k" $smp --timeout "${tmo:-900}" --results "$out" -- "tests/suite/$t"
	rc=$?
	progress "$k: $t: exit $rc, $(( $(date +%s) - t0 )) s"
	return $rc
}

# runner_selftest REL: the runner must report a splat: load a module that
# WARNs, in a boot of its own.
runner_selftest() {
	local k=$1 rc
	diag tests/vm/run --kernel "$k" --no-doorbell --timeout 300 --results "$RES/$k/runner-selftest" -- \
		insmod "build/$k/tests/vm/warn-module/doorbell_warntest.ko" >/dev/null
	rc=$?
	if [ $rc = 126 ] && grep -q 'WARNING: CPU' "$RES/$k/runner-selftest/splats"; then
		result 0 "$k: runner fails a run whose kernel log has a WARN"
	else
		echo "# runner exit status $rc, expected 126"
		result 1 "$k: runner fails a run whose kernel log has a WARN"
	fi
}

# run_batch REL TEST...: the shared boot of REL: the tests, then the
# runner's self-test, in one VM (tests/vm/batch), results in
# results/REL/batch/; its progress lines shown as they come.  Sets
# batch_rc (tests/vm/run's exit status) and batch_secs.
run_batch() {
	local k=$1 tmo=600 t lim pid t0
	shift
	for t in "$@"; do
		lim=$(header timeout "$t")
		tmo=$((tmo + ${lim:-900}))
	done
	rm -rf "$bres"
	progress "$k: shared boot: start ($*, then the runner's self-test; limit $tmo s)"
	t0=$(date +%s)
	# Only small guests here (no nested Linux): a CPU without NPT, which
	# TCG emulates wrongly under high exit rates (tests/vm/run --no-npt).
	tests/vm/run --kernel "$k" --no-npt --timeout $tmo --results "$bres" -- tests/vm/batch \
		"${@/#/tests/suite/}" tests/vm/warn-selftest \
		>"$kres/batch.out" 2>"$kres/batch.err" &
	pid=$!
	follow "$bres/progress" $pid
	wait $pid
	batch_rc=$?
	batch_secs=$(( $(date +%s) - t0 ))
	progress "$k: shared boot: runner exit $batch_rc, $batch_secs s"
	for t in "$@" warn-selftest; do
		[ ! -d "$bres/$t" ] || { rm -rf "${kres:?}/$t"; ln -s "batch/$t" "$kres/$t"; }
	done
}

# log_outside LOG: the lines of LOG outside every test's slice.
log_outside() {
	awk '{ m = $0; sub(/^\[[^]]*\] /, "", m) }
	     m ~ /^doorbell-batch: begin / { on = 1 }
	     !on { print }
	     m ~ /^doorbell-batch: end / { on = 0 }' "$1"
}

# log_slice LOG TEST: TEST's slice of LOG, to its end mark or LOG's end.
log_slice() {
	awk -v b="doorbell-batch: begin $2" -v e="doorbell-batch: end $2" '
		{ m = $0; sub(/^\[[^]]*\] /, "", m) }
		m == b { on = 1 }
		on { print }
		m == e { exit }' "$1"
}

# batch_line REL: the shared boot as a whole: the VM ran the batch and shut
# down, and the kernel log outside the tests' slices has no splat.
batch_line() {
	local k=$1 log why=
	log=$bres/dmesg
	[ -s "$log" ] || log=$bres/console.log
	log_outside "$log" >"$bres/dmesg-outside"
	if tests/vm/splat "$bres/dmesg-outside" >"$bres/splats-outside"; then
		why="kernel splat outside the tests (results/$k/batch/splats-outside):"
	fi
	case $batch_rc in
	124) why="${why:+$why; }the VM ran out of time" ;;
	125) why="${why:+$why; }the VM did not run the batch or died in it" ;;
	0 | 1 | 126) ;;
	*) why="${why:+$why; }tests/vm/batch exit $batch_rc" ;;
	esac
	if [ -z "$why" ]; then
		result 0 "$k: shared boot: ${#shared[@]} tests in one VM, $batch_secs s, kernel log clean between them"
		return
	fi
	echo "# shared boot: $why"
	[ ! -s "$bres/splats-outside" ] || head -n 20 "$bres/splats-outside" | sed 's/^/# /'
	sed 's/^/# /' "$kres/batch.err"
	result 1 "$k: shared boot: ${#shared[@]} tests in one VM, $batch_secs s, kernel log clean between them"
}

# isolate REL TEST: after TEST failed in the shared boot, run it alone in
# its own boot, as diagnostics: the failure in the shared boot stands.
isolate() {
	local k=$1 t=$2 rc
	echo "# $t: failed in the shared boot; run alone in its own boot to isolate it (results/$k/$t-alone):"
	run_own "$k" "$t" "$RES/$k/$t-alone"
	rc=$?
	case $rc in
	0 | 4) echo "# $t: passes alone (exit $rc, kernel log clean; a boot of its own does not compare the VM's state after it); still not ok" ;;
	*) echo "# $t: fails alone too (exit $rc)" ;;
	esac
}

# report_shared REL TEST: TEST's result from the shared boot.
report_shared() {
	local k=$1 t=$2 d=$bres/$2 st
	st=${bst[$t]}
	sed 's/^/# /' "$d/output"
	if [ "${bsplat[$t]}" = 1 ]; then
		echo "# $t: kernel splat in its slice of the kernel log (results/$k/$t/splats):"
		head -n 20 "$d/splats" | sed 's/^/# /'
		echo "# (a splat reported late, by a detector, can be a test's before it in the same boot)"
		[ "$st" != 0 ] && [ "$st" != 4 ] || st=126
	fi
	if [ "${bchanged[$t]}" = 1 ]; then
		echo "# $t: left the VM changed (results/$k/$t/state-diff):"
		sed 's/^/# /' "$d/state-diff"
		[ "$st" != 0 ] && [ "$st" != 4 ] || st=1
	fi
	echo "# $t: exit ${bst[$t]}, ${bsecs[$t]} s (shared boot)"
	[ "$st" = 0 ] || [ "$st" = 4 ] || isolate "$k" "$t"
	result "$st" "$k: $t"
}

# report_in_flight REL TEST: the shared boot's VM died while TEST ran.
report_in_flight() {
	local k=$1 t=$2 log
	log=$bres/dmesg
	[ -s "$log" ] || log=$bres/console.log
	mkdir -p "$bres/$t"
	log_slice "$log" "$t" >"$bres/$t/dmesg-host"
	echo "# $t: the shared boot's VM died while it ran (runner exit $batch_rc):"
	sed 's/^/# /' "$bres/$t/output" 2>/dev/null
	tests/vm/splat "$bres/$t/dmesg-host" | head -n 20 | sed 's/^/# /'
	sed 's/^/# /' "$kres/batch.err"
	isolate "$k" "$t"
	result 1 "$k: $t"
}

# The whole run is in a function, read before it starts: editing this file
# while it runs does not change the run.
main() {
	suite=$(cd tests/suite && ls | grep -E "$TESTS" | sort)
	if [ -n "$QUICK" ]; then
		suite=$(for t in $suite; do [ "$(header boot "$t")" = shared ] && echo "$t"; done)
	fi

	echo "TAP version 13"
	echo "# doorbell check${QUICK:+ --quick}: kernels: $KERNELS"
	echo "# host: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
	echo "# test VMs' QEMU: $(tests/vm/run --which-qemu)"

	# Host-side: the tools and test programs, static checks.
	echo "# host checks"
	step "host: tools" make -s tools; result $? "host: tools build (-Werror)"
	step "host: test programs" tests/build-tests.sh; result $? "host: test programs build (-Werror)"
	if [ "${DOORBELL_NO_HOST_CHECKS:-0}" != 1 ]; then
		step "host: checkpatch" tests/checkpatch.sh; result $? "host: checkpatch --strict on kernel code"
		step "host: sparse" tests/sparse.sh; result $? "host: sparse (C=2) and W=1"
	fi
	# The debug kernel (KASAN, lockdep, kmemleak, fault injection) joins the
	# matrix unless KERNELS was given or DOORBELL_NO_DEBUG_KERNEL=1.
	if [ -z "$QUICK" ] && [ -z "$user_kernels" ] && [ "${DOORBELL_NO_DEBUG_KERNEL:-0}" != 1 ]; then
		t0=$(date +%s)
		progress "host: debug kernel: start"
		dbg=$(tests/debug-kernel/build.sh 2> >(sed 's/^/# /' >&2))
		rc=$?
		[ $rc = 0 ] && KERNELS="$KERNELS $dbg"
		result $rc "host: debug kernel ${dbg:-?} (KASAN, lockdep, kmemleak, fault injection): $(( $(date +%s) - t0 )) s"
	fi
	if [ -z "$QUICK" ] && [ "${DOORBELL_NO_HOST_CHECKS:-0}" != 1 ]; then
		step "host: kernel-patch drift" kernel-patch/check.sh --drift
		result $? "host: kernel-patch: series up to date (no drift)"
		step "host: kernel-patch build" kernel-patch/check.sh --no-drift
		result $? "host: kernel-patch: applies to 6.12 and builds in tree (W=1), checkpatch clean"
	fi

	for k in $KERNELS; do
		echo "# kernel $k"
		kres=$RES/$k
		mkdir -p "$kres"
		step "$k: modules build" tests/build-matrix.sh "$k"; built=$?
		result $built "$k: modules build (W=1, no warnings)"
		if [ $built != 0 ]; then
			for t in $suite; do result 1 "$k: $t (not run: build failed)"; done
			continue
		fi

		# Where each test runs on this kernel: skip, shared or own.
		declare -A where=()
		shared=()
		for t in $suite; do
			if ! on_kernel "$k" "$t"; then
				where[$t]=skip
			elif [ "$(header boot "$t")" = shared ] && [ -z "$(header smp "$t")" ]; then
				where[$t]=shared
				shared+=("$t")
			else
				where[$t]=own
			fi
		done

		# The shared boot: the runner's self-test last (its WARN ends a batch).
		declare -A bst=() bsplat=() bchanged=() bsecs=()
		bres=$kres/batch
		selftest=own
		if [ ${#shared[@]} -gt 0 ]; then
			run_batch "$k" "${shared[@]}"
			[ ! -f "$bres/results" ] ||
				while read -r name st sp ch secs; do
					bst[$name]=$st bsplat[$name]=$sp bchanged[$name]=$ch bsecs[$name]=$secs
				done <"$bres/results"
			if [ -n "${bst[warn-selftest]:-}" ]; then
				selftest=shared
				if [ "${bsplat[warn-selftest]}" = 1 ] && [ "${bst[warn-selftest]}" = 0 ] &&
					grep -q 'WARNING: CPU' "$bres/warn-selftest/splats" &&
					[ "$batch_rc" = 126 ] && grep -q 'WARNING: CPU' "$bres/splats"; then
					result 0 "$k: runner fails a run whose kernel log has a WARN (in the shared boot: its slice and the whole run)"
				else
					echo "# self-test in the shared boot: exit ${bst[warn-selftest]}, splat ${bsplat[warn-selftest]}, runner exit $batch_rc (expected 0, 1, 126)"
					result 1 "$k: runner fails a run whose kernel log has a WARN (in the shared boot: its slice and the whole run)"
				fi
			fi
			batch_line "$k"
		fi
		[ $selftest = shared ] || runner_selftest "$k"

		for t in $suite; do
			case ${where[$t]} in
			skip)
				echo "# $t: not on this kernel (it runs on kernels matching $(kernels_re "$t"))"
				result 4 "$k: $t"
				;;
			shared)
				if [ -n "${bst[$t]:-}" ]; then
					report_shared "$k" "$t"
				elif grep -q " $t: start" "$bres/progress" 2>/dev/null; then
					report_in_flight "$k" "$t"
				else
					echo "# $t: not reached in the shared boot (it ended early): in its own boot"
					run_own "$k" "$t"
					result $? "$k: $t"
				fi
				;;
			own)
				run_own "$k" "$t"
				result $? "$k: $t"
				;;
			esac
		done
		unset where bst bsplat bchanged bsecs
	done
	echo "1..$n"
	echo "# total time: $(( $(date +%s) - start )) s; logs in results/<kernel>/<test>/"
	echo "$pass passed, $fail failed, $skip skipped"
	[ $fail = 0 ]
}

main "$@"
exit $?

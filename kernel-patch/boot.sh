#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: kernel-patch/boot.sh [TESTS-regex]
# The series, built in tree, running: applies kernel-patch/series/ to a copy
# of the debug kernel's built tree (tests/debug-kernel/: 6.12 with KASAN,
# lockdep, kmemleak, fault injection), sets the doorbell options to m,
# rebuilds (only what the series and the new release name touch) and
# installs the result in the kernel cache as 6.12.<N>-intree-doorbell-debug.
# Then runs the suite (tests/suite/, or the tests matching TESTS-regex) on
# it in the VM, with the doorbell modules the kernel build made in
# drivers/doorbell/ in place of the out-of-tree ones.  Prints kselftest TAP.
# The built kernel is cached by a hash of the series, the debug kernel and
# this script.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
TESTS=${1:-.}
say() { echo "# kernel-patch/boot: $*"; }
t0=$(date +%s)

dbg=$(tests/debug-kernel/build.sh)
src=$(readlink -f "$CACHE/kernels/$dbg/build")
key=$( { echo "$dbg"; cat kernel-patch/series/*.patch "$0"; } | sha256sum | cut -c1-16)
base=$CACHE/kpatch-boot
dir=$base/$key
tree=$dir/linux
if [ ! -s "$dir/release" ] || [ ! -e "$CACHE/kernels/$(cat "$dir/release")/.complete" ]; then
	for d in "$base"/*/; do
		[ -d "$d" ] || continue
		old=$(cat "$d/release" 2>/dev/null || true)
		[ -z "$old" ] || rm -rf "${CACHE:?}/kernels/$old"
		rm -rf "$d"
	done
	mkdir -p "$dir"
	say "copying the debug kernel's tree ($src)"
	cp -a "$src" "$tree"
	cd "$tree"
	for p in "$TOP"/kernel-patch/series/0*.patch; do
		case "$p" in *0000-cover-letter.patch) continue ;; esac
		patch -s -p1 -F0 -N --no-backup-if-mismatch <"$p"
	done
	opts=$(sed -n 's/^\(menu\)\{0,1\}config \(DOORBELL[A-Z_]*\)$/\2/p' drivers/doorbell/Kconfig)
	scripts/config --set-str LOCALVERSION -intree-doorbell-debug
	for o in $opts; do scripts/config --module "$o"; done
	make -s olddefconfig
	for o in $opts; do
		grep -qx "CONFIG_$o=m" .config || { say "CONFIG_$o did not stay =m"; exit 1; }
	done
	say "building with -j$(nproc) (incremental over the debug kernel)"
	make -s -j"$(nproc)" bzImage modules >"$dir/build.log" 2>&1 || {
		tail -n 30 "$dir/build.log"
		say "the build failed"
		exit 1
	}
	rel=$(cat include/config/kernel.release)
	kd=$CACHE/kernels/$rel
	rm -rf "$kd"
	mkdir -p "$kd/root"
	make -s INSTALL_MOD_PATH="$kd/root" INSTALL_MOD_STRIP=1 modules_install >&2
	rm -f "$kd/root/lib/modules/$rel/build" "$kd/root/lib/modules/$rel/source"
	ln -s "$tree" "$kd/root/lib/modules/$rel/build"
	cp arch/x86/boot/bzImage "$kd/vmlinuz"
	ln -sfn "$tree" "$kd/build"
	ln -sfn "root/lib/modules/$rel" "$kd/modules"
	depmod -b "$kd/root" "$rel"
	touch "$kd/.complete"
	echo "$rel" >"$dir/release"
	say "built $rel in $(( $(date +%s) - t0 )) s"
	cd "$TOP"
fi
rel=$(cat "$dir/release")

# The modules the runner loads (DOORBELL_KO): the in-tree ones.
ko=$TOP/build/$rel/drivers
rm -rf "$TOP/build/$rel"
mkdir -p "$ko"
find "$tree/drivers/doorbell" -name '*.ko' -exec cp {} "$ko/" \;
for m in "$ko"/*.ko; do
	[ "$(modinfo -F intree "$m")" = Y ] || { say "$m: not built in tree"; exit 1; }
done
say "in-tree modules (modinfo intree: Y): $(cd "$ko" && echo *.ko)"

echo "TAP version 13"
n=0 fail=0
for t in $(cd tests/suite && ls | grep -E "$TESTS" | sort); do
	n=$((n + 1))
	t1=$(date +%s)
	set +e
	tests/vm/run --kernel "$rel" --timeout 1800 --results "$TOP/results/$rel/$t" -- \
		"tests/suite/$t" 2>&1 | sed 's/^/# /'
	rc=${PIPESTATUS[0]}
	set -e
	echo "# $t: exit $rc, $(( $(date +%s) - t1 )) s"
	case "$rc" in
	0) echo "ok $n $rel: $t" ;;
	4) echo "ok $n $rel: $t # SKIP" ;;
	*) echo "not ok $n $rel: $t"; fail=$((fail + 1)) ;;
	esac
done
echo "1..$n"
[ $fail = 0 ]

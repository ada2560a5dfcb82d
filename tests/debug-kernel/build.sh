#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/debug-kernel/build.sh
# Builds the debug kernel of the test matrix (KASAN, lockdep, debug objects,
# kmemleak, fault injection) from Debian's linux-source-6.12 with
# x86_64_defconfig + tests/debug-kernel/debug.config, and installs it in the
# cache the way tests/setup.sh installs the Debian kernels:
#   $CACHE/kernels/<REL>/{vmlinuz, build -> the tree, root/lib/modules/<REL>}
# Cached by a hash of the source tarball, the fragment and this script: a
# second run prints the release and does nothing else.  Prints the release
# on stdout, progress on stderr.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
HERE=$TOP/tests/debug-kernel
say() { echo "debug-kernel: $*" >&2; }

"$TOP/tests/linux-src.sh" >/dev/null	# installs linux-source-6.12 if missing
tarball=$(ls /usr/src/linux-source-6.12.tar.* | head -n1)
hash=$( { stat -c '%s %Y' "$tarball"; cat "$HERE/debug.config" "$0"; } | sha256sum | cut -c1-12)
tree=$CACHE/debug-build/$hash/linux-source-6.12
stamp=$CACHE/debug-build/$hash/release
if [ -s "$stamp" ] && [ -e "$CACHE/kernels/$(cat "$stamp")/.complete" ]; then
	cat "$stamp"
	exit 0
fi
# Older builds are of no use any more.
rm -rf "$CACHE/debug-build"
mkdir -p "$CACHE/debug-build/$hash"
t0=$(date +%s)
say "unpacking $tarball"
tar -C "$CACHE/debug-build/$hash" -xf "$tarball"
cd "$tree"
say "configuring: x86_64_defconfig + debug.config"
make -s x86_64_defconfig >&2
scripts/kconfig/merge_config.sh -m .config "$HERE/debug.config" >/dev/null
make -s olddefconfig >&2
# Every option of the fragment must have stuck (a renamed one would not).
missing=0
while read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qx "$line" .config || { say "not set as asked: $line"; missing=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		if grep -q "^$opt=" .config; then say "still set: $opt"; missing=1; fi ;;
	esac
done <"$HERE/debug.config"
[ $missing = 0 ] || { say "the fragment did not apply"; exit 1; }
say "building with -j$(nproc)"
make -s -j"$(nproc)" bzImage modules >&2
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
echo "$rel" >"$stamp"
say "built $rel in $(( $(date +%s) - t0 )) s"
echo "$rel"

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: kernel-patch/check.sh [--drift]
# --drift: the committed series (kernel-patch/series/) must be exactly what
#          kernel-patch/gen.py generates from the current sources.
# Without it, also: the series applies to Debian's linux-source-6.12 with no
# fuzz and no offset, the new options configure as modules on top of
# Debian's 6.12 config, drivers/doorbell/ builds with W=1 and no warning
# (modpost against Debian's Module.symvers),
# and checkpatch --strict passes on every patch.  The unpacked tree with
# modules_prepare done is cached in $DOORBELL_CACHE/kpatch/, keyed by the
# source tarball, the config and this script; each run patches a copy.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
SERIES=$TOP/kernel-patch/series
say() { echo "kernel-patch: $*"; }

SRC=$("$TOP/tests/linux-src.sh")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$TOP/kernel-patch/gen.py" "$SRC" "$tmp/series"
if ! diff -ru "$SERIES" "$tmp/series" >"$tmp/drift"; then
	head -n 60 "$tmp/drift"
	say "the committed series drifted from the sources: run 'make kernel-patch' and commit"
	exit 1
fi
say "series up to date ($(ls "$SERIES" | wc -l) patches)"
[ "${1:-}" != --drift ] || exit 0

# The Debian 6.12 kernel of the matrix gives the config.
rel=$(grep -m1 '^6\.12\..*-amd64$' "$CACHE/matrix" | grep -v -- -rt- || true)
config=$CACHE/kernels/$rel/build/.config
[ -n "$rel" ] && [ -f "$config" ] || { say "no Debian 6.12 kernel config (run tests/setup.sh)"; exit 1; }
tarball=$(ls /usr/src/linux-source-6.12.tar.* | head -n1)
symvers=$CACHE/kernels/$rel/build/Module.symvers
key=$( { stat -c '%s %Y' "$tarball"; cat "$config" "$symvers" "$0"; } | sha256sum | cut -c1-12)
prep=$CACHE/kpatch/$key/linux-source-6.12
if [ ! -e "$prep/.doorbell-prepared" ]; then
	t0=$(date +%s)
	rm -rf "$CACHE/kpatch"
	mkdir -p "$CACHE/kpatch/$key"
	say "unpacking $tarball and preparing it with $config"
	tar -C "$CACHE/kpatch/$key" -xf "$tarball"
	cp "$config" "$prep/.config"
	# The exports of Debian's vmlinux and modules, for modpost.
	cp "$symvers" "$prep/Module.symvers"
	(
		cd "$prep"
		# Debian's signing keys are not in the source package.
		scripts/config --set-str SYSTEM_TRUSTED_KEYS "" \
			--set-str SYSTEM_REVOCATION_KEYS "" --disable MODULE_SIG_ALL
		make -s olddefconfig
		make -s -j"$(nproc)" modules_prepare
	) >"$CACHE/kpatch/$key/prepare.log" 2>&1 || {
		tail -n 30 "$CACHE/kpatch/$key/prepare.log"
		say "preparing the tree failed"
		exit 1
	}
	touch "$prep/.doorbell-prepared"
	say "prepared in $(( $(date +%s) - t0 )) s (cached)"
fi

work=$CACHE/kpatch/$key/work
rm -rf "$work"
cp -a "$prep" "$work"
for p in "$SERIES"/0*.patch; do
	case "$p" in *0000-cover-letter.patch) continue ;; esac
	if ! out=$(patch -p1 -F0 -N --no-backup-if-mismatch -d "$work" <"$p" 2>&1); then
		echo "$out"
		say "$(basename "$p") does not apply"
		exit 1
	fi
	if echo "$out" | grep -qiE 'offset|fuzz'; then
		echo "$out"
		say "$(basename "$p") applies only with an offset or fuzz"
		exit 1
	fi
done
say "series applies cleanly to linux-source-6.12"

cd "$work"
opts=$(sed -n 's/^\(menu\)\{0,1\}config \(DOORBELL[A-Z_]*\)$/\2/p' drivers/doorbell/Kconfig)
for o in $opts; do scripts/config --module "$o"; done
make -s olddefconfig
make -s -j"$(nproc)" modules_prepare >/dev/null	# syncconfig: M= builds read auto.conf
for o in $opts; do
	grep -qx "CONFIG_$o=m" .config || { say "CONFIG_$o did not stay =m"; exit 1; }
done
if ! make -s -j"$(nproc)" W=1 M=drivers/doorbell modules >"$tmp/build.log" 2>&1 ||
	grep -E 'warning:|error:' "$tmp/build.log"; then
	cat "$tmp/build.log"
	say "drivers/doorbell/ does not build cleanly in tree"
	exit 1
fi
say "built in tree with W=1: $(cd drivers/doorbell && ls ./*.ko | xargs -n1 basename | tr '\n' ' ')"

bad=0
for p in "$SERIES"/0*.patch; do
	case "$p" in *0000-cover-letter.patch) continue ;; esac
	if ! scripts/checkpatch.pl --strict --no-tree -q "$p" >"$tmp/cp.log" 2>&1; then
		cat "$tmp/cp.log"
		bad=1
	fi
done
[ $bad = 0 ] || { say "checkpatch --strict complains"; exit 1; }
say "checkpatch --strict: clean"
rm -rf "$work"

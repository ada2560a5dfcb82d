#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: kernel-patch/check.sh [--drift | --no-drift]
# --drift:    only this: the committed series (kernel-patch/series/) must
#             be exactly what kernel-patch/gen.sh makes of the sources.
# --no-drift: only what follows, on the committed series.
# Without an option, both.  After the drift check, on Debian's
# linux-source-6.12 (tests/linux-src.sh):
#  - every patch passes `git apply --check` and applies with
#    `patch -p1 -F0`, with no fuzz and no offset;
#  - the new options, set to m on top of the config of the matrix's Debian
#    6.12 kernel, survive olddefconfig;
#  - drivers/doorbell/ builds with W=1 and no warning, modpost resolving
#    against Debian's Module.symvers;
#  - scripts/kernel-doc -Wall finds nothing in the new C files, docutils
#    nothing in the .rst files the series touches (rstcheck.py) and
#    scripts/checkpatch.pl --strict (with the tree) nothing in any patch.
# The unpacked tree with modules_prepare done is cached in
# $DOORBELL_CACHE/kpatch-tree/KEY/, KEY a hash of the package version, the
# config, Module.symvers and the preparation steps.  Each run patches a copy
# made of hard links (the files the preparation generated, which a build may
# rewrite in place, are real copies) and verifies afterwards that nothing
# wrote through a link into the cache.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
SERIES=$TOP/kernel-patch/series
say() { echo "kernel-patch: $*"; }
t0=$(date +%s)
lap() { echo "$(( $(date +%s) - t0 )) s"; }

case "${1:-}" in
""|--drift|--no-drift) ;;
*) echo "usage: kernel-patch/check.sh [--drift | --no-drift]" >&2; exit 2 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "${1:-}" != --no-drift ]; then
	"$TOP/kernel-patch/gen.sh" "$tmp/series"
	if ! diff -ru "$SERIES" "$tmp/series" >"$tmp/drift"; then
		head -n 60 "$tmp/drift"
		say "the committed series drifted from the sources: run 'make kernel-patch' (kernel-patch/gen.sh) and commit"
		exit 1
	fi
	say "series up to date ($(ls "$SERIES" | wc -l) files)"
	[ "${1:-}" != --drift ] || exit 0
fi

# The config of the matrix's Debian 6.12 kernel.
rel=$(grep -m1 '^6\.12\..*-amd64$' "$CACHE/matrix" | grep -v -- -rt- || true)
config=$CACHE/kernels/$rel/build/.config
[ -f "$config" ] || config=$CACHE/kernels/$rel/root/boot/config-$rel
symvers=$CACHE/kernels/$rel/build/Module.symvers
if [ -z "$rel" ] || [ ! -f "$config" ] || [ ! -f "$symvers" ]; then
	say "no Debian 6.12 kernel config and Module.symvers (run tests/setup.sh)"
	exit 1
fi
tarball=$("$TOP/tests/linux-src.sh" --tarball)
version=$("$TOP/tests/linux-src.sh" --version)

# Run in the tree: Debian's config without its signing keys (not in the
# source package), Debian's exports for modpost, modules_prepare.
prepare() {
	cp "$config" .config
	cp "$symvers" Module.symvers
	scripts/config --set-str SYSTEM_TRUSTED_KEYS "" \
		--set-str SYSTEM_REVOCATION_KEYS "" --disable MODULE_SIG_ALL
	make -s olddefconfig
	make -s -j"$(nproc)" modules_prepare
}
key=$( { echo "$version"; cat "$config" "$symvers"; declare -f prepare; } |
	sha256sum | cut -c1-16)
base=$CACHE/kpatch-tree
dir=$base/$key
prep=$dir/linux-source-6.12
mkdir -p "$base"
exec 9>"$base/lock"
flock 9	# one check at a time uses the cache
rm -rf "$CACHE/kpatch"	# the cache's old place
if [ ! -e "$dir/prepared" ]; then
	for d in "$base"/*/; do [ "$d" = "$dir/" ] || rm -rf "$d"; done
	rm -rf "$dir"
	mkdir -p "$dir"
	say "unpacking linux-source-6.12 $version and preparing it with $config"
	tar -C "$dir" -xf "$tarball"
	touch "$dir/unpacked"
	(cd "$prep" && prepare) >"$dir/prepare.log" 2>&1 || {
		tail -n 30 "$dir/prepare.log"
		say "preparing the tree failed"
		exit 1
	}
	# What the preparation wrote: copied for real into each work tree.
	(cd "$prep" && find . -newer "$dir/unpacked" \( -type f -o -type l \) -print) \
		>"$dir/generated"
	touch "$dir/prepared"
	say "prepared in $(lap) (cached in $dir)"
fi

work=$dir/work
rm -rf "$work"
cp -al "$prep" "$work"
(cd "$work" && xargs -d '\n' rm -f <"$dir/generated")
(cd "$prep" && tar -cf - -T "$dir/generated") | tar -C "$work" -xf -
say "work tree ready: $(lap)"

cd "$work"
for p in "$SERIES"/0*.patch; do
	case "$p" in *0000-cover-letter.patch) continue ;; esac
	if ! git apply --check "$p" 2>"$tmp/apply"; then
		cat "$tmp/apply"
		say "$(basename "$p"): git apply --check fails"
		exit 1
	fi
	# patch replaces each file it changes (hard links to the cache break).
	if ! out=$(patch -p1 -F0 -N --no-backup-if-mismatch <"$p" 2>&1); then
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
say "series applies cleanly to linux-source-6.12 $version: $(lap)"

opts=$(sed -n 's/^\(menu\)\{0,1\}config \(DOORBELL[A-Z_]*\)$/\2/p' drivers/doorbell/Kconfig)
for o in $opts; do scripts/config --module "$o"; done
make -s olddefconfig
for o in $opts; do
	grep -qx "CONFIG_$o=m" .config || { say "CONFIG_$o did not stay =m"; exit 1; }
done
make -s syncconfig	# M= builds read include/config/auto.conf
say "configured as modules: $(echo $opts) ($(lap))"
if ! make -s -j"$(nproc)" W=1 M=drivers/doorbell modules >"$tmp/build.log" 2>&1 ||
	grep -E 'warning:|error:' "$tmp/build.log"; then
	cat "$tmp/build.log"
	say "drivers/doorbell/ does not build cleanly in tree"
	exit 1
fi
say "built in tree with W=1: $(cd drivers/doorbell && echo $(find . -name '*.ko' -printf '%f\n' | sort)) ($(lap))"

find drivers/doorbell -name '*.[ch]' ! -name '*.mod.c' | sort >"$tmp/cfiles"
if scripts/kernel-doc -Wall -none $(cat "$tmp/cfiles") 2>&1 | grep .; then
	say "kernel-doc -Wall complains"
	exit 1
fi
rst=$(sed -n 's|^+++ b/\(Documentation/.*\.rst\)$|\1|p' "$SERIES"/0*.patch | sort -u)
python3 "$TOP/kernel-patch/rstcheck.py" $rst || { say "reStructuredText errors"; exit 1; }
bad=0
for p in "$SERIES"/0*.patch; do
	case "$p" in *0000-cover-letter.patch) continue ;; esac
	# A device patch adds a file under drivers/doorbell/, which the core
	# patch's MAINTAINERS entry (F: drivers/doorbell/) covers already:
	# checkpatch's "does MAINTAINERS need updating?" is then answered.
	ign=
	if ! grep -q '^+++ b/MAINTAINERS$' "$p" &&
	   ! sed -n 's|^+++ b/||p' "$p" | grep -qv '^drivers/doorbell/' &&
	   grep -q '^F:	drivers/doorbell/$' MAINTAINERS; then
		ign="--ignore FILE_PATH_CHANGES"
	fi
	if ! scripts/checkpatch.pl --strict -q $ign "$p" >"$tmp/cp.log" 2>&1; then
		cat "$tmp/cp.log"
		bad=1
	fi
done
[ $bad = 0 ] || { say "checkpatch --strict complains"; exit 1; }
say "kernel-doc -Wall, docutils on $(echo $rst), checkpatch --strict: clean ($(lap))"

cd "$dir"
rm -rf "$work"
changed=$(find "$prep" -newer "$dir/prepared" -print -quit)
if [ -n "$changed" ]; then
	rm -rf "$dir"
	say "the cached tree was written through a hard link ($changed): dropped it"
	exit 1
fi
say "done in $(lap)"

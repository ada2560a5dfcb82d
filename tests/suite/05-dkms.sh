#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kernels: default
# DKMS as a user runs it: add, build, install against the running kernel's
# headers, then modprobe the installed modules and remove the package.
# Runs inside the test VM (its root is a throwaway overlay); leaves it as
# it found it: the source tree removed, the test VM's modules loaded again.
# boot: shared
echo "TAP version 13"
# DKMS is packaging: it is tested on the matrix's default kernel.  Each
# kernel's module build is checked on the host (tests/build-matrix.sh, W=1)
# already; a dkms build in the VM under TCG takes 5 to 8 minutes per Debian
# kernel (13 on the KASAN one) and tests nothing more there.
default=$(head -n1 "${DOORBELL_CACHE:-/var/cache/doorbell}/matrix" 2>/dev/null)
if [ "$(uname -r)" != "$default" ]; then
	echo "1..0 # SKIP dkms is tested on the default kernel ($default); this kernel's build: tests/build-matrix.sh"
	exit 4
fi
echo "1..5"
command -v dkms >/dev/null || { echo "1..0 # SKIP dkms not installed"; exit 4; }
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$DOORBELL_TOP/dkms.conf")
krel=$(uname -r)
src=/usr/src/doorbell-$ver
failed=0
n=0
t() {
	n=$((n + 1))
	desc=$1
	shift
	t0=$(date +%s)
	if "$@" >/tmp/dkms.out 2>&1; then
		echo "ok $n $desc ($(($(date +%s) - t0)) s)"
	else
		echo "not ok $n $desc ($(($(date +%s) - t0)) s)"
		sed 's/^/# /' /tmp/dkms.out | tail -n 40
		find /var/lib/dkms -name make.log -exec tail -n 40 {} \; 2>/dev/null | sed 's/^/# /'
		failed=1
	fi
}

. tests/modules.sh
modules_save
for m in $(lsmod | awk '$1 ~ /^doorbell/ && $1 != "doorbell_core" {print $1}') doorbell_core; do
	rmmod "$m" 2>/dev/null
done

# depmod, which dkms runs after install and after remove, reads every module
# of the kernel's tree: Debian's 6.12 has 4230, xz-compressed, and under TCG
# each depmod took 3 to 7 minutes (21 s on the host).  So dkms runs on the
# tree cut down to the modules loaded now (and so to those the doorbell
# modules depend on: tun and tap for doorbell_net), with the kernel's
# modules.order, modules.builtin* and its build (headers) link, mounted over
# /lib/modules/$krel for the test, unmounted after.  What dkms and depmod do
# with doorbell's modules is the same in either tree.
kmods=/lib/modules/$krel
tree=/tmp/dkms-modules
rm -rf "$tree"
mkdir -p "$tree"
cp -a "$kmods"/modules.order "$kmods"/modules.builtin* "$kmods"/build "$tree"/
[ ! -e "$kmods/source" ] || cp -a "$kmods/source" "$tree"/
for m in $(cut -d' ' -f1 /proc/modules); do
	f=$(modinfo -n "$m" 2>/dev/null) || continue
	case $f in "$kmods"/*) ;; *) continue ;; esac
	mkdir -p "$tree/$(dirname "${f#"$kmods"/}")"
	cp "$f" "$tree/${f#"$kmods"/}"
done
mount --bind "$tree" "$kmods" && depmod -a "$krel" ||
	{ echo "# could not set up the cut-down module tree"; exit 1; }

rm -rf "$src"
mkdir -p "$src"
(cd "$DOORBELL_TOP" && tar --exclude=./build --exclude=./results --exclude=.git -cf - .) | tar -C "$src" -xf -
t "dkms add" dkms add "doorbell/$ver"
t "dkms build for $krel" dkms build "doorbell/$ver" -k "$krel"
t "dkms install" dkms install "doorbell/$ver" -k "$krel"
mods=$(sed -n 's/^BUILT_MODULE_NAME\[[0-9]*\]="\(.*\)"/\1/p' "$src/dkms.conf" | tr "\n" " ")
t "modprobe loads the installed modules ($(echo $mods))" sh -c "for m in $mods; do modprobe \$m || exit 1; modinfo -n \$m | grep -q /updates/ || exit 1; done"
rmods=$(echo $mods | tr ' ' '\n' | tac | tr '\n' ' ')
# Removed means gone from dkms, from the tree and from depmod's index.
t "dkms remove: the package and its modules are gone" sh -c "for m in $rmods; do rmmod \$m || exit 1; done
	dkms remove doorbell/$ver --all || exit 1
	[ -z \"\$(dkms status doorbell)\" ] || { dkms status doorbell; exit 1; }
	for m in $mods; do
		! modinfo -n \$m 2>/dev/null || { echo \"\$m still in the index: \$(modinfo -n \$m)\"; exit 1; }
	done
	! find $kmods -name 'doorbell*' | grep . || exit 1"
umount "$kmods"
rm -rf "$src" "$tree"
modules_restore || failed=1
exit $failed

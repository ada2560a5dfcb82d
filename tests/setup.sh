#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Idempotent set-up for a Debian 12 machine: installs the host tools the build
# and the VM tests need, and unpacks the kernels of the test matrix (image,
# modules and headers) into a cache directory with apt-get download +
# dpkg-deb -x.  Nothing is installed as the machine's own kernel.
#
# Usage: tests/setup.sh            set everything up, print the matrix file
# Env:   DOORBELL_CACHE            cache directory (default /var/cache/doorbell)
#        DOORBELL_KERNELS          override the matrix: space-separated
#                                  kernel release names, e.g. "6.1.0-56-amd64"
set -euo pipefail

CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
KDIR_ROOT=$CACHE/kernels
MATRIX=$CACHE/matrix

say() { printf 'setup: %s\n' "$*" >&2; }

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

HOST_PKGS="qemu-system-x86 qemu-utils busybox-static kmod cpio xz-utils zstd gcc make
	bc bison flex libelf-dev libssl-dev dwarves sparse python3 perl e2fsprogs iproute2 dkms
	patch git rsync python3-docutils"

missing=()
for p in $HOST_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing: ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
	say "host packages present"
fi

apt_updated=
apt_update_once() {
	if [ -z "$apt_updated" ]; then
		$SUDO apt-get update -qq
		apt_updated=1
	fi
}

# Newest release name matching a pattern whose -unsigned image and headers
# both exist in the archive.
newest_release() {
	local pat=$1 rel
	apt_update_once
	for rel in $(apt-cache search --names-only "^linux-image-${pat}-unsigned\$" |
		     sed -n 's/^linux-image-\(.*\)-unsigned .*/\1/p' | sort -rV); do
		if apt-cache show "linux-headers-$rel" >/dev/null 2>&1; then
			echo "$rel"
			return 0
		fi
	done
	return 1
}

# Packages a headers package needs (its -common headers and linux-kbuild).
header_deps() {
	apt-cache show "linux-headers-$1" | sed -n '0,/^Depends:/s/^Depends: //p' |
		tr ',' '\n' | sed 's/([^)]*)//g; s/|.*//; s/ //g' |
		grep -E '^linux-(headers-.*common.*|kbuild-.*)$' || true
}

# Re-point absolute symlinks inside an unpacked root to stay inside it.
fix_links() {
	local root=$1 l t
	while IFS= read -r -d '' l; do
		t=$(readlink "$l")
		case "$t" in
		/*) ln -sfn "$root$t" "$l" ;;
		esac
	done < <(find "$root" -type l -print0)
}

unpack_kernel() {
	local rel=$1 dir=$KDIR_ROOT/$1 tmp pkg
	if [ -e "$dir/.complete" ]; then
		say "kernel $rel present in $dir"
		return 0
	fi
	say "fetching kernel $rel"
	rm -rf "$dir"
	mkdir -p "$dir/root" "$dir/debs"
	tmp=$dir/debs
	(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "linux-image-$rel-unsigned" "linux-headers-$rel" $(header_deps "$rel") >&2)
	for pkg in "$tmp"/*.deb; do
		dpkg-deb -x "$pkg" "$dir/root"
	done
	fix_links "$dir/root"
	# The headers' Makefile includes the -common headers by absolute path.
	sed -i "s|^include /usr/src/|include $dir/root/usr/src/|" \
		"$dir/root/usr/src/linux-headers-$rel/Makefile"
	ln -sfn "root/boot/vmlinuz-$rel" "$dir/vmlinuz"
	ln -sfn "root/usr/src/linux-headers-$rel" "$dir/build"
	ln -sfn "root/lib/modules/$rel" "$dir/modules"
	depmod -b "$dir/root" "$rel"
	rm -rf "$tmp"
	touch "$dir/.complete"
	say "kernel $rel ready"
}

mkdir -p "$KDIR_ROOT"
if [ -n "${DOORBELL_KERNELS:-}" ]; then
	kernels=$DOORBELL_KERNELS
else
	k612=$(newest_release '6\.12\.[0-9]*\+deb12-amd64') || { say "no 6.12 kernel in the archive"; exit 1; }
	k61=$(newest_release '6\.1\.0-[0-9]*-amd64') || { say "no 6.1 kernel in the archive"; exit 1; }
	k612rt=$(newest_release '6\.12\.[0-9]*\+deb12-rt-amd64') || { say "no 6.12-rt kernel in the archive"; exit 1; }
	kernels="$k612 $k61 $k612rt"
fi

for k in $kernels; do
	unpack_kernel "$k"
done

# fio and its libraries for the nested guests of 56-blk.sh (the test VM has
# no network).
say "fio for the nested guests: $("$(dirname "$0")/../tools/blkbench/fetch-fio")"

# The matrix, default kernel first.
printf '%s\n' $kernels >"$MATRIX.tmp"
mv "$MATRIX.tmp" "$MATRIX"
say "matrix: $(tr '\n' ' ' <"$MATRIX")"
echo "$MATRIX"

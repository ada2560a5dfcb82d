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

# QEMU for the test VMs: bookworm-backports' qemu-system-x86 (10.0), unpacked
# into $CACHE/qemu with apt-get download + dpkg-deb -x, from a sources list
# of its own (the machine's apt sources are not changed), run with
# bookworm's libraries through the wrapper $CACHE/qemu/qemu-system-x86_64.
# Why not bookworm's QEMU 7.2: see README ("The test VMs' QEMU").
QEMU_SUITE=bookworm-backports
QEMU_PKGS="qemu-system-x86 qemu-system-common qemu-system-data seabios"
fetch_qemu() {
	local q=$CACHE/qemu apt uri pkg v missing
	if [ -e "$q/.complete" ]; then
		say "QEMU $(cat "$q/.complete") present in $q"
		return 0
	fi
	say "fetching QEMU from $QEMU_SUITE"
	rm -rf "$q"
	apt=$q/apt
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$q/debs" "$q/root" || return 1
	uri=$(apt-get indextargets --format '$(REPO_URI)' 2>/dev/null | grep -m1 '/debian/$' ||
	      echo http://deb.debian.org/debian/)
	echo "deb $uri $QEMU_SUITE main" >"$apt/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		    -o APT::Sandbox::User=root)
	$SUDO apt-get "${opts[@]}" update -qq >&2 || return 1
	for pkg in $QEMU_PKGS; do
		v=$(apt-cache "${opts[@]}" show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | head -n1)
		[ -n "$v" ] || { say "$pkg not in $QEMU_SUITE"; return 1; }
		(cd "$q/debs" && apt-get "${opts[@]}" download -qq "$pkg=$v" >&2) || return 1
	done
	for pkg in "$q"/debs/*.deb; do
		dpkg-deb -x "$pkg" "$q/root" || return 1
	done
	missing=$(ldd "$q/root/usr/bin/qemu-system-x86_64" 2>&1 | sed -n 's/^\t*\(.*\) => not found/\1/p')
	[ -z "$missing" ] || { say "QEMU from $QEMU_SUITE lacks libraries: $missing"; return 1; }
	cat >"$q/qemu-system-x86_64" <<WRAP
#!/bin/sh
# QEMU from $QEMU_SUITE, unpacked by tests/setup.sh
R=$q/root
QEMU_MODULE_DIR=\$R/usr/lib/x86_64-linux-gnu/qemu exec \$R/usr/bin/qemu-system-x86_64 \\
	-L \$R/usr/share/qemu -L \$R/usr/share/seabios "\$@"
WRAP
	chmod +x "$q/qemu-system-x86_64"
	v=$("$q/qemu-system-x86_64" --version | head -n1)
	[ -n "$v" ] || { say "QEMU from $QEMU_SUITE does not run"; return 1; }
	rm -rf "$q/debs" "$apt"
	echo "$v" >"$q/.complete"
	say "$v in $q"
}
fetch_qemu || { rm -rf "$CACHE/qemu"; say "no QEMU from $QEMU_SUITE: the test VMs use the system's $(qemu-system-x86_64 --version | head -n1)"; }

# fio and its libraries for the nested guests of 56-blk.sh (the test VM has
# no network).
say "fio for the nested guests: $("$(dirname "$0")/../tools/blkbench/fetch-fio")"

# The matrix, default kernel first.
printf '%s\n' $kernels >"$MATRIX.tmp"
mv "$MATRIX.tmp" "$MATRIX"
say "matrix: $(tr '\n' ' ' <"$MATRIX")"
echo "$MATRIX"

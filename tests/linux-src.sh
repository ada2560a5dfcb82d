#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/linux-src.sh [--tarball | --version]
# Debian's linux-source-6.12, installed with apt if missing.
#   (no option)  unpacks the parts of it the checks need (scripts/ for
#                checkpatch, the files the kernel-patch series touches) into
#                the cache, again when the package version changed, and
#                prints the unpacked tree's path
#   --tarball    prints the path of the whole source tarball
#   --version    prints the package version
set -euo pipefail
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
SRC=$CACHE/linux-src/linux-source-6.12
FILES="drivers/Kconfig drivers/Makefile Documentation/virt/index.rst
Documentation/userspace-api/ioctl/ioctl-number.rst MAINTAINERS"

tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1 || true)
if [ -z "$tarball" ]; then
	echo "linux-src: installing linux-source-6.12" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-source-6.12 >&2
	tarball=$(ls /usr/src/linux-source-6.12.tar.* | head -n1)
fi
version=$(dpkg-query -W -f='${Version}' linux-source-6.12)
case "${1:-}" in
--tarball) echo "$tarball"; exit 0 ;;
--version) echo "$version"; exit 0 ;;
"") ;;
*) echo "usage: tests/linux-src.sh [--tarball | --version]" >&2; exit 2 ;;
esac

have=1
[ -x "$SRC/scripts/checkpatch.pl" ] || have=0
[ "$(cat "$SRC/.doorbell-version" 2>/dev/null)" = "$version" ] || have=0
for f in $FILES; do [ -f "$SRC/$f" ] || have=0; done
if [ $have = 0 ]; then
	rm -rf "$SRC"
	mkdir -p "$CACHE/linux-src"
	# shellcheck disable=SC2046 # one member per word
	tar -C "$CACHE/linux-src" -xf "$tarball" --wildcards 'linux-source-6.12/scripts/*' \
		$(for f in $FILES; do echo "linux-source-6.12/$f"; done)
	echo "$version" >"$SRC/.doorbell-version"
fi
echo "$SRC"

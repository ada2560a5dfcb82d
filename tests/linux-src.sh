#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/linux-src.sh
# Unpacks the parts of Debian's linux-source-6.12 the checks need (scripts/
# for checkpatch) into the cache, installing the package if missing.
# Prints the unpacked tree's path.
set -euo pipefail
CACHE=${DOORBELL_CACHE:-/var/cache/doorbell}
SRC=$CACHE/linux-src/linux-source-6.12
if [ ! -x "$SRC/scripts/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1 || true)
	if [ -z "$tarball" ]; then
		echo "linux-src: installing linux-source-6.12" >&2
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-source-6.12 >&2
		tarball=$(ls /usr/src/linux-source-6.12.tar.* | head -n1)
	fi
	mkdir -p "$CACHE/linux-src"
	tar -C "$CACHE/linux-src" -xf "$tarball" --wildcards 'linux-source-6.12/scripts/*' \
		'linux-source-6.12/Documentation/userspace-api/ioctl/ioctl-number.rst'
fi
echo "$SRC"

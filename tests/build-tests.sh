#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: tests/build-tests.sh
# Builds the userspace test programs (each tests/*/Makefile except vm/).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
for mk in "$TOP"/tests/*/Makefile; do
	[ -e "$mk" ] || continue
	make -s -C "$(dirname "$mk")"
done

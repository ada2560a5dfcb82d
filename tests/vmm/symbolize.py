#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""usage: symbolize.py KALLSYMS < TEXT

Copies TEXT, each kernel text address (0xffffffff8...) followed by
<symbol+offset>.  The addresses are a guest's booted with nokaslr; KALLSYMS
is /proc/kallsyms of a running kernel built from the same image (any KASLR
offset: its _text gives the slide).  Debian's System.map is a stub."""
import bisect
import re
import sys

NOKASLR_TEXT = 0xffffffff81000000
syms = []
try:
    with open(sys.argv[1]) as f:
        for line in f:
            a, t, name = line.split()[:3]
            if t in 'tTwW' and len(line.split()) == 3:
                syms.append((int(a, 16), name))
except (OSError, IndexError, ValueError) as e:
    print(f'symbolize.py: no symbols: {e}', file=sys.stderr)
text = [a for a, n in syms if n == '_text']
slide = text[0] - NOKASLR_TEXT if text and text[0] else None
syms = sorted((a - slide, n) for a, n in syms) if slide is not None else []
addrs = [a for a, _ in syms]


def name(m):
    a = int(m.group(0), 16)
    i = bisect.bisect_right(addrs, a) - 1
    if i < 0 or a - addrs[i] > 0x10000:
        return m.group(0)
    return f'{m.group(0)} <{syms[i][1]}+{a - addrs[i]:#x}>'


for line in sys.stdin:
    sys.stdout.write(re.sub(r'0xffffffff[89a-f][0-9a-f]{7}', name, line))

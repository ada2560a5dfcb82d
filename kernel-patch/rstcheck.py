#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""usage: kernel-patch/rstcheck.py FILE.rst...

Parses each file with docutils and fails on any warning or error, the way
Sphinx would report them in `make htmldocs`.  The Sphinx roles and
directives kernel documentation uses are accepted without being checked.
"""
import sys

import docutils.core
from docutils.parsers.rst import Directive, directives, roles


class Accept(Directive):
    has_content = True
    optional_arguments = 99
    final_argument_whitespace = True
    option_spec = None

    def run(self):
        return []


def accept_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [], []


for d in ("kernel-doc", "toctree", "c:function", "c:type", "c:macro",
          "c:struct", "only", "code-block"):
    directives.register_directive(d, Accept)
for r in ("c:func", "c:type", "c:macro", "c:struct", "doc", "ref", "manpage"):
    roles.register_local_role(r, accept_role)

bad = 0
for path in sys.argv[1:]:
    with open(path) as f:
        src = f.read()
    try:
        docutils.core.publish_string(
            src, source_path=path, writer_name="null",
            settings_overrides={"halt_level": 2, "report_level": 2})
    except Exception as e:  # docutils raises SystemMessage at halt_level
        print("%s: %s" % (path, e))
        bad = 1
sys.exit(bad)

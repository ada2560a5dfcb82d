#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Generate the in-tree patch series for Linux 6.12 from the current sources.

usage: kernel-patch/gen.py PRISTINE_DIR OUT_DIR

PRISTINE_DIR is an unpacked linux-source-6.12 holding at least the files the
series touches (tests/linux-src.sh unpacks them).  The series places the
code in drivers/doorbell/, the UAPI header in include/uapi/linux/ and a page
in Documentation/virt/, one patch per logical piece; a device whose source
file does not exist yet gets no patch.  Every translation from the
out-of-tree layout is a rule below that fails loudly when it stops matching.
The output is reproducible: fixed author and dates.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(TOP, "kernel-patch")
AUTHOR = "doorbell developers <doorbell@localhost>"
DATE = "Wed, 25 Nov 2026 00:00:00 +0000"


def die(msg):
    sys.exit("kernel-patch/gen.py: " + msg)


def read(path):
    with open(os.path.join(TOP, path)) as f:
        return f.read()


def replace_once(text, old, new, what):
    if text.count(old) != 1:
        die("rule '%s' matched %d times, expected once" % (what, text.count(old)))
    return text.replace(old, new)


# ---------------------------------------------------------------- compat.h

# In tree the 6.12 branch of every version test is the only one: evaluate
# the conditions the compat header uses and drop the rest.
CONDITIONS = {
    "IS_ENABLED(CONFIG_VHOST_TASK) && DOORBELL_KERNEL_AT_LEAST(6, 12)": True,
    "DOORBELL_HAVE_VHOST_TASK": True,
    "DOORBELL_KERNEL_AT_LEAST(6, 8)": True,
}


def unifdef(text, path):
    out, stack = [], []   # stack: [ours, branch kept]

    def emitting():
        return all(kept for _, kept in stack)

    for line in text.split("\n"):
        s = line.strip()
        m = re.match(r"#if\s+(.*?)\s*(/\*.*\*/)?$", s)
        if m and "DOORBELL" in m.group(1):
            if m.group(1) not in CONDITIONS:
                die("%s: unknown condition '#if %s'" % (path, m.group(1)))
            stack.append([True, CONDITIONS[m.group(1)]])
            continue
        if s.startswith("#if"):
            stack.append([False, True])
        elif s.startswith(("#else", "#elif")) and stack and stack[-1][0]:
            if s.startswith("#elif"):
                die("%s: #elif in a version test" % path)
            stack[-1][1] = not stack[-1][1]
            continue
        elif s.startswith("#endif"):
            if not stack:
                die("%s: unbalanced #endif" % path)
            if stack.pop()[0]:
                continue
            if emitting():
                out.append(line)
            continue
        if emitting():
            out.append(line)
    if stack:
        die("%s: unbalanced #if" % path)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def compat_in_tree(text):
    text = unifdef(text, "compat.h")
    # The version macros have no use left.
    text = re.sub(r"/\*\n \* Kernel feature levels by release\..*?\*/\n"
                  r"#define DOORBELL_KERNEL\(.*?\n#define DOORBELL_KERNEL_AT_LEAST.*?"
                  r"DOORBELL_KERNEL\(major, minor\)\)\n\n", "", text, flags=re.S)
    if "DOORBELL_KERNEL" in text:
        die("compat.h: the version macros were not removed")
    text = re.sub(r"/\*\n \* vhost_task_create\(fn, handle_sigkill.*?\*/\n"
                  r"#define DOORBELL_HAVE_VHOST_TASK\t1\n\n", "", text, flags=re.S)
    if "DOORBELL_HAVE_VHOST_TASK" in text:
        die("compat.h: DOORBELL_HAVE_VHOST_TASK left")
    text = replace_once(text, "#include <linux/version.h>\n", "", "compat.h: version.h")
    text = replace_once(text, "\n#include <linux/sched/vhost_task.h>\n", "",
                        "compat.h: vhost_task.h include")
    text = replace_once(text, "#include <linux/sched.h>\n",
                        "#include <linux/sched.h>\n#include <linux/sched/vhost_task.h>\n",
                        "compat.h: includes on top")
    text = replace_once(text, " * @vtsk: the vhost_task (vhost_task kernels)\n"
                        " * @task: the kthread (other kernels)\n"
                        " * @fn: the loop body; returns true if it did work\n"
                        " * @data: @fn's argument\n"
                        " * @mm: the owner's mm, adopted by the kthread\n",
                        " * @vtsk: the vhost_task\n", "compat.h: struct doorbell_task doc")
    text = re.sub(r" \* doorbell core: every kernel-version difference lives here.*?\*/",
                  " * doorbell core: the worker thread (a vhost_task: a user worker thread\n"
                  " * cloned from the owner, so it has the owner's mm and is accounted to\n"
                  " * it) and the eventfd signal, behind small wrappers.\n */",
                  text, count=1, flags=re.S)
    return text


# ---------------------------------------------------------------- Kbuild

def kbuild_blocks():
    """drivers/Kbuild split into its header and one block per module."""
    text = read("drivers/Kbuild")
    blocks = text.strip("\n").split("\n\n")
    header, mods = blocks[0], {}
    for b in blocks[1:]:
        m = re.search(r"obj-\$\(CONFIG_(\w+)\)", b)
        if not m:
            die("drivers/Kbuild: a block without obj-$(CONFIG_...)")
        mods[m.group(1)] = b
    header = replace_once(header, " -I$(src)/../include/uapi", "",
                          "Kbuild: uapi include path")
    return header, mods


def makefile(options):
    header, mods = kbuild_blocks()
    parts = [header] + [mods[o] for o in options]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- Kconfig

def kconfig_blocks():
    text = read("Kconfig")
    head, rest = text.split("\nmenuconfig DOORBELL\n", 1)
    core, rest = rest.split("\nif DOORBELL\n", 1)
    body, tail = rest.rsplit("\nendif", 1)
    configs = {}
    for b in body.strip("\n").split("\n\nconfig "):
        b = b[len("config "):] if b.startswith("config ") else b
        name = b.split("\n", 1)[0]
        configs[name] = "config " + b
    core = "menuconfig DOORBELL\n" + core
    core = replace_once(core, "\tdepends on EVENTFD && MMU\n",
                        "\tdepends on EVENTFD && MMU\n\tselect VHOST_TASK\n",
                        "Kconfig: select VHOST_TASK")
    return core, configs


def kconfig(options):
    core, configs = kconfig_blocks()
    out = ("# SPDX-License-Identifier: GPL-2.0\n#\n"
           "# doorbell: in-kernel virtio backends woken by KVM ioeventfd.\n\n"
           + core.rstrip("\n") + "\n\nif DOORBELL\n")
    for o in options:
        out += "\n" + configs[o].rstrip("\n") + "\n"
    return out + "\nendif\n"


# ---------------------------------------------------------------- MAINTAINERS

MAINT_TITLE = "DOORBELL (IN-KERNEL CONSUMERS OF KVM IOEVENTFD KICKS)"
MAINT_HEAD = [MAINT_TITLE,
              "M:\tdoorbell developers <doorbell@localhost>",
              "L:\tkvm@vger.kernel.org",
              "L:\tvirtualization@lists.linux.dev",
              "S:\tMaintained"]


def maintainers(text, files):
    """@text with our entry (F: @files, sorted) in its alphabetical place."""
    lines = text.split("\n")
    # Drop an entry of ours from an earlier step.
    if MAINT_TITLE in lines:
        i = lines.index(MAINT_TITLE)
        j = i
        while lines[j]:
            j += 1
        del lines[i:j + 1]
    try:
        start = lines.index("Maintainers List") + 1
    except ValueError:
        die("MAINTAINERS: no 'Maintainers List' heading")
    # The file is sorted, mostly: go between the neighbours that share the
    # longest prefix with our title.
    best, best_len, prev = None, -1, ""
    for i in range(start, len(lines)):
        title = lines[i]
        if not (title and lines[i - 1] == "" and re.match(r"^[A-Z0-9]", title)
                and i + 1 < len(lines) and re.match(r"^[A-Z]:\t", lines[i + 1])):
            continue
        if prev < MAINT_TITLE < title:
            common = len(os.path.commonprefix([title, MAINT_TITLE]))
            if common > best_len:
                best, best_len = i, common
        prev = title
    if best is None:
        die("MAINTAINERS: no place for our entry")
    lines[best:best] = MAINT_HEAD + ["F:\t" + f for f in sorted(files)] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------- the series

def devices():
    """(option, name, source files, subject, message file) that exist."""
    devs = [("DOORBELL_HARNESS", "harness", ["drivers/harness.c"]),
            ("DOORBELL_BLK", "blk", ["drivers/blk.c"]),
            ("DOORBELL_NET", "net", ["drivers/net.c"])]
    return [d for d in devs if all(os.path.exists(os.path.join(TOP, f))
                                   for f in d[2])]


def message(name):
    with open(os.path.join(HERE, "messages", name + ".txt")) as f:
        return f.read()


def write(tree, path, text):
    full = os.path.join(tree, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def git(tree, *args, env=None):
    e = dict(os.environ, GIT_AUTHOR_NAME="doorbell developers",
             GIT_AUTHOR_EMAIL="doorbell@localhost",
             GIT_COMMITTER_NAME="doorbell developers",
             GIT_COMMITTER_EMAIL="doorbell@localhost",
             GIT_AUTHOR_DATE=DATE, GIT_COMMITTER_DATE=DATE,
             GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", "-C", tree] + list(args), env=e, check=True,
                          stdout=subprocess.PIPE, text=True).stdout


def commit(tree, msgname):
    git(tree, "add", "-A")
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(message(msgname).rstrip("\n") + "\n\nSigned-off-by: " + AUTHOR + "\n")
    git(tree, "commit", "-q", "-F", f.name)
    os.unlink(f.name)


def main():
    if len(sys.argv) != 3:
        die("usage: gen.py PRISTINE_DIR OUT_DIR")
    pristine, out = sys.argv[1], os.path.abspath(sys.argv[2])
    touched = ["drivers/Kconfig", "drivers/Makefile",
               "Documentation/virt/index.rst",
               "Documentation/userspace-api/ioctl/ioctl-number.rst",
               "MAINTAINERS"]
    tree = tempfile.mkdtemp(prefix="doorbell-kpatch.")
    try:
        git(tree, "init", "-q")
        for p in touched:
            src = os.path.join(pristine, p)
            if not os.path.exists(src):
                die("pristine %s missing (tests/linux-src.sh unpacks it)" % src)
            os.makedirs(os.path.dirname(os.path.join(tree, p)), exist_ok=True)
            shutil.copy(src, os.path.join(tree, p))
        git(tree, "add", "-A")
        git(tree, "commit", "-q", "-m", "Linux 6.12 (Debian linux-source-6.12)")
        base = git(tree, "rev-parse", "HEAD").strip()

        # 1: the core, wired into drivers/.
        with open(os.path.join(tree, "drivers/Kconfig")) as f:
            k = f.read()
        k = replace_once(k, 'source "drivers/vhost/Kconfig"\n',
                         'source "drivers/vhost/Kconfig"\n\n'
                         'source "drivers/doorbell/Kconfig"\n',
                         "drivers/Kconfig: after vhost")
        write(tree, "drivers/Kconfig", k)
        with open(os.path.join(tree, "drivers/Makefile")) as f:
            m = f.read()
        m = replace_once(m, "obj-$(CONFIG_VHOST)\t\t+= vhost/\n",
                         "obj-$(CONFIG_VHOST)\t\t+= vhost/\n"
                         "obj-$(CONFIG_DOORBELL)\t\t+= doorbell/\n",
                         "drivers/Makefile: after vhost")
        write(tree, "drivers/Makefile", m)
        mfiles = ["drivers/doorbell/"]
        with open(os.path.join(tree, "MAINTAINERS")) as f:
            pristine_maint = f.read()
        write(tree, "MAINTAINERS", maintainers(pristine_maint, mfiles))
        write(tree, "drivers/doorbell/Kconfig", kconfig([]))
        write(tree, "drivers/doorbell/Makefile", makefile(["DOORBELL"]))
        for f in sorted(os.listdir(os.path.join(TOP, "drivers/core"))):
            if not f.endswith((".c", ".h")):
                continue
            text = read("drivers/core/" + f)
            if f == "compat.h":
                text = compat_in_tree(text)
            if f == "trace.h":
                text = replace_once(
                    text, "/* Out of tree: define_trace.h finds this file through -I$(src)/core. */\n",
                    "/* define_trace.h finds this file through -I$(src)/core. */\n",
                    "trace.h: include path comment")
            write(tree, "drivers/doorbell/core/" + f, text)
        commit(tree, "core")

        # 2..: the harness (with the UAPI header) and each device.
        options = ["DOORBELL"]
        for opt, name, files in devices():
            options.append(opt)
            write(tree, "drivers/doorbell/Kconfig", kconfig(options[1:]))
            write(tree, "drivers/doorbell/Makefile", makefile(options))
            for f in files:
                write(tree, "drivers/doorbell/" + os.path.basename(f), read(f))
            if name == "harness":
                mfiles.append("include/uapi/linux/doorbell.h")
                write(tree, "MAINTAINERS", maintainers(pristine_maint, mfiles))
                write(tree, "include/uapi/linux/doorbell.h",
                      read("include/uapi/linux/doorbell.h"))
                with open(os.path.join(tree, touched[3])) as f:
                    t = f.read()
                line = ("0xB9  00-03  uapi/linux/doorbell.h"
                        + " " * 34 + "/dev/doorbell (drivers/doorbell/harness.c)\n")
                t = replace_once(t, "0xB8  01-02  uapi/misc/mrvl_cn10k_dpi.h                                Marvell CN10K DPI driver\n",
                                 "0xB8  01-02  uapi/misc/mrvl_cn10k_dpi.h                                Marvell CN10K DPI driver\n"
                                 + line, "ioctl-number.rst: after 0xB8")
                write(tree, touched[3], t)
            commit(tree, name)

        # Last: the documentation.
        mfiles.append("Documentation/virt/doorbell.rst")
        write(tree, "MAINTAINERS", maintainers(pristine_maint, mfiles))
        write(tree, "Documentation/virt/doorbell.rst", read("Documentation/doorbell.rst"))
        with open(os.path.join(tree, touched[2])) as f:
            t = f.read()
        t = replace_once(t, "   hyperv/index\n", "   hyperv/index\n   doorbell\n",
                         "virt/index.rst: toctree")
        write(tree, touched[2], t)
        commit(tree, "docs")

        if os.path.isdir(out):
            for f in os.listdir(out):
                if f.endswith(".patch"):
                    os.unlink(os.path.join(out, f))
        os.makedirs(out, exist_ok=True)
        git(tree, "format-patch", "-q", "--no-signature", "--cover-letter",
            "--zero-commit", "--no-numbered-files", "-o", out, base)
        cover = os.path.join(out, "0000-cover-letter.patch")
        with open(cover) as f:
            c = f.read()
        msg = message("cover").split("\n", 1)
        c = replace_once(c, "*** SUBJECT HERE ***", msg[0], "cover subject")
        c = replace_once(c, "*** BLURB HERE ***", msg[1].strip("\n"), "cover blurb")
        with open(cover, "w") as f:
            f.write(c)
    finally:
        shutil.rmtree(tree)


if __name__ == "__main__":
    main()

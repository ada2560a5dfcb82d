#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Generate the in-tree patch series for Linux 6.12 from the current sources.

usage: kernel-patch/gen.py PRISTINE_DIR OUT_DIR

PRISTINE_DIR is an unpacked linux-source-6.12 holding at least the files the
series touches (tests/linux-src.sh unpacks them).  The series places the
code in drivers/doorbell/, the UAPI header in include/uapi/linux/ and a page
in Documentation/virt/, one patch per logical piece; a device that
drivers/Kbuild does not build yet gets no patch.  Every translation from the
out-of-tree layout is a rule below that fails loudly when it stops matching.
The output is reproducible: fixed author and dates.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(TOP, "kernel-patch")
AUTHOR = "doorbell developers <doorbell@localhost>"
DATE = "Wed, 25 Nov 2026 00:00:00 +0000"


def die(msg):
    sys.exit("kernel-patch/gen.py: " + msg)


def read(path):
    with open(os.path.join(TOP, path)) as f:
        text = f.read()
    # Version tests belong in compat.h, which the series resolves for 6.12.
    if (path.endswith((".c", ".h")) and not path.endswith("/compat.h")
            and re.search(r"LINUX_VERSION|DOORBELL_KERNEL|DOORBELL_HAVE_", text)):
        die("%s: a kernel version test outside compat.h" % path)
    return text


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
    "DOORBELL_KERNEL_AT_LEAST(6, 5)": True,
    "DOORBELL_KERNEL_AT_LEAST(6, 9)": True,
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
                die("%s: unknown condition '#if %s': say in CONDITIONS (gen.py) "
                    "whether it holds on 6.12" % (path, m.group(1)))
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
                        " * @mm: the owner's mm, adopted by the kthread\n"
                        " * @owner: the thread that created the kthread (referenced), whose process\n"
                        " *\tis the owner\n",
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
    # Out of tree, the UAPI header is found through -I; in tree through the
    # kernel's own include/uapi.  Sources include core headers by their
    # path relative to themselves, so -I$(src)/core has no use in tree.
    header = replace_once(header,
                          "\nccflags-y += -I$(src)/../include/uapi -I$(src)/core", "",
                          "Kbuild: out-of-tree include paths")
    return header, mods


def kbuild_sources(block):
    """The .c files (relative to drivers/) a module's Kbuild block names."""
    objs = []
    for m in re.finditer(r"^[\w/-]+-(?:y|objs)\s*[:+]?=\s*(.*)$", block, re.M):
        objs += m.group(1).split()
    if not objs:
        die("drivers/Kbuild: no objects in block\n" + block)
    for o in objs:
        if not o.endswith(".o"):
            die("drivers/Kbuild: '%s' is not an object" % o)
    return [o[:-2] + ".c" for o in objs]


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
    if "DOORBELL_HARNESS" in configs:
        configs["DOORBELL_HARNESS"] = replace_once(
            configs["DOORBELL_HARNESS"], "  Used by tools/doorbell-bench.", "",
            "Kconfig: the harness help names a tool that is not in tree")
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
        if o not in configs:
            die("Kconfig declares no %s" % o)
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


# ---------------------------------------------------------------- numbers

def numbers():
    """kernel-patch/numbers as {section: [lines]}, its '#' lines dropped."""
    path = os.path.join(HERE, "numbers")
    secs, cur = {}, None
    if not os.path.exists(path):
        return secs
    with open(path) as f:
        for line in f.read().split("\n"):
            m = re.match(r"^\[([\w-]+)\]$", line)
            if m:
                cur = secs.setdefault(m.group(1), [])
            elif cur is not None and not line.startswith("#"):
                cur.append(line.rstrip())
    for k in secs:
        while secs[k] and not secs[k][-1]:
            secs[k].pop()
        while secs[k] and not secs[k][0]:
            secs[k].pop(0)
    return secs


# What each message quotes from doorbell-bench's table: rows, and ratio
# lines by the start of their label.
BENCH_QUOTES = {
    "cover": (["qemu-mmio", "ioeventfd-mmio", "qemu-pio", "ioeventfd-pio",
               "qemu-hc", "ioeventfd-hc", "limit-pio", "ioeventfd-pio-wake"],
              ["qemu-mmio / ioeventfd-mmio", "qemu-mmio / ioeventfd-pio",
               "qemu-mmio / ioeventfd-hc", "worker overhead: limit-pio",
               "wake overhead: limit-pio"]),
    "core": (["limit-pio", "ioeventfd-pio-wake", "ioeventfd-pio",
              "ioeventfd-pio-poll"],
             ["worker overhead: limit-pio", "wake overhead: limit-pio",
              "busy-poll worker: limit-pio"]),
    "harness": (["qemu-mmio", "ioeventfd-mmio", "qemu-pio", "ioeventfd-pio",
                 "qemu-hc", "ioeventfd-hc"],
                ["qemu-mmio / ioeventfd-mmio", "qemu-mmio / ioeventfd-pio",
                 "qemu-mmio / ioeventfd-hc"]),
}


def bench_quote(name):
    """The paragraph of measured numbers for @name, or ''."""
    lines = numbers().get("bench")
    if not lines or name not in BENCH_QUOTES:
        return ""
    want_rows, want_ratios = BENCH_QUOTES[name]
    m = re.match(r"doorbell-bench: (.*)$", lines[0])
    k = re.match(r"kernel (\S+), CPU (.*), accelerator: (.*)$", lines[1]) \
        if len(lines) > 1 else None
    if not m or not k:
        die("numbers: [bench] does not start with doorbell-bench's header")
    rows, ratios = {}, []
    for line in lines:
        f = line.split()
        # row  ops/s  us/op  ratio  written  delivered  status
        if len(f) == 7 and f[0] in want_rows and f[6] == "ok":
            rows[f[0]] = f
        r = re.match(r"^\s+(.*\S)\s{2,}(\d+\.\d+)$", line)
        if r and any(r.group(1).startswith(w) for w in want_ratios):
            ratios.append("  %s: %s" % (r.group(1), r.group(2)))
    if not rows and not ratios:
        return ""
    via = " through the /dev/doorbell of the next patch" if name == "core" else ""
    text = ("Measured%s with doorbell-bench (a guest that rings as fast as it "
            "can; %s) on %s, CPU %s, %s; times under TCG are not hardware "
            "times, the ratios are from one run; ratio is ops/s over "
            "qemu-mmio's (an MMIO exit to userspace, then DOORBELL_RING):"
            % (via, m.group(1), k.group(1), k.group(2), k.group(3)))
    out = textwrap.wrap(text, 72, break_on_hyphens=False) + [""]
    if rows:
        out.append("  %-20s %8s %8s %6s" % ("row", "ops/s", "us/op", "ratio"))
        quoted = [rows[r] for r in want_rows if r in rows]
        out += ["  %-20s %8s %8s %6s" % tuple(f[:4]) for f in quoted]
        out.append("")
        if all(f[4] == f[5] for f in quoted):
            out += textwrap.wrap(
                "Each of these rows delivered exactly the rings its guest "
                "wrote (%s)." % ", ".join(sorted({f[4] for f in quoted}, key=int)),
                72, break_on_hyphens=False) + [""]
    out += ratios
    for line in out:
        if len(line) > 75:
            die("numbers: quoted line over 75 columns: " + line)
    return "\n".join(out).rstrip("\n")


def section_quote(name):
    """A [name] section of kernel-patch/numbers, quoted whole, or ''."""
    lines = numbers().get(name)
    if not lines:
        return ""
    for line in lines:
        if len(line) > 73:
            die("numbers: [%s] line over 73 columns: %s" % (name, line))
    return "Measured:\n\n" + "\n".join("  " + x if x else "" for x in lines)


# ---------------------------------------------------------------- the series

DEVICE_ORDER = ["DOORBELL_HARNESS", "DOORBELL_BLK", "DOORBELL_NET"]
DEVICE_MAIN = {"DOORBELL_HARNESS": "harness.c", "DOORBELL_BLK": "blk.c",
               "DOORBELL_NET": "net.c"}


def devices():
    """(option, name, files relative to drivers/) of each device built today.

    A device is there when drivers/Kbuild has its block; its files are the
    sources the block names and the local headers they include.
    """
    _, mods = kbuild_blocks()
    opts = [o for o in DEVICE_ORDER if o in mods]
    opts += sorted(o for o in mods if o != "DOORBELL" and o not in DEVICE_ORDER)
    for o, f in DEVICE_MAIN.items():
        if o not in mods and os.path.exists(os.path.join(TOP, "drivers", f)):
            print("gen.py: drivers/%s exists but drivers/Kbuild does not build "
                  "it: no patch for it" % f, file=sys.stderr)
    devs = []
    for o in opts:
        files = kbuild_sources(mods[o])
        i = 0
        while i < len(files):
            path = os.path.join(TOP, "drivers", files[i])
            if not os.path.exists(path):
                die("drivers/Kbuild builds %s, which does not exist" % files[i])
            for h in re.findall(r'^#include "([^"]+)"', read("drivers/" + files[i]), re.M):
                h = os.path.normpath(os.path.join(os.path.dirname(files[i]), h))
                if not h.startswith("core/") and h not in files:
                    files.append(h)
            i += 1
        devs.append((o, o[len("DOORBELL_"):].lower(), files))
    return devs


def uapi_headers(files):
    """include/uapi/linux/ headers of ours that @files include."""
    hs = set()
    for f in files:
        for h in re.findall(r"^#include <linux/([\w-]+\.h)>", read("drivers/" + f), re.M):
            if os.path.exists(os.path.join(TOP, "include/uapi/linux", h)):
                hs.add("include/uapi/linux/" + h)
    return sorted(hs)


def ioctl_number(text):
    """ioctl-number.rst with the line of doorbell.h's magic, in its place."""
    h = read("include/uapi/linux/doorbell.h")
    m = re.search(r"^#define DOORBELL_IOCTL_MAGIC\s+(0x[0-9A-F]{2})$", h, re.M)
    nrs = [int(n, 16) for n in
           re.findall(r"_IO\w*\(DOORBELL_IOCTL_MAGIC, (0x[0-9a-fA-F]+)", h)]
    if not m or not nrs:
        die("doorbell.h: no DOORBELL_IOCTL_MAGIC or no ioctls")
    magic = int(m.group(1), 16)
    lines = text.split("\n")
    table = [i for i, x in enumerate(lines) if re.match(r"^0x[0-9A-F]{2}  ", x)]
    if len(table) < 50:
        die("ioctl-number.rst: the table was not found")
    if any(int(lines[i][2:4], 16) == magic for i in table):
        die("ioctl-number.rst: 0x%02X is taken" % magic)
    after = max(i for i in table if int(lines[i][2:4], 16) < magic)
    col = re.match(r"^(0x\S+\s+\S+\s+\S+\s+)", lines[after]).end()
    entry = "0x%02X  %02X-%02X  uapi/linux/doorbell.h" % (magic, min(nrs), max(nrs))
    entry = entry.ljust(col) + "/dev/doorbell (drivers/doorbell/harness.c)"
    lines.insert(after + 1, entry)
    return "\n".join(lines)


def kconfig_help(option):
    """The help text of @option in Kconfig, without the module paragraph."""
    text = read("Kconfig")
    m = re.search(r"^(?:menu)?config %s\n(.*?)(?=\n\S|\Z)" % option, text, re.M | re.S)
    h = re.search(r"\thelp\n(.*)", m.group(1), re.S) if m else None
    if not h:
        die("Kconfig: no help for %s" % option)
    paras = [re.sub(r"\s+", " ", p).strip() for p in h.group(1).split("\n\n")]
    return [p for p in paras if p and not p.startswith("To compile this")]


def message(name, option=None, files=()):
    """The commit message of @name: messages/NAME.txt, or composed."""
    path = os.path.join(HERE, "messages", name + ".txt")
    if os.path.exists(path):
        with open(path) as f:
            text = f.read().rstrip("\n")
    elif option:
        # A device without a written message yet: its Kconfig help and the
        # header comment of its main file say what it is.
        prompt = re.search(r"^config %s\n\ttristate \"(?:[^\":]*: )?([^\"]*)\"$"
                           % option, read("Kconfig"), re.M)
        if not prompt:
            die("Kconfig: no tristate prompt for %s" % option)
        subj = "doorbell: add " + prompt.group(1)
        paras = kconfig_help(option)
        c = re.match(r"(?://[^\n]*\n)?/\*\n(.*?)\*/", read("drivers/" + files[0]), re.S)
        if c:
            body = re.sub(r"^ \* ?", "", c.group(1), flags=re.M)
            paras += [p.strip() for p in body.split("\n\n") if p.strip()]
        text = subj + "\n\n" + "\n\n".join(
            textwrap.fill(p, 72) if "\n" not in p else p for p in paras)
    else:
        die("no kernel-patch/messages/%s.txt" % name)
    extra = [q for q in (bench_quote(name), section_quote(name)) if q]
    if "@measured@" in text:
        text = replace_once(text, "@measured@", "\n\n".join(extra), "@measured@")
        text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n")
    elif extra:
        text += "\n\n" + "\n\n".join(extra)
    return text


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


def commit(tree, msg):
    git(tree, "add", "-A")
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(msg.rstrip("\n") + "\n\nSigned-off-by: " + AUTHOR + "\n")
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
        built = kbuild_sources(kbuild_blocks()[1]["DOORBELL"])
        for f in sorted(os.listdir(os.path.join(TOP, "drivers/core"))):
            if not f.endswith((".c", ".h")):
                continue
            if f.endswith(".c") and "core/" + f not in built:
                print("gen.py: drivers/core/%s is not in doorbell_core-y: left out"
                      % f, file=sys.stderr)
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
        commit(tree, message("core"))

        # 2..: the harness (with the UAPI header) and each device.
        options = ["DOORBELL"]
        for opt, name, files in devices():
            options.append(opt)
            write(tree, "drivers/doorbell/Kconfig", kconfig(options[1:]))
            write(tree, "drivers/doorbell/Makefile", makefile(options))
            for f in files:
                write(tree, "drivers/doorbell/" + f, read("drivers/" + f))
            for h in uapi_headers(files):
                if not os.path.exists(os.path.join(tree, h)):
                    mfiles.append(h)
                    write(tree, h, read(h))
            write(tree, "MAINTAINERS", maintainers(pristine_maint, mfiles))
            if name == "harness":
                if "include/uapi/linux/doorbell.h" not in mfiles:
                    die("harness.c does not include <linux/doorbell.h>")
                with open(os.path.join(tree, touched[3])) as f:
                    t = f.read()
                write(tree, touched[3], ioctl_number(t))
            commit(tree, message(name, opt, files))

        # Last: the documentation.
        mfiles.append("Documentation/virt/doorbell.rst")
        write(tree, "MAINTAINERS", maintainers(pristine_maint, mfiles))
        write(tree, "Documentation/virt/doorbell.rst", read("Documentation/doorbell.rst"))
        with open(os.path.join(tree, touched[2])) as f:
            t = f.read()
        t = replace_once(t, "   hyperv/index\n", "   hyperv/index\n   doorbell\n",
                         "virt/index.rst: toctree")
        write(tree, touched[2], t)
        commit(tree, message("docs"))

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

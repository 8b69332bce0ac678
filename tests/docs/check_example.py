"""check_example.py -- the complete examples the docs show compile, run and
print what the docs say they print.

Run by ctest as `python3 check_example.py SOURCE-DIR LIB-DIR CC [CFLAG...]`.
In a guide, a line `<!-- example: NAME -->` before a ```c block says the
block is the whole program NAME; a line `<!-- output: NAME -->` before a
plain ``` block is what it prints on stdout.  The build command is the
guide's own: the first line starting with `cc ` of the first ```sh block
after the program that names NAME, with `cc` made the build's compiler and
`$(pkg-config --cflags --libs autoawait)` made this build tree's library,
and warnings turned into errors.  The program runs in a scratch folder, at
most TIMEOUT seconds; its stdout must be the guide's output, line for line,
and its exit status 0.  Fails naming the guide, the program and the first
difference.
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile

GUIDES = ["docs/host-functions.md"]
TIMEOUT = 120
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"]


def examples(text):
    """The programs of a guide: {name: (source, build line, output)}."""
    found = {}
    for m in re.finditer(r"<!-- example: (\S+) -->\n```c\n(.*?)```", text,
                         re.S):
        name, source = m.group(1), m.group(2)
        build = None
        for sh in re.finditer(r"```sh\n(.*?)```", text[m.end():], re.S):
            lines = [l for l in sh.group(1).split("\n")
                     if l.startswith("cc ") and name in l]
            if lines:
                build = lines[0]
                break
        out = re.search(r"<!-- output: %s -->\n```\n(.*?)```" % re.escape(name),
                        text, re.S)
        found[name] = (source, build, out.group(1) if out else None)
    return found


def check(src, libdir, cc, cflags, guide, name, source, build, expected):
    where = "%s: %s" % (guide, name)
    if build is None:
        return "%s: no ```sh block with a `cc ...` line that builds it" % where
    if expected is None:
        return "%s: no <!-- output: %s --> block" % (where, name)
    pc = "$(pkg-config --cflags --libs autoawait)"
    if pc not in build:
        return "%s: its build line does not use %s: %s" % (where, pc, build)
    tree = "-I%s -L%s -lautoawait -Wl,-rpath,%s" % (
        shlex.quote(os.path.join(src, "include")), shlex.quote(libdir),
        shlex.quote(libdir))
    command = build.replace(pc, tree)
    command = " ".join([shlex.quote(cc)] + WARNINGS +
                       [shlex.quote(f) for f in cflags]) + command[2:]
    with tempfile.TemporaryDirectory(prefix="aa-docs.") as work:
        with open(os.path.join(work, name), "w") as f:
            f.write(source)
        cc_run = subprocess.run(["bash", "-euc", command], cwd=work,
                                capture_output=True, text=True)
        if cc_run.returncode != 0:
            return "%s does not build with `%s`:\n%s%s" % (
                where, command, cc_run.stdout, cc_run.stderr)
        exe = re.search(r"-o (\S+)", build)
        exe = exe.group(1) if exe else "a.out"
        try:
            run = subprocess.run([os.path.join(work, exe)], cwd=work,
                                 capture_output=True, text=True,
                                 timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:
            return "%s did not end within %d s; it printed:\n%s" % (
                where, TIMEOUT, e.stdout)
    got, want = run.stdout.split("\n"), expected.split("\n")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return ("%s: line %d of its output is\n    %s\nwhere the guide "
                    "says\n    %s\n--- its stdout:\n%s--- its stderr:\n%s" %
                    (where, i + 1, g, w, run.stdout, run.stderr))
    if len(got) != len(want):
        return ("%s printed %d lines, the guide shows %d\n--- its stdout:\n%s"
                "--- its stderr:\n%s" % (where, len(got) - 1, len(want) - 1,
                                         run.stdout, run.stderr))
    if run.returncode != 0:
        return "%s exited with %d; its stderr:\n%s" % (
            where, run.returncode, run.stderr)
    return None


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: %s SOURCE-DIR LIB-DIR CC [CFLAG...]" % sys.argv[0])
    src, libdir, cc, cflags = (sys.argv[1], sys.argv[2], sys.argv[3],
                               sys.argv[4:])
    count = failures = 0
    for guide in GUIDES:
        found = examples(open(os.path.join(src, guide)).read())
        if not found:
            print("FAIL: %s has no <!-- example: NAME --> program" % guide)
            failures += 1
        for name, (source, build, expected) in found.items():
            count += 1
            fault = check(src, libdir, cc, cflags, guide, name, source, build,
                          expected)
            if fault:
                print("FAIL: " + fault)
                failures += 1
            else:
                print("ok: %s: %s builds, runs and prints what it shows" %
                      (guide, name))
    print("%d passed, %d failed" % (count - min(failures, count), failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

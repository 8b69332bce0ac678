#!/usr/bin/env python3
# make_corpus.py -- the seed corpora of the fuzz targets, made at build time.
#
#   make_corpus.py OUTDIR SEEDDIR CASEFILE...
#
# Writes OUTDIR/execn, OUTDIR/complete, OUTDIR/magic and OUTDIR/host afresh:
#   execn     every cell of the conformance cases, byte for byte as the
#             conformance runner passes it, and the seeds of SEEDDIR/cells
#   complete  the same cells, and each of their lines on its own
#   magic     the argument of every %autoawait line in those cells, and the
#             seeds of SEEDDIR/magic
#   host      the seeds of SEEDDIR/host (bytes that fuzz_host reads as
#             choices, not text)
# Each file is named by the SHA-1 of its content, as libFuzzer names what
# it finds, so that equal inputs are one file.  Only the standard library
# is used; the cell format is tools/runner-check/casefile.c's.
import hashlib
import os
import shutil
import sys

MAGIC = b"%autoawait"


def cells_of(path):
    """The cells of a case file: the lines after "--- cell" (or
    "--- cell !") up to the next line starting with "--- " or "===",
    each line ending with a newline."""
    cells, cell = [], None
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                line += b"\n"
            if line.startswith(b"--- ") or line.startswith(b"==="):
                if cell is not None:
                    cells.append(b"".join(cell))
                cell = [] if line.rstrip() in (b"--- cell", b"--- cell !") \
                    else None
            elif cell is not None:
                cell.append(line)
    if cell is not None:
        cells.append(b"".join(cell))
    return cells


def magic_args(cell):
    for line in cell.split(b"\n"):
        word = line.lstrip(b" \t")
        if word.startswith(MAGIC) and \
                (len(word) == len(MAGIC) or word[len(MAGIC):][:1].isspace()):
            yield word[len(MAGIC) + 1:]


def seeds(folder):
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out.append(f.read())
    return out


def write(folder, inputs):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    names = set()
    for data in inputs:
        name = hashlib.sha1(data).hexdigest()
        if name not in names:
            names.add(name)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    return len(names)


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: make_corpus.py OUTDIR SEEDDIR CASEFILE...")
    out, seed_dir, case_files = argv[0], argv[1], argv[2:]
    cells = [c for path in case_files for c in cells_of(path)]
    lines = [line + b"\n" for c in cells for line in c.split(b"\n") if line]
    magic = [a for c in cells for a in magic_args(c)]
    counts = {
        "execn": write(os.path.join(out, "execn"),
                       cells + seeds(os.path.join(seed_dir, "cells"))),
        "complete": write(os.path.join(out, "complete"),
                          cells + lines +
                          seeds(os.path.join(seed_dir, "cells"))),
        "magic": write(os.path.join(out, "magic"),
                       magic + seeds(os.path.join(seed_dir, "magic"))),
        "host": write(os.path.join(out, "host"),
                      seeds(os.path.join(seed_dir, "host"))),
    }
    print("fuzz corpus: " + ", ".join("%s %d" % kv for kv in counts.items()))


if __name__ == "__main__":
    main(sys.argv[1:])

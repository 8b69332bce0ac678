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
#   wire      Jupyter messages as fuzz_wire reads them (frames joined by
#             WIRE_SEP): each of WIRE_MESSAGES signed with WIRE_KEY and
#             unsigned, with one and with two identities, and the seeds
#             of SEEDDIR/wire
# Each file is named by the SHA-1 of its content, as libFuzzer names what
# it finds, so that equal inputs are one file.  Only the standard library
# is used; the cell format is tools/runner-check/casefile.c's.
import hashlib
import hmac
import json
import os
import shutil
import sys

MAGIC = b"%autoawait"

# fuzz_wire.c's FZ_SEP and FZ_KEY.
WIRE_SEP = b"\n|\n"
WIRE_KEY = b"fuzz-wire-key"
WIRE_MESSAGES = [
    ("kernel_info_request", {}),
    ("execute_request", {"code": "1+1", "silent": False,
                         "store_history": True, "user_expressions": {},
                         "allow_stdin": True, "stop_on_error": True}),
    ("complete_request", {"code": "import o", "cursor_pos": 8}),
    ("inspect_request", {"code": "len", "cursor_pos": 3,
                         "detail_level": 0}),
    ("is_complete_request", {"code": "for i in x:"}),
    ("history_request", {"output": False, "raw": True,
                         "hist_access_type": "tail", "n": 10}),
    ("input_reply", {"value": "h\u00e9"}),
    ("comm_open", {"comm_id": "c1", "target_name": "t", "data": {}}),
    ("interrupt_request", {}),
]


def wire_messages():
    out = []
    for i, (msg_type, content) in enumerate(WIRE_MESSAGES):
        header = {"msg_id": "m%d" % i, "session": "s", "username": "u",
                  "date": "2026-01-01T00:00:00.000000Z",
                  "msg_type": msg_type, "version": "5.3"}
        parts = [json.dumps(p, separators=(",", ":")).encode()
                 for p in (header, {}, {}, content)]
        sig = hmac.new(WIRE_KEY, b"".join(parts), hashlib.sha256)
        for signature in (sig.hexdigest().encode(), b""):
            for idents in ([], [b"client-id"]):
                frames = idents + [b"<IDS|MSG>", signature] + parts
                out.append(WIRE_SEP.join(frames))
    return out


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
        "wire": write(os.path.join(out, "wire"),
                      wire_messages() + seeds(os.path.join(seed_dir, "wire"))),
    }
    print("fuzz corpus: " + ", ".join("%s %d" % kv for kv in counts.items()))


if __name__ == "__main__":
    main(sys.argv[1:])

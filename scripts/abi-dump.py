#!/usr/bin/env python3
"""abi-dump.py [--sized-as REFERENCE] INPUT -- the ABI of libautoawait as
the repository keeps it (abi/libautoawait.abi), written to stdout.

INPUT is a built libautoawait.so with DWARF, read with libabigail's abidw,
or an .abi file this script wrote, read as it is.

From a library it keeps what the public headers promise, and nothing that
depends on where or against which CPython the library was built.  abidw
reads the ABI from the library's DWARF, which describes each type as the
library's own sources saw it.  The public headers only declare
`struct _object` (PyObject), but the library includes Python.h, so abidw
writes out CPython's PyObject and every type behind it: their layout is
CPython's ABI, not ours, and differs between 3.11, 3.12 and 3.13.  So:

  - a struct or union defined outside include/autoawait becomes a
    declaration, as the headers have it (abidiff takes a declaration and a
    definition of the same name as the same type);
  - only what an exported symbol reaches is kept (abidw also writes out
    internal variables and the types the dropped definitions used);
  - source locations and the absolute source path go (they change with the
    checkout and with every edit above a declaration), and so do the
    translation units left empty.

--sized-as REFERENCE (a library or an .abi file) shows the structs that may
grow (SIZED below) as a caller built against REFERENCE sees them: the members past REFERENCE's size are
cut off and the size is REFERENCE's.  tests/abi/check.sh compares that view
with REFERENCE to tell members appended at the end, which break nothing,
from any other change of those structs.
"""

import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

SRC = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
PUBLIC = os.path.join(SRC, "include", "autoawait") + os.sep

# The structs that may grow at their end without breaking a compiled caller:
# aa_runner starts with its size, a caller fills it with its own sizeof
# (AA_RUNNER_INIT is a macro) and aa_runner_register reads only the members
# that size covers.  Not aa_options, yet: aa_session_new reads it the same
# way, but aa_options_init is a function of the library, which fills a
# struct of the library's size, so a host built against a shorter struct
# that calls a later library's aa_options_init would have memory past its
# struct overwritten (docs/abi.md).
SIZED = ("aa_runner",)

# The public interface only: types the library defines in its own sources
# stay opaque (--headers-dir, --drop-private-types), the functions it calls
# in libpython and libc go (--drop-undefined-syms), and nothing names the
# build's paths or the libraries it needs.  Locations stay in (no
# --no-show-locs): normalize() needs them to tell the public headers'
# types, then drops them.
ABIDW = ["abidw", "--headers-dir", PUBLIC, "--drop-private-types",
         "--drop-undefined-syms", "--no-corpus-path", "--no-comp-dir-path",
         "--no-elf-needed", "--type-id-style", "hash"]

LOCATION_ATTRS = ("filepath", "line", "column")
AGGREGATES = ("class-decl", "union-decl")
DECLS = ("function-decl", "var-decl")


def fail(message):
    sys.exit("abi-dump.py: " + message)


def references(elem):
    """Every type id an element and its children name."""
    for node in elem.iter():
        for name, value in node.attrib.items():
            if name.endswith("-id") and name != "elf-symbol-id":
                yield value


def make_declaration(elem):
    """Turns a struct or union definition into a declaration only."""
    for child in list(elem):
        elem.remove(child)
    elem.text = None
    for name in ("size-in-bits", "alignment-in-bits"):
        elem.attrib.pop(name, None)
    elem.set("is-declaration-only", "yes")


def normalize(corpus):
    units = corpus.findall("abi-instr")

    # Types by id; the roots are the declarations with an ELF symbol.
    types, roots = {}, set()
    for unit in units:
        for elem in unit:
            if elem.tag in DECLS:
                if "elf-symbol-id" in elem.attrib:
                    roots.add(elem)
            elif "id" in elem.attrib:
                types[elem.get("id")] = elem

    for elem in types.values():
        if elem.tag in AGGREGATES \
                and not elem.get("filepath", "").startswith(PUBLIC) \
                and elem.get("is-declaration-only") != "yes":
            make_declaration(elem)

    reached, todo = set(), [ref for root in roots for ref in references(root)]
    while todo:
        ref = todo.pop()
        if ref in reached or ref not in types:
            continue
        reached.add(ref)
        todo.extend(references(types[ref]))

    for unit in units:
        for elem in list(unit):
            keep = elem in roots if elem.tag in DECLS \
                else elem.get("id") in reached
            if not keep:
                unit.remove(elem)
        if len(unit) == 0:
            corpus.remove(unit)
            continue
        path = unit.get("path", "")
        if path.startswith(SRC + os.sep):
            unit.set("path", os.path.relpath(path, SRC))
    for node in corpus.iter():
        for name in LOCATION_ATTRS:
            node.attrib.pop(name, None)


def sized_structs(corpus):
    """The definitions of the SIZED structs, by name."""
    return {elem.get("name"): elem
            for elem in corpus.iter("class-decl")
            if elem.get("name") in SIZED and "size-in-bits" in elem.attrib}


def cut_to(corpus, reference):
    """Cuts the SIZED structs of corpus down to their size in reference."""
    old = sized_structs(reference)
    for name, elem in sized_structs(corpus).items():
        if name not in old:
            continue
        size = int(old[name].get("size-in-bits"))
        if int(elem.get("size-in-bits")) <= size:
            continue
        for member in elem.findall("data-member"):
            if int(member.get("layout-offset-in-bits", "0")) >= size:
                elem.remove(member)
        elem.set("size-in-bits", str(size))


def read(path):
    """An .abi file as it is, or a library through abidw and normalize()."""
    with open(path, "rb") as f:
        elf = f.read(4) == b"\x7fELF"
    if not elf:
        return ET.parse(path).getroot()
    try:
        out = subprocess.run(ABIDW + [path], check=True, text=True,
                             stdout=subprocess.PIPE).stdout
    except FileNotFoundError:
        fail("abidw not found; scripts/setup.sh installs it (abigail-tools)")
    except subprocess.CalledProcessError as e:
        fail(f"abidw failed on {path} (exit status {e.returncode})")
    corpus = ET.fromstring(out)
    if corpus.tag != "abi-corpus":
        fail(f"abidw wrote no abi-corpus for {path}")
    normalize(corpus)
    return corpus


def main():
    parser = argparse.ArgumentParser(
        description="The ABI of libautoawait as abi/libautoawait.abi has it.")
    parser.add_argument("--sized-as", metavar="REFERENCE",
                        help="cut the structs that may grow down to their "
                        "size in REFERENCE (a library or an .abi file)")
    parser.add_argument("input", help="libautoawait.so or an .abi file")
    args = parser.parse_args()

    corpus = read(args.input)
    if args.sized_as:
        cut_to(corpus, read(args.sized_as))
    ET.indent(corpus, space="  ")
    sys.stdout.write(ET.tostring(corpus, encoding="unicode"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

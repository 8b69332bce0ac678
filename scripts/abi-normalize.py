#!/usr/bin/env python3
"""abi-normalize.py SRCDIR < ABIDW-XML > ABI -- the library's ABI as the
repository keeps it (abi/libautoawait.abi): what the public headers promise,
and nothing that depends on where or against which CPython it was built.

abidw reads the ABI from the library's DWARF, which describes each type as
the library's own sources saw it.  The public headers only declare
`struct _object` (PyObject), but the library includes Python.h, so abidw
writes out CPython's PyObject and every type behind it: their layout is
CPython's ABI, not ours, and differs between 3.11, 3.12 and 3.13.  So:

  - a struct or union defined outside SRCDIR/include/autoawait becomes a
    declaration, as the headers have it (abidiff takes a declaration and a
    definition of the same name as the same type);
  - only what an exported symbol reaches is kept (abidw also writes out
    internal variables and the types the dropped definitions used);
  - source locations and the absolute source path go (they change with the
    checkout and with every edit above a declaration), and so do the
    translation units left empty.

Input: abidw's output with locations (no --no-show-locs), which is how a
type's header is known.  Output: ABIXML that abidiff reads.
"""

import os
import sys
import xml.etree.ElementTree as ET

LOCATION_ATTRS = ("filepath", "line", "column")
AGGREGATES = ("class-decl", "union-decl")


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


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: abi-normalize.py SRCDIR < abidw-output > abi")
    src = os.path.realpath(sys.argv[1])
    public = os.path.join(src, "include", "autoawait") + os.sep

    corpus = ET.parse(sys.stdin).getroot()
    if corpus.tag != "abi-corpus":
        sys.exit("abi-normalize.py: input is not abidw output (no abi-corpus)")
    units = corpus.findall("abi-instr")

    # Types by id, declarations that are roots (they carry an ELF symbol).
    types, roots = {}, []
    for unit in units:
        for elem in unit:
            if elem.tag in ("function-decl", "var-decl"):
                if "elf-symbol-id" in elem.attrib:
                    roots.append(elem)
            elif "id" in elem.attrib:
                types[elem.get("id")] = elem

    for elem in types.values():
        path = elem.get("filepath", "")
        if elem.tag in AGGREGATES and not path.startswith(public):
            if elem.get("is-declaration-only") != "yes":
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
            keep = (elem in roots) if elem.tag in ("function-decl", "var-decl") \
                else elem.get("id") in reached
            if not keep:
                unit.remove(elem)
        if len(unit) == 0:
            corpus.remove(unit)
            continue
        path = unit.get("path", "")
        if path.startswith(src + os.sep):
            unit.set("path", os.path.relpath(path, src))
    for node in corpus.iter():
        for name in LOCATION_ATTRS:
            node.attrib.pop(name, None)

    ET.indent(corpus, space="  ")
    sys.stdout.write(ET.tostring(corpus, encoding="unicode"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

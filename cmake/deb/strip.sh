#!/bin/sh
# strip.sh FILE -- CMAKE_STRIP of a package build (cmake/packaging.cmake):
# strips as Debian's dh_strip does, the symbol table and the .comment and
# .note sections (the compiler's name and version) that no program needs.
exec strip --remove-section=.comment --remove-section=.note --strip-unneeded "$@"

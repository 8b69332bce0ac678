# The CPython the library embeds (docs/python-versions.md).
#
# AA_PYTHON_PC names it as pkg-config does: a module pkg-config finds
# (python3-embed, the system's, is the default; python-3.13-embed with
# PKG_CONFIG_PATH pointing at another installation) or the path of its
# .pc file (.../versions/3.13.0/lib/pkgconfig/python-3.13-embed.pc).
# CPython 3.11 and later, built with the GIL and as a shared library:
# anything else is refused here, with the reason, rather than found out by
# the compiler, the linker or at run time.
#
# Sets the imported target PkgConfig::PYTHON and:
#   AA_PYTHON_VERSION     3.13.0, from the headers
#   AA_PYTHON_VERSION_MM  3.13, what a runner plugin must be built against
#   AA_PYTHON_PC_MODULE   the pkg-config module, AA_PYTHON_PC without the
#                         folder and .pc of a path (python-3.13-embed)
#   AA_PYTHON_LIBDIR      the folder of its libpython
#   AA_PYTHON_EXECUTABLE  its python3.X, which CPython is told it runs as
#   AA_PYTHON_SONAME      its library's SONAME, libpython3.13.so.1.0
set(AA_PYTHON_PC python3-embed CACHE STRING
  "pkg-config module of the CPython to embed: a name (python-3.13-embed) or the path of its .pc file")

pkg_check_modules(PYTHON REQUIRED IMPORTED_TARGET "${AA_PYTHON_PC}")

# The exact version, from the headers the build compiles with.
set(AA_PYTHON_VERSION "")
foreach(dir IN LISTS PYTHON_INCLUDE_DIRS)
  if(EXISTS ${dir}/patchlevel.h)
    file(STRINGS ${dir}/patchlevel.h line REGEX "^#define PY_VERSION[ \t]+\"")
    string(REGEX REPLACE ".*\"([^\"]*)\".*" "\\1" AA_PYTHON_VERSION "${line}")
    break()
  endif()
endforeach()
if(AA_PYTHON_VERSION STREQUAL "")
  set(AA_PYTHON_VERSION ${PYTHON_VERSION})
endif()
if(AA_PYTHON_VERSION VERSION_LESS 3.11)
  message(FATAL_ERROR
    "CPython ${AA_PYTHON_VERSION} (${AA_PYTHON_PC}) is too old: libautoawait "
    "needs CPython 3.11 or later.  Choose another with -DAA_PYTHON_PC=NAME or "
    "the path of its .pc file.")
endif()
if(AA_PYTHON_VERSION VERSION_GREATER_EQUAL 3.14)
  message(WARNING
    "CPython ${AA_PYTHON_VERSION} is newer than the versions libautoawait is "
    "tested with (3.11 to 3.13): see docs/python-versions.md")
endif()

string(REGEX MATCH "^[0-9]+\\.[0-9]+" AA_PYTHON_VERSION_MM "${AA_PYTHON_VERSION}")
get_filename_component(AA_PYTHON_PC_MODULE "${AA_PYTHON_PC}" NAME)
string(REGEX REPLACE "\\.pc$" "" AA_PYTHON_PC_MODULE "${AA_PYTHON_PC_MODULE}")

# Free-threaded builds (3.13t) have no GIL, which every call of the library
# relies on.  Asked of the compiler, as pyconfig.h may be a wrapper around
# an architecture's own (Debian's is).  Checked anew at every configure:
# AA_PYTHON_PC may have changed since the last one.
include(CheckSymbolExists)
set(CMAKE_REQUIRED_INCLUDES ${PYTHON_INCLUDE_DIRS})
set(CMAKE_REQUIRED_QUIET ON)
unset(AA_PYTHON_GIL_DISABLED CACHE)
check_symbol_exists(Py_GIL_DISABLED pyconfig.h AA_PYTHON_GIL_DISABLED)
unset(CMAKE_REQUIRED_INCLUDES)
unset(CMAKE_REQUIRED_QUIET)
if(AA_PYTHON_GIL_DISABLED)
  message(FATAL_ERROR
    "CPython ${AA_PYTHON_VERSION} (${AA_PYTHON_PC}) is a free-threaded build "
    "(Py_GIL_DISABLED): libautoawait needs the GIL and does not support "
    "free-threaded CPython yet.  Configure with a default build of CPython "
    "instead (python-3.13-embed, not python-3.13t-embed).")
endif()

# The interpreter by the names it must be found by at run time: its
# executable (so that CPython does not take some other python3 on PATH for
# its own) and its library's SONAME.
pkg_get_variable(AA_PYTHON_EXEC_PREFIX "${AA_PYTHON_PC}" exec_prefix)
pkg_get_variable(AA_PYTHON_LIBDIR "${AA_PYTHON_PC}" libdir)
list(GET PYTHON_LIBRARIES 0 AA_PYTHON_LIBNAME)
string(REGEX REPLACE "^python" "" AA_PYTHON_LDVERSION ${AA_PYTHON_LIBNAME})
set(AA_PYTHON_EXECUTABLE ${AA_PYTHON_EXEC_PREFIX}/bin/python${AA_PYTHON_LDVERSION})
set(AA_PYTHON_SONAME lib${AA_PYTHON_LIBNAME}.so.1.0)

# A CPython built without --enable-shared has only lib${AA_PYTHON_LIBNAME}.a,
# compiled without -fPIC: it cannot go into a shared library.
list(GET PYTHON_LINK_LIBRARIES 0 AA_PYTHON_LIBRARY)
if(AA_PYTHON_LIBRARY MATCHES "\\.a$")
  message(FATAL_ERROR
    "CPython ${AA_PYTHON_VERSION} (${AA_PYTHON_PC}) has no shared library, "
    "only ${AA_PYTHON_LIBRARY}: libautoawait is a shared library and needs "
    "lib${AA_PYTHON_LIBNAME}.so.  Build that CPython with --enable-shared "
    "(pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install VERSION).")
endif()
message(STATUS "Embedding CPython ${AA_PYTHON_VERSION} (${AA_PYTHON_PC}): "
               "lib${AA_PYTHON_LIBNAME} in ${AA_PYTHON_LIBDIR}")

# cmake/packaging.cmake -- the Debian packages, with CPack's DEB generator.
#
# Every install rule of the project names its component; with AA_PACKAGE
# (scripts/package.sh sets it) this file makes one .deb of each packaged
# component, adds what Debian wants and a plain `cmake --install` does not
# (copyright and changelog in each package's doc folder, the man page
# compressed), and configures the packages' names, relations and
# descriptions.  docs/packaging.md is the manual.
#
#   component  package               what
#   lib        libautoawait0         the library (libautoawait.so.0)
#   runners    libautoawait-runners  the runner plugins
#   dev        libautoawait-dev      headers, .so link, autoawait.pc, CMake package,
#                                    docs and examples (AA_DOCDIR)
#   shell      aa-shell              the console, aa-runner-check, their man pages
#   kernellib  libautoawait-kernel0  the Jupyter kernel's library (libautoawait-kernel.so.0)
#   kernel     aa-kernel             the kernel program, its man page, the kernelspec
#                                    /usr/share/jupyter/kernels/autoawait
#   man        (none)                the uncompressed man pages of a plain install
#   examples   (none)                embed-host, uv-host, glib-host: examples
#
# A plain `cmake --install` installs every component but the files added
# here, which are EXCLUDE_FROM_ALL: only CPack, installing one component at
# a time, asks for them.
if(NOT AA_PACKAGE)
  return()
endif()
if(AA_SANITIZE OR AA_FUZZ)
  message(FATAL_ERROR "AA_PACKAGE packages a normal build: configure it "
                      "without AA_SANITIZE and AA_FUZZ")
endif()
if(NOT AA_BUILD_SHELL)
  message(FATAL_ERROR "AA_PACKAGE makes the aa-shell package too: configure "
                      "with -DAA_BUILD_SHELL=ON (and libedit installed)")
endif()
# ON, not AUTO: the set of packages does not depend on what the machine
# has; kernel/CMakeLists.txt fails at configure time, naming the -dev
# packages, when libzmq, jansson or libcrypto is missing.
string(TOUPPER "${AA_BUILD_KERNEL}" aa_deb_kernel_mode)
if(NOT aa_deb_kernel_mode MATCHES "^(ON|YES|TRUE|Y|1)$")
  message(FATAL_ERROR "AA_PACKAGE makes the aa-kernel package too: configure "
                      "with -DAA_BUILD_KERNEL=ON (and libzmq3-dev, "
                      "libjansson-dev, libssl-dev installed)")
endif()
# The packages install to the system's folders (CMAKE_INSTALL_PREFIX /usr,
# the library in /usr/lib/<multiarch>), where the dynamic loader finds the
# library with no RUNPATH, and Debian wants none.  The programs' $ORIGIN
# RUNPATH (the build tree's lib/ and the install tree's libdir) goes: the
# build tree of a package build is packaged, never run.
list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES ${CMAKE_INSTALL_FULL_LIBDIR} aa_deb_system)
if(aa_deb_system LESS 0)
  message(FATAL_ERROR "AA_PACKAGE: the library would be installed in "
                      "${CMAKE_INSTALL_FULL_LIBDIR}, not a system folder of the "
                      "linker (${CMAKE_C_IMPLICIT_LINK_DIRECTORIES}): configure "
                      "with -DCMAKE_INSTALL_PREFIX=/usr")
endif()
set(AA_PROGRAM_RUNPATH "")
# Stripped as Debian strips (cmake/deb/strip.sh), when CPack installs.
set(CMAKE_STRIP ${CMAKE_CURRENT_LIST_DIR}/deb/strip.sh)

# The version of every package is the project's: these are native packages,
# built from the sources by their own script.  The changelog must agree.
file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/deb/changelog aa_deb_top LIMIT_COUNT 1)
if(NOT aa_deb_top MATCHES "^libautoawait \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "cmake/deb/changelog's first entry is not version "
                      "${PROJECT_VERSION}: ${aa_deb_top}")
endif()
set(AA_DEB_VERSION ${PROJECT_VERSION})
set(AA_DEB_LIB libautoawait${AA_SOVERSION})
set(AA_DEB_MAINTAINER
  "libautoawait maintainers <maintainers@users.noreply.r-seed-2cfa4a8d.example>"
  CACHE STRING "The packages' Maintainer field (scripts/package.sh: DEBFULLNAME, DEBEMAIL)")

# What Debian wants in every package: copyright, and the changelog
# compressed without a timestamp (gzip -n), so that the same sources give
# the same package.
set(aa_deb_out ${PROJECT_BINARY_DIR}/deb)
add_custom_command(OUTPUT ${aa_deb_out}/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${aa_deb_out}
  COMMAND gzip -9nc ${CMAKE_CURRENT_LIST_DIR}/deb/changelog > ${aa_deb_out}/changelog.gz
  DEPENDS ${CMAKE_CURRENT_LIST_DIR}/deb/changelog VERBATIM)
set(aa_deb_man_pages "")
foreach(page aa-shell.1 aa-runner-check.1 aa-kernel.1)
  add_custom_command(OUTPUT ${aa_deb_out}/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${aa_deb_out}
    COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/docs/${page} > ${aa_deb_out}/${page}.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/${page} VERBATIM)
  list(APPEND aa_deb_man_pages ${aa_deb_out}/${page}.gz)
endforeach()
add_custom_target(aa_deb_files ALL
  DEPENDS ${aa_deb_out}/changelog.gz ${aa_deb_man_pages})

set(aa_deb_components lib runners dev shell kernellib kernel)
set(aa_deb_package_lib ${AA_DEB_LIB})
set(aa_deb_package_runners libautoawait-runners)
set(aa_deb_package_dev libautoawait-dev)
set(aa_deb_package_shell aa-shell)
set(AA_DEB_KERNEL_LIB libautoawait-kernel${AA_SOVERSION})
set(aa_deb_package_kernellib ${AA_DEB_KERNEL_LIB})
set(aa_deb_package_kernel aa-kernel)
foreach(component IN LISTS aa_deb_components)
  set(doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/${aa_deb_package_${component}})
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/deb/copyright ${aa_deb_out}/changelog.gz
          DESTINATION ${doc} COMPONENT ${component} EXCLUDE_FROM_ALL)
endforeach()

# The man pages of the console and of aa-runner-check, compressed as
# Debian's are.
install(FILES ${aa_deb_out}/aa-shell.1.gz ${aa_deb_out}/aa-runner-check.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT shell EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/docs/aa-shell.md
              ${PROJECT_SOURCE_DIR}/docs/aa-runner-check.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/aa-shell
        COMPONENT shell EXCLUDE_FROM_ALL)
# The kernel program's man page and guide, and its kernelspec where
# Jupyter looks on every system (jupyter_core's SYSTEM_JUPYTER_PATH has
# /usr/share/jupyter): the file `aa-kernel --install --prefix /usr` would
# write, made here from cmake/deb/kernel.json.in rather than by running the
# program (the package test checks that the two agree).
configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/kernel.json.in
               ${aa_deb_out}/kernel/kernel.json @ONLY)
install(FILES ${aa_deb_out}/aa-kernel.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT kernel EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/docs/kernel.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/aa-kernel
        COMPONENT kernel EXCLUDE_FROM_ALL)
install(FILES ${aa_deb_out}/kernel/kernel.json
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/jupyter/kernels/autoawait
        COMPONENT kernel EXCLUDE_FROM_ALL)
# The developer's documentation and the examples (the install rules of
# CMakeLists.txt, component dev) go in the -dev package's own doc folder,
# as Debian wants, beside its copyright and changelog.
set(AA_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/libautoawait-dev)

# ------------------------------------------------------------------ CPack
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libautoawait)
set(CPACK_PACKAGE_VENDOR "libautoawait")
set(CPACK_PACKAGE_VERSION ${AA_DEB_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${aa_deb_components})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_VERSION ${AA_DEB_VERSION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${AA_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends on the libraries the ELF files need, by dpkg-shlibdeps.  aa-shell
# needs the library of this very build, which dpkg-shlibdeps finds in the
# build tree and no installed package describes yet: that dependency is
# written out below.  The two library packages are done apart
# (cmake/deb/shlibdeps.cmake says why): each has a shlibs file, so that
# packages linking it get their dependency on it from dpkg-shlibdeps (any
# version from this one on), and the ldconfig trigger.  aa-kernel is done
# there too, where the shlibs files of this build describe its two
# libraries to dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/deb/shlibdeps.cmake)
set(CPACK_AA_DEB_LIBDIR ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
set(CPACK_AA_DEB_SHLIBDEPS
  LIB=${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/libautoawait.so.${PROJECT_VERSION}
  KERNELLIB=${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/libautoawait-kernel.so.${PROJECT_VERSION}
  KERNEL=${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/aa-kernel)
set(aa_deb_shlibs "")
foreach(component lib kernellib)
  string(TOUPPER ${component} C)
  if(component STREQUAL "lib")
    set(soname libautoawait)
  else()
    set(soname libautoawait-kernel)
  endif()
  set(shlibs "${soname} ${AA_SOVERSION} ${aa_deb_package_${component}} (>= ${AA_DEB_VERSION})\n")
  string(APPEND aa_deb_shlibs "${shlibs}")
  file(WRITE ${aa_deb_out}/${component}/shlibs "${shlibs}")
  file(WRITE ${aa_deb_out}/${component}/triggers "activate-noawait ldconfig\n")
  set(CPACK_DEBIAN_${C}_PACKAGE_SHLIBDEPS OFF)
  set(CPACK_DEBIAN_${C}_PACKAGE_CONTROL_EXTRA
    ${aa_deb_out}/${component}/shlibs ${aa_deb_out}/${component}/triggers)
  set(CPACK_DEBIAN_${C}_PACKAGE_CONTROL_STRICT_PERMISSION ON)
endforeach()
set(CPACK_DEBIAN_KERNEL_PACKAGE_SHLIBDEPS OFF)
# Both shlibs files, as debian/shlibs.local for dpkg-shlibdeps.
file(WRITE ${aa_deb_out}/shlibs.local "${aa_deb_shlibs}")
set(CPACK_AA_DEB_SHLIBS_LOCAL ${aa_deb_out}/shlibs.local)

foreach(component IN LISTS aa_deb_components)
  string(TOUPPER ${component} C)
  set(CPACK_DEBIAN_${C}_PACKAGE_NAME ${aa_deb_package_${component}})
endforeach()

# The library cannot open a session without its default runner, asyncio,
# so it depends on the runners, which live in a package of their own: their
# folder's name does not change with the SONAME (Debian policy 8.2).
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIB_PACKAGE_DEPENDS "libautoawait-runners (= ${AA_DEB_VERSION})")
set(CPACK_DEBIAN_LIB_DESCRIPTION
"embeddable Python console with top-level await (library)
libautoawait gives a C application a Python console in which top-level
await, async with and async for just work, the way IPython's autoawait
does, behind a small and stable C ABI: the host hands it the text of a
cell and gets plain C strings back, with no Python.h of its own.

This package contains the shared library.")

set(CPACK_DEBIAN_RUNNERS_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNNERS_PACKAGE_RECOMMENDS "python3-trio, python3-uvloop")
set(CPACK_DEBIAN_RUNNERS_PACKAGE_ENHANCES ${AA_DEB_LIB})
set(CPACK_DEBIAN_RUNNERS_DESCRIPTION
"embeddable Python console with top-level await (runners)
The event loops that libautoawait runs async cells on, as plugins the
library loads by name: asyncio (the default: one loop for the life of a
session), uvloop (the same on uvloop's loop; needs python3-uvloop), trio
(one trio.run per cell; needs python3-trio) and curio (needs the curio
module, which Debian does not package).")

set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# autoawait.pc (Requires.private) and autoawait-runner.pc (Requires) name
# the CPython the library embeds, python3-embed, which libpython3-dev has:
# without it pkg-config would refuse both.
# The CMake package's autoawait::kernel names libautoawait-kernel's file,
# which CMake checks is there: the -dev package depends on its library too.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "${AA_DEB_LIB} (= ${AA_DEB_VERSION}), ${AA_DEB_KERNEL_LIB} (= ${AA_DEB_VERSION}), libpython3-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
"embeddable Python console with top-level await (development files)
libautoawait gives a C application a Python console in which top-level
await just works, behind a small and stable C ABI.

This package contains the headers (autoawait.h for hosts, runner.h and
runner-sdk.h for runner plugins), the runner SDK (libautoawait-runner.a),
the Jupyter kernel's header (kernel.h), the pkg-config files, the CMake
package, the guides and API reference, and the runner plugin templates.")

set(CPACK_DEBIAN_SHELL_PACKAGE_SECTION interpreters)
set(CPACK_DEBIAN_SHELL_PACKAGE_DEPENDS "${AA_DEB_LIB} (>= ${AA_DEB_VERSION})")
set(CPACK_DEBIAN_SHELL_DESCRIPTION
"Python console where top-level await just works
aa-shell is the console of libautoawait: IPython-style prompts, multi-line
input, line editing, history and tab completion, where await, async with
and async for work at the top level without asyncio.run(), one event loop
lives as long as the console, and Ctrl-C cancels the running cell.
aa-shell -c CODE and aa-shell FILE run code the same way.

aa-runner-check runs libautoawait's conformance cases against a runner
plugin, installed or in development, and says how many held.")

# The kernel: its library, and the program Jupyter starts.  Their
# dependencies (libautoawait0, libzmq5, libjansson4, libssl3, ...) come from
# dpkg-shlibdeps in cmake/deb/shlibdeps.cmake.
set(CPACK_DEBIAN_KERNELLIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_KERNELLIB_DESCRIPTION
"embeddable Python console with top-level await (Jupyter kernel library)
libautoawait-kernel serves a libautoawait session to Jupyter clients
(jupyter console, JupyterLab, Notebook, VS Code) over the Jupyter messaging
protocol 5.3 on ZeroMQ, as a guest of the host application's event loop:
a client attaches to the live namespace of a running C application, with
top-level await on the session's runner.

This package contains the shared library.")

set(CPACK_DEBIAN_KERNEL_PACKAGE_SECTION interpreters)
set(CPACK_DEBIAN_KERNEL_PACKAGE_RECOMMENDS "jupyter-console, jupyter-client")
set(CPACK_DEBIAN_KERNEL_PACKAGE_SUGGESTS "jupyter-notebook")
set(CPACK_DEBIAN_KERNEL_DESCRIPTION
"Jupyter kernel for Python with top-level await
aa-kernel is the Jupyter kernel of libautoawait: one Python session per
kernel, in which await, async with and async for work at the top level on
asyncio, uvloop, trio or curio, and %autoawait switches the event loop.
It is installed as the Jupyter kernel 'autoawait'
(/usr/share/jupyter/kernels/autoawait): jupyter console --kernel autoawait,
JupyterLab's launcher and VS Code's kernel picker start it.")

include(CPack)

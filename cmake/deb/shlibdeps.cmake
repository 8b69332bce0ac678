# cmake/deb/shlibdeps.cmake -- included by cpack (CPACK_PROJECT_CONFIG_FILE,
# set in cmake/packaging.cmake) before it makes the packages: the
# dependencies of the two library packages (libautoawait0,
# libautoawait-kernel0) and of aa-kernel, from dpkg-shlibdeps run on their
# ELF files in the build tree.
#
# CPack's own dpkg-shlibdeps run (CPACK_DEBIAN_PACKAGE_SHLIBDEPS) is off for
# the library packages because of what comes with it: finding a shared
# library in /usr/lib, CPack writes a postinst and a postrm that call
# ldconfig, which Debian replaced by a trigger (lintian:
# maintscript-calls-ldconfig).  The packages have the trigger instead, and
# their shlibs files, from CPACK_DEBIAN_<C>_PACKAGE_CONTROL_EXTRA.  Those
# shlibs files are given to dpkg-shlibdeps here as debian/shlibs.local, so
# that it writes the dependencies on this build's own libraries
# (libautoawait-kernel0 on libautoawait0, aa-kernel on both), which no
# installed package describes yet; CPack's run cannot be given them, which
# is why aa-kernel is done here too.
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()
set(aa_dir ${CPACK_PACKAGE_DIRECTORY}/_shlibdeps)
# dpkg-shlibdeps wants a debian/control; an empty one does.
file(MAKE_DIRECTORY ${aa_dir}/debian)
file(WRITE ${aa_dir}/debian/control "")
configure_file(${CPACK_AA_DEB_SHLIBS_LOCAL} ${aa_dir}/debian/shlibs.local COPYONLY)
foreach(pair IN LISTS CPACK_AA_DEB_SHLIBDEPS)
  string(REGEX MATCH "^([A-Z]+)=(.*)$" pair "${pair}")
  set(C ${CMAKE_MATCH_1})
  set(elf ${CMAKE_MATCH_2})
  execute_process(
    COMMAND dpkg-shlibdeps -O -l${CPACK_AA_DEB_LIBDIR} -e${elf}
    WORKING_DIRECTORY ${aa_dir}
    RESULT_VARIABLE aa_rc OUTPUT_VARIABLE aa_out ERROR_VARIABLE aa_err)
  if(NOT aa_rc EQUAL 0 OR NOT aa_out MATCHES "shlibs:Depends=([^\n]+)")
    message(FATAL_ERROR "dpkg-shlibdeps -e${elf} failed: ${aa_err}")
  endif()
  if(CPACK_DEBIAN_${C}_PACKAGE_DEPENDS)
    string(APPEND CPACK_DEBIAN_${C}_PACKAGE_DEPENDS ", ${CMAKE_MATCH_1}")
  else()
    set(CPACK_DEBIAN_${C}_PACKAGE_DEPENDS "${CMAKE_MATCH_1}")
  endif()
endforeach()

# cmake/deb/shlibdeps.cmake -- included by cpack (CPACK_PROJECT_CONFIG_FILE,
# set in cmake/packaging.cmake) before it makes the packages: the library
# package's dependencies, from dpkg-shlibdeps run on the library.
#
# CPack's own dpkg-shlibdeps run (CPACK_DEBIAN_PACKAGE_SHLIBDEPS) is off for
# that package because of what comes with it: finding a shared library in
# /usr/lib, CPack writes a postinst and a postrm that call ldconfig, which
# Debian replaced by a trigger (lintian: maintscript-calls-ldconfig).  The
# package has the trigger instead, and its shlibs file, from
# CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA.
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()
set(aa_dir ${CPACK_PACKAGE_DIRECTORY}/_shlibdeps)
# dpkg-shlibdeps wants a debian/control; an empty one does.
file(MAKE_DIRECTORY ${aa_dir}/debian)
file(WRITE ${aa_dir}/debian/control "")
execute_process(
  COMMAND dpkg-shlibdeps -O -e${CPACK_AA_DEB_LIBRARY}
  WORKING_DIRECTORY ${aa_dir}
  RESULT_VARIABLE aa_rc OUTPUT_VARIABLE aa_out ERROR_VARIABLE aa_err)
if(NOT aa_rc EQUAL 0 OR NOT aa_out MATCHES "shlibs:Depends=([^\n]+)")
  message(FATAL_ERROR "dpkg-shlibdeps -e${CPACK_AA_DEB_LIBRARY} failed: ${aa_err}")
endif()
string(APPEND CPACK_DEBIAN_LIB_PACKAGE_DEPENDS ", ${CMAKE_MATCH_1}")

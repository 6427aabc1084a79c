# SPDX-License-Identifier: Apache-2.0
#
# cdnopt_add_cmocka_test(NAME <module> SOURCES <files...> LIBS <targets...>
#                        [LABELS <labels...>] [TIMEOUT <seconds>])
#
# Builds one cmocka executable test_<module> and registers every
# cmocka_unit_test(name) / cmocka_unit_test_setup_teardown(name, ...) found in its
# sources as its own CTest test "<module>.<name>", run as `test_<module> <name>`.
# Tests run with the repository root as working directory, and SHARED_DIR (the
# read-only ../shared beside the checkout) in their environment.
function(cdnopt_add_cmocka_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()

  set(exe test_${T_NAME})
  add_executable(${exe} ${T_SOURCES})
  target_link_libraries(${exe} PRIVATE ${T_LIBS} cdnopt_testutil PkgConfig::CMOCKA m)

  set(case_names "")
  foreach(src IN LISTS T_SOURCES)
    file(READ ${CMAKE_CURRENT_SOURCE_DIR}/${src} text)
    string(REGEX MATCHALL "cmocka_unit_test(_setup_teardown|_setup|_teardown)?\\([A-Za-z0-9_]+"
           hits "${text}")
    foreach(hit IN LISTS hits)
      string(REGEX REPLACE ".*\\(" "" case "${hit}")
      list(APPEND case_names ${case})
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES case_names)

  get_filename_component(shared_dir ${CMAKE_SOURCE_DIR}/../shared ABSOLUTE)
  foreach(case IN LISTS case_names)
    add_test(NAME ${T_NAME}.${case} COMMAND ${exe} ${case} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${T_NAME}.${case} PROPERTIES
      LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
      ENVIRONMENT "SHARED_DIR=${shared_dir};CDNOPT_BUILD_DIR=${CMAKE_BINARY_DIR};ASAN_OPTIONS=detect_leaks=1")
  endforeach()
endfunction()

# mesh_module(<name> SOURCES ... DEPS ...): one static library per module, mesh::<name>.
function(mesh_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mesh_${name} STATIC ${M_SOURCES})
  add_library(mesh::${name} ALIAS mesh_${name})
  target_include_directories(mesh_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(mesh_${name} PUBLIC ${M_DEPS})
endfunction()

# mesh_test(<target> LABEL unit|integration|slow|"unit;hostile" SOURCES ... DEPS ...): a gtest binary whose
# tests are discovered one by one, so each runs in its own process.
function(mesh_test name)
  cmake_parse_arguments(T "" "LABEL" "SOURCES;DEPS" ${ARGN})
  if(NOT MESH_BUILD_TESTS)
    return()
  endif()
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} mesh::testing GTest::gmock GTest::gtest_main)
  # DISABLED_ tests are helpers that other tests start in child processes (e.g. the
  # cross-process compile-once test); they are not tests of their own, so ctest omits them.
  gtest_discover_tests(${name} TEST_FILTER "-*.DISABLED_*"
                       PROPERTIES LABELS "${T_LABEL}" DISCOVERY_TIMEOUT 60)
endfunction()

# Helpers so that every folder declares its targets the same way (leveldb/Abseil style).
#
# iter8_cc_library(NAME <name> SRCS ... DEPS ...)   -> static library iter8_<name>
# iter8_cc_test(NAME <name> SRCS ... DEPS ... [LABELS ...])  -> gtest binary, tests discovered

function(iter8_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(iter8_${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(iter8_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(iter8_${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

function(iter8_cc_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(${ARG_NAME} PRIVATE
      ITER8_REFERENCE_DIR="${ITER8_REFERENCE_DIR}"
      ITER8_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()

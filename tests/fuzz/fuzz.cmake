# tests/fuzz: the libFuzzer targets, built with clang whatever CMAKE_C_COMPILER is (CI builds
# with gcc, which has no libFuzzer), so each is one clang command over the sources it needs
# rather than a CMake target of this project, and run by ctest for a bounded time:
#   fuzz_kafka_request   server/ request decoding (kafka__feed), with log/ and common/
#   fuzz_binlog_decoder  reader/ binlog decoder, with common/
# Each ctest entry runs RL_FUZZ_SECONDS on a copy-on-write work corpus seeded from
# tests/fuzz/corpus/<target>/ (committed); a crash, a sanitizer report (UBSan does not
# recover) or an input running longer than 25 s fails the test, and the input that did it is
# left in <build>/tests/fuzz_work/<target>/ (crash-*, timeout-*) to reproduce with
#   <build>/tests/fuzz/<target> <that file>
# Included from tests/CMakeLists.txt: CMAKE_CURRENT_SOURCE_DIR is tests/, so paths here use
# CMAKE_CURRENT_LIST_DIR.
find_program(RL_CLANG NAMES clang clang-16 clang-15 clang-14)
option(RL_FUZZ_TESTS "Build the libFuzzer targets with clang and run each as a ctest" ON)
set(RL_FUZZ_SECONDS 30 CACHE STRING "Seconds each fuzz target runs under ctest")

if(RL_CLANG AND RL_FUZZ_TESTS AND TARGET rowlog_log AND TARGET rowlog_server)
  set(rl_fuzz_flags -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -I${CMAKE_SOURCE_DIR}
      -I${EV_INCLUDE_DIR})
  foreach(d ${MARIADB_INCLUDE_DIRS})
    list(APPEND rl_fuzz_flags -I${d})
  endforeach()
  file(GLOB rl_fuzz_common CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/common/*.c)
  file(GLOB rl_fuzz_log CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/log/*.c)
  file(GLOB rl_fuzz_server CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/server/kafka*.c)
  file(GLOB rl_fuzz_reader CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/reader/*.c)
  file(GLOB rl_fuzz_headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/common/*.h
       ${CMAKE_SOURCE_DIR}/log/*.h ${CMAKE_SOURCE_DIR}/server/kafka*.h
       ${CMAKE_SOURCE_DIR}/reader/*.h)
  set(rl_fuzz_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
  file(MAKE_DIRECTORY ${rl_fuzz_dir})

  # rl_fuzz_target(NAME SOURCES... LIBS libs...)
  function(rl_fuzz_target name)
    cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
    set(out ${rl_fuzz_dir}/${name})
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${RL_CLANG} ${rl_fuzz_flags} ${CMAKE_CURRENT_LIST_DIR}/${name}.c ${F_SOURCES}
              ${F_LIBS} -lm -lpthread -o ${out}
      DEPENDS ${CMAKE_CURRENT_LIST_DIR}/${name}.c ${F_SOURCES} ${rl_fuzz_headers}
      COMMENT "Building libFuzzer target ${name} with clang"
      VERBATIM)
    add_custom_target(${name} ALL DEPENDS ${out})
    set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzz_work/${name})
    add_test(NAME ${name}
             COMMAND bash -c "mkdir -p \"$0\" && exec \"$1\" -max_total_time=$2 -timeout=25 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 -artifact_prefix=\"$0/\" \"$0\" \"$3\""
                     ${work} ${out} ${RL_FUZZ_SECONDS} ${CMAKE_CURRENT_LIST_DIR}/corpus/${name})
    set_tests_properties(${name} PROPERTIES LABELS "fuzz" TIMEOUT 240)
  endfunction()

  rl_fuzz_target(fuzz_kafka_request
    SOURCES ${rl_fuzz_server} ${rl_fuzz_log} ${rl_fuzz_common}
    LIBS ${EV_LIBRARY} ${LZ4_LINK_LIBRARIES} ${ZSTD_LINK_LIBRARIES} ${DEFLATE_LINK_LIBRARIES})
  rl_fuzz_target(fuzz_binlog_decoder
    SOURCES ${rl_fuzz_reader} ${rl_fuzz_common}
    LIBS ${MARIADB_LINK_LIBRARIES} ${ZLIB_LINK_LIBRARIES} ${ZSTD_LINK_LIBRARIES}
         ${DEFLATE_LINK_LIBRARIES})
endif()

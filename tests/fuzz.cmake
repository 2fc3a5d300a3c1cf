# Fuzz targets: every tests/fuzz/fuzz_<name>.c, its seed corpus in
# tests/fuzz/corpus/<name>/ and its saved crashes in
# tests/fuzz/regressions/<name>/.
#
# Always: a replay runner per target (replay_<name>) that feeds every saved
# input to the target once, registered as the ctest test fuzz_replay_<name>,
# so the inputs run under gcc in the ordinary suite.
#
# With -DPSY_FUZZ=ON and clang: a libFuzzer binary per target (fuzz_<name>).
# Coverage must come from the libraries, not only the target file, so they
# are built with -fsanitize=fuzzer-no-link; every program of such a build
# then needs the sanitizer runtime, which PSY_SANITIZE=ON links:
#   CC=clang cmake -S . -B build-fuzz -DPSY_FUZZ=ON -DPSY_SANITIZE=ON
#   cmake --build build-fuzz --target fuzz_codec
#   build-fuzz/tests/fuzz_codec tests/fuzz/corpus/codec
set(PSY_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
file(GLOB PSY_FUZZ_SRC CONFIGURE_DEPENDS ${PSY_FUZZ_DIR}/fuzz_*.c)

set(PSY_FUZZ_LIBFUZZER OFF)
if(PSY_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(WARNING "PSY_FUZZ needs clang (CC=clang); building only the replay runners")
    elseif(NOT PSY_SANITIZE)
        message(FATAL_ERROR "PSY_FUZZ=ON needs PSY_SANITIZE=ON: the libraries are "
                            "instrumented for coverage and every program needs the runtime")
    else()
        set(PSY_FUZZ_LIBFUZZER ON)
        foreach(lib psyproto psymon psycollect psyagg)
            if(TARGET ${lib})
                target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
            endif()
        endforeach()
    endif()
endif()

foreach(src ${PSY_FUZZ_SRC})
    get_filename_component(target ${src} NAME_WE)   # fuzz_codec
    string(REGEX REPLACE "^fuzz_" "" name ${target}) # codec

    add_executable(replay_${name} ${PSY_FUZZ_DIR}/replay_main.c ${src})
    target_link_libraries(replay_${name} PRIVATE psyagg psycollect psymon)
    add_test(NAME fuzz_replay_${name}
             COMMAND replay_${name} ${PSY_FUZZ_DIR}/corpus/${name}
                     ${PSY_FUZZ_DIR}/regressions/${name})
    set_tests_properties(fuzz_replay_${name} PROPERTIES ENVIRONMENT "${PSY_TEST_ENV}"
                         TIMEOUT 300)

    if(PSY_FUZZ_LIBFUZZER)
        add_executable(${target} ${src})
        target_compile_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
        target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
        target_link_libraries(${target} PRIVATE psyagg psycollect psymon)
    endif()
endforeach()

# test_simulate drives cmd_simulate, which lives in the command line's
# folder rather than in a library.
target_sources(test_simulate PRIVATE ${CMAKE_SOURCE_DIR}/cli/simulate.c)
target_include_directories(test_simulate PRIVATE ${CMAKE_SOURCE_DIR}/cli)

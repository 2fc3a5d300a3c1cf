# test_requeue drives requeue_dir, which lives in the command line's folder
# rather than in a library.
target_sources(test_requeue PRIVATE ${CMAKE_SOURCE_DIR}/cli/requeue.c)
target_include_directories(test_requeue PRIVATE ${CMAKE_SOURCE_DIR}/cli)
target_link_libraries(test_requeue PRIVATE Threads::Threads)

# End-to-end tests: shell scripts driving the real programs on loopback.
file(GLOB PSY_E2E CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/e2e/*.sh)
list(REMOVE_ITEM PSY_E2E ${CMAKE_CURRENT_SOURCE_DIR}/e2e/lib.sh)
foreach(script ${PSY_E2E})
    get_filename_component(name ${script} NAME_WE)
    add_test(NAME e2e_${name} COMMAND bash ${script})
    set_tests_properties(e2e_${name} PROPERTIES ENVIRONMENT "${PSY_TEST_ENV}" TIMEOUT 600
                         RUN_SERIAL TRUE)
endforeach()

# The cross-check links the independent reference implementation of kpis.md.
target_sources(test_crosscheck PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/crosscheck/ref_kpi.c)

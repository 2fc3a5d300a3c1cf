# test_spool wraps write and fsync, so that it can make the spool meet a
# full disk (ENOSPC, EDQUOT) without filling one.
target_link_options(test_spool PRIVATE -Wl,--wrap=write -Wl,--wrap=fsync)

# test_inbox wraps fsync, so that the spool under the inbox meets a full
# disk (ENOSPC, EDQUOT) without filling one.
target_link_options(test_inbox PRIVATE -Wl,--wrap=fsync)

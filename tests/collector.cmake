# test_collector runs the real collector loop against a full disk: it wraps
# write, fsync and fdatasync (ENOSPC on the state folder), psy_time_now (a fake clock,
# so DISK_RETRY passes without sleeping), zmq_poll (the loop's wait: the
# test's per-turn hook), psy_log (to check what the operator is told) and
# sender_set_spool_full (the flag heartbeats carry, turn by turn).
target_link_options(test_collector PRIVATE -Wl,--wrap=write -Wl,--wrap=fsync -Wl,--wrap=fdatasync
                    -Wl,--wrap=psy_time_now -Wl,--wrap=zmq_poll -Wl,--wrap=psy_log
                    -Wl,--wrap=sender_set_spool_full)

# test_ingest wraps zmq_msg_recv so that it can make the ZAP handler's
# socket fail and check that the ingest then reports the handler dead, and
# psy_time_now so that rate limits are tested on a clock that stands still.
target_link_options(test_ingest PRIVATE -Wl,--wrap=zmq_msg_recv -Wl,--wrap=psy_time_now)

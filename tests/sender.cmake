# test_sender needs nothing beyond the defaults: sender_set_msg_max() makes batches split.

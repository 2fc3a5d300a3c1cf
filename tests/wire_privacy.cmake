# test_wire_privacy wraps zmq_send (and zmq_msg_send, to notice a sender
# that bypasses it) to capture every plaintext message the collector hands
# to libzmq before CURVE encrypts it.
target_link_options(test_wire_privacy PRIVATE -Wl,--wrap=zmq_send -Wl,--wrap=zmq_msg_send)

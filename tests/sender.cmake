# test_sender wraps psy_codec_encode, so that it can make the sender split a
# batch that PSY_MSG_MAX would refuse: PSY_BATCH_MAX of the longest records
# encode to less than PSY_MSG_MAX, so the real limit never refuses one.
target_link_options(test_sender PRIVATE -Wl,--wrap=psy_codec_encode)

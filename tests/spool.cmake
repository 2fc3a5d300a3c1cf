# test_spool wraps write and fsync, so that it can make the spool meet a
# full disk (ENOSPC, EDQUOT) without filling one.
target_link_options(test_spool PRIVATE -Wl,--wrap=write -Wl,--wrap=fsync)
# zlib only to check that libdeflate's frame CRCs are zlib's (test_frame_crc_is_zlibs).
find_package(ZLIB REQUIRED)
target_link_libraries(test_spool PRIVATE ZLIB::ZLIB)

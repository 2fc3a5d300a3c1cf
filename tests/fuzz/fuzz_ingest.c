/*
 * libFuzzer target: the aggregator's path for one message from an admitted
 * collector, after the ZeroMQ receive: decode, then store the batch or the
 * heartbeat in a real store, as ingest's dispatch does.
 *
 * Whatever decodes passed every rule of the wire, so the store must take
 * it: a SQLite error on a decoded batch, an acknowledgement that goes
 * backwards, or one that disagrees with what the store then reports is a
 * bug. The store lives in a temporary folder (under /dev/shm when there is
 * one, so fsync is cheap) that is removed at exit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psymon/codec.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 (INT64_C(1709300000) * PSY_USEC)

static store_t *fuzz_store;
static char fuzz_dir[64];
static psy_time_t fuzz_now = T0;

static void
fuzz_cleanup(void)
{
    static const char *const files[] = {"psymon.db", "psymon.db-wal", "psymon.db-shm"};
    char path[128];

    store_destroy(&fuzz_store);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, files[i]);
        unlink(path);
    }
    rmdir(fuzz_dir);
}

static void
fuzz_open(void)
{
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz_ingest.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fuzz_dir))
        abort();
    fuzz_store = store_new(fuzz_dir, false);
    if (!fuzz_store)
        abort();
    atexit(fuzz_cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    psy_msg_t m;
    store_apply_result_t res;
    store_status_t st;
    uint64_t before = 0, after = 0;
    int r;

    if (!fuzz_store)
        fuzz_open();
    r = psy_codec_decode(data, size, &m);
    if (r == -EBADMSG || r == -ENOMEM)
        return 0;
    if (r != 0)
        abort();
    fuzz_now += PSY_USEC; /* stored_at never decreases, as in the daemon */
    switch (m.kind) {
    case PSY_MSG_BATCH:
        if (store_acked(fuzz_store, "pc-a", m.u.batch.epoch, &before) != 0)
            abort();
        if (store_apply(fuzz_store, "pc-a", &m.u.batch, fuzz_now, &res) != 0)
            abort();
        if (store_acked(fuzz_store, "pc-a", m.u.batch.epoch, &after) != 0)
            abort();
        if (res.acked != after || after < before)
            abort();
        /* A gap stores nothing; otherwise every record is appended or a duplicate. */
        if (res.gap ? (res.appended != 0 || after != before)
                    : res.appended + res.duplicate != m.u.batch.count)
            abort();
        break;
    case PSY_MSG_HEARTBEAT:
        if (store_heartbeat(fuzz_store, "pc-a", &m.u.heartbeat, fuzz_now) != 0)
            abort();
        if (store_status(fuzz_store, "pc-a", &st) != 0 || st.last_seen != fuzz_now)
            abort();
        break;
    default:
        /* ingest drops an Ack from a collector as malformed; nothing to store. */
        break;
    }
    psy_msg_clear(&m);
    return 0;
}

/*
 * libFuzzer target: one ZeroMQ message body handed to the wire decoder.
 *
 * Whatever decodes must obey every rule of the wire, so it must encode
 * again, and decoding that encoding must give the same message: a decoder
 * that lets a rule slip shows up as an encode refusal or a difference.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psymon/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same(const psy_msg_t *a, const psy_msg_t *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case PSY_MSG_BATCH:
        if (memcmp(a->u.batch.epoch, b->u.batch.epoch, PSY_EPOCH_LEN) != 0 ||
            a->u.batch.first_seq != b->u.batch.first_seq || a->u.batch.count != b->u.batch.count)
            return 0;
        for (size_t i = 0; i < a->u.batch.count; i++)
            if (!psy_record_equal(&a->u.batch.records[i], &b->u.batch.records[i]))
                return 0;
        return 1;
    case PSY_MSG_ACK:
        return memcmp(a->u.ack.epoch, b->u.ack.epoch, PSY_EPOCH_LEN) == 0 &&
               a->u.ack.acked_seq == b->u.ack.acked_seq;
    case PSY_MSG_HEARTBEAT: {
        const psy_heartbeat_t *x = &a->u.heartbeat, *y = &b->u.heartbeat;
        return memcmp(x->epoch, y->epoch, PSY_EPOCH_LEN) == 0 && x->last_seq == y->last_seq &&
               x->backlog == y->backlog && x->spool_bytes == y->spool_bytes &&
               x->rejected == y->rejected && x->spool_full == y->spool_full &&
               x->clock == y->clock && strcmp(x->version, y->version) == 0;
    }
    default:
        return 0;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    psy_msg_t m, again;
    uint8_t *buf;
    size_t len;
    int r;

    r = psy_codec_decode(data, size, &m);
    if (r == -EBADMSG || r == -ENOMEM)
        return 0;
    if (r != 0)
        abort();
    if (psy_codec_encode(&m, &buf, &len) != 0)
        abort();
    if (psy_codec_decode(buf, len, &again) != 0 || !same(&m, &again))
        abort();
    free(buf);
    psy_msg_clear(&again);
    psy_msg_clear(&m);
    return 0;
}

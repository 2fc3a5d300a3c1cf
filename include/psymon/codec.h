/*
 * The wire: psy_msg_t and its protobuf encoding (proto/psymon.proto).
 *
 * proto/codec.c is the only file that touches protobuf-c; every other part
 * of psymon sends and receives psy_msg_t. See proto/README.md for framing,
 * sequence numbers and acknowledgements.
 */
#ifndef PSYMON_CODEC_H
#define PSYMON_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/record.h"

typedef enum {
    PSY_MSG_NONE = 0,
    PSY_MSG_BATCH,     /* collector -> aggregator */
    PSY_MSG_HEARTBEAT, /* collector -> aggregator */
    PSY_MSG_ACK,       /* aggregator -> collector */
} psy_msg_kind_t;

/* Records first_seq, first_seq + 1, ... of the spool identified by epoch. */
typedef struct {
    uint8_t epoch[PSY_EPOCH_LEN];
    uint64_t first_seq; /* >= 1 */
    size_t count;       /* 1..PSY_BATCH_MAX */
    psy_record_t *records;
} psy_batch_t;

/* Every record of `epoch` up to and including `acked_seq` is stored durably. */
typedef struct {
    uint8_t epoch[PSY_EPOCH_LEN];
    uint64_t acked_seq;
} psy_ack_t;

typedef struct {
    uint8_t epoch[PSY_EPOCH_LEN];
    uint64_t last_seq;    /* highest sequence number spooled */
    uint64_t backlog;     /* records spooled and not yet acknowledged */
    uint64_t spool_bytes; /* bytes the spool occupies on disk */
    uint64_t rejected;    /* records rejected since the spool was created */
    bool spool_full;      /* the collector stopped taking inbox files */
    psy_time_t clock;     /* the collector's clock when it sent this */
    char version[PSY_VERSION_MAX + 1];
    /* When it last read an inbox file, in its clock; 0 when none yet (or an older collector). */
    psy_time_t inbox_read;
} psy_heartbeat_t;

typedef struct {
    psy_msg_kind_t kind;
    union {
        psy_batch_t batch;
        psy_ack_t ack;
        psy_heartbeat_t heartbeat;
    } u;
} psy_msg_t;

/*
 * Encodes msg. On success *ret_buf is a malloc'ed buffer (caller frees) of
 * *ret_len bytes. Returns 0, -EINVAL for a message that breaks a limit or
 * holds an out-of-range value, -ENOMEM.
 */
int psy_codec_encode(const psy_msg_t *msg, uint8_t **ret_buf, size_t *ret_len);

/*
 * Decodes len bytes into *ret. Everything is checked: size limits, enum
 * values, field lengths and character sets, required fields, sequence
 * bounds. A batch's records array is malloc'ed; release with
 * psy_msg_clear(). Returns 0, -EBADMSG for anything malformed (ret
 * untouched), -ENOMEM.
 */
int psy_codec_decode(const uint8_t *buf, size_t len, psy_msg_t *ret);

/*
 * Batches from records already encoded, without decoding and encoding them
 * again (the collector forwards what its spool holds). The bytes are those
 * psy_codec_encode() writes: a Message whose Batch holds the epoch, the
 * first sequence and each Record as a length-delimited field.
 */

/* Room psy_codec_batch_head() needs; what psy_codec_batch_put_record() adds to a record. */
#define PSY_CODEC_BATCH_HEAD_MAX  (1 + 10 + 2 + PSY_EPOCH_LEN + 1 + 10)
#define PSY_CODEC_RECORD_OVERHEAD (1 + 10)

/*
 * Finds the Record inside the encoding of a one-record batch of sequence
 * `seq` (what psy_codec_encode() wrote for it), checking the framing only:
 * *ret_rec points into buf. Returns 0 or -EBADMSG.
 */
int psy_codec_batch_record(const uint8_t *buf, size_t len, uint64_t seq, const uint8_t **ret_rec,
                           size_t *ret_len);

/* Writes rec (len bytes of an encoded Record) as one field of a batch at dst; returns the bytes
 * written. */
size_t psy_codec_batch_put_record(uint8_t *dst, const uint8_t *rec, size_t len);

/*
 * Writes into head (PSY_CODEC_BATCH_HEAD_MAX bytes) what precedes
 * body_len bytes of psy_codec_batch_put_record() output to make a whole
 * message; returns its length.
 */
size_t psy_codec_batch_head(uint8_t *head, const uint8_t epoch[PSY_EPOCH_LEN], uint64_t first_seq,
                            size_t body_len);

/* Frees what psy_codec_decode allocated and zeroes msg. Accepts NULL. */
void psy_msg_clear(psy_msg_t *msg);

#endif

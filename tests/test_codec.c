/*
 * codec: round trips of every record type and message kind, and decoding
 * of hostile bytes.
 *
 * Hostile messages are written here byte by byte (tags, varints, lengths)
 * from the field numbers of proto/psymon.proto, not with protobuf-c: only
 * proto/codec.c may use protobuf-c, and a writer of our own can also say
 * what protobuf-c's packer never would. Each crafted base message is first
 * shown to decode, so that a refusal is due to the one change made to it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "psymon/codec.h"

#define T0     (INT64_C(1709298300) * PSY_USEC) /* 2024-03-01T13:05:00Z */
#define ABSENT INT64_MIN

/* A growable byte buffer and the protobuf wire primitives. */
typedef struct {
    uint8_t *d;
    size_t len, cap;
} pb_t;

static void
pb_raw(pb_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        b->d = realloc(b->d, cap);
        assert_non_null(b->d);
        b->cap = cap;
    }
    if (n)
        memcpy(b->d + b->len, p, n);
    b->len += n;
}

static void
pb_varint(pb_t *b, uint64_t v)
{
    uint8_t c;

    do {
        c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        pb_raw(b, &c, 1);
    } while (v);
}

static void
pb_uint(pb_t *b, unsigned field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3 | 0);
    pb_varint(b, v);
}

static void
pb_sint(pb_t *b, unsigned field, int64_t v)
{
    pb_uint(b, field, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void
pb_bytes(pb_t *b, unsigned field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, p, n);
}

static void
pb_str(pb_t *b, unsigned field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

static void
pb_free(pb_t *b)
{
    free(b->d);
    memset(b, 0, sizeof(*b));
}

/* A Record as it may appear on the wire: ABSENT / NULL leaves a field out. */
typedef struct {
    int64_t type;
    const char *id;
    int64_t time;
    int64_t void_;
    const uint8_t *patient;
    size_t patient_len;
    const char *ward, *contact, *referral;
    int64_t mode, legal, outcome, coercion;
    int64_t end;
    int64_t voluntary;
    int64_t role, consult;
    int64_t age, minutes;
    const uint8_t *origin; /* NULL: absent */
    size_t origin_len;
} raw_rec_t;

static const uint8_t PATIENT[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t PATIENT33[33] = {0};
static const uint8_t ORIGIN17[17] = {0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xaf};
static const uint8_t EPOCH[16] = {0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xef};
static const uint8_t EPOCH17[17] = {0};

static raw_rec_t
raw_empty(int64_t type, const char *id)
{
    raw_rec_t r = {
        .type = type,
        .id = id,
        .time = T0,
        .void_ = ABSENT,
        .mode = ABSENT,
        .legal = ABSENT,
        .outcome = ABSENT,
        .coercion = ABSENT,
        .end = ABSENT,
        .voluntary = ABSENT,
        .role = ABSENT,
        .consult = ABSENT,
        .age = ABSENT,
        .minutes = ABSENT,
    };
    return r;
}

/* Valid records of every type, each with every field its type may carry. */
enum { B_ADM, B_DIS, B_COE, B_CON, B_REF, B_TRT, B_VOID, B__COUNT };

static raw_rec_t
raw_base(int which)
{
    raw_rec_t r;

    switch (which) {
    case B_ADM:
        r = raw_empty(PSY_REC_ADMISSION, "A-1001");
        r.contact = "A-1001";
        r.mode = PSY_MODE_ACUTE;
        r.legal = PSY_LEGAL_INVOLUNTARY_YELLOW;
        r.age = 34;
        break;
    case B_DIS:
        r = raw_empty(PSY_REC_DISCHARGE, "D-1001");
        r.contact = "A-1001";
        r.outcome = PSY_OUTCOME_SELF_DISCHARGE;
        break;
    case B_COE:
        r = raw_empty(PSY_REC_COERCION, "C-77");
        r.contact = "A-1001";
        r.coercion = PSY_COERCION_BELT;
        r.end = T0 + 3 * PSY_HOUR;
        r.voluntary = 0;
        break;
    case B_CON:
        r = raw_empty(PSY_REC_CONSULTATION, "K-5");
        r.role = PSY_ROLE_SOCIAL_NURSE;
        r.consult = PSY_CONSULT_ACTION_PLAN;
        r.minutes = 45;
        break;
    case B_REF:
        r = raw_empty(PSY_REC_REFERRAL, "R-9");
        r.age = 17;
        break;
    case B_TRT:
        r = raw_empty(PSY_REC_TREATMENT_START, "T-9");
        r.referral = "R-9";
        break;
    default:
        r = raw_empty(PSY_REC_DISCHARGE, "D-1001");
        r.void_ = 1;
        return r;
    }
    r.patient = PATIENT;
    r.patient_len = sizeof PATIENT;
    r.ward = "M1";
    return r;
}

static void
raw_record(pb_t *b, const raw_rec_t *r)
{
    if (r->type != ABSENT)
        pb_uint(b, 1, (uint64_t)r->type);
    if (r->id)
        pb_str(b, 2, r->id);
    if (r->time != ABSENT)
        pb_sint(b, 3, r->time);
    if (r->void_ != ABSENT)
        pb_uint(b, 4, (uint64_t)r->void_);
    if (r->patient)
        pb_bytes(b, 5, r->patient, r->patient_len);
    if (r->ward)
        pb_str(b, 6, r->ward);
    if (r->contact)
        pb_str(b, 7, r->contact);
    if (r->referral)
        pb_str(b, 8, r->referral);
    const int64_t enums[] = {r->mode, r->legal, r->outcome, r->coercion};
    for (unsigned i = 0; i < 4; i++)
        if (enums[i] != ABSENT)
            pb_uint(b, 9 + i, (uint64_t)enums[i]); /* int32 enums: negative is 10 bytes */
    if (r->end != ABSENT)
        pb_sint(b, 13, r->end);
    if (r->voluntary != ABSENT)
        pb_uint(b, 14, (uint64_t)r->voluntary);
    if (r->role != ABSENT)
        pb_uint(b, 15, (uint64_t)r->role);
    if (r->consult != ABSENT)
        pb_uint(b, 16, (uint64_t)r->consult);
    if (r->age != ABSENT)
        pb_uint(b, 17, (uint64_t)r->age);
    if (r->minutes != ABSENT)
        pb_uint(b, 18, (uint64_t)r->minutes);
    if (r->origin)
        pb_bytes(b, 19, r->origin, r->origin_len);
}

/* Message{batch: Batch{epoch, first_seq, records}}; epoch NULL / first_seq ABSENT leave them out.
 */
static void
raw_batch(pb_t *out, const uint8_t *epoch, size_t epoch_len, int64_t first_seq,
          const raw_rec_t *recs, size_t n)
{
    pb_t batch = {0}, rec = {0};

    if (epoch)
        pb_bytes(&batch, 1, epoch, epoch_len);
    if (first_seq != ABSENT)
        pb_uint(&batch, 2, (uint64_t)first_seq);
    for (size_t i = 0; i < n; i++) {
        rec.len = 0;
        raw_record(&rec, &recs[i]);
        pb_bytes(&batch, 3, rec.d, rec.len);
    }
    pb_bytes(out, 1, batch.d, batch.len);
    pb_free(&batch);
    pb_free(&rec);
}

typedef struct {
    const uint8_t *epoch;
    size_t epoch_len;
    int64_t last_seq, backlog, spool_bytes, rejected, spool_full, clock;
    const char *version;
} raw_hb_t;

static raw_hb_t
raw_hb_base(void)
{
    raw_hb_t h = {EPOCH, 16, 100, 10, 4096, 3, 0, T0, "0.1.0"};
    return h;
}

static void
raw_heartbeat(pb_t *out, const raw_hb_t *h)
{
    pb_t m = {0};

    if (h->epoch)
        pb_bytes(&m, 1, h->epoch, h->epoch_len);
    const int64_t u[] = {h->last_seq, h->backlog, h->spool_bytes, h->rejected, h->spool_full};
    for (unsigned i = 0; i < 5; i++)
        if (u[i] != ABSENT)
            pb_uint(&m, 2 + i, (uint64_t)u[i]);
    if (h->clock != ABSENT)
        pb_sint(&m, 7, h->clock);
    if (h->version)
        pb_str(&m, 8, h->version);
    pb_bytes(out, 2, m.d, m.len);
    pb_free(&m);
}

static void
raw_ack(pb_t *out, const uint8_t *epoch, size_t epoch_len, int64_t acked)
{
    pb_t m = {0};

    if (epoch)
        pb_bytes(&m, 1, epoch, epoch_len);
    if (acked != ABSENT)
        pb_uint(&m, 2, (uint64_t)acked);
    pb_bytes(out, 3, m.d, m.len);
    pb_free(&m);
}

/*
 * Decodes b. On failure, checks that the result was left untouched; on
 * success, frees it unless the caller wants it.
 */
static int
decode(const pb_t *b, psy_msg_t *keep)
{
    psy_msg_t m;

    memset(&m, 0xa5, sizeof m);
    int r = psy_codec_decode(b->d ? b->d : (const uint8_t *)"", b->len, &m);
    if (r < 0) {
        psy_msg_t pristine;
        memset(&pristine, 0xa5, sizeof pristine);
        assert_memory_equal(&m, &pristine, sizeof m);
        return r;
    }
    if (keep)
        *keep = m;
    else
        psy_msg_clear(&m);
    return r;
}

static int
decode_record(const raw_rec_t *r)
{
    pb_t b = {0};

    raw_batch(&b, EPOCH, 16, 1, r, 1);
    int ret = decode(&b, NULL);
    pb_free(&b);
    return ret;
}

/* ------------------------------------------------------------------------ */

static void
fill_patient(psy_record_t *r, uint8_t seed)
{
    r->has_patient = true;
    for (int i = 0; i < PSY_PSEUDONYM_LEN; i++)
        r->patient[i] = (uint8_t)(seed + i * 7);
}

/* One psy_record_t of every type and shape the codec must carry unchanged. */
static size_t
sample_records(psy_record_t *out)
{
    size_t n = 0;
    psy_record_t *r;

    r = &out[n++];
    psy_record_init(r);
    r->type = PSY_REC_ADMISSION;
    r->time = T0;
    strcpy(r->id, "A-1001");
    fill_patient(r, 1);
    strcpy(r->ward, "M1");
    strcpy(r->contact, "A-1001");
    r->mode = PSY_MODE_ACUTE;
    r->legal = PSY_LEGAL_INVOLUNTARY_RED;
    r->age = 0;

    r = &out[n++];
    psy_record_init(r);
    r->type = PSY_REC_ADMISSION;
    r->time = T0 + 1;
    strcpy(r->id, "A:2");
    fill_patient(r, 2);
    /* The longest contact id, every character class of an id. */
    strcpy(r->contact, "contact.x_y:Z-09-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(strlen(r->contact), PSY_ID_MAX);
    r->mode = PSY_MODE_PLANNED;
    r->legal = PSY_LEGAL_VOLUNTARY;
    r->age = PSY_AGE_MAX;

    r = &out[n++];
    psy_record_init(r);
    r->type = PSY_REC_DISCHARGE;
    r->time = T0 + 10 * PSY_DAY;
    strcpy(r->id, "D-1001");
    fill_patient(r, 3);
    strcpy(r->contact, "A-1001");
    r->outcome = PSY_OUTCOME_DEATH;

    r = &out[n++];
    psy_record_init(r);
    r->type = PSY_REC_COERCION;
    r->time = -INT64_C(2208988800) * PSY_USEC; /* 1900-01-01, the earliest instant */
    strcpy(r->id, "C-1");
    fill_patient(r, 4);
    r->coercion = PSY_COERCION_BELT;
    r->voluntary = true;
    r->end = r->time; /* end == time is allowed */

    for (int k = PSY_COERCION_BELT; k < PSY_COERCION__COUNT; k++) {
        r = &out[n++];
        psy_record_init(r);
        r->type = PSY_REC_COERCION;
        r->time = T0 + k * PSY_HOUR;
        snprintf(r->id, sizeof r->id, "C-k%d", k);
        fill_patient(r, (uint8_t)k);
        snprintf(r->ward, sizeof r->ward, "W.%d_x-y", k);
        strcpy(r->contact, "A-1001");
        r->coercion = (psy_coercion_t)k;
        if (k % 2)
            r->end = INT64_C(253402300799) * PSY_USEC; /* 9999-12-31T23:59:59Z */
    }

    for (int role = 1; role < PSY_ROLE__COUNT; role++)
        for (int kind = 1; kind < PSY_CONSULT__COUNT; kind++) {
            r = &out[n++];
            psy_record_init(r);
            r->type = PSY_REC_CONSULTATION;
            r->time = T0 - role * PSY_DAY - kind;
            snprintf(r->id, sizeof r->id, "K-%d-%d", role, kind);
            if (kind % 2)
                fill_patient(r, (uint8_t)(role * kind));
            r->role = (psy_role_t)role;
            r->consult = (psy_consult_t)kind;
            r->minutes = kind == 1 ? PSY_MINUTES_MAX : kind == 2 ? 0 : kind == 3 ? -1 : 30;
        }

    for (int o = 1; o < PSY_OUTCOME__COUNT; o++) {
        r = &out[n++];
        psy_record_init(r);
        r->type = PSY_REC_DISCHARGE;
        r->time = T0;
        snprintf(r->id, sizeof r->id, "D-o%d", o);
        fill_patient(r, 9);
        strcpy(r->contact, "A-1001");
        r->outcome = (psy_outcome_t)o;
    }

    r = &out[n++];
    psy_record_init(r);
    r->type = PSY_REC_REFERRAL;
    r->time = T0;
    strcpy(r->id, "R-9");
    fill_patient(r, 5);
    r->age = 17;

    r = &out[n++];
    psy_record_init(r);
    r->type = PSY_REC_REFERRAL;
    r->time = T0;
    strcpy(r->id, "R-10");
    fill_patient(r, 6);

    r = &out[n++];
    psy_record_init(r);
    r->type = PSY_REC_TREATMENT_START;
    r->time = T0 + PSY_DAY;
    strcpy(r->id, "T-9");
    fill_patient(r, 5);
    strcpy(r->ward, "amb");
    strcpy(r->referral, "R-9");

    /* A void of every type: only type, id and time. */
    for (int t = 1; t < PSY_REC__COUNT; t++) {
        r = &out[n++];
        psy_record_init(r);
        r->type = (psy_rec_type_t)t;
        r->is_void = true;
        r->time = T0 + t;
        snprintf(r->id, sizeof r->id, "V-%d", t);
    }
    return n;
}

static void
test_round_trip_batch(void **state)
{
    psy_record_t recs[128];
    psy_msg_t in = {.kind = PSY_MSG_BATCH}, out;
    uint8_t *buf = NULL;
    size_t len = 0;
    (void)state;

    size_t n = sample_records(recs);
    assert_true(n < 128);
    memcpy(in.u.batch.epoch, EPOCH, 16);
    in.u.batch.first_seq = 12345;
    in.u.batch.count = n;
    in.u.batch.records = recs;

    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    assert_true(len > 0 && len <= PSY_MSG_MAX);
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_int_equal(out.kind, PSY_MSG_BATCH);
    assert_memory_equal(out.u.batch.epoch, EPOCH, 16);
    assert_int_equal(out.u.batch.first_seq, 12345);
    assert_int_equal(out.u.batch.count, n);
    for (size_t i = 0; i < n; i++)
        if (!psy_record_equal(&recs[i], &out.u.batch.records[i]))
            fail_msg("record %zu (%s) differs after the round trip", i, recs[i].id);
    psy_msg_clear(&out);
    assert_int_equal(out.kind, PSY_MSG_NONE);
    assert_null(out.u.batch.records);
    free(buf);

    /* Each record alone, too, so that none depends on a neighbour. */
    for (size_t i = 0; i < n; i++) {
        in.u.batch.count = 1;
        in.u.batch.records = &recs[i];
        /* The highest sequence number a record may have: one must still follow it. */
        in.u.batch.first_seq = UINT64_MAX - 1;
        assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
        assert_int_equal(psy_codec_decode(buf, len, &out), 0);
        assert_int_equal(out.u.batch.first_seq, UINT64_MAX - 1);
        assert_true(psy_record_equal(&recs[i], &out.u.batch.records[0]));
        psy_msg_clear(&out);
        free(buf);
    }
    psy_msg_clear(NULL);
}

/*
 * The origin travels with any record when it is set, and a record without
 * one comes back without one; psy_record_equal does not look at it, so the
 * bytes are compared here.
 */
static void
test_round_trip_origin(void **state)
{
    psy_record_t recs[128];
    psy_msg_t in = {.kind = PSY_MSG_BATCH}, out;
    uint8_t *buf = NULL;
    size_t len = 0, len_plain = 0;
    (void)state;

    size_t n = sample_records(recs);
    memcpy(in.u.batch.epoch, EPOCH, 16);
    in.u.batch.first_seq = 1;
    in.u.batch.count = n;
    in.u.batch.records = recs;
    assert_int_equal(psy_codec_encode(&in, &buf, &len_plain), 0);
    free(buf);

    /* Every other record gets an origin of its own; the rest stay without. */
    for (size_t i = 0; i < n; i += 2) {
        recs[i].has_origin = true;
        for (size_t k = 0; k < PSY_ORIGIN_LEN; k++)
            recs[i].origin[k] = (uint8_t)(0x40 + i + k);
    }
    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    /* Each origin costs its 16 bytes, a tag (2 bytes for field 19) and a length. */
    assert_int_equal(len - len_plain, ((n + 1) / 2) * (PSY_ORIGIN_LEN + 3));
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_int_equal(out.u.batch.count, n);
    for (size_t i = 0; i < n; i++) {
        const psy_record_t *o = &out.u.batch.records[i];
        if (!psy_record_equal(&recs[i], o))
            fail_msg("record %zu (%s) differs after the round trip", i, recs[i].id);
        assert_int_equal(o->has_origin, i % 2 == 0);
        if (i % 2 == 0)
            assert_memory_equal(o->origin, recs[i].origin, PSY_ORIGIN_LEN);
    }
    psy_msg_clear(&out);
    free(buf);

    /* Two records that differ only in their origin are the same registration. */
    psy_record_t a = recs[0], b = recs[0];
    b.origin[0] ^= 0xff;
    assert_true(psy_record_equal(&a, &b));
    b.has_origin = false;
    assert_true(psy_record_equal(&a, &b));
}

/* Absent legal and outcome come back as the defaults of records.md. */
static void
test_defaults(void **state)
{
    psy_record_t r[2];
    psy_msg_t in = {.kind = PSY_MSG_BATCH}, out;
    uint8_t *buf;
    size_t len;
    (void)state;

    psy_record_init(&r[0]);
    r[0].type = PSY_REC_ADMISSION;
    r[0].time = T0;
    strcpy(r[0].id, "A-1");
    strcpy(r[0].contact, "A-1");
    fill_patient(&r[0], 1);
    r[0].mode = PSY_MODE_ACUTE;
    psy_record_init(&r[1]);
    r[1].type = PSY_REC_DISCHARGE;
    r[1].time = T0;
    strcpy(r[1].id, "D-1");
    strcpy(r[1].contact, "A-1");
    fill_patient(&r[1], 1);
    in.u.batch.first_seq = 1;
    in.u.batch.count = 2;
    in.u.batch.records = r;
    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_int_equal(out.u.batch.records[0].legal, PSY_LEGAL_VOLUNTARY);
    assert_int_equal(out.u.batch.records[1].outcome, PSY_OUTCOME_REGULAR);
    assert_int_equal(out.u.batch.records[0].age, -1);
    assert_int_equal(out.u.batch.records[0].end, PSY_TIME_NONE);
    psy_msg_clear(&out);
    free(buf);
}

static void
assert_same_hb_ack(const psy_msg_t *a, const psy_msg_t *b)
{
    assert_int_equal(a->kind, b->kind);
    if (a->kind == PSY_MSG_ACK) {
        assert_memory_equal(a->u.ack.epoch, b->u.ack.epoch, PSY_EPOCH_LEN);
        assert_int_equal(a->u.ack.acked_seq, b->u.ack.acked_seq);
        return;
    }
    const psy_heartbeat_t *x = &a->u.heartbeat, *y = &b->u.heartbeat;
    assert_memory_equal(x->epoch, y->epoch, PSY_EPOCH_LEN);
    assert_int_equal(x->last_seq, y->last_seq);
    assert_int_equal(x->backlog, y->backlog);
    assert_int_equal(x->spool_bytes, y->spool_bytes);
    assert_int_equal(x->rejected, y->rejected);
    assert_int_equal(x->spool_full, y->spool_full);
    assert_int_equal(x->clock, y->clock);
    assert_string_equal(x->version, y->version);
    assert_true(x->inbox_read == y->inbox_read);
}

static void
test_round_trip_heartbeat_ack(void **state)
{
    psy_msg_t in = {.kind = PSY_MSG_HEARTBEAT}, out;
    uint8_t *buf;
    size_t len;
    (void)state;

    psy_heartbeat_t *h = &in.u.heartbeat;
    memcpy(h->epoch, EPOCH, 16);
    h->last_seq = UINT64_MAX;
    h->backlog = UINT64_MAX - 1;
    h->spool_bytes = (uint64_t)1 << 40;
    h->rejected = 7;
    h->spool_full = true;
    h->clock = -5; /* any clock: a wrong one is what the aggregator reports */
    memset(h->version, 'v', PSY_VERSION_MAX);
    h->version[PSY_VERSION_MAX] = '\0';
    h->inbox_read = INT64_C(1764547200123456);
    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_same_hb_ack(&in, &out);
    free(buf);

    /* inbox_read is optional (field 9): left out when 0, as an older collector sends it. */
    {
        size_t with = len, without;
        h->inbox_read = 0;
        assert_int_equal(psy_codec_encode(&in, &buf, &without), 0);
        assert_true(without < with);
        assert_int_equal(psy_codec_decode(buf, without, &out), 0);
        assert_true(out.u.heartbeat.inbox_read == 0);
        free(buf);
    }

    /* All zero / empty. */
    memset(&in, 0, sizeof in);
    in.kind = PSY_MSG_HEARTBEAT;
    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_same_hb_ack(&in, &out);
    free(buf);

    memset(&in, 0, sizeof in);
    in.kind = PSY_MSG_ACK;
    memcpy(in.u.ack.epoch, EPOCH, 16);
    in.u.ack.acked_seq = 987654321987ULL;
    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_same_hb_ack(&in, &out);
    psy_msg_clear(&out);
    free(buf);

    in.u.ack.acked_seq = 0; /* nothing stored yet */
    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_same_hb_ack(&in, &out);
    free(buf);
}

/* What the encoder refuses, leaving the output untouched. */
static void
test_encode_refuses(void **state)
{
    psy_record_t recs[PSY_BATCH_MAX + 1];
    psy_msg_t in = {.kind = PSY_MSG_BATCH};
    uint8_t *buf = (uint8_t *)"untouched";
    size_t len = 4242;
    (void)state;

    for (size_t i = 0; i <= PSY_BATCH_MAX; i++) {
        psy_record_init(&recs[i]);
        recs[i].type = PSY_REC_REFERRAL;
        recs[i].time = T0;
        snprintf(recs[i].id, sizeof recs[i].id, "R-%zu", i);
        fill_patient(&recs[i], (uint8_t)i);
    }
    in.u.batch.first_seq = 1;
    in.u.batch.records = recs;

#define REFUSE(m)                                                                                  \
    do {                                                                                           \
        assert_int_equal(psy_codec_encode(&(m), &buf, &len), -EINVAL);                             \
        assert_string_equal((char *)buf, "untouched");                                             \
        assert_int_equal(len, 4242);                                                               \
    } while (0)

    in.u.batch.count = 0;
    REFUSE(in);
    in.u.batch.count = PSY_BATCH_MAX + 1;
    REFUSE(in);
    in.u.batch.count = SIZE_MAX;
    REFUSE(in);
    in.u.batch.count = 1;
    in.u.batch.first_seq = 0;
    REFUSE(in);
    in.u.batch.count = 2;
    in.u.batch.first_seq = UINT64_MAX - 1; /* the decoder would refuse it */
    REFUSE(in);

    /* The largest batch goes. */
    in.u.batch.first_seq = 1;
    in.u.batch.count = PSY_BATCH_MAX;
    assert_int_equal(psy_codec_encode(&in, &buf, &len), 0);
    psy_msg_t out;
    assert_int_equal(psy_codec_decode(buf, len, &out), 0);
    assert_int_equal(out.u.batch.count, PSY_BATCH_MAX);
    assert_true(
        psy_record_equal(&out.u.batch.records[PSY_BATCH_MAX - 1], &recs[PSY_BATCH_MAX - 1]));
    psy_msg_clear(&out);
    free(buf);
    buf = (uint8_t *)"untouched";
    len = 4242;

    /* A record the decoder would refuse is not sent. */
    in.u.batch.count = 3;
    psy_record_t saved = recs[1];
#define REFUSE_REC(stmt)                                                                           \
    do {                                                                                           \
        recs[1] = saved;                                                                           \
        stmt;                                                                                      \
        REFUSE(in);                                                                                \
    } while (0)
    REFUSE_REC(recs[1].type = PSY_REC_NONE);
    REFUSE_REC(recs[1].type = PSY_REC__COUNT);
    REFUSE_REC(recs[1].age = PSY_AGE_MAX + 1);
    REFUSE_REC(recs[1].id[0] = '\0');
    REFUSE_REC(strcpy(recs[1].id, "no spaces"));
    REFUSE_REC(strcpy(recs[1].ward, "M:1"));
    REFUSE_REC(recs[1].has_patient = false);
    REFUSE_REC(recs[1].mode = PSY_MODE_ACUTE);         /* not a referral's field */
    REFUSE_REC(recs[1].outcome = PSY_OUTCOME_REGULAR); /* nor this */
    REFUSE_REC(recs[1].time = PSY_TIME_NONE);
    REFUSE_REC(recs[1].type = PSY_REC_ADMISSION); /* no mode, no contact */
    REFUSE_REC({
        recs[1].type = PSY_REC_ADMISSION;
        strcpy(recs[1].contact, "A-1");
        recs[1].mode = (psy_mode_t)PSY_MODE__COUNT;
    });
    REFUSE_REC({
        recs[1].type = PSY_REC_COERCION;
        recs[1].coercion = PSY_COERCION_STRAPS;
        recs[1].voluntary = true;
    });
    REFUSE_REC({
        recs[1].type = PSY_REC_COERCION;
        recs[1].age = -1;
        recs[1].coercion = PSY_COERCION_BELT;
        recs[1].end = recs[1].time - 1;
    });
    recs[1] = saved;

    psy_msg_t hb = {.kind = PSY_MSG_HEARTBEAT};
    hb.u.heartbeat.last_seq = 5;
    hb.u.heartbeat.backlog = 6;
    REFUSE(hb);
    hb.u.heartbeat.backlog = 5;
    memset(hb.u.heartbeat.version, 'v', sizeof hb.u.heartbeat.version); /* no NUL */
    REFUSE(hb);
    strcpy(hb.u.heartbeat.version, "0.1\n");
    REFUSE(hb);

    psy_msg_t none = {.kind = PSY_MSG_NONE};
    REFUSE(none);
    psy_msg_t bogus = {.kind = (psy_msg_kind_t)77};
    REFUSE(bogus);
#undef REFUSE
#undef REFUSE_REC
}

/* The crafted base records decode, and to what they say. */
static void
test_crafted_bases_decode(void **state)
{
    raw_rec_t recs[B__COUNT];
    pb_t b = {0};
    psy_msg_t m;
    (void)state;

    for (int i = 0; i < B__COUNT; i++) {
        recs[i] = raw_base(i);
        if (decode_record(&recs[i]) != 0)
            fail_msg("crafted base record %d does not decode", i);
    }
    raw_batch(&b, EPOCH, 16, 7, recs, B__COUNT);
    assert_int_equal(decode(&b, &m), 0);
    assert_int_equal(m.kind, PSY_MSG_BATCH);
    assert_int_equal(m.u.batch.first_seq, 7);
    assert_int_equal(m.u.batch.count, B__COUNT);
    const psy_record_t *a = &m.u.batch.records[B_ADM];
    assert_int_equal(a->type, PSY_REC_ADMISSION);
    assert_string_equal(a->id, "A-1001");
    assert_int_equal(a->time, T0);
    assert_memory_equal(a->patient, PATIENT, 32);
    assert_string_equal(a->ward, "M1");
    assert_int_equal(a->legal, PSY_LEGAL_INVOLUNTARY_YELLOW);
    assert_int_equal(a->age, 34);
    const psy_record_t *c = &m.u.batch.records[B_COE];
    assert_int_equal(c->coercion, PSY_COERCION_BELT);
    assert_int_equal(c->end, T0 + 3 * PSY_HOUR);
    const psy_record_t *v = &m.u.batch.records[B_VOID];
    assert_true(v->is_void);
    assert_false(v->has_patient);
    psy_msg_clear(&m);
    pb_free(&b);

    raw_hb_t h = raw_hb_base();
    raw_heartbeat(&b, &h);
    assert_int_equal(decode(&b, &m), 0);
    assert_int_equal(m.kind, PSY_MSG_HEARTBEAT);
    assert_int_equal(m.u.heartbeat.backlog, 10);
    assert_string_equal(m.u.heartbeat.version, "0.1.0");
    pb_free(&b);

    raw_ack(&b, EPOCH, 16, 99);
    assert_int_equal(decode(&b, &m), 0);
    assert_int_equal(m.kind, PSY_MSG_ACK);
    assert_int_equal(m.u.ack.acked_seq, 99);
    pb_free(&b);
}

/* One change to a valid record, and the whole message is refused. */
static void
test_decode_bad_records(void **state)
{
    raw_rec_t r;
    int n = 0;
    (void)state;

#define BAD(base, stmt)                                                                            \
    do {                                                                                           \
        r = raw_base(base);                                                                        \
        stmt;                                                                                      \
        n++;                                                                                       \
        if (decode_record(&r) != -EBADMSG)                                                         \
            fail_msg("accepted: base %d, " #stmt, base);                                           \
    } while (0)
#define GOOD(base, stmt)                                                                           \
    do {                                                                                           \
        r = raw_base(base);                                                                        \
        stmt;                                                                                      \
        if (decode_record(&r) != 0)                                                                \
            fail_msg("refused: base %d, " #stmt, base);                                            \
    } while (0)

    /* Enumerations out of range, each one alone. */
    BAD(B_ADM, r.type = 0);
    BAD(B_ADM, r.type = PSY_REC__COUNT);
    BAD(B_ADM, r.type = -1);
    BAD(B_ADM, r.type = 1000);
    BAD(B_ADM, r.mode = 0);
    BAD(B_ADM, r.mode = PSY_MODE__COUNT);
    BAD(B_ADM, r.mode = -1);
    BAD(B_ADM, r.legal = 0);
    BAD(B_ADM, r.legal = PSY_LEGAL__COUNT);
    BAD(B_ADM, r.legal = INT32_MIN);
    BAD(B_DIS, r.outcome = 0);
    BAD(B_DIS, r.outcome = PSY_OUTCOME__COUNT);
    BAD(B_COE, r.coercion = 0);
    BAD(B_COE, r.coercion = PSY_COERCION__COUNT);
    BAD(B_COE, r.coercion = INT32_MAX);
    BAD(B_CON, r.role = 0);
    BAD(B_CON, r.role = PSY_ROLE__COUNT);
    BAD(B_CON, r.consult = 0);
    BAD(B_CON, r.consult = PSY_CONSULT__COUNT);
    BAD(B_VOID, r.type = PSY_REC__COUNT);
    GOOD(B_ADM, r.mode = PSY_MODE__COUNT - 1);
    GOOD(B_COE, r.coercion = PSY_COERCION__COUNT - 1);
    GOOD(B_CON, r.consult = PSY_CONSULT__COUNT - 1);

    /* The patient pseudonym is 32 bytes. */
    BAD(B_ADM, r.patient_len = 31);
    BAD(B_ADM, r.patient_len = 0);
    BAD(B_ADM, (r.patient = PATIENT33, r.patient_len = 33));
    BAD(B_CON, r.patient_len = 1);
    /* and required except for consultations */
    BAD(B_ADM, r.patient = NULL);
    BAD(B_DIS, r.patient = NULL);
    BAD(B_COE, r.patient = NULL);
    BAD(B_REF, r.patient = NULL);
    BAD(B_TRT, r.patient = NULL);
    GOOD(B_CON, r.patient = NULL);

    /* Fields that do not belong to the type. */
    BAD(B_ADM, r.outcome = PSY_OUTCOME_REGULAR);
    BAD(B_ADM, r.coercion = PSY_COERCION_BELT);
    BAD(B_ADM, r.referral = "R-1");
    BAD(B_ADM, r.minutes = 5);
    BAD(B_ADM, r.role = PSY_ROLE_OTHER);
    BAD(B_ADM, r.end = T0 + 1);
    BAD(B_DIS, r.mode = PSY_MODE_ACUTE);
    BAD(B_DIS, r.legal = PSY_LEGAL_VOLUNTARY);
    BAD(B_DIS, r.age = 40);
    BAD(B_COE, r.outcome = PSY_OUTCOME_REGULAR);
    BAD(B_COE, r.age = 40);
    BAD(B_COE, r.consult = PSY_CONSULT_OTHER);
    BAD(B_CON, r.contact = "A-1001");
    BAD(B_CON, r.coercion = PSY_COERCION_OTHER);
    BAD(B_CON, r.age = 40);
    BAD(B_CON, r.voluntary = 0);
    BAD(B_REF, r.contact = "A-1001");
    BAD(B_REF, r.referral = "R-0");
    BAD(B_REF, r.mode = PSY_MODE_ACUTE);
    BAD(B_TRT, r.contact = "A-1001");
    BAD(B_TRT, r.age = 3);
    BAD(B_TRT, r.minutes = 3);

    /* The origin is exactly 16 bytes, on any type, a void too. */
    for (int base = 0; base < B__COUNT; base++) {
        GOOD(base, (r.origin = ORIGIN17, r.origin_len = PSY_ORIGIN_LEN));
        BAD(base, (r.origin = ORIGIN17, r.origin_len = PSY_ORIGIN_LEN - 1));
        BAD(base, (r.origin = ORIGIN17, r.origin_len = PSY_ORIGIN_LEN + 1));
        BAD(base, (r.origin = ORIGIN17, r.origin_len = 0));
    }

    /* A void record carries type, id and time only. */
    BAD(B_VOID, (r.patient = PATIENT, r.patient_len = 32));
    BAD(B_VOID, r.ward = "M1");
    BAD(B_VOID, r.contact = "A-1001");
    BAD(B_VOID, r.outcome = PSY_OUTCOME_REGULAR);
    BAD(B_VOID, r.age = 1);
    BAD(B_VOID, r.end = T0);
    BAD(B_VOID, r.voluntary = 0);
    BAD(B_VOID, r.id = NULL);
    BAD(B_VOID, r.time = ABSENT);
    GOOD(B_VOID, r.type = PSY_REC_CONSULTATION);
    GOOD(B_ADM, r.void_ = 0); /* an explicit "not void" */

    /* Required fields. */
    BAD(B_ADM, r.type = ABSENT);
    BAD(B_ADM, r.id = NULL);
    BAD(B_ADM, r.time = ABSENT);
    BAD(B_ADM, r.mode = ABSENT);
    BAD(B_ADM, r.contact = NULL);
    BAD(B_DIS, r.contact = NULL);
    BAD(B_COE, r.coercion = ABSENT);
    BAD(B_CON, r.role = ABSENT);
    BAD(B_CON, r.consult = ABSENT);
    BAD(B_TRT, r.referral = NULL);
    GOOD(B_COE, r.contact = NULL);
    GOOD(B_ADM, r.legal = ABSENT);
    GOOD(B_ADM, r.ward = NULL);

    /* Strings: charset and length. */
    BAD(B_ADM, r.id = "");
    BAD(B_ADM, r.id = "A 1");
    BAD(B_ADM, r.id = "A/1");
    BAD(B_ADM, r.id = "0123456789012345678901234567890123456789012345678901234567890123x");
    GOOD(B_ADM, r.id = "0123456789012345678901234567890123456789012345678901234567890123");
    BAD(B_ADM, r.contact = "");
    BAD(B_ADM, r.contact = "A\xc3\xa6");
    BAD(B_ADM, r.ward = "");
    BAD(B_ADM, r.ward = "M:1");
    BAD(B_ADM, r.ward = "012345678901234567890123456789012");
    GOOD(B_ADM, r.ward = "01234567890123456789012345678901");
    BAD(B_TRT, r.referral = "R 9");

    /* Numbers. */
    BAD(B_ADM, r.age = PSY_AGE_MAX + 1);
    GOOD(B_ADM, r.age = PSY_AGE_MAX);
    GOOD(B_ADM, r.age = 0);
    BAD(B_REF, r.age = 4000000000);
    BAD(B_CON, r.minutes = PSY_MINUTES_MAX + 1);
    GOOD(B_CON, r.minutes = PSY_MINUTES_MAX);

    /* Times: end not before time, both within 1900..9999. */
    BAD(B_COE, r.end = T0 - 1);
    GOOD(B_COE, r.end = T0);
    BAD(B_COE, r.time = INT64_MIN + 1);
    BAD(B_COE, (r.time = INT64_MAX, r.end = ABSENT));
    BAD(B_COE, r.end = INT64_MAX);
    BAD(B_ADM, r.time = -INT64_C(2208988800) * PSY_USEC - 1);
    BAD(B_ADM, r.time = (INT64_C(253402300799) + 1) * PSY_USEC);

    /* voluntary is for belts only. */
    BAD(B_COE, (r.coercion = PSY_COERCION_PHYSICAL_RESTRAINT, r.voluntary = 1));
    BAD(B_COE, (r.coercion = PSY_COERCION_OTHER, r.voluntary = 1));
    GOOD(B_COE, r.voluntary = 1);
    GOOD(B_COE, (r.coercion = PSY_COERCION_STRAPS, r.voluntary = 0));
#undef BAD
#undef GOOD
    assert_true(n > 90);
}

/* A bad record anywhere in a batch refuses the whole batch, without leaking. */
static void
test_decode_bad_record_in_batch(void **state)
{
    raw_rec_t recs[50];
    pb_t b = {0};
    (void)state;

    for (size_t bad = 0; bad < 50; bad += 7) {
        for (size_t i = 0; i < 50; i++)
            recs[i] = raw_base((int)(i % B__COUNT));
        recs[bad].patient_len = 31;
        b.len = 0;
        raw_batch(&b, EPOCH, 16, 1, recs, 50);
        assert_int_equal(decode(&b, NULL), -EBADMSG);
    }
    pb_free(&b);
}

static void
test_decode_batch_envelope(void **state)
{
    raw_rec_t rec[3] = {raw_base(B_REF), raw_base(B_ADM), raw_base(B_VOID)};
    pb_t b = {0};
    (void)state;

#define ENV(want, epoch, elen, seq, n)                                                             \
    do {                                                                                           \
        b.len = 0;                                                                                 \
        raw_batch(&b, epoch, elen, seq, rec, n);                                                   \
        assert_int_equal(decode(&b, NULL), want);                                                  \
    } while (0)
    ENV(0, EPOCH, 16, 1, 1);
    ENV(-EBADMSG, EPOCH, 15, 1, 1);
    ENV(-EBADMSG, EPOCH17, 17, 1, 1);
    ENV(-EBADMSG, EPOCH, 0, 1, 1);
    ENV(-EBADMSG, NULL, 0, 1, 1);
    ENV(-EBADMSG, EPOCH, 16, 0, 1);
    ENV(-EBADMSG, EPOCH, 16, ABSENT, 1);
    ENV(-EBADMSG, EPOCH, 16, 1, 0); /* no records */
    /* The sequence after a batch's last record must exist (no wrap to 0). */
    ENV(0, EPOCH, 16, -2, 1);
    ENV(-EBADMSG, EPOCH, 16, -1, 1);
    ENV(-EBADMSG, EPOCH, 16, -2, 2);
    ENV(0, EPOCH, 16, -4, 3);
    ENV(-EBADMSG, EPOCH, 16, -3, 3);
#undef ENV
    pb_free(&b);
}

/* PSY_BATCH_MAX records decode; one more refuses the batch. */
static void
test_decode_batch_max(void **state)
{
    raw_rec_t *recs = calloc(PSY_BATCH_MAX + 1, sizeof *recs);
    pb_t b = {0};
    psy_msg_t m;
    (void)state;

    assert_non_null(recs);
    for (size_t i = 0; i <= PSY_BATCH_MAX; i++)
        recs[i] = raw_base((int)(i % B__COUNT));
    raw_batch(&b, EPOCH, 16, 1, recs, PSY_BATCH_MAX);
    assert_int_equal(decode(&b, &m), 0);
    assert_int_equal(m.u.batch.count, PSY_BATCH_MAX);
    psy_msg_clear(&m);
    b.len = 0;
    raw_batch(&b, EPOCH, 16, 1, recs, PSY_BATCH_MAX + 1);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    pb_free(&b);
    free(recs);
}

static void
test_decode_heartbeat_ack(void **state)
{
    pb_t b = {0};
    raw_hb_t h;
    (void)state;

#define HB(want, stmt)                                                                             \
    do {                                                                                           \
        h = raw_hb_base();                                                                         \
        stmt;                                                                                      \
        b.len = 0;                                                                                 \
        raw_heartbeat(&b, &h);                                                                     \
        if (decode(&b, NULL) != (want))                                                            \
            fail_msg("heartbeat: " #stmt);                                                         \
    } while (0)
    HB(0, (void)0);
    HB(-EBADMSG, h.epoch_len = 15);
    HB(-EBADMSG, (h.epoch = EPOCH17, h.epoch_len = 17));
    HB(-EBADMSG, h.epoch = NULL);
    HB(-EBADMSG, h.backlog = 101); /* more unacknowledged than spooled */
    HB(0, h.backlog = 100);
    HB(-EBADMSG, h.version = "012345678901234567890123456789012");
    HB(0, h.version = "01234567890123456789012345678901");
    HB(0, h.version = "");
    HB(-EBADMSG, h.version = "0.1\n");
    HB(-EBADMSG, h.version = "0.1\x7f");
    HB(-EBADMSG, h.version = "\xc3\xa6");
    HB(-EBADMSG, h.version = NULL);
    HB(-EBADMSG, h.last_seq = ABSENT);
    HB(-EBADMSG, h.clock = ABSENT);
    HB(-EBADMSG, h.spool_full = ABSENT);
#undef HB

    b.len = 0;
    raw_ack(&b, EPOCH, 15, 1);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    b.len = 0;
    raw_ack(&b, EPOCH17, 17, 1);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    b.len = 0;
    raw_ack(&b, NULL, 0, 1);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    b.len = 0;
    raw_ack(&b, EPOCH, 16, ABSENT);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    pb_free(&b);
}

/* Every proper prefix of a valid message is refused. */
static void
test_decode_truncated(void **state)
{
    raw_rec_t recs[B__COUNT];
    pb_t b = {0}, cut = {0};
    (void)state;

    for (int i = 0; i < B__COUNT; i++)
        recs[i] = raw_base(i);
    raw_batch(&b, EPOCH, 16, 1, recs, B__COUNT);
    raw_hb_t h = raw_hb_base();
    raw_heartbeat(&b, &h);
    raw_ack(&b, EPOCH, 16, 5);
    /* The three concatenated are one Message whose last oneof member wins. */
    psy_msg_t m;
    assert_int_equal(decode(&b, &m), 0);
    assert_int_equal(m.kind, PSY_MSG_ACK);

    pb_t one = {0};
    raw_batch(&one, EPOCH, 16, 1, recs, B__COUNT);
    for (size_t n = 0; n < one.len; n++) {
        cut.len = 0;
        pb_raw(&cut, one.d, n);
        /* The copy is exactly n bytes, so ASan sees any read past the end. */
        uint8_t *exact = malloc(n ? n : 1);
        assert_non_null(exact);
        if (n)
            memcpy(exact, one.d, n);
        memset(&m, 0x5a, sizeof m);
        int r = psy_codec_decode(exact, n, &m);
        free(exact);
        if (r != -EBADMSG)
            fail_msg("prefix of %zu of %zu bytes: %d", n, one.len, r);
    }
    pb_free(&one);
    pb_free(&cut);
    pb_free(&b);

    assert_int_equal(psy_codec_decode((const uint8_t *)"", 0, &m), -EBADMSG);
}

static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Random bytes, and valid messages with random bytes flipped: refused or sane, never a crash. */
static void
test_decode_random(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    uint8_t buf[512];
    psy_msg_t m;
    raw_rec_t recs[B__COUNT];
    pb_t b = {0};
    (void)state;

    for (int i = 0; i < 20000; i++) {
        size_t n = xorshift(&x) % sizeof buf;
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)xorshift(&x);
        int r = psy_codec_decode(buf, n, &m);
        /* A fixed seed: these inputs are the same on every run. */
        assert_int_equal(r, -EBADMSG);
    }

    for (int i = 0; i < B__COUNT; i++)
        recs[i] = raw_base(i);
    raw_batch(&b, EPOCH, 16, 1, recs, B__COUNT);
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        pb_t c = {0};
        pb_raw(&c, b.d, b.len);
        for (int k = 0; k < 1 + i % 4; k++)
            c.d[xorshift(&x) % c.len] ^= (uint8_t)(1u << (xorshift(&x) % 8));
        int r = psy_codec_decode(c.d, c.len, &m);
        assert_true(r == 0 || r == -EBADMSG);
        if (r == 0) {
            accepted++;
            /* Whatever got through obeys every rule, so it encodes again. */
            uint8_t *again;
            size_t alen;
            /* A flipped tag may turn the batch into another kind. */
            assert_true(m.kind == PSY_MSG_BATCH || m.kind == PSY_MSG_ACK ||
                        m.kind == PSY_MSG_HEARTBEAT);
            if (m.kind == PSY_MSG_BATCH)
                assert_true(m.u.batch.count >= 1 && m.u.batch.count <= PSY_BATCH_MAX);
            assert_int_equal(psy_codec_encode(&m, &again, &alen), 0);
            free(again);
            psy_msg_clear(&m);
        }
        pb_free(&c);
    }
    assert_true(accepted < 20000);
    pb_free(&b);
}

/* The size limit is PSY_MSG_MAX bytes, checked before anything is parsed. */
static void
test_decode_size_limit(void **state)
{
    pb_t b = {0};
    (void)state;

    /* A valid ack padded with an unknown field to exactly `total` bytes. */
    for (size_t total = PSY_MSG_MAX - 1; total <= PSY_MSG_MAX + 1; total++) {
        b.len = 0;
        raw_ack(&b, EPOCH, 16, 5);
        size_t head = b.len;
        /* tag of field 15 (1 byte) + 3-byte length + payload */
        size_t payload = total - head - 1 - 3;
        uint8_t *pad = calloc(1, payload);
        assert_non_null(pad);
        pb_bytes(&b, 15, pad, payload);
        free(pad);
        assert_int_equal(b.len, total);
        int r = decode(&b, NULL);
        if (total <= PSY_MSG_MAX)
            assert_int_equal(r, 0);
        else
            assert_int_equal(r, -EBADMSG);
    }
    pb_free(&b);

    uint8_t one = 0;
    psy_msg_t m;
    assert_int_equal(psy_codec_decode(&one, SIZE_MAX, &m), -EBADMSG);
}

/* Wire-level oddities: wrong wire types, lengths past the end, an empty oneof. */
static void
test_decode_wire_oddities(void **state)
{
    pb_t b = {0};
    (void)state;

    /* Message with no body. */
    pb_uint(&b, 15, 1);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    /* batch as a varint instead of a sub-message */
    b.len = 0;
    pb_uint(&b, 1, 5);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    /* a length running past the end */
    b.len = 0;
    pb_varint(&b, 1 << 3 | 2);
    pb_varint(&b, 1000);
    pb_raw(&b, "abc", 3);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    /* a 64-bit length */
    b.len = 0;
    pb_varint(&b, 3 << 3 | 2);
    pb_varint(&b, UINT64_MAX);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    /* an over-long varint */
    b.len = 0;
    pb_varint(&b, 3 << 3 | 0);
    for (int i = 0; i < 11; i++)
        pb_raw(&b, "\xff", 1);
    pb_raw(&b, "\x01", 1);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    /* wire type 7 does not exist */
    b.len = 0;
    pb_varint(&b, 1 << 3 | 7);
    assert_int_equal(decode(&b, NULL), -EBADMSG);
    pb_free(&b);
}

/*
 * A batch put together from one-record batches as the spool holds them
 * (psy_codec_batch_record, _put_record, _head) is byte for byte what
 * psy_codec_encode writes for the whole batch; framing that is not a
 * one-record batch of the expected sequence is refused.
 */
static void
test_raw_batch(void **state)
{
    psy_record_t recs[128];
    psy_msg_t one = {.kind = PSY_MSG_BATCH}, all = {.kind = PSY_MSG_BATCH};
    uint8_t *body = malloc(PSY_MSG_MAX), *buf = NULL, *want = NULL, head[PSY_CODEC_BATCH_HEAD_MAX];
    size_t n = sample_records(recs), body_len = 0, len = 0, want_len = 0, hlen, rlen;
    const uint8_t *rec;
    (void)state;

    assert_non_null(body);
    memcpy(one.u.batch.epoch, EPOCH, 16);
    memcpy(all.u.batch.epoch, EPOCH, 16);
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = 300 + i; /* two-byte varints */
        one.u.batch.first_seq = seq;
        one.u.batch.count = 1;
        one.u.batch.records = &recs[i];
        assert_int_equal(psy_codec_encode(&one, &buf, &len), 0);
        assert_int_equal(psy_codec_batch_record(buf, len, seq + 1, &rec, &rlen), -EBADMSG);
        assert_int_equal(psy_codec_batch_record(buf, len - 1, seq, &rec, &rlen), -EBADMSG);
        assert_int_equal(psy_codec_batch_record(buf, len, seq, &rec, &rlen), 0);
        assert_true(rec > buf && rec + rlen <= buf + len);
        body_len += psy_codec_batch_put_record(body + body_len, rec, rlen);
        free(buf);
    }
    all.u.batch.first_seq = 300;
    all.u.batch.count = n;
    all.u.batch.records = recs;
    assert_int_equal(psy_codec_encode(&all, &want, &want_len), 0);
    hlen = psy_codec_batch_head(head, EPOCH, 300, body_len);
    assert_int_equal(hlen + body_len, want_len);
    assert_memory_equal(head, want, hlen);
    assert_memory_equal(body, want + hlen, body_len);
    /* A whole batch of several records is not a spooled one. */
    assert_int_equal(psy_codec_batch_record(want, want_len, 300, &rec, &rlen), -EBADMSG);
    free(want);
    free(body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_batch),
        cmocka_unit_test(test_round_trip_origin),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_round_trip_heartbeat_ack),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_crafted_bases_decode),
        cmocka_unit_test(test_decode_bad_records),
        cmocka_unit_test(test_decode_bad_record_in_batch),
        cmocka_unit_test(test_decode_batch_envelope),
        cmocka_unit_test(test_decode_batch_max),
        cmocka_unit_test(test_decode_heartbeat_ack),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_random),
        cmocka_unit_test(test_decode_size_limit),
        cmocka_unit_test(test_decode_wire_oddities),
        cmocka_unit_test(test_raw_batch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * codec: psy_msg_t <-> protobuf (psymon.proto). The only file that touches
 * protobuf-c.
 *
 * Decoding trusts nothing: protobuf-c checks the framing but not enum
 * values, lengths or which fields belong together, so every rule of the
 * wire is checked here and a message that breaks one is refused whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psymon.pb-c.h"
#include "psymon/codec.h"

/* Instants outside 1900-01-01 .. 9999-12-31 are not registrations. */
#define TIME_MIN (INT64_C(-2208988800) * PSY_USEC)
#define TIME_MAX (INT64_C(253402300799) * PSY_USEC)

static bool
time_ok(int64_t t)
{
    return t >= TIME_MIN && t <= TIME_MAX;
}

static char *
str_or_null(const char *s)
{
    return s[0] ? (char *)s : NULL;
}

/* Fills pb from r; pointers in pb point into r. */
static void
record_to_pb(const psy_record_t *r, Psymon__Record *pb)
{
    psymon__record__init(pb);
    pb->type = (Psymon__RecordType)r->type;
    pb->id = (char *)r->id;
    pb->time = r->time;
    if (r->has_origin) {
        pb->has_origin = true;
        pb->origin.data = (uint8_t *)r->origin;
        pb->origin.len = PSY_ORIGIN_LEN;
    }
    if (r->is_void) {
        pb->has_void_ = true;
        pb->void_ = true;
        return;
    }
    if (r->has_patient) {
        pb->has_patient = true;
        pb->patient.data = (uint8_t *)r->patient;
        pb->patient.len = PSY_PSEUDONYM_LEN;
    }
    pb->ward = str_or_null(r->ward);
    pb->contact = str_or_null(r->contact);
    pb->referral = str_or_null(r->referral);
#define OPT_ENUM(field, value, none)                                                               \
    if ((value) != (none)) {                                                                       \
        pb->has_##field = true;                                                                    \
        pb->field = (value);                                                                       \
    }
    OPT_ENUM(mode, (Psymon__Mode)r->mode, PSYMON__MODE__MODE_UNSPECIFIED)
    OPT_ENUM(legal, (Psymon__Legal)r->legal, PSYMON__LEGAL__LEGAL_UNSPECIFIED)
    OPT_ENUM(outcome, (Psymon__Outcome)r->outcome, PSYMON__OUTCOME__OUTCOME_UNSPECIFIED)
    OPT_ENUM(coercion, (Psymon__CoercionKind)r->coercion,
             PSYMON__COERCION_KIND__COERCION_KIND_UNSPECIFIED)
    OPT_ENUM(role, (Psymon__Role)r->role, PSYMON__ROLE__ROLE_UNSPECIFIED)
    OPT_ENUM(consultation, (Psymon__ConsultationKind)r->consult,
             PSYMON__CONSULTATION_KIND__CONSULTATION_KIND_UNSPECIFIED)
#undef OPT_ENUM
    if (r->end != PSY_TIME_NONE) {
        pb->has_end = true;
        pb->end = r->end;
    }
    if (r->voluntary) {
        pb->has_voluntary = true;
        pb->voluntary = true;
    }
    if (r->age >= 0) {
        pb->has_age = true;
        pb->age = (uint32_t)r->age;
    }
    if (r->minutes >= 0) {
        pb->has_minutes = true;
        pb->minutes = (uint32_t)r->minutes;
    }
}

static bool
copy_id(const char *src, char *dst, bool required)
{
    if (!src || !src[0])
        return !required;
    size_t len = strlen(src);
    if (!psy_id_valid(src, len))
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

/*
 * Which optional fields each type may carry; anything else on the wire is
 * an error, so two collectors cannot encode one registration two ways.
 */
enum {
    F_PATIENT = 1 << 0,
    F_WARD = 1 << 1,
    F_CONTACT = 1 << 2,
    F_REFERRAL = 1 << 3,
    F_MODE = 1 << 4,
    F_LEGAL = 1 << 5,
    F_OUTCOME = 1 << 6,
    F_COERCION = 1 << 7,
    F_END = 1 << 8,
    F_VOLUNTARY = 1 << 9,
    F_ROLE = 1 << 10,
    F_CONSULT = 1 << 11,
    F_AGE = 1 << 12,
    F_MINUTES = 1 << 13,
};

static const unsigned allowed_fields[PSY_REC__COUNT] = {
    [PSY_REC_ADMISSION] = F_PATIENT | F_WARD | F_CONTACT | F_MODE | F_LEGAL | F_AGE,
    [PSY_REC_DISCHARGE] = F_PATIENT | F_WARD | F_CONTACT | F_OUTCOME,
    [PSY_REC_COERCION] = F_PATIENT | F_WARD | F_CONTACT | F_COERCION | F_END | F_VOLUNTARY,
    [PSY_REC_CONSULTATION] = F_PATIENT | F_WARD | F_ROLE | F_CONSULT | F_MINUTES,
    [PSY_REC_REFERRAL] = F_PATIENT | F_WARD | F_AGE,
    [PSY_REC_TREATMENT_START] = F_PATIENT | F_WARD | F_REFERRAL,
};

static unsigned
present_fields(const Psymon__Record *pb)
{
    return (pb->has_patient ? F_PATIENT : 0) | (pb->ward ? F_WARD : 0) |
           (pb->contact ? F_CONTACT : 0) | (pb->referral ? F_REFERRAL : 0) |
           (pb->has_mode ? F_MODE : 0) | (pb->has_legal ? F_LEGAL : 0) |
           (pb->has_outcome ? F_OUTCOME : 0) | (pb->has_coercion ? F_COERCION : 0) |
           (pb->has_end ? F_END : 0) | (pb->has_voluntary ? F_VOLUNTARY : 0) |
           (pb->has_role ? F_ROLE : 0) | (pb->has_consultation ? F_CONSULT : 0) |
           (pb->has_age ? F_AGE : 0) | (pb->has_minutes ? F_MINUTES : 0);
}

/* Checks one wire record against every rule of records.md and converts it. */
static bool
record_from_pb(const Psymon__Record *pb, psy_record_t *r)
{
    psy_record_init(r);
    if ((int)pb->type <= PSY_REC_NONE || (int)pb->type >= PSY_REC__COUNT)
        return false;
    r->type = (psy_rec_type_t)pb->type;
    if (!copy_id(pb->id, r->id, true) || !time_ok(pb->time))
        return false;
    r->time = pb->time;
    /* Any record, a void too, may say where it was read; if it does, in exactly 16 bytes. */
    if (pb->has_origin) {
        if (pb->origin.len != PSY_ORIGIN_LEN)
            return false;
        r->has_origin = true;
        memcpy(r->origin, pb->origin.data, PSY_ORIGIN_LEN);
    }
    if (pb->has_void_ && pb->void_) {
        /* A void carries nothing but type, id and time. */
        r->is_void = true;
        return present_fields(pb) == 0;
    }

    unsigned present = present_fields(pb);
    if (present & ~allowed_fields[r->type])
        return false;

    if (pb->has_patient) {
        if (pb->patient.len != PSY_PSEUDONYM_LEN)
            return false;
        r->has_patient = true;
        memcpy(r->patient, pb->patient.data, PSY_PSEUDONYM_LEN);
    } else if (r->type != PSY_REC_CONSULTATION) {
        return false;
    }
    if (pb->ward) {
        size_t len = strlen(pb->ward);
        if (!psy_ward_valid(pb->ward, len))
            return false;
        memcpy(r->ward, pb->ward, len + 1);
    }
    bool contact_required = r->type == PSY_REC_ADMISSION || r->type == PSY_REC_DISCHARGE;
    if (!copy_id(pb->contact, r->contact, contact_required))
        return false;
    if (!copy_id(pb->referral, r->referral, r->type == PSY_REC_TREATMENT_START))
        return false;
    if (pb->has_age) {
        if (pb->age > PSY_AGE_MAX)
            return false;
        r->age = (int)pb->age;
    }

    switch (r->type) {
    case PSY_REC_ADMISSION:
        if (!pb->has_mode || (int)pb->mode <= 0 || (int)pb->mode >= PSY_MODE__COUNT)
            return false;
        r->mode = (psy_mode_t)pb->mode;
        r->legal = PSY_LEGAL_VOLUNTARY;
        if (pb->has_legal) {
            if ((int)pb->legal <= 0 || (int)pb->legal >= PSY_LEGAL__COUNT)
                return false;
            r->legal = (psy_legal_t)pb->legal;
        }
        break;
    case PSY_REC_DISCHARGE:
        r->outcome = PSY_OUTCOME_REGULAR;
        if (pb->has_outcome) {
            if ((int)pb->outcome <= 0 || (int)pb->outcome >= PSY_OUTCOME__COUNT)
                return false;
            r->outcome = (psy_outcome_t)pb->outcome;
        }
        break;
    case PSY_REC_COERCION:
        if (!pb->has_coercion || (int)pb->coercion <= 0 || (int)pb->coercion >= PSY_COERCION__COUNT)
            return false;
        r->coercion = (psy_coercion_t)pb->coercion;
        if (pb->has_end) {
            if (!time_ok(pb->end) || pb->end < pb->time)
                return false;
            r->end = pb->end;
        }
        if (pb->has_voluntary && pb->voluntary) {
            if (r->coercion != PSY_COERCION_BELT)
                return false;
            r->voluntary = true;
        }
        break;
    case PSY_REC_CONSULTATION:
        if (!pb->has_role || (int)pb->role <= 0 || (int)pb->role >= PSY_ROLE__COUNT ||
            !pb->has_consultation || (int)pb->consultation <= 0 ||
            (int)pb->consultation >= PSY_CONSULT__COUNT)
            return false;
        r->role = (psy_role_t)pb->role;
        r->consult = (psy_consult_t)pb->consultation;
        if (pb->has_minutes) {
            if (pb->minutes > PSY_MINUTES_MAX)
                return false;
            r->minutes = (int)pb->minutes;
        }
        break;
    default:
        break;
    }
    return true;
}

int
psy_codec_encode(const psy_msg_t *msg, uint8_t **ret_buf, size_t *ret_len)
{
    Psymon__Message m = PSYMON__MESSAGE__INIT;
    Psymon__Batch batch = PSYMON__BATCH__INIT;
    Psymon__Ack ack = PSYMON__ACK__INIT;
    Psymon__Heartbeat hb = PSYMON__HEARTBEAT__INIT;
    Psymon__Record *recs = NULL, **rec_ptrs = NULL;
    int r = 0;

    switch (msg->kind) {
    case PSY_MSG_BATCH: {
        const psy_batch_t *b = &msg->u.batch;
        if (b->count < 1 || b->count > PSY_BATCH_MAX || b->first_seq < 1 ||
            b->first_seq > UINT64_MAX - b->count)
            return -EINVAL;
        recs = calloc(b->count, sizeof(*recs));
        rec_ptrs = calloc(b->count, sizeof(*rec_ptrs));
        if (!recs || !rec_ptrs) {
            r = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < b->count; i++) {
            psy_record_t check;
            record_to_pb(&b->records[i], &recs[i]);
            /* Send nothing the peer's decoder refuses: one such record would
             * hold back every record spooled behind it. */
            if (!record_from_pb(&recs[i], &check)) {
                r = -EINVAL;
                goto out;
            }
            rec_ptrs[i] = &recs[i];
        }
        batch.epoch.data = (uint8_t *)b->epoch;
        batch.epoch.len = PSY_EPOCH_LEN;
        batch.first_seq = b->first_seq;
        batch.n_records = b->count;
        batch.records = rec_ptrs;
        m.body_case = PSYMON__MESSAGE__BODY_BATCH;
        m.batch = &batch;
        break;
    }
    case PSY_MSG_ACK:
        ack.epoch.data = (uint8_t *)msg->u.ack.epoch;
        ack.epoch.len = PSY_EPOCH_LEN;
        ack.acked_seq = msg->u.ack.acked_seq;
        m.body_case = PSYMON__MESSAGE__BODY_ACK;
        m.ack = &ack;
        break;
    case PSY_MSG_HEARTBEAT: {
        const psy_heartbeat_t *h = &msg->u.heartbeat;
        size_t vlen = strnlen(h->version, sizeof(h->version));
        if (vlen > PSY_VERSION_MAX || h->backlog > h->last_seq)
            return -EINVAL;
        for (size_t i = 0; i < vlen; i++)
            if (h->version[i] < 0x20 || h->version[i] > 0x7e)
                return -EINVAL;
        hb.epoch.data = (uint8_t *)h->epoch;
        hb.epoch.len = PSY_EPOCH_LEN;
        hb.last_seq = h->last_seq;
        hb.backlog = h->backlog;
        hb.spool_bytes = h->spool_bytes;
        hb.rejected = h->rejected;
        hb.spool_full = h->spool_full;
        hb.clock = h->clock;
        hb.version = (char *)h->version;
        hb.has_inbox_read = h->inbox_read != 0;
        hb.inbox_read = h->inbox_read;
        m.body_case = PSYMON__MESSAGE__BODY_HEARTBEAT;
        m.heartbeat = &hb;
        break;
    }
    default:
        return -EINVAL;
    }

    size_t len = psymon__message__get_packed_size(&m);
    if (len > PSY_MSG_MAX) {
        r = -EINVAL;
        goto out;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    psymon__message__pack(&m, buf);
    *ret_buf = buf;
    *ret_len = len;
out:
    free(recs);
    free(rec_ptrs);
    return r;
}

/*
 * protobuf-c allocates every submessage, string and byte field of a message
 * it unpacks on its own, and frees each again: for a batch of 1,000 records
 * some 5,000 malloc/free pairs, a fifth of the aggregator's decoding. An
 * arena hands out pieces of one or a few blocks instead (the first sized
 * from the message) and frees them once, when the decoded message was
 * copied out. Nothing of it outlives psy_codec_decode, so the collector's
 * idle memory does not change.
 */
#define ARENA_BLOCK_MIN 1024
#define ARENA_ALIGN     16

typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} arena_block_t;

typedef struct {
    arena_block_t *head;
    size_t next_size; /* of the next block: sized from the message, doubling after */
} arena_t;

static void *
arena_alloc(void *data, size_t size)
{
    arena_t *a = data;
    arena_block_t *b = a->head;

    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!b || b->size - b->used < size) {
        size_t bsize = size > a->next_size ? size : a->next_size;
        arena_block_t *n = malloc(sizeof *n + bsize);
        if (!n)
            return NULL;
        n->size = bsize;
        n->used = 0;
        n->next = b;
        a->head = b = n;
        if (a->next_size < PSY_MSG_MAX)
            a->next_size *= 2;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

static void
arena_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the arena */
}

static void
arena_destroy(arena_t *a)
{
    arena_block_t *b = a->head;

    while (b) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

static bool
epoch_ok(const ProtobufCBinaryData *e)
{
    return e->len == PSY_EPOCH_LEN;
}

int
psy_codec_decode(const uint8_t *buf, size_t len, psy_msg_t *ret)
{
    psy_msg_t out = {0};
    Psymon__Message *m;
    /* A batch unpacks into about twice its wire size; an acknowledgement into a few bytes. */
    arena_t a = {.next_size = 2 * len > ARENA_BLOCK_MIN ? 2 * len : ARENA_BLOCK_MIN};
    ProtobufCAllocator arena = {.alloc = arena_alloc, .free = arena_free, .allocator_data = &a};
    int r = -EBADMSG;

    if (len > PSY_MSG_MAX)
        return -EBADMSG;
    m = psymon__message__unpack(&arena, len, buf);
    if (!m) {
        arena_destroy(&a);
        return -EBADMSG;
    }

    switch (m->body_case) {
    case PSYMON__MESSAGE__BODY_BATCH: {
        const Psymon__Batch *b = m->batch;
        if (!epoch_ok(&b->epoch) || b->first_seq < 1 || b->n_records < 1 ||
            b->n_records > PSY_BATCH_MAX || b->first_seq > UINT64_MAX - b->n_records)
            goto out;
        out.kind = PSY_MSG_BATCH;
        memcpy(out.u.batch.epoch, b->epoch.data, PSY_EPOCH_LEN);
        out.u.batch.first_seq = b->first_seq;
        /* record_from_pb initialises each record: no need to zero them twice. */
        out.u.batch.records = malloc(b->n_records * sizeof(psy_record_t));
        if (!out.u.batch.records) {
            r = -ENOMEM;
            goto out;
        }
        out.u.batch.count = b->n_records;
        for (size_t i = 0; i < b->n_records; i++)
            if (!record_from_pb(b->records[i], &out.u.batch.records[i])) {
                free(out.u.batch.records);
                goto out;
            }
        break;
    }
    case PSYMON__MESSAGE__BODY_ACK:
        if (!epoch_ok(&m->ack->epoch))
            goto out;
        out.kind = PSY_MSG_ACK;
        memcpy(out.u.ack.epoch, m->ack->epoch.data, PSY_EPOCH_LEN);
        out.u.ack.acked_seq = m->ack->acked_seq;
        break;
    case PSYMON__MESSAGE__BODY_HEARTBEAT: {
        const Psymon__Heartbeat *h = m->heartbeat;
        size_t vlen = strlen(h->version);
        if (!epoch_ok(&h->epoch) || vlen > PSY_VERSION_MAX || h->backlog > h->last_seq)
            goto out;
        for (size_t i = 0; i < vlen; i++)
            if (h->version[i] < 0x20 || h->version[i] > 0x7e)
                goto out;
        out.kind = PSY_MSG_HEARTBEAT;
        psy_heartbeat_t *o = &out.u.heartbeat;
        memcpy(o->epoch, h->epoch.data, PSY_EPOCH_LEN);
        o->last_seq = h->last_seq;
        o->backlog = h->backlog;
        o->spool_bytes = h->spool_bytes;
        o->rejected = h->rejected;
        o->spool_full = h->spool_full;
        o->clock = h->clock;
        memcpy(o->version, h->version, vlen + 1);
        o->inbox_read = h->has_inbox_read ? h->inbox_read : 0;
        break;
    }
    default:
        goto out;
    }
    *ret = out;
    r = 0;
out:
    arena_destroy(&a); /* everything unpacked, m too */
    return r;
}

void
psy_msg_clear(psy_msg_t *msg)
{
    if (!msg)
        return;
    if (msg->kind == PSY_MSG_BATCH)
        free(msg->u.batch.records);
    memset(msg, 0, sizeof(*msg));
}

/* ---- batches of records already encoded (protobuf wire format by hand) ---- */

enum {
    WIRE_VARINT = 0,
    WIRE_LEN = 2,
    KEY_MESSAGE_BATCH = (1 << 3) | WIRE_LEN, /* Message.batch */
    KEY_BATCH_EPOCH = (1 << 3) | WIRE_LEN,
    KEY_BATCH_FIRST_SEQ = (2 << 3) | WIRE_VARINT,
    KEY_BATCH_RECORDS = (3 << 3) | WIRE_LEN,
};

static size_t
varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Reads a varint of at most 10 bytes; NULL when it runs past end or is too long. */
static const uint8_t *
get_varint(const uint8_t *p, const uint8_t *end, uint64_t *ret)
{
    uint64_t v = 0;

    for (int shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return p;
        }
    }
    return NULL;
}

int
psy_codec_batch_record(const uint8_t *buf, size_t len, uint64_t seq, const uint8_t **ret_rec,
                       size_t *ret_len)
{
    const uint8_t *p = buf, *end = buf + len, *rec = NULL;
    uint64_t n, key, first = 0;
    size_t rlen = 0;

    if (!buf || len < 2 || *p++ != KEY_MESSAGE_BATCH || !(p = get_varint(p, end, &n)) ||
        n != (uint64_t)(end - p))
        return -EBADMSG;
    while (p < end) {
        if (!(p = get_varint(p, end, &key)))
            return -EBADMSG;
        if ((key & 7) == WIRE_VARINT) {
            if (!(p = get_varint(p, end, &n)))
                return -EBADMSG;
            if (key == KEY_BATCH_FIRST_SEQ)
                first = n;
        } else if ((key & 7) == WIRE_LEN) {
            if (!(p = get_varint(p, end, &n)) || n > (uint64_t)(end - p))
                return -EBADMSG;
            if (key == KEY_BATCH_RECORDS) {
                if (rec)
                    return -EBADMSG; /* one record per spooled batch */
                rec = p;
                rlen = (size_t)n;
            }
            p += n;
        } else {
            return -EBADMSG;
        }
    }
    if (!rec || first != seq || rlen == 0)
        return -EBADMSG;
    *ret_rec = rec;
    *ret_len = rlen;
    return 0;
}

size_t
psy_codec_batch_put_record(uint8_t *dst, const uint8_t *rec, size_t len)
{
    uint8_t *p = dst;

    *p++ = KEY_BATCH_RECORDS;
    p = put_varint(p, len);
    memcpy(p, rec, len);
    return (size_t)(p - dst) + len;
}

size_t
psy_codec_batch_head(uint8_t *head, const uint8_t epoch[PSY_EPOCH_LEN], uint64_t first_seq,
                     size_t body_len)
{
    size_t batch_len = 2 + PSY_EPOCH_LEN + 1 + varint_len(first_seq) + body_len;
    uint8_t *p = head;

    *p++ = KEY_MESSAGE_BATCH;
    p = put_varint(p, batch_len);
    *p++ = KEY_BATCH_EPOCH;
    *p++ = PSY_EPOCH_LEN;
    memcpy(p, epoch, PSY_EPOCH_LEN);
    p += PSY_EPOCH_LEN;
    *p++ = KEY_BATCH_FIRST_SEQ;
    p = put_varint(p, first_seq);
    return (size_t)(p - head);
}

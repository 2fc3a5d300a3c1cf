/*
 * sender: batches, window, acknowledgements and heartbeats over a CURVE
 * DEALER. See sender.h.
 */
#include "sender.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "psymon/codec.h"
#include "psymon/log.h"
#include "psymon/psymon.h"

typedef struct {
    uint64_t first, last;
    psy_time_t sent_at;
} flight_t;

struct sender {
    void *sock;
    void *monitor; /* PAIR receiving the DEALER's connection events */
    bool spool_full;
    psy_time_t inbox_read; /* reported in heartbeats; 0 until a file was read */

    bool rewind;  /* resend everything unacknowledged at the next tick */
    bool hb_due;  /* send a heartbeat at the next tick */
    bool offline; /* the last send found no aggregator connected */
    /* An acknowledgement went back; believed once a later heartbeat's answer says so too. */
    bool suspect;
    uint64_t hb_sent, suspect_hb; /* heartbeats sent in all, and when it went back */
    psy_time_t last_hb;
    int resend_s; /* current resend timeout: doubles while nothing is acknowledged */

    flight_t flight[SENDER_WINDOW];
    size_t nflight;

    /*
     * The next batch, built from the spool's bytes as they are (no decoding
     * and encoding again): PSY_CODEC_BATCH_HEAD_MAX bytes left free for the
     * head, then each record as a field of the Batch. Allocated while there
     * is something to send, freed when there is not: an idle collector
     * holds no batch.
     */
    uint8_t *raw;
    size_t raw_cap, body_len;
    uint64_t first; /* sequence of the first record in it */
    size_t nrecs;
    size_t msg_max; /* PSY_MSG_MAX; tests make it smaller */

    uint64_t batches_sent, acks;

    /*
     * Connection events, so that a refused handshake (a wrong key) repeated
     * on every reconnect is one line and then a count, not a line per try
     * alternating with "disconnected".
     */
    bool connected;          /* a handshake succeeded and no disconnect came since */
    uint64_t hs_failed;      /* failed handshakes since the last success */
    uint64_t hs_failed_told; /* of which the last line told */
    psy_time_t hs_told_at;   /* when that line went out */
};

#define SENDER_HS_REPORT_S 300 /* a still failing handshake is counted in a line this often */

static int
set_int(void *sock, int opt, int v)
{
    return zmq_setsockopt(sock, opt, &v, sizeof v);
}

sender_t *
sender_new(void *zctx, const sender_conf_t *conf)
{
    sender_t *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->resend_s = SENDER_RESEND_S;
    s->msg_max = PSY_MSG_MAX;
    s->sock = zmq_socket(zctx, ZMQ_DEALER);
    int e = 0;
    int64_t maxmsg = PSY_MSG_MAX; /* an answer larger than this drops the connection */
    if (!s->sock) {
        e = errno;
        goto fail;
    }
    if (zmq_setsockopt(s->sock, ZMQ_CURVE_SERVERKEY, conf->server_key, 41) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_CURVE_PUBLICKEY, conf->public_key, 41) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_CURVE_SECRETKEY, conf->secret_key, 41) < 0 ||
        set_int(s->sock, ZMQ_IMMEDIATE, 1) < 0 || set_int(s->sock, ZMQ_LINGER, 0) < 0 ||
        set_int(s->sock, ZMQ_RECONNECT_IVL, 100) < 0 ||
        set_int(s->sock, ZMQ_RECONNECT_IVL_MAX, 10000) < 0 ||
        set_int(s->sock, ZMQ_HEARTBEAT_IVL, 5000) < 0 ||
        set_int(s->sock, ZMQ_HEARTBEAT_TIMEOUT, 15000) < 0 ||
        zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0) {
        e = errno;
        goto fail;
    }
    /* The monitor must exist before connecting, or the first connection goes unseen. */
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://psymon-sender-%p", (void *)s);
    if (zmq_socket_monitor(s->sock, addr,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0) {
        e = errno;
        goto fail;
    }
    s->monitor = zmq_socket(zctx, ZMQ_PAIR);
    if (!s->monitor || set_int(s->monitor, ZMQ_LINGER, 0) < 0 ||
        zmq_connect(s->monitor, addr) < 0) {
        e = errno;
        goto fail;
    }
    if (zmq_connect(s->sock, conf->endpoint) < 0) {
        e = errno;
        goto fail;
    }
    s->hb_due = true;
    return s;
fail:
    sender_destroy(&s);
    errno = e ? e : EINVAL;
    return NULL;
}

void
sender_destroy(sender_t **sp)
{
    if (!sp || !*sp)
        return;
    sender_t *s = *sp;
    if (s->sock) {
        if (s->monitor)
            zmq_socket_monitor(s->sock, NULL, 0);
        zmq_close(s->sock);
    }
    if (s->monitor)
        zmq_close(s->monitor);
    free(s->raw);
    free(s);
    *sp = NULL;
}

void *
sender_socket(sender_t *s)
{
    return s->sock;
}

void
sender_set_spool_full(sender_t *s, bool full)
{
    s->spool_full = full;
}

void
sender_set_inbox_read(sender_t *s, psy_time_t when)
{
    s->inbox_read = when;
}

/* Forgets the records read ahead (they stay in the spool) and frees their buffer. */
static void
drop_buffer(sender_t *s)
{
    s->nrecs = 0;
    s->body_len = 0;
    free(s->raw);
    s->raw = NULL;
    s->raw_cap = 0;
}

void
sender_reset(sender_t *s)
{
    s->nflight = 0;
    drop_buffer(s);
    s->rewind = true;
    s->suspect = false;
}

bool
sender_holds_records(const sender_t *s)
{
    return s->raw != NULL;
}

void
sender_set_msg_max(sender_t *s, size_t bytes)
{
    s->msg_max = bytes < 4096 ? 4096 : bytes > PSY_MSG_MAX ? PSY_MSG_MAX : bytes;
}

uint64_t
sender_batches_sent(const sender_t *s)
{
    return s->batches_sent;
}

uint64_t
sender_handshakes_failed(const sender_t *s)
{
    return s->hs_failed;
}

uint64_t
sender_acks_received(const sender_t *s)
{
    return s->acks;
}

int
sender_transmit(sender_t *s, const uint8_t *buf, size_t len)
{
    if (zmq_send(s->sock, buf, len, ZMQ_DONTWAIT) < 0)
        return -errno;
    return 0;
}

/* Encodes and transmits msg; the encoding is wiped and freed either way. */
static int
send_msg(sender_t *s, const psy_msg_t *msg)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = psy_codec_encode(msg, &buf, &len);
    if (r < 0)
        return r;
    r = sender_transmit(s, buf, len);
    free(buf);
    return r;
}

static int
send_heartbeat(sender_t *s, spool_t *spool, psy_time_t now)
{
    psy_msg_t msg = {.kind = PSY_MSG_HEARTBEAT};
    psy_heartbeat_t *hb = &msg.u.heartbeat;
    memcpy(hb->epoch, spool_epoch(spool), PSY_EPOCH_LEN);
    hb->last_seq = spool_last_seq(spool);
    hb->backlog = spool_last_seq(spool) - spool_acked(spool);
    hb->spool_bytes = spool_bytes(spool);
    hb->rejected = spool_last_mark(spool)->rejected;
    hb->spool_full = s->spool_full;
    hb->clock = now;
    hb->inbox_read = s->inbox_read;
    snprintf(hb->version, sizeof hb->version, "%s", PSYMON_VERSION);
    return send_msg(s, &msg);
}

/*
 * The aggregator holds fewer records of this epoch than it acknowledged
 * before: it lost some (restored from a backup), and without help it would
 * refuse every later batch as leaving a gap. What the spool still holds is
 * sent again under the same numbers, in order; if it no longer holds all of
 * them, -ESTALE tells the caller to start afresh (collector.c reads done/
 * again), since sending the rest first would put newer records before
 * older ones.
 */
static int
on_regression(sender_t *s, spool_t *spool, uint64_t seq)
{
    uint64_t was = spool_acked(spool);
    int64_t lost = spool_unack(spool, seq);
    if (lost < 0)
        return (int)lost;
    s->nflight = 0;
    s->rewind = true;
    s->resend_s = SENDER_RESEND_S;
    if (lost > 0) {
        psy_err("sender: the aggregator holds records of this spool only up to sequence %" PRIu64
                " but had acknowledged %" PRIu64 " (restored from a backup?); %" PRId64
                " of them are no longer in the spool: starting afresh from done/",
                seq, was, lost);
        return -ESTALE;
    }
    psy_warn("sender: the aggregator holds records of this spool only up to sequence %" PRIu64
             " but had acknowledged %" PRIu64 " (restored from a backup?); sending the %" PRIu64
             " records after it again",
             seq, was, was - seq);
    return 0;
}

/* Applies one acknowledgement: persists it and retires the batches it covers. */
static int
on_ack(sender_t *s, spool_t *spool, const psy_ack_t *ack)
{
    if (memcmp(ack->epoch, spool_epoch(spool), PSY_EPOCH_LEN) != 0) {
        psy_debug("sender: ignoring an acknowledgement for another epoch");
        return 0;
    }
    s->acks++;
    if (ack->acked_seq < spool_acked(spool)) {
        /*
         * An acknowledgement of an old connection can still be read after
         * one of the new (the DEALER reads its connections in turn), so one
         * that goes back is believed only when the answer to a heartbeat
         * sent after it goes back too; the aggregator's store never does
         * unless it was restored.
         */
        if (!s->suspect) {
            s->suspect = true;
            s->suspect_hb = s->hb_sent;
            s->hb_due = true;
            return 0;
        }
        if (s->hb_sent == s->suspect_hb)
            return 0;
        s->suspect = false;
        return on_regression(s, spool, ack->acked_seq);
    }
    s->suspect = false;
    if (ack->acked_seq > spool_last_seq(spool)) {
        /*
         * The aggregator holds numbers this spool never gave, or gave to
         * other records: the state folder went back in time (restored, a
         * snapshot) or lost committed records to damage. New records under
         * those numbers would be skipped as held already.
         */
        psy_err("sender: the aggregator holds sequence %" PRIu64
                " of this spool, which ends at %" PRIu64
                " (state folder restored, or damaged?): starting afresh from done/",
                ack->acked_seq, spool_last_seq(spool));
        return -ESTALE;
    }
    uint64_t before = spool_acked(spool);
    int r = spool_ack(spool, ack->acked_seq);
    if (r < 0)
        return r;
    uint64_t acked = spool_acked(spool);
    if (acked > before)
        s->resend_s = SENDER_RESEND_S; /* the aggregator is keeping up again */
    size_t keep = 0;
    for (size_t i = 0; i < s->nflight; i++)
        if (s->flight[i].last > acked)
            s->flight[keep++] = s->flight[i];
    s->nflight = keep;
    return 0;
}

/*
 * Receives every pending message. Acknowledgements that only move forward
 * are folded into the highest of them, so that several arriving together
 * (a window of batches) cost one durable write of the spool's acked
 * sequence, not one each; anything else is applied in order after them.
 */
int
sender_on_readable(sender_t *s, spool_t *spool)
{
    psy_ack_t ahead = {0};
    uint64_t folded = 0; /* acknowledgements folded into `ahead` */
    int r = 0;

    /* Bounded: a peer that floods us cannot keep this loop from returning. */
    for (int budget = 0; budget < 1000; budget++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            if (e != EAGAIN && e != EINTR)
                psy_warn("sender: receive failed: %s", zmq_strerror(e));
            break;
        }
        size_t len = zmq_msg_size(&m);
        psy_msg_t msg;
        r = len == 0 ? -EBADMSG : psy_codec_decode(zmq_msg_data(&m), len, &msg);
        zmq_msg_close(&m);
        if (r < 0) {
            if (len != 0)
                psy_warn("sender: dropped a malformed message from the aggregator");
            r = 0;
            continue;
        }
        if (msg.kind == PSY_MSG_ACK) {
            const psy_ack_t *a = &msg.u.ack;
            bool forward = memcmp(a->epoch, spool_epoch(spool), PSY_EPOCH_LEN) == 0 &&
                           a->acked_seq >= spool_acked(spool) &&
                           a->acked_seq <= spool_last_seq(spool) && !s->suspect;
            if (forward) {
                if (folded == 0 || a->acked_seq > ahead.acked_seq)
                    ahead = *a;
                folded++;
            } else {
                if (folded > 0) {
                    r = on_ack(s, spool, &ahead);
                    s->acks += folded - 1;
                    folded = 0;
                }
                if (r == 0)
                    r = on_ack(s, spool, a);
            }
        } else {
            psy_warn("sender: dropped an unexpected message from the aggregator");
        }
        psy_msg_clear(&msg);
        if (r < 0)
            return r;
    }
    if (folded > 0) {
        r = on_ack(s, spool, &ahead);
        s->acks += folded - 1;
    }
    return r < 0 ? r : 0;
}

/*
 * A handshake failed: one clear line the first time, then, while it keeps
 * failing on every reconnect, a count every SENDER_HS_REPORT_S seconds
 * (libzmq retries every 10 s at most, which would otherwise be a line each
 * time, interleaved with disconnects that the log's repeat filter cannot
 * fold).
 */
static void
on_handshake_failed(sender_t *s, uint16_t event, uint32_t value)
{
    psy_time_t now = psy_time_now();

    s->connected = false;
    s->hs_failed++;
    if (s->hs_failed == 1) {
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            psy_err("sender: the aggregator refused this collector's key (status %u); "
                    "records stay in the spool. Retrying; failures are counted, not logged",
                    value);
        else
            psy_err("sender: the CURVE handshake with the aggregator failed (event 0x%x, value "
                    "%u): check aggregator_public_key. Records stay in the spool. Retrying; "
                    "failures are counted, not logged",
                    event, value);
        s->hs_failed_told = 1;
        s->hs_told_at = now;
    } else if (now - s->hs_told_at >= SENDER_HS_REPORT_S * PSY_USEC) {
        psy_warn("sender: %" PRIu64 " more failed handshakes with the aggregator in %d s (%" PRIu64
                 " since the last success)",
                 s->hs_failed - s->hs_failed_told, (int)((now - s->hs_told_at) / PSY_USEC),
                 s->hs_failed);
        s->hs_failed_told = s->hs_failed;
        s->hs_told_at = now;
    }
}

/* Drains the monitor: a new connection resends what is unacknowledged and a heartbeat. */
static void
drain_monitor(sender_t *s)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, s->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) {
            zmq_msg_init(&addr); /* the peer's address: not needed */
            (void)zmq_msg_recv(&addr, s->monitor, ZMQ_DONTWAIT);
            zmq_msg_close(&addr);
        }
        switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            if (s->hs_failed > 0)
                psy_notice("sender: connected to the aggregator after %" PRIu64
                           " failed handshakes",
                           s->hs_failed);
            else
                psy_notice("sender: connected to the aggregator");
            s->connected = true;
            s->hs_failed = s->hs_failed_told = 0;
            s->hb_due = true;
            s->rewind = true;
            break;
        case ZMQ_EVENT_DISCONNECTED:
            /* After a failed handshake libzmq reports a disconnect too: that one says nothing new.
             */
            if (s->connected)
                psy_notice("sender: disconnected from the aggregator; records stay in the spool");
            s->connected = false;
            break;
        default:
            on_handshake_failed(s, event, value);
            break;
        }
    }
}

/* Makes room for `need` more bytes of batch; false when memory is short. */
static bool
raw_reserve(sender_t *s, size_t need)
{
    size_t want = PSY_CODEC_BATCH_HEAD_MAX + s->body_len + need, cap;
    uint8_t *n;

    if (want <= s->raw_cap)
        return true;
    cap = s->raw_cap ? s->raw_cap : 64 * 1024;
    while (cap < want)
        cap *= 2;
    n = realloc(s->raw, cap);
    if (!n)
        return false;
    s->raw = n;
    s->raw_cap = cap;
    return true;
}

/*
 * Tops up the next batch from the spool with the records' bytes as spooled,
 * stopping at a gap in the sequence or when the next record would take the
 * message over msg_max; that record is left in the spool for the batch
 * after.
 */
static int
fill(sender_t *s, spool_t *spool)
{
    while (s->nrecs < PSY_BATCH_MAX) {
        const uint8_t *rec;
        size_t len;
        uint64_t seq;
        int r = spool_next_raw(spool, &rec, &len, &seq);
        if (r <= 0)
            return r;
        size_t add = len + PSY_CODEC_RECORD_OVERHEAD;
        if (s->nrecs > 0 && (seq != s->first + s->nrecs ||
                             PSY_CODEC_BATCH_HEAD_MAX + s->body_len + add > s->msg_max)) {
            spool_unread(spool, seq);
            return 0;
        }
        if (!raw_reserve(s, add)) {
            psy_warn("sender: out of memory for a batch; trying again");
            drop_buffer(s);
            s->rewind = true; /* the record stays in the spool: the rewind reads it again */
            return 0;
        }
        if (s->nrecs == 0)
            s->first = seq;
        s->body_len +=
            psy_codec_batch_put_record(s->raw + PSY_CODEC_BATCH_HEAD_MAX + s->body_len, rec, len);
        s->nrecs++;
    }
    return 0;
}

/*
 * Sends the batch built by fill(). Returns 1 when sent, 0 when there was
 * nothing to send, -EAGAIN when no aggregator is connected (the batch is
 * kept), or -errno.
 */
static int
send_batch(sender_t *s, spool_t *spool, psy_time_t now)
{
    uint8_t head[PSY_CODEC_BATCH_HEAD_MAX];
    size_t hlen;
    uint8_t *msg;
    int r;

    if (s->nrecs == 0)
        return 0;
    hlen = psy_codec_batch_head(head, spool_epoch(spool), s->first, s->body_len);
    msg = s->raw + PSY_CODEC_BATCH_HEAD_MAX - hlen;
    memcpy(msg, head, hlen);
    r = sender_transmit(s, msg, hlen + s->body_len);
    if (r < 0)
        return r;
    s->flight[s->nflight++] =
        (flight_t){.first = s->first, .last = s->first + s->nrecs - 1, .sent_at = now};
    s->batches_sent++;
    s->nrecs = 0;
    s->body_len = 0;
    return 1;
}

int
sender_tick(sender_t *s, spool_t *spool, psy_time_t now)
{
    drain_monitor(s);
    if (s->hb_due || now - s->last_hb >= SENDER_HEARTBEAT_S * PSY_USEC) {
        int r = send_heartbeat(s, spool, now);
        if (r == 0) {
            s->hb_due = false;
            s->last_hb = now;
            s->hb_sent++;
            if (s->offline) {
                s->offline = false;
                s->rewind = true; /* what was read ahead was dropped */
            }
        } else if (r == -EAGAIN) {
            s->offline = true;
        } else {
            psy_warn("sender: heartbeat not sent: %s", strerror(-r));
        }
    }
    /*
     * No aggregator connected: the records wait in the spool only, not also
     * in memory, and nothing more is read until a heartbeat (tried every
     * turn while offline) finds a connection again.
     */
    if (s->offline) {
        s->hb_due = true;
        drop_buffer(s);
        return 0;
    }
    /*
     * Over a live connection nothing is lost, so a late acknowledgement
     * usually means a busy aggregator: resending everything at a fixed pace
     * would only deepen its queue. Each timeout doubles the next one.
     */
    if (s->nflight > 0 && now - s->flight[0].sent_at >= s->resend_s * PSY_USEC) {
        psy_notice("sender: no acknowledgement for %d s; sending unacknowledged records again",
                   s->resend_s);
        s->resend_s = s->resend_s * 2 > SENDER_RESEND_MAX_S ? SENDER_RESEND_MAX_S : s->resend_s * 2;
        s->rewind = true;
    }
    if (s->rewind) {
        s->nflight = 0;
        s->nrecs = 0;
        s->body_len = 0;
        s->rewind = false;
        int r = spool_rewind(spool);
        if (r < 0)
            return r;
    }
    while (s->nflight < SENDER_WINDOW) {
        int r = fill(s, spool);
        if (r < 0)
            return r;
        r = send_batch(s, spool, now);
        if (r == -EAGAIN) {
            s->offline = true; /* the next turn drops the buffer and probes with heartbeats */
            break;
        }
        if (r < 0) {
            psy_warn("sender: batch not sent: %s", strerror(-r));
            break;
        }
        if (r == 0) {
            drop_buffer(s); /* caught up with the spool: nothing to hold */
            break;
        }
    }
    return 0;
}

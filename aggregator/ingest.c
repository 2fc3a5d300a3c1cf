/*
 * ingest: ROUTER socket, ZAP handler thread, decoding, dispatch, acks.
 *
 * A message from a collector is one frame (after the ROUTER's routing id)
 * holding one encoded psy_msg_t. The center of everything it carries is
 * the center of the key the ZAP handler admitted, never anything sent.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ingest.h"
#include "psymon/log.h"
#include "psymon/time.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* draft option; libzmq 4.3.4 implements it */
#endif

#define ZAP_ENDPOINT      "inproc://zeromq.zap.01"
#define ZAP_FRAMES_MAX    8   /* a CURVE request has 7 */
#define DISPATCH_MAX      256 /* messages handled per ingest_dispatch */
#define PEER_LOG_INTERVAL (60 * PSY_USEC)
#define ZAP_LOG_INTERVAL  (10 * PSY_USEC)
#define USER_ID_MAX       (PSY_CENTER_MAX + 1 + 40)
/*
 * Batches stored in one transaction at most: those already waiting when
 * the ingest thread gets to them, so grouping never delays an
 * acknowledgement, and a group's records (decoded, up to 16,000) stay a
 * few megabytes.
 */
#define GROUP_MAX 16

/* What is remembered per center, for rate-limited logging and the clock flag. */
typedef struct {
    char center[PSY_CENTER_MAX + 1];
    psy_time_t last_log; /* last malformed/denied line */
    psy_time_t last_hb;  /* last heartbeat stored */
    psy_time_t hb_log;   /* last line about heartbeats over the rate */
    uint64_t hb_limited; /* heartbeats dropped since that line */
    psy_time_t gap_log;  /* last line about a batch leaving a gap */
    uint64_t gaps;       /* such batches since that line */
    uint64_t suppressed; /* lines not logged since */
    bool clock_off;
} peer_t;

/* A decoded batch waiting for its group's commit, with whom to acknowledge it to. */
typedef struct {
    zmq_msg_t rid;
    char center[PSY_CENTER_MAX + 1];
    psy_msg_t m;
} pending_t;

struct ingest {
    agg_t *agg;
    store_t *store;
    void *ctx;
    void *router;
    void *zap; /* used only by the ZAP thread once it runs */
    pthread_t zap_thread;
    bool zap_started;
    atomic_bool stopping;
    atomic_bool zap_dead;
    char endpoint[256];
    peer_t peers[PSY_CENTERS_MAX];
    size_t npeers;
    /* Written by the ZAP thread only. */
    psy_time_t zap_last_log;
    uint64_t zap_suppressed;
    /* Batches received and decoded, not yet stored (ingest_dispatch stores them). */
    pending_t group[GROUP_MAX];
    size_t ngroup;
};

/* ---- ZAP (RFC 27) ---- */

static int
zap_send(void *sock, const char *s, size_t len, int more)
{
    return zmq_send(sock, s, len, more ? ZMQ_SNDMORE : 0) < 0 ? -errno : 0;
}

/* Sends the six frames of a ZAP reply. */
static int
zap_reply(void *sock, zmq_msg_t *request_id, const char *code, const char *text,
          const char *user_id)
{
    if (zap_send(sock, "1.0", 3, 1) < 0 ||
        zmq_send(sock, zmq_msg_data(request_id), zmq_msg_size(request_id), ZMQ_SNDMORE) < 0 ||
        zap_send(sock, code, strlen(code), 1) < 0 || zap_send(sock, text, strlen(text), 1) < 0 ||
        zap_send(sock, user_id, strlen(user_id), 1) < 0 || zap_send(sock, "", 0, 0) < 0)
        return -errno;
    return 0;
}

static bool
frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* Logs a refusal, at most once per ZAP_LOG_INTERVAL, so a stranger cannot flood the log. */
static void
zap_log_refusal(ingest_t *in, zmq_msg_t *address, const char *why, const char *key)
{
    psy_time_t now = psy_time_now();
    char addr[64];
    size_t n = zmq_msg_size(address) < sizeof addr - 1 ? zmq_msg_size(address) : sizeof addr - 1;

    if (in->zap_last_log != 0 && now - in->zap_last_log < ZAP_LOG_INTERVAL) {
        in->zap_suppressed++;
        return;
    }
    memcpy(addr, zmq_msg_data(address), n);
    addr[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (addr[i] < 0x20 || addr[i] > 0x7e)
            addr[i] = '?';
    psy_warn("refused a connection from %s: %s%s%s (%" PRIu64 " more refusals not logged)", addr,
             why, key ? " " : "", key ? key : "", in->zap_suppressed);
    in->zap_last_log = now;
    in->zap_suppressed = 0;
}

/*
 * Answers one ZAP request. Returns 0, or a negative errno when the socket
 * failed (ETERM when the context is shutting down).
 */
static int
zap_handle(ingest_t *in)
{
    zmq_msg_t f[ZAP_FRAMES_MAX];
    size_t n = 0;
    int more = 1, r = 0;
    char user_id[USER_ID_MAX + 1];

    while (more) {
        zmq_msg_t *m = &f[n < ZAP_FRAMES_MAX ? n : ZAP_FRAMES_MAX - 1];
        if (n >= ZAP_FRAMES_MAX)
            zmq_msg_close(m); /* a request with too many frames: keep the last slot for draining */
        zmq_msg_init(m);
        if (zmq_msg_recv(m, in->zap, 0) < 0) {
            r = -errno;
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        if (n < ZAP_FRAMES_MAX)
            n++;
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        return r;
    }

    /* version, request id, domain, address, identity, mechanism, credentials */
    if (n < 2) {
        r = 0; /* cannot even answer; REP needs a reply, so send an empty one */
        zmq_send(in->zap, "", 0, 0);
    } else if (n != 7 || !frame_is(&f[0], "1.0")) {
        r = zap_reply(in->zap, &f[1], "500", "bad ZAP request", "");
    } else if (!frame_is(&f[2], INGEST_ZAP_DOMAIN) || !frame_is(&f[5], "CURVE") ||
               zmq_msg_size(&f[6]) != 32) {
        atomic_fetch_add(&in->agg->counters.auth_denied, 1);
        zap_log_refusal(in, &f[3], "not a CURVE client of the psymon domain", NULL);
        r = zap_reply(in->zap, &f[1], "400", "not allowed", "");
    } else {
        char key[41], center[PSY_CENTER_MAX + 1];
        zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
        if (agg_center_by_key(in->agg, key, center)) {
            snprintf(user_id, sizeof user_id, "%s:%s", center, key);
            r = zap_reply(in->zap, &f[1], "200", "OK", user_id);
        } else {
            atomic_fetch_add(&in->agg->counters.auth_denied, 1);
            zap_log_refusal(in, &f[3], "unknown key", key);
            r = zap_reply(in->zap, &f[1], "400", "unknown key", "");
        }
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return r;
}

/*
 * The ZAP thread: answers requests until the context shuts down. Any other
 * way out marks it dead, and ingest_dispatch then tells the daemon to stop,
 * since without a handler no collector could connect (and with option 93
 * none can get in unchecked).
 */
static void *
zap_main(void *arg)
{
    ingest_t *in = arg;
    int r;

    for (;;) {
        r = zap_handle(in);
        if (r == -EINTR || r == -EAGAIN)
            continue;
        if (r < 0)
            break;
    }
    zmq_close(in->zap);
    in->zap = NULL;
    if (!(r == -ETERM && atomic_load(&in->stopping)))
        atomic_store(&in->zap_dead, true);
    return NULL;
}

/* ---- peers: rate-limited logging and the clock flag ---- */

static peer_t *
peer_get(ingest_t *in, const char *center)
{
    peer_t *p;

    for (size_t i = 0; i < in->npeers; i++)
        if (strcmp(in->peers[i].center, center) == 0)
            return &in->peers[i];
    if (in->npeers < PSY_CENTERS_MAX) {
        p = &in->peers[in->npeers++];
    } else {
        /* More centers than a configuration holds (after reloads): forget the oldest. */
        memmove(&in->peers[0], &in->peers[1], sizeof in->peers[0] * (PSY_CENTERS_MAX - 1));
        p = &in->peers[PSY_CENTERS_MAX - 1];
    }
    memset(p, 0, sizeof *p);
    snprintf(p->center, sizeof p->center, "%s", center);
    return p;
}

/* True when a line about this peer may be logged now; else counts it as suppressed. */
static bool
peer_may_log(peer_t *p, psy_time_t now)
{
    if (p->last_log != 0 && now - p->last_log < PEER_LOG_INTERVAL) {
        p->suppressed++;
        return false;
    }
    p->last_log = now;
    return true;
}

/* ---- dispatch ---- */

static void
send_ack(ingest_t *in, zmq_msg_t *rid, const uint8_t epoch[PSY_EPOCH_LEN], uint64_t acked)
{
    psy_msg_t m = {.kind = PSY_MSG_ACK};
    uint8_t *buf = NULL;
    size_t len = 0;

    memcpy(m.u.ack.epoch, epoch, PSY_EPOCH_LEN);
    m.u.ack.acked_seq = acked;
    if (psy_codec_encode(&m, &buf, &len) < 0) {
        psy_err("cannot encode an acknowledgement");
        return;
    }
    /* A peer gone or not reading loses its ack; it resends and gets one then. */
    if (zmq_send(in->router, zmq_msg_data(rid), zmq_msg_size(rid), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(in->router, buf, len, ZMQ_DONTWAIT);
    free(buf);
}

/* Counts, logs and acknowledges what storing one batch did. */
static void
on_batch_stored(ingest_t *in, zmq_msg_t *rid, const char *center, const psy_batch_t *b,
                const store_apply_result_t *res)
{
    agg_counters_t *c = &in->agg->counters;

    if (res->gap) {
        /* A window of batches after a gap each say so: one line a minute per center. */
        peer_t *p = peer_get(in, center);
        psy_time_t now = psy_time_now();
        p->gaps++;
        if (p->gap_log == 0 || now - p->gap_log >= PEER_LOG_INTERVAL) {
            psy_info("%s: batch from sequence %" PRIu64 " leaves a gap after %" PRIu64
                     "; asking for the missing records (%" PRIu64 " such batches since the last "
                     "line)",
                     center, b->first_seq, res->acked, p->gaps);
            p->gap_log = now;
            p->gaps = 0;
        }
    } else {
        atomic_fetch_add(&c->batches, 1);
        atomic_fetch_add(&c->records_stored, res->appended);
        atomic_fetch_add(&c->records_duplicate, res->duplicate);
    }
    send_ack(in, rid, b->epoch, res->acked);
}

/* Stores one batch in a transaction of its own and acknowledges it. */
static void
on_batch(ingest_t *in, zmq_msg_t *rid, const char *center, const psy_batch_t *b)
{
    store_apply_result_t res;
    int r;

    r = store_apply(in->store, center, b, psy_time_now(), &res);
    if (r < 0) {
        atomic_fetch_add(&in->agg->counters.store_errors, 1);
        psy_err("%s: cannot store a batch of %zu records: %s", center, b->count, strerror(-r));
        return;
    }
    on_batch_stored(in, rid, center, b, &res);
    if (res.appended > 0)
        agg_data_changed(in->agg);
}

/*
 * Stores the waiting batches in one transaction (one fsync for all), then
 * acknowledges each: nothing is acknowledged before the commit that holds
 * it returned. When the group cannot be stored, each batch is tried alone,
 * so that one that cannot be stored does not hold back the others.
 */
static void
group_flush(ingest_t *in)
{
    const char *centers[GROUP_MAX];
    const psy_batch_t *batches[GROUP_MAX];
    store_apply_result_t res[GROUP_MAX];
    size_t n = in->ngroup;
    bool changed = false;
    int r;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        centers[i] = in->group[i].center;
        batches[i] = &in->group[i].m.u.batch;
    }
    r = store_apply_many(in->store, n, centers, batches, psy_time_now(), res);
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &in->group[i];
        if (r == 0) {
            on_batch_stored(in, &p->rid, p->center, batches[i], &res[i]);
            changed |= res[i].appended > 0;
        } else {
            on_batch(in, &p->rid, p->center, batches[i]);
        }
        psy_msg_clear(&p->m);
        zmq_msg_close(&p->rid);
    }
    in->ngroup = 0;
    if (changed)
        agg_data_changed(in->agg);
}

static void
on_heartbeat(ingest_t *in, zmq_msg_t *rid, const char *center, const psy_heartbeat_t *hb)
{
    agg_counters_t *c = &in->agg->counters;
    psy_time_t now = psy_time_now();
    peer_t *p = peer_get(in, center);
    bool off;
    int r;

    /*
     * An authenticated collector could otherwise make the store write (and
     * fsync) as fast as it can send: one heartbeat per interval is plenty
     * for last_seen and the clock flag; the rest are counted and dropped.
     */
    if (p->last_hb != 0 && now >= p->last_hb &&
        now - p->last_hb < PSY_HEARTBEAT_MIN_INTERVAL_MS * (PSY_USEC / 1000)) {
        atomic_fetch_add(&c->heartbeats_limited, 1);
        p->hb_limited++;
        if (p->hb_log == 0 || now - p->hb_log >= PEER_LOG_INTERVAL) {
            psy_warn("%s: heartbeats faster than one per %d ms; dropping the excess (%" PRIu64
                     " dropped since the last line)",
                     center, PSY_HEARTBEAT_MIN_INTERVAL_MS, p->hb_limited);
            p->hb_log = now;
            p->hb_limited = 0;
        }
        return;
    }
    p->last_hb = now;
    atomic_fetch_add(&c->heartbeats, 1);
    r = store_heartbeat(in->store, center, hb, now);
    if (r < 0) {
        atomic_fetch_add(&c->store_errors, 1);
        psy_err("%s: cannot store a heartbeat: %s", center, strerror(-r));
    }
    /*
     * Every heartbeat is answered with what is stored of its epoch, so that
     * a collector with nothing to send learns it too when this store went
     * back (restored from a backup) or is ahead of its spool (its state
     * folder went back): collector.md, "Delivery".
     */
    uint64_t acked = 0;
    r = store_acked(in->store, center, hb->epoch, &acked);
    if (r == 0)
        send_ack(in, rid, hb->epoch, acked);
    else
        psy_err("%s: cannot read what is stored of its epoch: %s", center, strerror(-r));
    off = hb->clock > now + INGEST_CLOCK_SKEW_MAX || hb->clock < now - INGEST_CLOCK_SKEW_MAX;
    if (off && !p->clock_off)
        psy_warn("%s: collector clock is off by %+.0f s (more than %d s)", center,
                 (double)(hb->clock - now) / PSY_USEC, (int)(INGEST_CLOCK_SKEW_MAX / PSY_USEC));
    else if (!off && p->clock_off)
        psy_notice("%s: collector clock is back in step", center);
    p->clock_off = off;
}

/*
 * Splits a User-Id "CENTER:KEY" and checks it against the configuration
 * as it stands now. False when the message must be dropped.
 */
static bool
peer_allowed(ingest_t *in, const char *user_id, char center[PSY_CENTER_MAX + 1])
{
    const char *colon;
    size_t n;

    if (!user_id)
        return false;
    colon = strchr(user_id, ':');
    if (!colon || colon == user_id || (n = (size_t)(colon - user_id)) > PSY_CENTER_MAX ||
        strlen(colon + 1) != 40)
        return false;
    memcpy(center, user_id, n);
    center[n] = '\0';
    return agg_key_allowed(in->agg, center, colon + 1);
}

/* Receives and handles one message. Returns 1 when one was handled, 0 when none waited. */
static int
handle_one(ingest_t *in)
{
    agg_counters_t *c = &in->agg->counters;
    zmq_msg_t rid, body;
    char center[PSY_CENTER_MAX + 1] = "";
    psy_msg_t m;
    bool extra = false;
    int r;

    zmq_msg_init(&rid);
    if (zmq_msg_recv(&rid, in->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid);
        return 0;
    }
    zmq_msg_init(&body);
    if (!zmq_msg_more(&rid) || zmq_msg_recv(&body, in->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&body);
        zmq_msg_close(&rid);
        atomic_fetch_add(&c->msgs_malformed, 1);
        return 1;
    }
    /* One frame per message: drain anything more and treat it as malformed. */
    while (zmq_msg_more(&body)) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        r = zmq_msg_recv(&x, in->router, ZMQ_DONTWAIT);
        zmq_msg_close(&x);
        extra = true;
        if (r < 0)
            break;
    }

    if (!peer_allowed(in, zmq_msg_gets(&body, "User-Id"), center)) {
        peer_t *p = peer_get(in, center[0] ? center : "?");
        atomic_fetch_add(&c->msgs_denied, 1);
        if (peer_may_log(p, psy_time_now())) {
            psy_warn("dropped a message from %s: its key is no longer allowed (%" PRIu64
                     " more not logged since the last)",
                     p->center, p->suppressed);
            p->suppressed = 0;
        }
        goto out;
    }

    if (extra) {
        r = -EBADMSG;
    } else {
        r = psy_codec_decode(zmq_msg_data(&body), zmq_msg_size(&body), &m);
    }
    if (r == 0 && m.kind != PSY_MSG_BATCH && m.kind != PSY_MSG_HEARTBEAT) {
        psy_msg_clear(&m);
        r = -EBADMSG;
    }
    if (r < 0) {
        peer_t *p = peer_get(in, center);
        if (r == -ENOMEM) {
            atomic_fetch_add(&c->store_errors, 1);
            psy_err("%s: out of memory decoding a message", center);
            goto out;
        }
        atomic_fetch_add(&c->msgs_malformed, 1);
        if (peer_may_log(p, psy_time_now())) {
            psy_warn("%s: dropped a malformed message of %zu bytes (%" PRIu64
                     " more not logged since the last)",
                     center, zmq_msg_size(&body), p->suppressed);
            p->suppressed = 0;
        }
        goto out;
    }

    if (m.kind == PSY_MSG_BATCH) {
        /* Stored with whatever else is waiting (group_flush), acknowledged after the commit. */
        pending_t *p = &in->group[in->ngroup++];
        zmq_msg_init(&p->rid);
        zmq_msg_move(&p->rid, &rid);
        memcpy(p->center, center, sizeof p->center);
        p->m = m;
        if (in->ngroup == GROUP_MAX)
            group_flush(in);
        goto out;
    }
    /* Heartbeats are answered with what is stored, so what came before them is stored first. */
    group_flush(in);
    on_heartbeat(in, &rid, center, &m.u.heartbeat);
    psy_msg_clear(&m);

out:
    zmq_msg_close(&body);
    zmq_msg_close(&rid);
    return 1;
}

int
ingest_dispatch(ingest_t *in)
{
    for (int i = 0; i < DISPATCH_MAX; i++)
        if (handle_one(in) == 0)
            break;
    group_flush(in);
    return atomic_load(&in->zap_dead) ? -ECONNABORTED : 0;
}

int
ingest_step(ingest_t *in, long timeout_ms)
{
    zmq_pollitem_t item = {.socket = in->router, .events = ZMQ_POLLIN};

    if (zmq_poll(&item, 1, timeout_ms) < 0 && errno != EINTR)
        return -errno;
    return ingest_dispatch(in);
}

/* ---- life cycle ---- */

static int
router_setup(ingest_t *in, const char *listen, const char *secret_z85)
{
    int one = 1, zero = 0;
    int64_t maxmsg = PSY_MSG_MAX;
    int handshake = PSY_HANDSHAKE_MS; /* a stranger cannot hold a half-open handshake long */
    size_t len = sizeof in->endpoint;

    if (zmq_setsockopt(in->router, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
        zmq_setsockopt(in->router, ZMQ_ROUTER_MANDATORY, &zero, sizeof zero) < 0 ||
        zmq_setsockopt(in->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        zmq_setsockopt(in->router, ZMQ_HANDSHAKE_IVL, &handshake, sizeof handshake) < 0 ||
        zmq_setsockopt(in->router, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(in->router, ZMQ_CURVE_SECRETKEY, secret_z85, 40) < 0 ||
        zmq_setsockopt(in->router, ZMQ_ZAP_DOMAIN, INGEST_ZAP_DOMAIN, strlen(INGEST_ZAP_DOMAIN)) <
            0 ||
        zmq_setsockopt(in->router, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) < 0)
        return -errno;
    if (zmq_bind(in->router, listen) < 0)
        return -errno;
    if (zmq_getsockopt(in->router, ZMQ_LAST_ENDPOINT, in->endpoint, &len) < 0)
        snprintf(in->endpoint, sizeof in->endpoint, "%s", listen);
    return 0;
}

ingest_t *
ingest_new(agg_t *agg, store_t *store, const char *secret_z85)
{
    char listen[PSY_NAME_MAX + 1];
    ingest_t *in;
    int r;

    if (!agg || !store || !secret_z85 || strlen(secret_z85) != 40) {
        errno = EINVAL;
        return NULL;
    }
    in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->agg = agg;
    in->store = store;
    atomic_init(&in->stopping, false);
    atomic_init(&in->zap_dead, false);
    pthread_mutex_lock(&agg->lock);
    snprintf(listen, sizeof listen, "%s", agg->conf->listen);
    pthread_mutex_unlock(&agg->lock);

    in->ctx = zmq_ctx_new();
    if (!in->ctx)
        goto fail;
    /* The handler is bound before the ROUTER, so no handshake can miss it. */
    in->zap = zmq_socket(in->ctx, ZMQ_REP);
    if (!in->zap)
        goto fail;
    {
        int zero = 0;
        zmq_setsockopt(in->zap, ZMQ_LINGER, &zero, sizeof zero);
    }
    if (zmq_bind(in->zap, ZAP_ENDPOINT) < 0)
        goto fail;
    r = pthread_create(&in->zap_thread, NULL, zap_main, in);
    if (r != 0) {
        errno = r;
        goto fail;
    }
    in->zap_started = true;

    in->router = zmq_socket(in->ctx, ZMQ_ROUTER);
    if (!in->router)
        goto fail;
    r = router_setup(in, listen, secret_z85);
    if (r < 0) {
        errno = -r;
        goto fail;
    }
    return in;

fail:
    r = errno;
    ingest_destroy(&in);
    errno = r;
    return NULL;
}

void
ingest_destroy(ingest_t **inp)
{
    ingest_t *in;

    if (!inp || !*inp)
        return;
    in = *inp;
    /* What was received and not stored is not acknowledged: its collector sends it again. */
    for (size_t i = 0; i < in->ngroup; i++) {
        psy_msg_clear(&in->group[i].m);
        zmq_msg_close(&in->group[i].rid);
    }
    atomic_store(&in->stopping, true);
    if (in->router)
        zmq_close(in->router);
    if (in->ctx) {
        /* Wakes the ZAP thread's blocking receive with ETERM. */
        zmq_ctx_shutdown(in->ctx);
        if (in->zap_started)
            pthread_join(in->zap_thread, NULL);
        else if (in->zap)
            zmq_close(in->zap);
        zmq_ctx_term(in->ctx);
    }
    free(in);
    *inp = NULL;
}

const char *
ingest_endpoint(const ingest_t *in)
{
    return in->endpoint;
}

void *
ingest_socket(ingest_t *in)
{
    return in->router;
}

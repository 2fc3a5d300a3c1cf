/*
 * sender: the collector's delivery of its spool, driven with a fake clock
 * (the `now` of sender_tick) against a real spool in a temporary folder and
 * a real CURVE ROUTER in this process playing the aggregator: it decodes
 * what the DEALER sends and answers with acknowledgements.
 *
 * Connections are asynchronous, so every wait on the network is a bounded
 * loop of sender_tick and zmq_poll that fails the test when it runs out;
 * no assertion depends on real time. To know that the ROUTER has received
 * everything the sender sent so far, the test hands a marker message to
 * sender_transmit() and reads until the marker arrives: one connection
 * keeps the order of its messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "psymon/codec.h"
#include "psymon/log.h"
#include "psymon/psymon.h"
#include "sender.h"
#include "spool.h"

#define T0    (INT64_C(1709300000) * PSY_USEC) /* 2024-03-01: the fake clock starts here */
#define SEC   PSY_USEC
#define TRIES 1000 /* rounds of 10 ms: no wait on the network lasts longer than 10 s */

/* What the test hands to sender_transmit() to learn that the ROUTER has read everything before. */
static const uint8_t marker[] = "test_sender: sync marker";

/* ---- what the ROUTER received ---- */

#define GOT_MAX 64

typedef struct {
    psy_msg_t m[GOT_MAX];
    size_t len[GOT_MAX]; /* encoded bytes of each message */
    size_t n, batches, heartbeats;
} got_t;

static void
got_clear(got_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        psy_msg_clear(&g->m[i]);
    memset(g, 0, sizeof *g);
}

/* ---- fixture ---- */

typedef struct {
    char dir[64];
    void *zctx;
    void *router;
    char server_pub[41], server_sec[41];
    sender_conf_t conf;
    spool_t *spool;
    sender_t *sender;
    uint8_t peer[256]; /* the DEALER's routing id, learnt from its messages */
    size_t peer_len;
} fixture_t;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A CURVE server ROUTER bound to `endpoint`, as the aggregator's. */
static void *
router_new(fixture_t *f, const char *endpoint)
{
    int one = 1, zero = 0;
    void *r = zmq_socket(f->zctx, ZMQ_ROUTER);

    assert_non_null(r);
    assert_int_equal(zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, f->server_sec, 41), 0);
    assert_int_equal(zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero), 0);
    /* An acknowledgement that cannot be routed is an error, not silently dropped. */
    assert_int_equal(zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof one), 0);
    /* A port just released (a ROUTER closed a moment ago) may take a moment to be free. */
    for (int i = 0; i < TRIES && zmq_bind(r, endpoint) < 0; i++) {
        assert_int_equal(errno, EADDRINUSE);
        usleep(10 * 1000);
    }
    size_t len = sizeof f->conf.endpoint;
    char bound[sizeof f->conf.endpoint];
    assert_int_equal(zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, bound, &len), 0);
    if (strchr(endpoint, '*') == NULL)
        assert_string_equal(bound, endpoint);
    return r;
}

/* A TCP port on 127.0.0.1 that nobody listens on (the kernel's choice, released at once). */
static void
free_endpoint(char *buf, size_t size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
    close(fd);
    snprintf(buf, size, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
}

/* Spool, keys and context; with_router binds the aggregator before the sender connects. */
static int
setup_common(void **state, bool with_router)
{
    fixture_t *f = calloc(1, sizeof *f);
    char cpub[41], csec[41];

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_sender.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->spool = spool_open(f->dir, NULL);
    assert_non_null(f->spool);
    f->zctx = zmq_ctx_new();
    assert_non_null(f->zctx);
    assert_int_equal(zmq_curve_keypair(f->server_pub, f->server_sec), 0);
    assert_int_equal(zmq_curve_keypair(cpub, csec), 0);

    if (with_router) {
        size_t elen = sizeof f->conf.endpoint;
        f->router = router_new(f, "tcp://127.0.0.1:*");
        assert_int_equal(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->conf.endpoint, &elen), 0);
    } else {
        free_endpoint(f->conf.endpoint, sizeof f->conf.endpoint);
    }
    memcpy(f->conf.server_key, f->server_pub, 41);
    memcpy(f->conf.public_key, cpub, 41);
    memcpy(f->conf.secret_key, csec, 41);
    f->sender = sender_new(f->zctx, &f->conf);
    assert_non_null(f->sender);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_common(state, true);
}

static int
setup_offline(void **state)
{
    return setup_common(state, false);
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    sender_destroy(&f->sender);
    assert_null(f->sender);
    sender_destroy(&f->sender); /* NULL is accepted */
    spool_destroy(&f->spool);
    if (f->router)
        zmq_close(f->router);
    zmq_ctx_term(f->zctx);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- records ---- */

/* A valid admission numbered i (its sequence number in a fresh spool). */
static psy_record_t
make_rec(uint64_t i)
{
    psy_record_t r;

    psy_record_init(&r);
    r.type = PSY_REC_ADMISSION;
    snprintf(r.id, sizeof r.id, "A-%" PRIu64, i);
    snprintf(r.contact, sizeof r.contact, "A-%" PRIu64, i);
    r.time = T0 - PSY_DAY + (psy_time_t)i * SEC;
    r.has_patient = true;
    memset(r.patient, (int)(i & 0xff), sizeof r.patient);
    r.mode = PSY_MODE_ACUTE;
    r.legal = PSY_LEGAL_VOLUNTARY;
    snprintf(r.ward, sizeof r.ward, "M1");
    return r;
}

/* Fills buf (size bytes: value plus NUL) with the longest value: a prefix, then 'x'. */
static void
fill_longest(char *buf, size_t size, const char *prefix)
{
    size_t n = strlen(prefix);

    memset(buf, 'x', size - 1);
    memcpy(buf, prefix, n);
    buf[size - 1] = '\0';
}

/*
 * The longest record records.md allows: a coercion (the type with the most
 * fields) with id, contact and ward at their limits, a pseudonym, an end
 * and the voluntary flag.
 */
static psy_record_t
make_long_rec(uint64_t i)
{
    psy_record_t r;
    char prefix[32];

    psy_record_init(&r);
    r.type = PSY_REC_COERCION;
    snprintf(prefix, sizeof prefix, "C-%" PRIu64 "-", i);
    fill_longest(r.id, sizeof r.id, prefix);
    snprintf(prefix, sizeof prefix, "A-%" PRIu64 "-", i);
    fill_longest(r.contact, sizeof r.contact, prefix);
    fill_longest(r.ward, sizeof r.ward, "W-");
    r.time = T0 - PSY_DAY + (psy_time_t)i * SEC;
    r.end = r.time + PSY_HOUR;
    r.has_patient = true;
    memset(r.patient, 0xa5 ^ (int)(i & 0xff), sizeof r.patient);
    r.coercion = PSY_COERCION_BELT;
    r.voluntary = true;
    return r;
}

/* Appends records from..from+n-1 (make_rec or make_long_rec) and commits them. */
static void
spool_n(fixture_t *f, uint64_t from, uint64_t n, bool longest)
{
    for (uint64_t i = from; i < from + n; i++) {
        psy_record_t r = longest ? make_long_rec(i) : make_rec(i);
        uint64_t seq = 0;
        assert_int_equal(spool_append(f->spool, &r, &seq), 0);
        assert_int_equal(seq, i);
    }
    assert_int_equal(spool_commit(f->spool), 0);
}

/* A batch of this spool's epoch whose records are exactly what was spooled. */
static void
check_batch(fixture_t *f, const psy_batch_t *b, bool longest)
{
    assert_memory_equal(b->epoch, spool_epoch(f->spool), PSY_EPOCH_LEN);
    assert_true(b->count >= 1 && b->count <= PSY_BATCH_MAX);
    assert_true(b->first_seq >= 1 && b->first_seq + b->count - 1 <= spool_last_seq(f->spool));
    for (size_t k = 0; k < b->count; k++) {
        psy_record_t want = longest ? make_long_rec(b->first_seq + k) : make_rec(b->first_seq + k);
        assert_true(psy_record_equal(&b->records[k], &want));
    }
}

/* ---- the ROUTER's side ---- */

/*
 * Reads one message within timeout_ms. Returns 0 when none came, 1 for a
 * message (decoded into g), 2 for the marker. Everything the sender sends
 * must decode.
 */
static int
recv_one(fixture_t *f, got_t *g, int timeout_ms)
{
    zmq_pollitem_t it = {.socket = f->router, .events = ZMQ_POLLIN};
    zmq_msg_t id, body;
    int more = 0;
    size_t mlen = sizeof more;

    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    zmq_msg_init(&id);
    assert_true(zmq_msg_recv(&id, f->router, 0) >= 0);
    assert_true(zmq_msg_more(&id));
    assert_true(zmq_msg_size(&id) <= sizeof f->peer);
    memcpy(f->peer, zmq_msg_data(&id), zmq_msg_size(&id));
    f->peer_len = zmq_msg_size(&id);
    zmq_msg_close(&id);

    zmq_msg_init(&body);
    assert_true(zmq_msg_recv(&body, f->router, 0) >= 0);
    assert_int_equal(zmq_getsockopt(f->router, ZMQ_RCVMORE, &more, &mlen), 0);
    assert_int_equal(more, 0); /* one frame per message */
    size_t len = zmq_msg_size(&body);
    if (len == sizeof marker && memcmp(zmq_msg_data(&body), marker, len) == 0) {
        zmq_msg_close(&body);
        return 2;
    }
    assert_true(len <= PSY_MSG_MAX);
    assert_true(g->n < GOT_MAX);
    psy_msg_t *m = &g->m[g->n];
    assert_int_equal(psy_codec_decode(zmq_msg_data(&body), len, m), 0);
    zmq_msg_close(&body);
    g->len[g->n++] = len;
    if (m->kind == PSY_MSG_BATCH)
        g->batches++;
    else if (m->kind == PSY_MSG_HEARTBEAT)
        g->heartbeats++;
    else
        fail_msg("the collector sent a message of kind %d", (int)m->kind);
    return 1;
}

/* Adds to g everything the sender has handed to libzmq so far. */
static void
drain(fixture_t *f, got_t *g)
{
    assert_int_equal(sender_transmit(f->sender, marker, sizeof marker), 0);
    for (int i = 0; i < TRIES; i++) {
        int r = recv_one(f, g, 10);
        if (r == 2)
            return;
    }
    fail_msg("the marker never reached the ROUTER");
}

/* One sender_tick at `now`, then everything it sent. */
static void
tick_drain(fixture_t *f, psy_time_t now, got_t *g)
{
    assert_int_equal(sender_tick(f->sender, f->spool, now), 0);
    drain(f, g);
}

/*
 * Ticks at `now` until the sender's first message arrives (the connection
 * is up), then lets the connection settle: the DEALER's "handshake
 * succeeded" event can reach the sender a moment after its first send,
 * and makes it send a heartbeat and everything unacknowledged once more.
 * Everything received is added to g.
 */
static void
connect_at(fixture_t *f, psy_time_t now, got_t *g)
{
    int i;

    for (i = 0; i < TRIES; i++) {
        assert_int_equal(sender_tick(f->sender, f->spool, now), 0);
        if (recv_one(f, g, 10) == 1)
            break;
    }
    if (i == TRIES)
        fail_msg("the sender never connected to %s", f->conf.endpoint);
    drain(f, g);
    for (i = 0; i < 4; i++) {
        usleep(25 * 1000);
        tick_drain(f, now, g);
    }
    /* The first tick after connecting sends a heartbeat before anything else. */
    assert_true(g->n >= 1);
    assert_int_equal(g->m[0].kind, PSY_MSG_HEARTBEAT);
}

static void
send_frame(fixture_t *f, const void *buf, size_t len)
{
    assert_true(f->peer_len > 0);
    assert_int_equal(zmq_send(f->router, f->peer, f->peer_len, ZMQ_SNDMORE), (int)f->peer_len);
    assert_int_equal(zmq_send(f->router, buf, len, 0), (int)len);
}

static void
send_msg(fixture_t *f, const psy_msg_t *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(psy_codec_encode(m, &buf, &len), 0);
    send_frame(f, buf, len);
    free(buf);
}

static void
send_ack(fixture_t *f, const uint8_t *epoch, uint64_t seq)
{
    psy_msg_t m = {.kind = PSY_MSG_ACK};

    memcpy(m.u.ack.epoch, epoch, PSY_EPOCH_LEN);
    m.u.ack.acked_seq = seq;
    send_msg(f, &m);
}

/* Lets the sender read until it has counted n acknowledgements of its epoch. */
static void
wait_acks(fixture_t *f, uint64_t n)
{
    zmq_pollitem_t it = {.socket = sender_socket(f->sender), .events = ZMQ_POLLIN};

    for (int i = 0; i < TRIES && sender_acks_received(f->sender) < n; i++) {
        assert_true(zmq_poll(&it, 1, 10) >= 0);
        assert_int_equal(sender_on_readable(f->sender, f->spool), 0);
    }
    assert_int_equal(sender_acks_received(f->sender), n);
}

/* Lets the sender read until sender_on_readable() returns `want` (0 or a negative errno). */
static void
readable_until(fixture_t *f, int want)
{
    zmq_pollitem_t it = {.socket = sender_socket(f->sender), .events = ZMQ_POLLIN};

    for (int i = 0; i < TRIES; i++) {
        assert_true(zmq_poll(&it, 1, 10) >= 0);
        int r = sender_on_readable(f->sender, f->spool);
        if (r == want && (want != 0 || (it.revents & ZMQ_POLLIN)))
            return;
        assert_int_equal(r, 0);
    }
    fail_msg("sender_on_readable never returned %d", want);
}

/* The acknowledged sequence as persisted in the spool's "acked" file. */
static uint64_t
acked_on_disk(fixture_t *f)
{
    char path[128], hex[33];
    unsigned long long v = 0;

    snprintf(path, sizeof path, "%s/acked", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "epoch %32s acked_seq %llu", hex, &v), 2);
    fclose(fp);
    return v;
}

/* ---- 1, 2: the window, acknowledgements, the buffer given back ---- */

static void
test_window_and_ack(void **state)
{
    fixture_t *f = *state;
    const uint64_t total = SENDER_WINDOW * PSY_BATCH_MAX + PSY_BATCH_MAX / 2;
    got_t g = {0};

    connect_at(f, T0, &g);
    assert_int_equal(g.batches, 0);
    got_clear(&g);
    spool_n(f, 1, total, false);

    /* A full window and no more: contiguous batches of PSY_BATCH_MAX records. */
    tick_drain(f, T0, &g);
    assert_int_equal(g.heartbeats, 0);
    assert_int_equal(g.batches, SENDER_WINDOW);
    for (size_t i = 0; i < g.n; i++) {
        const psy_batch_t *b = &g.m[i].u.batch;
        assert_int_equal(b->first_seq, 1 + i * PSY_BATCH_MAX);
        assert_int_equal(b->count, PSY_BATCH_MAX);
        check_batch(f, b, false);
    }
    assert_int_equal(sender_batches_sent(f->sender), SENDER_WINDOW);
    got_clear(&g);
    tick_drain(f, T0, &g);
    assert_int_equal(g.n, 0);

    /* Two batches acknowledged: persisted, and the rest of the spool goes out. */
    send_ack(f, spool_epoch(f->spool), 2 * PSY_BATCH_MAX);
    wait_acks(f, 1);
    assert_int_equal(spool_acked(f->spool), 2 * PSY_BATCH_MAX);
    assert_int_equal(acked_on_disk(f), 2 * PSY_BATCH_MAX);
    tick_drain(f, T0, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.m[0].u.batch.first_seq, SENDER_WINDOW * PSY_BATCH_MAX + 1);
    assert_int_equal(g.m[0].u.batch.count, PSY_BATCH_MAX / 2);
    check_batch(f, &g.m[0].u.batch, false);
    assert_int_equal(sender_batches_sent(f->sender), SENDER_WINDOW + 1);
    got_clear(&g);
    /* Caught up with the spool: nothing waits in memory. */
    assert_false(sender_holds_records(f->sender));

    /* Everything acknowledged: nothing is in flight, so nothing is ever resent. */
    send_ack(f, spool_epoch(f->spool), total);
    wait_acks(f, 2);
    assert_int_equal(spool_acked(f->spool), total);
    assert_int_equal(acked_on_disk(f), total);
    tick_drain(f, T0 + SENDER_RESEND_MAX_S * SEC, &g);
    assert_int_equal(g.batches, 0);
    assert_int_equal(g.heartbeats, 1);
    assert_int_equal(g.m[0].u.heartbeat.backlog, 0);
    assert_false(sender_holds_records(f->sender));
    got_clear(&g);
}

/* ---- 3: resending after a timeout that doubles, capped, reset by progress ---- */

typedef struct {
    psy_time_t at;      /* the fake clock */
    uint64_t ack;       /* an acknowledgement sent before the tick (0: none) */
    bool resent;        /* whether unacknowledged records go out again at `at` */
    uint64_t first_seq; /* and from where */
} resend_step_t;

static void
test_resend_backoff(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};
    uint64_t acks = 0;
    /* R = SENDER_RESEND_S, M = SENDER_RESEND_MAX_S; the first send is at T0. */
    const psy_time_t r1 = SENDER_RESEND_S, r2 = 2 * r1, r3 = 4 * r1;
    const psy_time_t t1 = r1, t2 = t1 + r2, t3 = t2 + r3;
    const psy_time_t t4 = t3 + SENDER_RESEND_MAX_S, t5 = t4 + SENDER_RESEND_MAX_S;
    const resend_step_t steps[] = {
        {T0 + t1 * SEC - 1, 0, false, 0},
        {T0 + t1 * SEC, 0, true, 1},
        {T0 + t2 * SEC - 1, 0, false, 0},
        {T0 + t2 * SEC, 0, true, 1},
        {T0 + t3 * SEC - 1, 0, false, 0},
        {T0 + t3 * SEC, 0, true, 1},
        /* 8 R would be longer than M: the wait stays at M. */
        {T0 + t4 * SEC - 1, 0, false, 0},
        {T0 + t4 * SEC, 0, true, 1},
        {T0 + t5 * SEC - 1, 0, false, 0},
        {T0 + t5 * SEC, 0, true, 1},
        /* Progress resets the wait to R; the resend starts at the first unacknowledged. */
        {T0 + t5 * SEC, 5, false, 0},
        {T0 + (t5 + r1) * SEC - 1, 0, false, 0},
        {T0 + (t5 + r1) * SEC, 0, true, 6},
        /* An acknowledgement that does not advance does not reset it: 2 R now. */
        {T0 + (t5 + r1) * SEC, 5, false, 0},
        {T0 + (t5 + r1 + r1) * SEC, 0, false, 0},
        {T0 + (t5 + r1 + r2) * SEC - 1, 0, false, 0},
        {T0 + (t5 + r1 + r2) * SEC, 0, true, 6},
    };

    _Static_assert(4 * SENDER_RESEND_S < SENDER_RESEND_MAX_S &&
                       8 * SENDER_RESEND_S > SENDER_RESEND_MAX_S,
                   "the schedule below assumes the cap is reached at the fourth timeout");
    connect_at(f, T0, &g);
    got_clear(&g);
    spool_n(f, 1, 10, false);
    tick_drain(f, T0, &g);
    assert_int_equal(g.batches, 1);
    assert_int_equal(g.m[g.n - 1].u.batch.first_seq, 1);
    assert_int_equal(g.m[g.n - 1].u.batch.count, 10);
    got_clear(&g);

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        const resend_step_t *st = &steps[i];
        if (st->ack) {
            send_ack(f, spool_epoch(f->spool), st->ack);
            wait_acks(f, ++acks);
            assert_int_equal(spool_acked(f->spool), st->ack);
        }
        tick_drain(f, st->at, &g);
        if (g.batches != (st->resent ? 1u : 0u))
            fail_msg("step %zu: %zu batches sent, expected %d", i, g.batches, st->resent);
        for (size_t k = 0; k < g.n; k++) {
            if (g.m[k].kind != PSY_MSG_BATCH)
                continue;
            const psy_batch_t *b = &g.m[k].u.batch;
            assert_int_equal(b->first_seq, st->first_seq);
            assert_int_equal(b->first_seq + b->count - 1, 10);
            check_batch(f, b, false);
        }
        got_clear(&g);
    }
}

/* ---- 4: answers that are not for us, too far, or not answers at all ---- */

static void
test_odd_answers(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};
    uint8_t other[PSY_EPOCH_LEN];
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    psy_msg_t hb = {.kind = PSY_MSG_HEARTBEAT};
    psy_record_t rec = make_rec(1);
    psy_msg_t batch = {.kind = PSY_MSG_BATCH};

    connect_at(f, T0, &g);
    got_clear(&g);
    spool_n(f, 1, 20, false);
    tick_drain(f, T0, &g);
    assert_int_equal(g.batches, 1);
    got_clear(&g);

    /* Another epoch, garbage, an empty frame, a heartbeat and a batch: none changes anything. */
    memcpy(other, spool_epoch(f->spool), PSY_EPOCH_LEN);
    other[0] ^= 0xff;
    send_ack(f, other, 20);
    send_frame(f, garbage, sizeof garbage);
    send_frame(f, "", 0);
    memcpy(hb.u.heartbeat.epoch, spool_epoch(f->spool), PSY_EPOCH_LEN);
    hb.u.heartbeat.last_seq = 20;
    snprintf(hb.u.heartbeat.version, sizeof hb.u.heartbeat.version, "%s", PSYMON_VERSION);
    send_msg(f, &hb);
    memcpy(batch.u.batch.epoch, spool_epoch(f->spool), PSY_EPOCH_LEN);
    batch.u.batch.first_seq = 1;
    batch.u.batch.count = 1;
    batch.u.batch.records = &rec;
    send_msg(f, &batch);
    /* Then a real one: once it is counted, everything before it was read. */
    send_ack(f, spool_epoch(f->spool), 5);
    wait_acks(f, 1);
    assert_int_equal(spool_acked(f->spool), 5);
    assert_int_equal(acked_on_disk(f), 5);

    /* The batch is still in flight (the foreign ack retired nothing): resent from 6. */
    tick_drain(f, T0 + SENDER_RESEND_S * SEC, &g);
    assert_int_equal(g.batches, 1);
    for (size_t k = 0; k < g.n; k++) {
        if (g.m[k].kind != PSY_MSG_BATCH)
            continue;
        assert_int_equal(g.m[k].u.batch.first_seq, 6);
        assert_int_equal(g.m[k].u.batch.count, 15);
        check_batch(f, &g.m[k].u.batch, false);
    }
    got_clear(&g);

    /*
     * An acknowledgement beyond the spool's end is not taken: the aggregator
     * holds numbers this spool never gave (its state folder went back in
     * time), and the caller is told to start afresh (test_ack_regression).
     */
    send_ack(f, spool_epoch(f->spool), 1000000);
    readable_until(f, -ESTALE);
    assert_int_equal(spool_last_seq(f->spool), 20);
    assert_int_equal(spool_acked(f->spool), 5);
    assert_int_equal(acked_on_disk(f), 5);
    send_ack(f, spool_epoch(f->spool), 20);
    wait_acks(f, 3);
    assert_int_equal(spool_acked(f->spool), 20);
    assert_int_equal(acked_on_disk(f), 20);

    /* And the sender keeps working: new records go out, nothing old is resent. */
    spool_n(f, 21, 5, false);
    tick_drain(f, T0 + SENDER_RESEND_S * SEC, &g);
    assert_int_equal(g.batches, 1);
    assert_int_equal(g.m[g.n - 1].u.batch.first_seq, 21);
    assert_int_equal(g.m[g.n - 1].u.batch.count, 5);
    check_batch(f, &g.m[g.n - 1].u.batch, false);
    got_clear(&g);
    send_ack(f, spool_epoch(f->spool), 25);
    wait_acks(f, 4);
    assert_int_equal(spool_acked(f->spool), 25);
}

/* ---- 5: heartbeats ---- */

static void
check_heartbeat(fixture_t *f, const psy_msg_t *m, psy_time_t now, bool full)
{
    assert_int_equal(m->kind, PSY_MSG_HEARTBEAT);
    const psy_heartbeat_t *hb = &m->u.heartbeat;
    assert_memory_equal(hb->epoch, spool_epoch(f->spool), PSY_EPOCH_LEN);
    assert_int_equal(hb->last_seq, spool_last_seq(f->spool));
    assert_int_equal(hb->backlog, spool_last_seq(f->spool) - spool_acked(f->spool));
    assert_int_equal(hb->spool_bytes, spool_bytes(f->spool));
    assert_true(hb->spool_bytes > 0);
    assert_int_equal(hb->spool_full, full);
    assert_int_equal(hb->clock, now);
    assert_string_equal(hb->version, PSYMON_VERSION);
}

/* The heartbeats in g: exactly `n` of them, each checked. */
static void
check_heartbeats(fixture_t *f, const got_t *g, size_t n, psy_time_t now, bool full)
{
    assert_int_equal(g->heartbeats, n);
    for (size_t k = 0; k < g->n; k++)
        if (g->m[k].kind == PSY_MSG_HEARTBEAT)
            check_heartbeat(f, &g->m[k], now, full);
}

static void
test_heartbeats(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};

    spool_n(f, 1, 30, false);
    assert_int_equal(spool_ack(f->spool, 10), 0);
    sender_set_spool_full(f->sender, true);

    /* On connecting: a heartbeat first (connect_at checks it is the first message). */
    connect_at(f, T0, &g);
    assert_true(g.heartbeats >= 1);
    check_heartbeats(f, &g, g.heartbeats, T0, true);
    assert_int_equal(g.m[0].u.heartbeat.last_seq, 30);
    assert_int_equal(g.m[0].u.heartbeat.backlog, 20);
    got_clear(&g);

    /* Then every SENDER_HEARTBEAT_S of the fake clock, not before. */
    tick_drain(f, T0 + SENDER_HEARTBEAT_S * SEC - 1, &g);
    check_heartbeats(f, &g, 0, 0, true);
    got_clear(&g);
    tick_drain(f, T0 + SENDER_HEARTBEAT_S * SEC, &g);
    check_heartbeats(f, &g, 1, T0 + SENDER_HEARTBEAT_S * SEC, true);
    got_clear(&g);

    sender_set_spool_full(f->sender, false);
    tick_drain(f, T0 + (SENDER_HEARTBEAT_S + 1) * SEC, &g);
    check_heartbeats(f, &g, 0, 0, false);
    got_clear(&g);
    tick_drain(f, T0 + 2 * SENDER_HEARTBEAT_S * SEC - 1, &g);
    check_heartbeats(f, &g, 0, 0, false);
    got_clear(&g);
    tick_drain(f, T0 + 2 * SENDER_HEARTBEAT_S * SEC, &g);
    check_heartbeats(f, &g, 1, T0 + 2 * SENDER_HEARTBEAT_S * SEC, false);
    got_clear(&g);

    /* The backlog follows acknowledgements. */
    send_ack(f, spool_epoch(f->spool), 30);
    wait_acks(f, 1);
    tick_drain(f, T0 + 3 * SENDER_HEARTBEAT_S * SEC, &g);
    check_heartbeats(f, &g, 1, T0 + 3 * SENDER_HEARTBEAT_S * SEC, false);
    assert_int_equal(g.m[0].u.heartbeat.backlog, 0);
    got_clear(&g);
}

/* ---- 6: no aggregator, then one ---- */

static void
test_offline(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};

    spool_n(f, 1, 50, false);
    assert_int_equal(spool_ack(f->spool, 20), 0);

    /* Nobody listens: nothing goes out and nothing is held in memory. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(sender_tick(f->sender, f->spool, T0 + i * SEC), 0);
        assert_false(sender_holds_records(f->sender));
    }
    assert_int_equal(sender_batches_sent(f->sender), 0);
    assert_int_equal(sender_transmit(f->sender, marker, sizeof marker), -EAGAIN);

    /* The aggregator appears on that port: everything unacknowledged arrives. */
    f->router = router_new(f, f->conf.endpoint);
    connect_at(f, T0 + 30 * SEC, &g);
    check_heartbeats(f, &g, g.heartbeats, T0 + 30 * SEC, false);
    assert_true(g.batches >= 1);
    for (size_t k = 0; k < g.n; k++) {
        if (g.m[k].kind != PSY_MSG_BATCH)
            continue;
        assert_int_equal(g.m[k].u.batch.first_seq, 21);
        assert_int_equal(g.m[k].u.batch.count, 30);
        check_batch(f, &g.m[k].u.batch, false);
    }
    got_clear(&g);
    send_ack(f, spool_epoch(f->spool), 50);
    wait_acks(f, 1);
    assert_int_equal(spool_acked(f->spool), 50);
    tick_drain(f, T0 + 30 * SEC, &g);
    assert_int_equal(g.batches, 0);
    assert_false(sender_holds_records(f->sender));
    got_clear(&g);
}

/* ---- 6b: the aggregator goes away and comes back ---- */

static void
test_reconnect(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};
    int i;

    connect_at(f, T0, &g);
    got_clear(&g);
    spool_n(f, 1, 10, false);
    tick_drain(f, T0, &g);
    assert_int_equal(g.batches, 1);
    got_clear(&g);

    /* The aggregator stops before acknowledging; the sender finds nobody to send to. */
    zmq_close(f->router);
    f->router = NULL;
    for (i = 0; i < TRIES; i++) {
        assert_int_equal(sender_tick(f->sender, f->spool, T0 + SEC), 0);
        if (sender_transmit(f->sender, marker, sizeof marker) == -EAGAIN)
            break;
        usleep(10 * 1000);
    }
    assert_true(i < TRIES);
    assert_int_equal(sender_tick(f->sender, f->spool, T0 + SEC), 0);
    assert_false(sender_holds_records(f->sender));
    /*
     * New records: the turn that reads them finds nobody to send them to; the
     * next turn gives them back to the spool.
     */
    spool_n(f, 11, 5, false);
    assert_int_equal(sender_tick(f->sender, f->spool, T0 + 2 * SEC), 0);
    assert_int_equal(sender_tick(f->sender, f->spool, T0 + 2 * SEC), 0);
    assert_false(sender_holds_records(f->sender));
    assert_int_equal(sender_batches_sent(f->sender), 1);

    /* It comes back on the same port: everything unacknowledged arrives again, at once. */
    f->router = router_new(f, f->conf.endpoint);
    connect_at(f, T0 + 3 * SEC, &g);
    check_heartbeats(f, &g, g.heartbeats, T0 + 3 * SEC, false);
    assert_true(g.batches >= 1);
    for (size_t k = 0; k < g.n; k++) {
        if (g.m[k].kind != PSY_MSG_BATCH)
            continue;
        assert_int_equal(g.m[k].u.batch.first_seq, 1);
        assert_int_equal(g.m[k].u.batch.count, 15);
        check_batch(f, &g.m[k].u.batch, false);
    }
    got_clear(&g);
    send_ack(f, spool_epoch(f->spool), 15);
    wait_acks(f, 1);
    assert_int_equal(spool_acked(f->spool), 15);
}

/* ---- 7: a batch too large for one message is split ---- */

/*
 * ---- an aggregator restored from a backup: acknowledgements go back ----
 * What the spool still holds goes out again under its own numbers; when it
 * no longer holds everything the aggregator lost, -ESTALE asks for a new
 * epoch, whose records then go out from sequence 1.
 */
static void
test_ack_regression(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};

    connect_at(f, T0, &g);
    got_clear(&g);
    spool_n(f, 1, 20, false);
    tick_drain(f, T0, &g);
    assert_int_equal(g.batches, 1);
    got_clear(&g);
    send_ack(f, spool_epoch(f->spool), 20);
    wait_acks(f, 1);
    assert_int_equal(spool_acked(f->spool), 20);

    /*
     * One acknowledgement that goes back may be a stale one of an old
     * connection: it is not believed, a heartbeat asks again, and an
     * answer as before clears it.
     */
    send_ack(f, spool_epoch(f->spool), 12);
    wait_acks(f, 2);
    assert_int_equal(spool_acked(f->spool), 20);
    tick_drain(f, T0 + SEC / 2, &g);
    assert_int_equal(g.heartbeats, 1);
    assert_int_equal(g.batches, 0);
    got_clear(&g);
    send_ack(f, spool_epoch(f->spool), 20);
    wait_acks(f, 3);
    send_ack(f, spool_epoch(f->spool), 12); /* suspected again, */
    wait_acks(f, 4);
    assert_int_equal(spool_acked(f->spool), 20);
    tick_drain(f, T0 + SEC / 2, &g); /* asked again, */
    got_clear(&g);
    send_ack(f, spool_epoch(f->spool), 12); /* and confirmed: the aggregator lost 13..20 */
    wait_acks(f, 5);

    /* Still held: 13..20 go out again at the next tick, under the same epoch. */
    assert_int_equal(spool_acked(f->spool), 12);
    assert_int_equal(acked_on_disk(f), 12);
    tick_drain(f, T0 + SEC, &g);
    assert_int_equal(g.batches, 1);
    for (size_t k = 0; k < g.n; k++) {
        if (g.m[k].kind != PSY_MSG_BATCH)
            continue;
        assert_int_equal(g.m[k].u.batch.first_seq, 13);
        assert_int_equal(g.m[k].u.batch.count, 8);
        check_batch(f, &g.m[k].u.batch, false);
    }
    got_clear(&g);

    /* 21..200 delivered and acknowledged: the segments before them are reclaimed. */
    spool_set_segment_max(f->spool, 4096);
    for (uint64_t i = 21; i <= 200; i += 10)
        spool_n(f, i, 10, false);
    send_ack(f, spool_epoch(f->spool), 200);
    wait_acks(f, 6);
    assert_int_equal(spool_acked(f->spool), 200);
    spool_n(f, 201, 5, false);
    uint8_t old_epoch[PSY_EPOCH_LEN];
    memcpy(old_epoch, spool_epoch(f->spool), PSY_EPOCH_LEN);

    /* The aggregator lost 101..200, no longer in the spool: starting afresh is asked for. */
    send_ack(f, spool_epoch(f->spool), 100);
    wait_acks(f, 7);
    tick_drain(f, T0 + SEC + SEC / 2, &g); /* the heartbeat that asks again */
    got_clear(&g);
    send_ack(f, spool_epoch(f->spool), 100);
    readable_until(f, -ESTALE);
    assert_true(spool_acked(f->spool) > 100);
    assert_true(spool_acked(f->spool) <= 200);
    /* Nothing the spool holds goes out under the old epoch meanwhile. */
    tick_drain(f, T0 + 2 * SEC, &g);
    for (size_t k = 0; k < g.n; k++)
        if (g.m[k].kind == PSY_MSG_BATCH)
            assert_true(g.m[k].u.batch.first_seq > spool_acked(f->spool));
    got_clear(&g);
    /* The collector's answer: an empty epoch, whose new records go out from 1. */
    assert_int_equal(spool_restart(&f->spool, false), 0);
    assert_non_null(f->spool);
    assert_memory_not_equal(spool_epoch(f->spool), old_epoch, PSY_EPOCH_LEN);
    sender_reset(f->sender);
    spool_n(f, 1, 3, false);
    tick_drain(f, T0 + 3 * SEC, &g);
    assert_int_equal(g.batches, 1);
    for (size_t k = 0; k < g.n; k++) {
        if (g.m[k].kind != PSY_MSG_BATCH)
            continue;
        assert_memory_equal(g.m[k].u.batch.epoch, spool_epoch(f->spool), PSY_EPOCH_LEN);
        assert_int_equal(g.m[k].u.batch.first_seq, 1);
        assert_int_equal(g.m[k].u.batch.count, 3);
        check_batch(f, &g.m[k].u.batch, false);
    }
    got_clear(&g);

    /* An acknowledgement beyond the spool's end: numbers given again (a state folder restored). */
    send_ack(f, spool_epoch(f->spool), 10);
    readable_until(f, -ESTALE);
    assert_int_equal(spool_acked(f->spool), 0); /* not taken */
}

/*
 * With today's limits PSY_BATCH_MAX of the longest records encode to far
 * less than PSY_MSG_MAX, so the codec never refuses a full batch. The test
 * then lowers the sender's limit (sender_set_msg_max) to a third of a full
 * batch; should the limits change so that a full batch exceeds PSY_MSG_MAX,
 * the real limit applies.
 */
static void
test_split(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};
    psy_record_t *recs = calloc(PSY_BATCH_MAX, sizeof *recs);
    psy_msg_t full = {.kind = PSY_MSG_BATCH};
    uint8_t *buf = NULL;
    size_t full_len = 0, limit;
    uint8_t seen[PSY_BATCH_MAX + 1] = {0};

    assert_non_null(recs);
    for (uint64_t i = 0; i < PSY_BATCH_MAX; i++)
        recs[i] = make_long_rec(i + 1);
    memcpy(full.u.batch.epoch, spool_epoch(f->spool), PSY_EPOCH_LEN);
    full.u.batch.first_seq = 1;
    full.u.batch.count = PSY_BATCH_MAX;
    full.u.batch.records = recs;
    int r = psy_codec_encode(&full, &buf, &full_len);
    if (r == 0) {
        free(buf);
        limit = full_len / 3;
        print_message("a full batch of the longest records is %zu bytes (PSY_MSG_MAX %d): "
                      "the test limits batches to %zu bytes\n",
                      full_len, PSY_MSG_MAX, limit);
    } else {
        assert_int_equal(r, -EINVAL); /* over PSY_MSG_MAX */
        limit = PSY_MSG_MAX;
    }
    free(recs);

    connect_at(f, T0, &g);
    got_clear(&g);
    spool_n(f, 1, PSY_BATCH_MAX, true);
    if (limit < PSY_MSG_MAX)
        sender_set_msg_max(f->sender, limit);
    tick_drain(f, T0, &g);

    /* Every message fits; together the batches cover every sequence exactly once, in order. */
    assert_true(g.batches >= 2 && g.batches <= SENDER_WINDOW);
    assert_int_equal(g.heartbeats, 0);
    uint64_t next = 1;
    for (size_t k = 0; k < g.n; k++) {
        const psy_batch_t *b = &g.m[k].u.batch;
        assert_true(g.len[k] <= limit && g.len[k] <= PSY_MSG_MAX);
        assert_int_equal(b->first_seq, next);
        check_batch(f, b, true);
        for (size_t i = 0; i < b->count; i++) {
            assert_true(b->first_seq + i <= PSY_BATCH_MAX);
            seen[b->first_seq + i]++;
        }
        next = b->first_seq + b->count;
    }
    for (size_t i = 1; i <= PSY_BATCH_MAX; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(sender_batches_sent(f->sender), g.batches);
    got_clear(&g);

    send_ack(f, spool_epoch(f->spool), PSY_BATCH_MAX);
    wait_acks(f, 1);
    assert_int_equal(spool_acked(f->spool), PSY_BATCH_MAX);
    tick_drain(f, T0, &g);
    assert_int_equal(g.n, 0);
    assert_false(sender_holds_records(f->sender));
}

/*
 * A collector given the wrong aggregator key fails its handshake on every
 * reconnect: one clear line says so, and neither the repeated failures nor
 * the disconnect after each become lines of their own.
 */
static void
test_wrong_server_key(void **state)
{
    fixture_t *f = *state;
    char wrong_pub[41], wrong_sec[41], path[128], line[1024];
    int saved, fd, i, said = 0, disconnected = 0;
    FILE *log;

    sender_destroy(&f->sender);
    assert_int_equal(zmq_curve_keypair(wrong_pub, wrong_sec), 0);
    memcpy(f->conf.server_key, wrong_pub, 41);
    snprintf(path, sizeof path, "%s/stderr.log", f->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);

    f->sender = sender_new(f->zctx, &f->conf);
    assert_non_null(f->sender);
    for (i = 0; i < 400 && sender_handshakes_failed(f->sender) < 3; i++) {
        assert_int_equal(sender_tick(f->sender, f->spool, T0 + i * 10 * 1000), 0);
        usleep(10 * 1000);
    }
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    assert_true(sender_handshakes_failed(f->sender) >= 3);

    log = fopen(path, "re");
    assert_non_null(log);
    while (fgets(line, sizeof line, log)) {
        fputs(line, stderr); /* for whoever reads the test's output */
        said += strstr(line, "handshake") != NULL || strstr(line, "refused") != NULL;
        disconnected += strstr(line, "disconnected") != NULL;
    }
    fclose(log);
    assert_int_equal(said, 1);
    assert_int_equal(disconnected, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_window_and_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline, setup_offline, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_regression, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_server_key, setup, teardown),
    };

    psy_log_init("test_sender", PSY_LOG_WARNING);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

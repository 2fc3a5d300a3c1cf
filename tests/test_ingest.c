/*
 * ingest, in process: a ROUTER on a free loopback port with generated CURVE
 * keys, DEALER clients playing collectors, and a real store in a temporary
 * folder. The test thread drives ingest_step itself; libzmq's I/O threads
 * and the ZAP thread run the handshakes meanwhile.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "agg.h"
#include "ingest.h"
#include "psymon/log.h"
#include "store.h"

#define T0 (INT64_C(1709300000) * PSY_USEC)

/*
 * Linked with -Wl,--wrap=zmq_msg_recv (tests/ingest.cmake): when
 * fail_zap_recv is set, a receive on a REP socket (only the ZAP handler has
 * one) fails as a broken socket would.
 */
int __real_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags);
int __wrap_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags);
static atomic_bool fail_zap_recv;

int
__wrap_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags)
{
    int type = 0;
    size_t len = sizeof type;

    if (atomic_load(&fail_zap_recv) && zmq_getsockopt(s, ZMQ_TYPE, &type, &len) == 0 &&
        type == ZMQ_REP) {
        errno = EFAULT;
        return -1;
    }
    return __real_zmq_msg_recv(msg, s, flags);
}

/*
 * Linked with -Wl,--wrap=psy_time_now: while fake_now is non-zero, the
 * ingest's clock stands still at it, so rate limits are tested without
 * depending on how fast the machine is.
 */
psy_time_t __real_psy_time_now(void);
psy_time_t __wrap_psy_time_now(void);
static _Atomic psy_time_t fake_now;

psy_time_t
__wrap_psy_time_now(void)
{
    psy_time_t t = atomic_load(&fake_now);
    return t ? t : __real_psy_time_now();
}

typedef struct {
    char dir[64];
    store_t *store;
    agg_t agg;
    ingest_t *in;
    char server_pub[41], server_sec[41];
    char client_pub[41], client_sec[41];
    void *ctx;
    void *clients[4]; /* closed by teardown, also when a test fails */
    size_t nclients;
} fixture_t;

static void
remove_dir(const char *dir)
{
    static const char *const files[] = {"psymon.db", "psymon.db-wal", "psymon.db-shm"};
    char path[128];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    psy_agg_conf_t *conf = calloc(1, sizeof *conf);

    assert_non_null(f);
    assert_non_null(conf);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_ingest.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->store = store_new(f->dir, false);
    assert_non_null(f->store);
    assert_int_equal(zmq_curve_keypair(f->server_pub, f->server_sec), 0);
    assert_int_equal(zmq_curve_keypair(f->client_pub, f->client_sec), 0);

    strcpy(conf->listen, "tcp://127.0.0.1:*");
    conf->ncenters = 2;
    strcpy(conf->centers[0].id, "pc-other");
    strcpy(conf->centers[1].id, "pc-a");
    conf->centers[1].nkeys = 1;
    strcpy(conf->centers[1].keys[0], f->client_pub);
    assert_int_equal(agg_init(&f->agg, conf, NULL), 0);

    f->in = ingest_new(&f->agg, f->store, f->server_sec);
    assert_non_null(f->in);
    assert_non_null(strstr(ingest_endpoint(f->in), "tcp://127.0.0.1:"));
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    for (size_t i = 0; i < f->nclients; i++)
        zmq_close(f->clients[i]);
    zmq_ctx_term(f->ctx);
    ingest_destroy(&f->in);
    assert_null(f->in);
    ingest_destroy(&f->in);
    store_destroy(&f->store);
    agg_fini(&f->agg);
    remove_dir(f->dir);
    free(f);
    return 0;
}

/* A DEALER collector with the given key pair, connected to the ingest. */
static void *
client_new(fixture_t *f, const char *pub, const char *sec)
{
    void *s = zmq_socket(f->ctx, ZMQ_DEALER);
    int zero = 0;

    assert_non_null(s);
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, f->server_pub, 40), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40), 0);
    assert_int_equal(zmq_connect(s, ingest_endpoint(f->in)), 0);
    assert_true(f->nclients < sizeof f->clients / sizeof f->clients[0]);
    f->clients[f->nclients++] = s;
    return s;
}

static psy_record_t
admission(const char *id, const char *ward)
{
    psy_record_t r;

    psy_record_init(&r);
    r.type = PSY_REC_ADMISSION;
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.contact, sizeof r.contact, "%s", id);
    r.time = T0;
    r.has_patient = true;
    memset(r.patient, 0x5a, sizeof r.patient);
    snprintf(r.ward, sizeof r.ward, "%s", ward);
    r.mode = PSY_MODE_PLANNED;
    r.legal = PSY_LEGAL_VOLUNTARY;
    return r;
}

static void
send_msg(void *s, const psy_msg_t *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(psy_codec_encode(m, &buf, &len), 0);
    assert_int_equal(zmq_send(s, buf, len, 0), (int)len);
    free(buf);
}

static void
send_batch(void *s, uint8_t epoch_byte, uint64_t first_seq, size_t n, psy_record_t *recs)
{
    psy_msg_t m = {.kind = PSY_MSG_BATCH};

    memset(m.u.batch.epoch, epoch_byte, PSY_EPOCH_LEN);
    m.u.batch.first_seq = first_seq;
    m.u.batch.count = n;
    m.u.batch.records = recs;
    send_msg(s, &m);
}

/* Runs the ingest until *counter reaches want or max_ms pass. */
static void
pump_until(fixture_t *f, atomic_uint_fast64_t *counter, uint64_t want, int max_ms)
{
    for (int waited = 0; waited < max_ms && atomic_load(counter) < want; waited += 20)
        assert_int_equal(ingest_step(f->in, 20), 0);
}

/* Runs the ingest for about ms milliseconds. */
static void
pump_for(fixture_t *f, int ms)
{
    for (int waited = 0; waited < ms; waited += 20)
        assert_int_equal(ingest_step(f->in, 20), 0);
}

/* Waits up to ms for an Ack on s; returns false when none came. */
static bool
recv_ack(void *s, int ms, psy_ack_t *ret)
{
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
    uint8_t buf[256];
    psy_msg_t m;
    int n;

    if (zmq_poll(&it, 1, ms) <= 0)
        return false;
    n = zmq_recv(s, buf, sizeof buf, 0);
    assert_true(n > 0 && n < (int)sizeof buf);
    assert_int_equal(psy_codec_decode(buf, (size_t)n, &m), 0);
    assert_int_equal(m.kind, PSY_MSG_ACK);
    *ret = m.u.ack;
    psy_msg_clear(&m);
    return true;
}

static size_t
stored(fixture_t *f)
{
    kpi_records_t v;
    size_t n;

    assert_int_equal(store_load(f->store, f->agg.conf, PSY_TIME_NONE, &v), 0);
    for (size_t i = 0; i < v.count; i++)
        assert_int_equal(v.items[i].center, 1); /* the key's center, pc-a */
    n = v.count;
    free(v.items);
    return n;
}

static void
test_listed_key_gets_ack(void **state)
{
    fixture_t *f = *state;
    void *c = client_new(f, f->client_pub, f->client_sec);
    psy_record_t recs[2] = {admission("A1", "M1"), admission("A2", "M2")};
    psy_ack_t ack;
    uint8_t epoch[PSY_EPOCH_LEN];

    memset(epoch, 9, sizeof epoch);
    send_batch(c, 9, 1, 2, recs);
    pump_until(f, &f->agg.counters.batches, 1, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.batches), 1);
    assert_int_equal(atomic_load(&f->agg.counters.records_stored), 2);
    assert_int_equal(atomic_load(&f->agg.generation), 1);
    assert_true(recv_ack(c, 2000, &ack));
    assert_int_equal(ack.acked_seq, 2);
    assert_memory_equal(ack.epoch, epoch, PSY_EPOCH_LEN);
    assert_int_equal(stored(f), 2);

    /* The same batch again: acknowledged, nothing new, no new generation. */
    send_batch(c, 9, 1, 2, recs);
    pump_until(f, &f->agg.counters.batches, 2, 5000);
    assert_true(recv_ack(c, 2000, &ack));
    assert_int_equal(ack.acked_seq, 2);
    assert_int_equal(atomic_load(&f->agg.counters.records_duplicate), 2);
    assert_int_equal(atomic_load(&f->agg.generation), 1);

    /* A gap: nothing stored, the ack asks for what is missing. */
    send_batch(c, 9, 5, 1, recs);
    assert_true(recv_ack(c, 0, &ack) == false);
    for (int i = 0; i < 100 && !recv_ack(c, 0, &ack); i++)
        assert_int_equal(ingest_step(f->in, 20), 0);
    assert_int_equal(ack.acked_seq, 2);
    assert_int_equal(stored(f), 2);

    /* A heartbeat is stored under the key's center. */
    psy_msg_t hb = {.kind = PSY_MSG_HEARTBEAT};
    memcpy(hb.u.heartbeat.epoch, epoch, PSY_EPOCH_LEN);
    hb.u.heartbeat.last_seq = 7;
    hb.u.heartbeat.backlog = 5;
    hb.u.heartbeat.rejected = 3;
    hb.u.heartbeat.clock = psy_time_now();
    strcpy(hb.u.heartbeat.version, "0.1.0");
    send_msg(c, &hb);
    pump_until(f, &f->agg.counters.heartbeats, 1, 5000);
    store_status_t st;
    assert_int_equal(store_status(f->store, "pc-a", &st), 0);
    assert_int_equal(st.rejected, 3);
    assert_int_equal(st.backlog, 5);
    assert_int_equal(st.records, 2);
    assert_string_equal(st.version, "0.1.0");
    assert_int_equal(atomic_load(&f->agg.counters.msgs_malformed), 0);
}

static void
test_unlisted_key_gets_nothing(void **state)
{
    fixture_t *f = *state;
    char pub[41], sec[41];
    void *c;
    psy_record_t recs[1] = {admission("A1", "M1")};
    psy_ack_t ack;

    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    c = client_new(f, pub, sec);
    send_batch(c, 1, 1, 1, recs);
    pump_until(f, &f->agg.counters.auth_denied, 1, 5000);
    pump_for(f, 300);
    assert_true(atomic_load(&f->agg.counters.auth_denied) >= 1);
    assert_false(recv_ack(c, 300, &ack));
    assert_int_equal(atomic_load(&f->agg.counters.batches), 0);
    assert_int_equal(stored(f), 0);
}

static void
test_malformed_then_good(void **state)
{
    fixture_t *f = *state;
    void *c = client_new(f, f->client_pub, f->client_sec);
    psy_record_t recs[1] = {admission("A1", "M1")};
    static const char garbage[] = "\x0a\xff\xff\xff\xff\x0fnot protobuf";
    psy_ack_t ack;

    assert_int_equal(zmq_send(c, garbage, sizeof garbage - 1, 0), (int)sizeof garbage - 1);
    pump_until(f, &f->agg.counters.msgs_malformed, 1, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.msgs_malformed), 1);

    /* Two frames in one message. */
    assert_int_equal(zmq_send(c, "a", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(c, "b", 1, 0), 1);
    pump_until(f, &f->agg.counters.msgs_malformed, 2, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.msgs_malformed), 2);

    /* An Ack is not something a collector sends. */
    psy_msg_t m = {.kind = PSY_MSG_ACK};
    m.u.ack.acked_seq = 1;
    send_msg(c, &m);
    pump_until(f, &f->agg.counters.msgs_malformed, 3, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.msgs_malformed), 3);
    assert_false(recv_ack(c, 0, &ack));

    send_batch(c, 4, 1, 1, recs);
    pump_until(f, &f->agg.counters.batches, 1, 5000);
    assert_true(recv_ack(c, 2000, &ack));
    assert_int_equal(ack.acked_seq, 1);
    assert_int_equal(stored(f), 1);
}

/* After a reload that removes the key, an open connection delivers nothing. */
static void
test_key_removed_on_reload(void **state)
{
    fixture_t *f = *state;
    void *c = client_new(f, f->client_pub, f->client_sec);
    psy_record_t recs[2] = {admission("A1", "M1"), admission("A2", "M1")};
    psy_agg_conf_t *conf = malloc(sizeof *conf);
    psy_ack_t ack;

    send_batch(c, 1, 1, 1, recs);
    pump_until(f, &f->agg.counters.batches, 1, 5000);
    assert_true(recv_ack(c, 2000, &ack));

    assert_non_null(conf);
    const psy_agg_conf_t *cur = agg_conf_get(&f->agg);
    memcpy(conf, cur, sizeof *conf);
    agg_conf_put(&cur);
    conf->centers[1].nkeys = 0;
    conf->centers[1].keys[0][0] = '\0';
    agg_conf_replace(&f->agg, conf);

    send_batch(c, 1, 2, 1, &recs[1]);
    pump_until(f, &f->agg.counters.msgs_denied, 1, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.msgs_denied), 1);
    assert_false(recv_ack(c, 300, &ack));
    assert_int_equal(atomic_load(&f->agg.counters.batches), 1);
    assert_int_equal(stored(f), 1);
}

/* A bound listen endpoint refuses a second ingest; the first keeps working. */
static void
test_bind_failure(void **state)
{
    fixture_t *f = *state;
    psy_agg_conf_t *conf = malloc(sizeof *conf);
    agg_t other;
    ingest_t *in2;

    assert_non_null(conf);
    const psy_agg_conf_t *cur = agg_conf_get(&f->agg);
    memcpy(conf, cur, sizeof *conf);
    agg_conf_put(&cur);
    snprintf(conf->listen, sizeof conf->listen, "%s", ingest_endpoint(f->in));
    assert_int_equal(agg_init(&other, conf, NULL), 0);
    errno = 0;
    in2 = ingest_new(&other, f->store, f->server_sec);
    assert_null(in2);
    assert_int_equal(errno, EADDRINUSE);
    assert_null(ingest_new(&other, f->store, "short"));
    agg_fini(&other);
}

/* A dead ZAP handler is reported, so that the daemon stops instead of admitting no one. */
static void
test_zap_death_reported(void **state)
{
    fixture_t *f = *state;
    int r = 0;

    assert_int_equal(ingest_step(f->in, 10), 0);
    atomic_store(&fail_zap_recv, true);
    /* A handshake wakes the handler; its next receive fails. */
    client_new(f, f->client_pub, f->client_sec);
    for (int waited = 0; waited < 5000 && r == 0; waited += 20)
        r = ingest_step(f->in, 20);
    atomic_store(&fail_zap_recv, false);
    assert_int_equal(r, -ECONNABORTED);
}

/*
 * A collector sending heartbeats as fast as it can gets one stored per
 * PSY_HEARTBEAT_MIN_INTERVAL_MS; the rest are counted, and batches still
 * go through.
 */
static void
test_heartbeat_flood_limited(void **state)
{
    fixture_t *f = *state;
    void *c = client_new(f, f->client_pub, f->client_sec);
    psy_record_t recs[1] = {admission("A1", "M1")};
    psy_msg_t hb = {.kind = PSY_MSG_HEARTBEAT};
    psy_ack_t ack;
    const uint64_t flood = 50;

    atomic_store(&fake_now, T0);
    memset(hb.u.heartbeat.epoch, 3, PSY_EPOCH_LEN);
    hb.u.heartbeat.clock = T0;
    strcpy(hb.u.heartbeat.version, "0.1.0");
    for (uint64_t i = 0; i < flood; i++) {
        hb.u.heartbeat.last_seq = i;
        send_msg(c, &hb);
    }
    send_batch(c, 3, 1, 1, recs);
    pump_until(f, &f->agg.counters.batches, 1, 5000);
    pump_until(f, &f->agg.counters.heartbeats_limited, flood - 1, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.heartbeats), 1);
    assert_int_equal(atomic_load(&f->agg.counters.heartbeats_limited), flood - 1);
    /*
     * The one heartbeat taken is answered with what is stored of its epoch
     * (nothing yet), the dropped ones not at all; then the batch's.
     */
    assert_true(recv_ack(c, 2000, &ack));
    assert_int_equal(ack.acked_seq, 0);
    assert_true(recv_ack(c, 2000, &ack));
    assert_int_equal(ack.acked_seq, 1);
    assert_int_equal(stored(f), 1);
    assert_int_equal(atomic_load(&f->agg.counters.msgs_malformed), 0);

    /* Just under the interval later: still dropped; at the interval: stored. */
    atomic_store(&fake_now, T0 + PSY_HEARTBEAT_MIN_INTERVAL_MS * (PSY_USEC / 1000) - 1);
    send_msg(c, &hb);
    pump_until(f, &f->agg.counters.heartbeats_limited, flood, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.heartbeats_limited), flood);
    atomic_store(&fake_now, T0 + PSY_HEARTBEAT_MIN_INTERVAL_MS * (PSY_USEC / 1000));
    send_msg(c, &hb);
    pump_until(f, &f->agg.counters.heartbeats, 2, 5000);
    assert_int_equal(atomic_load(&f->agg.counters.heartbeats), 2);
    /* A collector with nothing to send learns what is stored: here the batch's record. */
    assert_true(recv_ack(c, 2000, &ack));
    assert_memory_equal(ack.epoch, hb.u.heartbeat.epoch, PSY_EPOCH_LEN);
    assert_int_equal(ack.acked_seq, 1);
    assert_false(recv_ack(c, 200, &ack)); /* the dropped heartbeat got none */
    atomic_store(&fake_now, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listed_key_gets_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlisted_key_gets_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_then_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_removed_on_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zap_death_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_flood_limited, setup, teardown),
    };

    psy_log_init("test_ingest", PSY_LOG_DEBUG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * bench_zmq: the ceiling libzmq sets for psymon's delivery, with nothing of
 * psymon in the way (bench/compare.sh sets the drain rate beside it).
 *
 *   build/bench/bench_zmq [seconds-per-case]
 *
 * Streams messages of psymon's sizes from one thread to another over TCP
 * on loopback, as fast as libzmq takes them, and prints records per second
 * for four cases: PUSH/PULL without security and DEALER/ROUTER with CURVE
 * (psymon's transport), each with one record per message and with a
 * batch of PSY_BATCH_MAX records per message. The sizes are those of
 * psy_codec_encode() for a typical admission (pseudonym, ward, contact,
 * origin). Nothing is stored, acknowledged or decoded: this is the
 * transport alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "psymon/codec.h"

typedef struct {
    void *ctx;
    int type; /* ZMQ_PUSH or ZMQ_DEALER */
    bool curve;
    char endpoint[64];
    char server_pub[41], client_pub[41], client_sec[41];
    size_t size;
    double seconds;
    uint64_t sent;
} sender_arg_t;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
    fprintf(stderr, "bench_zmq: %s: %s\n", what, zmq_strerror(errno));
    exit(1);
}

/* Sends messages of arg->size bytes for arg->seconds, then one empty message to say it ended. */
static void *
sender_main(void *p)
{
    sender_arg_t *a = p;
    void *s = zmq_socket(a->ctx, a->type);
    uint8_t *buf = calloc(1, a->size);
    int zero = 0;
    double end;

    if (!s || !buf)
        die("sender socket");
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (a->curve && (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, a->server_pub, 41) < 0 ||
                     zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, a->client_pub, 41) < 0 ||
                     zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, a->client_sec, 41) < 0))
        die("curve client");
    if (zmq_connect(s, a->endpoint) < 0)
        die("connect");
    memset(buf, 0x5a, a->size);
    end = now_s() + a->seconds;
    while (now_s() < end) {
        for (int i = 0; i < 64; i++) {
            if (zmq_send(s, buf, a->size, 0) < 0)
                die("send");
            a->sent++;
        }
    }
    {
        int linger = 10000;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    }
    if (zmq_send(s, "", 0, 0) < 0)
        die("send end");
    zmq_close(s);
    free(buf);
    return NULL;
}

/* Runs one case; returns messages received per second. */
static double
run_case(void *ctx, bool curve, size_t size, double seconds)
{
    char server_pub[41], server_sec[41];
    sender_arg_t a = {.ctx = ctx, .curve = curve, .size = size, .seconds = seconds};
    void *r = zmq_socket(ctx, curve ? ZMQ_ROUTER : ZMQ_PULL);
    int one = 1, zero = 0;
    size_t elen = sizeof a.endpoint;
    pthread_t t;
    zmq_msg_t m;
    uint64_t got = 0;
    double first = 0, last = 0;

    if (!r)
        die("receiver socket");
    zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
    if (curve) {
        if (zmq_curve_keypair(server_pub, server_sec) < 0 ||
            zmq_curve_keypair(a.client_pub, a.client_sec) < 0)
            die("keys");
        memcpy(a.server_pub, server_pub, 41);
        if (zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
            zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, server_sec, 41) < 0)
            die("curve server");
    }
    a.type = curve ? ZMQ_DEALER : ZMQ_PUSH;
    if (zmq_bind(r, "tcp://127.0.0.1:*") < 0 ||
        zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, a.endpoint, &elen) < 0)
        die("bind");
    if (pthread_create(&t, NULL, sender_main, &a) != 0)
        die("thread");
    zmq_msg_init(&m);
    for (;;) {
        if (curve) { /* the ROUTER's routing id first */
            if (zmq_msg_recv(&m, r, 0) < 0)
                die("recv id");
        }
        if (zmq_msg_recv(&m, r, 0) < 0)
            die("recv");
        if (zmq_msg_size(&m) == 0)
            break;
        last = now_s();
        if (got++ == 0)
            first = last;
    }
    zmq_msg_close(&m);
    pthread_join(t, NULL);
    zmq_close(r);
    if (got != a.sent)
        fprintf(stderr, "bench_zmq: sent %" PRIu64 ", received %" PRIu64 "\n", a.sent, got);
    return got > 1 && last > first ? (double)(got - 1) / (last - first) : 0;
}

/* The encoded size of a batch of n typical records, as psymon sends it. */
static size_t
batch_size(size_t n)
{
    psy_record_t *recs = calloc(n, sizeof *recs);
    psy_msg_t msg = {.kind = PSY_MSG_BATCH};
    uint8_t *buf = NULL;
    size_t len = 0;

    if (!recs)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        psy_record_t *r = &recs[i];
        psy_record_init(r);
        r->type = PSY_REC_ADMISSION;
        snprintf(r->id, sizeof r->id, "ADM-2024-%06zu", 100000 + i);
        snprintf(r->contact, sizeof r->contact, "%s", r->id);
        snprintf(r->ward, sizeof r->ward, "AMA-P3");
        r->time = INT64_C(1709300000000000) + (int64_t)i * 1000000;
        r->has_patient = true;
        memset(r->patient, 0xa5, sizeof r->patient);
        r->has_origin = true;
        memset(r->origin, 0x3c, sizeof r->origin);
        r->mode = PSY_MODE_ACUTE;
        r->age = 42;
    }
    memset(msg.u.batch.epoch, 7, PSY_EPOCH_LEN);
    msg.u.batch.first_seq = 123456;
    msg.u.batch.count = n;
    msg.u.batch.records = recs;
    if (psy_codec_encode(&msg, &buf, &len) < 0) {
        fprintf(stderr, "bench_zmq: cannot encode a batch of %zu\n", n);
        exit(1);
    }
    free(buf);
    free(recs);
    return len;
}

int
main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    size_t one = batch_size(1), full = batch_size(PSY_BATCH_MAX);
    void *ctx = zmq_ctx_new();
    struct {
        const char *name;
        bool curve;
        size_t size, records;
    } cases[] = {
        {"PUSH/PULL, 1 record per message", false, one, 1},
        {"PUSH/PULL, 1000-record batches", false, full, PSY_BATCH_MAX},
        {"CURVE DEALER/ROUTER, 1 record per message", true, one, 1},
        {"CURVE DEALER/ROUTER, 1000-record batches", true, full, PSY_BATCH_MAX},
    };

    if (!ctx || seconds <= 0)
        return 1;
    printf("libzmq %d.%d.%d over TCP loopback, %.1f s per case; message sizes: one record %zu "
           "bytes, %d records %zu bytes\n",
           ZMQ_VERSION_MAJOR, ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH, seconds, one, PSY_BATCH_MAX,
           full);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double mps = run_case(ctx, cases[i].curve, cases[i].size, seconds);
        printf("zmq: %-44s %12.0f messages/s %12.0f records/s %8.1f MB/s\n", cases[i].name, mps,
               mps * (double)cases[i].records, mps * (double)cases[i].size / 1e6);
        fflush(stdout);
    }
    zmq_ctx_term(ctx);
    return 0;
}

/*
 * Nothing clear leaves the collector: the real collector loop
 * (collector_run) reads inbox files full of CPR numbers and delivers them
 * to a real ingest and store in this process; every message the collector
 * hands to libzmq is captured in plaintext, before CURVE encrypts it, by
 * wrapping zmq_send at link time (tests/wire_privacy.cmake).
 *
 * The CPR numbers of the patient field, with and without the dash, and
 * their unkeyed SHA-256 (raw, lower- and upper-case hex) must appear in no
 * captured message, no file of the collector's state folder but done/, no
 * byte of the aggregator's SQLite database or its WAL, and no log line.
 * Controls make the test able to fail: the captured bytes hold the
 * expected HMAC pseudonyms and a CPR-like record id (ids are the source
 * system's, not the patient's, and travel as they are), and the same id is
 * found in the database bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "agg.h"
#include "collector.h"
#include "ingest.h"
#include "psymon/keys.h"
#include "psymon/log.h"
#include "pseudonym.h"
#include "store.h"

/* ---- the capture: every plaintext message a DEALER (the collector's socket) sends ---- */

#define CAPTURE_MAX 4096

typedef struct {
    uint8_t *data;
    size_t len;
} capture_t;

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static capture_t captured[CAPTURE_MAX];
static size_t ncaptured;
static atomic_int msg_send_used; /* zmq_msg_send on a DEALER: the capture would miss it */

int __real_zmq_send(void *s, const void *buf, size_t len, int flags);
int __wrap_zmq_send(void *s, const void *buf, size_t len, int flags);
int __real_zmq_msg_send(zmq_msg_t *msg, void *s, int flags);
int __wrap_zmq_msg_send(zmq_msg_t *msg, void *s, int flags);

static bool
is_dealer(void *s)
{
    int type = 0;
    size_t tlen = sizeof type;

    return zmq_getsockopt(s, ZMQ_TYPE, &type, &tlen) == 0 && type == ZMQ_DEALER;
}

int
__wrap_zmq_send(void *s, const void *buf, size_t len, int flags)
{
    if (is_dealer(s)) {
        pthread_mutex_lock(&capture_lock);
        if (ncaptured < CAPTURE_MAX) {
            captured[ncaptured].data = malloc(len ? len : 1);
            if (captured[ncaptured].data) {
                memcpy(captured[ncaptured].data, buf, len);
                captured[ncaptured++].len = len;
            }
        }
        pthread_mutex_unlock(&capture_lock);
    }
    return __real_zmq_send(s, buf, len, flags);
}

int
__wrap_zmq_msg_send(zmq_msg_t *msg, void *s, int flags)
{
    if (is_dealer(s))
        atomic_fetch_add(&msg_send_used, 1);
    return __real_zmq_msg_send(msg, s, flags);
}

/* ---- the data ---- */

/* Patients: CPR numbers as exported, with and without the dash. */
static const char *const patients[] = {"070465-1331", "1203871452", "311299-0017", "0101034568",
                                       "150372-9876"};
/* A CPR-like record id and ward: the source system's values, sent as they are. */
#define CPR_LIKE_ID   "0101901234"
#define CPR_LIKE_WARD "2208762211"
#define RECORDS       7 /* accepted records in the inbox files */

static const char ndjson[] =
    "{\"type\":\"admission\",\"id\":\"" CPR_LIKE_ID "\",\"time\":\"2024-03-01T10:00:00+01:00\","
    "\"patient\":\"070465-1331\",\"mode\":\"acute\",\"ward\":\"" CPR_LIKE_WARD "\"}\n"
    "{\"type\":\"coercion\",\"id\":\"C1\",\"time\":\"2024-03-01T16:00:00+01:00\","
    "\"end\":\"2024-03-01T19:30:00+01:00\",\"patient\":\"0704651331\",\"admission\":\"" CPR_LIKE_ID
    "\",\"kind\":\"belt\"}\n"
    "{\"type\":\"discharge\",\"id\":\"D1\",\"time\":\"2024-03-05T10:00:00+01:00\","
    "\"patient\":\"070465-1331\",\"admission\":\"" CPR_LIKE_ID "\"}\n"
    "{\"type\":\"admission\",\"id\":\"A2\",\"time\":\"2024-04-02T08:00:00+02:00\","
    "\"patient\":\"1203871452\",\"mode\":\"planned\"}\n"
    /* Rejected (month 13): its CPR number must not reach rejected.ndjson either. */
    "{\"type\":\"admission\",\"id\":\"BAD1\",\"time\":\"2024-13-01T00:00:00Z\","
    "\"patient\":\"150372-9876\",\"mode\":\"acute\"}\n";

static const char csv[] =
    "type,id,time,patient,mode,admission,kind\n"
    "admission,B1,2024-03-05T12:00:00+01:00,311299-0017,acute,,\n"
    "coercion,B2,2024-03-06T09:00:00+01:00,3112990017,,B1,sedative_medication\n"
    "admission,B3,2024-03-07T12:00:00+01:00,0101034568,acute,,\n";

/* ---- needles ---- */

typedef struct {
    uint8_t bytes[96];
    size_t len;
    char what[96];
} needle_t;

#define NEEDLES_MAX 64
static needle_t needles[NEEDLES_MAX];
static size_t nneedles;

static void
needle_add(const void *b, size_t len, const char *what, const char *cpr)
{
    assert_true(nneedles < NEEDLES_MAX && len <= sizeof needles[0].bytes);
    memcpy(needles[nneedles].bytes, b, len);
    needles[nneedles].len = len;
    snprintf(needles[nneedles].what, sizeof needles[0].what, "%s of %s", what, cpr);
    nneedles++;
}

/* The clear forms of every patient number and their unkeyed SHA-256, raw and in hex. */
static void
needles_build(void)
{
    nneedles = 0;
    for (size_t i = 0; i < sizeof patients / sizeof patients[0]; i++) {
        char forms[2][32];
        size_t n = strlen(patients[i]);
        size_t k = 0;

        /* Both spellings: DDMMYY-SSSS and DDMMYYSSSS. */
        for (size_t j = 0; j < n; j++)
            if (patients[i][j] != '-')
                forms[0][k++] = patients[i][j];
        forms[0][k] = '\0';
        assert_int_equal(k, 10);
        memcpy(forms[1], forms[0], 6);
        forms[1][6] = '-';
        memcpy(forms[1] + 7, forms[0] + 6, 5);
        for (size_t f = 0; f < 2; f++) {
            uint8_t h[crypto_hash_sha256_BYTES];
            char hex[2 * crypto_hash_sha256_BYTES + 1];

            needle_add(forms[f], strlen(forms[f]), "clear form", forms[f]);
            crypto_hash_sha256(h, (const uint8_t *)forms[f], strlen(forms[f]));
            needle_add(h, sizeof h, "raw SHA-256", forms[f]);
            sodium_bin2hex(hex, sizeof hex, h, sizeof h);
            needle_add(hex, strlen(hex), "hex SHA-256", forms[f]);
            for (char *p = hex; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                    *p = (char)(*p - 'a' + 'A');
            needle_add(hex, strlen(hex), "HEX SHA-256", forms[f]);
        }
    }
}

/* The first needle found in buf, or NULL. */
static const needle_t *
find_needle(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < nneedles; i++)
        if (memmem(buf, len, needles[i].bytes, needles[i].len))
            return &needles[i];
    return NULL;
}

static uint8_t *
read_all(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    *ret_len = len;
    return buf;
}

/* Fails when the file holds a needle; returns whether it holds `control` (may be NULL). */
static bool
check_file(const char *path, const char *control)
{
    size_t len = 0;
    uint8_t *buf = read_all(path, &len);
    const needle_t *n;
    bool has;

    assert_non_null(buf);
    n = find_needle(buf, len);
    if (n)
        fail_msg("%s holds the %s", path, n->what);
    has = control && memmem(buf, len, control, strlen(control));
    free(buf);
    return has;
}

/* True when the file holds a needle: the control that the needles match what was exported. */
static bool
check_file_control_only(const char *path)
{
    size_t len = 0;
    uint8_t *buf = read_all(path, &len);
    bool has;

    assert_non_null(buf);
    has = find_needle(buf, len) != NULL;
    free(buf);
    return has;
}

static size_t state_files_checked;

static int
check_tree_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (type == FTW_D && strcmp(path + ftw->base, "done") == 0)
        return FTW_SKIP_SUBTREE; /* the exported files as they came, kept on site */
    if (type == FTW_F) {
        check_file(path, NULL);
        state_files_checked++;
    }
    return FTW_CONTINUE;
}

/* ---- the run ---- */

typedef struct {
    collector_t *c;
    volatile sig_atomic_t stop, reload;
    int result;
} runner_t;

static void *
collector_thread(void *arg)
{
    runner_t *r = arg;

    r->result = collector_run(r->c, &r->stop, &r->reload);
    return NULL;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static size_t
stored_records(store_t *st, const psy_agg_conf_t *conf)
{
    kpi_records_t v;
    size_t n;

    assert_int_equal(store_load(st, conf, PSY_TIME_NONE, &v), 0);
    n = v.count;
    kpi_records_free(&v);
    return n;
}

static void
test_nothing_clear_leaves(void **state)
{
    char dir[] = "/tmp/test_wire_privacy.XXXXXX";
    char path[2 * PSY_PATH_MAX], server_sec[41], server_pub[41], client_sec[41], client_pub[41];
    char logpath[64], cmd[96];
    uint8_t pkey[PSY_PSEUDO_KEYLEN];
    psy_agg_conf_t *aconf = calloc(1, sizeof *aconf);
    psy_coll_conf_t cconf = {0};
    agg_t agg;
    store_t *st;
    ingest_t *in;
    runner_t run = {0};
    pthread_t thread;
    sigset_t mask, old;
    int saved_err, logfd;
    size_t batches_with_records = 0;
    bool id_seen = false;

    (void)state;
    assert_non_null(aconf);
    assert_int_equal(sodium_init() >= 0, 1);
    needles_build();
    assert_non_null(mkdtemp(dir));

    /* Keys, as psymon keygen writes them. */
    assert_int_equal(psy_keys_generate_curve(dir, "aggregator"), 0);
    assert_int_equal(psy_keys_generate_curve(dir, "pc-a"), 0);
    snprintf(path, sizeof path, "%s/aggregator.key", dir);
    assert_int_equal(psy_keys_load_curve(path, server_sec, server_pub), 0);
    snprintf(path, sizeof path, "%s/pc-a.key", dir);
    assert_int_equal(psy_keys_load_curve(path, client_sec, client_pub), 0);
    snprintf(path, sizeof path, "%s/pseudonym.key", dir);
    assert_int_equal(psy_keys_generate_pseudonym(path), 0);
    assert_int_equal(psy_keys_load_pseudonym(path, pkey), 0);

    /* The aggregator side: one center whose key is the collector's. */
    strcpy(aconf->listen, "tcp://127.0.0.1:*");
    snprintf(aconf->data_dir, sizeof aconf->data_dir, "%s/data", dir);
    assert_int_equal(mkdir(aconf->data_dir, 0700), 0);
    aconf->ncenters = 1;
    strcpy(aconf->centers[0].id, "pc-a");
    aconf->centers[0].nkeys = 1;
    strcpy(aconf->centers[0].keys[0], client_pub);
    st = store_new(aconf->data_dir, false);
    assert_non_null(st);
    assert_int_equal(agg_init(&agg, aconf, NULL), 0);
    aconf = (psy_agg_conf_t *)(uintptr_t)agg.conf; /* agg owns it now */
    in = ingest_new(&agg, st, server_sec);
    assert_non_null(in);

    /* The collector side, with inbox files full of CPR numbers. */
    strcpy(cconf.center, "pc-a");
    snprintf(cconf.aggregator, sizeof cconf.aggregator, "%s", ingest_endpoint(in));
    strcpy(cconf.aggregator_public_key, server_pub);
    snprintf(cconf.secret_key_file, sizeof cconf.secret_key_file, "%s/pc-a.key", dir);
    snprintf(cconf.pseudonym_key_file, sizeof cconf.pseudonym_key_file, "%s/pseudonym.key", dir);
    snprintf(cconf.inbox, sizeof cconf.inbox, "%s/inbox", dir);
    snprintf(cconf.state_dir, sizeof cconf.state_dir, "%s/state", dir);
    cconf.done_days = 30;
    cconf.spool_max_mb = 64;
    assert_int_equal(mkdir(cconf.inbox, 0700), 0);
    assert_int_equal(mkdir(cconf.state_dir, 0700), 0);
    snprintf(path, sizeof path, "%s/2024-03-01.ndjson", cconf.inbox);
    write_file(path, ndjson);
    snprintf(path, sizeof path, "%s/2024-03-02.csv", cconf.inbox);
    write_file(path, csv);

    /* Every log line of both sides goes to a file, checked below. */
    snprintf(logpath, sizeof logpath, "%s/log", dir);
    fflush(stderr);
    saved_err = dup(STDERR_FILENO);
    logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved_err >= 0 && logfd >= 0);
    assert_int_equal(dup2(logfd, STDERR_FILENO), STDERR_FILENO);
    close(logfd);
    psy_log_init("test_wire_privacy", PSY_LOG_DEBUG);

    snprintf(path, sizeof path, "%s/collector.conf", dir);
    run.c = collector_new(path, &cconf);
    assert_non_null(run.c);
    /* The collector's thread must not take the signals the test runner might get. */
    sigfillset(&mask);
    pthread_sigmask(SIG_BLOCK, &mask, &old);
    assert_int_equal(pthread_create(&thread, NULL, collector_thread, &run), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    /* Bounded: 60 s at most, normally a second or two. */
    for (int i = 0; i < 3000 && stored_records(st, aconf) < RECORDS; i++)
        assert_int_equal(ingest_step(in, 20), 0);
    /* One more turn, so that heartbeats after the last batch are captured too. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(ingest_step(in, 20), 0);
    run.stop = 1;
    for (int i = 0; i < 200; i++) /* the collector's loop waits up to about a second */
        assert_int_equal(ingest_step(in, 10), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(run.result, 0);
    collector_destroy(&run.c);

    fflush(stderr);
    dup2(saved_err, STDERR_FILENO);
    close(saved_err);
    assert_int_equal(stored_records(st, aconf), RECORDS);

    /* The wire: every captured plaintext message. */
    assert_int_equal(atomic_load(&msg_send_used), 0);
    pthread_mutex_lock(&capture_lock);
    assert_true(ncaptured > 0);
    for (size_t i = 0; i < ncaptured; i++) {
        const needle_t *n = find_needle(captured[i].data, captured[i].len);
        psy_msg_t m;

        if (n)
            fail_msg("message %zu of %zu bytes holds the %s", i, captured[i].len, n->what);
        if (memmem(captured[i].data, captured[i].len, CPR_LIKE_ID, strlen(CPR_LIKE_ID)))
            id_seen = true;
        assert_int_equal(psy_codec_decode(captured[i].data, captured[i].len, &m), 0);
        if (m.kind == PSY_MSG_BATCH && m.u.batch.count > 0) {
            batches_with_records++;
            /* Every patient field is the keyed pseudonym of one of the numbers. */
            for (size_t r = 0; r < m.u.batch.count; r++) {
                const psy_record_t *rec = &m.u.batch.records[r];
                bool known = false;
                if (!rec->has_patient)
                    continue;
                for (size_t p = 0; p < sizeof patients / sizeof patients[0]; p++) {
                    uint8_t want[PSY_PSEUDONYM_LEN];
                    pseudonym_make(pkey, patients[p], strlen(patients[p]), want);
                    known = known || memcmp(want, rec->patient, sizeof want) == 0;
                }
                if (!known)
                    fail_msg("record %s carries a patient that is no pseudonym", rec->id);
            }
        }
        psy_msg_clear(&m);
    }
    pthread_mutex_unlock(&capture_lock);
    assert_true(batches_with_records > 0);
    assert_true(id_seen); /* the control: the capture is plaintext */

    /* The aggregator's database and WAL, while the store is still open. */
    {
        bool in_db, in_wal = false;
        snprintf(path, sizeof path, "%s/psymon.db", aconf->data_dir);
        in_db = check_file(path, CPR_LIKE_ID);
        snprintf(path, sizeof path, "%s/psymon.db-wal", aconf->data_dir);
        if (access(path, F_OK) == 0)
            in_wal = check_file(path, CPR_LIKE_ID);
        assert_true(in_db || in_wal); /* the control: the grep sees stored values */
    }
    /* The collector's state folder, apart from done/ (there the files are as exported). */
    state_files_checked = 0;
    assert_int_equal(nftw(cconf.state_dir, check_tree_entry, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
    assert_true(state_files_checked > 0);
    snprintf(path, sizeof path, "%s/done/2024-03-01.ndjson", cconf.state_dir);
    assert_true(check_file_control_only(path));
    /* The log. */
    check_file(logpath, NULL);

    ingest_destroy(&in);
    store_destroy(&st);
    agg_fini(&agg);
    for (size_t i = 0; i < ncaptured; i++)
        free(captured[i].data);
    ncaptured = 0;
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_clear_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

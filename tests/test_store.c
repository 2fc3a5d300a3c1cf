/*
 * store: batches, deduplication, corrections, --known-at and status, each
 * against a fresh SQLite database in a temporary folder.
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
#include <sqlite3.h>

#include "store.h"

#define T0 (INT64_C(1709300000) * PSY_USEC) /* 2024-03-01 */

typedef struct {
    char dir[64];
    store_t *s;
    psy_agg_conf_t *conf;
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

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->s = store_new(f->dir, false);
    assert_non_null(f->s);
    f->conf = calloc(1, sizeof *f->conf);
    assert_non_null(f->conf);
    f->conf->ncenters = 2;
    strcpy(f->conf->centers[0].id, "pc-a");
    strcpy(f->conf->centers[1].id, "pc-b");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    store_destroy(&f->s);
    assert_null(f->s);
    store_destroy(&f->s); /* NULL is accepted */
    remove_dir(f->dir);
    free(f->conf);
    free(f);
    return 0;
}

static psy_record_t
admission(const char *id, psy_time_t t, const char *ward)
{
    psy_record_t r;

    psy_record_init(&r);
    r.type = PSY_REC_ADMISSION;
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.contact, sizeof r.contact, "%s", id);
    r.time = t;
    r.has_patient = true;
    memset(r.patient, 0xab, sizeof r.patient);
    snprintf(r.ward, sizeof r.ward, "%s", ward);
    r.mode = PSY_MODE_ACUTE;
    r.legal = PSY_LEGAL_VOLUNTARY;
    r.age = 42;
    return r;
}

static psy_record_t
voided(const char *id, psy_time_t t)
{
    psy_record_t r;

    psy_record_init(&r);
    r.type = PSY_REC_ADMISSION;
    snprintf(r.id, sizeof r.id, "%s", id);
    r.time = t;
    r.is_void = true;
    return r;
}

static psy_batch_t
batch(uint8_t epoch_byte, uint64_t first_seq, size_t count, psy_record_t *recs)
{
    psy_batch_t b = {.first_seq = first_seq, .count = count, .records = recs};

    memset(b.epoch, epoch_byte, sizeof b.epoch);
    return b;
}

/* The loaded record with `id` at center index `center`, or NULL. */
static const kpi_record_t *
find(const kpi_records_t *v, int center, const char *id)
{
    for (size_t i = 0; i < v->count; i++)
        if (v->items[i].center == center && strcmp(v->items[i].rec.id, id) == 0)
            return &v->items[i];
    return NULL;
}

static size_t
load_count(fixture_t *f, psy_time_t known_at)
{
    kpi_records_t v;
    size_t n;

    assert_int_equal(store_load(f->s, f->conf, known_at, &v), 0);
    n = v.count;
    free(v.items);
    return n;
}

static void
test_apply_and_load(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[3] = {admission("A1", T0, "M1"), admission("A2", T0 + 1, "M2"),
                            admission("A3", T0 + 2, "M3")};
    psy_batch_t b = batch(1, 1, 3, recs);
    store_apply_result_t res;
    kpi_records_t v;
    const kpi_record_t *k;
    uint64_t acked = 99;

    assert_int_equal(store_apply(f->s, "pc-b", &b, T0, &res), 0);
    assert_int_equal(res.acked, 3);
    assert_int_equal(res.appended, 3);
    assert_int_equal(res.duplicate, 0);
    assert_false(res.gap);
    assert_int_equal(store_acked(f->s, "pc-b", b.epoch, &acked), 0);
    assert_int_equal(acked, 3);

    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), 0);
    assert_int_equal(v.count, 3);
    k = find(&v, 1, "A2");
    assert_non_null(k);
    assert_true(psy_record_equal(&k->rec, &recs[1]));
    free(v.items);
}

static void
test_dedup_by_seq(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[4] = {admission("A1", T0, "M1"), admission("A2", T0, "M1"),
                            admission("A3", T0, "M1"), admission("A4", T0, "M1")};
    psy_batch_t b = batch(1, 1, 3, recs);
    store_apply_result_t res;
    uint64_t acked = 0;

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    /* The same batch again: every sequence is already stored. */
    assert_int_equal(store_apply_batch(f->s, "pc-a", &b, T0 + 1, &acked), 0);
    assert_int_equal(acked, 3);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 1, &res), 0);
    assert_int_equal(res.appended, 0);
    assert_int_equal(res.duplicate, 3);

    /* Overlapping: seqs 2..4 where 2 and 3 are stored; 4 is new. Records
     * 2 and 3 differ from what is stored, and must still be skipped. */
    psy_record_t over[3] = {admission("A2", T0, "XX"), admission("A3", T0, "XX"), recs[3]};
    b = batch(1, 2, 3, over);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 2, &res), 0);
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.duplicate, 2);
    assert_int_equal(res.acked, 4);
    assert_int_equal(load_count(f, PSY_TIME_NONE), 4);

    kpi_records_t v;
    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), 0);
    assert_string_equal(find(&v, 0, "A2")->rec.ward, "M1");
    free(v.items);

    /* Another epoch of the same center has its own sequence numbers. */
    uint8_t other[PSY_EPOCH_LEN];
    memset(other, 2, sizeof other);
    assert_int_equal(store_acked(f->s, "pc-a", other, &acked), 0);
    assert_int_equal(acked, 0);
    /* ... and so has the same epoch at another center. */
    assert_int_equal(store_acked(f->s, "pc-b", b.epoch, &acked), 0);
    assert_int_equal(acked, 0);
}

static void
test_gap_stores_nothing(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[2] = {admission("A1", T0, "M1"), admission("A2", T0, "M1")};
    psy_batch_t b = batch(1, 1, 2, recs);
    store_apply_result_t res;
    uint64_t acked = 0;

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    assert_int_equal(res.acked, 2);

    psy_record_t later[1] = {admission("A9", T0, "M1")};
    b = batch(1, 4, 1, later); /* seq 3 is missing */
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    assert_true(res.gap);
    assert_int_equal(res.acked, 2);
    assert_int_equal(res.appended, 0);
    assert_int_equal(load_count(f, PSY_TIME_NONE), 2);
    assert_int_equal(store_acked(f->s, "pc-a", b.epoch, &acked), 0);
    assert_int_equal(acked, 2);

    /* A fresh epoch must start at 1. */
    b = batch(7, 2, 1, later);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    assert_true(res.gap);
    assert_int_equal(res.acked, 0);
    assert_int_equal(load_count(f, PSY_TIME_NONE), 2);
}

static void
test_identical_new_epoch_appends_nothing(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[3] = {admission("A1", T0, "M1"), admission("A2", T0, "M1"),
                            admission("A3", T0, "M1")};
    psy_batch_t b = batch(1, 1, 3, recs);
    store_apply_result_t res;
    store_status_t st;

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    /* A collector that lost its state resends everything under a new epoch. */
    b = batch(2, 1, 3, recs);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + PSY_DAY, &res), 0);
    assert_int_equal(res.appended, 0);
    assert_int_equal(res.duplicate, 3);
    assert_int_equal(res.acked, 3);
    assert_int_equal(store_status(f->s, "pc-a", &st), 0);
    assert_int_equal(st.records, 3);
    /* Nothing new was appended, so the past as of before the resend is the same. */
    assert_int_equal(load_count(f, T0), 3);

    /* The same content from another center is that center's record. */
    assert_int_equal(store_apply(f->s, "pc-b", &b, T0, &res), 0);
    assert_int_equal(res.appended, 3);
    assert_int_equal(load_count(f, PSY_TIME_NONE), 6);
}

static void
test_corrections_void_and_revival(void **state)
{
    fixture_t *f = *state;
    psy_record_t r1[2] = {admission("A1", T0, "M1"), admission("A2", T0, "M1")};
    psy_record_t r2[1] = {admission("A1", T0 + 5, "M7")};
    psy_record_t r3[1] = {voided("A1", T0 + 5)};
    psy_record_t r4[1] = {admission("A1", T0 + 9, "M9")};
    psy_batch_t b;
    store_apply_result_t res;
    kpi_records_t v;
    store_status_t st;

    b = batch(1, 1, 2, r1);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 1 * PSY_HOUR, &res), 0);
    b = batch(1, 3, 1, r2);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 2 * PSY_HOUR, &res), 0);
    assert_int_equal(res.appended, 1);

    /* Corrections: the latest version wins. */
    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), 0);
    assert_int_equal(v.count, 2);
    assert_string_equal(find(&v, 0, "A1")->rec.ward, "M7");
    assert_int_equal(find(&v, 0, "A1")->rec.time, T0 + 5);
    free(v.items);

    /* A void removes it; status still counts the id. */
    b = batch(1, 4, 1, r3);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 3 * PSY_HOUR, &res), 0);
    assert_int_equal(res.appended, 1);
    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), 0);
    assert_int_equal(v.count, 1);
    assert_null(find(&v, 0, "A1"));
    assert_non_null(find(&v, 0, "A2"));
    free(v.items);
    assert_int_equal(store_status(f->s, "pc-a", &st), 0);
    assert_int_equal(st.records, 2);

    /* A later record with the same id brings it back. */
    b = batch(1, 5, 1, r4);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 4 * PSY_HOUR, &res), 0);
    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), 0);
    assert_int_equal(v.count, 2);
    assert_string_equal(find(&v, 0, "A1")->rec.ward, "M9");
    free(v.items);

    /* known_at reproduces each past state. */
    assert_int_equal(load_count(f, T0), 0);
    assert_int_equal(store_load(f->s, f->conf, T0 + 1 * PSY_HOUR, &v), 0);
    assert_int_equal(v.count, 2);
    assert_string_equal(find(&v, 0, "A1")->rec.ward, "M1");
    free(v.items);
    assert_int_equal(store_load(f->s, f->conf, T0 + 2 * PSY_HOUR + 30, &v), 0);
    assert_int_equal(v.count, 2);
    assert_string_equal(find(&v, 0, "A1")->rec.ward, "M7");
    free(v.items);
    assert_int_equal(store_load(f->s, f->conf, T0 + 3 * PSY_HOUR, &v), 0);
    assert_int_equal(v.count, 1);
    assert_null(find(&v, 0, "A1"));
    free(v.items);
    assert_int_equal(store_load(f->s, f->conf, T0 + 5 * PSY_HOUR, &v), 0);
    assert_int_equal(v.count, 2);
    assert_string_equal(find(&v, 0, "A1")->rec.ward, "M9");
    free(v.items);
}

static void
test_unconfigured_centers_skipped(void **state)
{
    fixture_t *f = *state;
    psy_record_t r[1] = {admission("A1", T0, "M1")};
    psy_batch_t b = batch(1, 1, 1, r);
    store_apply_result_t res;
    kpi_records_t v;

    assert_int_equal(store_apply(f->s, "pc-gone", &b, T0, &res), 0);
    assert_int_equal(store_apply(f->s, "pc-b", &b, T0, &res), 0);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(store_load(f->s, f->conf, pass ? T0 : PSY_TIME_NONE, &v), 0);
        assert_int_equal(v.count, 2);
        assert_non_null(find(&v, 0, "A1"));
        assert_non_null(find(&v, 1, "A1"));
        free(v.items);
    }
}

static void
test_status_and_heartbeat(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[4] = {admission("A1", T0, "M1"), admission("A2", T0, "M1"),
                            admission("A1", T0, "M2"), voided("A2", T0)};
    psy_batch_t b = batch(3, 1, 4, recs);
    psy_heartbeat_t hb = {.last_seq = 10,
                          .backlog = 10,
                          .spool_bytes = 4096,
                          .rejected = 7,
                          .spool_full = true,
                          .clock = T0 + 150 * PSY_USEC};
    store_apply_result_t res;
    store_status_t st;

    assert_int_equal(store_status(f->s, "pc-a", &st), 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.backlog, 0);
    assert_int_equal(st.rejected, 0);
    assert_true(st.last_seen == PSY_TIME_NONE);

    memset(hb.epoch, 3, sizeof hb.epoch);
    strcpy(hb.version, "0.1.0");
    hb.inbox_read = T0 + 100 * PSY_USEC; /* in the collector's clock, 150 s ahead */
    assert_int_equal(store_heartbeat(f->s, "pc-a", &hb, T0), 0);
    assert_int_equal(store_status(f->s, "pc-a", &st), 0);
    assert_true(st.inbox_read == T0 - 50 * PSY_USEC);
    assert_int_equal(st.backlog, 10);
    assert_int_equal(st.rejected, 7);
    assert_true(st.spool_full);
    assert_int_equal(st.spool_bytes, 4096);
    assert_string_equal(st.version, "0.1.0");
    assert_int_equal(st.clock_offset, 150 * PSY_USEC);
    assert_int_equal(st.last_seen, T0);

    /* Four of the ten are acknowledged after the heartbeat. */
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + PSY_USEC, &res), 0);
    assert_int_equal(store_status(f->s, "pc-a", &st), 0);
    assert_int_equal(st.backlog, 6);
    assert_int_equal(st.records, 2); /* A1 twice, A2 voided: two ids */
    assert_int_equal(st.last_seen, T0 + PSY_USEC);

    /* A heartbeat of another spool (the collector was reinstalled). */
    memset(hb.epoch, 4, sizeof hb.epoch);
    hb.last_seq = 2;
    hb.rejected = 0;
    hb.spool_full = false;
    hb.spool_bytes = 128;
    /* Restarted, it has read no file yet: what it read before still holds (ExportStale). */
    hb.inbox_read = 0;
    assert_int_equal(store_heartbeat(f->s, "pc-a", &hb, T0 + 2 * PSY_USEC), 0);
    assert_int_equal(store_status(f->s, "pc-a", &st), 0);
    assert_true(st.inbox_read == T0 - 50 * PSY_USEC);
    assert_int_equal(st.backlog, 2);
    assert_int_equal(st.spool_bytes, 128);
    assert_int_equal(st.rejected, 0);
    assert_false(st.spool_full);

    /* The other center is untouched. */
    assert_int_equal(store_status(f->s, "pc-b", &st), 0);
    assert_int_equal(st.records, 0);
    assert_true(st.last_seen == PSY_TIME_NONE);
}

static void
test_persists_and_readonly(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[2] = {admission("A1", T0, "M1"), admission("A2", T0, "M1")};
    psy_batch_t b = batch(1, 1, 2, recs);
    store_apply_result_t res;
    uint64_t acked = 0;
    store_t *ro;

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    store_destroy(&f->s);
    f->s = store_new(f->dir, false);
    assert_non_null(f->s);
    assert_int_equal(store_acked(f->s, "pc-a", b.epoch, &acked), 0);
    assert_int_equal(acked, 2);

    ro = store_new(f->dir, true);
    assert_non_null(ro);
    kpi_records_t v;
    assert_int_equal(store_load(ro, f->conf, PSY_TIME_NONE, &v), 0);
    assert_int_equal(v.count, 2);
    free(v.items);
    assert_int_equal(store_apply(ro, "pc-a", &b, T0, &res), -EROFS);
    store_destroy(&ro);

    /* A missing store cannot be opened read-only. */
    errno = 0;
    assert_null(store_new("/nonexistent-psymon-dir", true));
    assert_int_not_equal(errno, 0);
}

static void
test_bad_batches(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[1] = {admission("A1", T0, "M1")};
    psy_batch_t b = batch(1, 0, 1, recs);
    store_apply_result_t res = {.acked = 77};

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), -EINVAL);
    assert_int_equal(res.acked, 77); /* untouched */
    b = batch(1, 1, 0, recs);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), -EINVAL);
    b = batch(1, UINT64_MAX, 1, recs);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), -EINVAL);
    b = batch(1, 1, PSY_BATCH_MAX + 1, recs);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), -EINVAL);
    assert_int_equal(load_count(f, PSY_TIME_NONE), 0);
}

/* A clock that steps back must not reorder what --known-at sees. */
static void
test_stored_at_monotonic(void **state)
{
    fixture_t *f = *state;
    psy_record_t r1[1] = {admission("A1", T0, "M1")};
    psy_record_t r2[1] = {admission("A1", T0, "M2")};
    psy_batch_t b;
    store_apply_result_t res;
    kpi_records_t v;

    b = batch(1, 1, 1, r1);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + PSY_HOUR, &res), 0);
    b = batch(1, 2, 1, r2);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0); /* the clock stepped back */
    assert_int_equal(store_load(f->s, f->conf, T0 + PSY_HOUR, &v), 0);
    assert_int_equal(v.count, 1);
    assert_string_equal(v.items[0].rec.ward, "M2");
    free(v.items);
    assert_int_equal(load_count(f, T0), 0);
}

/* Every field of every type survives the store, in both load paths. */
static void
test_roundtrip_all_fields(void **state)
{
    fixture_t *f = *state;
    psy_record_t r[5];
    psy_batch_t b;
    store_apply_result_t res;
    kpi_records_t v;

    r[0] = admission("A-1.x:y_z", T0, "WARD.9_x-1");
    r[0].legal = PSY_LEGAL_INVOLUNTARY_YELLOW;
    r[0].age = 130;
    snprintf(r[0].contact, sizeof r[0].contact, "%s",
             "C-0123456789012345678901234567890123456789012345678901234567890");
    psy_record_init(&r[1]);
    r[1].type = PSY_REC_COERCION;
    strcpy(r[1].id, "C-77");
    r[1].time = T0 + 1;
    r[1].end = T0 + 3 * PSY_HOUR;
    r[1].has_patient = true;
    for (int i = 0; i < PSY_PSEUDONYM_LEN; i++)
        r[1].patient[i] = (uint8_t)(i * 7 + 1);
    strcpy(r[1].contact, "A-1");
    r[1].coercion = PSY_COERCION_BELT;
    r[1].voluntary = true;
    psy_record_init(&r[2]);
    r[2].type = PSY_REC_CONSULTATION;
    strcpy(r[2].id, "K-1");
    r[2].time = -5; /* before 1970 is still an instant */
    r[2].role = PSY_ROLE_SOCIAL_PHYSICIAN;
    r[2].consult = PSY_CONSULT_FOLLOW_HOME;
    r[2].minutes = 1440;
    psy_record_init(&r[3]);
    r[3].type = PSY_REC_TREATMENT_START;
    strcpy(r[3].id, "T-1");
    r[3].time = T0;
    r[3].has_patient = true;
    strcpy(r[3].referral, "R-1");
    psy_record_init(&r[4]);
    r[4].type = PSY_REC_DISCHARGE;
    strcpy(r[4].id, "D-1");
    r[4].time = T0;
    r[4].has_patient = true;
    strcpy(r[4].contact, "A-1");
    r[4].outcome = PSY_OUTCOME_DEATH;

    b = batch(1, 1, 5, r);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    assert_int_equal(res.appended, 5);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(store_load(f->s, f->conf, pass ? T0 : PSY_TIME_NONE, &v), 0);
        assert_int_equal(v.count, 5);
        for (int i = 0; i < 5; i++) {
            const kpi_record_t *k = find(&v, 0, r[i].id);
            assert_non_null(k);
            assert_true(psy_record_equal(&k->rec, &r[i]));
        }
        free(v.items);
    }
    /* Equal content compares equal after the round trip: nothing appended. */
    b = batch(2, 1, 5, r);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    assert_int_equal(res.appended, 0);
}

/* A damaged database gives an error, never a crash or a wild record. */
static void
test_damaged_row(void **state)
{
    fixture_t *f = *state;
    psy_record_t r[1] = {admission("A1", T0, "M1")};
    psy_batch_t b = batch(1, 1, 1, r);
    store_apply_result_t res;
    kpi_records_t v = {0};
    char path[128];
    sqlite3 *db;

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    snprintf(path, sizeof path, "%s/psymon.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE versions SET rec = x'0103'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), -EIO);
    assert_null(v.items); /* untouched */
    assert_int_equal(store_load(f->s, f->conf, T0, &v), -EIO);
    /* A changed record is compared with a damaged one: an error, nothing stored. */
    b = batch(1, 2, 1, r);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), -EIO);
}

/* r, read from the place numbered `where` (an origin of 16 equal bytes). */
static psy_record_t
at(psy_record_t r, uint8_t where)
{
    r.has_origin = true;
    memset(r.origin, where, sizeof r.origin);
    return r;
}

/* Applies one record as its own batch; returns whether it was appended. */
static bool
apply1(fixture_t *f, uint8_t epoch, uint64_t seq, psy_record_t r, psy_time_t now)
{
    psy_batch_t b = batch(epoch, seq, 1, &r);
    store_apply_result_t res;

    assert_int_equal(store_apply(f->s, "pc-a", &b, now, &res), 0);
    assert_int_equal(res.appended + res.duplicate, 1);
    return res.appended == 1;
}

/*
 * The ward in a packed record (store.c's layout: 29 fixed bytes, the
 * pseudonym when flag 2 is set, then the ward as u8 length + bytes).
 */
static void
packed_ward(const uint8_t *p, int len, char *buf, size_t size)
{
    int off = 29 + ((p[2] & 2) ? PSY_PSEUDONYM_LEN : 0);

    assert_true(len > off);
    assert_true(len >= off + 1 + p[off]);
    snprintf(buf, size, "%.*s", p[off], (const char *)p + off + 1);
}

/* The versions of pc-a's `id` in the order stored, one "<ward or void>@<origin byte or ->" each. */
static void
history(fixture_t *f, const char *id, char *buf, size_t size)
{
    char path[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    snprintf(path, sizeof path, "%s/psymon.db", f->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT v.rec, v.origin FROM versions v JOIN centers c"
                                        " USING (cid) WHERE c.center = 'pc-a' AND v.id = ?1"
                                        " ORDER BY v.vid",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    buf[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        char one[64], ward[PSY_WARD_MAX + 1];
        const uint8_t *rec = sqlite3_column_blob(st, 0);
        const uint8_t *o = sqlite3_column_blob(st, 1);
        int olen = sqlite3_column_bytes(st, 1);
        assert_true(o == NULL || olen == PSY_ORIGIN_LEN);
        assert_non_null(rec);
        packed_ward(rec, sqlite3_column_bytes(st, 0), ward, sizeof ward);
        snprintf(one, sizeof one, "%s%s@%c", buf[0] ? " " : "", (rec[2] & 1) ? "void" : ward,
                 o ? (char)o[0] : '-');
        strncat(buf, one, size - strlen(buf) - 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The current ward of pc-a's `id`, or "void" when it is retracted. */
static void
current_ward(fixture_t *f, const char *id, char *buf, size_t size)
{
    kpi_records_t v;
    const kpi_record_t *k;

    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), 0);
    k = find(&v, 0, id);
    snprintf(buf, size, "%s", k ? k->rec.ward : "void");
    free(v.items);
}

/*
 * records.md: v1, a void, then v1 again read from another place brings the
 * record back, although v1 is stored already (a bring-back, not a replay).
 */
static void
test_origin_bring_back(void **state)
{
    fixture_t *f = *state;
    psy_record_t v1 = admission("A1", T0, "M1");
    char h[256], w[64];

    assert_true(apply1(f, 1, 1, at(v1, 'A'), T0 + 1));
    assert_true(apply1(f, 1, 2, at(voided("A1", T0), 'B'), T0 + 2));
    current_ward(f, "A1", w, sizeof w);
    assert_string_equal(w, "void");
    assert_true(apply1(f, 1, 3, at(v1, 'C'), T0 + 3));
    current_ward(f, "A1", w, sizeof w);
    assert_string_equal(w, "M1");
    history(f, "A1", h, sizeof h);
    assert_string_equal(h, "M1@A void@B M1@C");
}

/*
 * The same files read again (new epoch, as after a reinstall or a requeue):
 * v1 and its correction v2 are both stored already, from the same places,
 * so neither is appended and v2 stays current, at no moment v1.
 */
static void
test_origin_replay_whole_history(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[2] = {at(admission("A1", T0, "M1"), 'A'), at(admission("A1", T0, "M2"), 'B')};
    psy_batch_t b = batch(1, 1, 2, recs);
    store_apply_result_t res;
    char h[256], w[64];

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 1, &res), 0);
    assert_int_equal(res.appended, 2);
    /* One record at a time, checking the current version after each. */
    assert_false(apply1(f, 2, 1, recs[0], T0 + 2));
    current_ward(f, "A1", w, sizeof w);
    assert_string_equal(w, "M2");
    assert_false(apply1(f, 2, 2, recs[1], T0 + 3));
    /* And both in one batch under a third epoch. */
    b = batch(3, 1, 2, recs);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 4, &res), 0);
    assert_int_equal(res.appended, 0);
    assert_int_equal(res.duplicate, 2);
    assert_int_equal(res.acked, 2);
    history(f, "A1", h, sizeof h);
    assert_string_equal(h, "M1@A M2@B");
    current_ward(f, "A1", w, sizeof w);
    assert_string_equal(w, "M2");
    /* known_at is unchanged too: the versions stored at T0 + 1 and nothing after. */
    assert_int_equal(load_count(f, T0 + 1), 1);
}

/*
 * A backup held v1@A only; the files read again hold v1@A, a void@B and
 * v1@C: the replayed v1 adds nothing, the tail the backup missed is
 * appended in order, and the record ends current.
 */
static void
test_origin_replay_brings_lost_tail(void **state)
{
    fixture_t *f = *state;
    psy_record_t v1 = admission("A1", T0, "M1");
    psy_record_t recs[3] = {at(v1, 'A'), at(voided("A1", T0), 'B'), at(v1, 'C')};
    psy_batch_t b;
    store_apply_result_t res;
    char h[256], w[64];

    assert_true(apply1(f, 1, 1, recs[0], T0 + 1));
    b = batch(2, 1, 3, recs);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 2, &res), 0);
    assert_int_equal(res.appended, 2);
    assert_int_equal(res.duplicate, 1);
    history(f, "A1", h, sizeof h);
    assert_string_equal(h, "M1@A void@B M1@C");
    current_ward(f, "A1", w, sizeof w);
    assert_string_equal(w, "M1");
    /* Read yet again: nothing at all. */
    b = batch(3, 1, 3, recs);
    assert_int_equal(store_apply(f->s, "pc-a", &b, T0 + 3, &res), 0);
    assert_int_equal(res.appended, 0);
    history(f, "A1", h, sizeof h);
    assert_string_equal(h, "M1@A void@B M1@C");
}

/*
 * Records without an origin are compared with the current version only, as
 * before origins: v1, v2, v1 stores three versions, a repeat of the current
 * one nothing. An origin stored before does not match a record without one,
 * nor one with another origin and the same content.
 */
static void
test_origin_absent(void **state)
{
    fixture_t *f = *state;
    psy_record_t v1 = admission("A1", T0, "M1"), v2 = admission("A1", T0, "M2");
    char h[256], w[64];

    assert_true(apply1(f, 1, 1, v1, T0 + 1));
    assert_true(apply1(f, 1, 2, v2, T0 + 2));
    assert_false(apply1(f, 1, 3, v2, T0 + 3));
    assert_true(apply1(f, 1, 4, v1, T0 + 4));
    assert_false(apply1(f, 1, 5, v1, T0 + 5));
    history(f, "A1", h, sizeof h);
    assert_string_equal(h, "M1@- M2@- M1@-");

    psy_record_t b1 = admission("B1", T0, "M1"), b2 = admission("B1", T0, "M2");
    assert_true(apply1(f, 1, 6, at(b1, 'A'), T0 + 6));
    assert_true(apply1(f, 1, 7, b2, T0 + 7));
    assert_true(apply1(f, 1, 8, b1, T0 + 8));          /* no origin: not a replay of b1@A */
    assert_true(apply1(f, 1, 9, at(b2, 'A'), T0 + 9)); /* same place, other content */
    current_ward(f, "B1", w, sizeof w);
    assert_string_equal(w, "M2");
    history(f, "B1", h, sizeof h);
    assert_string_equal(h, "M1@A M2@- M1@- M2@A");
}

/* Runs one SQL script on the store's file with a connection of its own. */
static void
exec_sql(fixture_t *f, const char *sql)
{
    char path[128];
    sqlite3 *db = NULL;

    snprintf(path, sizeof path, "%s/psymon.db", f->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int
int_sql(fixture_t *f, const char *sql)
{
    char path[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int v = -1;

    snprintf(path, sizeof path, "%s/psymon.db", f->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/*
 * A database of schema 1 (no origin column), as an aggregator before
 * origins left it: readers open it as it is; the upgraded writer adds the
 * column, keeps every version and acknowledgement, and stores origins.
 */
static void
test_old_schema_upgraded(void **state)
{
    fixture_t *f = *state;
    psy_record_t recs[2] = {admission("A1", T0, "M1"), admission("A2", T0, "M1")};
    psy_batch_t b = batch(1, 1, 2, recs);
    store_apply_result_t res;
    uint64_t acked = 0;
    kpi_records_t v;
    char h[256], w[64];

    assert_int_equal(store_apply(f->s, "pc-a", &b, T0, &res), 0);
    assert_true(apply1(f, 3, 1, admission("A2", T0, "M2"), T0 + 1)); /* a correction */
    store_destroy(&f->s);
    /*
     * Back to schema 1, as a store before origins left it: each version as
     * seventeen columns and the packed record, `current` holding the packed
     * record again, everything keyed by the center's name.
     */
    exec_sql(
        f,
        "CREATE TABLE v1 (vid INTEGER PRIMARY KEY, center TEXT NOT NULL, id TEXT NOT NULL,"
        " epoch BLOB NOT NULL, seq INTEGER NOT NULL, stored_at INTEGER NOT NULL,"
        " type INTEGER NOT NULL, void INTEGER NOT NULL, time INTEGER NOT NULL, patient BLOB,"
        " ward TEXT NOT NULL, contact TEXT NOT NULL, referral TEXT NOT NULL,"
        " mode INTEGER NOT NULL, legal INTEGER NOT NULL, outcome INTEGER NOT NULL,"
        " coercion INTEGER NOT NULL, end_t INTEGER NOT NULL, voluntary INTEGER NOT NULL,"
        " role INTEGER NOT NULL, consult INTEGER NOT NULL, age INTEGER NOT NULL,"
        " minutes INTEGER NOT NULL, rec BLOB NOT NULL);"
        "INSERT INTO v1 SELECT v.vid, c.center, v.id, s.epoch, v.seq, v.stored_at,"
        " 1, 0, 0, NULL, '', '', '', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, v.rec"
        " FROM versions v JOIN centers c USING (cid) JOIN seqs s USING (eid);"
        "CREATE TABLE c1 (center TEXT NOT NULL, id TEXT NOT NULL, vid INTEGER NOT NULL,"
        " void INTEGER NOT NULL, rec BLOB NOT NULL, PRIMARY KEY (center, id)) WITHOUT ROWID;"
        "INSERT INTO c1 SELECT c.center, k.id, k.vid, k.void, v.rec FROM current k"
        " JOIN centers c USING (cid) JOIN versions v ON v.vid = k.vid;"
        "CREATE TABLE s1 (center TEXT NOT NULL, epoch BLOB NOT NULL, acked INTEGER NOT NULL,"
        " PRIMARY KEY (center, epoch)) WITHOUT ROWID;"
        "INSERT INTO s1 SELECT c.center, s.epoch, s.acked FROM seqs s JOIN centers c USING (cid);"
        "CREATE TABLE n1 (center TEXT PRIMARY KEY NOT NULL, last_seen INTEGER,"
        " records INTEGER NOT NULL DEFAULT 0, hb_at INTEGER, hb_epoch BLOB, hb_last_seq INTEGER,"
        " hb_backlog INTEGER, hb_spool_bytes INTEGER, hb_rejected INTEGER,"
        " hb_spool_full INTEGER, hb_clock_offset INTEGER, hb_version TEXT);"
        "INSERT INTO n1 (center, last_seen, records) SELECT center, last_seen, records"
        " FROM centers;"
        "DROP TABLE versions; DROP TABLE current; DROP TABLE seqs; DROP TABLE centers;"
        "ALTER TABLE v1 RENAME TO versions; ALTER TABLE c1 RENAME TO current;"
        "ALTER TABLE s1 RENAME TO seqs; ALTER TABLE n1 RENAME TO centers;"
        "CREATE INDEX versions_key ON versions(center, id);"
        "PRAGMA user_version = 1;");
    assert_int_equal(int_sql(f, "SELECT count(*) FROM pragma_table_info('versions')"
                                " WHERE name = 'origin'"),
                     0);

    store_t *ro = store_new(f->dir, true);
    assert_non_null(ro);
    assert_int_equal(store_load(ro, f->conf, PSY_TIME_NONE, &v), 0);
    assert_int_equal(v.count, 2);
    free(v.items);
    assert_int_equal(store_load(ro, f->conf, T0, &v), 0);
    assert_int_equal(v.count, 2);
    free(v.items);
    assert_int_equal(store_acked(ro, "pc-a", b.epoch, &acked), 0);
    assert_int_equal(acked, 2);
    store_destroy(&ro);
    assert_int_equal(int_sql(f, "PRAGMA user_version"), 1);

    f->s = store_new(f->dir, false);
    assert_non_null(f->s);
    assert_int_equal(int_sql(f, "PRAGMA user_version"), 3);
    assert_int_equal(int_sql(f, "SELECT count(*) FROM versions WHERE origin IS NULL"), 3);
    assert_int_equal(int_sql(f, "SELECT count(*) FROM pragma_table_info('versions')"), 9);
    /* The correction points back at the version it replaced. */
    assert_int_equal(int_sql(f, "SELECT count(*) FROM versions v JOIN versions p ON p.vid = v.prev"
                                " WHERE v.id = 'A2' AND p.id = 'A2'"),
                     1);
    current_ward(f, "A2", w, sizeof w);
    assert_string_equal(w, "M2");
    assert_int_equal(store_acked(f->s, "pc-a", b.epoch, &acked), 0);
    assert_int_equal(acked, 2);
    assert_int_equal(store_load(f->s, f->conf, PSY_TIME_NONE, &v), 0);
    assert_int_equal(v.count, 2);
    free(v.items);

    assert_true(apply1(f, 1, 3, at(admission("A1", T0, "M2"), 'A'), T0 + 1));
    assert_false(apply1(f, 2, 1, at(admission("A1", T0, "M2"), 'A'), T0 + 2));
    assert_true(apply1(f, 2, 2, at(admission("A1", T0, "M1"), 'B'), T0 + 3));
    assert_false(apply1(f, 2, 3, at(admission("A1", T0, "M2"), 'A'), T0 + 4));
    history(f, "A1", h, sizeof h);
    assert_string_equal(h, "M1@- M2@A M1@B");
    current_ward(f, "A1", w, sizeof w);
    assert_string_equal(w, "M1");

    /* Opened again, the upgraded store is taken as it is. */
    store_destroy(&f->s);
    f->s = store_new(f->dir, false);
    assert_non_null(f->s);
    assert_int_equal(int_sql(f, "SELECT count(*) FROM versions"), 5);

    /* A schema newer than this psymon's is refused, by writers and readers. */
    store_destroy(&f->s);
    exec_sql(f, "PRAGMA user_version = 4;");
    errno = 0;
    assert_null(store_new(f->dir, false));
    assert_int_equal(errno, EPROTO);
    assert_null(store_new(f->dir, true));
    assert_int_equal(errno, EPROTO);
    assert_int_equal(int_sql(f, "PRAGMA user_version"), 4);
    exec_sql(f, "PRAGMA user_version = 3;");
    f->s = store_new(f->dir, false);
    assert_non_null(f->s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_and_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_by_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identical_new_epoch_appends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrections_void_and_revival, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unconfigured_centers_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persists_and_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_at_monotonic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_all_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_bring_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_replay_whole_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_replay_brings_lost_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_schema_upgraded, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * series: RRD files rebuilt from records, read back with rrd_fetch_r; a
 * correction changes what is read; nothing is written for today or later;
 * the thread builds from a real store; graphs are PNGs.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <rrd.h>

#include "agg.h"
#include "series.h"
#include "store.h"

#define DAY_S 86400
/* 2021-01-11T12:00:00Z: ten complete days since the epoch. */
#define NOW_S         (SERIES_EPOCH_S + 10 * DAY_S + 12 * 3600)
#define AT(day, hour) ((SERIES_EPOCH_S + (int64_t)(day)*DAY_S + (hour)*3600) * PSY_USEC)

typedef struct {
    char dir[64];
    char rrd_dir[96];
    psy_agg_conf_t *conf;
    kpi_records_t recs;
} fixture_t;

static void
rm_rf(const char *dir)
{
    char cmd[256];

    /* The folder is our own mkdtemp result: nothing outside it is touched. */
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_series.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->rrd_dir, sizeof f->rrd_dir, "%s/rrd", f->dir);
    f->conf = calloc(1, sizeof *f->conf);
    assert_non_null(f->conf);
    f->conf->ncenters = 2;
    strcpy(f->conf->centers[0].id, "pc-a");
    strcpy(f->conf->centers[0].name, "Center A");
    strcpy(f->conf->centers[1].id, "pc-b");
    snprintf(f->conf->data_dir, sizeof f->conf->data_dir, "%s", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    kpi_records_free(&f->recs);
    rm_rf(f->dir);
    free(f->conf);
    free(f);
    return 0;
}

static psy_record_t
rec(psy_rec_type_t type, const char *id, psy_time_t t)
{
    psy_record_t r;

    psy_record_init(&r);
    r.type = type;
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.contact, sizeof r.contact, "%s", id);
    r.time = t;
    r.has_patient = true;
    memset(r.patient, 0x11, sizeof r.patient);
    if (type == PSY_REC_ADMISSION)
        r.mode = PSY_MODE_ACUTE;
    return r;
}

static psy_record_t
coercion(const char *id, psy_time_t t, psy_coercion_t kind, bool voluntary)
{
    psy_record_t r = rec(PSY_REC_COERCION, id, t);

    r.coercion = kind;
    r.voluntary = voluntary;
    return r;
}

static void
push(fixture_t *f, uint16_t center, psy_record_t r)
{
    assert_int_equal(kpi_records_push(&f->recs, center, &r), 0);
}

/* The value rrd_fetch_r gives for `ds` on UTC day `day` (0 = 2021-01-01) of `file`. */
typedef struct {
    time_t start, end;
    unsigned long step, ds_cnt;
    char **names;
    rrd_value_t *data;
} fetched_t;

static void
fetch(const char *file, fetched_t *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->start = (time_t)SERIES_EPOCH_S;
    ret->end = (time_t)(NOW_S + 5 * DAY_S);
    ret->step = DAY_S;
    rrd_clear_error();
    if (rrd_fetch_r(file, "AVERAGE", &ret->start, &ret->end, &ret->step, &ret->ds_cnt, &ret->names,
                    &ret->data) != 0)
        fail_msg("rrd_fetch_r %s: %s", file, rrd_get_error());
    assert_int_equal(ret->step, DAY_S);
    assert_int_equal(ret->ds_cnt, SERIES_DS__COUNT);
    for (unsigned long i = 0; i < ret->ds_cnt; i++)
        assert_string_equal(ret->names[i], series_ds_name((int)i));
}

static void
fetched_free(fetched_t *f)
{
    for (unsigned long i = 0; i < f->ds_cnt; i++)
        rrd_freemem(f->names[i]);
    rrd_freemem(f->names);
    rrd_freemem(f->data);
}

/* A row of rrd_fetch_r stands for the step ending at its time: day d ends at epoch + (d + 1) days.
 */
static double
value(const fetched_t *f, int day, int ds)
{
    time_t t = (time_t)(SERIES_EPOCH_S + (int64_t)(day + 1) * DAY_S);
    long row = (long)((t - f->start) / (time_t)f->step) - 1;
    long rows = (long)((f->end - f->start) / (time_t)f->step);

    assert_true(row >= 0 && row < rows);
    return f->data[(size_t)row * f->ds_cnt + (size_t)ds];
}

static void
path_of(const fixture_t *f, const char *id, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s.rrd", f->rrd_dir, id);
}

static void
fill_example(fixture_t *f)
{
    push(f, 0, rec(PSY_REC_ADMISSION, "a1", AT(1, 8)));
    push(f, 0, rec(PSY_REC_ADMISSION, "a2", AT(1, 23)));
    push(f, 0, rec(PSY_REC_DISCHARGE, "d1", AT(2, 0)));
    push(f, 0, coercion("c1", AT(2, 10), PSY_COERCION_BELT, false));
    push(f, 0, coercion("c2", AT(2, 11), PSY_COERCION_BELT, true)); /* voluntary: not coercion */
    push(f, 1, coercion("c3", AT(4, 1), PSY_COERCION_PHYSICAL_RESTRAINT, false));
    push(f, 1, coercion("c4", AT(4, 2), PSY_COERCION_SEDATIVE_MEDICATION, false));
    push(f, 1, coercion("c5", AT(5, 3), PSY_COERCION_STRAPS, false));
    push(f, 1, rec(PSY_REC_ADMISSION, "a3", AT(9, 23)));
    push(f, 1, rec(PSY_REC_ADMISSION, "today", AT(10, 1))); /* today: not complete */
    push(f, 1, rec(PSY_REC_ADMISSION, "future", AT(12, 1)));
    push(f, 0, rec(PSY_REC_ADMISSION, "old", AT(-1, 12))); /* 2020-12-31: before the epoch */
    push(f, 0, rec(PSY_REC_CONSULTATION, "k1", AT(3, 12)));
}

static void
test_rebuild_counts(void **state)
{
    fixture_t *f = *state;
    char path[160], err[256] = "";
    fetched_t a, b, r;

    fill_example(f);
    assert_int_equal(
        series_rebuild(f->rrd_dir, f->conf, &f->recs, NOW_S * PSY_USEC, err, sizeof err), 0);
    path_of(f, "pc-a", path, sizeof path);
    fetch(path, &a);
    path_of(f, "pc-b", path, sizeof path);
    fetch(path, &b);
    path_of(f, "region", path, sizeof path);
    fetch(path, &r);

    assert_true(value(&a, 0, SERIES_DS_ADMISSIONS) == 0);
    assert_true(value(&a, 1, SERIES_DS_ADMISSIONS) == 2);
    assert_true(value(&a, 2, SERIES_DS_ADMISSIONS) == 0);
    assert_true(value(&a, 2, SERIES_DS_DISCHARGES) == 1);
    assert_true(value(&a, 2, SERIES_DS_BELT) == 1);
    assert_true(value(&a, 2, SERIES_DS_COERCION) == 1);
    assert_true(value(&a, 3, SERIES_DS_COERCION) == 0);
    assert_true(value(&b, 2, SERIES_DS_BELT) == 0);
    assert_true(value(&b, 4, SERIES_DS_RESTRAINT) == 1);
    assert_true(value(&b, 4, SERIES_DS_SEDATIVE) == 1);
    assert_true(value(&b, 4, SERIES_DS_COERCION) == 2);
    assert_true(value(&b, 5, SERIES_DS_COERCION) == 1);
    assert_true(value(&b, 5, SERIES_DS_RESTRAINT) == 0);
    assert_true(value(&b, 9, SERIES_DS_ADMISSIONS) == 1);
    /* The region is the sum of its centers. */
    assert_true(value(&r, 1, SERIES_DS_ADMISSIONS) == 2);
    assert_true(value(&r, 2, SERIES_DS_BELT) == 1);
    assert_true(value(&r, 4, SERIES_DS_COERCION) == 2);
    assert_true(value(&r, 9, SERIES_DS_ADMISSIONS) == 1);
    /* Today and later hold nothing: no update was dated after the start of today. */
    assert_true(isnan(value(&b, 10, SERIES_DS_ADMISSIONS)));
    assert_true(isnan(value(&r, 11, SERIES_DS_ADMISSIONS)));
    assert_true(isnan(value(&r, 12, SERIES_DS_ADMISSIONS)));
    fetched_free(&a);
    fetched_free(&b);
    fetched_free(&r);

    /* No temporary file is left behind. */
    path_of(f, "pc-a.rrd", path, sizeof path);
    {
        struct stat st;
        char tmp[200];
        snprintf(tmp, sizeof tmp, "%s/pc-a.rrd.tmp", f->rrd_dir);
        assert_int_equal(stat(tmp, &st), -1);
    }
}

static void
test_last_update_not_in_future(void **state)
{
    fixture_t *f = *state;
    char path[160];
    time_t last;

    fill_example(f);
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, NOW_S * PSY_USEC, NULL, 0), 0);
    path_of(f, "region", path, sizeof path);
    rrd_clear_error();
    last = rrd_last_r(path);
    assert_true(last > 0);
    /* The last update is the start of today (UTC), the end of yesterday's step. */
    assert_int_equal((long long)last, (long long)(NOW_S - NOW_S % DAY_S));
    assert_true((long long)last <= (long long)NOW_S);

    /* Exactly at midnight, the day that just began is not written either. */
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs,
                                    (SERIES_EPOCH_S + 10 * DAY_S) * PSY_USEC, NULL, 0),
                     0);
    last = rrd_last_r(path);
    assert_int_equal((long long)last, (long long)(SERIES_EPOCH_S + 10 * DAY_S));

    /* On the epoch's first day there is no complete day: the file exists, empty. */
    assert_int_equal(
        series_rebuild(f->rrd_dir, f->conf, &f->recs, (SERIES_EPOCH_S + 3600) * PSY_USEC, NULL, 0),
        0);
    last = rrd_last_r(path);
    assert_int_equal((long long)last, (long long)SERIES_EPOCH_S);
}

static void
test_correction_changes_values(void **state)
{
    fixture_t *f = *state;
    char path[160];
    fetched_t a;

    fill_example(f);
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, NOW_S * PSY_USEC, NULL, 0), 0);
    path_of(f, "pc-a", path, sizeof path);
    fetch(path, &a);
    assert_true(value(&a, 1, SERIES_DS_ADMISSIONS) == 2);
    assert_true(value(&a, 2, SERIES_DS_BELT) == 1);
    fetched_free(&a);

    /* Corrections: a2 moved to day 3, the belt episode c1 voided, as store_load gives them. */
    for (size_t i = 0; i < f->recs.count; i++) {
        psy_record_t *r = &f->recs.items[i].rec;
        if (strcmp(r->id, "a2") == 0)
            r->time = AT(3, 9);
    }
    for (size_t i = 0; i < f->recs.count; i++) {
        if (strcmp(f->recs.items[i].rec.id, "c1") == 0) {
            f->recs.items[i] = f->recs.items[--f->recs.count];
            break;
        }
    }
    /* A day older than the last update is rewritten: the file is rebuilt whole. */
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, NOW_S * PSY_USEC, NULL, 0), 0);
    fetch(path, &a);
    assert_true(value(&a, 1, SERIES_DS_ADMISSIONS) == 1);
    assert_true(value(&a, 3, SERIES_DS_ADMISSIONS) == 1);
    assert_true(value(&a, 2, SERIES_DS_BELT) == 0);
    assert_true(value(&a, 2, SERIES_DS_COERCION) == 0);
    fetched_free(&a);
}

static void
test_rebuild_rejects_bad_arguments(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(series_rebuild(NULL, f->conf, &f->recs, NOW_S * PSY_USEC, NULL, 0), -EINVAL);
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, PSY_TIME_NONE, NULL, 0),
                     -EINVAL);
    /* A folder that cannot be created is an error, not a crash. */
    assert_true(
        series_rebuild("/proc/psymon-no/rrd", f->conf, &f->recs, NOW_S * PSY_USEC, NULL, 0) < 0);
}

static psy_batch_t
batch(uint64_t first_seq, size_t count, psy_record_t *recs)
{
    psy_batch_t b = {.first_seq = first_seq, .count = count, .records = recs};

    memset(b.epoch, 0x42, sizeof b.epoch);
    return b;
}

/* Waits until `path` exists and its last update is `last`, for up to `secs` seconds. */
static bool
wait_for(const char *path, time_t last, int secs)
{
    for (int i = 0; i < secs * 10; i++) {
        struct stat st;
        if (stat(path, &st) == 0) {
            rrd_clear_error();
            if (rrd_last_r(path) == last)
                return true;
        }
        usleep(100000);
    }
    return false;
}

static void
test_thread_and_graph(void **state)
{
    fixture_t *f = *state;
    agg_t agg = {0};
    store_t *st;
    series_t *s;
    char path[160];
    psy_record_t recs[3];
    psy_batch_t b;
    uint64_t acked = 0;
    psy_time_t now = psy_time_now();
    /* The thread writes a day SERIES_GRACE_S after it ends: "today" is the day not yet written. */
    int64_t graced = now / PSY_USEC - SERIES_GRACE_S;
    int64_t today = graced - graced % DAY_S;
    unsigned char *png = NULL;
    size_t len = 0;
    fetched_t fe;

    pthread_mutex_init(&agg.lock, NULL);
    agg.conf = f->conf;
    st = store_new(f->dir, false);
    assert_non_null(st);
    recs[0] = rec(PSY_REC_ADMISSION, "x1", (today - 2 * DAY_S + 3600) * PSY_USEC);
    recs[1] = coercion("x2", (today - 2 * DAY_S + 7200) * PSY_USEC, PSY_COERCION_BELT, false);
    recs[2] = rec(PSY_REC_ADMISSION, "x3", (today + 60) * PSY_USEC); /* today */
    b = batch(1, 3, recs);
    assert_int_equal(store_apply_batch(st, "pc-a", &b, now, &acked), 0);
    atomic_store(&agg.generation, 1);

    s = series_new(&agg);
    assert_non_null(s);
    path_of(f, "pc-a", path, sizeof path);
    assert_true(wait_for(path, (time_t)today, 20));
    {
        char region[160];
        /* The region's file is written last. */
        path_of(f, "region", region, sizeof region);
        assert_true(wait_for(region, (time_t)today, 20));
    }

    memset(&fe, 0, sizeof fe);
    fe.start = (time_t)(today - 5 * DAY_S);
    fe.end = (time_t)(today + DAY_S);
    fe.step = DAY_S;
    assert_int_equal(
        rrd_fetch_r(path, "AVERAGE", &fe.start, &fe.end, &fe.step, &fe.ds_cnt, &fe.names, &fe.data),
        0);
    {
        long row = (long)((today - DAY_S - fe.start) / DAY_S) - 1; /* the day before yesterday */
        assert_true(fe.data[(size_t)row * fe.ds_cnt + SERIES_DS_ADMISSIONS] == 1);
        assert_true(fe.data[(size_t)row * fe.ds_cnt + SERIES_DS_BELT] == 1);
        row = (long)((today + DAY_S - fe.start) / DAY_S) - 1; /* today: never written */
        assert_true(isnan(fe.data[(size_t)row * fe.ds_cnt + SERIES_DS_ADMISSIONS]));
    }
    fetched_free(&fe);

    assert_int_equal(series_graph(&agg, "pc-a", "coercion", 60, NULL, &png, &len), 0);
    assert_true(len > 8);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    free(png);
    png = NULL;
    {
        series_marks_t m = {.baseline_per_day = 0.5,
                            .target_pct = 30,
                            .target_start = today - 30 * DAY_S,
                            .target_end = today + 300 * DAY_S};
        assert_int_equal(series_graph(&agg, "region", "activity", 400, &m, &png, &len), 0);
        assert_memory_equal(png, "\x89PNG", 4);
        free(png);
        png = NULL;
        assert_int_equal(series_graph(&agg, "region", "coercion", 400, &m, &png, &len), 0);
        assert_memory_equal(png, "\x89PNG", 4);
        free(png);
        png = NULL;
    }
    assert_int_equal(series_graph(&agg, "pc-zz", "coercion", 60, NULL, &png, &len), -ENOENT);
    assert_int_equal(series_graph(&agg, "../etc", "coercion", 60, NULL, &png, &len), -EINVAL);
    assert_int_equal(series_graph(&agg, "pc-a", "nonsense", 60, NULL, &png, &len), -EINVAL);
    assert_int_equal(series_graph(&agg, "pc-a", "coercion", 0, NULL, &png, &len), -EINVAL);
    assert_int_equal(
        series_graph(&agg, "pc-a", "coercion", SERIES_GRAPH_DAYS_MAX + 1, NULL, &png, &len),
        -EINVAL);
    assert_null(png);

    /* A correction bumps the generation; the thread rebuilds within its interval. */
    recs[0] = coercion("x1", (today - 2 * DAY_S + 3600) * PSY_USEC, PSY_COERCION_BELT, false);
    b = batch(4, 1, recs);
    assert_int_equal(store_apply_batch(st, "pc-a", &b, psy_time_now(), &acked), 0);
    atomic_store(&agg.generation, 2);
    {
        bool changed = false;
        for (int i = 0; i < 300 && !changed; i++) {
            memset(&fe, 0, sizeof fe);
            fe.start = (time_t)(today - 5 * DAY_S);
            fe.end = (time_t)today;
            fe.step = DAY_S;
            if (rrd_fetch_r(path, "AVERAGE", &fe.start, &fe.end, &fe.step, &fe.ds_cnt, &fe.names,
                            &fe.data) == 0) {
                long row = (long)((today - DAY_S - fe.start) / DAY_S) - 1;
                changed = fe.data[(size_t)row * fe.ds_cnt + SERIES_DS_BELT] == 2 &&
                          fe.data[(size_t)row * fe.ds_cnt + SERIES_DS_ADMISSIONS] == 0;
                fetched_free(&fe);
            }
            if (!changed)
                usleep(100000);
        }
        assert_true(changed);
    }

    series_destroy(&s);
    assert_null(s);
    series_destroy(&s);
    series_destroy(NULL);
    store_destroy(&st);
    pthread_mutex_destroy(&agg.lock);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rebuild_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_update_not_in_future, setup, teardown),
        cmocka_unit_test_setup_teardown(test_correction_changes_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_rejects_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_and_graph, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

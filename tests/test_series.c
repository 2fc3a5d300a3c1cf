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
#include "kpi_snapshot.h"
#include "series.h"
#include "model.h"
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
    /* d1 names no admission: no contact ends, so it is no discharge (kpis.md). */
    assert_true(value(&a, 2, SERIES_DS_DISCHARGES) == 0);
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

/* An agg_t around a copy of the fixture's configuration, as the daemon sets it up. */
static void
agg_setup(const fixture_t *f, agg_t *agg)
{
    psy_agg_conf_t *c = malloc(sizeof *c);

    assert_non_null(c);
    memcpy(c, f->conf, sizeof *c);
    assert_int_equal(agg_init(agg, c, NULL), 0);
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

    model_t *mw;
    kpi_snapshot_mark_t mark = {0};

    agg_setup(f, &agg);
    st = store_new(f->dir, false);
    assert_non_null(st);
    recs[0] = rec(PSY_REC_ADMISSION, "x1", (today - 2 * DAY_S + 3600) * PSY_USEC);
    recs[1] = coercion("x2", (today - 2 * DAY_S + 7200) * PSY_USEC, PSY_COERCION_BELT, false);
    recs[2] = rec(PSY_REC_ADMISSION, "x3", (today + 60) * PSY_USEC); /* today */
    b = batch(1, 3, recs);
    assert_int_equal(store_apply_batch(st, "pc-a", &b, now, &acked), 0);

    /* As the daemon runs it: the model worker hands each model to the RRD writer and the cache. */
    s = series_new(&agg);
    assert_non_null(s);
    mw = model_new(&agg);
    assert_non_null(mw);
    assert_int_equal(model_add_sink(mw, &(model_sink_t){"rrd", series_publish, s}), 0);
    assert_int_equal(model_add_sink(mw, &(model_sink_t){"cache", kpi_snapshot_publish, &mark}), 0);
    agg_data_changed(&agg);
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

    {
        /* The thread left the KPI model of this generation for `psymon kpi`. */
        uint64_t vid;
        psy_time_t stored_at;
        kpi_snapshot_t *snap;
        assert_int_equal(store_generation(st, &vid, &stored_at), 0);
        snap = kpi_snapshot_open(f->dir, vid, stored_at, f->conf);
        assert_non_null(snap);
        kpi_period_t p = {.kind = KPI_MONTH, .year = 1970, .month = 1};
        psy_civil_date((today - 2 * DAY_S) * PSY_USEC, &p.year, &p.month, &(int){0});
        int level = 0, kpi = kpi_find("admissions");
        kpi_query_t q = {.conf = f->conf,
                         .as_of = now,
                         .nperiods = 1,
                         .periods = &p,
                         .nlevels = 1,
                         .levels = &level,
                         .nkpis = 1,
                         .kpis = &kpi};
        kpi_row_t *rows = NULL;
        size_t n = 0;
        kpi_records_t all = {0};
        kpi_row_t *want = NULL;
        size_t nwant = 0;
        assert_int_equal(kpi_model_compute(kpi_snapshot_model(snap), &q, &rows, &n), 0);
        assert_int_equal(store_load(st, f->conf, PSY_TIME_NONE, &all), 0);
        assert_int_equal(kpi_compute(&all, &q, &want, &nwant), 0);
        assert_int_equal(n, 1);
        assert_int_equal(nwant, 1);
        assert_true(rows[0].value.set && want[0].value.set);
        assert_true(rows[0].value.v >= 1 && rows[0].value.v == want[0].value.v);
        free(rows);
        free(want);
        kpi_records_free(&all);
        kpi_snapshot_destroy(&snap);
    }

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

    /* A correction bumps the generation; the worker rebuilds within the RRD writer's interval. */
    recs[0] = coercion("x1", (today - 2 * DAY_S + 3600) * PSY_USEC, PSY_COERCION_BELT, false);
    b = batch(4, 1, recs);
    assert_int_equal(store_apply_batch(st, "pc-a", &b, psy_time_now(), &acked), 0);
    agg_data_changed(&agg);
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

    model_destroy(&mw);
    assert_null(mw);
    model_destroy(NULL);
    series_destroy(&s);
    assert_null(s);
    series_destroy(&s);
    series_destroy(NULL);
    store_destroy(&st);
    agg_fini(&agg);
}

/* An admission or discharge of contact `id` for patient byte `who`. */
static psy_record_t
contact_rec(psy_rec_type_t type, const char *id, const char *contact, uint8_t who, psy_time_t t)
{
    psy_record_t r = rec(type, id, t);

    snprintf(r.contact, sizeof r.contact, "%s", contact);
    memset(r.patient, who, sizeof r.patient);
    return r;
}

typedef struct {
    uint16_t center;
    const char *contact;
    uint8_t who;
    int adm_day, adm_hour;
    psy_mode_t mode;
    int dis_day, dis_hour; /* dis_day < 0: still admitted */
    psy_outcome_t outcome;
} contact_row_t;

/*
 * Three patients' contacts and what kpis.md makes of them (now: day 10, 12:00):
 * P: p1 (24 h) is readmitted acutely by p2 three days later; p2 is not readmitted.
 * Q: q1 is too short to qualify; q2 (pc-b, planned) and q3 (pc-a, 2 h later) are
 *    one stay, discharged at pc-a on day 4, readmitted by q4 (acute), which ends in
 *    death and so is no index discharge.
 * R: r1 ends in a transfer (no index); r2 and r3 are followed only by planned stays.
 * S: s1 is still admitted: in bed through the last day written.
 */
static const contact_row_t contact_table[] = {
    {0, "p1", 0x11, 1, 8, PSY_MODE_ACUTE, 2, 8, PSY_OUTCOME_REGULAR},
    {0, "p2", 0x11, 5, 8, PSY_MODE_ACUTE, 6, 20, PSY_OUTCOME_REGULAR},
    {0, "q1", 0x22, 1, 0, PSY_MODE_ACUTE, 1, 6, PSY_OUTCOME_REGULAR},
    {1, "q2", 0x22, 2, 0, PSY_MODE_PLANNED, 3, 10, PSY_OUTCOME_REGULAR},
    {0, "q3", 0x22, 3, 12, PSY_MODE_ACUTE, 4, 12, PSY_OUTCOME_REGULAR},
    {1, "q4", 0x22, 7, 0, PSY_MODE_ACUTE, 8, 0, PSY_OUTCOME_DEATH},
    {1, "r1", 0x33, 2, 0, PSY_MODE_ACUTE, 3, 0, PSY_OUTCOME_TRANSFER},
    {1, "r2", 0x33, 4, 0, PSY_MODE_PLANNED, 5, 0, PSY_OUTCOME_REGULAR},
    {1, "r3", 0x33, 6, 0, PSY_MODE_PLANNED, 7, 0, PSY_OUTCOME_REGULAR},
    {1, "s1", 0x44, 8, 0, PSY_MODE_ACUTE, -1, 0, PSY_OUTCOME_NONE},
};

static void
fill_contacts(fixture_t *f)
{
    for (size_t i = 0; i < sizeof contact_table / sizeof contact_table[0]; i++) {
        const contact_row_t *c = &contact_table[i];
        char id[32];
        psy_record_t r;

        snprintf(id, sizeof id, "%s-a", c->contact);
        r = contact_rec(PSY_REC_ADMISSION, id, c->contact, c->who, AT(c->adm_day, c->adm_hour));
        r.mode = c->mode;
        push(f, c->center, r);
        if (c->dis_day < 0)
            continue;
        snprintf(id, sizeof id, "%s-d", c->contact);
        r = contact_rec(PSY_REC_DISCHARGE, id, c->contact, c->who, AT(c->dis_day, c->dis_hour));
        r.outcome = c->outcome;
        push(f, c->center, r);
    }
    /* A second discharge of p1 is inconsistent and changes nothing. */
    push(f, 0, contact_rec(PSY_REC_DISCHARGE, "p1-d2", "p1", 0x11, AT(3, 0)));
}

/* As fetch, through `end`. */
static void
fetch_to(const char *file, time_t end, fetched_t *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->start = (time_t)SERIES_EPOCH_S;
    ret->end = end;
    ret->step = DAY_S;
    rrd_clear_error();
    if (rrd_fetch_r(file, "AVERAGE", &ret->start, &ret->end, &ret->step, &ret->ds_cnt, &ret->names,
                    &ret->data) != 0)
        fail_msg("rrd_fetch_r %s: %s", file, rrd_get_error());
    assert_int_equal(ret->step, DAY_S);
    assert_int_equal(ret->ds_cnt, SERIES_DS__COUNT);
}

typedef struct {
    const char *level;
    int day, ds;
    double want;
} expect_row_t;

static void
check_table(fixture_t *f, const expect_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[160];
        fetched_t fe;
        double v;

        path_of(f, rows[i].level, path, sizeof path);
        fetch_to(path, (time_t)(SERIES_EPOCH_S + (int64_t)(rows[i].day + 2) * DAY_S), &fe);
        v = value(&fe, rows[i].day, rows[i].ds);
        fetched_free(&fe);
        if (isnan(rows[i].want)) {
            if (!isnan(v))
                fail_msg("%s day %d %s: %g, want nothing", rows[i].level, rows[i].day,
                         series_ds_name(rows[i].ds), v);
        } else if (!(fabs(v - rows[i].want) < 1e-3)) {
            fail_msg("%s day %d %s: %g, want %g", rows[i].level, rows[i].day,
                     series_ds_name(rows[i].ds), v, rows[i].want);
        }
    }
}

static void
test_beds_and_readmissions(void **state)
{
    fixture_t *f = *state;
    static const expect_row_t want[] = {
        {"pc-a", 2, SERIES_DS_INDEX, 1},
        {"pc-a", 2, SERIES_DS_READM, 1},
        {"pc-a", 6, SERIES_DS_INDEX, 1},
        {"pc-a", 6, SERIES_DS_READM, 0},
        {"pc-a", 4, SERIES_DS_INDEX, 1},
        {"pc-a", 4, SERIES_DS_READM, 1},
        {"pc-a", 1, SERIES_DS_INDEX, 0},
        {"pc-b", 3, SERIES_DS_INDEX, 0},
        {"pc-b", 8, SERIES_DS_INDEX, 0},
        {"pc-b", 5, SERIES_DS_INDEX, 1},
        {"pc-b", 5, SERIES_DS_READM, 0},
        {"pc-b", 7, SERIES_DS_INDEX, 1},
        {"pc-b", 7, SERIES_DS_READM, 0},
        {"pc-b", 4, SERIES_DS_INDEX, 0},
        {"region", 2, SERIES_DS_INDEX, 1},
        {"region", 2, SERIES_DS_READM, 1},
        {"region", 4, SERIES_DS_INDEX, 1},
        {"region", 4, SERIES_DS_READM, 1},
        {"region", 5, SERIES_DS_INDEX, 1},
        {"region", 7, SERIES_DS_READM, 0},
        {"region", 3, SERIES_DS_INDEX, 0},
        /* Beds: hours in bed within each UTC day / 24. */
        {"pc-a", 0, SERIES_DS_BEDS, 0},
        {"pc-a", 1, SERIES_DS_BEDS, 16.0 / 24 + 6.0 / 24},
        {"pc-a", 2, SERIES_DS_BEDS, 8.0 / 24},
        {"pc-a", 3, SERIES_DS_BEDS, 0.5},
        {"pc-a", 4, SERIES_DS_BEDS, 0.5},
        {"pc-a", 5, SERIES_DS_BEDS, 16.0 / 24},
        {"pc-a", 6, SERIES_DS_BEDS, 20.0 / 24},
        {"pc-a", 7, SERIES_DS_BEDS, 0},
        {"pc-b", 2, SERIES_DS_BEDS, 2},
        {"pc-b", 3, SERIES_DS_BEDS, 10.0 / 24},
        {"pc-b", 4, SERIES_DS_BEDS, 1},
        {"pc-b", 5, SERIES_DS_BEDS, 0},
        {"pc-b", 8, SERIES_DS_BEDS, 1},
        {"pc-b", 9, SERIES_DS_BEDS, 1},
        {"pc-b", 10, SERIES_DS_BEDS, NAN},
        {"region", 2, SERIES_DS_BEDS, 2 + 8.0 / 24},
        {"region", 9, SERIES_DS_BEDS, 1},
        /* Admissions and discharges are the engine's contacts starting and ending... */
        {"pc-b", 2, SERIES_DS_ADMISSIONS, 2},
        {"region", 1, SERIES_DS_ADMISSIONS, 2},
        {"pc-a", 2, SERIES_DS_DISCHARGES, 1},
        /* ...so p1's second discharge, inconsistent, counts nowhere. */
        {"pc-a", 3, SERIES_DS_DISCHARGES, 0},
    };

    fill_contacts(f);
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, NOW_S * PSY_USEC, NULL, 0), 0);
    check_table(f, want, sizeof want / sizeof want[0]);
}

/* An open stay qualifies once it is 12 hours old at the as-of instant. */
static void
test_open_stay_readmits_after_12h(void **state)
{
    fixture_t *f = *state;
    psy_record_t r;
    static const expect_row_t before[] = {{"pc-a", 5, SERIES_DS_INDEX, 1},
                                          {"pc-a", 5, SERIES_DS_READM, 0},
                                          {"pc-b", 8, SERIES_DS_INDEX, 1},
                                          {"pc-b", 8, SERIES_DS_READM, 0}};
    static const expect_row_t after[] = {{"pc-a", 5, SERIES_DS_INDEX, 1},
                                         {"pc-a", 5, SERIES_DS_READM, 1}};

    push(f, 0, contact_rec(PSY_REC_ADMISSION, "x-a", "x", 0x55, AT(4, 0)));
    push(f, 0, contact_rec(PSY_REC_DISCHARGE, "x-d", "x", 0x55, AT(5, 0)));
    r = contact_rec(PSY_REC_ADMISSION, "y-a", "y", 0x55, AT(10, 6));
    push(f, 0, r);
    /* An admission registered for a time after "as of" does not exist yet. */
    push(f, 1, contact_rec(PSY_REC_ADMISSION, "z-a", "z", 0x66, AT(7, 0)));
    push(f, 1, contact_rec(PSY_REC_DISCHARGE, "z-d", "z", 0x66, AT(8, 0)));
    push(f, 1, contact_rec(PSY_REC_ADMISSION, "v-a", "v", 0x66, AT(12, 0)));
    push(f, 1, contact_rec(PSY_REC_DISCHARGE, "v-d", "v", 0x66, AT(13, 0)));
    /* At 12:00 the stay begun at 06:00 is 6 hours old. */
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, NOW_S * PSY_USEC, NULL, 0), 0);
    check_table(f, before, 4);
    /* At 18:00 it is 12 hours old. */
    assert_int_equal(
        series_rebuild(f->rrd_dir, f->conf, &f->recs, (NOW_S + 6 * 3600) * PSY_USEC, NULL, 0), 0);
    check_table(f, after, 2);
}

/* One contact of patient `who` at `center`, [start, end), acute, discharged regularly. */
static void
push_contact(fixture_t *f, uint16_t center, const char *id, uint8_t who, psy_time_t start,
             psy_time_t end)
{
    char rid[40];
    psy_record_t r;

    snprintf(rid, sizeof rid, "%s-a", id);
    r = contact_rec(PSY_REC_ADMISSION, rid, id, who, start);
    r.mode = PSY_MODE_ACUTE;
    push(f, center, r);
    snprintf(rid, sizeof rid, "%s-d", id);
    r = contact_rec(PSY_REC_DISCHARGE, rid, id, who, end);
    r.outcome = PSY_OUTCOME_REGULAR;
    push(f, center, r);
}

/*
 * The series and the engine agree to the microsecond: stays merged across
 * gaps of exactly 4 h but not 4 h + 1 µs, stays of exactly 12 h qualifying
 * but not 12 h − 1 µs, readmissions exactly 30 days later counted but not
 * 30 days + 1 µs. Summed over January's days (UTC here), every series
 * equals the engine's January figure, because the series is the engine's
 * own contacts and index discharges (the seconds-based copy of these rules
 * that the RRD thread once had gave 1 index discharge where kpi_compute
 * gave 0).
 */
static void
test_microsecond_boundaries_agree(void **state)
{
    fixture_t *f = *state;
    const psy_time_t us = 1, H = 3600 * PSY_USEC, D = 24 * H;
    const psy_time_t t0 = AT(1, 0);                                /* 2021-01-02 00:00 */
    const int64_t now_s = SERIES_EPOCH_S + 79 * DAY_S + 12 * 3600; /* 2021-03-21 12:00 */
    static const struct {
        int ds;
        const char *kpi;
        int part; /* 0 value, 1 numerator, 2 denominator */
    } pairs[] = {
        {SERIES_DS_ADMISSIONS, "admissions", 0},
        {SERIES_DS_DISCHARGES, "discharges", 0},
        {SERIES_DS_BEDS, "bed_days", 0},
        {SERIES_DS_BELT, "coercion_episodes:belt", 0},
        {SERIES_DS_INDEX, "readmission_rate_30d", 2},
        {SERIES_DS_READM, "readmission_rate_30d", 1},
    };
    const char *ids[3] = {"pc-a", "pc-b", "region"};
    int levels[3] = {0, 1, KPI_LEVEL_REGION};

    /* P1: exactly 12 h, readmitted exactly 30 days later (counts). */
    push_contact(f, 0, "p1a", 1, t0, t0 + 12 * H);
    push_contact(f, 1, "p1b", 1, t0 + 12 * H + 30 * D, t0 + 13 * H + 31 * D);
    /* P2: exactly 12 h, readmitted 30 days + 1 µs later (does not count). */
    push_contact(f, 0, "p2a", 2, t0 + 1 * H, t0 + 13 * H);
    push_contact(f, 0, "p2b", 2, t0 + 13 * H + 30 * D + us, t0 + 14 * H + 31 * D);
    /* P3: 12 h − 1 µs: a stay, not a qualifying one; no index discharge. */
    push_contact(f, 1, "p3a", 3, t0 + 2 * H, t0 + 14 * H - us);
    /* P4: a gap of exactly 4 h joins the contacts into one stay: one index discharge. */
    push_contact(f, 0, "p4a", 4, t0 + 3 * D, t0 + 3 * D + 12 * H);
    push_contact(f, 1, "p4b", 4, t0 + 3 * D + 16 * H, t0 + 4 * D + 10 * H);
    /* P5: 4 h + 1 µs: two stays, two index discharges, the second an acute readmission. */
    push_contact(f, 0, "p5a", 5, t0 + 5 * D, t0 + 5 * D + 12 * H);
    push_contact(f, 0, "p5b", 5, t0 + 5 * D + 16 * H + us, t0 + 6 * D + 10 * H);
    /* P6: a contact across midnight, for the bed days. */
    push_contact(f, 1, "p6a", 6, t0 + 10 * D + 20 * H + us, t0 + 12 * D + 3 * H - us);
    push(f, 1, coercion("b1", t0 + 10 * D + 21 * H, PSY_COERCION_BELT, false));
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, now_s * PSY_USEC, NULL, 0), 0);

    kpi_period_t jan = {.kind = KPI_MONTH, .year = 2021, .month = 1};
    int kpis[sizeof pairs / sizeof pairs[0]];
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
        kpis[k] = kpi_find(pairs[k].kpi);
    kpi_query_t q = {.conf = f->conf,
                     .as_of = now_s * PSY_USEC,
                     .nperiods = 1,
                     .periods = &jan,
                     .nlevels = 3,
                     .levels = levels,
                     .nkpis = sizeof pairs / sizeof pairs[0],
                     .kpis = kpis};
    kpi_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(kpi_compute(&f->recs, &q, &rows, &n), 0);
    assert_int_equal(n, 3 * (sizeof pairs / sizeof pairs[0]));
    /* By hand, for the region: P1, P2, P4 (once), both of P5's stays and P6 are index discharges.
     */
    const kpi_row_t *rg = &rows[2 * (sizeof pairs / sizeof pairs[0])];
    assert_true(rg[4].denominator.set && rg[4].denominator.v == 6);
    assert_true(rg[5].numerator.set && rg[5].numerator.v == 2); /* P1, and P5's first stay */

    for (int l = 0; l < 3; l++) {
        char path[160];
        fetched_t fe;

        path_of(f, ids[l], path, sizeof path);
        fetch_to(path, (time_t)(SERIES_EPOCH_S + 32 * DAY_S), &fe);
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            const kpi_row_t *row = &rows[(size_t)l * (sizeof pairs / sizeof pairs[0]) + k];
            const kpi_num_t *want = pairs[k].part == 0   ? &row->value
                                    : pairs[k].part == 1 ? &row->numerator
                                                         : &row->denominator;
            double sum = 0;

            for (int d = 0; d < 31; d++)
                sum += value(&fe, d, pairs[k].ds);
            assert_true(want->set);
            if (fabs(sum - want->v) > 1e-6)
                fail_msg("%s %s: the series sums to %.9f over January, the engine says %.9f",
                         ids[l], series_ds_name(pairs[k].ds), sum, want->v);
        }
        fetched_free(&fe);
    }
    free(rows);
}

/* The r12 rate of each day is the engine's value for the month holding it. */
/*
 * An r12 window that begins before a level's first records is not drawn
 * (dashboard.md): a center whose data begin in January 2021 has no r12
 * until December 2021, instead of a ramp up from zero.
 */
static void
test_r12_before_first_data(void **state)
{
    fixture_t *f = *state;
    const int64_t now_s = SERIES_EPOCH_S + 400 * DAY_S; /* 2022-02-05 */
    static const expect_row_t want[] = {
        {"pc-a", 14, SERIES_DS_R12, NAN},  /* r12:2021-01 begins 2020-02 */
        {"pc-a", 320, SERIES_DS_R12, NAN}, /* r12:2021-11 begins 2020-12 */
        {"pc-a", 348, SERIES_DS_R12, 2},   /* r12:2021-12: 2 episodes per 100,000 */
        {"pc-a", 380, SERIES_DS_R12, 1},   /* r12:2022-01 */
    };

    f->conf->centers[0].population.years[0] = (psy_population_t){2021, 100000};
    f->conf->centers[0].population.years[1] = (psy_population_t){2022, 100000};
    f->conf->centers[0].population.count = 2;
    push(f, 0, coercion("e1", AT(3, 10), PSY_COERCION_BELT, false));
    push(f, 0, coercion("e2", AT(40, 10), PSY_COERCION_BELT, false));
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, now_s * PSY_USEC, NULL, 0), 0);
    check_table(f, want, sizeof want / sizeof want[0]);
}

static void
test_r12_from_engine(void **state)
{
    fixture_t *f = *state;
    /* 2021-04-10 12:00Z: January to March are complete. */
    const int64_t now_s = SERIES_EPOCH_S + 99 * DAY_S + 12 * 3600;
    const int days[3] = {14, 40, 89}; /* 15 Jan, 10 Feb, 31 Mar */
    kpi_period_t periods[3];
    int levels[3] = {0, 1, KPI_LEVEL_REGION};
    int kpi = kpi_find("intrusive_per_100k");
    kpi_query_t q = {0};
    kpi_row_t *rows = NULL;
    size_t n = 0;
    const char *ids[3] = {"pc-a", "pc-b", "region"};

    f->conf->centers[0].population.count = 1;
    f->conf->centers[0].population.years[0] = (psy_population_t){2021, 100000};
    f->conf->centers[1].population.count = 1;
    f->conf->centers[1].population.years[0] = (psy_population_t){2021, 50000};
    /*
     * Records since January 2020, so that every r12 window below begins with
     * data (one that begins before a level's first records is not drawn).
     */
    push(f, 0, coercion("b0", AT(-366, 10), PSY_COERCION_STRAPS, false));
    push(f, 1, coercion("c0", AT(-366, 10), PSY_COERCION_STRAPS, false));
    push(f, 0, coercion("b1", AT(3, 10), PSY_COERCION_BELT, false));
    push(f, 0, coercion("b2", AT(10, 10), PSY_COERCION_BELT, false));
    push(f, 0, coercion("b3", AT(20, 10), PSY_COERCION_SEDATIVE_MEDICATION, false));
    push(f, 0, coercion("b4", AT(21, 10), PSY_COERCION_BELT, true)); /* voluntary */
    push(f, 1, coercion("b5", AT(35, 10), PSY_COERCION_PHYSICAL_RESTRAINT, false));
    push(f, 1, coercion("b6", AT(36, 10), PSY_COERCION_STRAPS, false)); /* not intrusive */
    push(f, 1, coercion("b7", AT(70, 10), PSY_COERCION_BELT, false));
    push(f, 0, coercion("b8", AT(97, 10), PSY_COERCION_BELT, false)); /* April */
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, now_s * PSY_USEC, NULL, 0), 0);

    for (int m = 0; m < 3; m++)
        periods[m] = (kpi_period_t){.kind = KPI_R12, .year = 2021, .month = m + 1};
    q.conf = f->conf;
    q.as_of = now_s * PSY_USEC;
    q.nperiods = 3;
    q.periods = periods;
    q.nlevels = 3;
    q.levels = levels;
    q.nkpis = 1;
    q.kpis = &kpi;
    assert_int_equal(kpi_compute(&f->recs, &q, &rows, &n), 0);
    assert_int_equal(n, 9);
    /* By hand: pc-a has 3 intrusive episodes per 100,000 by January's end. */
    assert_true(rows[0].value.set && fabs(rows[0].value.v - 3.0) < 1e-9);
    /* The region: 5 episodes of 150,000 citizens by March's end. */
    assert_true(rows[8].value.set && fabs(rows[8].value.v - 5.0 / 1.5) < 1e-9);
    for (int m = 0; m < 3; m++) {
        for (int l = 0; l < 3; l++) {
            expect_row_t e = {ids[l], days[m], SERIES_DS_R12, rows[m * 3 + l].value.v};

            assert_true(rows[m * 3 + l].value.set);
            check_table(f, &e, 1);
        }
    }
    free(rows);
    {
        /* April is not complete: no rate yet; the first and last day of February have one. */
        const expect_row_t more[] = {{"pc-a", 95, SERIES_DS_R12, NAN},
                                     {"region", 98, SERIES_DS_R12, NAN},
                                     {"pc-b", 31, SERIES_DS_R12, 2.0},
                                     {"pc-b", 58, SERIES_DS_R12, 2.0},
                                     {"pc-b", 59, SERIES_DS_R12, 4.0}};
        check_table(f, more, sizeof more / sizeof more[0]);
    }
}

/*
 * Late data through the store: a registration for 2022 that arrives after
 * the files were written, a void and a correction all change what is read
 * back, in the center's file and the region's.
 */
static void
test_late_void_and_correction_through_store(void **state)
{
    fixture_t *f = *state;
    /* 2023-01-10 12:00Z. */
    const int64_t now_s = INT64_C(1673352000);
    const int d_mar1 = 424, d_mar2 = 425, d_mar5 = 428, d_jun15 = 530; /* days of 2022 */
    store_t *st = store_new(f->dir, false);
    psy_record_t recs[3];
    psy_batch_t b;
    uint64_t acked = 0;
    static const expect_row_t first[] = {
        {"pc-a", d_mar1, SERIES_DS_ADMISSIONS, 1}, {"pc-a", d_mar2, SERIES_DS_BELT, 1},
        {"region", d_mar2, SERIES_DS_BELT, 1},     {"region", d_mar2, SERIES_DS_COERCION, 1},
        {"pc-b", d_jun15, SERIES_DS_SEDATIVE, 0},  {"region", d_jun15, SERIES_DS_SEDATIVE, 0},
    };
    static const expect_row_t second[] = {
        {"pc-a", d_mar1, SERIES_DS_ADMISSIONS, 0},   {"pc-a", d_mar5, SERIES_DS_ADMISSIONS, 1},
        {"region", d_mar5, SERIES_DS_ADMISSIONS, 1}, {"pc-a", d_mar2, SERIES_DS_BELT, 0},
        {"region", d_mar2, SERIES_DS_BELT, 0},       {"region", d_mar2, SERIES_DS_COERCION, 0},
        {"pc-b", d_jun15, SERIES_DS_SEDATIVE, 1},    {"pc-b", d_jun15, SERIES_DS_COERCION, 1},
        {"region", d_jun15, SERIES_DS_SEDATIVE, 1},  {"pc-a", d_jun15, SERIES_DS_SEDATIVE, 0},
    };

    assert_true(SERIES_EPOCH_S + (int64_t)d_mar1 * DAY_S == INT64_C(1646092800)); /* 2022-03-01 */
    assert_non_null(st);
    recs[0] = rec(PSY_REC_ADMISSION, "a1", AT(d_mar1, 9));
    recs[1] = coercion("c1", AT(d_mar2, 14), PSY_COERCION_BELT, false);
    b = batch(1, 2, recs);
    assert_int_equal(store_apply_batch(st, "pc-a", &b, (now_s - 300 * DAY_S) * PSY_USEC, &acked),
                     0);
    kpi_records_free(&f->recs);
    assert_int_equal(store_load(st, f->conf, PSY_TIME_NONE, &f->recs), 0);
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, now_s * PSY_USEC, NULL, 0), 0);
    check_table(f, first, sizeof first / sizeof first[0]);

    /* Today: a1 corrected to 5 March, c1 voided, and pc-b's June record arrives. */
    recs[0] = rec(PSY_REC_ADMISSION, "a1", AT(d_mar5, 9));
    psy_record_init(&recs[1]);
    recs[1].type = PSY_REC_COERCION;
    recs[1].is_void = true;
    snprintf(recs[1].id, sizeof recs[1].id, "c1");
    recs[1].time = AT(d_mar2, 14);
    b = batch(3, 2, recs);
    assert_int_equal(store_apply_batch(st, "pc-a", &b, now_s * PSY_USEC, &acked), 0);
    recs[2] = coercion("late1", AT(d_jun15, 3), PSY_COERCION_SEDATIVE_MEDICATION, false);
    b = batch(1, 1, &recs[2]);
    assert_int_equal(store_apply_batch(st, "pc-b", &b, now_s * PSY_USEC, &acked), 0);
    kpi_records_free(&f->recs);
    assert_int_equal(store_load(st, f->conf, PSY_TIME_NONE, &f->recs), 0);
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, now_s * PSY_USEC, NULL, 0), 0);
    check_table(f, second, sizeof second / sizeof second[0]);
    store_destroy(&st);
}

/* A file that cannot be written does not keep the others from being written. */
static void
test_failure_does_not_stop_others(void **state)
{
    fixture_t *f = *state;
    char path[160], err[512] = "";
    struct stat st;

    fill_example(f);
    assert_int_equal(mkdir(f->rrd_dir, 0750), 0);
    /* pc-a's file is a non-empty folder: the rename into place fails. */
    path_of(f, "pc-a", path, sizeof path);
    assert_int_equal(mkdir(path, 0750), 0);
    {
        char inner[200];
        FILE *fp;
        snprintf(inner, sizeof inner, "%s/x", path);
        fp = fopen(inner, "w");
        assert_non_null(fp);
        fclose(fp);
    }
    assert_true(series_rebuild(f->rrd_dir, f->conf, &f->recs, NOW_S * PSY_USEC, err, sizeof err) <
                0);
    assert_non_null(strstr(err, "pc-a.rrd"));
    path_of(f, "pc-b", path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    path_of(f, "region", path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    {
        static const expect_row_t want[] = {{"region", 1, SERIES_DS_ADMISSIONS, 2},
                                            {"pc-b", 4, SERIES_DS_COERCION, 2}};
        check_table(f, want, 2);
    }
}

/* The beds, readmission and rate graphs are PNGs; an unknown graph is refused. */
static void
test_new_graphs(void **state)
{
    fixture_t *f = *state;
    agg_t agg = {0};
    const char *whats[] = {"beds", "readmission", "rate", "activity", "coercion"};
    series_marks_t m = {.baseline_per_day = 0.5,
                        .baseline_per_100k = 3.0,
                        .target_pct = 30,
                        .target_start = SERIES_EPOCH_S + 365 * DAY_S,
                        .target_end = SERIES_EPOCH_S + 3000 * DAY_S};
    psy_time_t now = psy_time_now();
    int64_t today = now / PSY_USEC - (now / PSY_USEC) % DAY_S;
    unsigned char *png = NULL;
    size_t len = 0;

    f->conf->centers[0].population.count = 1;
    f->conf->centers[0].population.years[0] = (psy_population_t){2021, 100000};
    agg_setup(f, &agg);
    for (int i = 1; i <= 60; i++) {
        char id[32];
        psy_record_t r;
        snprintf(id, sizeof id, "k%d", i);
        r = contact_rec(PSY_REC_ADMISSION, id, id, (uint8_t)(i % 7),
                        (today - i * DAY_S) * PSY_USEC);
        push(f, 0, r);
        snprintf(id, sizeof id, "k%d-d", i);
        r = contact_rec(PSY_REC_DISCHARGE, id, "", (uint8_t)(i % 7),
                        (today - i * DAY_S + DAY_S) * PSY_USEC);
        snprintf(r.contact, sizeof r.contact, "k%d", i);
        push(f, 0, r);
    }
    push(f, 0, coercion("c1", (today - 40 * DAY_S) * PSY_USEC, PSY_COERCION_BELT, false));
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, now, NULL, 0), 0);
    for (size_t i = 0; i < sizeof whats / sizeof whats[0]; i++) {
        for (int withmarks = 0; withmarks < 2; withmarks++) {
            assert_int_equal(series_graph(&agg, i % 2 ? "region" : "pc-a", whats[i], 400,
                                          withmarks ? &m : NULL, &png, &len),
                             0);
            assert_true(len > 8);
            assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
            free(png);
            png = NULL;
        }
    }
    assert_int_equal(series_graph(&agg, "pc-a", "pie", 60, NULL, &png, &len), -EINVAL);
    assert_int_equal(series_graph(&agg, "pc-a", "", 60, NULL, &png, &len), -EINVAL);
    assert_null(png);
    agg_fini(&agg);
}

static uint64_t rand_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(uint64_t n)
{
    rand_state ^= rand_state << 13;
    rand_state ^= rand_state >> 7;
    rand_state ^= rand_state << 17;
    return rand_state % n;
}

/* The sum of `ds` over the UTC days of the first `ndays` days from `day0`. */
static double
sum_days(const fetched_t *fe, int day0, int ndays, int ds)
{
    double sum = 0;

    for (int d = day0; d < day0 + ndays; d++) {
        double v = value(fe, d, ds);
        assert_false(isnan(v));
        sum += v;
    }
    return sum;
}

/*
 * Random contacts and coercion over half a year, read back per calendar
 * month (UTC, so months are whole days) against the KPI engine: index
 * discharges and readmissions (the stay rules), bed days, and the r12
 * rate per 100,000 must be the engine's numbers.
 */
static void
test_random_against_engine(void **state)
{
    fixture_t *f = *state;
    /* 2021-07-15 12:00Z; January to June are complete. */
    const int64_t now_s = SERIES_EPOCH_S + 195 * DAY_S + 12 * 3600;
    static const int month_days[6] = {31, 28, 31, 30, 31, 30};
    kpi_period_t periods[12];
    int levels[3] = {0, 1, KPI_LEVEL_REGION};
    int kpis[3] = {kpi_find("readmission_rate_30d"), kpi_find("bed_days"),
                   kpi_find("intrusive_per_100k")};
    const char *ids[3] = {"pc-a", "pc-b", "region"};
    kpi_query_t q = {0};
    kpi_row_t *rows = NULL;
    size_t n = 0;

    assert_int_equal(psy_tz_set("UTC"), 0);
    f->conf->centers[0].population.count = 1;
    f->conf->centers[0].population.years[0] = (psy_population_t){2020, 90000};
    f->conf->centers[1].population.count = 1;
    f->conf->centers[1].population.years[0] = (psy_population_t){2020, 40000};
    for (int i = 0; i < 600; i++) {
        char id[32], cid[32];
        uint8_t who = (uint8_t)(1 + rnd(40));
        uint16_t center = (uint16_t)rnd(2);
        /*
         * From 20 days before the epoch, so that stays run into January, to
         * 10 days after now: what comes after now does not exist yet.
         */
        int64_t start = SERIES_EPOCH_S - 20 * DAY_S + (int64_t)rnd(226 * DAY_S);
        int64_t len = (int64_t)rnd(rnd(4) ? 20 * DAY_S : 20 * 3600);
        psy_record_t r;

        snprintf(cid, sizeof cid, "k%d", i);
        snprintf(id, sizeof id, "k%d-a", i);
        r = contact_rec(PSY_REC_ADMISSION, id, cid, who, start * PSY_USEC);
        r.mode = rnd(3) ? PSY_MODE_ACUTE : PSY_MODE_PLANNED;
        push(f, center, r);
        if (rnd(15) == 0)
            continue; /* still admitted */
        snprintf(id, sizeof id, "k%d-d", i);
        r = contact_rec(PSY_REC_DISCHARGE, id, cid, who, (start + len) * PSY_USEC);
        r.outcome = rnd(10) == 0  ? PSY_OUTCOME_DEATH
                    : rnd(8) == 0 ? PSY_OUTCOME_TRANSFER
                                  : PSY_OUTCOME_REGULAR;
        push(f, center, r);
    }
    /* Records since January 2020, so that every r12 window compared begins with data. */
    push(f, 0, coercion("a0", AT(-366, 10), PSY_COERCION_STRAPS, false));
    push(f, 1, coercion("a1", AT(-366, 10), PSY_COERCION_STRAPS, false));
    for (int i = 0; i < 400; i++) {
        char id[32];
        int64_t t = SERIES_EPOCH_S - 200 * DAY_S + (int64_t)rnd(400 * DAY_S);

        snprintf(id, sizeof id, "c%d", i);
        push(f, (uint16_t)rnd(2),
             coercion(id, t * PSY_USEC, (psy_coercion_t)(1 + rnd(PSY_COERCION__COUNT - 1)),
                      rnd(4) == 0));
    }
    assert_int_equal(series_rebuild(f->rrd_dir, f->conf, &f->recs, now_s * PSY_USEC, NULL, 0), 0);

    for (int m = 0; m < 6; m++) {
        periods[2 * m] = (kpi_period_t){.kind = KPI_MONTH, .year = 2021, .month = m + 1};
        periods[2 * m + 1] = (kpi_period_t){.kind = KPI_R12, .year = 2021, .month = m + 1};
    }
    q.conf = f->conf;
    q.as_of = now_s * PSY_USEC;
    q.nperiods = 12;
    q.periods = periods;
    q.nlevels = 3;
    q.levels = levels;
    q.nkpis = 3;
    q.kpis = kpis;
    assert_int_equal(kpi_compute(&f->recs, &q, &rows, &n), 0);
    assert_int_equal(n, 12 * 3 * 3);
    for (int l = 0; l < 3; l++) {
        char path[160];
        fetched_t fe;
        int day0 = 0;
        double total_idx = 0;

        path_of(f, ids[l], path, sizeof path);
        fetch_to(path, (time_t)(SERIES_EPOCH_S + 200 * DAY_S), &fe);
        for (int m = 0; m < 6; m++) {
            const kpi_row_t *readm = &rows[((2 * m) * 3 + l) * 3 + 0];
            const kpi_row_t *beds = &rows[((2 * m) * 3 + l) * 3 + 1];
            const kpi_row_t *r12 = &rows[((2 * m + 1) * 3 + l) * 3 + 2];
            double idx = sum_days(&fe, day0, month_days[m], SERIES_DS_INDEX);
            double re = sum_days(&fe, day0, month_days[m], SERIES_DS_READM);
            double bd = sum_days(&fe, day0, month_days[m], SERIES_DS_BEDS);

            if (idx != readm->denominator.v || re != readm->numerator.v)
                fail_msg("%s 2021-%02d: %g of %g readmitted, engine %g of %g", ids[l], m + 1, re,
                         idx, readm->numerator.v, readm->denominator.v);
            if (!(fabs(bd - beds->value.v) < 0.01))
                fail_msg("%s 2021-%02d: %g bed days, engine %g", ids[l], m + 1, bd, beds->value.v);
            assert_true(r12->value.set);
            if (!(fabs(value(&fe, day0 + 3, SERIES_DS_R12) - r12->value.v) < 1e-3))
                fail_msg("%s r12:2021-%02d: %g, engine %g", ids[l], m + 1,
                         value(&fe, day0 + 3, SERIES_DS_R12), r12->value.v);
            total_idx += idx;
            day0 += month_days[m];
        }
        /* The data must exercise the rules, or the comparison proves little. */
        assert_true(total_idx > 20);
        fetched_free(&fe);
    }
    free(rows);
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
        cmocka_unit_test_setup_teardown(test_beds_and_readmissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_stay_readmits_after_12h, setup, teardown),
        cmocka_unit_test_setup_teardown(test_microsecond_boundaries_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r12_from_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r12_before_first_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_void_and_correction_through_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failure_does_not_stop_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_graphs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_against_engine, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

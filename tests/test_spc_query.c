/*
 * spc_query and spc_format: series built from a model of hand-made records
 * (their first months, baseline, --from, targets) and printed as spc.md
 * says, plus the options it refuses.
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

#include <cmocka.h>

#include "testutil.h"
#include <jansson.h>

#include "kpi.h"
#include "spc_format.h"
#include "spc_query.h"

static psy_agg_conf_t conf;
static kpi_records_t recs;
static kpi_model_t *model;

static void
rec(int center, psy_rec_type_t type, int patient, int y, int m, int d)
{
    static int seq;
    psy_record_t r;
    char when[32];

    psy_record_init(&r);
    r.type = type;
    snprintf(r.id, sizeof(r.id), "r%d", ++seq);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT10:00:00Z", y, m, d);
    r.time = T(when);
    r.has_patient = true;
    r.patient[0] = (uint8_t)patient;
    r.patient[1] = (uint8_t)(patient >> 8);
    r.patient[31] = 0x5a;
    if (type == PSY_REC_ADMISSION) {
        snprintf(r.contact, sizeof(r.contact), "%s", r.id);
        r.mode = PSY_MODE_ACUTE;
        r.legal = PSY_LEGAL_VOLUNTARY;
    } else {
        r.coercion = PSY_COERCION_BELT;
        r.end = r.time + 2 * PSY_HOUR;
    }
    assert_int_equal(kpi_records_push(&recs, (uint16_t)center, &r), 0);
}

/*
 * pc-a: three admissions and one belt a month from 2021-01 through
 * 2024-06, twelve admissions in 2024-05. pc-b: two admissions a month from
 * 2022-03. pc-c: one admission in 2019, then one a month from 2021-06.
 */
static int
setup(void **state)
{
    (void)state;
    memset(&conf, 0, sizeof(conf));
    conf.ncenters = 3;
    strcpy(conf.centers[0].id, "pc-a");
    strcpy(conf.centers[1].id, "pc-b");
    strcpy(conf.centers[2].id, "pc-c");
    strcpy(conf.timezone, "UTC");
    conf.target_pct = 30;
    conf.nbaseline = 3;
    conf.baseline_years[0] = 2021;
    conf.baseline_years[1] = 2022;
    conf.baseline_years[2] = 2023;
    conf.first_year = 2024;
    conf.first_month = 1;
    conf.last_year = 2030;
    conf.last_month = 12;
    conf.ngoals = 1;
    strcpy(conf.goals[0].kpi, "coercion_episodes:belt");
    conf.goals[0].target = 0.5;
    assert_int_equal(psy_tz_set("UTC"), 0);
    int patient = 1;
    for (int y = 2021; y <= 2024; y++)
        for (int m = 1; m <= 12 && (y < 2024 || m <= 6); m++) {
            int n = y == 2024 && m == 5 ? 12 : 3;
            for (int i = 0; i < n; i++)
                rec(0, PSY_REC_ADMISSION, patient++, y, m, 2 + i);
            rec(0, PSY_REC_COERCION, 1, y, m, 3);
            if (y * 12 + m >= 2022 * 12 + 3) {
                rec(1, PSY_REC_ADMISSION, patient++, y, m, 4);
                rec(1, PSY_REC_ADMISSION, patient++, y, m, 5);
            }
            if (y * 12 + m >= 2021 * 12 + 6)
                rec(2, PSY_REC_ADMISSION, patient++, y, m, 6);
        }
    rec(2, PSY_REC_ADMISSION, patient++, 2019, 5, 1);
    model = kpi_model_new(&recs, &conf, INT64_MAX);
    assert_non_null(model);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    kpi_model_destroy(&model);
    kpi_records_free(&recs);
    return 0;
}

static void
test_build_errors(void **state)
{
    static const struct {
        const char *kpis, *center, *from, *to, *as_of, *msg;
    } t[] = {
        {NULL, NULL, NULL, NULL, NULL, "--kpi is required"},
        {"intrusive_per_100k", NULL, NULL, NULL, NULL, "KPI 'intrusive_per_100k' has no SPC chart"},
        {"admissions,intrusive_target_reduction", NULL, NULL, NULL, NULL, "has no SPC chart"},
        {"nonsense", NULL, NULL, NULL, NULL, "unknown KPI 'nonsense'"},
        {"admissions", "pc-x", NULL, NULL, NULL, "unknown center 'pc-x'"},
        {"admissions", NULL, "2024-13", NULL, NULL, "--from must be YYYY-MM"},
        {"admissions", NULL, NULL, "24-01", NULL, "--to must be YYYY-MM"},
        {"admissions", NULL, "2024-03", "2024-02", NULL, "--to is before --from"},
        {"admissions", NULL, NULL, NULL, "yesterday", "--as-of must be"},
        {"admissions", NULL, NULL, "2099-01", NULL, "more than 600 months"},
    };
    spc_query_t q = {.nkpis = 77};
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int r = spc_query_build(&conf, t[i].kpis, t[i].center, t[i].from, t[i].to, t[i].as_of,
                                T("2024-07-15T00:00:00Z"), &q, err, sizeof(err));
        assert_int_equal(r, -EINVAL);
        if (!strstr(err, t[i].msg))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, t[i].msg);
        assert_int_equal(q.nkpis, 77); /* untouched */
    }
}

static void
test_build_defaults(void **state)
{
    spc_query_t q;
    char err[256];

    (void)state;
    assert_int_equal(spc_query_build(&conf, "admissions,coercion_episodes:belt", NULL, NULL, NULL,
                                     NULL, T("2024-07-15T00:00:00Z"), &q, err, sizeof(err)),
                     0);
    /* Every center, then the region; the last complete month; no --from. */
    assert_int_equal(q.nlevels, 4);
    assert_int_equal(q.levels[3], KPI_LEVEL_REGION);
    assert_int_equal(q.nkpis, 2);
    assert_int_equal(q.to_y, 2024);
    assert_int_equal(q.to_m, 6);
    assert_int_equal(q.from_y, 0);
    assert_int_equal(spc_query_months(&q), 42);
    spc_query_free(&q);
    assert_null(q.levels);
    /* In January the last complete month is last year's December; --as-of wins over now. */
    assert_int_equal(spc_query_build(&conf, "admissions", "pc-b", "2023-02", NULL,
                                     "2024-01-10T00:00:00Z", T("2024-07-15T00:00:00Z"), &q, err,
                                     sizeof(err)),
                     0);
    assert_int_equal(q.to_y, 2023);
    assert_int_equal(q.to_m, 12);
    assert_int_equal(q.from_y, 2023);
    assert_int_equal(q.from_m, 2);
    assert_int_equal(q.as_of, T("2024-01-10T00:00:00Z"));
    spc_query_free(&q);
    spc_query_free(NULL);
}

static spc_query_result_t *
run(const char *kpis, const char *center, const char *from, const char *to)
{
    spc_query_t q;
    spc_query_result_t *res = NULL;
    char err[256];

    assert_int_equal(spc_query_build(&conf, kpis, center, from, to, NULL, T("2024-07-15T00:00:00Z"),
                                     &q, err, sizeof(err)),
                     0);
    assert_int_equal(spc_query_compute(model, &q, &res), 0);
    assert_non_null(res);
    assert_int_equal(res->nseries, q.nlevels * q.nkpis);
    spc_query_free(&q);
    return res;
}

static void
test_series(void **state)
{
    spc_query_result_t *res = run("admissions", "pc-a,pc-b,pc-c", NULL, NULL);
    const spc_series_t *a = &res->series[0], *b = &res->series[1], *c = &res->series[2];

    (void)state;
    /* pc-a from the first baseline month: 36 baseline points freeze cl = 3. */
    assert_int_equal(a->npoints, 42);
    assert_int_equal(a->first, 0);
    assert_int_equal(a->chart, SPC_CHART_C);
    assert_int_equal(a->points[0].period.year, 2021);
    assert_int_equal(a->points[0].period.month, 1);
    assert_int_equal(a->points[41].period.year, 2024);
    assert_int_equal(a->points[41].period.month, 6);
    for (size_t i = 0; i < a->npoints; i++) {
        const spc_row_t *p = &a->points[i];

        assert_int_equal(p->spc.baseline, i < 36);
        assert_int_equal(p->in_baseline_year, i < 36);
        assert_false(p->provisional);
        assert_true(p->spc.cl.set && p->spc.cl.v == 3);
        assert_true(p->spc.lcl.set && p->spc.lcl.v == 0);
        assert_true(fabs(p->spc.ucl.v - (3 + 3 * sqrt(3))) < 1e-12);
        assert_int_equal(p->spc.sigma_signal, i == 40); /* 2024-05: 12 admissions */
        assert_int_equal(p->value.v, i == 40 ? 12 : 3);
        assert_false(p->target.set);
    }
    assert_int_equal(a->summary.n_useful, 1);
    assert_int_equal(a->summary.variation, SPC_VAR_COMMON);
    /* pc-b from its first month with records, 2022-03; 22 baseline months. */
    assert_int_equal(b->npoints, 28);
    assert_int_equal(b->points[0].period.year, 2022);
    assert_int_equal(b->points[0].period.month, 3);
    assert_true(b->points[21].spc.baseline);
    assert_false(b->points[22].spc.baseline);
    assert_true(b->points[0].spc.cl.v == 2);
    /* pc-c had a record in 2019: it starts in 2021-01 though 2021-01 holds none. */
    assert_int_equal(c->npoints, 42);
    assert_int_equal(c->points[0].period.year, 2021);
    assert_int_equal(c->points[0].value.v, 0);
    assert_int_equal(c->points[5].value.v, 1);
    spc_query_result_destroy(&res);
    assert_null(res);
    spc_query_result_destroy(&res);

    /* --from picks the printed rows only; before the first month it prints from the first. */
    res = run("admissions", "pc-a,pc-b", "2024-01", NULL);
    assert_int_equal(res->series[0].first, 36);
    assert_int_equal(res->series[1].first, 22);
    assert_int_equal(res->series[0].npoints, 42);
    assert_true(res->series[0].points[40].spc.sigma_signal);
    spc_query_result_destroy(&res);
    res = run("admissions", "pc-b", "2019-01", "2023-12");
    assert_int_equal(res->series[0].first, 0);
    assert_int_equal(res->series[0].npoints, 22);
    spc_query_result_destroy(&res);
    /* A --to before the level's first month: no points, and no error. */
    res = run("admissions", "pc-b", NULL, "2021-06");
    assert_int_equal(res->series[0].npoints, 0);
    assert_int_equal(res->series[0].summary.variation, SPC_VAR_NONE);
    spc_query_result_destroy(&res);
}

static void
test_targets(void **state)
{
    spc_query_result_t *res = run("coercion_episodes:belt,intrusive_episodes", "pc-a", NULL, NULL);
    const spc_series_t *belt = &res->series[0], *intr = &res->series[1];
    int tk = kpi_find("intrusive_target_episodes");

    (void)state;
    /* [goal coercion_episodes:belt] target = 0.5, between lcl 0 and ucl 1 + 3. */
    for (size_t i = 0; i < belt->npoints; i++)
        assert_true(belt->points[i].target.set && belt->points[i].target.v == 0.5);
    assert_true(belt->points[0].spc.ucl.v == 4);
    assert_int_equal(belt->summary.assurance, SPC_ASSURE_HIT_AND_MISS);
    assert_int_equal(belt->direction, SPC_DIR_LOWER);
    /* intrusive_episodes: the month's intrusive_target_episodes row, never a [goal]. */
    for (size_t i = 0; i < intr->npoints; i++) {
        kpi_row_t *rows = NULL;
        size_t n = 0;
        int level = 0;
        kpi_query_t q = {.conf = &conf,
                         .as_of = T("2024-07-15T00:00:00Z"),
                         .nperiods = 1,
                         .periods = &intr->points[i].period,
                         .nlevels = 1,
                         .levels = &level,
                         .nkpis = 1,
                         .kpis = &tk};

        if (tk < 0) {
            assert_false(intr->points[i].target.set);
            continue;
        }
        assert_int_equal(kpi_model_compute(model, &q, &rows, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(intr->points[i].target.set, rows[0].value.set);
        if (rows[0].value.set)
            assert_true(intr->points[i].target.v == rows[0].value.v);
        free(rows);
    }
    spc_query_result_destroy(&res);
}

static char *
capture(kpi_format_t fmt, const spc_query_result_t *res)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(spc_format_write(f, fmt, &conf, res), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void
test_format(void **state)
{
    spc_query_result_t *res = run("admissions,coercion_episodes:belt", "pc-a", "2024-05", NULL);
    char *csv = capture(KPI_FORMAT_CSV, res), *table, *js;
    json_t *j, *s0, *p0;
    json_error_t jerr;

    (void)state;
    /*
     * Runs of pc-a's admissions: every month on cl = 3 but 2024-05, so one
     * useful point: longest 1 (max round(log2 1) + 3 = 3), no crossings
     * (min 0). Belts: every month on cl = 1, nothing useful.
     */
    assert_string_equal(
        csv,
        "period,center,kpi,chart,value,numerator,denominator,provisional,baseline,cl,lcl,ucl,"
        "sigma_signal,runs_signal,n_useful,longest_run,longest_run_max,crossings,crossings_min,"
        "variation,assessment,assurance,target\n"
        "2024-05,pc-a,admissions,c,12,12,,0,0,3.0000,0.0000,8.1962,1,0,1,1,3,0,0,common,common,,\n"
        "2024-06,pc-a,admissions,c,3,3,,0,0,3.0000,0.0000,8.1962,0,0,1,1,3,0,0,common,common,,\n"
        "2024-05,pc-a,coercion_episodes:belt,c,1,1,,0,0,1.0000,0.0000,4.0000,0,0,0,,,,,common,"
        "common,hit_and_miss,0.5000\n"
        "2024-06,pc-a,coercion_episodes:belt,c,1,1,,0,0,1.0000,0.0000,4.0000,0,0,0,,,,,common,"
        "common,hit_and_miss,0.5000\n");
    free(csv);

    js = capture(KPI_FORMAT_JSON, res);
    j = json_loads(js, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 2);
    s0 = json_array_get(json_object_get(j, "series"), 0);
    assert_string_equal(json_string_value(json_object_get(s0, "center")), "pc-a");
    assert_string_equal(json_string_value(json_object_get(s0, "kpi")), "admissions");
    assert_string_equal(json_string_value(json_object_get(s0, "chart")), "c");
    assert_int_equal(json_integer_value(json_object_get(s0, "n_useful")), 1);
    assert_int_equal(json_integer_value(json_object_get(s0, "longest_run_max")), 3);
    assert_true(json_is_false(json_object_get(s0, "runs_signal")));
    assert_string_equal(json_string_value(json_object_get(s0, "variation")), "common");
    assert_true(json_is_null(json_object_get(s0, "assurance")));
    assert_int_equal(json_array_size(json_object_get(s0, "points")), 2);
    p0 = json_array_get(json_object_get(s0, "points"), 0);
    assert_string_equal(json_string_value(json_object_get(p0, "period")), "2024-05");
    assert_int_equal(json_integer_value(json_object_get(p0, "value")), 12);
    assert_true(json_is_null(json_object_get(p0, "denominator")));
    assert_true(json_is_false(json_object_get(p0, "provisional")));
    assert_true(json_is_false(json_object_get(p0, "baseline")));
    assert_true(json_real_value(json_object_get(p0, "cl")) == 3.0);
    assert_true(json_real_value(json_object_get(p0, "ucl")) == 8.1962);
    assert_true(json_is_true(json_object_get(p0, "sigma_signal")));
    assert_true(json_is_null(json_object_get(p0, "target")));
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(j, "series"), 1), "longest_run")));
    json_decref(j);
    free(js);

    table = capture(KPI_FORMAT_TABLE, res);
    assert_non_null(strstr(table, "pc-a  admissions  (c chart)"));
    assert_non_null(strstr(table, "SIGNAL"));
    assert_non_null(strstr(table, "assurance hit_and_miss"));
    free(table);
    spc_query_result_destroy(&res);
}

static void
test_compute_refuses(void **state)
{
    spc_query_result_t *res = NULL;
    int level = 0, per100k = kpi_find("intrusive_per_100k");
    spc_query_t q = {.conf = &conf,
                     .as_of = T("2024-07-15T00:00:00Z"),
                     .nlevels = 1,
                     .levels = &level,
                     .nkpis = 1,
                     .kpis = &per100k,
                     .to_y = 2024,
                     .to_m = 6};
    kpi_model_t *early;

    (void)state;
    assert_int_equal(spc_query_compute(model, &q, &res), -EINVAL);
    assert_null(res);
    /* A model that does not cover as_of (built for an earlier cut-off) is refused. */
    q.kpis = &(int){kpi_find("admissions")};
    early = kpi_model_new(&recs, &conf, T("2022-01-01T00:00:00Z"));
    assert_non_null(early);
    assert_int_equal(spc_query_compute(early, &q, &res), -EINVAL);
    assert_null(res);
    kpi_model_destroy(&early);
    assert_int_equal(spc_query_compute(model, &q, &res), 0);
    assert_int_equal(res->series[0].npoints, 42);
    spc_query_result_destroy(&res);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_errors), cmocka_unit_test(test_build_defaults),
        cmocka_unit_test(test_series),       cmocka_unit_test(test_targets),
        cmocka_unit_test(test_format),       cmocka_unit_test(test_compute_refuses),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * alert_facts_from_kpi: the figures the KPI rules look at, taken from the
 * model. Here: a threshold rule reads the latest final figure, so a
 * readmission rate still provisional in the last complete month gives way
 * to the month before it (alerts.md: provisional values never fire, and a
 * rule of one's own is evaluated like the KPI rules).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "alert_facts.h"
#include "kpi.h"

static psy_agg_conf_t conf;
static kpi_records_t recs;

/* One contact of patient 1 at center a: an acute admission and its regular discharge. */
static void
stay(const char *id, const char *in, const char *out)
{
    psy_record_t r;

    for (int k = 0; k < 2; k++) {
        psy_record_init(&r);
        r.type = k == 0 ? PSY_REC_ADMISSION : PSY_REC_DISCHARGE;
        snprintf(r.id, sizeof r.id, "%s%c", id, k == 0 ? 'A' : 'D');
        snprintf(r.contact, sizeof r.contact, "%s", id);
        r.time = T(k == 0 ? in : out);
        r.has_patient = true;
        r.patient[0] = 1;
        r.mode = k == 0 ? PSY_MODE_ACUTE : PSY_MODE_NONE;
        r.legal = k == 0 ? PSY_LEGAL_VOLUNTARY : PSY_LEGAL_NONE;
        r.outcome = k == 1 ? PSY_OUTCOME_REGULAR : PSY_OUTCOME_NONE;
        assert_int_equal(kpi_records_push(&recs, 0, &r), 0);
    }
}

static void
rule(const char *name, const char *kpi, int period)
{
    psy_alert_conf_t *a = &conf.alerts[conf.nalerts++];

    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->kpi, sizeof a->kpi, "%s", kpi);
    a->threshold = true;
    a->enabled = -1;
    a->for_us = a->keep_firing_for_us = -1;
    a->period = period;
    a->op = PSY_ALERT_OP_GT;
    a->value = 50;
    snprintf(a->centers, sizeof a->centers, "all");
}

/* The facts of every level (a, region) as the worker takes them from a model built at `when`. */
static void
facts_at(const char *when, alert_level_t *levels)
{
    psy_time_t as_of = T(when);
    kpi_model_t *m = kpi_model_new(&recs, &conf, as_of);
    size_t n = 0;

    assert_non_null(m);
    assert_int_equal(alert_facts_from_kpi(m, &conf, as_of, levels, &n), 0);
    assert_int_equal(n, 2);
    kpi_model_destroy(&m);
}

static void
test_threshold_latest_final(void **state)
{
    alert_level_t levels[PSY_CENTERS_MAX + 1];

    (void)state;
    memset(&conf, 0, sizeof conf);
    memset(&recs, 0, sizeof recs);
    conf.ncenters = 1;
    snprintf(conf.centers[0].id, sizeof conf.centers[0].id, "a");
    conf.target_pct = 30;
    conf.first_year = 2024;
    conf.first_month = 1;
    conf.last_year = 2030;
    conf.last_month = 12;
    /* February: two index discharges, each followed by a stay within 30 days (100 %). */
    stay("S1", "2024-02-01T10:00:00+01:00", "2024-02-05T10:00:00+01:00");
    stay("S2", "2024-02-20T10:00:00+01:00", "2024-02-25T10:00:00+01:00");
    /* March: one index discharge, nothing after it yet (0 %, provisional until 1 May). */
    stay("S3", "2024-03-10T10:00:00+01:00", "2024-03-12T10:00:00+01:00");
    rule("Readmit", "readmission_rate_30d", KPI_MONTH);
    rule("Admits", "admissions", KPI_MONTH);
    rule("ReadmitQ", "readmission_rate_30d", KPI_QUARTER);

    facts_at("2024-04-10T12:00:00+02:00", levels);

    /* March is the last complete month, but its rate is provisional: February's counts. */
    const alert_value_t *v = &levels[0].thr[0];
    assert_true(v->set);
    assert_false(v->provisional);
    assert_string_equal(v->period, "2024-02");
    assert_true(v->v == 100);
    /* A count is final as soon as its month ends: March. */
    v = &levels[0].thr[1];
    assert_false(v->provisional);
    assert_string_equal(v->period, "2024-03");
    assert_true(v->v == 1);
    /* The first quarter is still provisional (March); the one before has no discharge. */
    v = &levels[0].thr[2];
    assert_false(v->provisional);
    assert_string_equal(v->period, "2023-Q4");
    assert_false(v->set);
    /* The region alike. */
    assert_string_equal(levels[1].thr[0].period, "2024-02");

    /*
     * 1 May 06:00: April is provisional, and so is March until 12:00 (it
     * ended 1 April, + 30 days 12 hours): February, not a condition that
     * vanishes for six hours.
     */
    facts_at("2024-05-01T06:00:00+02:00", levels);
    v = &levels[0].thr[0];
    assert_string_equal(v->period, "2024-02");
    assert_false(v->provisional);
    assert_true(v->v == 100);

    /* After 1 May 12:00 March is final: March (0 %). */
    facts_at("2024-05-02T12:00:00+02:00", levels);
    /* April, the last complete month, is provisional until 31 May: March, final now. */
    v = &levels[0].thr[0];
    assert_string_equal(v->period, "2024-03");
    assert_true(v->set);
    assert_true(v->v == 0);
    assert_false(v->provisional);
    kpi_records_free(&recs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_latest_final),
    };

    if (psy_tz_set("Europe/Copenhagen") < 0)
        return 77;
    return cmocka_run_group_tests(tests, NULL, NULL);
}

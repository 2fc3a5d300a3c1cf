/*
 * The KPI engine against hand-built records: the worked example of kpis.md
 * and one table per rule that the page states.
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

#include "kpi.h"

static psy_agg_conf_t conf;
static kpi_records_t recs;

static void
base(psy_record_t *r, psy_rec_type_t type, const char *id, int patient, const char *time)
{
    psy_record_init(r);
    r->type = type;
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->time = T(time);
    if (patient >= 0) {
        r->has_patient = true;
        memset(r->patient, 0, sizeof(r->patient));
        r->patient[0] = (uint8_t)(patient & 0xff);
        r->patient[1] = (uint8_t)(patient >> 8);
        r->patient[31] = 0x5a;
    }
}

static void
push(int center, const psy_record_t *r)
{
    assert_int_equal(kpi_records_push(&recs, (uint16_t)center, r), 0);
}

static void
adm(int center, const char *id, int patient, const char *time, psy_mode_t mode, psy_legal_t legal)
{
    psy_record_t r;

    base(&r, PSY_REC_ADMISSION, id, patient, time);
    snprintf(r.contact, sizeof(r.contact), "%s", id);
    r.mode = mode;
    r.legal = legal;
    push(center, &r);
}

static void
dis(int center, const char *id, const char *contact, int patient, const char *time,
    psy_outcome_t outcome)
{
    psy_record_t r;

    base(&r, PSY_REC_DISCHARGE, id, patient, time);
    snprintf(r.contact, sizeof(r.contact), "%s", contact);
    r.outcome = outcome;
    push(center, &r);
}

static void
coer(int center, const char *id, int patient, const char *time, const char *end,
     psy_coercion_t kind, bool voluntary)
{
    psy_record_t r;

    base(&r, PSY_REC_COERCION, id, patient, time);
    r.coercion = kind;
    r.end = end ? T(end) : PSY_TIME_NONE;
    r.voluntary = voluntary;
    push(center, &r);
}

static void
cons(int center, const char *id, int patient, const char *time, psy_role_t role, psy_consult_t kind)
{
    psy_record_t r;

    base(&r, PSY_REC_CONSULTATION, id, patient, time);
    r.role = role;
    r.consult = kind;
    push(center, &r);
}

static void
ref(int center, const char *id, int patient, const char *time)
{
    psy_record_t r;

    base(&r, PSY_REC_REFERRAL, id, patient, time);
    push(center, &r);
}

static void
tstart(int center, const char *id, int patient, const char *referral, const char *time)
{
    psy_record_t r;

    base(&r, PSY_REC_TREATMENT_START, id, patient, time);
    snprintf(r.referral, sizeof(r.referral), "%s", referral);
    push(center, &r);
}

static kpi_period_t
P(const char *s)
{
    kpi_period_t p = {0};
    int y, m, q;

    if (sscanf(s, "r12:%d-%d", &y, &m) == 2)
        p = (kpi_period_t){KPI_R12, y, m};
    else if (sscanf(s, "%d-Q%d", &y, &q) == 2)
        p = (kpi_period_t){KPI_QUARTER, y, (q - 1) * 3 + 1};
    else if (sscanf(s, "%d-%d", &y, &m) == 2)
        p = (kpi_period_t){KPI_MONTH, y, m};
    else if (sscanf(s, "%d", &y) == 1)
        p = (kpi_period_t){KPI_YEAR, y, 1};
    else
        fail_msg("bad period %s", s);
    return p;
}

static void
fmt(const kpi_num_t *n, char *buf, size_t size)
{
    if (!n->set)
        snprintf(buf, size, "-");
    else if (n->integer)
        snprintf(buf, size, "%.0f", n->v);
    else
        snprintf(buf, size, "%.4f", n->v);
}

/* Expected row: value, numerator, denominator as printed ("-" when empty), provisional. */
typedef struct {
    const char *period;
    int level;
    const char *kpi;
    const char *value, *n, *d;
    int provisional;
} want_t;

#define A  0
#define B  1
#define RG KPI_LEVEL_REGION

static void
check_rows(const char *as_of, const want_t *w, size_t nw)
{
    for (size_t i = 0; i < nw; i++) {
        kpi_period_t per = P(w[i].period);
        int level = w[i].level;
        int k = kpi_find(w[i].kpi);
        kpi_query_t q = {&conf, T(as_of), 1, &per, 1, &level, 1, &k};
        kpi_row_t *rows = NULL;
        size_t n = 0;
        char v[64], nu[64], d[64];

        if (k < 0)
            fail_msg("unknown kpi %s", w[i].kpi);
        assert_int_equal(kpi_compute(&recs, &q, &rows, &n), 0);
        assert_int_equal(n, 1);
        fmt(&rows[0].value, v, sizeof(v));
        fmt(&rows[0].numerator, nu, sizeof(nu));
        fmt(&rows[0].denominator, d, sizeof(d));
        if (strcmp(v, w[i].value) || strcmp(nu, w[i].n) || strcmp(d, w[i].d) ||
            (w[i].provisional >= 0 && rows[0].provisional != (w[i].provisional == 1)))
            fail_msg("row %zu %s level %d %s: got %s n=%s d=%s prov=%d, want %s n=%s d=%s "
                     "prov=%d",
                     i, w[i].period, level, w[i].kpi, v, nu, d, rows[0].provisional, w[i].value,
                     w[i].n, w[i].d, w[i].provisional);
        free(rows);
    }
}

#define CHECK(as_of, table) check_rows(as_of, table, sizeof(table) / sizeof(table[0]))

static int
setup(void **state)
{
    (void)state;
    memset(&conf, 0, sizeof(conf));
    conf.ncenters = 2;
    snprintf(conf.centers[0].id, sizeof(conf.centers[0].id), "a");
    snprintf(conf.centers[1].id, sizeof(conf.centers[1].id), "b");
    conf.target_pct = 30;
    conf.nbaseline = 3;
    conf.baseline_years[0] = 2021;
    conf.baseline_years[1] = 2022;
    conf.baseline_years[2] = 2023;
    conf.first_year = 2024;
    conf.first_month = 1;
    conf.last_year = 2030;
    conf.last_month = 12;
    memset(&recs, 0, sizeof(recs));
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    kpi_records_free(&recs);
    return 0;
}

/* ---- the worked example of kpis.md ---- */

static void
worked_example(void)
{
    adm(A, "a1", 1, "2024-03-01T10:00:00+01:00", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "da1", "a1", 1, "2024-03-05T10:00:00+01:00", PSY_OUTCOME_REGULAR);
    adm(B, "b1", 1, "2024-03-05T12:00:00+01:00", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "db1", "b1", 1, "2024-03-10T10:00:00+01:00", PSY_OUTCOME_REGULAR);
    adm(A, "a2", 1, "2024-03-20T08:00:00+01:00", PSY_MODE_PLANNED, PSY_LEGAL_VOLUNTARY);
    dis(A, "da2", "a2", 1, "2024-03-20T15:00:00+01:00", PSY_OUTCOME_REGULAR);
    adm(A, "a3", 1, "2024-04-02T08:00:00+02:00", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "da3", "a3", 1, "2024-04-04T08:00:00+02:00", PSY_OUTCOME_REGULAR);
}

static void
test_worked_example(void **state)
{
    (void)state;
    worked_example();
    static const want_t w[] = {
        {"2024-03", RG, "readmission_rate_30d", "100.0000", "1", "1", 0},
        {"2024-03", B, "readmission_rate_30d", "100.0000", "1", "1", 0},
        {"2024-03", A, "readmission_rate_30d", "-", "0", "0", 0},
        {"2024-03", RG, "readmission_rate_7d", "0.0000", "0", "1", 0},
        {"2024-03", B, "readmission_rate_7d", "0.0000", "0", "1", 0},
        {"2024-03", A, "readmission_rate_7d", "-", "0", "0", 0},
        {"2024-03", B, "median_days_to_readmission", "22.8750", "-", "1", 0},
        {"2024-03", RG, "median_days_to_readmission", "22.8750", "-", "1", 0},
        {"2024-03", A, "median_days_to_readmission", "-", "-", "0", 0},
        {"2024-03", A, "admissions", "2", "2", "-", 0},
        {"2024-03", B, "admissions", "1", "1", "-", 0},
        {"2024-03", RG, "admissions", "3", "3", "-", 0},
        {"2024-03", A, "discharges", "2", "2", "-", 0},
        {"2024-03", B, "discharges", "1", "1", "-", 0},
        {"2024-03", RG, "discharges", "3", "3", "-", 0},
        /* One person, seen at both centers, counted once at region level. */
        {"2024-03", A, "patients", "1", "1", "-", 0},
        {"2024-03", B, "patients", "1", "1", "-", 0},
        {"2024-03", RG, "patients", "1", "1", "-", 0},
        /* 4 days + 7 hours at A, 4 days 22 hours at B. */
        {"2024-03", A, "bed_days", "4.2917", "4.2917", "-", 0},
        {"2024-03", B, "bed_days", "4.9167", "4.9167", "-", 0},
        {"2024-03", RG, "bed_days", "9.2083", "9.2083", "-", 0},
        /* April: an index discharge at A with nothing after it. */
        {"2024-04", A, "readmission_rate_30d", "0.0000", "0", "1", 0},
        {"2024-04", RG, "admissions", "1", "1", "-", 0},
        {"2024-Q1", RG, "readmission_rate_30d", "100.0000", "1", "1", 0},
        {"2024", RG, "readmission_rate_30d", "50.0000", "1", "2", 0},
        {"2024-03", RG, "self_discharge_share", "0.0000", "0", "3", 0},
        {"2024-03", RG, "records", "6", "6", "-", 0},
        {"2024-03", RG, "records_inconsistent", "0", "0", "-", 0},
    };
    CHECK("2025-06-01T00:00:00Z", w);
}

static void
test_worked_example_provisional(void **state)
{
    (void)state;
    worked_example();
    static const want_t before_rates[] = {
        {"2024-03", B, "readmission_rate_30d", "100.0000", "1", "1", 1},
        {"2024-03", A, "readmission_rate_7d", "-", "0", "0", 1},
        {"2024-03", B, "median_days_to_readmission", "22.8750", "-", "1", 1},
        {"2024-03", B, "admissions", "1", "1", "-", 0},
    };
    static const want_t at_rates[] = {
        {"2024-03", B, "readmission_rate_30d", "100.0000", "1", "1", 0},
        {"2024-03", RG, "readmission_rate_7d", "0.0000", "0", "1", 0},
        {"2024-03", B, "median_days_to_readmission", "22.8750", "-", "1", 1},
    };
    static const want_t at_median[] = {
        {"2024-03", B, "median_days_to_readmission", "22.8750", "-", "1", 0},
    };
    static const want_t before_median[] = {
        {"2024-03", RG, "median_days_to_readmission", "22.8750", "-", "1", 1},
    };
    CHECK("2024-05-01T11:59:59.999999+02:00", before_rates);
    CHECK("2024-05-01T12:00:00+02:00", at_rates);
    CHECK("2025-04-01T11:59:59.999999+02:00", before_median);
    CHECK("2025-04-01T12:00:00+02:00", at_median);
}

/* ---- periods in Europe/Copenhagen ---- */

static void
test_dst_boundaries(void **state)
{
    (void)state;
    /* 00:30 CEST on 1 April. */
    cons(A, "c1", 1, "2024-03-31T22:30:00Z", PSY_ROLE_SOCIAL_NURSE, PSY_CONSULT_SUPERVISION);
    /* 23:30 CEST on 31 March. */
    cons(A, "c2", 2, "2024-03-31T21:30:00Z", PSY_ROLE_SOCIAL_NURSE, PSY_CONSULT_SUPERVISION);
    /* 00:30 CET on 1 November. */
    cons(A, "c3", 3, "2024-10-31T23:30:00Z", PSY_ROLE_SOCIAL_NURSE, PSY_CONSULT_SUPERVISION);
    /* 23:30 CET on 31 October. */
    cons(A, "c4", 4, "2024-10-31T22:30:00Z", PSY_ROLE_SOCIAL_NURSE, PSY_CONSULT_SUPERVISION);
    /* A whole October contact: 31 days and the extra hour of the clock change. */
    adm(B, "x", 5, "2024-10-01T00:00:00+02:00", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "dx", "x", 5, "2024-11-01T00:00:00+01:00", PSY_OUTCOME_REGULAR);
    static const want_t w[] = {
        {"2024-03", A, "consultations", "1", "1", "-", 0},
        {"2024-04", A, "consultations", "1", "1", "-", 0},
        {"2024-10", A, "consultations", "1", "1", "-", 0},
        {"2024-11", A, "consultations", "1", "1", "-", 0},
        {"2024-04", RG, "consulted_patients", "1", "1", "-", 0},
        {"2024-10", B, "bed_days", "31.0417", "31.0417", "-", 0},
        {"2024-11", B, "bed_days", "0.0000", "0.0000", "-", 0},
        {"2024-11", B, "discharges", "1", "1", "-", 0},
        {"2024-10", B, "admissions", "1", "1", "-", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
}

/* ---- stays ---- */

static void
test_merge_exactly_4h(void **state)
{
    (void)state;
    /* Two 6 h contacts 4 h apart make one 16 h qualifying stay. */
    adm(A, "a1", 1, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d1", "a1", 1, "2024-05-01T06:00:00Z", PSY_OUTCOME_REGULAR);
    adm(B, "b1", 1, "2024-05-01T10:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "d2", "b1", 1, "2024-05-01T16:00:00Z", PSY_OUTCOME_REGULAR);
    /* The same just over 4 h apart: two stays, neither qualifies. */
    adm(A, "a2", 2, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d3", "a2", 2, "2024-05-01T06:00:00Z", PSY_OUTCOME_REGULAR);
    adm(A, "a3", 2, "2024-05-01T10:00:00.000001Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d4", "a3", 2, "2024-05-01T16:00:00Z", PSY_OUTCOME_REGULAR);
    static const want_t w[] = {
        /* Patient 1's stay ends at B; patient 2 has no qualifying stay. */
        {"2024-05", B, "readmission_rate_30d", "0.0000", "0", "1", 0},
        {"2024-05", A, "readmission_rate_30d", "-", "0", "0", 0},
        {"2024-05", RG, "readmission_rate_30d", "0.0000", "0", "1", 0},
        {"2024-05", RG, "admissions", "4", "4", "-", 0},
    };
    CHECK("2025-06-01T00:00:00Z", w);
}

static void
test_merge_ties(void **state)
{
    (void)state;
    /* Index 0 is "z", index 1 "b": the order uses the center id, not the index. */
    snprintf(conf.centers[0].id, sizeof(conf.centers[0].id), "z");
    /* Same start, same end: the last in order (center "z") discharges. */
    adm(A, "a1", 1, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d1", "a1", 1, "2024-05-02T00:00:00Z", PSY_OUTCOME_REGULAR);
    adm(B, "b1", 1, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "d2", "b1", 1, "2024-05-02T00:00:00Z", PSY_OUTCOME_REGULAR);
    /* Same start, B ends later: B discharges, with its outcome (transfer: no index). */
    adm(A, "a2", 2, "2024-06-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d3", "a2", 2, "2024-06-03T00:00:00Z", PSY_OUTCOME_REGULAR);
    adm(B, "b2", 2, "2024-06-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "d4", "b2", 2, "2024-06-04T00:00:00Z", PSY_OUTCOME_TRANSFER);
    /* Same start and end at one center: the contact ids decide ("k2" after "k1"). */
    adm(B, "k2", 3, "2024-07-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "e2", "k2", 3, "2024-07-02T00:00:00Z", PSY_OUTCOME_DEATH);
    adm(B, "k1", 3, "2024-07-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "e1", "k1", 3, "2024-07-02T00:00:00Z", PSY_OUTCOME_REGULAR);
    static const want_t w[] = {
        {"2024-05", A, "readmission_rate_30d", "0.0000", "0", "1", 0},
        {"2024-05", B, "readmission_rate_30d", "-", "0", "0", 0},
        {"2024-06", RG, "readmission_rate_30d", "-", "0", "0", 0},
        {"2024-07", RG, "readmission_rate_30d", "-", "0", "0", 0},
        {"2024-05", RG, "patients", "1", "1", "-", 0},
    };
    CHECK("2025-06-01T00:00:00Z", w);
}

static void
test_qualifying_12h_and_open(void **state)
{
    (void)state;
    /* Exactly 12 h qualifies... */
    adm(A, "a1", 1, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d1", "a1", 1, "2024-05-01T12:00:00Z", PSY_OUTCOME_REGULAR);
    /* ...a microsecond less does not. */
    adm(B, "b1", 2, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "d2", "b1", 2, "2024-05-01T11:59:59.999999Z", PSY_OUTCOME_REGULAR);
    /* Patient 1 comes back acutely 10 days later and is still admitted. */
    adm(B, "b2", 1, "2024-05-11T12:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    /* as_of falls in May: every May row is provisional (the month has not ended). */
    static const want_t young[] = {
        {"2024-05", A, "readmission_rate_30d", "0.0000", "0", "1", 1},
        {"2024-05", B, "readmission_rate_30d", "-", "0", "0", 1},
        {"2024-05", RG, "admissions", "3", "3", "-", 1},
        {"2024-05", RG, "discharges", "2", "2", "-", 1},
        {"2024-05", B, "bed_days", "1.0000", "1.0000", "-", 1},
    };
    /* The open stay is 12 h old: now it is a qualifying stay and a readmission. */
    static const want_t old[] = {
        {"2024-05", A, "readmission_rate_30d", "100.0000", "1", "1", 1},
        {"2024-05", A, "median_days_to_readmission", "10.0000", "-", "1", 1},
        {"2024-05", B, "bed_days", "1.0000", "1.0000", "-", 1},
    };
    CHECK("2024-05-11T23:59:59.999999Z", young);
    CHECK("2024-05-12T00:00:00Z", old);
}

static void
test_as_of_cuts(void **state)
{
    (void)state;
    adm(A, "a1", 1, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d1", "a1", 1, "2024-05-03T00:00:00Z", PSY_OUTCOME_REGULAR);
    coer(A, "c1", 1, "2024-05-01T01:00:00Z", "2024-05-02T12:00:00Z", PSY_COERCION_BELT, false);
    /* as_of falls in May: every May row is provisional. */
    static const want_t w[] = {
        /* The discharge does not exist yet: the contact is open to as_of. */
        {"2024-05", A, "bed_days", "1.0000", "1.0000", "-", 1},
        {"2024-05", A, "discharges", "0", "0", "-", 1},
        {"2024-05", A, "records", "2", "2", "-", 1},
        {"2024-05", A, "patients", "1", "1", "-", 1},
        /* The belt's end is after as_of: no duration yet. */
        {"2024-05", A, "belt_median_hours", "-", "-", "0", 1},
        {"2024-05", A, "coercion_episodes:belt", "1", "1", "-", 1},
    };
    CHECK("2024-05-02T00:00:00Z", w);
}

/* Half-open periods: an instant at a period's start belongs to it, not to the one before. */
static void
test_half_open(void **state)
{
    (void)state;
    /* Ends exactly when June starts (Copenhagen): a May patient only. */
    adm(A, "a1", 1, "2024-05-20T00:00:00+02:00", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(A, "d1", "a1", 1, "2024-06-01T00:00:00+02:00", PSY_OUTCOME_REGULAR);
    /* Starts exactly when June starts: a June admission. */
    adm(B, "b1", 2, "2024-06-01T00:00:00+02:00", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "d2", "b1", 2, "2024-06-02T00:00:00+02:00", PSY_OUTCOME_REGULAR);
    static const want_t w[] = {
        {"2024-05", RG, "patients", "1", "1", "-", 0},
        {"2024-06", A, "patients", "0", "0", "-", 0},
        {"2024-06", B, "patients", "1", "1", "-", 0},
        {"2024-05", A, "discharges", "0", "0", "-", 0},
        {"2024-06", A, "discharges", "1", "1", "-", 0},
        {"2024-05", B, "admissions", "0", "0", "-", 0},
        {"2024-06", B, "admissions", "1", "1", "-", 0},
        {"2024-05", A, "bed_days", "12.0000", "12.0000", "-", 0},
        {"2024-06", A, "bed_days", "0.0000", "0.0000", "-", 0},
        {"2024-Q2", RG, "patients", "2", "2", "-", 0},
        {"2024-Q3", RG, "patients", "0", "0", "-", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
}

/* ---- inconsistent records ---- */

static void
test_inconsistent(void **state)
{
    (void)state;
    adm(A, "a1", 1, "2024-05-10T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    /* Earlier than its admission. */
    dis(A, "d0", "a1", 1, "2024-05-09T00:00:00Z", PSY_OUTCOME_REGULAR);
    /* The valid one, then a second. */
    dis(A, "d1", "a1", 1, "2024-05-12T00:00:00Z", PSY_OUTCOME_SELF_DISCHARGE);
    dis(A, "d2", "a1", 1, "2024-05-13T00:00:00Z", PSY_OUTCOME_REGULAR);
    /* Without an admission (a1 at B does not exist). */
    dis(B, "d3", "a1", 1, "2024-05-14T00:00:00Z", PSY_OUTCOME_REGULAR);
    /* A second admission record naming contact a1 at A, starting later. */
    psy_record_t r;
    base(&r, PSY_REC_ADMISSION, "a1-dup", 2, "2024-05-11T00:00:00Z");
    snprintf(r.contact, sizeof(r.contact), "a1");
    r.mode = PSY_MODE_ACUTE;
    r.legal = PSY_LEGAL_VOLUNTARY;
    push(A, &r);
    static const want_t w[] = {
        {"2024-05", A, "discharges", "1", "1", "-", 0},
        {"2024-05", A, "admissions", "1", "1", "-", 0},
        {"2024-05", A, "self_discharge_share", "100.0000", "1", "1", 0},
        {"2024-05", A, "records", "5", "5", "-", 0},
        {"2024-05", A, "records_inconsistent", "3", "3", "-", 0},
        {"2024-05", B, "records_inconsistent", "1", "1", "-", 0},
        {"2024-05", RG, "records_inconsistent", "4", "4", "-", 0},
        {"2024-05", RG, "records", "6", "6", "-", 0},
        {"2024-05", A, "bed_days", "2.0000", "2.0000", "-", 0},
        /* Patient 2's admission was left out. */
        {"2024-05", RG, "patients", "1", "1", "-", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
}

static void
test_duplicate_contact_tie(void **state)
{
    (void)state;
    /* Two admissions of contact k at the same instant: the smaller id forms it. */
    psy_record_t r;
    base(&r, PSY_REC_ADMISSION, "y", 1, "2024-05-01T00:00:00Z");
    snprintf(r.contact, sizeof(r.contact), "k");
    r.mode = PSY_MODE_ACUTE;
    r.legal = PSY_LEGAL_INVOLUNTARY_RED;
    push(A, &r);
    base(&r, PSY_REC_ADMISSION, "x", 1, "2024-05-01T00:00:00Z");
    snprintf(r.contact, sizeof(r.contact), "k");
    r.mode = PSY_MODE_ACUTE;
    r.legal = PSY_LEGAL_VOLUNTARY;
    push(A, &r);
    static const want_t w[] = {
        {"2024-05", A, "admissions", "1", "1", "-", 0},
        {"2024-05", A, "involuntary_admissions", "0", "0", "-", 0},
        {"2024-05", A, "involuntary_admission_share", "0.0000", "0", "1", 0},
        {"2024-05", A, "records_inconsistent", "1", "1", "-", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
}

/* ---- coercion ---- */

static void
test_coercion(void **state)
{
    (void)state;
    adm(A, "a1", 1, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_INVOLUNTARY_YELLOW);
    dis(A, "d1", "a1", 1, "2024-05-11T00:00:00Z", PSY_OUTCOME_REGULAR);
    adm(B, "b1", 2, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    dis(B, "d2", "b1", 2, "2024-05-21T00:00:00Z", PSY_OUTCOME_REGULAR);
    /* Belts of 2, 4, 6 and 10 hours (median 5), one without end, one voluntary. */
    coer(A, "c1", 1, "2024-05-02T00:00:00Z", "2024-05-02T02:00:00Z", PSY_COERCION_BELT, false);
    coer(A, "c2", 1, "2024-05-03T00:00:00Z", "2024-05-03T04:00:00Z", PSY_COERCION_BELT, false);
    coer(B, "c3", 2, "2024-05-02T00:00:00Z", "2024-05-02T06:00:00Z", PSY_COERCION_BELT, false);
    coer(B, "c4", 2, "2024-05-03T00:00:00Z", "2024-05-03T10:00:00Z", PSY_COERCION_BELT, false);
    coer(B, "c5", 2, "2024-05-04T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(B, "c6", 2, "2024-05-05T00:00:00Z", "2024-05-05T01:00:00Z", PSY_COERCION_BELT, true);
    /* Over 48 h: exactly 48 h is not. */
    coer(A, "c7", 1, "2024-06-01T00:00:00Z", "2024-06-03T00:00:00Z", PSY_COERCION_BELT, false);
    coer(A, "c8", 1, "2024-06-05T00:00:00Z", "2024-06-07T00:00:00.000001Z", PSY_COERCION_BELT,
         false);
    /* Other kinds. */
    coer(A, "c9", 1, "2024-05-04T00:00:00Z", NULL, PSY_COERCION_PHYSICAL_RESTRAINT, false);
    coer(B, "c10", 2, "2024-05-04T00:00:00Z", NULL, PSY_COERCION_SEDATIVE_MEDICATION, false);
    coer(B, "c11", 3, "2024-05-04T00:00:00Z", NULL, PSY_COERCION_FORCED_MEDICATION, false);
    static const want_t w[] = {
        {"2024-05", RG, "coercion_episodes:belt", "5", "5", "-", 0},
        {"2024-05", B, "coercion_episodes:belt", "3", "3", "-", 0},
        {"2024-05", RG, "coercion_persons:belt", "2", "2", "-", 0},
        {"2024-05", RG, "belt_median_hours", "5.0000", "-", "4", 0},
        {"2024-05", A, "belt_median_hours", "3.0000", "-", "2", 0},
        {"2024-05", B, "belt_median_hours", "8.0000", "-", "2", 0},
        {"2024-06", A, "belt_over_48h", "1", "1", "-", 0},
        {"2024-06", A, "belt_median_hours", "48.0000", "-", "2", 0},
        {"2024-05", RG, "belt_over_48h", "0", "0", "-", 0},
        {"2024-05", RG, "intrusive_episodes", "7", "7", "-", 0},
        {"2024-05", RG, "intrusive_persons", "2", "2", "-", 0},
        {"2024-05", RG, "coercion_episodes:forced_medication", "1", "1", "-", 0},
        {"2024-05", RG, "coercion_persons:physical_restraint", "1", "1", "-", 0},
        {"2024-05", RG, "coercion_persons:sedative_medication", "1", "1", "-", 0},
        /* 1 (involuntary admission + belts), 2 (belts), 3 (forced medication). */
        {"2024-05", RG, "coerced_persons", "3", "3", "-", 0},
        {"2024-05", A, "coerced_persons", "1", "1", "-", 0},
        {"2024-05", RG, "belt_share_of_patients", "100.0000", "2", "2", 0},
        /* 7 intrusive episodes over 10 + 20 bed days. */
        {"2024-05", RG, "intrusive_per_1000_bed_days", "233.3333", "7", "30.0000", 0},
        {"2024-05", A, "intrusive_per_1000_bed_days", "300.0000", "3", "10.0000", 0},
        {"2024-07", A, "intrusive_per_1000_bed_days", "-", "0", "0.0000", 0},
        /* 4 contact records, 6 belts in May, 3 other episodes. */
        {"2024-05", RG, "records", "13", "13", "-", 0},
        {"2024-05", RG, "involuntary_admission_share", "50.0000", "1", "2", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
}

/* ---- population and the target ---- */

static void
population_conf(void)
{
    conf.centers[0].population.count = 2;
    conf.centers[0].population.years[0] = (psy_population_t){2021, 100000};
    conf.centers[0].population.years[1] = (psy_population_t){2024, 200000};
    conf.centers[1].population.count = 1;
    conf.centers[1].population.years[0] = (psy_population_t){2022, 50000};
}

static void
test_per_100k(void **state)
{
    (void)state;
    population_conf();
    coer(A, "c1", 1, "2023-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(B, "c2", 2, "2023-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(A, "c3", 1, "2020-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    static const want_t w[] = {
        /* 2023 takes 2021's population (nearest earlier). */
        {"2023", A, "intrusive_per_100k", "1.0000", "1", "100000", 0},
        {"2023", B, "intrusive_per_100k", "2.0000", "1", "50000", 0},
        {"2023", RG, "intrusive_per_100k", "1.3333", "2", "150000", 0},
        /* 2020: nearest later year for both. */
        {"2020", RG, "intrusive_per_100k", "0.6667", "1", "150000", 0},
        /* r12 ending in 2024-04 (from 2023-05) holds c1 and c2, with 2024's population. */
        {"r12:2024-04", A, "intrusive_per_100k", "0.5000", "1", "200000", 0},
        {"r12:2024-04", RG, "intrusive_per_100k", "0.8000", "2", "250000", 0},
        {"r12:2024-06", RG, "intrusive_per_100k", "0.0000", "0", "250000", 0},
        /* Months and quarters: printed empty. */
        {"2023-05", A, "intrusive_per_100k", "-", "-", "-", 0},
        {"2023-Q2", RG, "intrusive_per_100k", "-", "-", "-", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);

    /* The [region] section wins over the sum. */
    conf.region_population.count = 1;
    conf.region_population.years[0] = (psy_population_t){2023, 400000};
    static const want_t w2[] = {
        {"2023", RG, "intrusive_per_100k", "0.5000", "2", "400000", 0},
        {"2023", A, "intrusive_per_100k", "1.0000", "1", "100000", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w2);

    /* A level without population: empty rate. */
    conf.region_population.years[0].population = 0;
    static const want_t w3[] = {
        {"2023", RG, "intrusive_per_100k", "-", "2", "0", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w3);
}

static void
test_target(void **state)
{
    (void)state;
    population_conf();
    /* A: 2, 1, 3 intrusive episodes in 2021-2023 per 100,000 (2021 pop): baseline 2.0. */
    coer(A, "c1", 1, "2021-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(A, "c2", 1, "2021-06-01T00:00:00Z", NULL, PSY_COERCION_PHYSICAL_RESTRAINT, false);
    coer(A, "c3", 1, "2022-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(A, "c4", 1, "2023-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(A, "c5", 1, "2023-06-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(A, "c6", 1, "2023-07-01T00:00:00Z", NULL, PSY_COERCION_SEDATIVE_MEDICATION, false);
    /* 2024: 3 episodes on 200,000 = 1.5 per 100k: 25 % reduction. */
    coer(A, "c7", 1, "2024-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(A, "c8", 1, "2024-06-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(A, "c9", 1, "2024-07-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    /* B has no record in 2021: its baseline is empty. */
    coer(B, "c10", 2, "2022-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    coer(B, "c11", 2, "2023-05-01T00:00:00Z", NULL, PSY_COERCION_BELT, false);
    static const want_t w[] = {
        {"2024", A, "intrusive_baseline_per_100k", "2.0000", "-", "-", 0},
        {"r12:2024-12", A, "intrusive_baseline_per_100k", "2.0000", "-", "-", 0},
        {"2024", A, "intrusive_reduction", "25.0000", "-", "-", 0},
        {"2024", A, "intrusive_target_reduction", "4.2857", "-", "-", 0},
        {"r12:2024-12", A, "intrusive_target_reduction", "4.2857", "-", "-", 0},
        {"r12:2024-12", B, "intrusive_target_reduction", "4.2857", "-", "-", 0},
        {"2024", A, "intrusive_on_track", "1", "-", "-", 0},
        {"2024", B, "intrusive_baseline_per_100k", "-", "-", "-", 0},
        {"2024", B, "intrusive_reduction", "-", "-", "-", 0},
        {"2024", B, "intrusive_on_track", "-", "-", "-", 0},
        /* The region has records in every baseline year: 2, 2 and 4 episodes on 150,000. */
        {"2024", RG, "intrusive_baseline_per_100k", "1.7778", "-", "-", 0},
        {"r12:2023-12", A, "intrusive_target_reduction", "0.0000", "-", "-", 0},
        {"r12:2030-12", A, "intrusive_target_reduction", "30.0000", "-", "-", 1},
        {"2035", A, "intrusive_target_reduction", "30.0000", "-", "-", 1},
        {"r12:2024-06", A, "intrusive_target_reduction", "2.1429", "-", "-", 0},
        {"2024-12", A, "intrusive_target_reduction", "-", "-", "-", 0},
        {"2024-Q4", A, "intrusive_baseline_per_100k", "-", "-", "-", 0},
        {"2024-Q4", A, "intrusive_on_track", "-", "-", "-", 0},
        /*
         * The episodes allowed on the trajectory, every period kind: baseline 2.0
         * per 100,000 of 200,000 in 2024 is 4 a year, less the trajectory at the
         * period's last month (4.2857 % in 2024-12, 1.0714 % in 2024-03, none
         * before 2024-01, on 2021's 100,000 in 2023), times months / 12.
         */
        {"2024-12", A, "intrusive_target_episodes", "0.3190", "-", "-", 0},
        {"2024-Q1", A, "intrusive_target_episodes", "0.9893", "-", "-", 0},
        {"2024", A, "intrusive_target_episodes", "3.8286", "-", "-", 0},
        {"r12:2024-12", A, "intrusive_target_episodes", "3.8286", "-", "-", 0},
        {"2023-06", A, "intrusive_target_episodes", "0.1667", "-", "-", 0},
        {"2024-12", B, "intrusive_target_episodes", "-", "-", "-", 0},
        /* A period not ended at as_of is provisional whatever the KPI; one ended is not. */
        {"2025-06", A, "intrusive_episodes", "0", "0", "-", 1},
        {"2025-Q2", A, "records", "0", "0", "-", 1},
        {"2025", A, "intrusive_target_episodes", "3.6571", "-", "-", 1},
        {"r12:2025-06", A, "intrusive_episodes", "1", "1", "-", 1},
        {"2025-05", A, "intrusive_episodes", "0", "0", "-", 0},
        {"r12:2025-05", A, "intrusive_episodes", "2", "2", "-", 0},
    };
    CHECK("2025-06-01T00:00:00Z", w);
    /* A reduction below the trajectory is not on track. */
    conf.target_pct = 300;
    static const want_t w2[] = {
        {"2024", A, "intrusive_target_reduction", "42.8571", "-", "-", 0},
        {"2024", A, "intrusive_reduction", "25.0000", "-", "-", 0},
        {"2024", A, "intrusive_on_track", "0", "-", "-", 0},
    };
    CHECK("2031-06-01T00:00:00Z", w2);
}

/* ---- consultations ---- */

static void
test_consultations(void **state)
{
    (void)state;
    cons(A, "c1", 1, "2024-05-01T00:00:00Z", PSY_ROLE_SOCIAL_NURSE, PSY_CONSULT_ACTION_PLAN);
    cons(A, "c2", 1, "2024-05-02T00:00:00Z", PSY_ROLE_SOCIAL_NURSE, PSY_CONSULT_ACTION_PLAN);
    cons(B, "c3", 1, "2024-05-02T00:00:00Z", PSY_ROLE_SOCIAL_PHYSICIAN, PSY_CONSULT_FOLLOW_HOME);
    cons(B, "c4", -1, "2024-05-03T00:00:00Z", PSY_ROLE_OTHER, PSY_CONSULT_OTHER);
    static const want_t w[] = {
        {"2024-05", RG, "consultations", "4", "4", "-", 0},
        {"2024-05", A, "consultations:social_nurse:action_plan", "2", "2", "-", 0},
        {"2024-05", B, "consultations:social_physician:follow_home", "1", "1", "-", 0},
        {"2024-05", RG, "consultations:other:other", "1", "1", "-", 0},
        {"2024-05", RG, "consultations:social_nurse:supervision", "0", "0", "-", 0},
        {"2024-05", RG, "consulted_patients", "1", "1", "-", 0},
        {"2024-05", B, "consulted_patients", "1", "1", "-", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
}

/* ---- waiting time ---- */

static void
test_waiting_time(void **state)
{
    (void)state;
    /* r1: treated after exactly 60 days; a second start later is inconsistent. */
    ref(A, "r1", 1, "2024-01-01T00:00:00Z");
    tstart(A, "t1", 1, "r1", "2024-03-01T00:00:00Z");
    tstart(A, "t1b", 1, "r1", "2024-03-05T00:00:00Z");
    /* r2: treated after 70 days; an earlier start than the referral is inconsistent. */
    ref(A, "r2", 2, "2024-01-01T00:00:00Z");
    tstart(A, "t2x", 2, "r2", "2023-12-20T00:00:00Z");
    tstart(A, "t2", 2, "r2", "2024-03-11T00:00:00Z");
    /* A start naming a referral of another center, or none. */
    tstart(B, "t3", 3, "r1", "2024-03-02T00:00:00Z");
    tstart(B, "t4", 3, "nope", "2024-03-02T00:00:00Z");
    /* r5 at B: never treated. */
    ref(B, "r5", 5, "2024-02-15T00:00:00Z");
    static const want_t w[] = {
        {"2024-03", A, "treatment_starts", "2", "2", "-", 0},
        {"2024-03", A, "wait_within_60d_share", "50.0000", "1", "2", 0},
        {"2024-03", A, "wait_median_days", "65.0000", "-", "2", 0},
        {"2024-03", B, "wait_median_days", "-", "-", "0", 0},
        {"2024-03", B, "wait_within_60d_share", "-", "0", "0", 0},
        {"2024-03", A, "records_inconsistent", "1", "1", "-", 0},
        {"2023-12", A, "records_inconsistent", "1", "1", "-", 0},
        {"2024-03", B, "records_inconsistent", "2", "2", "-", 0},
        /* At the end of February (t = 2024-02-29T23:00Z) r1 and r2 are 59.96 days old. */
        {"2024-02", A, "referrals_overdue", "0", "0", "-", 0},
        /* At the end of March r1, r2 are treated; r5 is 46 days old. */
        {"2024-03", RG, "referrals_overdue", "0", "0", "-", 0},
        /* At the end of April (t = 2024-04-30T22:00Z) r5 is overdue. */
        {"2024-04", RG, "referrals_overdue", "1", "1", "-", 0},
        {"2024-04", B, "referrals_overdue", "1", "1", "-", 0},
        {"2024-04", A, "referrals_overdue", "0", "0", "-", 0},
        {"2024-Q1", A, "treatment_starts", "2", "2", "-", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
    /* Overdue is judged at as_of when it falls inside P. */
    static const want_t w2[] = {
        /* 2024-03-05: r2 is 64 days old, untreated (its start is later). */
        {"2024-03", A, "referrals_overdue", "1", "1", "-", 1},
        {"2024-03", A, "treatment_starts", "1", "1", "-", 1},
    };
    CHECK("2024-03-05T00:00:00Z", w2);
    /* Exactly 60 days old is not overdue: referral < t - 60 days. */
    /* 2024-04 has not ended at as_of: provisional. */
    static const want_t w3[] = {
        {"2024-02", B, "referrals_overdue", "0", "0", "-", 0},
        {"2024-04", B, "referrals_overdue", "0", "0", "-", 1},
    };
    CHECK("2024-04-15T00:00:00Z", w3);
    static const want_t w4[] = {
        {"2024-04", B, "referrals_overdue", "1", "1", "-", 1},
    };
    CHECK("2024-04-15T00:00:00.000001Z", w4);
}

/* ---- the name list and the query ---- */

static void
test_names(void **state)
{
    (void)state;
    size_t k = 0;

    assert_string_equal(kpi_name(0), "admissions");
    assert_int_equal(kpi_find("records_inconsistent"), (int)kpi_count() - 1);
    assert_int_equal(kpi_find("nope"), -1);
    assert_null(kpi_name(kpi_count()));
    for (int c = 1; c < PSY_COERCION__COUNT; c++) {
        char name[128];

        snprintf(name, sizeof(name), "coercion_episodes:%s", psy_coercion_name(c));
        assert_int_equal(kpi_find(name), kpi_find("coercion_episodes:belt") + c - 1);
        snprintf(name, sizeof(name), "coercion_persons:%s", psy_coercion_name(c));
        assert_int_equal(kpi_find(name), kpi_find("coercion_persons:belt") + c - 1);
    }
    for (int r = 1; r < PSY_ROLE__COUNT; r++)
        for (int c = 1; c < PSY_CONSULT__COUNT; c++) {
            char name[128];

            snprintf(name, sizeof(name), "consultations:%s:%s", psy_role_name(r),
                     psy_consult_name(c));
            assert_true(kpi_find(name) > kpi_find("consultations"));
            k++;
        }
    assert_int_equal(k, 18);
    assert_int_equal(kpi_count(), 6 + 28 + 8 + 5 + 4 + 1 + 18 + 1 + 4 + 2);
}

static void
test_rows_order_and_bad_query(void **state)
{
    (void)state;
    worked_example();
    kpi_period_t per[2] = {P("2024-03"), P("2024-04")};
    int levels[3] = {RG, B, A};
    int kpis[2] = {kpi_find("discharges"), kpi_find("admissions")};
    kpi_query_t q = {&conf, T("2025-01-01T00:00:00Z"), 2, per, 3, levels, 2, kpis};
    kpi_row_t *rows = NULL;
    size_t n = 0, i = 0;

    assert_int_equal(kpi_compute(&recs, &q, &rows, &n), 0);
    assert_int_equal(n, 12);
    for (int p = 0; p < 2; p++)
        for (int l = 0; l < 3; l++)
            for (int k = 0; k < 2; k++, i++) {
                assert_int_equal(rows[i].period.month, per[p].month);
                assert_int_equal(rows[i].level, levels[l]);
                assert_int_equal(rows[i].kpi, kpis[k]);
            }
    assert_int_equal(rows[1].value.v, 3); /* 2024-03 region admissions */
    free(rows);

    int bad_level = 2;
    q.levels = &bad_level;
    q.nlevels = 1;
    assert_int_equal(kpi_compute(&recs, &q, &rows, &n), -EINVAL);
    q.levels = levels;
    int bad_kpi = (int)kpi_count();
    q.kpis = &bad_kpi;
    q.nkpis = 1;
    assert_int_equal(kpi_compute(&recs, &q, &rows, &n), -EINVAL);
}

/* Records that the engine must survive: out-of-range center, voids, no patient. */
static void
test_odd_records(void **state)
{
    (void)state;
    psy_record_t r;

    adm(7, "x", 1, "2024-05-01T00:00:00Z", PSY_MODE_ACUTE, PSY_LEGAL_VOLUNTARY);
    base(&r, PSY_REC_ADMISSION, "v", 1, "2024-05-01T00:00:00Z");
    r.is_void = true;
    push(A, &r);
    base(&r, PSY_REC_ADMISSION, "np", -1, "2024-05-01T00:00:00Z");
    r.mode = PSY_MODE_ACUTE;
    push(A, &r);
    static const want_t w[] = {
        {"2024-05", RG, "records", "1", "1", "-", 0},
        {"2024-05", A, "admissions", "1", "1", "-", 0},
        {"2024-05", A, "patients", "0", "0", "-", 0},
        {"2024-05", A, "belt_share_of_patients", "-", "0", "0", 0},
    };
    CHECK("2025-01-01T00:00:00Z", w);
}

/*
 * Random registrations: every additive KPI of an r12 period is the sum of its
 * twelve months, and one query over many periods gives the same rows as one
 * query per period. This checks the period lookup against itself from two
 * sides.
 */
static void
test_period_additivity(void **state)
{
    static const char *const additive[] = {"admissions",
                                           "discharges",
                                           "involuntary_admissions",
                                           "coercion_episodes:belt",
                                           "intrusive_episodes",
                                           "belt_over_48h",
                                           "consultations",
                                           "treatment_starts",
                                           "records",
                                           "records_inconsistent",
                                           "bed_days"};
    psy_time_t t0 = T("2023-01-01T00:00:00Z");
    char id[32], when[40], end[40], other[32];
    unsigned seed = 12345;

    (void)state;
    for (int i = 0; i < 600; i++) {
        seed = seed * 1103515245u + 12345u;
        int pat = (int)(seed >> 16) % 40, c = (int)(seed >> 8) % 2, kind = (int)(seed >> 4) % 5;
        psy_time_t t = t0 + (psy_time_t)((seed >> 3) % (2u * 365 * 24)) * PSY_HOUR;

        psy_time_format(t, when, sizeof(when));
        psy_time_format(t + (psy_time_t)(seed % 97) * PSY_HOUR, end, sizeof(end));
        snprintf(id, sizeof(id), "r%d", i);
        switch (kind) {
        case 0:
            adm(c, id, pat, when, seed & 1 ? PSY_MODE_ACUTE : PSY_MODE_PLANNED,
                seed & 2 ? PSY_LEGAL_VOLUNTARY : PSY_LEGAL_INVOLUNTARY_RED);
            snprintf(other, sizeof(other), "d%d", i);
            if (seed & 4)
                dis(c, other, id, pat, end, PSY_OUTCOME_REGULAR);
            break;
        case 1:
            coer(c, id, pat, when, seed & 8 ? end : NULL,
                 seed & 16 ? PSY_COERCION_BELT : PSY_COERCION_PHYSICAL_RESTRAINT, false);
            break;
        case 2:
            cons(c, id, pat, when, PSY_ROLE_SOCIAL_NURSE, PSY_CONSULT_SUPERVISION);
            break;
        case 3:
            ref(c, id, pat, when);
            break;
        default:
            /* Treatment starts naming earlier referrals, some of them unknown. */
            snprintf(other, sizeof(other), "r%d", (int)(seed % (unsigned)(i + 1)));
            tstart(c, id, pat, other, end);
            break;
        }
    }
    kpi_period_t *per = NULL;
    size_t np = 0;
    assert_int_equal(kpi_period_list(KPI_MONTH, 2023, 1, 2024, 12, &per, &np), 0);
    kpi_period_t r12[2] = {{KPI_R12, 2023, 12}, {KPI_R12, 2024, 6}};
    int levels[3] = {A, B, RG};
    int nk = (int)kpi_count();
    int *kpis = malloc((size_t)nk * sizeof(*kpis));
    assert_non_null(kpis);
    for (int k = 0; k < nk; k++)
        kpis[k] = k;
    kpi_query_t q = {&conf, T("2025-03-01T00:00:00Z"), np, per, 3, levels, (size_t)nk, kpis};
    kpi_row_t *months = NULL, *years = NULL;
    size_t nm = 0, ny = 0;
    assert_int_equal(kpi_compute(&recs, &q, &months, &nm), 0);
    q.periods = r12;
    q.nperiods = 2;
    assert_int_equal(kpi_compute(&recs, &q, &years, &ny), 0);

    /* Additivity of r12 over its months. */
    for (size_t a = 0; a < sizeof(additive) / sizeof(additive[0]); a++) {
        int k = kpi_find(additive[a]);
        for (int y = 0; y < 2; y++)
            for (int l = 0; l < 3; l++) {
                double sum = 0;
                int last = (r12[y].year - 2023) * 12 + r12[y].month - 1;
                for (int m = last - 11; m <= last; m++)
                    sum += months[((size_t)m * 3 + (size_t)l) * (size_t)nk + (size_t)k].value.v;
                const kpi_row_t *row = &years[((size_t)y * 3 + (size_t)l) * (size_t)nk + (size_t)k];
                assert_true(row->value.set);
                if (fabs(row->value.v - sum) > 1e-6)
                    fail_msg("%s r12 %d level %d: %f != sum of months %f", additive[a], y,
                             levels[l], row->value.v, sum);
            }
    }
    /* Region counts at least what any center does for persons, exactly the sum for counts. */
    int kp = kpi_find("patients"), ka = kpi_find("admissions");
    for (size_t m = 0; m < np; m++) {
        const kpi_row_t *base = &months[m * 3 * (size_t)nk];
        assert_true(base[2 * nk + kp].value.v <= base[kp].value.v + base[nk + kp].value.v);
        assert_true(base[2 * nk + kp].value.v >= base[kp].value.v);
        assert_int_equal(base[2 * nk + ka].value.v, base[ka].value.v + base[nk + ka].value.v);
    }
    /* One query per month gives the same rows as the query over all months. */
    for (size_t m = 0; m < np; m++) {
        kpi_row_t *one = NULL;
        size_t n1 = 0;

        q.periods = &per[m];
        q.nperiods = 1;
        assert_int_equal(kpi_compute(&recs, &q, &one, &n1), 0);
        assert_int_equal(n1, 3 * (size_t)nk);
        for (size_t i = 0; i < n1; i++) {
            const kpi_row_t *x = &one[i], *y = &months[m * n1 + i];
            if (x->value.set != y->value.set || x->value.v != y->value.v ||
                x->numerator.v != y->numerator.v || x->denominator.v != y->denominator.v ||
                x->provisional != y->provisional)
                fail_msg("month %zu row %zu (%s) differs", m, i, kpi_name((size_t)x->kpi));
        }
        free(one);
    }
    free(months);
    free(years);
    free(kpis);
    free(per);
}

int
main(void)
{
    if (psy_tz_set("Europe/Copenhagen") < 0) {
        fprintf(stderr, "no zone Europe/Copenhagen\n");
        return 1;
    }
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T_(test_worked_example),
        T_(test_worked_example_provisional),
        T_(test_dst_boundaries),
        T_(test_merge_exactly_4h),
        T_(test_merge_ties),
        T_(test_qualifying_12h_and_open),
        T_(test_as_of_cuts),
        T_(test_half_open),
        T_(test_inconsistent),
        T_(test_duplicate_contact_tie),
        T_(test_coercion),
        T_(test_per_100k),
        T_(test_target),
        T_(test_consultations),
        T_(test_waiting_time),
        T_(test_names),
        T_(test_rows_order_and_bad_query),
        T_(test_odd_records),
        T_(test_period_additivity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

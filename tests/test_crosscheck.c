/*
 * The randomized cross-check of the KPI engine (issue 5, "Proof").
 *
 * Generated registrations go the production way: batches with corrections
 * and voids through store_apply_batch(), store_load(), kpi_compute(). The
 * same submissions go to the reference (tests/crosscheck/ref_kpi.c), which
 * replays the corrections itself and computes every KPI with its own
 * calendar, contacts and stays. Every row of every KPI, period kind and
 * level must agree.
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
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "crosscheck/ref_kpi.h"
#include "kpi.h"
#include "store.h"

#define HOUR PSY_HOUR
#define DAY  PSY_DAY
#define SEC  PSY_USEC

/* ---- a small deterministic generator ---- */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int
below(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static bool
chance(int percent)
{
    return below(100) < percent;
}

/* ---- submissions: what the collectors send, in order ---- */

typedef struct {
    int center;
    psy_record_t rec;
} sub_t;

static sub_t *subs;
static size_t nsubs, capsubs;

static sub_t *
sub_add(int center, const psy_record_t *r)
{
    if (nsubs == capsubs) {
        capsubs = capsubs ? capsubs * 2 : 1024;
        subs = realloc(subs, capsubs * sizeof(*subs));
        assert_non_null(subs);
    }
    subs[nsubs].center = center;
    subs[nsubs].rec = *r;
    return &subs[nsubs++];
}

static psy_agg_conf_t conf;

static void
conf_init(bool region_pop)
{
    static const char *const ids[] = {"pc-nord", "bu-center", "pc-amager"};

    memset(&conf, 0, sizeof(conf));
    conf.ncenters = 3;
    for (size_t i = 0; i < 3; i++)
        snprintf(conf.centers[i].id, sizeof(conf.centers[i].id), "%s", ids[i]);
    conf.centers[0].population.count = 2;
    conf.centers[0].population.years[0] = (psy_population_t){2020, 200000};
    conf.centers[0].population.years[1] = (psy_population_t){2024, 210000};
    /* bu-center has no population: its rates are empty. */
    conf.centers[2].population.count = 1;
    conf.centers[2].population.years[0] = (psy_population_t){2022, 150000};
    if (region_pop) {
        conf.region_population.count = 1;
        conf.region_population.years[0] = (psy_population_t){2023, 420000};
    }
    conf.target_pct = 30;
    conf.nbaseline = 3;
    conf.baseline_years[0] = 2021;
    conf.baseline_years[1] = 2022;
    conf.baseline_years[2] = 2023;
    conf.first_year = 2024;
    conf.first_month = 1;
    conf.last_year = 2030;
    conf.last_month = 12;
}

static void
patient_of(int p, uint8_t out[PSY_PSEUDONYM_LEN])
{
    for (int i = 0; i < PSY_PSEUDONYM_LEN; i++)
        out[i] = (uint8_t)((p * 131 + i * 17 + (i == 0 ? p : 0)) & 0xff);
    out[30] = (uint8_t)(p >> 8);
    out[31] = (uint8_t)p;
}

static void
rec_base(psy_record_t *r, psy_rec_type_t type, const char *id, int patient, psy_time_t t)
{
    psy_record_init(r);
    r->type = type;
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->time = t;
    if (patient >= 0) {
        r->has_patient = true;
        patient_of(patient, r->patient);
    }
}

/* Instants where rules meet: local month starts, clock changes, year ends. */
static const char *const special[] = {
    "2021-03-28T01:59:59+01:00", "2021-03-28T03:00:00+02:00",  "2021-10-31T02:30:00+02:00",
    "2021-10-31T02:30:00+01:00", "2022-01-01T00:00:00+01:00",  "2022-12-31T23:59:59+01:00",
    "2023-03-26T03:00:00+02:00", "2023-04-01T00:00:00+02:00",  "2023-03-31T23:59:59+02:00",
    "2023-10-29T02:00:00+01:00", "2023-10-31T23:00:00Z",       "2023-11-01T00:00:00+01:00",
    "2024-02-29T23:30:00+01:00", "2024-03-31T01:00:00Z",       "2024-03-31T22:00:00Z",
    "2024-03-31T21:59:59Z",      "2024-10-27T00:59:59Z",       "2024-10-27T01:00:00Z",
    "2024-12-31T23:00:00Z",      "2024-12-31T22:59:59.999999Z"};

static psy_time_t
pick_start(void)
{
    if (chance(20))
        return T(special[below((int)(sizeof(special) / sizeof(special[0])))]) +
               (chance(30) ? (below(3) - 1) * SEC : 0);
    /* 2020-06-01 .. 2025-05-01, at whole minutes or odd instants. */
    psy_time_t lo = T("2020-06-01T00:00:00Z"), hi = T("2025-05-01T00:00:00Z");
    psy_time_t t = lo + (psy_time_t)(rnd() % (uint64_t)(hi - lo));

    return chance(70) ? t - t % (60 * SEC) : t;
}

static psy_time_t
pick_duration(void)
{
    static const psy_time_t d[] = {
        0,       SEC,     6 * HOUR, 12 * HOUR - SEC, 12 * HOUR, 12 * HOUR + SEC,
        2 * DAY, 9 * DAY, 30 * DAY, 75 * DAY};

    if (chance(40))
        return (psy_time_t)(rnd() % (uint64_t)(40 * DAY));
    return d[below((int)(sizeof(d) / sizeof(d[0])))];
}

static psy_time_t
pick_gap(void)
{
    static const psy_time_t g[] = {
        -2 * HOUR,      0,         HOUR,           4 * HOUR - SEC, 4 * HOUR,
        4 * HOUR + 1,   12 * HOUR, 7 * DAY,        7 * DAY + SEC,  30 * DAY,
        30 * DAY + SEC, 365 * DAY, 365 * DAY + SEC};

    if (chance(40))
        return (psy_time_t)(rnd() % (uint64_t)(120 * DAY));
    return g[below((int)(sizeof(g) / sizeof(g[0])))];
}

static int idn;

static void
next_id(char *buf, size_t size, const char *prefix)
{
    snprintf(buf, size, "%s-%d", prefix, ++idn);
}

static void
gen_coercion(int center, int patient, psy_time_t start, psy_time_t dur, const char *contact,
             psy_time_t as_of)
{
    static const psy_time_t belt_len[] = {HOUR, 8 * HOUR, 48 * HOUR, 48 * HOUR + SEC, 72 * HOUR};
    psy_record_t r;
    char id[32];

    next_id(id, sizeof(id), "C");
    rec_base(&r, PSY_REC_COERCION, id, patient,
             start + (dur > 0 ? (psy_time_t)(rnd() % (uint64_t)dur) : 0));
    r.coercion = chance(60) ? (psy_coercion_t)(1 + below(3)) : (psy_coercion_t)(1 + below(14));
    if (chance(50))
        snprintf(r.contact, sizeof(r.contact), "%s", contact);
    if (r.coercion == PSY_COERCION_BELT) {
        r.voluntary = chance(15);
        int w = below(8);
        if (w < 5)
            r.end = r.time + belt_len[w];
        else if (w == 5)
            r.end = as_of + HOUR; /* not ended yet as of as_of */
        else if (w == 6)
            r.end = r.time + (psy_time_t)(rnd() % (uint64_t)(60 * HOUR));
    } else if (chance(30)) {
        r.end = r.time + (psy_time_t)(rnd() % (uint64_t)(10 * HOUR));
    }
    sub_add(center, &r);
}

/* One patient's history: contacts across centers, coercion, consultations, referrals. */
static void
gen_patient(int p, psy_time_t as_of)
{
    psy_time_t t = pick_start();
    int ncontacts = 1 + below(7);
    char prev_id[32] = "";
    int prev_center = -1;

    for (int k = 0; k < ncontacts; k++) {
        int center = below(3);
        psy_time_t dur = pick_duration();
        psy_record_t a, d;
        char id[32], did[32];

        if (prev_id[0] && center != prev_center && chance(10))
            snprintf(id, sizeof(id), "%s", prev_id); /* the same id at another center */
        else
            next_id(id, sizeof(id), "A");
        rec_base(&a, PSY_REC_ADMISSION, id, p, t);
        if (chance(20))
            snprintf(a.contact, sizeof(a.contact), "K%s", id);
        else
            snprintf(a.contact, sizeof(a.contact), "%s", id);
        a.mode = chance(65) ? PSY_MODE_ACUTE : PSY_MODE_PLANNED;
        a.legal = chance(75)
                      ? PSY_LEGAL_VOLUNTARY
                      : (chance(50) ? PSY_LEGAL_INVOLUNTARY_RED : PSY_LEGAL_INVOLUNTARY_YELLOW);
        sub_add(center, &a);
        if (chance(4)) { /* a second admission naming the same contact */
            psy_record_t a2 = a;

            next_id(a2.id, sizeof(a2.id), "A");
            a2.time = t + (below(3) - 1) * HOUR;
            sub_add(center, &a2);
        }

        bool open = k == ncontacts - 1 ? chance(30) : chance(5);
        if (!open) {
            next_id(did, sizeof(did), "D");
            rec_base(&d, PSY_REC_DISCHARGE, did, p, t + dur);
            snprintf(d.contact, sizeof(d.contact), "%s", a.contact);
            int o = below(10);
            d.outcome = o < 6   ? PSY_OUTCOME_REGULAR
                        : o < 8 ? PSY_OUTCOME_SELF_DISCHARGE
                        : o < 9 ? PSY_OUTCOME_TRANSFER
                                : PSY_OUTCOME_DEATH;
            sub_add(center, &d);
            if (chance(5)) { /* a second discharge, later or at the same instant */
                next_id(did, sizeof(did), "D");
                d.time += chance(50) ? 0 : HOUR;
                snprintf(d.id, sizeof(d.id), "%s", did);
                sub_add(center, &d);
            }
        }
        if (chance(4)) { /* a discharge before its admission */
            next_id(did, sizeof(did), "D");
            rec_base(&d, PSY_REC_DISCHARGE, did, p, t - HOUR);
            snprintf(d.contact, sizeof(d.contact), "%s", a.contact);
            d.outcome = PSY_OUTCOME_REGULAR;
            sub_add(center, &d);
        }
        if (chance(3)) { /* a discharge of no known contact */
            next_id(did, sizeof(did), "D");
            rec_base(&d, PSY_REC_DISCHARGE, did, p, t + HOUR);
            snprintf(d.contact, sizeof(d.contact), "nosuch-%d", idn);
            d.outcome = PSY_OUTCOME_REGULAR;
            sub_add(center, &d);
        }
        if (chance(6)) { /* a contact at another center from the same instant */
            psy_record_t tw = a;
            int c2 = (center + 1 + below(2)) % 3;

            next_id(tw.id, sizeof(tw.id), "A");
            snprintf(tw.contact, sizeof(tw.contact), "%s", tw.id);
            tw.mode = a.mode == PSY_MODE_ACUTE ? PSY_MODE_PLANNED : PSY_MODE_ACUTE;
            sub_add(c2, &tw);
            if (chance(60)) {
                next_id(did, sizeof(did), "D");
                rec_base(&d, PSY_REC_DISCHARGE, did, p,
                         t + (chance(50) ? dur : (psy_time_t)(rnd() % (uint64_t)(3 * DAY))));
                snprintf(d.contact, sizeof(d.contact), "%s", tw.contact);
                d.outcome = chance(50) ? PSY_OUTCOME_TRANSFER : PSY_OUTCOME_REGULAR;
                sub_add(c2, &d);
            }
        }
        int nco = chance(60) ? below(4) : 0;
        for (int c = 0; c < nco; c++)
            gen_coercion(center, p, t, open ? 20 * DAY : dur, a.contact, as_of);
        snprintf(prev_id, sizeof(prev_id), "%s", id);
        prev_center = center;
        t += (open ? 20 * DAY : dur) + pick_gap();
    }
    for (int c = below(3); c > 0; c--) {
        psy_record_t r;
        char id[32];

        next_id(id, sizeof(id), "S");
        rec_base(&r, PSY_REC_CONSULTATION, id, chance(20) ? -1 : p, pick_start());
        r.role = (psy_role_t)(1 + below(3));
        r.consult = (psy_consult_t)(1 + below(6));
        r.minutes = below(120);
        sub_add(below(3), &r);
    }
    if (chance(40)) {
        static const psy_time_t waits[] = {-DAY, 0, 30 * DAY, 60 * DAY, 60 * DAY + SEC, 90 * DAY};
        int center = below(3);
        psy_record_t r, ts;
        char id[32], tid[32];

        next_id(id, sizeof(id), "R");
        /* Some referrals turn 60 days old exactly at a local month start. */
        rec_base(&r, PSY_REC_REFERRAL, id, p,
                 chance(15) ? T("2024-04-01T00:00:00+02:00") - 60 * DAY : pick_start());
        r.age = below(18);
        sub_add(center, &r);
        for (int n = below(3); n > 0; n--) {
            next_id(tid, sizeof(tid), "T");
            psy_time_t w = chance(50) ? waits[below(6)] : (psy_time_t)(rnd() % (200 * DAY));
            rec_base(&ts, PSY_REC_TREATMENT_START, tid, p, r.time + w);
            snprintf(ts.referral, sizeof(ts.referral), "%s", chance(8) ? "R-none" : id);
            sub_add(chance(8) ? (center + 1) % 3 : center, &ts);
        }
    }
}

/*
 * A patient discharged three days before an open stay that is 12 hours old
 * at as_of, a second earlier or later: the open stay is a readmission only
 * from its twelfth hour on.
 */
static void
gen_open_at_as_of(int p, psy_time_t as_of, psy_time_t shift, psy_mode_t mode)
{
    psy_record_t a, d;
    char id[32], did[32];
    int center = below(3);

    next_id(id, sizeof(id), "A");
    rec_base(&a, PSY_REC_ADMISSION, id, p, as_of - 12 * HOUR - 3 * DAY - 2 * DAY);
    snprintf(a.contact, sizeof(a.contact), "%s", id);
    a.mode = PSY_MODE_ACUTE;
    a.legal = PSY_LEGAL_VOLUNTARY;
    sub_add(center, &a);
    next_id(did, sizeof(did), "D");
    rec_base(&d, PSY_REC_DISCHARGE, did, p, as_of - 12 * HOUR - 3 * DAY);
    snprintf(d.contact, sizeof(d.contact), "%s", id);
    d.outcome = PSY_OUTCOME_REGULAR;
    sub_add(center, &d);
    next_id(id, sizeof(id), "A");
    rec_base(&a, PSY_REC_ADMISSION, id, p, as_of - 12 * HOUR + shift);
    snprintf(a.contact, sizeof(a.contact), "%s", id);
    a.mode = mode;
    a.legal = PSY_LEGAL_VOLUNTARY;
    sub_add(below(3), &a);
}

/* Corrections: changed versions, voids, voids undone, resends, voids of unknown ids. */
static void
gen_corrections(void)
{
    size_t n = nsubs;

    for (size_t i = 0; i < n; i++) {
        sub_t s = subs[i];
        int w = below(100);

        if (w < 6) {
            psy_record_t r = s.rec;

            r.time += (below(5) - 2) * HOUR;
            if (r.type == PSY_REC_DISCHARGE)
                r.outcome = (psy_outcome_t)(1 + below(4));
            else if (r.type == PSY_REC_ADMISSION)
                r.mode = r.mode == PSY_MODE_ACUTE ? PSY_MODE_PLANNED : PSY_MODE_ACUTE;
            else if (r.type == PSY_REC_COERCION)
                r.coercion = (psy_coercion_t)(1 + below(3));
            sub_add(s.center, &r);
        } else if (w < 10) {
            psy_record_t v;

            psy_record_init(&v);
            v.type = s.rec.type;
            snprintf(v.id, sizeof(v.id), "%s", s.rec.id);
            v.time = s.rec.time;
            v.is_void = true;
            sub_add(s.center, &v);
            if (chance(35))
                sub_add(s.center, &s.rec); /* brought back */
        } else if (w < 12) {
            sub_add(s.center, &s.rec); /* the same content again */
        } else if (w < 13) {
            psy_record_t r = s.rec;

            r.type = PSY_REC_CONSULTATION; /* corrected into another type */
            r.role = PSY_ROLE_SOCIAL_NURSE;
            r.consult = PSY_CONSULT_ACTION_PLAN;
            r.contact[0] = '\0';
            r.coercion = PSY_COERCION_NONE;
            r.end = PSY_TIME_NONE;
            sub_add(s.center, &r);
        }
    }
    for (int i = 0; i < 3; i++) {
        psy_record_t v;

        psy_record_init(&v);
        v.type = PSY_REC_ADMISSION;
        snprintf(v.id, sizeof(v.id), "never-%d", i);
        v.time = T("2023-05-05T05:05:05Z");
        v.is_void = true;
        sub_add(i, &v);
    }
}

/*
 * Sends the submissions in batches, center by center in turns, each batch
 * stored at its own instant. ret_stored[i] is the instant submission i was
 * stored at.
 */
static void
send_all(store_t *st, psy_time_t *ret_stored)
{
    size_t next[3] = {0, 0, 0};
    uint64_t seq[3] = {1, 1, 1};
    psy_time_t now = T("2025-07-01T00:00:00Z");
    psy_record_t *buf = malloc(PSY_BATCH_MAX * sizeof(*buf));
    size_t *idx = malloc(PSY_BATCH_MAX * sizeof(*idx));
    bool more = true;

    assert_non_null(buf);
    assert_non_null(idx);
    while (more) {
        more = false;
        for (int c = 0; c < 3; c++) {
            size_t want = 1 + (size_t)below(60), nb = 0;

            while (next[c] < nsubs && nb < want) {
                if (subs[next[c]].center == c) {
                    idx[nb] = next[c];
                    buf[nb++] = subs[next[c]].rec;
                }
                next[c]++;
            }
            if (!nb)
                continue;
            more = true;
            psy_batch_t b = {{0}, seq[c], nb, buf};
            uint64_t acked = 0;

            memset(b.epoch, 0x10 + c, sizeof(b.epoch));
            now += 7 * SEC;
            assert_int_equal(store_apply_batch(st, conf.centers[c].id, &b, now, &acked), 0);
            assert_int_equal(acked, seq[c] + nb - 1);
            seq[c] += nb;
            for (size_t i = 0; i < nb; i++)
                ret_stored[idx[i]] = now;
        }
    }
    free(buf);
    free(idx);
}

/* The reference's own replay of corrections: the latest version by (center, id), voids gone. */
static ref_record_t *
replay(const psy_time_t *stored, psy_time_t known_at, size_t *ret_n)
{
    ref_record_t *cur = calloc(nsubs + 1, sizeof(*cur));
    bool *gone = calloc(nsubs + 1, sizeof(*gone));
    size_t n = 0, k = 0;

    assert_non_null(cur);
    assert_non_null(gone);
    for (size_t i = 0; i < nsubs; i++) {
        size_t j;

        if (known_at != PSY_TIME_NONE && stored[i] > known_at)
            continue;
        for (j = 0; j < n; j++)
            if (cur[j].center == subs[i].center && strcmp(cur[j].rec.id, subs[i].rec.id) == 0)
                break;
        if (j == n)
            n++;
        cur[j].center = subs[i].center;
        cur[j].rec = subs[i].rec;
        gone[j] = subs[i].rec.is_void;
    }
    for (size_t j = 0; j < n; j++)
        if (!gone[j])
            cur[k++] = cur[j];
    free(gone);
    *ret_n = k;
    return cur;
}

/* ---- comparison ---- */

static bool
num_same(const kpi_num_t *a, const ref_num_t *b)
{
    if (a->set != b->set)
        return false;
    if (!a->set)
        return true;
    if (a->integer != b->integer)
        return false;
    double scale = fmax(1.0, fmax(fabs(a->v), fabs(b->v)));
    return fabs(a->v - b->v) <= 1e-9 * scale;
}

static void
num_str(bool set, bool integer, double v, char *buf, size_t size)
{
    if (!set)
        snprintf(buf, size, "-");
    else if (integer)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.6f", v);
}

static ref_kind_t
ref_kind(kpi_period_kind_t k)
{
    switch (k) {
    case KPI_QUARTER:
        return REF_QUARTER;
    case KPI_YEAR:
        return REF_YEAR;
    case KPI_R12:
        return REF_R12;
    case KPI_MONTH:
    default:
        return REF_MONTH;
    }
}

static size_t rows_compared, model_rows_compared;

/* A growing, 8-byte aligned buffer for kpi_model_write. */
typedef struct {
    uint64_t *w;
    size_t len, cap; /* bytes */
} buf_t;

static int
buf_write(void *ctx, const void *p, size_t n)
{
    buf_t *b = ctx;

    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;

        while (cap < b->len + n)
            cap *= 2;
        uint64_t *w = realloc(b->w, cap);
        if (!w)
            return -ENOMEM;
        b->w = w;
        b->cap = cap;
    }
    memcpy((char *)b->w + b->len, p, n);
    b->len += n;
    return 0;
}

static bool
same_num(const kpi_num_t *a, const kpi_num_t *b)
{
    return a->set == b->set && (!a->set || (a->integer == b->integer && a->v == b->v));
}

/* Every period of `kind` in 2020..2025, every level, every KPI: production against reference. */
static size_t
compare_kind(const kpi_records_t *recs, const kpi_model_t *model, const ref_model_t *ref,
             psy_time_t as_of, kpi_period_kind_t kind)
{
    kpi_period_t *per = NULL;
    size_t nper = 0, nk = kpi_count(), nref = ref_kpi_count(), bad = 0;
    int levels[4] = {0, 1, 2, KPI_LEVEL_REGION};
    int *kpis = malloc(nk * sizeof(int));
    int *map = malloc(nk * sizeof(int));
    ref_row_t *want = malloc(nref * sizeof(*want));
    kpi_row_t *rows = NULL;
    size_t nrows = 0;

    assert_non_null(kpis);
    assert_non_null(map);
    assert_non_null(want);
    for (size_t k = 0; k < nk; k++) {
        kpis[k] = (int)k;
        map[k] = -1;
        for (size_t j = 0; j < nref; j++)
            if (strcmp(kpi_name(k), ref_kpi_name(j)) == 0)
                map[k] = (int)j;
        if (map[k] < 0)
            fail_msg("KPI %s is not in the reference", kpi_name(k));
    }
    assert_int_equal(kpi_period_list(kind, kind == KPI_R12 ? 2020 : 2020, kind == KPI_R12 ? 12 : 1,
                                     2025, 12, &per, &nper),
                     0);
    kpi_query_t q = {&conf, as_of, nper, per, 4, levels, nk, kpis};
    assert_int_equal(kpi_compute(recs, &q, &rows, &nrows), 0);
    assert_int_equal(nrows, nper * 4 * nk);
    /* The cached model (everything stored, read back from bytes) must give the very same rows. */
    if (model && kpi_model_covers(model, as_of)) {
        kpi_row_t *mrows = NULL;
        size_t nm = 0;

        assert_int_equal(kpi_model_compute(model, &q, &mrows, &nm), 0);
        assert_int_equal(nm, nrows);
        for (size_t i = 0; i < nrows; i++) {
            if (!same_num(&rows[i].value, &mrows[i].value) ||
                !same_num(&rows[i].numerator, &mrows[i].numerator) ||
                !same_num(&rows[i].denominator, &mrows[i].denominator) ||
                rows[i].provisional != mrows[i].provisional)
                fail_msg("row %zu (%s): the cached model differs from kpi_compute", i,
                         kpi_name((size_t)rows[i].kpi));
            model_rows_compared++;
        }
        free(mrows);
    } else if (model) {
        kpi_row_t *mrows = NULL;
        size_t nm = 0;

        assert_int_equal(kpi_model_compute(model, &q, &mrows, &nm), -EINVAL);
    }

    for (size_t p = 0; p < nper; p++) {
        psy_time_t ps, pe, rs, re;

        kpi_period_bounds(&per[p], &ps, &pe);
        ref_period_bounds(ref_kind(kind), per[p].year, per[p].month, &rs, &re);
        if (ps != rs || pe != re)
            fail_msg("period %d-%d kind %d: bounds differ", per[p].year, per[p].month, kind);
        for (size_t l = 0; l < 4; l++) {
            ref_compute(ref, ref_kind(kind), per[p].year, per[p].month, levels[l], want);
            for (size_t k = 0; k < nk; k++) {
                const kpi_row_t *got = &rows[(p * 4 + l) * nk + k];
                const ref_row_t *w = &want[map[k]];

                rows_compared++;
                if (num_same(&got->value, &w->value) && num_same(&got->numerator, &w->n) &&
                    num_same(&got->denominator, &w->d) && got->provisional == w->provisional)
                    continue;
                if (bad++ < 25) {
                    char pn[16], g[3][40], x[3][40];

                    kpi_period_name(&per[p], pn, sizeof(pn));
                    num_str(got->value.set, got->value.integer, got->value.v, g[0], 40);
                    num_str(got->numerator.set, got->numerator.integer, got->numerator.v, g[1], 40);
                    num_str(got->denominator.set, got->denominator.integer, got->denominator.v,
                            g[2], 40);
                    num_str(w->value.set, w->value.integer, w->value.v, x[0], 40);
                    num_str(w->n.set, w->n.integer, w->n.v, x[1], 40);
                    num_str(w->d.set, w->d.integer, w->d.v, x[2], 40);
                    print_error("%s level %d %s: engine %s n=%s d=%s prov=%d; reference %s n=%s "
                                "d=%s prov=%d\n",
                                pn, levels[l], kpi_name(k), g[0], g[1], g[2], got->provisional,
                                x[0], x[1], x[2], w->provisional);
                }
            }
        }
    }
    free(rows);
    free(per);
    free(kpis);
    free(map);
    free(want);
    return bad;
}

static void
crosscheck(uint64_t seed, int npatients, psy_time_t as_of, bool region_pop, bool known_at_too)
{
    char dir[] = "/tmp/psy-crosscheck-XXXXXX";
    store_t *st;
    psy_time_t *stored;
    kpi_records_t recs = {0};
    size_t bad = 0;

    rng_state = seed;
    idn = 0;
    nsubs = 0;
    conf_init(region_pop);
    for (int p = 0; p < npatients; p++)
        gen_patient(p, as_of);
    for (int i = 0; i < 6; i++)
        gen_open_at_as_of(npatients + i, as_of, (i % 3 - 1) * SEC,
                          i < 3 ? PSY_MODE_ACUTE : PSY_MODE_PLANNED);
    gen_corrections();

    assert_non_null(mkdtemp(dir));
    st = store_new(dir, false);
    assert_non_null(st);
    stored = calloc(nsubs, sizeof(*stored));
    assert_non_null(stored);
    send_all(st, stored);

    /* Everything stored, then what was known halfway through. */
    psy_time_t cuts[2] = {PSY_TIME_NONE, stored[nsubs / 2]};
    for (int c = 0; c < (known_at_too ? 2 : 1); c++) {
        size_t nref = 0;
        ref_record_t *cur = replay(stored, cuts[c], &nref);
        ref_model_t *ref;

        assert_int_equal(store_load(st, &conf, cuts[c], &recs), 0);
        assert_int_equal(recs.count, nref);
        ref = ref_model_new(&conf, cur, nref, as_of);
        assert_non_null(ref);

        kpi_model_t *built = kpi_model_new(&recs, &conf, INT64_MAX), *model;
        buf_t buf = {0};
        assert_non_null(built);
        assert_int_equal(kpi_model_write(built, buf_write, &buf), 0);
        kpi_model_destroy(&built);
        model = kpi_model_from_buffer(buf.w, buf.len);
        assert_non_null(model);
        for (int k = KPI_MONTH; k <= KPI_R12; k++)
            bad += compare_kind(&recs, model, ref, as_of, (kpi_period_kind_t)k);
        kpi_model_destroy(&model);
        free(buf.w);
        ref_model_free(&ref);
        kpi_records_free(&recs);
        free(cur);
    }
    store_destroy(&st);
    free(stored);
    {
        char path[512];
        static const char *const files[] = {"", "-wal", "-shm"};

        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/psymon.db%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    if (bad)
        fail_msg("seed %llu: %zu rows differ", (unsigned long long)seed, bad);
}

static void
test_seed_1(void **state)
{
    (void)state;
    crosscheck(1, 250, T("2025-03-10T23:30:00Z"), false, true);
}

static void
test_seed_2(void **state)
{
    (void)state;
    crosscheck(2, 250, T("2025-06-30T12:00:00+02:00"), true, false);
}

static void
test_seed_3(void **state)
{
    (void)state;
    crosscheck(3, 250, T("2024-10-27T02:30:00+01:00"), false, false);
}

static void
test_seed_4(void **state)
{
    (void)state;
    crosscheck(4, 250, T("2035-01-01T00:00:00+01:00"), true, true);
}

static void
test_seed_5(void **state)
{
    (void)state;
    crosscheck(5, 250, T("2024-03-31T03:00:00+02:00"), false, false);
}

static void
test_seed_6(void **state)
{
    (void)state;
    crosscheck(6, 250, T("2023-12-31T23:59:59+01:00"), true, false);
}

/* The reference and the engine must name the same KPIs, and the test must have compared rows. */
static void
test_names_agree(void **state)
{
    (void)state;
    assert_int_equal(ref_kpi_count(), kpi_count());
    for (size_t i = 0; i < ref_kpi_count(); i++)
        assert_true(kpi_find(ref_kpi_name(i)) >= 0);
    assert_true(rows_compared > 100000);
    assert_true(model_rows_compared > 10000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_1),      cmocka_unit_test(test_seed_2),
        cmocka_unit_test(test_seed_3),      cmocka_unit_test(test_seed_4),
        cmocka_unit_test(test_seed_5),      cmocka_unit_test(test_seed_6),
        cmocka_unit_test(test_names_agree),
    };

    if (psy_tz_set("Europe/Copenhagen") < 0) {
        fprintf(stderr, "zone Europe/Copenhagen missing\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}

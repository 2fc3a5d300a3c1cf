/*
 * bench_alerts: how often the KPI alerts cry wolf, how soon they see a real
 * change, and what one evaluation costs.
 *
 *   bench_alerts false [SEEDS]            false alarms (default 5 seeds)
 *   bench_alerts detect [SEEDS] [MONTHS]  detection (default 40 seeds, 24 months)
 *   bench_alerts cost [RECORDS] [DIR]     evaluation cost (default 2,000,000 records)
 *   bench_alerts series [KPI]             the data: a KPI's yearly values per level
 *
 * `for=DUR` and `keep=DUR` (as 32d) anywhere after the mode tune SpcConcern
 * as an `[alert SpcConcern]` section would.
 *
 * The data are stable Poisson processes at the rates of the demo region
 * (`psymon simulate`, 2023): per center, persons arrive at a steady rate
 * and live chains of stays (log-normal length, median 8 days; 22 % acute
 * readmission within 30 days, 25 % a later return; 11 % self-discharge),
 * intrusive coercion happens during stays at the center's rate per bed day
 * (belt 24 %, physical restraint 43 %, sedative medication 33 %; belt
 * duration log-normal, median 10 h), and child psychiatry's referrals
 * arrive at a steady rate with a log-normal wait (median 36 days). No
 * trend: every SpcConcern firing on such data is a false alarm.
 *
 * Every evaluation runs the production path, as the alert worker does it
 * after a model build: kpi_model_new over the records known at the time,
 * alert_facts_from_kpi, alert_facts_spc_model (spc_query + spc.c),
 * alert_eval with the previous evaluation's alerts; `cost` also stores the
 * result with alert_store_commit. No rule is repeated here.
 *
 * `false`: 8 centers, series from 2021-01 (baseline 2021-2023) through
 * 2030-12. The model is built once a month as the month's data are complete
 * (as_of the first of the next month) and the rules are evaluated on it
 * then and once a day until the next month completes, so that `for` and
 * keep_firing_for act as in the worker (which evaluates at least hourly).
 * Counts new SpcConcern firings (a firing notice that is not a repeat) per
 * level-year, by KPI.
 *
 * `detect`: the same region; from 2025-01 every center's intrusive
 * coercion runs at 1.5 times its rate. A center's SPC series sees only its
 * own records, so each seed is eight independent one-center trials. For
 * each center: the months of risen data until SpcConcern on
 * intrusive_per_1000_bed_days or intrusive_episodes fires, evaluated as in
 * `false` (1 = it fires in the month after January 2025 completes).
 *
 * `cost`: the rates scaled until about RECORDS records over 2019-2030, one
 * model build, then the evaluation after it, timed by phase, repeated.
 *
 * Numbers only; nothing here is a test.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "alert_facts.h"
#include "alert_format.h"
#include "alert_store.h"
#include "kpi.h"

#define NCENTERS 8
#define BUC      7

/* The demo region in 2023 (psymon simulate): admissions, bed days, intrusive episodes a year. */
static const struct {
    const char *id, *name;
    double admissions, bed_days, intrusive;
} demo[NCENTERS] = {
    {"pc-amager", "Psykiatrisk Center Amager", 1800, 21300, 311},
    {"pc-ballerup", "Psykiatrisk Center Ballerup", 3030, 36300, 546},
    {"pc-bornholm", "Psykiatrisk Center Bornholm", 380, 4050, 78},
    {"pc-glostrup", "Psykiatrisk Center Glostrup", 3020, 35500, 635},
    {"pc-koebenhavn", "Psykiatrisk Center København", 3770, 45000, 640},
    {"pc-nordsjaelland", "Psykiatrisk Center Nordsjælland", 3000, 36000, 560},
    {"pc-sct-hans", "Psykiatrisk Center Sct. Hans", 1650, 30000, 560},
    {"buc", "Børne- og Ungdomspsykiatrisk Center", 1030, 16800, 22},
};
#define REFERRALS_PER_YEAR 4450.0

/* ---- splitmix64 ---- */

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t
rng_u64(rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double
rng_unit(rng_t *r)
{
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double
rng_exp(rng_t *r, double mean)
{
    return -mean * log(1.0 - rng_unit(r));
}

static double
rng_lognormal(rng_t *r, double median, double sigma)
{
    double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r);
    return median * exp(sigma * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

/* Poisson by counting exponential gaps: the means here are small. */
static long
rng_poisson(rng_t *r, double mean)
{
    long n = 0;
    for (double t = rng_exp(r, 1.0); t < mean; t += rng_exp(r, 1.0))
        n++;
    return n;
}

/* ---- the region ---- */

typedef struct {
    uint64_t seed;
    double scale;         /* every arrival rate times this */
    psy_time_t from, to;  /* records in [from, to) */
    psy_time_t worse_at;  /* intrusive coercion rises from then (PSY_TIME_NONE: never) */
    double worse;         /* by this factor */
    unsigned long serial; /* record ids */
    uint32_t patients;
} gen_t;

static int
push(kpi_records_t *v, int center, psy_record_t *r)
{
    return kpi_records_push(v, (uint16_t)center, r);
}

static void
set_patient(psy_record_t *r, uint32_t p)
{
    r->has_patient = true;
    memset(r->patient, 0, sizeof r->patient);
    memcpy(r->patient, &p, sizeof p);
    r->patient[31] = 0x5a;
}

/* Intrusive episodes of one stay of `center` over [a, b) at `per_day`, lifted after worse_at. */
static int
coercion(gen_t *g, rng_t *r, kpi_records_t *v, int center, const psy_record_t *adm, psy_time_t a,
         psy_time_t b, double per_day)
{
    psy_time_t cut = g->worse_at != PSY_TIME_NONE && g->worse_at > a ? g->worse_at : a;
    struct {
        psy_time_t lo, hi;
        double rate;
    } part[2] = {{a, cut < b ? cut : b, per_day}, {cut, b, per_day * g->worse}};

    if (g->worse_at == PSY_TIME_NONE) {
        part[0].hi = b;
        part[1].hi = part[1].lo;
    }
    for (int k = 0; k < 2; k++) {
        psy_time_t len = part[k].hi - part[k].lo;
        if (len <= 0)
            continue;
        long n = rng_poisson(r, part[k].rate * (double)len / (double)PSY_DAY);
        for (long i = 0; i < n; i++) {
            psy_record_t co = *adm;
            double u = rng_unit(r);
            co.type = PSY_REC_COERCION;
            snprintf(co.id, sizeof co.id, "C%lu", ++g->serial);
            co.time = part[k].lo + (psy_time_t)(rng_unit(r) * (double)len) / PSY_USEC * PSY_USEC;
            co.mode = PSY_MODE_NONE;
            co.legal = PSY_LEGAL_NONE;
            co.coercion = u < 0.24   ? PSY_COERCION_BELT
                          : u < 0.67 ? PSY_COERCION_PHYSICAL_RESTRAINT
                                     : PSY_COERCION_SEDATIVE_MEDICATION;
            co.end = PSY_TIME_NONE;
            if (co.coercion == PSY_COERCION_BELT) {
                co.end = co.time + (psy_time_t)(rng_lognormal(r, 10, 0.85) * 3600.0) * PSY_USEC;
                if (co.end > b - 15 * 60 * PSY_USEC)
                    co.end = b - 15 * 60 * PSY_USEC;
                if (co.end <= co.time)
                    co.end = co.time + 15 * 60 * PSY_USEC;
            } else if (co.coercion == PSY_COERCION_PHYSICAL_RESTRAINT) {
                co.end = co.time + 20 * 60 * PSY_USEC;
            }
            if (push(v, center, &co) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

/* One person's chain of stays at `center`, starting at t. */
static int
person(gen_t *g, rng_t *r, kpi_records_t *v, int center, psy_time_t t)
{
    double per_day = demo[center].intrusive / demo[center].bed_days;
    uint32_t p = ++g->patients;
    bool acute = rng_unit(r) < 0.67;

    while (t < g->to) {
        psy_record_t adm, dis;
        psy_time_t end = t + (psy_time_t)(rng_lognormal(r, 8.0, 0.9) * (double)PSY_DAY);
        int r2;

        psy_record_init(&adm);
        adm.type = PSY_REC_ADMISSION;
        snprintf(adm.id, sizeof adm.id, "A%lu", ++g->serial);
        snprintf(adm.contact, sizeof adm.contact, "%s", adm.id);
        adm.time = t / PSY_USEC * PSY_USEC;
        set_patient(&adm, p);
        adm.mode = acute ? PSY_MODE_ACUTE : PSY_MODE_PLANNED;
        adm.legal = rng_unit(r) < 0.9 ? PSY_LEGAL_VOLUNTARY : PSY_LEGAL_INVOLUNTARY_RED;
        adm.age = center == BUC ? 14 : 40;
        if (adm.time >= g->from && push(v, center, &adm) < 0)
            return -ENOMEM;
        if ((r2 = coercion(g, r, v, center, &adm, adm.time > g->from ? adm.time : g->from,
                           end < g->to ? end : g->to, per_day)) < 0)
            return r2;
        if (end >= g->to)
            break;
        dis = adm;
        dis.type = PSY_REC_DISCHARGE;
        snprintf(dis.id, sizeof dis.id, "D%lu", ++g->serial);
        dis.time = end / PSY_USEC * PSY_USEC;
        dis.mode = PSY_MODE_NONE;
        dis.legal = PSY_LEGAL_NONE;
        dis.age = -1;
        dis.outcome = rng_unit(r) < 0.11 ? PSY_OUTCOME_SELF_DISCHARGE : PSY_OUTCOME_REGULAR;
        if (dis.time >= g->from && push(v, center, &dis) < 0)
            return -ENOMEM;
        double u = rng_unit(r);
        if (u < 0.22) { /* acute readmission within 30 days */
            t = end + (psy_time_t)((1.0 + rng_unit(r) * 29.0) * (double)PSY_DAY);
            acute = true;
        } else if (u < 0.47) { /* a later return */
            t = end + (psy_time_t)((31.0 + rng_exp(r, 120.0)) * (double)PSY_DAY);
            acute = rng_unit(r) < 0.67;
        } else {
            break;
        }
    }
    return 0;
}

/* Child psychiatry's referrals at BUC, with their treatment starts. */
static int
referrals(gen_t *g, rng_t *r, kpi_records_t *v, psy_time_t warm)
{
    double gap = (double)PSY_DAY * 365.25 / (REFERRALS_PER_YEAR * g->scale);

    for (psy_time_t t = warm + (psy_time_t)rng_exp(r, gap); t < g->to;
         t += (psy_time_t)rng_exp(r, gap)) {
        psy_record_t ref, ts;
        bool starts = rng_unit(r) >= 0.02;
        psy_time_t start = t + (psy_time_t)(rng_lognormal(r, 36.0, 0.6) * (double)PSY_DAY);

        psy_record_init(&ref);
        ref.type = PSY_REC_REFERRAL;
        snprintf(ref.id, sizeof ref.id, "R%lu", ++g->serial);
        ref.time = t / PSY_USEC * PSY_USEC;
        set_patient(&ref, ++g->patients);
        ref.age = 12;
        if (ref.time >= g->from && push(v, BUC, &ref) < 0)
            return -ENOMEM;
        if (!starts || start >= g->to || start < g->from)
            continue;
        ts = ref;
        ts.type = PSY_REC_TREATMENT_START;
        snprintf(ts.id, sizeof ts.id, "T%lu", ++g->serial);
        snprintf(ts.referral, sizeof ts.referral, "%s", ref.id);
        ts.time = start / PSY_USEC * PSY_USEC;
        ts.age = -1;
        if (push(v, BUC, &ts) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
by_time(const void *a, const void *b)
{
    const kpi_record_t *x = a, *y = b;
    return x->rec.time < y->rec.time ? -1 : x->rec.time > y->rec.time;
}

/*
 * The region's records in [g->from, g->to), sorted by time, so that the
 * records known at an instant are a prefix. Callers start two years before
 * the series (2021-01, the first baseline month), so that its first months
 * already see returning patients, stays going on and referrals waiting:
 * without them early 2021 would differ from the rest, and a frozen
 * baseline would carry that difference into every later month.
 */
static int
generate(gen_t *g, kpi_records_t *v)
{
    psy_time_t warm = g->from;
    int r = 0;

    for (int c = 0; c < NCENTERS && r == 0; c++) {
        rng_t rng = {g->seed * 1000003u + (uint64_t)c};
        /* A person has 1 / (1 - 0.47) stays on average. */
        double gap = (double)PSY_DAY * 365.25 / (demo[c].admissions * (1 - 0.47) * g->scale);
        for (psy_time_t t = warm + (psy_time_t)rng_exp(&rng, gap); t < g->to && r == 0;
             t += (psy_time_t)rng_exp(&rng, gap))
            r = person(g, &rng, v, c, t);
    }
    if (r == 0) {
        rng_t rng = {g->seed * 1000003u + 99};
        r = referrals(g, &rng, v, warm);
    }
    if (r == 0)
        qsort(v->items, v->count, sizeof *v->items, by_time);
    return r;
}

/* SpcConcern's `for` and keep_firing_for as `[alert SpcConcern]` would set them; -1: alerts.md's.
 */
static int64_t spc_for_us = -1, spc_keep_us = -1;

static void
conf_init(psy_agg_conf_t *c)
{
    memset(c, 0, sizeof *c);
    c->ncenters = NCENTERS;
    for (int i = 0; i < NCENTERS; i++) {
        snprintf(c->centers[i].id, sizeof c->centers[i].id, "%s", demo[i].id);
        snprintf(c->centers[i].name, sizeof c->centers[i].name, "%s", demo[i].name);
        c->centers[i].population.count = 1;
        c->centers[i].population.years[0] = (psy_population_t){2021, 230000};
    }
    snprintf(c->region_name, sizeof c->region_name, "Region Hovedstaden");
    c->target_pct = 30;
    c->nbaseline = 3;
    c->baseline_years[0] = 2021;
    c->baseline_years[1] = 2022;
    c->baseline_years[2] = 2023;
    c->first_year = 2024;
    c->first_month = 1;
    c->last_year = 2030;
    c->last_month = 12;
    snprintf(c->external_url, sizeof c->external_url, "http://127.0.0.1:8470/");
    c->notify.repeat_interval_us = PSY_DAY;
    c->notify.send_resolved = true;
    if (spc_for_us >= 0 || spc_keep_us >= 0) {
        psy_alert_conf_t *a = &c->alerts[c->nalerts++];
        snprintf(a->name, sizeof a->name, "SpcConcern");
        a->enabled = -1;
        a->for_us = spc_for_us;
        a->keep_firing_for_us = spc_keep_us;
    }
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The records known at as_of: the prefix of the sorted records dated up to it. */
static kpi_records_t
known_at(const kpi_records_t *v, psy_time_t as_of)
{
    size_t lo = 0, hi = v->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->items[mid].rec.time <= as_of)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (kpi_records_t){.count = lo, .cap = lo, .items = v->items};
}

/*
 * One evaluation at as_of as the alert worker runs it after a model build:
 * the facts of every level, then alert_eval against *prev, which is
 * replaced by the new alerts. *ret (zeroed) receives the set; the caller
 * reads its notices and frees it.
 */
/* The facts of the last evaluate(): plain data, kept for reevaluate(). */
static alert_level_t facts[PSY_CENTERS_MAX + 1];
static size_t nfacts;

/* alert_eval at `now` on the facts of the last evaluate(), as the worker's hourly pass does. */
static int
reevaluate(const psy_agg_conf_t *conf, psy_time_t now, alert_t **prev, size_t *nprev,
           alert_set_t *ret)
{
    alert_input_t in = {
        .conf = conf, .now = now, .kpi_known = true, .nlevels = nfacts, .levels = facts};
    int r = alert_eval(&in, *prev, *nprev, ret);
    if (r < 0)
        return r;
    /* The next evaluation starts from these; the set keeps its notices. */
    alert_t *items = malloc((ret->n ? ret->n : 1) * sizeof *items);
    if (!items)
        return -ENOMEM;
    if (ret->n)
        memcpy(items, ret->items, ret->n * sizeof *items);
    free(*prev);
    *prev = items;
    *nprev = ret->n;
    return 0;
}

static int
evaluate(const kpi_records_t *all, const psy_agg_conf_t *conf, psy_time_t as_of, alert_t **prev,
         size_t *nprev, alert_set_t *ret)
{
    kpi_records_t v = known_at(all, as_of);
    kpi_model_t *m = kpi_model_new(&v, conf, as_of);
    int r;

    if (!m)
        return -errno;
    nfacts = 0;
    r = alert_facts_from_kpi(m, conf, as_of, facts, &nfacts);
    if (r == 0)
        r = alert_facts_spc_model(m, conf, as_of, facts, nfacts);
    kpi_model_destroy(&m);
    return r < 0 ? r : reevaluate(conf, as_of, prev, nprev, ret);
}

static const char *const spc_kpis[] = {
    "intrusive_per_1000_bed_days", "intrusive_episodes",   "belt_over_48h",
    "readmission_rate_30d",        "self_discharge_share", "wait_within_60d_share"};
#define NKPIS 6

static int
kpi_slot(const char *kpi)
{
    for (int i = 0; i < NKPIS; i++)
        if (strcmp(spc_kpis[i], kpi) == 0)
            return i;
    return -1;
}

static int
level_slot(const psy_agg_conf_t *conf, const char *level)
{
    for (size_t i = 0; i < conf->ncenters; i++)
        if (strcmp(conf->centers[i].id, level) == 0)
            return (int)i;
    return NCENTERS; /* region */
}

/* ---- false alarms ---- */

static int
bench_false(int seeds)
{
    static psy_agg_conf_t conf;
    /* [level][kpi]: new firings; [level][kpi] split by year of the series (1: 2021, trial limits)
     */
    long fired[NCENTERS + 1][NKPIS] = {{0}}, first_year[NCENTERS + 1] = {0};
    long days_firing[NCENTERS + 1][NKPIS] = {{0}};
    double t0 = now_ms();
    int years = 10;

    conf_init(&conf);
    for (int s = 1; s <= seeds; s++) {
        gen_t g = {.seed = (uint64_t)s,
                   .scale = 1,
                   .from = psy_civil_start(2019, 1, 1),
                   .to = psy_civil_start(2031, 2, 1),
                   .worse_at = PSY_TIME_NONE,
                   .worse = 1};
        kpi_records_t v = {0};
        alert_t *prev = NULL;
        size_t nprev = 0;
        double s0 = now_ms();
        int r = generate(&g, &v);

        for (int mo = 1; r == 0 && mo <= years * 12; mo++) {
            /* as_of: the first of the month after month `mo` of the series; then once a
             * day on the same facts until the next month is complete */
            psy_time_t as_of = psy_civil_start(2021, mo + 1, 1),
                       next = psy_civil_start(2021, mo + 2, 1);
            for (psy_time_t t = as_of; r == 0 && t < next; t += PSY_DAY) {
                alert_set_t set = {0};
                r = t == as_of ? evaluate(&v, &conf, t, &prev, &nprev, &set)
                               : reevaluate(&conf, t, &prev, &nprev, &set);
                for (size_t i = 0; r == 0 && i < set.nnotices; i++) {
                    const alert_t *a = &set.items[set.notices[i].index];
                    int k = kpi_slot(a->labels.kpi), l = level_slot(&conf, a->labels.center);
                    if (set.notices[i].kind != ALERT_NOTICE_FIRING || set.notices[i].repeat ||
                        strcmp(a->labels.alertname, "SpcConcern") != 0 || k < 0)
                        continue;
                    fired[l][k]++;
                    if (mo <= 12)
                        first_year[l]++;
                }
                for (size_t i = 0; r == 0 && i < set.n; i++) {
                    const alert_t *a = &set.items[i];
                    int k = kpi_slot(a->labels.kpi), l = level_slot(&conf, a->labels.center);
                    if (a->state == ALERT_FIRING &&
                        strcmp(a->labels.alertname, "SpcConcern") == 0 && k >= 0)
                        days_firing[l][k]++;
                }
                alert_set_free(&set);
            }
        }
        fprintf(stderr, "seed %d: %zu records, %.1f s\n", s, v.count, (now_ms() - s0) / 1e3);
        free(prev);
        kpi_records_free(&v);
        if (r < 0) {
            fprintf(stderr, "bench_alerts: %s\n", strerror(-r));
            return 1;
        }
    }

    printf("false alarms: stable Poisson processes, 8 centers + region, 2021-01..2030-12, "
           "%d seeds, a model a month, evaluated daily (%.0f s)\n",
           seeds, (now_ms() - t0) / 1e3);
    printf("new SpcConcern firings per level-year (days firing per level-year in brackets)\n");
    printf("%-18s", "level");
    for (int k = 0; k < NKPIS; k++)
        printf(" %14.14s", spc_kpis[k]);
    printf(" %9s %10s\n", "all", "excl.2021");
    long tot_c = 0, tot_c_first = 0, tot_r = 0, tot_r_first = 0;
    long kpi_c[NKPIS] = {0};
    for (int l = 0; l <= NCENTERS; l++) {
        long sum = 0;
        printf("%-18s", l < NCENTERS ? demo[l].id : "region");
        for (int k = 0; k < NKPIS; k++) {
            printf("  %5.3f [%5.1f]", (double)fired[l][k] / (seeds * years),
                   (double)days_firing[l][k] / (seeds * years));
            sum += fired[l][k];
            if (l < NCENTERS)
                kpi_c[k] += fired[l][k];
        }
        printf(" %9.3f %10.3f\n", (double)sum / (seeds * years),
               (double)(sum - first_year[l]) / (seeds * (years - 1)));
        if (l < NCENTERS) {
            tot_c += sum;
            tot_c_first += first_year[l];
        } else {
            tot_r += sum;
            tot_r_first += first_year[l];
        }
    }
    printf("%-18s", "centers, per KPI");
    for (int k = 0; k < NKPIS; k++)
        printf("  %5.3f        ", (double)kpi_c[k] / (seeds * years * NCENTERS));
    printf("\n");
    printf("centers: %.3f SpcConcern firings per level-year (%.3f without 2021's trial limits); "
           "region: %.3f (%.3f); all 9 levels: %.3f\n",
           (double)tot_c / (seeds * years * NCENTERS),
           (double)(tot_c - tot_c_first) / (seeds * (years - 1) * NCENTERS),
           (double)tot_r / (seeds * years), (double)(tot_r - tot_r_first) / (seeds * (years - 1)),
           (double)(tot_c + tot_r) / (seeds * years * (NCENTERS + 1)));
    return 0;
}

/* ---- detection ---- */

static int
cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static double
median_of(int *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_int);
    return n == 0 ? NAN : n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2.0;
}

static int
bench_detect(int seeds, int cap)
{
    static psy_agg_conf_t conf;
    int *months = calloc((size_t)seeds * NCENTERS, sizeof *months); /* cap + 1: not within cap */
    int *by_center = calloc((size_t)seeds, sizeof *by_center);
    double t0 = now_ms();

    if (!months || !by_center)
        return 1;
    conf_init(&conf);
    for (int s = 1; s <= seeds; s++) {
        gen_t g = {.seed = (uint64_t)(1000 + s),
                   .scale = 1,
                   .from = psy_civil_start(2019, 1, 1),
                   .to = psy_civil_start(2025, cap + 2, 1),
                   .worse_at = psy_civil_start(2025, 1, 1),
                   .worse = 1.5};
        kpi_records_t v = {0};
        alert_t *prev = NULL;
        size_t nprev = 0;
        int left = NCENTERS, r = generate(&g, &v);
        bool done[NCENTERS] = {false};

        for (int c = 0; c < NCENTERS; c++)
            months[(s - 1) * NCENTERS + c] = cap + 1;
        /* From as_of 2025-01-01 (last complete month 2024-12, before the rise) on. */
        for (int k = 0; r == 0 && k <= cap && left > 0; k++) {
            /* As in `false`: the model as month k completes, then daily on its facts. */
            psy_time_t as_of = psy_civil_start(2025, 1 + k, 1),
                       next = psy_civil_start(2025, 2 + k, 1);
            for (psy_time_t t = as_of; r == 0 && t < next; t += PSY_DAY) {
                alert_set_t set = {0};
                r = t == as_of ? evaluate(&v, &conf, t, &prev, &nprev, &set)
                               : reevaluate(&conf, t, &prev, &nprev, &set);
                for (size_t i = 0; r == 0 && i < set.n; i++) {
                    const alert_t *a = &set.items[i];
                    int c = level_slot(&conf, a->labels.center);
                    if (k == 0 || c == NCENTERS || done[c] || a->state != ALERT_FIRING ||
                        strcmp(a->labels.alertname, "SpcConcern") != 0 ||
                        (strcmp(a->labels.kpi, "intrusive_per_1000_bed_days") != 0 &&
                         strcmp(a->labels.kpi, "intrusive_episodes") != 0))
                        continue;
                    done[c] = true;
                    left--;
                    months[(s - 1) * NCENTERS + c] = k; /* k months of risen data are complete */
                }
                alert_set_free(&set);
            }
        }
        free(prev);
        kpi_records_free(&v);
        if (r < 0) {
            fprintf(stderr, "bench_alerts: %s\n", strerror(-r));
            return 1;
        }
        if (s % 10 == 0)
            fprintf(stderr, "%d seeds, %.0f s\n", s, (now_ms() - t0) / 1e3);
    }
    printf("detection: intrusive coercion x1.5 from 2025-01, %d seeds, SpcConcern on "
           "intrusive_per_1000_bed_days or intrusive_episodes (%.0f s)\n",
           seeds, (now_ms() - t0) / 1e3);
    printf("%-18s %11s %8s %8s %8s   not within %d months\n", "center", "episodes/mo", "median",
           "p25", "p75", cap);
    for (int c = 0; c < NCENTERS; c++) {
        int missed = 0;
        for (int s = 0; s < seeds; s++) {
            by_center[s] = months[s * NCENTERS + c];
            missed += by_center[s] > cap;
        }
        qsort(by_center, (size_t)seeds, sizeof *by_center, cmp_int);
        printf("%-18s %11.1f %8.1f %8d %8d %7d / %d\n", demo[c].id, demo[c].intrusive / 12,
               median_of(by_center, seeds), by_center[seeds / 4], by_center[seeds * 3 / 4], missed,
               seeds);
    }
    double all = median_of(months, seeds * NCENTERS);
    printf("all centers: median %.1f months of risen data until SpcConcern fires (missed within "
           "%d months count as more)\n",
           all, cap);
    free(months);
    free(by_center);
    return 0;
}

/* ---- cost ---- */

static int
bench_cost(size_t want, const char *dir_arg)
{
    static psy_agg_conf_t conf;
    static alert_level_t levels[PSY_CENTERS_MAX + 1];
    char dir[256];
    gen_t g = {.seed = 7,
               .from = psy_civil_start(2019, 1, 1),
               .to = psy_civil_start(2031, 1, 1),
               .worse_at = PSY_TIME_NONE,
               .worse = 1};
    kpi_records_t v = {0};
    psy_time_t as_of = psy_civil_start(2031, 1, 1);
    alert_t *prev = NULL;
    size_t nprev = 0;
    int r;

    conf_init(&conf);
    conf.notify.nwebhook = 1;
    snprintf(conf.notify.webhook[0], sizeof conf.notify.webhook[0], "http://127.0.0.1:9/hook");
    /* 2019-2030 at scale 1 hold about 570,000 records. */
    g.scale = (double)want / 570000.0;
    double g0 = now_ms();
    if ((r = generate(&g, &v)) < 0)
        goto fail;
    printf("%-48s %9.1f ms  (%zu records, scale %.2f)\n", "generate", now_ms() - g0, v.count,
           g.scale);
    if (dir_arg)
        snprintf(dir, sizeof dir, "%s", dir_arg);
    else {
        snprintf(dir, sizeof dir, "/tmp/bench-alerts.XXXXXX");
        if (!mkdtemp(dir)) {
            r = -errno;
            goto fail;
        }
    }
    alert_store_t *st = alert_store_new(dir);
    if (!st) {
        r = -errno;
        goto fail;
    }
    double m0 = now_ms();
    kpi_model_t *m = kpi_model_new(&v, &conf, INT64_MAX);
    if (!m) {
        r = -errno;
        alert_store_destroy(&st);
        goto fail;
    }
    printf("%-48s %9.1f ms\n", "kpi_model_new (the build before, not counted)", now_ms() - m0);
    kpi_records_free(&v); /* as the model worker does */
    for (int rep = 0; rep < 6 && r == 0; rep++) {
        alert_set_t set = {0};
        alert_silence_t *sil = NULL;
        alert_ack_t *acks = NULL;
        alert_outbox_t *rows = NULL;
        size_t n = 0, nsil = 0, nacks = 0, nrows = 0;
        psy_time_t now = as_of + rep * 10 * PSY_USEC;

        double t0 = now_ms(), c0 = cpu_ms();
        r = alert_facts_from_kpi(m, &conf, as_of, levels, &n);
        double t1 = now_ms();
        if (r == 0)
            r = alert_facts_spc_model(m, &conf, as_of, levels, n);
        double t2 = now_ms();
        if (r == 0 && ((r = alert_store_silences(st, now, &sil, &nsil)) == 0))
            r = alert_store_acks(st, &acks, &nacks);
        alert_input_t in = {.conf = &conf,
                            .now = now,
                            .kpi_known = true,
                            .nlevels = n,
                            .levels = levels,
                            .nsilences = nsil,
                            .silences = sil,
                            .nacks = nacks,
                            .acks = acks};
        if (r == 0)
            r = alert_eval(&in, prev, nprev, &set);
        double t3 = now_ms();
        /* One outbox row per notice for the one webhook, as the worker writes them. */
        if (r == 0 && set.nnotices) {
            rows = calloc(set.nnotices, sizeof *rows);
            r = rows ? 0 : -ENOMEM;
            for (size_t i = 0; r == 0 && i < set.nnotices; i++) {
                const alert_t *a = &set.items[set.notices[i].index];
                alert_outbox_t *o = &rows[nrows++];
                snprintf(o->channel, sizeof o->channel, "webhook");
                snprintf(o->target, sizeof o->target, "%s", conf.notify.webhook[0]);
                memcpy(o->fingerprint, a->fingerprint, sizeof o->fingerprint);
                snprintf(o->status, sizeof o->status, "%s",
                         set.notices[i].kind == ALERT_NOTICE_RESOLVED ? "resolved" : "firing");
                o->payload = alert_webhook_payload(a, set.notices[i].kind, conf.external_url);
                if (!o->payload)
                    r = -ENOMEM;
            }
        }
        if (r == 0)
            r = alert_store_commit(st, set.items, set.n, NULL, 0, rows, nrows, now);
        double t4 = now_ms(), c4 = cpu_ms();
        if (r == 0)
            printf("evaluation %d: facts %6.1f  spc %6.1f  eval %5.1f  store %5.1f  = %6.1f ms "
                   "wall, %6.1f ms cpu  (%zu alerts, %zu notices)\n",
                   rep + 1, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, c4 - c0, set.n,
                   set.nnotices);
        for (size_t i = 0; rep == 0 && i < set.n; i++)
            printf("  %s %s %s %s: %s\n", alert_state_name(set.items[i].state),
                   set.items[i].labels.alertname, set.items[i].labels.center,
                   set.items[i].labels.kpi, set.items[i].ann.summary_en);
        free(prev);
        prev = set.items;
        nprev = set.n;
        set.items = NULL;
        alert_set_free(&set);
        alert_outbox_free(rows, nrows);
        free(sil);
        free(acks);
    }
    kpi_model_destroy(&m);
    alert_store_destroy(&st);
    free(prev);
    kpi_records_free(&v);
    if (r < 0)
        goto fail_msg;
    if (!dir_arg)
        printf("(store in %s)\n", dir);
    return 0;
fail:
    kpi_records_free(&v);
fail_msg:
    fprintf(stderr, "bench_alerts: %s\n", strerror(-r));
    return 1;
}

/* ---- the data, for a look: a KPI's yearly means per level (seed 1) ---- */

static int
bench_series(const char *kpi)
{
    static psy_agg_conf_t conf;
    gen_t g = {.seed = 1,
               .scale = 1,
               .from = psy_civil_start(2019, 1, 1),
               .to = psy_civil_start(2031, 1, 1),
               .worse_at = PSY_TIME_NONE,
               .worse = 1};
    kpi_records_t v = {0};
    kpi_period_t *per = NULL;
    size_t nper = 0, nrows = 0;
    kpi_row_t *rows = NULL;
    int levels[NCENTERS + 1], k = kpi_find(kpi), r;

    conf_init(&conf);
    if (k < 0)
        return 2;
    for (int i = 0; i < NCENTERS; i++)
        levels[i] = i;
    levels[NCENTERS] = KPI_LEVEL_REGION;
    if ((r = generate(&g, &v)) < 0 ||
        (r = kpi_period_list(KPI_YEAR, 2021, 1, 2030, 12, &per, &nper)) < 0)
        goto out;
    kpi_query_t q = {&conf, g.to, nper, per, NCENTERS + 1, levels, 1, &k};
    if ((r = kpi_compute(&v, &q, &rows, &nrows)) < 0)
        goto out;
    printf("%s per year (seed 1)\n%-18s", kpi, "level");
    for (size_t p = 0; p < nper; p++)
        printf(" %8d", per[p].year);
    printf("\n");
    for (int l = 0; l <= NCENTERS; l++) {
        printf("%-18s", l < NCENTERS ? demo[l].id : "region");
        for (size_t p = 0; p < nper; p++) {
            const kpi_row_t *row = &rows[p * (NCENTERS + 1) + (size_t)l];
            printf(" %8.1f", row->value.set ? row->value.v : NAN);
        }
        printf("\n");
    }
out:
    free(rows);
    free(per);
    kpi_records_free(&v);
    return r < 0 ? 1 : 0;
}

/* "for=DUR" and "keep=DUR" anywhere after the mode tune SpcConcern; they are taken out of argv. */
static int
take_tuning(int *argc, char **argv)
{
    int n = 1;

    for (int i = 1; i < *argc; i++) {
        int64_t *dst = strncmp(argv[i], "for=", 4) == 0    ? &spc_for_us
                       : strncmp(argv[i], "keep=", 5) == 0 ? &spc_keep_us
                                                           : NULL;
        if (!dst)
            argv[n++] = argv[i];
        else if (psy_duration_parse(strchr(argv[i], '=') + 1, dst) < 0) {
            fprintf(stderr, "bench_alerts: %s: expected a duration such as 32d\n", argv[i]);
            return -1;
        }
    }
    *argc = n;
    return 0;
}

int
main(int argc, char **argv)
{
    if (take_tuning(&argc, argv) < 0)
        return 2;
    const char *mode = argc > 1 ? argv[1] : "";

    if (psy_tz_set("Europe/Copenhagen") < 0) {
        fprintf(stderr, "bench_alerts: zone Europe/Copenhagen missing\n");
        return 1;
    }
    if (spc_for_us >= 0 || spc_keep_us >= 0)
        printf("SpcConcern tuned: for %lld s, keep_firing_for %lld s (-1: alerts.md's)\n",
               (long long)(spc_for_us < 0 ? -1 : spc_for_us / PSY_USEC),
               (long long)(spc_keep_us < 0 ? -1 : spc_keep_us / PSY_USEC));
    if (strcmp(mode, "false") == 0)
        return bench_false(argc > 2 ? atoi(argv[2]) : 5);
    if (strcmp(mode, "detect") == 0)
        return bench_detect(argc > 2 ? atoi(argv[2]) : 40, argc > 3 ? atoi(argv[3]) : 24);
    if (strcmp(mode, "series") == 0)
        return bench_series(argc > 2 ? argv[2] : "intrusive_episodes");
    if (strcmp(mode, "cost") == 0)
        return bench_cost(argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000,
                          argc > 3 ? argv[3] : NULL);
    fprintf(stderr, "usage: bench_alerts false [SEEDS] | detect [SEEDS] [MONTHS] | "
                    "cost [RECORDS] [DIR] | series [KPI]  [for=DUR] [keep=DUR]\n");
    return 2;
}

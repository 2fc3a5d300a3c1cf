/*
 * The reference computation of kpis.md: see ref_kpi.h. Every rule is coded
 * the most literal way the page allows, so that a reader can check it line
 * by line against the specification.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_kpi.h"

#define USEC   INT64_C(1000000)
#define HOUR   (INT64_C(3600) * USEC)
#define DAY    (INT64_C(86400) * USEC)
#define NOTIME INT64_MIN

/* ---- calendar ---- */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar, counted day by day per year.
 */
static int64_t
days_since_epoch(int y, int m, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t days = 0;

    for (int yy = 1970; yy < y; yy++)
        days += (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
    for (int yy = y; yy < 1970; yy++)
        days -= (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
    for (int mm = 1; mm < m; mm++)
        days += mdays[mm - 1] + (mm == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    return days + d - 1;
}

/*
 * Local midnight starting the first of a month in Europe/Copenhagen. The EU
 * rule (since 1996): summer time from the last Sunday of March to the last
 * Sunday of October, changing at 01:00 UTC, never on a first of the month.
 * So the first of April through October is in summer time (UTC+2), the
 * first of November through March in winter time (UTC+1).
 */
static psy_time_t
month_start(int y, int m)
{
    while (m > 12) {
        m -= 12;
        y++;
    }
    while (m < 1) {
        m += 12;
        y--;
    }
    int offset_h = (m >= 4 && m <= 10) ? 2 : 1;

    return days_since_epoch(y, m, 1) * DAY - offset_h * HOUR;
}

void
ref_period_bounds(ref_kind_t kind, int year, int month, psy_time_t *ret_start, psy_time_t *ret_end)
{
    switch (kind) {
    case REF_MONTH:
        *ret_start = month_start(year, month);
        *ret_end = month_start(year, month + 1);
        break;
    case REF_QUARTER:
        *ret_start = month_start(year, month);
        *ret_end = month_start(year, month + 3);
        break;
    case REF_YEAR:
        *ret_start = month_start(year, 1);
        *ret_end = month_start(year + 1, 1);
        break;
    case REF_R12:
        *ret_start = month_start(year, month - 11);
        *ret_end = month_start(year, month + 1);
        break;
    }
}

/* ---- KPI names, written out from kpis.md ---- */

static const char *const coercion_kinds[] = {"belt",
                                             "physical_restraint",
                                             "sedative_medication",
                                             "straps",
                                             "gloves",
                                             "forced_medication",
                                             "forced_ect",
                                             "forced_feeding",
                                             "forced_somatic_treatment",
                                             "involuntary_detention",
                                             "personal_shielding",
                                             "door_locking",
                                             "compulsory_follow_up",
                                             "other"};
static const char *const roles[] = {"social_nurse", "social_physician", "other"};
static const char *const consult_kinds[] = {"supervision",     "action_plan", "substance_history",
                                            "network_meeting", "follow_home", "other"};

#define NKINDS  14
#define NROLES  3
#define NCKINDS 6
#define NNAMES  (6 + 2 * NKINDS + 11 + 4 + 4 + 1 + NROLES * NCKINDS + 1 + 4 + 2)

static char names[NNAMES][64];
static size_t nnames;

static void
names_init(void)
{
    static const char *const head[] = {"admissions",
                                       "discharges",
                                       "bed_days",
                                       "patients",
                                       "involuntary_admissions",
                                       "involuntary_admission_share"};
    static const char *const mid[] = {
        "intrusive_episodes",          "intrusive_persons",          "coerced_persons",
        "belt_share_of_patients",      "belt_median_hours",          "belt_over_48h",
        "intrusive_per_1000_bed_days", "intrusive_per_100k",         "intrusive_baseline_per_100k",
        "intrusive_reduction",         "intrusive_target_reduction", "intrusive_on_track",
        "intrusive_target_episodes",   "readmission_rate_30d",       "readmission_rate_7d",
        "median_days_to_readmission",  "self_discharge_share",       "consultations"};
    static const char *const tail[] = {
        "consulted_patients", "treatment_starts", "wait_within_60d_share", "wait_median_days",
        "referrals_overdue",  "records",          "records_inconsistent"};

    if (nnames)
        return;
    for (size_t i = 0; i < 6; i++)
        snprintf(names[nnames++], 64, "%s", head[i]);
    for (size_t i = 0; i < NKINDS; i++)
        snprintf(names[nnames++], 64, "coercion_episodes:%s", coercion_kinds[i]);
    for (size_t i = 0; i < NKINDS; i++)
        snprintf(names[nnames++], 64, "coercion_persons:%s", coercion_kinds[i]);
    for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
        snprintf(names[nnames++], 64, "%s", mid[i]);
    for (size_t r = 0; r < NROLES; r++)
        for (size_t k = 0; k < NCKINDS; k++)
            snprintf(names[nnames++], 64, "consultations:%s:%s", roles[r], consult_kinds[k]);
    for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
        snprintf(names[nnames++], 64, "%s", tail[i]);
}

size_t
ref_kpi_count(void)
{
    names_init();
    return nnames;
}

const char *
ref_kpi_name(size_t i)
{
    names_init();
    return i < nnames ? names[i] : NULL;
}

static int
name_index(const char *name)
{
    names_init();
    for (size_t i = 0; i < nnames; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- the model ---- */

typedef struct {
    int adm;  /* record index of the admission forming it */
    int disc; /* record index of its valid discharge, or -1 while open */
    int patient;
    int center;
    psy_time_t start, end; /* end: the discharge, or as_of while open */
    bool open;
} rcontact_t;

typedef struct {
    int patient;
    psy_time_t start, end; /* end: as_of while open */
    bool open;
    bool acute;         /* mode of its first contact */
    int disc_center;    /* center of the contact that ends last */
    psy_outcome_t outc; /* its outcome (meaningless while open) */
    bool qualifying;
    bool in30, in7;  /* followed by an acute qualifying stay within 30 / 7 days */
    psy_time_t next; /* time to the first qualifying stay within 365 days, or NOTIME */
} rstay_t;

struct ref_model {
    const psy_agg_conf_t *conf;
    psy_time_t as_of;
    const ref_record_t *recs;
    size_t n;
    bool *live;         /* exists as of as_of */
    bool *inconsistent; /* left out, counted in records_inconsistent */
    int *patient;       /* patient number per record, -1 without a patient */
    int *matched_start; /* per referral record: the record index of its matched start, or -1 */
    int *matched_ref;   /* per treatment start: the referral it is matched with, or -1 */
    int npatients;
    rcontact_t *contacts;
    size_t ncontacts;
    rstay_t *stays;
    size_t nstays;
};

static const char *
contact_id(const psy_record_t *r)
{
    return r->contact[0] ? r->contact : r->id;
}

/* (time, id) order: the earlier, ties the smaller id. */
static bool
earlier(const psy_record_t *a, const psy_record_t *b)
{
    return a->time < b->time || (a->time == b->time && strcmp(a->id, b->id) < 0);
}

/* Patient numbers by linear search over the records seen so far. */
static void
number_patients(ref_model_t *m)
{
    m->npatients = 0;
    for (size_t i = 0; i < m->n; i++) {
        m->patient[i] = -1;
        if (!m->live[i] || !m->recs[i].rec.has_patient)
            continue;
        for (size_t j = 0; j < i; j++)
            if (m->patient[j] >= 0 &&
                memcmp(m->recs[j].rec.patient, m->recs[i].rec.patient, PSY_PSEUDONYM_LEN) == 0) {
                m->patient[i] = m->patient[j];
                break;
            }
        if (m->patient[i] < 0)
            m->patient[i] = m->npatients++;
    }
}

static void
build_contacts(ref_model_t *m)
{
    const ref_record_t *R = m->recs;

    for (size_t i = 0; i < m->n; i++) {
        if (!m->live[i] || R[i].rec.type != PSY_REC_ADMISSION)
            continue;
        bool forms = true;

        for (size_t j = 0; j < m->n; j++)
            if (j != i && m->live[j] && R[j].rec.type == PSY_REC_ADMISSION &&
                R[j].center == R[i].center &&
                strcmp(contact_id(&R[j].rec), contact_id(&R[i].rec)) == 0 &&
                earlier(&R[j].rec, &R[i].rec))
                forms = false;
        if (!forms) {
            m->inconsistent[i] = true;
            continue;
        }
        rcontact_t *c = &m->contacts[m->ncontacts++];
        c->adm = (int)i;
        c->disc = -1;
        c->patient = m->patient[i];
        c->center = R[i].center;
        c->start = R[i].rec.time;
        for (size_t j = 0; j < m->n; j++)
            if (m->live[j] && R[j].rec.type == PSY_REC_DISCHARGE && R[j].center == c->center &&
                strcmp(R[j].rec.contact, contact_id(&R[i].rec)) == 0 && R[j].rec.time >= c->start &&
                (c->disc < 0 || earlier(&R[j].rec, &R[c->disc].rec)))
                c->disc = (int)j;
        c->open = c->disc < 0;
        c->end = c->open ? m->as_of : R[c->disc].rec.time;
    }
    /* Every discharge that ends no contact is inconsistent. */
    for (size_t j = 0; j < m->n; j++) {
        if (!m->live[j] || R[j].rec.type != PSY_REC_DISCHARGE)
            continue;
        bool used = false;

        for (size_t k = 0; k < m->ncontacts; k++)
            used |= m->contacts[k].disc == (int)j;
        if (!used)
            m->inconsistent[j] = true;
    }
}

/* The merge order of kpis.md: start; earlier end, open last; center id; contact id. */
static bool
merge_before(const ref_model_t *m, const rcontact_t *a, const rcontact_t *b)
{
    if (a->start != b->start)
        return a->start < b->start;
    if (a->open != b->open)
        return !a->open;
    if (!a->open && a->end != b->end)
        return a->end < b->end;
    int c = strcmp(m->conf->centers[a->center].id, m->conf->centers[b->center].id);
    if (c)
        return c < 0;
    return strcmp(contact_id(&m->recs[a->adm].rec), contact_id(&m->recs[b->adm].rec)) < 0;
}

static void
build_stays(ref_model_t *m)
{
    rcontact_t *mine = malloc((m->ncontacts ? m->ncontacts : 1) * sizeof(*mine));

    if (!mine)
        abort();
    for (int p = 0; p < m->npatients; p++) {
        size_t k = 0;

        for (size_t i = 0; i < m->ncontacts; i++)
            if (m->contacts[i].patient == p)
                mine[k++] = m->contacts[i];
        /* Selection sort: small and obviously right. */
        for (size_t i = 0; i < k; i++)
            for (size_t j = i + 1; j < k; j++)
                if (merge_before(m, &mine[j], &mine[i])) {
                    rcontact_t t = mine[i];
                    mine[i] = mine[j];
                    mine[j] = t;
                }
        rstay_t *s = NULL;
        const rcontact_t *last = NULL; /* the contact ending last in the current stay */

        for (size_t i = 0; i < k; i++) {
            const rcontact_t *c = &mine[i];

            if (s && c->start <= s->end + 4 * HOUR) {
                /* Joins; the last contact in the order ending no earlier is the one ending last. */
                if (c->open || (!last->open && c->end >= last->end))
                    last = c;
                if (c->end > s->end)
                    s->end = c->end;
                s->open |= c->open;
            } else {
                s = &m->stays[m->nstays++];
                s->patient = p;
                s->start = c->start;
                s->end = c->end;
                s->open = c->open;
                s->acute = m->recs[c->adm].rec.mode == PSY_MODE_ACUTE;
                last = c;
            }
            s->disc_center = last->center;
            s->outc = last->open ? PSY_OUTCOME_NONE : m->recs[last->disc].rec.outcome;
        }
    }
    for (size_t i = 0; i < m->nstays; i++) {
        rstay_t *s = &m->stays[i];

        if (s->open)
            s->end = m->as_of;
        s->qualifying = s->end - s->start >= 12 * HOUR;
    }
    for (size_t i = 0; i < m->nstays; i++) {
        rstay_t *st = &m->stays[i];

        st->in30 = st->in7 = false;
        st->next = NOTIME;
        for (size_t j = 0; j < m->nstays; j++) {
            const rstay_t *nx = &m->stays[j];
            psy_time_t gap = nx->start - st->end;

            if (nx->patient != st->patient || !nx->qualifying || gap <= 0)
                continue;
            if (nx->acute && gap <= 30 * DAY)
                st->in30 = true;
            if (nx->acute && gap <= 7 * DAY)
                st->in7 = true;
            if (gap <= 365 * DAY && (st->next == NOTIME || gap < st->next))
                st->next = gap;
        }
    }
    free(mine);
}

static void
match_referrals(ref_model_t *m)
{
    const ref_record_t *R = m->recs;

    for (size_t i = 0; i < m->n; i++) {
        m->matched_start[i] = -1;
        m->matched_ref[i] = -1;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (!m->live[i] || R[i].rec.type != PSY_REC_REFERRAL)
            continue;
        int best = -1;

        for (size_t j = 0; j < m->n; j++)
            if (m->live[j] && R[j].rec.type == PSY_REC_TREATMENT_START &&
                R[j].center == R[i].center && strcmp(R[j].rec.referral, R[i].rec.id) == 0 &&
                R[j].rec.time >= R[i].rec.time && (best < 0 || earlier(&R[j].rec, &R[best].rec)))
                best = (int)j;
        m->matched_start[i] = best;
        if (best >= 0)
            m->matched_ref[best] = (int)i;
    }
    for (size_t j = 0; j < m->n; j++)
        if (m->live[j] && R[j].rec.type == PSY_REC_TREATMENT_START && m->matched_ref[j] < 0)
            m->inconsistent[j] = true;
}

ref_model_t *
ref_model_new(const psy_agg_conf_t *conf, const ref_record_t *recs, size_t n, psy_time_t as_of)
{
    ref_model_t *m = calloc(1, sizeof(*m));
    size_t nn = n ? n : 1;

    if (!m)
        return NULL;
    m->conf = conf;
    m->as_of = as_of;
    m->recs = recs;
    m->n = n;
    m->live = calloc(nn, sizeof(bool));
    m->inconsistent = calloc(nn, sizeof(bool));
    m->patient = calloc(nn, sizeof(int));
    m->matched_start = calloc(nn, sizeof(int));
    m->matched_ref = calloc(nn, sizeof(int));
    m->contacts = calloc(nn, sizeof(rcontact_t));
    m->stays = calloc(nn, sizeof(rstay_t));
    if (!m->live || !m->inconsistent || !m->patient || !m->matched_start || !m->matched_ref ||
        !m->contacts || !m->stays) {
        ref_model_free(&m);
        return NULL;
    }
    /* Nothing after as_of exists; records of unknown centers are not placed. */
    for (size_t i = 0; i < n; i++)
        m->live[i] = !recs[i].rec.is_void && recs[i].center >= 0 &&
                     (size_t)recs[i].center < conf->ncenters && recs[i].rec.time <= as_of;
    number_patients(m);
    build_contacts(m);
    build_stays(m);
    match_referrals(m);
    return m;
}

void
ref_model_free(ref_model_t **mp)
{
    ref_model_t *m = mp ? *mp : NULL;

    if (!m)
        return;
    free(m->live);
    free(m->inconsistent);
    free(m->patient);
    free(m->matched_start);
    free(m->matched_ref);
    free(m->contacts);
    free(m->stays);
    free(m);
    *mp = NULL;
}

/* ---- one period and level ---- */

/* A set of patient numbers, for distinct counts. */
typedef struct {
    int *v;
    size_t n;
} pset_t;

static void
pset_add(pset_t *s, int p)
{
    if (p < 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == p)
            return;
    s->v[s->n++] = p;
}

static ref_num_t
integer(double v)
{
    return (ref_num_t){true, true, v};
}

static ref_num_t
real(double v)
{
    return (ref_num_t){true, false, v};
}

static int
dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v); d = count. */
static void
median_row(ref_row_t *row, double *v, size_t n)
{
    row->d = integer((double)n);
    if (!n)
        return;
    qsort(v, n, sizeof(*v), dcmp);
    row->value = real(n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

static void
ratio_row(ref_row_t *row, double scale, double n, double d)
{
    row->n = integer(n);
    row->d = integer(d);
    if (d != 0)
        row->value = real(scale * n / d);
}

static void
count_row(ref_row_t *row, double v)
{
    row->value = row->n = integer(v);
}

static bool
at_level(int center, int level)
{
    return level == REF_REGION || center == level;
}

static bool
in(psy_time_t t, psy_time_t s, psy_time_t e)
{
    return t >= s && t < e;
}

/* Nearest earlier configured year, else nearest later; 0 when none. */
static long
population_of(const psy_populations_t *p, int year)
{
    long best = 0;
    int best_year = 0;
    bool found = false;

    for (size_t i = 0; i < p->count; i++)
        if (p->years[i].year <= year && (!found || p->years[i].year > best_year)) {
            best = p->years[i].population;
            best_year = p->years[i].year;
            found = true;
        }
    if (found)
        return best;
    for (size_t i = 0; i < p->count; i++)
        if (!found || p->years[i].year < best_year) {
            best = p->years[i].population;
            best_year = p->years[i].year;
            found = true;
        }
    return found ? best : 0;
}

static long
level_population(const psy_agg_conf_t *c, int level, int year)
{
    long sum = 0;

    if (level != REF_REGION)
        return population_of(&c->centers[level].population, year);
    if (c->region_population.count)
        return population_of(&c->region_population, year);
    for (size_t i = 0; i < c->ncenters; i++)
        sum += population_of(&c->centers[i].population, year);
    return sum;
}

static bool
counts_as_coercion(const psy_record_t *r)
{
    return r->coercion >= PSY_COERCION_BELT && r->coercion <= PSY_COERCION_OTHER &&
           !(r->coercion == PSY_COERCION_BELT && r->voluntary);
}

static bool
intrusive(psy_coercion_t k)
{
    return k == PSY_COERCION_BELT || k == PSY_COERCION_PHYSICAL_RESTRAINT ||
           k == PSY_COERCION_SEDATIVE_MEDICATION;
}

/* Intrusive episodes and records of a level in [s, e). */
static void
intrusive_and_records(const ref_model_t *m, int level, psy_time_t s, psy_time_t e, long *ret_intr,
                      long *ret_records)
{
    long intr = 0, records = 0;

    for (size_t i = 0; i < m->n; i++) {
        const psy_record_t *r = &m->recs[i].rec;

        if (!m->live[i] || !at_level(m->recs[i].center, level) || !in(r->time, s, e))
            continue;
        records++;
        if (r->type == PSY_REC_COERCION && counts_as_coercion(r) && intrusive(r->coercion))
            intr++;
    }
    *ret_intr = intr;
    *ret_records = records;
}

/* The 100k rate of the twelve months ending with month `last` (y, m); false when undefined. */
static bool
rate_100k(const ref_model_t *m, int level, int y, int mo, double *ret, long *ret_records)
{
    psy_time_t s, e;
    long intr, records, pop;

    ref_period_bounds(REF_R12, y, mo, &s, &e);
    intrusive_and_records(m, level, s, e, &intr, &records);
    if (ret_records)
        *ret_records = records;
    pop = level_population(m->conf, level, y);
    if (pop <= 0)
        return false;
    *ret = 100000.0 * (double)intr / (double)pop;
    return true;
}

static bool
baseline_of(const ref_model_t *m, int level, double *ret)
{
    const psy_agg_conf_t *c = m->conf;
    double sum = 0;

    if (c->nbaseline == 0)
        return false;
    for (size_t i = 0; i < c->nbaseline; i++) {
        double v;
        long records;

        if (!rate_100k(m, level, c->baseline_years[i], 12, &v, &records) || records == 0)
            return false;
        sum += v;
    }
    *ret = sum / (double)c->nbaseline;
    return true;
}

void
ref_compute(const ref_model_t *m, ref_kind_t kind, int year, int month, int level, ref_row_t *out)
{
    const ref_record_t *R = m->recs;
    const psy_agg_conf_t *c = m->conf;
    size_t n = m->n, nk = ref_kpi_count();
    psy_time_t s, e;
    pset_t patients = {0}, persons[NKINDS] = {{0}}, intr_pers = {0}, coerced = {0}, consulted = {0};
    double *belt_h = calloc(n + 1, sizeof(double)), *readm_d = calloc(n + 1, sizeof(double)),
           *wait_d = calloc(n + 1, sizeof(double));
    size_t nbelt = 0, nreadm = 0, nwait = 0;
    long adm = 0, disc = 0, invol = 0, self = 0, episodes[NKINDS] = {0}, intr = 0, belt48 = 0,
         index = 0, r30 = 0, r7 = 0, consult = 0, consult_rk[NROLES][NCKINDS] = {{0}}, treat = 0,
         wait60 = 0, overdue = 0, records = 0, incons = 0;
    double bed_days = 0;
    bool yearly = kind == REF_YEAR || kind == REF_R12;
    int last_y = year, last_m = kind == REF_YEAR ? 12 : kind == REF_QUARTER ? month + 2 : month;

    int *pv = calloc((size_t)(4 + NKINDS) * (n + 1), sizeof(int));
    if (!belt_h || !readm_d || !wait_d || !pv)
        abort();
    patients.v = pv;
    intr_pers.v = pv + (n + 1);
    coerced.v = pv + 2 * (n + 1);
    consulted.v = pv + 3 * (n + 1);
    for (int k = 0; k < NKINDS; k++)
        persons[k].v = pv + (size_t)(4 + k) * (n + 1);

    ref_period_bounds(kind, year, month, &s, &e);
    memset(out, 0, nk * sizeof(*out));

    /* Contacts. */
    for (size_t i = 0; i < m->ncontacts; i++) {
        const rcontact_t *ct = &m->contacts[i];
        const psy_record_t *a = &R[ct->adm].rec;

        if (!at_level(ct->center, level))
            continue;
        if (in(ct->start, s, e)) {
            adm++;
            if (a->legal == PSY_LEGAL_INVOLUNTARY_RED || a->legal == PSY_LEGAL_INVOLUNTARY_YELLOW) {
                invol++;
                pset_add(&coerced, ct->patient);
            }
        }
        if (!ct->open && in(ct->end, s, e)) {
            disc++;
            self += R[ct->disc].rec.outcome == PSY_OUTCOME_SELF_DISCHARGE;
        }
        psy_time_t lo = ct->start > s ? ct->start : s, hi = ct->end < e ? ct->end : e;
        if (hi > lo)
            bed_days += (double)(hi - lo) / (double)DAY;
        if (ct->start < e && ct->end > s)
            pset_add(&patients, ct->patient);
    }

    /* Records one by one. */
    for (size_t i = 0; i < n; i++) {
        const psy_record_t *r = &R[i].rec;

        if (!m->live[i] || !at_level(R[i].center, level) || !in(r->time, s, e))
            continue;
        records++;
        incons += m->inconsistent[i];
        if (r->type == PSY_REC_COERCION && counts_as_coercion(r)) {
            int k = (int)r->coercion - 1;

            episodes[k]++;
            pset_add(&persons[k], m->patient[i]);
            pset_add(&coerced, m->patient[i]);
            if (intrusive(r->coercion)) {
                intr++;
                pset_add(&intr_pers, m->patient[i]);
            }
            /* An end after as_of does not exist yet. */
            if (r->coercion == PSY_COERCION_BELT && r->end != NOTIME && r->end <= m->as_of) {
                belt_h[nbelt++] = (double)(r->end - r->time) / (double)HOUR;
                belt48 += r->end - r->time > 48 * HOUR;
            }
        } else if (r->type == PSY_REC_CONSULTATION) {
            consult++;
            if (r->role >= 1 && r->role <= NROLES && r->consult >= 1 && r->consult <= NCKINDS)
                consult_rk[r->role - 1][r->consult - 1]++;
            pset_add(&consulted, m->patient[i]);
        } else if (r->type == PSY_REC_TREATMENT_START && m->matched_ref[i] >= 0) {
            psy_time_t w = r->time - R[m->matched_ref[i]].rec.time;

            treat++;
            wait60 += w <= 60 * DAY;
            wait_d[nwait++] = (double)w / (double)DAY;
        }
    }

    /* Overdue referrals at t = min(P end, as_of). */
    psy_time_t t = e < m->as_of ? e : m->as_of;
    for (size_t i = 0; i < n; i++) {
        const psy_record_t *r = &R[i].rec;

        if (!m->live[i] || r->type != PSY_REC_REFERRAL || !at_level(R[i].center, level))
            continue;
        int ts = m->matched_start[i];
        if (r->time < t - 60 * DAY && !(ts >= 0 && R[ts].rec.time <= t))
            overdue++;
    }

    /* Index discharges. */
    for (size_t i = 0; i < m->nstays; i++) {
        const rstay_t *st = &m->stays[i];

        if (st->open || !st->qualifying || !in(st->end, s, e) || st->outc == PSY_OUTCOME_DEATH ||
            st->outc == PSY_OUTCOME_TRANSFER || !at_level(st->disc_center, level))
            continue;
        index++;
        r30 += st->in30;
        r7 += st->in7;
        if (st->next != NOTIME)
            readm_d[nreadm++] = (double)st->next / (double)DAY;
    }

    /* Rows. */
    int k;
    count_row(&out[name_index("admissions")], (double)adm);
    count_row(&out[name_index("discharges")], (double)disc);
    k = name_index("bed_days");
    out[k].value = out[k].n = real(bed_days);
    count_row(&out[name_index("patients")], (double)patients.n);
    count_row(&out[name_index("involuntary_admissions")], (double)invol);
    ratio_row(&out[name_index("involuntary_admission_share")], 100, (double)invol, (double)adm);
    for (int i = 0; i < NKINDS; i++) {
        char nm[64];

        snprintf(nm, sizeof(nm), "coercion_episodes:%s", coercion_kinds[i]);
        count_row(&out[name_index(nm)], (double)episodes[i]);
        snprintf(nm, sizeof(nm), "coercion_persons:%s", coercion_kinds[i]);
        count_row(&out[name_index(nm)], (double)persons[i].n);
    }
    count_row(&out[name_index("intrusive_episodes")], (double)intr);
    count_row(&out[name_index("intrusive_persons")], (double)intr_pers.n);
    count_row(&out[name_index("coerced_persons")], (double)coerced.n);
    ratio_row(&out[name_index("belt_share_of_patients")], 100, (double)persons[0].n,
              (double)patients.n);
    median_row(&out[name_index("belt_median_hours")], belt_h, nbelt);
    count_row(&out[name_index("belt_over_48h")], (double)belt48);
    k = name_index("intrusive_per_1000_bed_days");
    out[k].n = integer((double)intr);
    out[k].d = real(bed_days);
    if (bed_days > 0)
        out[k].value = real(1000.0 * (double)intr / bed_days);

    if (yearly) {
        double rate = 0, base = 0, target;
        long pop = level_population(c, level, last_y);
        bool has_rate = pop > 0, has_base = baseline_of(m, level, &base);
        int first = c->first_year * 12 + c->first_month - 1;
        int lastm = last_y * 12 + last_m - 1;
        int K = c->last_year * 12 + c->last_month - 1 - first + 1;
        double f = (double)(lastm - first + 1) / (double)K;

        k = name_index("intrusive_per_100k");
        out[k].n = integer((double)intr);
        out[k].d = integer((double)pop);
        if (has_rate) {
            rate = 100000.0 * (double)intr / (double)pop;
            out[k].value = real(rate);
        }
        if (has_base)
            out[name_index("intrusive_baseline_per_100k")].value = real(base);
        target = c->target_pct * (f < 0 ? 0 : f > 1 ? 1 : f);
        out[name_index("intrusive_target_reduction")].value = real(target);
        if (has_rate && has_base && base != 0) {
            double red = 100.0 * (1.0 - rate / base);

            out[name_index("intrusive_reduction")].value = real(red);
            out[name_index("intrusive_on_track")].value = integer(red >= target ? 1 : 0);
        }
    }
    {
        /* The episodes allowed on the trajectory: every period kind. */
        double base, f, traj;
        int first = c->first_year * 12 + c->first_month - 1;
        int K = c->last_year * 12 + c->last_month - 1 - first + 1;
        int months = kind == REF_MONTH ? 1 : kind == REF_QUARTER ? 3 : 12;

        if (K > 0 && baseline_of(m, level, &base)) {
            f = (double)(last_y * 12 + last_m - 1 - first + 1) / (double)K;
            traj = c->target_pct * (f < 0 ? 0 : f > 1 ? 1 : f);
            out[name_index("intrusive_target_episodes")].value =
                real(base * (double)level_population(c, level, last_y) / 100000.0 *
                     (1.0 - traj / 100.0) * months / 12.0);
        }
    }

    k = name_index("readmission_rate_30d");
    ratio_row(&out[k], 100, (double)r30, (double)index);
    out[k].provisional = m->as_of < e + 30 * DAY + 12 * HOUR;
    k = name_index("readmission_rate_7d");
    ratio_row(&out[k], 100, (double)r7, (double)index);
    out[k].provisional = m->as_of < e + 30 * DAY + 12 * HOUR;
    k = name_index("median_days_to_readmission");
    median_row(&out[k], readm_d, nreadm);
    out[k].provisional = m->as_of < e + 365 * DAY + 12 * HOUR;
    ratio_row(&out[name_index("self_discharge_share")], 100, (double)self, (double)disc);

    count_row(&out[name_index("consultations")], (double)consult);
    for (int r = 0; r < NROLES; r++)
        for (int q = 0; q < NCKINDS; q++) {
            char nm[64];

            snprintf(nm, sizeof(nm), "consultations:%s:%s", roles[r], consult_kinds[q]);
            count_row(&out[name_index(nm)], (double)consult_rk[r][q]);
        }
    count_row(&out[name_index("consulted_patients")], (double)consulted.n);
    count_row(&out[name_index("treatment_starts")], (double)treat);
    ratio_row(&out[name_index("wait_within_60d_share")], 100, (double)wait60, (double)treat);
    median_row(&out[name_index("wait_median_days")], wait_d, nwait);
    count_row(&out[name_index("referrals_overdue")], (double)overdue);
    count_row(&out[name_index("records")], (double)records);
    count_row(&out[name_index("records_inconsistent")], (double)incons);
    /* A period that has not ended at as_of: every figure may still grow. */
    if (m->as_of < e)
        for (size_t i = 0; i < nk; i++)
            out[i].provisional = true;

    free(pv);
    free(belt_h);
    free(readm_d);
    free(wait_d);
}

/*
 * simulate: a seeded model of Region Hovedstaden's psychiatry that writes
 * inbox files (records.md).
 *
 * The model runs in four steps. Persons arrive over time and live a chain
 * of stays (acute or planned admissions, sometimes a transfer to a second
 * center, readmissions and later returns), which gives contacts. Coercion,
 * consultations and child psychiatry referrals are then laid over those
 * contacts with yearly totals that follow the region's targets, so that a
 * trend (belt fixations falling year on year) holds for every seed. Last,
 * a sprinkle of corrections, voids and bad records is added, and every
 * center's records are written to one file per month, in time order.
 *
 * Times are kept as seconds since the epoch in UTC and written in
 * Europe/Copenhagen local time with the EU daylight saving rule, computed
 * here rather than through the C library's zone database so that output does
 * not depend on the TZ environment. The PRNG is splitmix64: rand() differs
 * between C libraries, and the same seed must give the same files everywhere.
 */
#include "simulate.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "psymon/time.h"

#define DAY_S  INT64_C(86400)
#define HOUR_S INT64_C(3600)
#define NO_END INT64_MIN /* a coercion episode without an end */

/* Catchment populations, 2024 ballpark, with yearly growth. */
static const sim_center_t centers[] = {
    {"pc-amager", "Psykiatrisk Center Amager", {201000, 202500, 204000, 205500, 207000, 208500}},
    {"pc-ballerup",
     "Psykiatrisk Center Ballerup",
     {338000, 340500, 343000, 345500, 348000, 350500}},
    {"pc-bornholm", "Psykiatrisk Center Bornholm", {39600, 39500, 39400, 39300, 39200, 39100}},
    {"pc-glostrup",
     "Psykiatrisk Center Glostrup",
     {323000, 325500, 328000, 330500, 333000, 335500}},
    {"pc-koebenhavn",
     "Psykiatrisk Center København",
     {421000, 424000, 427000, 430000, 433000, 436000}},
    {"pc-nordsjaelland",
     "Psykiatrisk Center Nordsjælland",
     {318000, 320000, 322000, 324000, 326000, 328000}},
    {"pc-sct-hans",
     "Psykiatrisk Center Sct. Hans",
     {176000, 177500, 179000, 180500, 182000, 183500}},
    {"buc",
     "Børne- og Ungdomspsykiatrisk Center",
     {388000, 390000, 392000, 394000, 396000, 398000}},
};
#define NCENTERS (sizeof(centers) / sizeof(centers[0]))
#define BUC      7 /* index of the child and adolescent center */
#define SCT_HANS 6

static const long region_population[SIM_YEARS] = {1855000, 1867000, 1880000,
                                                  1893000, 1906000, 1919000};

const sim_center_t *
sim_centers(size_t *ret_n)
{
    if (ret_n)
        *ret_n = NCENTERS;
    return centers;
}

long
sim_region_population(int year)
{
    if (year < SIM_YEAR_FIRST)
        year = SIM_YEAR_FIRST;
    if (year > SIM_YEAR_LAST)
        year = SIM_YEAR_LAST;
    return region_population[year - SIM_YEAR_FIRST];
}

/* ---- PRNG: splitmix64 ------------------------------------------------- */

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

/* Uniform in [0, 1), from the top 53 bits. */
static double
rng_unit(rng_t *r)
{
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

static bool
rng_chance(rng_t *r, double p)
{
    return rng_unit(r) < p;
}

/* Uniform in [0, n); n > 0. The modulo bias is far below the model's noise. */
static uint64_t
rng_below(rng_t *r, uint64_t n)
{
    return rng_u64(r) % n;
}

static int64_t
rng_between(rng_t *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo));
}

static double
rng_exp(rng_t *r, double mean)
{
    return -mean * log(1.0 - rng_unit(r));
}

static double
rng_normal(rng_t *r)
{
    double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double
rng_lognormal(rng_t *r, double median, double sigma)
{
    return median * exp(sigma * rng_normal(r));
}

/* The splitmix64 finaliser: a good 64-bit mix of x. */
static uint64_t
mix64(uint64_t x)
{
    rng_t r = {x};
    return rng_u64(&r);
}

/* ---- Civil time in Europe/Copenhagen --------------------------------- */

static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/* The UTC instant 01:00 on the last Sunday of `month` of `y`: the EU switch. */
static int64_t
eu_switch(int y, int month)
{
    int64_t last = psy_days_from_civil(y, (unsigned)month, 31);
    int64_t wd = floor_div(last + 4, 7) * 7; /* 1970-01-01 was a Thursday */
    int64_t dow = last + 4 - wd;             /* 0 = Sunday */
    return (last - dow) * DAY_S + HOUR_S;
}

/* The offset of Copenhagen's local time from UTC at t, in seconds. */
static int64_t
cph_offset(int64_t t)
{
    int y, m, d;
    psy_civil_from_days(floor_div(t, DAY_S), &y, &m, &d);
    return (t >= eu_switch(y, 3) && t < eu_switch(y, 10)) ? 2 * HOUR_S : HOUR_S;
}

/* The instant at which the local day y-m-d starts (m may run past 12). */
static int64_t
local_midnight(int y, int m, int d)
{
    y += (m - 1) / 12;
    m = (m - 1) % 12 + 1;
    int64_t t = psy_days_from_civil(y, (unsigned)m, (unsigned)d) * DAY_S - HOUR_S;
    if (cph_offset(t) != HOUR_S)
        t -= HOUR_S;
    return t;
}

typedef struct {
    int y, mo, d, h, mi, s;
    int64_t off;
} local_t;

static local_t
to_local(int64_t t)
{
    local_t l;
    l.off = cph_offset(t);
    int64_t lt = t + l.off;
    int64_t days = floor_div(lt, DAY_S), sod = lt - days * DAY_S;
    psy_civil_from_days(days, &l.y, &l.mo, &l.d);
    l.h = (int)(sod / 3600);
    l.mi = (int)(sod / 60 % 60);
    l.s = (int)(sod % 60);
    return l;
}

/* Writes t as RFC 3339 in local time with its offset; buf holds 26 bytes. */
static void
format_time(int64_t t, char *buf, size_t size)
{
    local_t l = to_local(t);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d+%02d:00", l.y, l.mo, l.d, l.h, l.mi, l.s,
             (int)(l.off / HOUR_S));
}

/* A month as one number (year * 12 + month - 1), in local time. */
static int
month_index(int64_t t)
{
    local_t l = to_local(t);
    return l.y * 12 + l.mo - 1;
}

/* ---- The model -------------------------------------------------------- */

enum { REC_ADM, REC_DIS, REC_COE, REC_CON, REC_REF, REC_TRS, REC_BAD, REC__N };
static const char *const rec_prefix[REC__N] = {"ADM", "DIS", "COE", "CON", "REF", "TRS", "BAD"};
static const char *const rec_type[REC__N] = {"admission",    "discharge", "coercion",
                                             "consultation", "referral",  "treatment_start",
                                             "coercion"};

enum { F_VOID = 1, F_AGE = 2, F_VOLUNTARY = 4, F_NOPATIENT = 8 };

typedef struct {
    char cpr[11];  /* DDMMYYSSSS */
    int64_t birth; /* days since the epoch */
    uint8_t home;  /* center index */
    uint8_t revolving;
    uint8_t nodash; /* this person's CPR is exported without the dash */
    uint8_t open;   /* has a contact open at the cut, or died: not admitted live */
} person_t;

typedef struct {
    int64_t start, end; /* end may lie after the cut: then the contact is open there */
    int32_t person;
    uint32_t num; /* admission number within its center */
    uint8_t center, acute, legal, outcome, ward, revolving;
} contact_t;

/* One record to write; which fields mean something depends on `type`. */
typedef struct {
    int64_t t;
    int64_t end; /* coercion */
    int32_t person;
    uint32_t num;   /* the record's own number: id = prefix-num */
    uint32_t ref;   /* the admission (discharge, coercion) or referral number */
    int32_t fmonth; /* file month: month_index, later for corrections and voids */
    uint8_t type, center, a, b, ward, flags;
    int16_t n; /* age or minutes */
} rec_t;

/* Values of rec_t.a / .b per type. */
static const char *const legal_name[] = {"voluntary", "involuntary_red", "involuntary_yellow"};
static const char *const outcome_name[] = {"regular", "self_discharge", "transfer", "death"};
enum { OUT_REGULAR, OUT_SELF, OUT_TRANSFER, OUT_DEATH };
static const char *const kind_name[] = {"belt",
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
#define NKINDS (sizeof(kind_name) / sizeof(kind_name[0]))
static const char *const role_name[] = {"social_nurse", "social_physician", "other"};
static const char *const consult_name[] = {"supervision",     "action_plan", "substance_history",
                                           "network_meeting", "follow_home", "other"};

/*
 * Region-wide episodes of each coercion kind in 2021 and the yearly factor
 * after it: the intrusive kinds fall, in line with the 2024 partnership.
 */
static const struct {
    double per_2021, yearly;
} kind_rate[NKINDS] = {
    {1000, 0.87}, {1700, 0.90}, {1250, 0.91}, {25, 0.95},  {20, 0.95}, {950, 0.97}, {45, 1.0},
    {15, 1.0},    {60, 1.0},    {1150, 0.99}, {160, 0.97}, {60, 0.95}, {30, 1.0},   {40, 1.0},
};

/*
 * How each center's intrusive coercion moves against the region's trend:
 * below 1 falls faster, above 1 slower, so that the dashboard shows centers
 * on and off the target trajectory. Every center's belt factor stays below
 * 1, so belt fixations fall year on year for the region and every center.
 */
static const double center_trend[] = {0.98, 1.00, 1.12, 1.10, 0.95, 1.00, 1.02, 1.06};
_Static_assert(sizeof(center_trend) / sizeof(center_trend[0]) == NCENTERS, "one per center");

typedef struct {
    /*
     * [from, cut) is the history written: local midnight of --from and the
     * end of --to. The model runs on to `to`, the end of cut's year, so that
     * what happens before cut never depends on where cut lies (see
     * sim_stream).
     */
    int64_t from, cut, to;
    uint64_t seed;
    bool all_centers;
    bool want[NCENTERS];
    /*
     * --deteriorate: from worse_from[c] on, center c's intrusive coercion
     * runs at worse[c] times its trend (0: never).
     */
    double worse[NCENTERS];
    int64_t worse_from[NCENTERS];

    rng_t rng;
    person_t *persons;
    size_t npersons, cap_persons;
    contact_t *contacts;
    size_t ncontacts, cap_contacts;
    rec_t *recs;
    size_t nrecs, cap_recs;
    uint32_t counter[NCENTERS][REC__N];
} sim_t;

/* What a stream of random numbers is for: one part of the model each. */
enum {
    STREAM_ARRIVALS = 1,
    STREAM_PERSON,
    STREAM_AGE,
    STREAM_COERCION,
    STREAM_CONSULT,
    STREAM_REFERRAL,
    STREAM_NOISE,
    STREAM_WORSE
};

/*
 * Points s->rng at the stream of one piece of the model: an arriving
 * person's chain, a center's coercion in a year, one record's noise. Each
 * stream depends on the seed and its key only, never on how many numbers
 * other pieces drew before it, so that moving --to (and with it how far
 * the model runs) leaves every earlier piece, and so the history before the
 * earlier --to, exactly as it was.
 */
static void
sim_stream(sim_t *s, uint64_t what, uint64_t a, uint64_t b)
{
    s->rng.s = mix64(mix64(mix64(mix64(s->seed) ^ what) ^ a) ^ b);
}

/* Grows an array of `size`-byte items to hold one more; -ENOMEM on failure. */
static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4096;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static rec_t *
rec_add(sim_t *s, int type, int center, int64_t t)
{
    if (grow((void **)&s->recs, &s->cap_recs, s->nrecs, sizeof(rec_t)) < 0)
        return NULL;
    rec_t *r = &s->recs[s->nrecs++];
    memset(r, 0, sizeof(*r));
    r->type = (uint8_t)type;
    r->center = (uint8_t)center;
    r->t = t;
    r->end = NO_END;
    r->person = -1;
    r->num = ++s->counter[center][type];
    r->fmonth = month_index(t);
    r->n = -1;
    return r;
}

/*
 * A new person of age `age` at instant t, with a CPR number whose seventh
 * digit gives the right century for the birth year.
 */
static int32_t
person_new(sim_t *s, int64_t t, double age, int home, bool revolving)
{
    if (grow((void **)&s->persons, &s->cap_persons, s->npersons, sizeof(person_t)) < 0)
        return -1;
    person_t *p = &s->persons[s->npersons];
    p->birth = floor_div(t, DAY_S) - (int64_t)(age * 365.2425) - rng_between(&s->rng, 0, 365);
    int y, m, d;
    psy_civil_from_days(p->birth, &y, &m, &d);
    int yy = y % 100, c;
    if (y >= 2000)
        c = rng_chance(&s->rng, 0.5) ? 4 : 5 + (int)rng_below(&s->rng, 4);
    else if (yy >= 37)
        c = rng_chance(&s->rng, 0.2) ? (rng_chance(&s->rng, 0.5) ? 4 : 9)
                                     : (int)rng_below(&s->rng, 4);
    else
        c = (int)rng_below(&s->rng, 4);
    char cpr[32];
    snprintf(cpr, sizeof(cpr), "%02d%02d%02d%d%03d", d, m, yy, c, (int)rng_below(&s->rng, 1000));
    memcpy(p->cpr, cpr, sizeof(p->cpr) - 1);
    p->cpr[sizeof(p->cpr) - 1] = 0;
    p->home = (uint8_t)home;
    p->revolving = revolving;
    p->nodash = rng_chance(&s->rng, 0.1);
    p->open = 0;
    return (int32_t)s->npersons++;
}

static int
age_at(const sim_t *s, int32_t person, int64_t t)
{
    int by, bm, bd, y, m, d;
    psy_civil_from_days(s->persons[person].birth, &by, &bm, &bd);
    local_t l = to_local(t);
    y = l.y, m = l.mo, d = l.d;
    return y - by - (m < bm || (m == bm && d < bd));
}

/* Picks an adult center by catchment population (2024). */
static int
pick_adult_center(sim_t *s)
{
    long total = 0;
    for (size_t i = 0; i < NCENTERS; i++)
        if (i != BUC)
            total += centers[i].population[3];
    long x = (long)rng_below(&s->rng, (uint64_t)total);
    for (size_t i = 0; i < NCENTERS; i++) {
        if (i == BUC)
            continue;
        if (x < centers[i].population[3])
            return (int)i;
        x -= centers[i].population[3];
    }
    return 0;
}

static int
contact_add(sim_t *s, int32_t person, int center, int64_t start, int64_t end, bool acute, int legal,
            int outcome)
{
    /*
     * Before the history starts the chain runs and nothing is written, except
     * the contacts still open at --from: an export holds the patients then
     * admitted, with their earlier admission.
     */
    if (start < s->from && end <= s->from)
        return 0;
    if (grow((void **)&s->contacts, &s->cap_contacts, s->ncontacts, sizeof(contact_t)) < 0)
        return -ENOMEM;
    contact_t *c = &s->contacts[s->ncontacts++];
    c->start = start;
    c->end = end;
    c->person = person;
    c->center = (uint8_t)center;
    c->acute = acute;
    c->legal = (uint8_t)legal;
    c->outcome = (uint8_t)outcome;
    c->ward = (uint8_t)(1 + rng_below(&s->rng, 6));
    c->revolving = s->persons[person].revolving;
    return 0;
}

/*
 * One person's chain of stays from the first admission at t. After each
 * stay the person is readmitted acutely within 30 days, returns later, or
 * leaves care; the "revolving door" minority has many short stays and a
 * high readmission chance. Returns 0 or -ENOMEM.
 */
static int
person_chain(sim_t *s, int64_t t, bool child)
{
    bool revolving = !child && rng_chance(&s->rng, 0.09);
    double age = child       ? 6 + rng_unit(&s->rng) * 12
                 : revolving ? 20 + rng_unit(&s->rng) * 40
                             : 18 + fmin(rng_exp(&s->rng, 22), 75);
    int home = child ? BUC : pick_adult_center(s);
    int32_t p = person_new(s, t, age, home, revolving);
    if (p < 0)
        return -ENOMEM;
    double p_readmit = revolving ? 0.48 : child ? 0.13 : 0.19;
    double p_return = revolving ? 0.40 : 0.36;
    bool acute = rng_chance(&s->rng, 0.85);

    while (t < s->to) {
        double los;
        if (rng_chance(&s->rng, 0.06))
            los = (3 + rng_unit(&s->rng) * 8) * HOUR_S; /* observation, not a qualifying stay */
        else if (revolving)
            los = rng_lognormal(&s->rng, 2.5, 1.0) * DAY_S;
        else
            los = rng_lognormal(&s->rng, acute ? 9 : 14, 1.0) * DAY_S;
        los = fmin(los, 400.0 * DAY_S);
        int64_t end = t + (int64_t)los / 60 * 60;
        double rl = rng_unit(&s->rng) * (revolving ? 0.6 : 1.0);
        int legal = !acute ? 0 : rl < 0.06 ? 1 : rl < 0.13 ? 2 : 0;
        double ro = rng_unit(&s->rng);
        int outcome = ro < 0.004                      ? OUT_DEATH
                      : ro < (revolving ? 0.2 : 0.09) ? OUT_SELF
                                                      : OUT_REGULAR;

        if (!child && los > 2 * DAY_S && rng_chance(&s->rng, 0.05)) {
            /* A transfer: discharge here, admission at another center 0-3 h later. */
            int64_t split = t + (int64_t)(los * (0.1 + 0.5 * rng_unit(&s->rng))) / 60 * 60;
            int other =
                home != SCT_HANS && rng_chance(&s->rng, 0.5) ? SCT_HANS : pick_adult_center(s);
            if (other == home)
                other = (home + 1) % BUC;
            int64_t start2 = split + rng_between(&s->rng, 0, 180) * 60;
            if (end <= start2)
                end = start2 + DAY_S;
            if (contact_add(s, p, home, t, split, acute, legal, OUT_TRANSFER) < 0 ||
                (split < s->to && contact_add(s, p, other, start2, end, acute, legal, outcome) < 0))
                return -ENOMEM;
        } else if (contact_add(s, p, home, t, end, acute, legal, outcome) < 0) {
            return -ENOMEM;
        }
        if (outcome == OUT_DEATH || end >= s->to)
            break;

        double r = rng_unit(&s->rng);
        if (r < p_readmit) {
            t = end + (int64_t)fmin(fmax(rng_exp(&s->rng, 8) * DAY_S, 8 * HOUR_S), 29 * DAY_S);
            acute = rng_chance(&s->rng, 0.93);
        } else if (r < p_readmit + p_return) {
            t = end + 31 * DAY_S + (int64_t)(rng_exp(&s->rng, revolving ? 90 : 260) * DAY_S);
            acute = rng_chance(&s->rng, 0.8);
        } else {
            break;
        }
        t = t / 60 * 60;
    }
    return 0;
}

static int
contact_cmp(const void *a, const void *b)
{
    const contact_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->center != y->center)
        return x->center < y->center ? -1 : 1;
    return (x->person > y->person) - (x->person < y->person);
}

/* New persons per year, region-wide; tuned so that ~10,500 are admitted a year. */
#define ARRIVALS_PER_YEAR 6550.0

static int
gen_contacts(sim_t *s)
{
    /* Five years of warm-up, so that the first year already holds returning patients. */
    int64_t t = s->from - 5 * 365 * DAY_S;
    double mean_gap = 365.2425 * DAY_S / ARRIVALS_PER_YEAR;
    rng_t arrivals;
    sim_stream(s, STREAM_ARRIVALS, 0, 0);
    arrivals = s->rng;
    for (uint64_t i = 0;; i++) {
        t += (int64_t)rng_exp(&arrivals, mean_gap);
        if (t >= s->to)
            break;
        bool child = rng_chance(&arrivals, 0.08);
        sim_stream(s, STREAM_PERSON, i, 0);
        int r = person_chain(s, t / 60 * 60, child);
        if (r < 0)
            return r;
    }
    /* Admission numbers follow time, as a source system's would. */
    qsort(s->contacts, s->ncontacts, sizeof(contact_t), contact_cmp);
    for (size_t i = 0; i < s->ncontacts; i++) {
        const contact_t *c = &s->contacts[i];
        rec_t *r = rec_add(s, REC_ADM, c->center, c->start);
        if (!r)
            return -ENOMEM;
        if (r->fmonth < month_index(s->from))
            r->fmonth = month_index(s->from);
        s->contacts[i].num = r->num;
        r->person = c->person;
        r->a = c->acute;
        r->b = c->legal;
        r->ward = c->ward;
        sim_stream(s, STREAM_AGE, (uint64_t)c->person, (uint64_t)c->start);
        if (rng_chance(&s->rng, 0.3)) {
            r->flags |= F_AGE;
            r->n = (int16_t)age_at(s, c->person, c->start);
        }
        /*
         * Every discharge is made, also one after the cut (write_history
         * leaves it out), and is numbered as its admission: a count of
         * discharges would number the later ones by where the cut lies.
         */
        {
            rec_t *d = rec_add(s, REC_DIS, c->center, c->end);
            if (!d)
                return -ENOMEM;
            d->num = r->num;
            d->person = c->person;
            d->ref = s->contacts[i].num;
            d->a = c->outcome;
            d->ward = c->ward;
        }
    }
    return 0;
}

/* The part of [lo, hi) a record of year y may use, within the history. */
static bool
year_window(const sim_t *s, int y, int64_t *lo, int64_t *hi)
{
    int64_t ys = local_midnight(y, 1, 1), ye = local_midnight(y + 1, 1, 1);
    if (*lo < ys)
        *lo = ys;
    if (*lo < s->from)
        *lo = s->from;
    if (*hi > ye)
        *hi = ye;
    if (*hi > s->to)
        *hi = s->to;
    return *hi > *lo;
}

/* The share of year y that the history covers, 0..1. */
static double
year_fraction(const sim_t *s, int y)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (!year_window(s, y, &lo, &hi))
        return 0;
    return (double)(hi - lo) / (double)(local_midnight(y + 1, 1, 1) - local_midnight(y, 1, 1));
}

/* Contacts of one center overlapping one year, with cumulative weights. */
typedef struct {
    size_t n, cap;
    uint32_t *idx;
    double *cum;
} cands_t;

/*
 * Collects the contacts of `center` with room for an episode in year y.
 * Coercion weighs involuntary and revolving-door contacts, and long ones,
 * heavier; consultations weigh every contact day alike.
 */
static int
cands_collect(const sim_t *s, cands_t *c, int center, int y, bool coercion)
{
    c->n = 0;
    double total = 0;
    for (size_t i = 0; i < s->ncontacts; i++) {
        const contact_t *k = &s->contacts[i];
        if (k->center != center)
            continue;
        int64_t lo = k->start + HOUR_S, hi = k->end - HOUR_S;
        if (!year_window(s, y, &lo, &hi))
            continue;
        double days = fmin((double)(hi - lo) / DAY_S, 60.0);
        double w = coercion ? days * (k->legal ? 12.0 : 1.0) * (k->revolving ? 2.0 : 1.0) : days;
        if (c->n == c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : 1024;
            uint32_t *ni = realloc(c->idx, ncap * sizeof(*ni));
            if (!ni)
                return -ENOMEM;
            c->idx = ni;
            double *nc = realloc(c->cum, ncap * sizeof(*nc));
            if (!nc)
                return -ENOMEM;
            c->cum = nc;
            c->cap = ncap;
        }
        total += w;
        c->idx[c->n] = (uint32_t)i;
        c->cum[c->n++] = total;
    }
    return 0;
}

static const contact_t *
cands_pick(sim_t *s, const cands_t *c)
{
    if (c->n == 0)
        return NULL;
    double x = rng_unit(&s->rng) * c->cum[c->n - 1];
    size_t lo = 0, hi = c->n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return &s->contacts[c->idx[lo]];
}

/* A random instant of contact k within year y, on the minute. */
static int64_t
instant_in(sim_t *s, const contact_t *k, int y)
{
    int64_t lo = k->start + HOUR_S, hi = k->end - HOUR_S;
    year_window(s, y, &lo, &hi);
    return rng_between(&s->rng, lo, hi) / 60 * 60;
}

/* The share of the region's episodes registered at a center. */
static double
coercion_share(int center)
{
    double w[NCENTERS], total = 0;
    for (size_t i = 0; i < NCENTERS; i++) {
        w[i] = (double)centers[i].population[3];
        if (i == BUC)
            w[i] *= 0.03;
        if (i == SCT_HANS)
            w[i] *= 1.8;
        total += w[i];
    }
    return w[center] / total;
}

/* The kind's region-wide episodes in year y, before a center's share. */
static double
kind_per_year(int center, size_t kind, int y)
{
    double yearly = kind_rate[kind].yearly;
    if (kind <= 2)
        yearly *= center_trend[center];
    return kind_rate[kind].per_2021 * pow(yearly, y - 2021);
}

/* One episode of `kind` on a contact of cands in year y; voluntary: a voluntary belt. */
static int
coercion_add(sim_t *s, const cands_t *cands, int center, int y, size_t kind, bool voluntary)
{
    const contact_t *k = cands_pick(s, cands);
    rec_t *e = rec_add(s, REC_COE, center, instant_in(s, k, y));
    if (!e)
        return -ENOMEM;
    e->person = k->person;
    e->ref = k->num;
    e->a = (uint8_t)kind;
    e->ward = k->ward;
    if (rng_chance(&s->rng, 0.05))
        e->ref = 0; /* registered without its contact */
    double hours = -1;
    if (kind == 0)
        hours = rng_lognormal(&s->rng, 10, 0.85);
    else if (kind == 1)
        hours = (5 + rng_unit(&s->rng) * 25) / 60.0;
    else if (kind == 10)
        hours = 24 + rng_exp(&s->rng, 72);
    if (hours >= 0) {
        int64_t end = e->t + (int64_t)(hours * 3600) / 60 * 60;
        if (end > k->end - 15 * 60)
            end = k->end - 15 * 60;
        if (end <= e->t)
            end = e->t + 15 * 60;
        e->end = end; /* written only when before the cut */
    }
    if (voluntary)
        e->flags |= F_VOLUNTARY;
    return 0;
}

static int
gen_coercion(sim_t *s, cands_t *cands, int center, int y)
{
    int r = cands_collect(s, cands, center, y, true);
    if (r < 0)
        return r;
    if (cands->n == 0)
        return 0;
    sim_stream(s, STREAM_COERCION, (uint64_t)center, (uint64_t)y);
    double frac = year_fraction(s, y) * coercion_share(center);
    for (size_t kind = 0; kind < NKINDS; kind++) {
        double n = kind_per_year(center, kind, y) * frac;
        long count = lround(n);
        /* Voluntary belt fixations are registered too, and are not coercion. */
        long voluntary = kind == 0 ? lround(n * 0.03) : 0;
        for (long i = 0; i < count + voluntary; i++)
            if ((r = coercion_add(s, cands, center, y, kind, i >= count)) < 0)
                return r;
    }
    return 0;
}

/*
 * --deteriorate: the extra intrusive episodes (belt, physical restraint,
 * sedative medication) that lift center's rate to worse[center] times its
 * trend from worse_from[center] on. They come after the ordinary episodes
 * and from a stream of their own, so every other record is the same as
 * without the option; only this center's later COE- numbers move.
 */
static int
gen_deterioration(sim_t *s, cands_t *cands, int center, int y)
{
    int64_t from = s->from;
    int r = 0;

    if (s->worse[center] <= 1.0)
        return 0;
    /* year_window clamps to s->from: the episodes fall on or after worse_from. */
    if (s->worse_from[center] > s->from)
        s->from = s->worse_from[center];
    double frac = year_fraction(s, y) * coercion_share(center);
    if (frac > 0)
        r = cands_collect(s, cands, center, y, true);
    if (frac > 0 && r == 0 && cands->n > 0) {
        sim_stream(s, STREAM_WORSE, (uint64_t)center, (uint64_t)y);
        for (size_t kind = 0; kind <= 2 && r == 0; kind++) {
            long count = lround(kind_per_year(center, kind, y) * frac * (s->worse[center] - 1.0));
            for (long i = 0; i < count && r == 0; i++)
                r = coercion_add(s, cands, center, y, kind, false);
        }
    }
    s->from = from;
    return r;
}

/* Social nurse and social chief physician consultations, from 2022. */
static int
gen_consultations(sim_t *s, cands_t *cands, int center, int y)
{
    if (y < 2022 || center == BUC)
        return 0;
    int r = cands_collect(s, cands, center, y, false);
    if (r < 0)
        return r;
    sim_stream(s, STREAM_CONSULT, (uint64_t)center, (uint64_t)y);
    double n = 2600.0 * pow(1.15, y - 2022) * year_fraction(s, y) * coercion_share(center);
    long count = lround(n);
    for (long i = 0; i < count; i++) {
        const contact_t *k = rng_chance(&s->rng, 0.85) ? cands_pick(s, cands) : NULL;
        int64_t t;
        if (k) {
            t = instant_in(s, k, y);
        } else {
            int64_t lo = INT64_MIN, hi = INT64_MAX;
            if (!year_window(s, y, &lo, &hi))
                return 0;
            t = rng_between(&s->rng, lo, hi) / 60 * 60;
        }
        rec_t *e = rec_add(s, REC_CON, center, t);
        if (!e)
            return -ENOMEM;
        double rr = rng_unit(&s->rng);
        e->a = rr < 0.6 ? 0 : rr < 0.9 ? 1 : 2;
        if (e->a == 1)
            e->b = (uint8_t)(rng_chance(&s->rng, 0.5) ? 0 : rng_chance(&s->rng, 0.6) ? 1 : 5);
        else
            e->b = (uint8_t)rng_below(&s->rng, 6);
        e->n = (int16_t)(10 + rng_below(&s->rng, 110));
        if (k) {
            e->person = k->person;
            e->ward = k->ward;
        } else {
            e->flags |= F_NOPATIENT;
        }
    }
    return 0;
}

/* Referrals to child and adolescent psychiatry and their treatment starts. */
static int
gen_referrals(sim_t *s, int y)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (!year_window(s, y, &lo, &hi))
        return 0;
    sim_stream(s, STREAM_REFERRAL, (uint64_t)y, 0);
    long count = lround(4200.0 * pow(1.03, y - 2021) * year_fraction(s, y));
    /* Waits grow a little each year, so the 60-day share moves. */
    double median_wait = 36.0 + 2.0 * (y - 2021);
    for (long i = 0; i < count; i++) {
        int64_t t = rng_between(&s->rng, lo, hi) / 60 * 60;
        int32_t p = person_new(s, t, 3 + rng_unit(&s->rng) * 15, BUC, false);
        if (p < 0)
            return -ENOMEM;
        rec_t *e = rec_add(s, REC_REF, BUC, t);
        if (!e)
            return -ENOMEM;
        e->person = p;
        if (rng_chance(&s->rng, 0.3)) {
            e->flags |= F_AGE;
            e->n = (int16_t)age_at(s, p, t);
        }
        uint32_t ref = e->num;
        double wait = fmax(rng_lognormal(&s->rng, median_wait, 0.55), 2.0);
        int64_t start = t + (int64_t)(wait * DAY_S) / 60 * 60;
        /* Referred elsewhere; one that starts after the cut is still waiting there. */
        if (rng_chance(&s->rng, 0.02))
            continue;
        rec_t *ts = rec_add(s, REC_TRS, BUC, start);
        if (!ts)
            return -ENOMEM;
        ts->person = p;
        ts->ref = ref;
    }
    return 0;
}

/*
 * Corrections (the same id re-sent later with a changed field), voids and
 * bad records, each in a file one to three months later than the record it
 * touches. Each record draws from a stream of its own, and those whose file
 * comes after the cut are left out when writing, so that the noise of the
 * history does not depend on the cut.
 */
static int
gen_noise(sim_t *s)
{
    size_t n = s->nrecs;
    for (size_t i = 0; i < n; i++) {
        rec_t r = s->recs[i];
        sim_stream(s, STREAM_NOISE, (uint64_t)r.type << 8 | r.center, r.num);
        double x = rng_unit(&s->rng);
        int later = r.fmonth + 1 + (int)rng_below(&s->rng, 3);
        if (x < 0.004 && r.type != REC_REF) {
            rec_t *c = rec_add(s, r.type, r.center, r.t);
            if (!c)
                return -ENOMEM;
            s->counter[r.center][r.type]--; /* the same id again */
            *c = r;
            c->fmonth = later;
            c->ward = (uint8_t)(1 + (r.ward % 6));
            if (r.type == REC_COE && r.end != NO_END)
                c->end = r.end + 1800;
        } else if (x < 0.0055 && ((r.type == REC_COE && r.a >= 3) || r.type == REC_CON)) {
            rec_t *v = rec_add(s, r.type, r.center, r.t);
            if (!v)
                return -ENOMEM;
            s->counter[r.center][r.type]--;
            *v = r;
            v->fmonth = later;
            v->flags |= F_VOID;
        } else if (x >= 0.999 && r.t >= s->from) {
            rec_t *b = rec_add(s, REC_BAD, r.center, r.t);
            if (!b)
                return -ENOMEM;
            /* Numbered after the record it copies: a count would depend on the cut. */
            b->num = (uint32_t)r.type * 100000000u + r.num;
            b->person = r.person;
            b->a = (uint8_t)rng_below(&s->rng, 4);
        }
    }
    return 0;
}

static int
type_rank(const rec_t *r)
{
    static const int rank[REC__N] = {[REC_DIS] = 0, [REC_ADM] = 1, [REC_REF] = 2, [REC_COE] = 3,
                                     [REC_CON] = 4, [REC_TRS] = 5, [REC_BAD] = 6};
    return rank[r->type];
}

static int
rec_cmp(const void *a, const void *b)
{
    const rec_t *x = a, *y = b;
    if (x->center != y->center)
        return x->center < y->center ? -1 : 1;
    if (x->fmonth != y->fmonth)
        return x->fmonth < y->fmonth ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (type_rank(x) != type_rank(y))
        return type_rank(x) < type_rank(y) ? -1 : 1;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return (x->flags & F_VOID) - (y->flags & F_VOID);
}

/*
 * Keeps what the centers had exported by the cut: records before it, in
 * files of months up to its own. Marks who is in a stay at the cut, or died
 * in one begun before it: the live events do not admit them again.
 */
static void
sim_cut(sim_t *s)
{
    int last_month = month_index(s->cut - 1);
    size_t n = 0;

    for (size_t i = 0; i < s->nrecs; i++)
        if (s->recs[i].t < s->cut && s->recs[i].fmonth <= last_month)
            s->recs[n++] = s->recs[i];
    s->nrecs = n;
    for (size_t i = 0; i < s->ncontacts; i++) {
        const contact_t *c = &s->contacts[i];
        if (c->start < s->cut && (c->end >= s->cut || c->outcome == OUT_DEATH))
            s->persons[c->person].open = 1;
    }
}

/* Runs the whole model into s->recs, cut and sorted for writing. */
static int
sim_run(sim_t *s)
{
    int r = gen_contacts(s);
    if (r < 0)
        return r;
    cands_t cands = {0};
    int y0 = to_local(s->from).y, y1 = to_local(s->to - 1).y;
    for (int y = y0; y <= y1 && r == 0; y++) {
        for (int c = 0; c < (int)NCENTERS && r == 0; c++) {
            r = gen_coercion(s, &cands, c, y);
            if (r == 0)
                r = gen_consultations(s, &cands, c, y);
            if (r == 0)
                r = gen_deterioration(s, &cands, c, y);
        }
        if (r == 0)
            r = gen_referrals(s, y);
    }
    free(cands.idx);
    free(cands.cum);
    if (r == 0)
        r = gen_noise(s);
    if (r < 0)
        return r;
    sim_cut(s);
    qsort(s->recs, s->nrecs, sizeof(rec_t), rec_cmp);
    return 0;
}

/* ---- Writing ---------------------------------------------------------- */

/* The columns of a CSV file; NDJSON writes the same fields as keys. */
enum {
    COL_TYPE,
    COL_ID,
    COL_TIME,
    COL_PATIENT,
    COL_WARD,
    COL_ADMISSION,
    COL_MODE,
    COL_LEGAL,
    COL_AGE,
    COL_OUTCOME,
    COL_KIND,
    COL_END,
    COL_VOLUNTARY,
    COL_ROLE,
    COL_MINUTES,
    COL_REFERRAL,
    COL_VOID,
    COL__N
};
static const char *const col_name[COL__N] = {
    "type",    "id",   "time", "patient",   "ward", "admission", "mode",     "legal", "age",
    "outcome", "kind", "end",  "voluntary", "role", "minutes",   "referral", "void"};
/* Columns whose NDJSON value is a bare JSON literal (number or boolean). */
static const bool col_raw[COL__N] = {
    [COL_AGE] = true, [COL_VOLUNTARY] = true, [COL_MINUTES] = true, [COL_VOID] = true};

typedef struct {
    char buf[COL__N][40];
    bool set[COL__N];
} row_t;

static void row_set(row_t *w, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
row_set(row_t *w, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->buf[col], sizeof(w->buf[col]), fmt, ap);
    va_end(ap);
    w->set[col] = true;
}

/* The person's CPR number as the source system exports it: with or without the dash. */
static const char *
cpr_text(const person_t *p, char buf[12])
{
    if (p->nodash)
        memcpy(buf, p->cpr, 11);
    else
        snprintf(buf, 12, "%.6s-%.4s", p->cpr, p->cpr + 6);
    return buf;
}

static void
row_patient(const sim_t *s, row_t *w, int32_t person)
{
    char cpr[12];
    row_set(w, COL_PATIENT, "%s", cpr_text(&s->persons[person], cpr));
}

/* Fills the fields of one record. */
static void
row_fill(const sim_t *s, const rec_t *r, row_t *w)
{
    char tb[32];
    memset(w->set, 0, sizeof(w->set));
    row_set(w, COL_TYPE, "%s", rec_type[r->type]);
    row_set(w, COL_ID, "%s-%07" PRIu32, rec_prefix[r->type], r->num);
    format_time(r->t, tb, sizeof(tb));
    row_set(w, COL_TIME, "%s", tb);
    if (r->flags & F_VOID) {
        row_set(w, COL_VOID, "true");
        return;
    }
    if (r->person >= 0 && !(r->flags & F_NOPATIENT))
        row_patient(s, w, r->person);
    if (r->ward)
        row_set(w, COL_WARD, "%c%d", "ABGKNSHU"[r->center], r -> ward);
    if (r->flags & F_AGE)
        row_set(w, COL_AGE, "%d", r->n);
    switch (r->type) {
    case REC_ADM:
        row_set(w, COL_MODE, "%s", r->a ? "acute" : "planned");
        if (r->b || r->num % 2)
            row_set(w, COL_LEGAL, "%s", legal_name[r->b]);
        break;
    case REC_DIS:
        row_set(w, COL_ADMISSION, "ADM-%07" PRIu32, r->ref);
        if (r->a != OUT_REGULAR || r->num % 3 == 0)
            row_set(w, COL_OUTCOME, "%s", outcome_name[r->a]);
        break;
    case REC_COE:
        row_set(w, COL_KIND, "%s", kind_name[r->a]);
        if (r->ref)
            row_set(w, COL_ADMISSION, "ADM-%07" PRIu32, r->ref);
        if (r->end != NO_END && r->end < s->cut) { /* else still going on at the cut */
            format_time(r->end, tb, sizeof(tb));
            row_set(w, COL_END, "%s", tb);
        }
        if (r->flags & F_VOLUNTARY)
            row_set(w, COL_VOLUNTARY, "true");
        break;
    case REC_CON:
        row_set(w, COL_ROLE, "%s", role_name[r->a]);
        row_set(w, COL_KIND, "%s", consult_name[r->b]);
        row_set(w, COL_MINUTES, "%d", r->n);
        break;
    case REC_TRS:
        row_set(w, COL_REFERRAL, "REF-%07" PRIu32, r->ref);
        break;
    case REC_BAD:
        /* Deliberately broken: each breaks one rule of records.md. */
        switch (r->a) {
        case 0:
            row_set(w, COL_KIND, "belt_fixation");
            break;
        case 1:
            row_set(w, COL_KIND, "belt");
            row_set(w, COL_TIME, "%.4s-02-30T25:61:00+01:00", tb);
            break;
        case 2:
            row_set(w, COL_TYPE, "transfer");
            break;
        default:
            row_set(w, COL_KIND, "belt");
            format_time(r->t - HOUR_S, tb, sizeof(tb));
            row_set(w, COL_END, "%s", tb);
            break;
        }
        break;
    default:
        break;
    }
}

static void
write_ndjson(FILE *f, const row_t *w)
{
    bool first = true;
    fputc('{', f);
    for (int c = 0; c < COL__N; c++) {
        if (!w->set[c])
            continue;
        fprintf(f, col_raw[c] ? "%s\"%s\":%s" : "%s\"%s\":\"%s\"", first ? "" : ",", col_name[c],
                w->buf[c]);
        first = false;
    }
    fputs("}\n", f);
}

/* Every value is of a safe alphabet, so no cell needs quoting. */
static void
write_csv(FILE *f, const row_t *w)
{
    for (int c = 0; c < COL__N; c++) {
        if (c)
            fputc(',', f);
        if (w->set[c])
            fputs(w->buf[c], f);
    }
    fputs("\r\n", f);
}

/*
 * File names sort in time order: the UTC instant of the month's start, then
 * the month for a human reader. Live files use the instant they are written.
 */
static void
file_name(int fmonth, bool csv, char *buf, size_t size)
{
    int y = fmonth / 12, m = fmonth % 12 + 1;
    int64_t t = local_midnight(y, m, 1);
    int64_t days = floor_div(t, DAY_S), sod = t - days * DAY_S;
    int uy, um, ud;
    psy_civil_from_days(days, &uy, &um, &ud);
    snprintf(buf, size, "%04d%02d%02dT%02d%02d%02dZ-%04d-%02d.%s", uy, um, ud, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60), y, m, csv ? "csv" : "ndjson");
}

/* Opens dir/.name.tmp for writing. */
static FILE *
tmp_open(const char *dir, const char *name, char *tmp, size_t size)
{
    snprintf(tmp, size, "%s/.%s.tmp", dir, name);
    return fopen(tmp, "w");
}

/* Closes f and renames dir/.name.tmp into place; -errno on failure. */
static int
tmp_commit(FILE *f, const char *tmp, const char *dir, const char *name)
{
    char path[4096];
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return -EIO;
    }
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        unlink(tmp);
        return -ENAMETOOLONG;
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

static int
mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Months written as CSV, so that both readers see history. */
static bool
month_is_csv(int fmonth)
{
    return fmonth % 5 == 2;
}

static int
write_history(const sim_t *s, const char *out)
{
    size_t i = 0;
    while (i < s->nrecs) {
        int center = s->recs[i].center;
        size_t j = i;
        while (j < s->nrecs && s->recs[j].center == center)
            j++;
        if (!s->want[center]) {
            i = j;
            continue;
        }
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", out, centers[center].id);
        int r = mkdir_p(dir);
        if (r < 0)
            return r;
        size_t nfiles = 0, nrecords = j - i;
        while (i < j) {
            int fm = s->recs[i].fmonth;
            bool csv = month_is_csv(fm);
            char name[128], tmp[4300];
            file_name(fm, csv, name, sizeof(name));
            FILE *f = tmp_open(dir, name, tmp, sizeof(tmp));
            if (!f)
                return -errno;
            if (csv) {
                for (int c = 0; c < COL__N; c++)
                    fprintf(f, "%s%s", c ? "," : "", col_name[c]);
                fputs("\r\n", f);
            }
            row_t w;
            for (; i < j && s->recs[i].fmonth == fm; i++) {
                row_fill(s, &s->recs[i], &w);
                if (csv)
                    write_csv(f, &w);
                else
                    write_ndjson(f, &w);
            }
            r = tmp_commit(f, tmp, dir, name);
            if (r < 0)
                return r;
            nfiles++;
        }
        printf("%-17s %4zu files %8zu records\n", centers[center].id, nfiles, nrecords);
    }
    return 0;
}

/* ---- Live events ------------------------------------------------------ */

static volatile sig_atomic_t live_stop;

static void
on_signal(int sig)
{
    (void)sig;
    live_stop = 1;
}

typedef struct {
    uint8_t center;
    int32_t person;
    uint32_t adm;  /* admission number */
    uint32_t belt; /* an ongoing belt's number, 0 for none */
    int64_t belt_t;
    uint8_t ward;
} live_contact_t;

#define LIVE_MAX 512 /* open live contacts; more are not admitted */

/*
 * Writes one live file per wanted center with what happened since the last
 * tick: admissions of known patients, coercion on open live contacts (a
 * belt is registered without an end and re-sent with it when it ends), and
 * discharges. Ids carry the run's start instant, so they never collide with
 * history or with an earlier live run.
 */
static int
live_tick(sim_t *s, const char *out, int64_t now, int64_t run, live_contact_t *open, size_t *nopen)
{
    char stamp[32];
    {
        int64_t days = floor_div(now, DAY_S), sod = now - days * DAY_S;
        int y, m, d;
        psy_civil_from_days(days, &y, &m, &d);
        snprintf(stamp, sizeof(stamp), "%04d%02d%02dT%02d%02d%02dZ", y, m, d, (int)(sod / 3600),
                 (int)(sod / 60 % 60), (int)(sod % 60));
    }
    char tb[32], cpr[12];
    format_time(now, tb, sizeof(tb));
    for (size_t c = 0; c < NCENTERS; c++) {
        if (!s->want[c])
            continue;
        char dir[4096], name[128], tmp[4300];
        snprintf(dir, sizeof(dir), "%s/%s", out, centers[c].id);
        int r = mkdir_p(dir);
        if (r < 0)
            return r;
        snprintf(name, sizeof(name), "%s-live.ndjson", stamp);
        FILE *f = tmp_open(dir, name, tmp, sizeof(tmp));
        if (!f)
            return -errno;
        size_t nlines = 0;
        for (size_t i = 0; i < *nopen; i++) {
            live_contact_t *k = &open[i];
            if (k->center != c)
                continue;
            const person_t *p = &s->persons[k->person];
            if (k->belt && rng_chance(&s->rng, 0.3)) {
                char bt[32];
                format_time(k->belt_t, bt, sizeof(bt));
                fprintf(
                    f,
                    "{\"type\":\"coercion\",\"id\":\"L%" PRId64 "-COE-%" PRIu32
                    "\",\"time\":\"%s\",\"end\":\"%s\",\"patient\":\"%s\",\"admission\":\"L%" PRId64
                    "-ADM-%" PRIu32 "\",\"kind\":\"belt\"}\n",
                    run, k->belt, bt, tb, cpr_text(p, cpr), run, k->adm);
                k->belt = 0;
                nlines++;
            } else if (!k->belt && rng_chance(&s->rng, 0.04)) {
                int kind = rng_chance(&s->rng, 0.4) ? 0 : 1 + (int)rng_below(&s->rng, 3);
                uint32_t num = ++s->counter[c][REC_COE];
                fprintf(f,
                        "{\"type\":\"coercion\",\"id\":\"L%" PRId64 "-COE-%" PRIu32
                        "\",\"time\":\"%s\",\"patient\":\"%s\",\"admission\":\"L%" PRId64
                        "-ADM-%" PRIu32 "\",\"kind\":\"%s\"}\n",
                        run, num, tb, cpr_text(p, cpr), run, k->adm, kind_name[kind]);
                if (kind == 0) {
                    k->belt = num;
                    k->belt_t = now;
                }
                nlines++;
            }
        }
        for (size_t i = 0; i < *nopen;) {
            live_contact_t *k = &open[i];
            if (k->center != c || k->belt || !rng_chance(&s->rng, 0.05)) {
                i++;
                continue;
            }
            const person_t *p = &s->persons[k->person];
            fprintf(f,
                    "{\"type\":\"discharge\",\"id\":\"L%" PRId64 "-DIS-%" PRIu32
                    "\",\"time\":\"%s\",\"patient\":\"%s\",\"admission\":\"L%" PRId64
                    "-ADM-%" PRIu32 "\",\"outcome\":\"%s\"}\n",
                    run, k->adm, tb, cpr_text(p, cpr), run, k->adm,
                    rng_chance(&s->rng, 0.1) ? "self_discharge" : "regular");
            nlines++;
            *k = open[--*nopen];
        }
        double mean = c == BUC ? 0.1 : c == 2 ? 0.05 : 0.35;
        while (rng_chance(&s->rng, mean) && *nopen < LIVE_MAX) {
            /* A known patient of this center without an open contact. */
            int32_t pi = -1;
            for (int tries = 0; tries < 64 && pi < 0; tries++) {
                int32_t x = (int32_t)rng_below(&s->rng, s->npersons);
                if (s->persons[x].home == c && !s->persons[x].open)
                    pi = x;
            }
            if (pi < 0)
                break;
            s->persons[pi].open = 1;
            live_contact_t *k = &open[(*nopen)++];
            k->center = (uint8_t)c;
            k->person = pi;
            k->adm = ++s->counter[c][REC_ADM];
            k->belt = 0;
            k->ward = (uint8_t)(1 + rng_below(&s->rng, 6));
            double rl = rng_unit(&s->rng);
            fprintf(f,
                    "{\"type\":\"admission\",\"id\":\"L%" PRId64 "-ADM-%" PRIu32
                    "\",\"time\":\"%s\",\"patient\":\"%s\",\"mode\":\"%s\",\"legal\":\"%s\","
                    "\"ward\":\"%c%d\"}\n",
                    run, k->adm, tb, cpr_text(&s->persons[pi], cpr),
                    rng_chance(&s->rng, 0.85) ? "acute" : "planned",
                    legal_name[rl < 0.06   ? 1
                               : rl < 0.13 ? 2
                                           : 0],
                    "ABGKNSHU"[c], k -> ward);
            nlines++;
        }
        if (nlines == 0) {
            fclose(f);
            unlink(tmp);
            continue;
        }
        r = tmp_commit(f, tmp, dir, name);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
run_live(sim_t *s, const char *out, int seconds)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    live_contact_t *open = calloc(LIVE_MAX, sizeof(*open));
    if (!open)
        return -ENOMEM;
    size_t nopen = 0;
    int64_t run = (int64_t)time(NULL);
    /* A live run is reseeded by its start, so two runs do not repeat each other. */
    s->rng.s ^= (uint64_t)run * UINT64_C(0x9e3779b97f4a7c15);
    int r = 0;
    printf("live: a new file every %d s in each center's folder; Ctrl-C stops\n", seconds);
    fflush(stdout);
    while (!live_stop) {
        struct timespec ts = {.tv_sec = seconds, .tv_nsec = 0};
        while (!live_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        if (live_stop)
            break;
        r = live_tick(s, out, (int64_t)time(NULL), run, open, &nopen);
        if (r < 0)
            break;
    }
    free(open);
    return r;
}

/* ---- The command ------------------------------------------------------ */

static void
usage(FILE *f)
{
    fputs("Usage: psymon simulate --out DIR [--from YYYY-MM-DD] [--to YYYY-MM-DD|now]\n"
          "                       [--seed N] [--center ID]... [--live SECONDS] [--no-history]\n"
          "                       [--deteriorate CENTER[:YYYY-MM[:FACTOR]]]...\n"
          "       psymon simulate --centers\n"
          "\n"
          "Writes synthetic inbox files of Region Hovedstaden's psychiatric centers into\n"
          "DIR/<center-id>/, one file per month (some as CSV), from --from (default\n"
          "2021-01-01) through --to (a whole day; default now). The same --seed (default 1)\n"
          "gives the same files. --center limits the output to the named centers.\n"
          "--live SECONDS then keeps adding a small file of fresh events every SECONDS\n"
          "seconds until SIGINT or SIGTERM; --no-history skips the history files.\n"
          "--deteriorate makes CENTER's intrusive coercion (belt, physical restraint,\n"
          "sedative medication) run at FACTOR (default 1.5) times its trend from the\n"
          "month YYYY-MM on (default 2024-01), so that the alerts have something to find.\n"
          "--centers prints the simulated centers and their catchment populations as\n"
          "tab-separated lines (id, name, one column per year), the region last.\n",
          f);
}

/*
 * Prints the center table as tab-separated lines (a header, one line per
 * center, then the region), so that shell scripts write configurations
 * whose centers and populations match the simulation.
 */
static void
print_centers(void)
{
    printf("id\tname");
    for (int y = SIM_YEAR_FIRST; y <= SIM_YEAR_LAST; y++)
        printf("\t%d", y);
    putchar('\n');
    for (size_t i = 0; i < NCENTERS; i++) {
        printf("%s\t%s", centers[i].id, centers[i].name);
        for (int y = 0; y < SIM_YEARS; y++)
            printf("\t%ld", centers[i].population[y]);
        putchar('\n');
    }
    printf("region\tRegion Hovedstaden");
    for (int y = SIM_YEAR_FIRST; y <= SIM_YEAR_LAST; y++)
        printf("\t%ld", sim_region_population(y));
    putchar('\n');
}

/* Parses YYYY-MM-DD strictly. */
static bool
parse_date(const char *s, int *y, int *m, int *d)
{
    char extra;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", y, m, d, &extra) != 3)
        return false;
    if (*y < 1970 || *y > 2100 || *m < 1 || *m > 12 || *d < 1 || *d > 31)
        return false;
    int yy, mm, dd;
    psy_civil_from_days(psy_days_from_civil(*y, (unsigned)*m, (unsigned)*d), &yy, &mm, &dd);
    return yy == *y && mm == *m && dd == *d;
}

/*
 * Parses --deteriorate's CENTER[:YYYY-MM[:FACTOR]] into s. Returns false,
 * with a message on stderr, for an unknown center, a bad month or a factor
 * outside (1, 100].
 */
static bool
parse_deteriorate(sim_t *s, const char *arg)
{
    char id[64], rest[64] = "";
    const char *colon = strchr(arg, ':');
    size_t len = colon ? (size_t)(colon - arg) : strlen(arg), i;
    int y = 2024, m = 1;
    double factor = 1.5;

    if (len >= sizeof(id) || (colon && strlen(colon + 1) >= sizeof(rest)))
        goto bad;
    memcpy(id, arg, len);
    id[len] = '\0';
    if (colon)
        snprintf(rest, sizeof(rest), "%s", colon + 1);
    for (i = 0; i < NCENTERS; i++)
        if (strcmp(id, centers[i].id) == 0)
            break;
    if (i == NCENTERS) {
        fprintf(stderr, "psymon simulate: --deteriorate: unknown center '%s'\n", id);
        return false;
    }
    if (colon) {
        char *f = strchr(rest, ':'), extra, *end;
        if (f)
            *f++ = '\0';
        if (strlen(rest) != 7 || sscanf(rest, "%4d-%2d%c", &y, &m, &extra) != 2 || y < 1970 ||
            y > 2100 || m < 1 || m > 12)
            goto bad;
        if (f) {
            errno = 0;
            factor = strtod(f, &end);
            if (errno || end == f || *end || !(factor > 1.0 && factor <= 100.0))
                goto bad;
        }
    }
    s->worse[i] = factor;
    s->worse_from[i] = local_midnight(y, m, 1);
    return true;
bad:
    fprintf(stderr,
            "psymon simulate: --deteriorate: want CENTER[:YYYY-MM[:FACTOR]], FACTOR above 1 "
            "and at most 100: %s\n",
            arg);
    return false;
}

int
cmd_simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"center", required_argument, NULL, 'c'},
        {"live", required_argument, NULL, 'l'},
        {"no-history", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {"centers", no_argument, NULL, 'C'},
        {"deteriorate", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    sim_t s;
    memset(&s, 0, sizeof(s));
    const char *out = NULL, *from = "2021-01-01", *to = "now";
    long live = 0;
    bool history = true;
    s.seed = 1;
    s.all_centers = true;

    optind = 0;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "+:o:f:t:s:c:l:nh", opts, NULL)) != -1) {
        char *end;
        switch (o) {
        case 'o':
            out = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 's':
            errno = 0;
            s.seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "psymon simulate: --seed: not a number: %s\n", optarg);
                return 2;
            }
            break;
        case 'c': {
            size_t i;
            for (i = 0; i < NCENTERS; i++)
                if (strcmp(optarg, centers[i].id) == 0)
                    break;
            if (i == NCENTERS) {
                fprintf(stderr, "psymon simulate: --center: unknown center '%s'; one of", optarg);
                for (i = 0; i < NCENTERS; i++)
                    fprintf(stderr, " %s%s", centers[i].id, i + 1 < NCENTERS ? "," : "\n");
                return 2;
            }
            s.all_centers = false;
            s.want[i] = true;
            break;
        }
        case 'l':
            errno = 0;
            live = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || live < 1 || live > 86400) {
                fprintf(stderr, "psymon simulate: --live: want 1-86400 seconds: %s\n", optarg);
                return 2;
            }
            break;
        case 'n':
            history = false;
            break;
        case 'D':
            if (!parse_deteriorate(&s, optarg))
                return 2;
            break;
        case 'C':
            print_centers();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "psymon simulate: %s '%s' (see --help)\n",
                    o == ':' ? "a value is missing after" : "unknown option", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "psymon simulate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!out) {
        fprintf(stderr, "psymon simulate: --out DIR is required (see --help)\n");
        return 2;
    }
    if (s.all_centers)
        for (size_t i = 0; i < NCENTERS; i++)
            s.want[i] = true;

    int y, m, d;
    if (!parse_date(from, &y, &m, &d)) {
        fprintf(stderr, "psymon simulate: --from: want YYYY-MM-DD: %s\n", from);
        return 2;
    }
    s.from = local_midnight(y, m, d);
    int64_t now = (int64_t)time(NULL);
    if (strcmp(to, "now") == 0) {
        s.cut = now;
    } else if (parse_date(to, &y, &m, &d)) {
        s.cut = local_midnight(y, m, d + 1); /* the whole day; day 32 normalises */
    } else {
        fprintf(stderr, "psymon simulate: --to: want YYYY-MM-DD or now: %s\n", to);
        return 2;
    }
    if (s.cut > now + 24 * HOUR_S)
        fprintf(stderr, "psymon simulate: warning: --to lies in the future; a collector "
                        "rejects records more than 24 h ahead of its clock\n");
    if (s.cut <= s.from) {
        fprintf(stderr, "psymon simulate: --to must lie after --from\n");
        return 2;
    }
    s.to = local_midnight(to_local(s.cut - 1).y + 1, 1, 1);

    int r = mkdir_p(out);
    if (r < 0) {
        fprintf(stderr, "psymon simulate: %s: %s\n", out, strerror(-r));
        return 1;
    }
    r = sim_run(&s);
    if (r == 0 && history)
        r = write_history(&s, out);
    if (r == 0 && live > 0) {
        fflush(stdout);
        r = run_live(&s, out, (int)live);
    }
    free(s.persons);
    free(s.contacts);
    free(s.recs);
    if (r < 0) {
        fprintf(stderr, "psymon simulate: %s: %s\n", out, strerror(-r));
        return 1;
    }
    return 0;
}

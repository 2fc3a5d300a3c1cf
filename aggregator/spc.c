/*
 * spc: the charts of spc.md, computed as qicharts2 computes them. The
 * comments name the qicharts2 function each step mirrors, so that a reader
 * with its source at hand can compare line by line.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "spc.h"

/* A name of spc.md's tables: a whole KPI name, or a family by its prefix ("coercion_episodes:"). */
typedef struct {
    const char *name;
    spc_chart_t chart;
    spc_direction_t dir;
} spc_kpi_t;

static const spc_kpi_t spc_kpis[] = {
    {"readmission_rate_30d", SPC_CHART_P, SPC_DIR_LOWER},
    {"readmission_rate_7d", SPC_CHART_P, SPC_DIR_LOWER},
    {"self_discharge_share", SPC_CHART_P, SPC_DIR_LOWER},
    {"belt_share_of_patients", SPC_CHART_P, SPC_DIR_LOWER},
    {"involuntary_admission_share", SPC_CHART_P, SPC_DIR_LOWER},
    {"wait_within_60d_share", SPC_CHART_P, SPC_DIR_HIGHER},
    {"intrusive_per_1000_bed_days", SPC_CHART_U, SPC_DIR_LOWER},
    {"admissions", SPC_CHART_C, SPC_DIR_NEUTRAL},
    {"discharges", SPC_CHART_C, SPC_DIR_NEUTRAL},
    {"patients", SPC_CHART_C, SPC_DIR_NEUTRAL},
    {"involuntary_admissions", SPC_CHART_C, SPC_DIR_LOWER},
    {"coercion_episodes:", SPC_CHART_C, SPC_DIR_LOWER},
    {"coercion_persons:", SPC_CHART_C, SPC_DIR_LOWER},
    {"intrusive_episodes", SPC_CHART_C, SPC_DIR_LOWER},
    {"intrusive_persons", SPC_CHART_C, SPC_DIR_LOWER},
    {"coerced_persons", SPC_CHART_C, SPC_DIR_LOWER},
    {"belt_over_48h", SPC_CHART_C, SPC_DIR_LOWER},
    {"consultations", SPC_CHART_C, SPC_DIR_HIGHER},
    {"consultations:", SPC_CHART_C, SPC_DIR_HIGHER},
    {"consulted_patients", SPC_CHART_C, SPC_DIR_HIGHER},
    {"treatment_starts", SPC_CHART_C, SPC_DIR_HIGHER},
    {"referrals_overdue", SPC_CHART_C, SPC_DIR_LOWER},
    {"records", SPC_CHART_C, SPC_DIR_NEUTRAL},
    {"records_inconsistent", SPC_CHART_C, SPC_DIR_LOWER},
    {"bed_days", SPC_CHART_I, SPC_DIR_NEUTRAL},
    {"belt_median_hours", SPC_CHART_I, SPC_DIR_LOWER},
    {"wait_median_days", SPC_CHART_I, SPC_DIR_LOWER},
    {"median_days_to_readmission", SPC_CHART_I, SPC_DIR_HIGHER},
};

/* The table entry of a KPI the engine knows, or NULL. */
static const spc_kpi_t *
spc_kpi_lookup(const char *name)
{
    if (!name || kpi_find(name) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof(spc_kpis) / sizeof(spc_kpis[0]); i++) {
        const char *t = spc_kpis[i].name;
        size_t len = strlen(t);

        if (t[len - 1] == ':' ? strncmp(name, t, len) == 0 : strcmp(name, t) == 0)
            return &spc_kpis[i];
    }
    return NULL;
}

spc_chart_t
spc_chart_of(const char *name)
{
    const spc_kpi_t *k = spc_kpi_lookup(name);

    return k ? k->chart : SPC_CHART_NONE;
}

spc_direction_t
spc_direction_of(const char *name)
{
    const spc_kpi_t *k = spc_kpi_lookup(name);

    return k ? k->dir : SPC_DIR_NEUTRAL;
}

double
spc_chart_scale(spc_chart_t chart)
{
    switch (chart) {
    case SPC_CHART_P:
        return 100.0;
    case SPC_CHART_U:
        return 1000.0;
    default:
        return 1.0;
    }
}

const char *
spc_chart_name(spc_chart_t chart)
{
    switch (chart) {
    case SPC_CHART_P:
        return "p";
    case SPC_CHART_U:
        return "u";
    case SPC_CHART_C:
        return "c";
    case SPC_CHART_I:
        return "i";
    default:
        return NULL;
    }
}

const char *
spc_variation_name(spc_variation_t v)
{
    static const char *const names[] = {"", "common", "high", "low"};

    return (unsigned)v < 4 ? names[v] : "";
}

const char *
spc_assessment_name(spc_assessment_t a)
{
    static const char *const names[] = {"", "common", "improvement", "concern", "neutral"};

    return (unsigned)a < 5 ? names[a] : "";
}

const char *
spc_assurance_name(spc_assurance_t a)
{
    static const char *const names[] = {"", "pass", "fail", "hit_and_miss"};

    return (unsigned)a < 4 ? names[a] : "";
}

/*
 * Unsigned integers of up to SPC_BIG_LIMBS 32-bit limbs, little-endian:
 * enough for 20 * 2^SPC_POINTS_MAX, the largest number spc_qbinom05 meets.
 */
#define SPC_BIG_LIMBS ((SPC_POINTS_MAX + 8) / 32 + 2)

typedef struct {
    uint32_t l[SPC_BIG_LIMBS];
} spc_big_t;

static void
spc_big_mul(spc_big_t *a, uint32_t v)
{
    uint64_t carry = 0;

    for (size_t i = 0; i < SPC_BIG_LIMBS; i++) {
        uint64_t t = (uint64_t)a->l[i] * v + carry;
        a->l[i] = (uint32_t)t;
        carry = t >> 32;
    }
}

/* a /= v; exact in every use here (binomial coefficients). */
static void
spc_big_div(spc_big_t *a, uint32_t v)
{
    uint64_t rem = 0;

    for (size_t i = SPC_BIG_LIMBS; i-- > 0;) {
        uint64_t t = (rem << 32) | a->l[i];
        a->l[i] = (uint32_t)(t / v);
        rem = t % v;
    }
}

static void
spc_big_add(spc_big_t *a, const spc_big_t *b)
{
    uint64_t carry = 0;

    for (size_t i = 0; i < SPC_BIG_LIMBS; i++) {
        uint64_t t = (uint64_t)a->l[i] + b->l[i] + carry;
        a->l[i] = (uint32_t)t;
        carry = t >> 32;
    }
}

static int
spc_big_cmp(const spc_big_t *a, const spc_big_t *b)
{
    for (size_t i = SPC_BIG_LIMBS; i-- > 0;)
        if (a->l[i] != b->l[i])
            return a->l[i] < b->l[i] ? -1 : 1;
    return 0;
}

long
spc_qbinom05(size_t trials)
{
    spc_big_t c = {{1}}, sum = {{0}}, pow2 = {{0}};

    if (trials > SPC_POINTS_MAX)
        return -1;
    /* P(X <= k) >= 1/20  <=>  20 * sum_{i <= k} C(trials, i) >= 2^trials. */
    pow2.l[trials / 32] = (uint32_t)1 << (trials % 32);
    for (size_t k = 0; k <= trials; k++) {
        spc_big_t t;

        spc_big_add(&sum, &c);
        t = sum;
        spc_big_mul(&t, 20);
        if (spc_big_cmp(&t, &pow2) >= 0)
            return (long)k;
        spc_big_mul(&c, (uint32_t)(trials - k));
        spc_big_div(&c, (uint32_t)(k + 1));
    }
    return (long)trials; /* not reached: the whole sum is 2^trials */
}

static kpi_num_t
spc_real(double v)
{
    return (kpi_num_t){.set = true, .integer = false, .v = v};
}

static kpi_num_t
spc_int(long v)
{
    return (kpi_num_t){.set = true, .integer = true, .v = (double)v};
}

/*
 * y of a point before scaling (qicharts2's y): n / d for p and u, the value
 * for c and i. False when the point is empty.
 */
static bool
spc_y(spc_chart_t chart, const spc_in_t *p, double *ret)
{
    if (!p->value.set || !isfinite(p->value.v))
        return false;
    if (chart == SPC_CHART_P || chart == SPC_CHART_U) {
        if (!p->numerator.set || !p->denominator.set || !(p->denominator.v > 0))
            return false;
        *ret = p->numerator.v / p->denominator.v;
        return true;
    }
    *ret = p->value.v;
    return true;
}

/* The per-point limits before scaling (qic.p, qic.u, qic.c; qic.i's are constant). */
static bool
spc_limits(spc_chart_t chart, double cl, const spc_in_t *p, double *ret_lcl, double *ret_ucl)
{
    double s, d = p->denominator.set ? p->denominator.v : 0;

    switch (chart) {
    case SPC_CHART_P:
        if (!(d > 0))
            return false;
        s = sqrt(cl * (1 - cl) / d);
        *ret_lcl = fmax(cl - 3 * s, 0);
        *ret_ucl = fmin(cl + 3 * s, 1);
        return true;
    case SPC_CHART_U:
        if (!(d > 0))
            return false;
        s = sqrt(cl / d);
        *ret_lcl = fmax(cl - 3 * s, 0);
        *ret_ucl = cl + 3 * s;
        return true;
    case SPC_CHART_C:
        s = sqrt(cl);
        *ret_lcl = fmax(cl - 3 * s, 0);
        *ret_ucl = cl + 3 * s;
        return true;
    default:
        return false;
    }
}

static int
spc_sign(double v)
{
    return (v > 0) - (v < 0);
}

/* The words of spc.md's last section, for the latest included point `last`. */
static void
spc_words(spc_direction_t dir, const spc_in_t *in, const spc_point_t *pts, double ys, int last_sign,
          size_t last_run, spc_summary_t *s, size_t last)
{
    const spc_point_t *p = &pts[last];
    bool limits = p->lcl.set && p->ucl.set;
    bool long_run = s->n_useful > 0 && last_sign != 0 && (double)last_run > s->longest_run_max.v;
    const kpi_num_t *t = &in[last].target;

    if (limits && ys > p->ucl.v)
        s->variation = SPC_VAR_HIGH;
    else if (limits && ys < p->lcl.v)
        s->variation = SPC_VAR_LOW;
    else if (long_run)
        s->variation = last_sign > 0 ? SPC_VAR_HIGH : SPC_VAR_LOW;
    else
        s->variation = SPC_VAR_COMMON;

    if (s->variation == SPC_VAR_COMMON)
        s->assessment = SPC_ASSESS_COMMON;
    else if (dir == SPC_DIR_NEUTRAL)
        s->assessment = SPC_ASSESS_NEUTRAL;
    else if ((s->variation == SPC_VAR_HIGH) == (dir == SPC_DIR_HIGHER))
        s->assessment = SPC_ASSESS_IMPROVEMENT;
    else
        s->assessment = SPC_ASSESS_CONCERN;

    s->assurance = SPC_ASSURE_NONE;
    if (!limits || !t->set || !isfinite(t->v) || dir == SPC_DIR_NEUTRAL)
        return;
    /* Beyond the limit on the good side: every month meets the target. */
    if (dir == SPC_DIR_LOWER)
        s->assurance = t->v > p->ucl.v   ? SPC_ASSURE_PASS
                       : t->v < p->lcl.v ? SPC_ASSURE_FAIL
                                         : SPC_ASSURE_HIT_AND_MISS;
    else
        s->assurance = t->v < p->lcl.v   ? SPC_ASSURE_PASS
                       : t->v > p->ucl.v ? SPC_ASSURE_FAIL
                                         : SPC_ASSURE_HIT_AND_MISS;
}

int
spc_compute(spc_chart_t chart, spc_direction_t dir, const spc_in_t *in, size_t n,
            spc_point_t *ret_points, spc_summary_t *ret_summary)
{
    double y[SPC_POINTS_MAX];
    bool empty[SPC_POINTS_MAX], included[SPC_POINTS_MAX], inb[SPC_POINTS_MAX];
    double scale = spc_chart_scale(chart);
    size_t nbase = 0, nb = 0, last = SIZE_MAX;
    double cl = 0, sn = 0, sd = 0, sy = 0, lcl_i = 0, ucl_i = 0;
    bool have_cl, have_i_limits = false;
    spc_summary_t s = {0};

    if (!spc_chart_name(chart) || !ret_summary || (n > 0 && (!in || !ret_points)) ||
        n > SPC_POINTS_MAX)
        return -EINVAL;

    /* Which points count (qicharts2's include) and which are baseline points (its freeze). */
    for (size_t i = 0; i < n; i++) {
        empty[i] = !spc_y(chart, &in[i], &y[i]);
        included[i] = !empty[i] && !in[i].provisional;
        if (included[i])
            last = i;
        if (included[i] && in[i].in_baseline_year)
            nbase++;
    }
    for (size_t i = 0; i < n; i++) {
        inb[i] = included[i] && (nbase >= 12 ? in[i].in_baseline_year : true);
        if (!inb[i])
            continue;
        nb++;
        sy += y[i];
        if (chart == SPC_CHART_P || chart == SPC_CHART_U) {
            sn += in[i].numerator.v;
            sd += in[i].denominator.v;
        }
    }

    /* The centre line over B: qic.p and qic.u sum n and d, qic.c and qic.i take the mean. */
    have_cl = nb > 0;
    if (have_cl)
        cl = (chart == SPC_CHART_P || chart == SPC_CHART_U) ? sn / sd : sy / (double)nb;

    /* qic.i: the mean moving range over consecutive months that are both in B. */
    if (have_cl && chart == SPC_CHART_I) {
        double mr = 0;
        size_t nmr = 0;

        for (size_t i = 1; i < n; i++)
            if (inb[i] && inb[i - 1]) {
                mr += fabs(y[i] - y[i - 1]);
                nmr++;
            }
        if (nmr > 0) {
            double sigma = mr / (double)nmr / 1.128;
            lcl_i = cl - 3 * sigma;
            ucl_i = cl + 3 * sigma;
            have_i_limits = true;
        }
    }

    for (size_t i = 0; i < n; i++) {
        spc_point_t *p = &ret_points[i];
        double lcl, ucl;
        bool lim = false;

        memset(p, 0, sizeof(*p));
        p->baseline = nbase >= 12 && inb[i];
        if (!empty[i])
            p->y = spc_real(y[i] * scale);
        if (!have_cl)
            continue;
        p->cl = spc_real(cl * scale);
        if (chart == SPC_CHART_I) {
            lim = have_i_limits;
            lcl = lcl_i;
            ucl = ucl_i;
        } else {
            lim = spc_limits(chart, cl, &in[i], &lcl, &ucl);
        }
        if (!lim)
            continue;
        p->lcl = spc_real(lcl * scale);
        p->ucl = spc_real(ucl * scale);
        /* As qic.agg: on the scaled values, strictly beyond a limit. */
        if (!empty[i])
            p->sigma_signal = y[i] * scale > p->ucl.v || y[i] * scale < p->lcl.v;
    }

    /* runs.analysis: signs against the centre line, points on it dropped. */
    int prev = 0, last_sign = 0;
    size_t run = 0, longest = 0, crossings = 0;
    for (size_t i = 0; have_cl && i < n; i++) {
        int sg;

        if (!included[i])
            continue;
        sg = spc_sign(y[i] - cl);
        if (i == last)
            last_sign = sg;
        if (sg == 0)
            continue;
        s.n_useful++;
        if (sg == prev) {
            run++;
        } else {
            if (prev != 0)
                crossings++;
            run = 1;
            prev = sg;
        }
        if (run > longest)
            longest = run;
    }
    if (s.n_useful > 0) {
        /*
         * R's round() rounds half to even; log2 of a whole number is never
         * exactly k + 0.5, so nearbyint() (also half to even) agrees always.
         */
        long lmax = (long)nearbyint(log2((double)s.n_useful)) + 3;
        long cmin = spc_qbinom05(s.n_useful - 1);

        s.longest_run = spc_int((long)longest);
        s.longest_run_max = spc_int(lmax);
        s.crossings = spc_int((long)crossings);
        s.crossings_min = spc_int(cmin);
        s.runs_signal = (long)longest > lmax || (long)crossings < cmin;
    }
    /* `run` is now the length of the run the last useful point ends. */
    if (last != SIZE_MAX)
        spc_words(dir, in, ret_points, y[last] * scale, last_sign, run, &s, last);
    *ret_summary = s;
    return 0;
}

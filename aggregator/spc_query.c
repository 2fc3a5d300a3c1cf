/*
 * Building SPC series from the KPI engine. The months, the first month of
 * a series and the targets are decided here; the chart itself is spc.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpi_query.h"
#include "spc_query.h"

static bool
given(const char *s)
{
    return s && *s;
}

/* January of the first baseline year starts every series (spc.md; default 2021). */
static int
spc_query_base_year(const psy_agg_conf_t *conf)
{
    int y = 0;

    for (size_t i = 0; i < conf->nbaseline && i < PSY_BASELINE_MAX; i++)
        if (y == 0 || conf->baseline_years[i] < y)
            y = conf->baseline_years[i];
    return y ? y : 2021;
}

static bool
spc_query_baseline_year(const psy_agg_conf_t *conf, int year)
{
    for (size_t i = 0; i < conf->nbaseline && i < PSY_BASELINE_MAX; i++)
        if (conf->baseline_years[i] == year)
            return true;
    return false;
}

static int
spc_query_months_between(int fy, int fm, int ty, int tm)
{
    return (ty * 12 + tm) - (fy * 12 + fm) + 1;
}

size_t
spc_query_months(const spc_query_t *q)
{
    int n = spc_query_months_between(spc_query_base_year(q->conf), 1, q->to_y, q->to_m);

    return n > 0 ? (size_t)n : 0;
}

int
spc_query_build(const psy_agg_conf_t *conf, const char *kpis, const char *center, const char *from,
                const char *to, const char *as_of, psy_time_t now, spc_query_t *ret, char *err,
                size_t err_size)
{
    psy_time_t t = now;
    int fy = 0, fm = 0, ty, tm, d, r;
    int *levels = NULL, *kidx = NULL;
    size_t nlevels = 0, nkpis = 0;

    if (err_size)
        err[0] = '\0';
    if (!given(kpis)) {
        snprintf(err, err_size, "--kpi is required (NAME,...; a KPI with an SPC chart)");
        return -EINVAL;
    }
    if (given(as_of) && psy_time_parse(as_of, strlen(as_of), &t) < 0) {
        snprintf(err, err_size, "--as-of must be an RFC 3339 time, e.g. 2024-03-01T00:00:00Z");
        return -EINVAL;
    }
    if (given(from) && !kpi_query_month(from, &fy, &fm)) {
        snprintf(err, err_size, "--from must be YYYY-MM");
        return -EINVAL;
    }
    if (given(to)) {
        if (!kpi_query_month(to, &ty, &tm)) {
            snprintf(err, err_size, "--to must be YYYY-MM");
            return -EINVAL;
        }
    } else {
        /* The last complete month: the one before the month holding as_of. */
        psy_civil_date(t, &ty, &tm, &d);
        if (--tm < 1) {
            tm = 12;
            ty--;
        }
    }
    if (fy && spc_query_months_between(fy, fm, ty, tm) < 1) {
        snprintf(err, err_size, "--to is before --from");
        return -EINVAL;
    }
    if (spc_query_months_between(spc_query_base_year(conf), 1, ty, tm) > PSY_HTTP_PERIODS_MAX) {
        snprintf(err, err_size, "--to lies more than %d months after the first baseline month",
                 PSY_HTTP_PERIODS_MAX);
        return -EINVAL;
    }
    r = kpi_query_levels(conf, center, &levels, &nlevels, err, err_size);
    if (r < 0)
        return r;
    r = kpi_query_kpis(kpis, &kidx, &nkpis, err, err_size);
    if (r < 0)
        goto fail;
    for (size_t i = 0; i < nkpis; i++)
        if (spc_chart_of(kpi_name((size_t)kidx[i])) == SPC_CHART_NONE) {
            snprintf(err, err_size,
                     "KPI '%s' has no SPC chart (it has no monthly value); see spc.md for "
                     "the KPIs that have one",
                     kpi_name((size_t)kidx[i]));
            r = -EINVAL;
            goto fail;
        }
    *ret = (spc_query_t){.conf = conf,
                         .as_of = t,
                         .nlevels = nlevels,
                         .levels = levels,
                         .nkpis = nkpis,
                         .kpis = kidx,
                         .from_y = fy,
                         .from_m = fm,
                         .to_y = ty,
                         .to_m = tm};
    return 0;
fail:
    free(levels);
    free(kidx);
    return r;
}

void
spc_query_free(spc_query_t *q)
{
    if (!q)
        return;
    free((void *)q->levels);
    free((void *)q->kpis);
    memset(q, 0, sizeof(*q));
}

void
spc_query_result_destroy(spc_query_result_t **rp)
{
    spc_query_result_t *r;

    if (!rp || !*rp)
        return;
    r = *rp;
    for (size_t i = 0; i < r->nseries; i++)
        free(r->series[i].points);
    free(r->series);
    free(r);
    *rp = NULL;
}

/* The constant target of [goal KPI], if configured. */
static kpi_num_t
spc_query_goal(const psy_agg_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->ngoals && i < PSY_GOALS_MAX; i++)
        if (strcmp(conf->goals[i].kpi, name) == 0)
            return (kpi_num_t){.set = true, .integer = false, .v = conf->goals[i].target};
    return (kpi_num_t){0};
}

/* Records are not looked for before this year. */
#define SPC_QUERY_EARLIEST_YEAR 1900

/*
 * Sets before[l] when level l holds records before January of base_y: its
 * series then starts in that January whatever that month holds. Asked only
 * when some level has no records in that January, which is rare.
 */
static int
spc_query_before(const kpi_model_t *m, const spc_query_t *q, int base_y, bool *before)
{
    size_t ny = (size_t)(base_y - SPC_QUERY_EARLIEST_YEAR), n = 0;
    int records = kpi_find("records");
    kpi_period_t *years;
    kpi_row_t *rows = NULL;
    kpi_query_t kq;
    int r;

    if (base_y <= SPC_QUERY_EARLIEST_YEAR)
        return 0;
    years = calloc(ny, sizeof(*years));
    if (!years)
        return -ENOMEM;
    for (size_t i = 0; i < ny; i++)
        years[i] =
            (kpi_period_t){.kind = KPI_YEAR, .year = SPC_QUERY_EARLIEST_YEAR + (int)i, .month = 1};
    kq = (kpi_query_t){.conf = q->conf,
                       .as_of = q->as_of,
                       .nperiods = ny,
                       .periods = years,
                       .nlevels = q->nlevels,
                       .levels = q->levels,
                       .nkpis = 1,
                       .kpis = &records};
    r = kpi_model_compute(m, &kq, &rows, &n);
    if (r == 0 && n != ny * q->nlevels)
        r = -EINVAL;
    for (size_t i = 0; r == 0 && i < n; i++)
        if (rows[i].value.set && rows[i].value.v != 0)
            before[i % q->nlevels] = true;
    free(rows);
    free(years);
    return r;
}

/*
 * Fills series s (level l, KPI k of q) from the engine's rows, whose
 * columns are records (0), the monthly target (target_col, when >= 0) and
 * then q's KPIs. before: the level has records before the first month.
 */
static int
spc_query_series(const spc_query_t *q, const kpi_period_t *months, size_t nm, const kpi_row_t *rows,
                 size_t nk, size_t l, size_t k, int target_col, bool before, spc_series_t *s)
{
    const char *name = kpi_name((size_t)q->kpis[k]);
    bool monthly_target = target_col >= 0 && strcmp(name, "intrusive_episodes") == 0;
    kpi_num_t goal = spc_query_goal(q->conf, name);
    size_t col = 2 + k, first = nm;
    spc_in_t *in;
    spc_point_t *pts;
    int r;

    s->level = q->levels[l];
    s->kpi = q->kpis[k];
    s->chart = spc_chart_of(name);
    s->direction = spc_direction_of(name);
#define ROW(p, c) (&rows[((p)*q->nlevels + l) * nk + (c)])
    for (size_t p = 0; p < nm; p++)
        if (before || (ROW(p, 0)->value.set && ROW(p, 0)->value.v != 0)) {
            first = p;
            break;
        }
    s->npoints = nm - first;
    if (s->npoints == 0)
        return spc_compute(s->chart, s->direction, NULL, 0, NULL, &s->summary);
    s->points = calloc(s->npoints, sizeof(*s->points));
    in = calloc(s->npoints, sizeof(*in));
    pts = calloc(s->npoints, sizeof(*pts));
    if (!s->points || !in || !pts) {
        free(in);
        free(pts);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->npoints; i++) {
        const kpi_row_t *row = ROW(first + i, col);
        spc_row_t *o = &s->points[i];

        o->period = months[first + i];
        o->value = row->value;
        o->numerator = row->numerator;
        o->denominator = row->denominator;
        o->provisional = row->provisional;
        o->in_baseline_year = spc_query_baseline_year(q->conf, o->period.year);
        o->target = monthly_target ? ROW(first + i, (size_t)target_col)->value : goal;
        in[i] = (spc_in_t){.value = o->value,
                           .numerator = o->numerator,
                           .denominator = o->denominator,
                           .provisional = o->provisional,
                           .in_baseline_year = o->in_baseline_year,
                           .target = o->target};
    }
#undef ROW
    if (q->from_y) {
        int skip = spc_query_months_between(months[first].year, months[first].month, q->from_y,
                                            q->from_m) -
                   1;
        s->first = skip > 0 ? (size_t)skip : 0;
        if (s->first > s->npoints)
            s->first = s->npoints;
    }
    r = spc_compute(s->chart, s->direction, in, s->npoints, pts, &s->summary);
    for (size_t i = 0; r == 0 && i < s->npoints; i++)
        s->points[i].spc = pts[i];
    free(in);
    free(pts);
    return r;
}

int
spc_query_compute(const kpi_model_t *m, const spc_query_t *q, spc_query_result_t **ret)
{
    size_t nm, nk;
    int base_y, target = kpi_find("intrusive_target_episodes");
    kpi_period_t *months = NULL;
    int *kidx = NULL;
    kpi_row_t *rows = NULL;
    size_t nrows = 0;
    bool *before = NULL, ask = false;
    spc_query_result_t *res = NULL;
    kpi_query_t kq;
    int r = -ENOMEM;

    if (!m || !q || !q->conf || !ret || (q->nlevels && !q->levels) || (q->nkpis && !q->kpis))
        return -EINVAL;
    for (size_t k = 0; k < q->nkpis; k++)
        if (spc_chart_of(kpi_name((size_t)q->kpis[k])) == SPC_CHART_NONE)
            return -EINVAL;
    nm = spc_query_months(q);
    if (nm > SPC_POINTS_MAX)
        return -EINVAL;
    base_y = spc_query_base_year(q->conf);
    nk = 2 + q->nkpis;
    months = calloc(nm ? nm : 1, sizeof(*months));
    kidx = calloc(nk, sizeof(*kidx));
    res = calloc(1, sizeof(*res));
    before = calloc(q->nlevels + 1, sizeof(*before));
    if (!months || !kidx || !res || !before)
        goto out;
    res->series = calloc(q->nlevels * q->nkpis + 1, sizeof(*res->series));
    if (!res->series)
        goto out;
    for (size_t i = 0; i < nm; i++)
        months[i] = (kpi_period_t){
            .kind = KPI_MONTH, .year = base_y + (int)(i / 12), .month = 1 + (int)(i % 12)};
    /* Column 0 finds each level's first month; column 1 holds the monthly target, if any. */
    kidx[0] = kpi_find("records");
    kidx[1] = target >= 0 ? target : kidx[0];
    for (size_t k = 0; k < q->nkpis; k++)
        kidx[2 + k] = q->kpis[k];
    kq = (kpi_query_t){.conf = q->conf,
                       .as_of = q->as_of,
                       .nperiods = nm,
                       .periods = months,
                       .nlevels = q->nlevels,
                       .levels = q->levels,
                       .nkpis = nk,
                       .kpis = kidx};
    if (nm > 0) {
        r = kpi_model_compute(m, &kq, &rows, &nrows);
        if (r < 0)
            goto out;
        if (nrows != nm * q->nlevels * nk) {
            r = -EINVAL;
            goto out;
        }
        for (size_t l = 0; l < q->nlevels; l++)
            ask |= !rows[l * nk].value.set || rows[l * nk].value.v == 0;
    }
    if (ask && (r = spc_query_before(m, q, base_y, before)) < 0)
        goto out;
    for (size_t l = 0; l < q->nlevels; l++)
        for (size_t k = 0; k < q->nkpis; k++) {
            spc_series_t *s = &res->series[res->nseries++];

            r = spc_query_series(q, months, nm, rows, nk, l, k, target >= 0 ? 1 : -1, before[l], s);
            if (r < 0)
                goto out;
        }
    *ret = res;
    res = NULL;
    r = 0;
out:
    spc_query_result_destroy(&res);
    free(rows);
    free(before);
    free(kidx);
    free(months);
    return r;
}

/*
 * alert_facts: KPI model and store status in, alert facts out
 * (alert_facts.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_facts.h"
#include "spc.h"
#include "spc_query.h"

/* The month before y-m. */
static void
month_before(int *y, int *m)
{
    if (--*m < 1) {
        *m = 12;
        --*y;
    }
}

/*
 * What one alert_value_t of every level is: a KPI in a period, stored at a
 * byte offset. A fallback takes the slot only where the wants before it (the
 * same slot, later periods) left a provisional value.
 */
typedef struct {
    kpi_period_t period;
    const char *kpi;
    size_t off;
    bool fallback;
} want_t;

#define WANTS_MAX (8 + 3 * PSY_ALERTS_MAX)

/* The period of the same kind just before p. */
static kpi_period_t
period_before(kpi_period_t p)
{
    switch (p.kind) {
    case KPI_YEAR:
        p.year--;
        break;
    case KPI_QUARTER:
        p.month -= 3;
        if (p.month < 1) {
            p.month += 12;
            p.year--;
        }
        break;
    default: /* a month, or the 12 months ending with one */
        month_before(&p.year, &p.month);
        break;
    }
    return p;
}

/* The index of p in ps[0..*n), appended when new. */
static size_t
period_slot(kpi_period_t *ps, size_t *n, kpi_period_t p)
{
    for (size_t i = 0; i < *n; i++)
        if (ps[i].kind == p.kind && ps[i].year == p.year && ps[i].month == p.month)
            return i;
    ps[*n] = p;
    return (*n)++;
}

static size_t
kpi_slot(int *ks, size_t *n, int k)
{
    for (size_t i = 0; i < *n; i++)
        if (ks[i] == k)
            return i;
    ks[*n] = k;
    return (*n)++;
}

/*
 * Computes every wanted value at every level (centers, then region) with
 * one kpi_model_compute() call: the engine passes over the whole model once
 * per call whatever it is asked, so six calls cost six passes.
 */
static int
fill(const kpi_model_t *m, const psy_agg_conf_t *conf, psy_time_t as_of, const want_t *w, size_t nw,
     alert_level_t *ret)
{
    int levels[PSY_CENTERS_MAX + 1], kpis[WANTS_MAX];
    kpi_period_t periods[WANTS_MAX];
    size_t pslot[WANTS_MAX], kslot[WANTS_MAX];
    size_t nl = conf->ncenters + 1, np = 0, nk = 0, nrows = 0;
    kpi_row_t *rows = NULL;
    int r;

    for (size_t i = 0; i < nw; i++) {
        int k = kpi_find(w[i].kpi);
        pslot[i] = period_slot(periods, &np, w[i].period);
        /* A threshold rule on a name the engine does not know never fires. */
        kslot[i] = k < 0 ? SIZE_MAX : kpi_slot(kpis, &nk, k);
    }
    for (size_t i = 0; i < conf->ncenters; i++)
        levels[i] = (int)i;
    levels[conf->ncenters] = KPI_LEVEL_REGION;
    kpi_query_t q = {.conf = conf,
                     .as_of = as_of,
                     .nperiods = np,
                     .periods = periods,
                     .nlevels = nl,
                     .levels = levels,
                     .nkpis = nk,
                     .kpis = kpis};
    r = kpi_model_compute(m, &q, &rows, &nrows);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nw; i++) {
        if (kslot[i] == SIZE_MAX)
            continue;
        for (size_t l = 0; l < nl; l++) {
            size_t at = (pslot[i] * nl + l) * nk + kslot[i];
            alert_value_t *v = (alert_value_t *)((char *)&ret[l] + w[i].off);
            if (at >= nrows || (w[i].fallback && !v->provisional))
                continue;
            v->set = rows[at].value.set;
            v->v = rows[at].value.v;
            v->provisional = rows[at].provisional;
            kpi_period_name(&w[i].period, v->period, sizeof v->period);
        }
    }
    free(rows);
    return 0;
}

int
alert_facts_from_kpi(const kpi_model_t *m, const psy_agg_conf_t *conf, psy_time_t as_of,
                     alert_level_t *ret, size_t *ret_n)
{
    want_t w[WANTS_MAX];
    size_t nw = 0;
    int y, mo, d, ly, lm;
    int r;

    if (!m || !conf || !ret || conf->ncenters > PSY_CENTERS_MAX || conf->nalerts > PSY_ALERTS_MAX)
        return -EINVAL;
    memset(ret, 0, (conf->ncenters + 1) * sizeof *ret);
    for (size_t i = 0; i < conf->ncenters; i++) {
        snprintf(ret[i].level, sizeof ret[i].level, "%s", conf->centers[i].id);
        snprintf(ret[i].name, sizeof ret[i].name, "%s",
                 conf->centers[i].name[0] ? conf->centers[i].name : conf->centers[i].id);
    }
    snprintf(ret[conf->ncenters].level, sizeof ret[0].level, "region");
    snprintf(ret[conf->ncenters].name, sizeof ret[0].name, "%s",
             conf->region_name[0] && strcmp(conf->region_name, "region") != 0 ? conf->region_name
                                                                              : "Regionen");

    psy_civil_date(as_of, &y, &mo, &d);
    ly = y;
    lm = mo;
    month_before(&ly, &lm);
    const kpi_period_t r12 = {KPI_R12, ly, lm}, last = {KPI_MONTH, ly, lm},
                       cur = {KPI_MONTH, y, mo};

    w[nw++] = (want_t){r12, "intrusive_on_track", offsetof(alert_level_t, on_track), false};
    w[nw++] = (want_t){r12, "intrusive_reduction", offsetof(alert_level_t, reduction), false};
    w[nw++] = (want_t){r12, "intrusive_target_reduction", offsetof(alert_level_t, target_reduction),
                       false};
    w[nw++] = (want_t){cur, "belt_over_48h", offsetof(alert_level_t, belt_cur), false};
    w[nw++] = (want_t){last, "belt_over_48h", offsetof(alert_level_t, belt_last), false};
    w[nw++] = (want_t){cur, "referrals_overdue", offsetof(alert_level_t, overdue), false};
    for (size_t j = 0; j < conf->nalerts; j++) {
        const psy_alert_conf_t *a = &conf->alerts[j];
        kpi_period_t p = last;
        if (!a->threshold)
            continue;
        switch (a->period) {
        case KPI_QUARTER: /* the quarter before the one holding as_of */
            p = period_before((kpi_period_t){KPI_QUARTER, y, (mo - 1) / 3 * 3 + 1});
            break;
        case KPI_YEAR:
            p = period_before((kpi_period_t){KPI_YEAR, y, 1});
            break;
        case KPI_R12:
            p = r12;
            break;
        default:
            break;
        }
        /*
         * Evaluated like the KPI rules, on the latest final figure: where the
         * latest complete period is still provisional (readmission rates for
         * 30 days and 12 hours after it ends), the period before it, and
         * where that is too (a month after a 30-day or a February one, for a
         * few hours or days), the one before that, final then. Without the
         * second step a rule would see its condition vanish for those hours.
         * (median_days_to_readmission, provisional for a year, is refused
         * but with period = year: conf_check.)
         */
        size_t off = offsetof(alert_level_t, thr) + j * sizeof(alert_value_t);
        kpi_period_t before = period_before(p);
        w[nw++] = (want_t){p, a->kpi, off, false};
        w[nw++] = (want_t){before, a->kpi, off, true};
        w[nw++] = (want_t){period_before(before), a->kpi, off, true};
    }
    r = fill(m, conf, as_of, w, nw, ret);
    if (r < 0)
        return r;
    *ret_n = conf->ncenters + 1;
    return 0;
}

int
alert_facts_spc(alert_level_t *levels, size_t n, const char *level, const alert_spc_t *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(levels[i].level, level) != 0)
            continue;
        if (levels[i].nspc >= ALERT_SPC_MAX)
            return -ENOSPC;
        levels[i].spc[levels[i].nspc++] = *s;
        return 0;
    }
    return -ENOENT;
}

int
alert_facts_spc_model(const kpi_model_t *m, const psy_agg_conf_t *conf, psy_time_t as_of,
                      alert_level_t *levels, size_t n)
{
    static const char *const base[] = {
        "intrusive_per_1000_bed_days", "intrusive_episodes",   "belt_over_48h",
        "readmission_rate_30d",        "self_discharge_share", "wait_within_60d_share"};
    char kpis[(PSY_KPI_NAME_MAX + 2) * (PSY_GOALS_MAX + 8)] = "";
    char err[256];
    spc_query_t q;
    spc_query_result_t *res = NULL;
    size_t len = 0;
    int r;

    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        len += (size_t)snprintf(kpis + len, sizeof kpis - len, "%s%s", len ? "," : "", base[i]);
    for (size_t g = 0; g < conf->ngoals; g++) {
        const char *k = conf->goals[g].kpi;
        bool dup = false;
        for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
            dup |= strcmp(base[i], k) == 0;
        if (!dup && spc_chart_of(k) != SPC_CHART_NONE && len + strlen(k) + 2 < sizeof kpis)
            len += (size_t)snprintf(kpis + len, sizeof kpis - len, ",%s", k);
    }
    r = spc_query_build(conf, kpis, "all", NULL, NULL, NULL, as_of, &q, err, sizeof err);
    if (r < 0)
        return r;
    r = spc_query_compute(m, &q, &res);
    spc_query_free(&q);
    if (r < 0)
        return r;
    for (size_t i = 0; i < res->nseries; i++) {
        const spc_series_t *se = &res->series[i];
        const spc_row_t *last = NULL;
        alert_spc_t a = {0};

        for (size_t p = 0; p < se->npoints; p++)
            if (se->points[p].value.set && !se->points[p].provisional)
                last = &se->points[p];
        snprintf(a.kpi, sizeof a.kpi, "%s", kpi_name((size_t)se->kpi));
        if (last) {
            a.set = true;
            kpi_period_name(&last->period, a.period, sizeof a.period);
            snprintf(a.variation, sizeof a.variation, "%s",
                     spc_variation_name(se->summary.variation));
            snprintf(a.assessment, sizeof a.assessment, "%s",
                     spc_assessment_name(se->summary.assessment));
            snprintf(a.assurance, sizeof a.assurance, "%s",
                     spc_assurance_name(se->summary.assurance));
            a.value = last->value.v;
            a.cl = last->spc.cl.set ? last->spc.cl.v : 0;
            a.has_limits = last->spc.lcl.set && last->spc.ucl.set;
            a.lcl = last->spc.lcl.set ? last->spc.lcl.v : 0;
            a.ucl = last->spc.ucl.set ? last->spc.ucl.v : 0;
            a.has_target = last->target.set;
            a.target = last->target.v;
        }
        const char *lv = se->level == KPI_LEVEL_REGION ? "region" : conf->centers[se->level].id;
        (void)alert_facts_spc(levels, n, lv, &a);
    }
    spc_query_result_destroy(&res);
    return 0;
}

void
alert_facts_collector(const psy_center_conf_t *c, const store_status_t *st, psy_time_t now,
                      psy_time_t started, alert_collector_mem_t *mem, alert_collector_t *ret)
{
    bool fresh = strcmp(mem->center, c->id) != 0;
    bool has_hb = st->version[0] != '\0';

    memset(ret, 0, sizeof *ret);
    snprintf(ret->center, sizeof ret->center, "%s", c->id);
    snprintf(ret->name, sizeof ret->name, "%s", c->name[0] ? c->name : c->id);
    ret->last_seen = st->last_seen != PSY_TIME_NONE ? st->last_seen : started;
    if (ret->last_seen < started && st->last_seen == PSY_TIME_NONE)
        ret->last_seen = started;
    ret->has_heartbeat = has_hb;
    ret->last_inbox_read = has_hb && st->inbox_read != 0 ? st->inbox_read : PSY_TIME_NONE;
    ret->spool_full = st->spool_full;
    ret->clock_offset = st->clock_offset;

    if (fresh) {
        snprintf(mem->center, sizeof mem->center, "%s", c->id);
        mem->backlog = st->backlog;
        mem->backlog_since = now;
        mem->rejected = st->rejected;
        mem->rejected_rose_at = PSY_TIME_NONE;
    }
    /* The backlog shrank, or was empty: "not shrunk" counts from now. */
    if (st->backlog == 0 || st->backlog < mem->backlog)
        mem->backlog_since = now;
    mem->backlog = st->backlog;
    if (st->rejected > mem->rejected)
        mem->rejected_rose_at = now;
    mem->rejected = st->rejected; /* a new spool starts again from 0 */

    ret->backlog = st->backlog;
    ret->backlog_since = mem->backlog_since;
    ret->rejected = st->rejected;
    ret->rejected_rose_at = mem->rejected_rose_at;
}

/*
 * spc_query: the SPC series of spc.md built from the KPI engine's model, for
 * `psymon spc` and /api/v1/spc alike, so that both accept and refuse the
 * same options and print the same numbers.
 *
 * A series is one (level, KPI): a point per month from the series' first
 * month (the later of January of the first baseline year and the level's
 * first month with records) through the query's last month, each point
 * the KPI's month row as the engine returns it plus its target, charted by
 * spc_compute() over the whole series.
 */
#ifndef PSYMON_SPC_QUERY_H
#define PSYMON_SPC_QUERY_H

#include <stddef.h>

#include "kpi.h"
#include "psymon/config.h"
#include "psymon/time.h"
#include "spc.h"

/* What to chart. Build it with spc_query_build() or fill it by hand. */
typedef struct {
    const psy_agg_conf_t *conf;
    psy_time_t as_of;
    size_t nlevels;
    const int *levels; /* center indexes and/or KPI_LEVEL_REGION */
    size_t nkpis;
    const int *kpis;    /* kpi_find() indexes, each with a chart */
    int from_y, from_m; /* the first month printed; 0: the series' first month */
    int to_y, to_m;     /* the last month */
} spc_query_t;

/*
 * Builds *ret from the options of interfaces.md (NULL or "": not given):
 *   kpis    NAME,... (required; every one must have a chart)
 *   center  ID|region|all or a list of them (default all), as psymon kpi
 *   from    YYYY-MM (default: each series' first month)
 *   to      YYYY-MM (default: the last complete month at as_of)
 *   as_of   RFC 3339 (default now)
 * ret->conf is set to conf, which must outlive the query. On success the
 * caller releases the arrays with spc_query_free(). Returns 0, or -EINVAL
 * with a message for the user in err ("KPI 'intrusive_per_100k' has no SPC
 * chart ...") and *ret untouched, or -ENOMEM.
 */
int spc_query_build(const psy_agg_conf_t *conf, const char *kpis, const char *center,
                    const char *from, const char *to, const char *as_of, psy_time_t now,
                    spc_query_t *ret, char *err, size_t err_size);

/* Frees what spc_query_build() allocated and zeroes q. Accepts NULL. */
void spc_query_free(spc_query_t *q);

/* The months the engine is asked for: from January of the first baseline year through q's last. */
size_t spc_query_months(const spc_query_t *q);

/* One month of a series: the KPI's month row, its target (printed unit) and its chart. */
typedef struct {
    kpi_period_t period;
    kpi_num_t value, numerator, denominator, target;
    bool provisional;
    bool in_baseline_year;
    spc_point_t spc;
} spc_row_t;

typedef struct {
    int level; /* center index or KPI_LEVEL_REGION */
    int kpi;   /* kpi_name() index */
    spc_chart_t chart;
    spc_direction_t direction;
    size_t npoints; /* the whole series (none when the level has no records) */
    size_t first;   /* index of the first point to print (--from) */
    spc_row_t *points;
    spc_summary_t summary;
} spc_series_t;

/* Every series of a query: for each level of the query, each of its KPIs. */
typedef struct {
    size_t nseries;
    spc_series_t *series;
} spc_query_result_t;

/*
 * Computes every series of q from m with one kpi_model_compute() call
 * (every month, level and KPI, plus `records` for the first months and
 * `intrusive_target_episodes` for the targets of intrusive_episodes);
 * constant targets come from q->conf's [goal] sections. m must cover
 * q->as_of (kpi_model_covers). *ret is the caller's, released with
 * spc_query_result_destroy(). Returns 0, -EINVAL for a bad query or a model
 * that does not cover it, -ENOMEM.
 */
int spc_query_compute(const kpi_model_t *m, const spc_query_t *q, spc_query_result_t **ret);

/* Frees the result and NULLs *r. Accepts NULL. */
void spc_query_result_destroy(spc_query_result_t **r);

#endif

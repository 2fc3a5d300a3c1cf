/*
 * spc: statistical process control of one monthly KPI series, exactly as
 * ../shared/spec/spc.md and qicharts2 0.8 compute it (p, u, c and i charts,
 * frozen baseline or trial limits, the Anhøj runs rules, and the NHS
 * "Making Data Count" words for the latest point).
 *
 * The pure core: a table of month points in, per-point lines and signals
 * and per-series words out. No sockets, clocks, files or logging; building
 * a series from the KPI engine is spc_query.h's job, printing it
 * spc_format.h's.
 */
#ifndef PSYMON_SPC_H
#define PSYMON_SPC_H

#include <stdbool.h>
#include <stddef.h>

#include "kpi.h"

/* The longest series spc_compute() accepts: a century of months. */
#define SPC_POINTS_MAX 1200

typedef enum {
    SPC_CHART_NONE = -1,
    SPC_CHART_P,
    SPC_CHART_U,
    SPC_CHART_C,
    SPC_CHART_I
} spc_chart_t;

typedef enum { SPC_DIR_NEUTRAL, SPC_DIR_LOWER, SPC_DIR_HIGHER } spc_direction_t;

/* SPC_VAR_NONE (and the other _NONE values) print empty: there is no latest point. */
typedef enum { SPC_VAR_NONE, SPC_VAR_COMMON, SPC_VAR_HIGH, SPC_VAR_LOW } spc_variation_t;

typedef enum {
    SPC_ASSESS_NONE,
    SPC_ASSESS_COMMON,
    SPC_ASSESS_IMPROVEMENT,
    SPC_ASSESS_CONCERN,
    SPC_ASSESS_NEUTRAL
} spc_assessment_t;

typedef enum {
    SPC_ASSURE_NONE,
    SPC_ASSURE_PASS,
    SPC_ASSURE_FAIL,
    SPC_ASSURE_HIT_AND_MISS
} spc_assurance_t;

/*
 * One month of a series, in month order with no month missing: the KPI's
 * month row (value, numerator, denominator and provisional exactly as the
 * engine returns them), whether the month lies in a baseline year, and the
 * month's target in the KPI's printed unit (unset: none).
 */
typedef struct {
    kpi_num_t value, numerator, denominator;
    bool provisional;
    bool in_baseline_year;
    kpi_num_t target;
} spc_in_t;

/*
 * What the chart says about one month. y is the plotted value (n / d for p
 * and u, the value for c and i), unset when the point is empty; y, cl, lcl
 * and ucl are scaled like the KPI's value (a p chart's lines are
 * percentages) and unset where the chart has no such line. baseline is true
 * on the points the lines were frozen from (never with trial limits).
 */
typedef struct {
    bool baseline;
    kpi_num_t y, cl, lcl, ucl;
    bool sigma_signal;
} spc_point_t;

/*
 * What the chart says about the whole series. The four counts are integers,
 * unset when n_useful is 0.
 */
typedef struct {
    size_t n_useful;
    kpi_num_t longest_run, longest_run_max, crossings, crossings_min;
    bool runs_signal;
    spc_variation_t variation;
    spc_assessment_t assessment;
    spc_assurance_t assurance;
} spc_summary_t;

/*
 * The chart of KPI `name` (spc.md's table; `coercion_episodes:<kind>` and
 * the other families by their prefix), or SPC_CHART_NONE for a KPI without
 * a monthly value (per 100,000, the target KPIs) and for a name that is no
 * KPI at all, so that one call answers "may this be charted?".
 */
spc_chart_t spc_chart_of(const char *name);

/* Whether lower or higher is better for KPI `name` (spc.md); neutral for any other name. */
spc_direction_t spc_direction_of(const char *name);

/* What y is multiplied by to print: 100 for p, 1000 for u, 1 for c and i. */
double spc_chart_scale(spc_chart_t chart);

/* "p", "u", "c", "i"; NULL for anything else. */
const char *spc_chart_name(spc_chart_t chart);
/* The words as spc.md prints them; "" for the _NONE values. */
const char *spc_variation_name(spc_variation_t v);
const char *spc_assessment_name(spc_assessment_t a);
const char *spc_assurance_name(spc_assurance_t a);

/*
 * R's qbinom(0.05, trials, 0.5): the smallest k with P(X <= k) >= 0.05 for
 * X binomial(trials, 0.5), the fewest crossings of the centre line that
 * random variation shows in 95 % of series. Computed with exact integers,
 * so no rounding can move a boundary. Returns -1 when trials exceeds
 * SPC_POINTS_MAX.
 */
long spc_qbinom05(size_t trials);

/*
 * Computes the chart of kind `chart` over the n points of `in` (month
 * order, consecutive months), for a KPI whose better direction is `dir`:
 * one spc_point_t per point in ret_points (n of them, caller's array) and
 * the series' summary in *ret_summary. Provisional and empty points are
 * drawn (their lines are set) but take no part in the centre line, the
 * limits or the runs analysis. Returns 0, or -EINVAL for an unknown chart,
 * NULL arrays with n > 0, or n > SPC_POINTS_MAX (outputs untouched).
 */
int spc_compute(spc_chart_t chart, spc_direction_t dir, const spc_in_t *in, size_t n,
                spc_point_t *ret_points, spc_summary_t *ret_summary);

#endif

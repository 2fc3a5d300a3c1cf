/*
 * svg: the dashboard's charts as inline SVG, drawn on the server.
 *
 * SPC charts as a quality consultant knows them from qicharts2: monthly
 * points joined by a line, the centre line, control limits as steps (they
 * change with each month's denominator), sigma-signal points as diamonds,
 * a runs signal as a dashed centre line with a text label, the baseline
 * period shaded and labelled, provisional points hollow and labelled
 * "foreløbig", incomplete months as hollow squares, and the target line.
 * Also the r12 coercion rate against its baseline and the trajectory to
 * the last target month, and the "Making Data Count" icons.
 *
 * Every chart carries a <title> and <desc> text alternative, and every
 * signal has a shape or a word besides its colour. No script, nothing
 * fetched: the output is a fragment to place inside an HTML page. Output
 * is deterministic (fixed-format numbers in the C locale) and never holds
 * "nan" or "inf": a value that is not finite is treated as empty.
 *
 * The input structs are plain data, filled by the caller from the SPC core
 * (spc.md) and the KPI engine; this module computes nothing about the
 * process itself.
 */
#ifndef PSYMON_SVG_H
#define PSYMON_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "l10n.h"

/* One month of an SPC series (a row of `psymon spc`). */
typedef struct {
    int year, month;
    bool has_y, has_cl, has_lcl, has_ucl, has_target;
    double y, cl, lcl, ucl, target; /* scaled like the KPI's value */
    bool sigma_signal;
    bool provisional;
    bool baseline;   /* the point is in the frozen baseline */
    bool incomplete; /* the level's data for the month is incomplete (dashboard.md) */
} svg_spc_point_t;

typedef struct {
    const char *title; /* plain text: the KPI and level, e.g. "Bæltefikseringer, Region" */
    const char *unit;  /* the y axis unit, "" for counts */
    l10n_lang_t lang;
    int decimals; /* for the labels; 0 (a count): whole-number axis ticks too */
    const svg_spc_point_t *points;
    size_t npoints;
    bool runs_signal; /* the series' runs analysis signals (spc.md) */
    /* A fixed y range (small multiples on one scale); used when ymax > ymin. */
    double ymin, ymax;
    bool small;     /* a small multiple: smaller, fewer labels */
    const char *id; /* prefix for element ids, unique within the page; NULL: "c" */
} svg_spc_t;

/*
 * Writes the chart as an <svg> element to f. A series with no points
 * gives a chart that says so. Returns 0, -EINVAL for NULL arguments, -EIO
 * when writing fails.
 */
int svg_spc_chart(FILE *f, const svg_spc_t *c);

/*
 * The y range svg_spc_chart would choose for c on its own (values, limits
 * and targets, with 0 included): the caller takes the union over the
 * series of a small-multiple page and sets it as every chart's ymin/ymax.
 * Returns false when c has nothing to draw.
 */
bool svg_spc_range(const svg_spc_t *c, double *ret_lo, double *ret_hi);

/* One r12 period of the rate of intrusive coercion per 100,000 citizens. */
typedef struct {
    int year, month; /* the ending month */
    bool has_rate;
    double rate;
    bool provisional;
    bool incomplete; /* e.g. the window starts before the level's first data: not drawn */
} svg_r12_point_t;

typedef struct {
    const char *title;
    l10n_lang_t lang;
    const svg_r12_point_t *points; /* in month order */
    size_t npoints;
    bool has_baseline;
    double baseline;                                    /* intrusive_baseline_per_100k */
    const char *baseline_label;                         /* "2021–2023", or NULL */
    double target_pct;                                  /* the reduction aimed at, e.g. 30 */
    int first_year, first_month, last_year, last_month; /* the target's months */
    const char *id;
} svg_r12_t;

/*
 * Writes the rate chart: the r12 rate, the baseline, and the trajectory
 * from the baseline before the target's first month down to the target at
 * its last month, with the x axis running to that month. Incomplete
 * periods are left out of the line and shaded with a label. Returns 0,
 * -EINVAL, -EIO.
 */
int svg_r12_chart(FILE *f, const svg_r12_t *c);

/*
 * A "Making Data Count" variation icon for spc.md's variation ("high",
 * "low", "common") and assessment ("improvement", "concern", "neutral",
 * "common") words, followed by a visible short label: the icon's shape
 * and letter (H for high, L for low, a wave for common cause) carry the
 * meaning without colour. NULL or "" variation: "not available".
 */
int svg_icon_variation(FILE *f, l10n_lang_t lang, const char *variation, const char *assessment);
/* The assurance icon for "pass", "fail", "hit_and_miss"; NULL or "": no target. */
int svg_icon_assurance(FILE *f, l10n_lang_t lang, const char *assurance);

/* Writes s escaped for HTML and SVG text and attribute values. */
void svg_escape(FILE *f, const char *s);

#endif

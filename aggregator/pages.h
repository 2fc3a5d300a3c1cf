/*
 * pages: the dashboard's HTML pages (dashboard.md) and their CSV, from one
 * plain input struct.
 *
 *   /                  overview: a row per level, a column per headline KPI
 *   /center/ID         one level (ID a center id or "region")
 *   /kpi/NAME          one headline KPI across levels, small multiples
 *   /alerts            the alerts
 *   /collectors        per center: is its data arriving?
 *   /report/YYYY-MM    the printable monthly report (A4)
 *
 * Every page takes ?lang=en (English; Danish otherwise) and ?format=csv
 * (its main table as CSV, comma-separated, numbers with a decimal point
 * and 4 decimals as `psymon kpi` prints them, so a spreadsheet or a script
 * reads them without guessing the language).
 *
 * Rendering only, and pure: the caller (httpd.c, pages_input_fill there)
 * computes every number with the KPI engine, the SPC core and the alert
 * engine and hands them over in pages_input_t; this module decides only
 * how a figure is shown, and the completeness rule of dashboard.md, which
 * is a rule about what may be shown as good.
 */
#ifndef PSYMON_PAGES_H
#define PSYMON_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alert.h"
#include "l10n.h"
#include "psymon/config.h"
#include "psymon/time.h"
#include "svg.h"

/* ---- Completeness (dashboard.md) ---------------------------------------------------------- */

/* What the completeness rule needs to know about one center. */
typedef struct {
    int from_year, from_month; /* the month of records[0] */
    size_t nmonths;
    const uint64_t *records; /* the `records` KPI per month from from_year-from_month */
    /*
     * When the earliest CollectorSilent or ExportStale alert firing now for
     * the center became active; PSY_TIME_NONE when neither fires.
     */
    psy_time_t silent_since;
} pages_center_data_t;

/*
 * True when the period of `nmonths` calendar months starting with
 * year-month is complete for the center at as_of: every month it touches
 * up to the one holding as_of has at least one record, and no
 * CollectorSilent or ExportStale alert has fired since before the period
 * ended (so while it was the current one). A period starting after as_of
 * is not complete.
 */
bool pages_complete(const pages_center_data_t *c, int year, int month, int nmonths,
                    psy_time_t as_of);

/*
 * The same for the region: complete when complete for every center whose
 * first month with records is not after the period's start. Centers
 * without any records do not count.
 */
bool pages_complete_region(const pages_center_data_t *centers, size_t n, int year, int month,
                           int nmonths, psy_time_t as_of);

/* ---- Figures ----------------------------------------------------------------------------- */

typedef enum {
    PAGES_NEUTRAL = 0,
    PAGES_GOOD,
    PAGES_BAD,
} pages_judgement_t;

/*
 * The data-state of a figure: "incomplete" over "provisional" over the
 * judgement ("good", "bad", "neutral"). An incomplete figure is never good.
 */
const char *pages_state(bool incomplete, bool provisional, pages_judgement_t j);

/* One KPI figure as `psymon kpi` prints it, with what the page says about it. */
typedef struct {
    const char *kpi; /* identifier of kpis.md; NULL: no figure */
    char period[16]; /* "2025-10", "r12:2025-10" */
    bool set;        /* false: empty value */
    bool integer;    /* a count */
    double value;
    bool provisional;
    bool incomplete; /* the level's data for the period is incomplete */
    pages_judgement_t judgement;
    /* spc.md's words for the KPI's monthly series at this level; "" when not computed. */
    char variation[8], assessment[12], assurance[16];
    /* intrusive_per_100k only: intrusive_on_track of the same period (-1: empty). */
    int on_track;
} pages_figure_t;

/* One level's SPC series of one KPI: svg.h's points and spc.md's series words. */
typedef struct {
    const char *kpi;
    svg_spc_point_t *points;
    size_t npoints;
    bool limits; /* the SPC core computed cl and limits (else a run of values only) */
    bool runs_signal;
} pages_series_t;

/* The headline KPIs of dashboard.md, in column order. */
#define PAGES_HEADLINE_N 9
extern const char *const pages_headline[PAGES_HEADLINE_N];
/* Index of `kpi` in pages_headline, or -1. */
int pages_headline_index(const char *kpi);

typedef struct {
    const char *id;   /* center id, or "region" */
    const char *name; /* display name */
    bool is_region;
    bool complete;               /* the last complete month (input.year/month) is complete */
    bool complete_r12;           /* r12 ending with it is complete */
    int first_year, first_month; /* first month with records; 0 when none */
    pages_figure_t headline[PAGES_HEADLINE_N];
    pages_series_t series[PAGES_HEADLINE_N]; /* [0] (intrusive_per_100k) unused */
    /* The r12 rate chart: intrusive_per_100k per ending month, with its baseline. */
    svg_r12_point_t *r12;
    size_t nr12;
    bool has_baseline;
    double baseline;
    pages_figure_t *all; /* every KPI of the month, for the table on the center page */
    size_t nall;
} pages_level_t;

typedef struct {
    const char *id, *name;
    bool known; /* the store had a status for it */
    uint64_t records, rejected, backlog;
    psy_time_t last_seen, clock_offset;
    bool spool_full;
    const char *version;     /* "" before a heartbeat */
    psy_time_t last_file_at; /* last inbox file read; PSY_TIME_NONE: not reported */
    bool complete;           /* the current month so far */
} pages_collector_t;

/*
 * One alert as the pages list it. `state` is what a reader needs to know
 * first, in this order: "resolved"; "acknowledged" (someone took it on);
 * "silenced" (notices held back on purpose); "inhibited" (a KPI alert of a
 * center whose data stopped: its figures are incomplete, not worse);
 * "firing"; "pending". Strings point into the caller's alert_t array.
 */
typedef struct {
    const char *state;
    const char *alertname, *center, *kpi, *severity;
    const char *summary, *summary_en;
    const char *period, *value;
    psy_time_t active_at;    /* the condition became true */
    psy_time_t firing_since; /* PSY_TIME_NONE while pending */
    psy_time_t resolved_at;  /* PSY_TIME_NONE unless resolved */
    const char *fingerprint;
    const char *ack_author, *ack_comment; /* acknowledged only; else NULL */
} pages_alert_t;

/* ---- Alerts ------------------------------------------------------------------------------ */

/*
 * The alerts the /alerts page lists, from the engine's alerts[0..n): pending
 * and firing ones (also silenced, acknowledged or inhibited), and those
 * resolved within ALERT_RESOLVED_KEEP before now; firing before pending
 * before the quieted ones before resolved, critical before warning before
 * info, newest first. ret needs room for n; its strings point into alerts,
 * which must outlive it. Returns the number written.
 */
size_t pages_alerts_from(const alert_t *alerts, size_t n, psy_time_t now, pages_alert_t *ret);

/*
 * Sets cdata[i].silent_since of each configured center from alerts[0..n): the
 * earliest active_since of a firing CollectorSilent or ExportStale alert of
 * that center (silenced or acknowledged alike: the data are missing all the
 * same), PSY_TIME_NONE when none fires.
 */
void pages_silent_since(const alert_t *alerts, size_t n, const psy_agg_conf_t *conf,
                        pages_center_data_t *cdata);

typedef struct {
    l10n_lang_t lang;
    psy_time_t now;
    const psy_agg_conf_t *conf; /* region name, target months and percentage */
    bool ready;
    int year, month; /* the month the pages speak of: the last complete month, or the report's */
    pages_level_t *levels; /* region first, then the centers in configured order */
    size_t nlevels;
    pages_collector_t *collectors;
    size_t ncollectors;
    bool spc_available;    /* false: charts show values only, icons "not available" */
    bool alerts_available; /* false: the alert pages say so */
    bool daily_graphs;     /* link the librrd graphs of /graph/ID.png on the center pages */
    pages_alert_t *alerts;
    size_t nalerts;
} pages_input_t;

/* ---- Requests ---------------------------------------------------------------------------- */

typedef enum {
    PAGES_OVERVIEW,
    PAGES_CENTER,
    PAGES_KPI,
    PAGES_ALERTS,
    PAGES_COLLECTORS,
    PAGES_REPORT,
} pages_kind_t;

typedef struct {
    pages_kind_t kind;
    char arg[PSY_KPI_NAME_MAX + 1]; /* center id, KPI name */
    int year, month;                /* PAGES_REPORT */
    l10n_lang_t lang;
    bool csv;
} pages_request_t;

/*
 * Parses a URL path and its lang and format parameters (NULL when absent)
 * into *ret. Returns 0, -ENOENT when the path is not a page, -EINVAL for a
 * bad parameter (format other than html or csv, a malformed month).
 */
int pages_parse(const char *path, const char *lang, const char *format, pages_request_t *ret);

/*
 * Writes the page, or its CSV, to f. Returns 0, -ENOENT when the page's
 * center or KPI is not in the input, -EIO when writing fails.
 */
int pages_write(FILE *f, const pages_input_t *in, const pages_request_t *req);

#endif

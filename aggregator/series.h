/*
 * series: per-day time series in RRD files, for drawing only.
 *
 * One file per configured center and one for `region`, in
 * data_dir/rrd/<center>.rrd, with one step per UTC day from 2021-01-01
 * through the last complete day. Each day holds what the KPI engine's own
 * model counts (kpi_model_days: its contacts, episodes and index discharges,
 * to the microsecond, so no rule of kpis.md is repeated here): admissions
 * and discharges (contacts starting and ending), coercion episodes (a
 * voluntary belt is none) and the three intrusive kinds, the occupied beds
 * (bed days of that day), the index discharges and how many of them were
 * followed by an acute readmission within 30 days, and the engine's r12
 * intrusive rate per 100,000 of the month holding the day (a step line).
 * Numbers shown as numbers come from the KPI engine, never from these files
 * (clarifications.md); docs/dashboard.md defines each series.
 *
 * RRD refuses an update older than its last one, so a correction of a past
 * day cannot be written in place: every file is rewritten whole from the
 * shared model (model.h) whenever the data generation changes (at most
 * every SERIES_MIN_INTERVAL_S seconds), into a temporary file that is
 * renamed into place. A day is written once it is complete and
 * SERIES_GRACE_S has passed; no update is ever dated after the start of
 * today (UTC).
 */
#ifndef PSYMON_SERIES_H
#define PSYMON_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "kpi.h"
#include "model.h"
#include "psymon/time.h"

#define SERIES_MIN_INTERVAL_S 10
/* A day is written by the thread this long after it ends (UTC). */
#define SERIES_GRACE_S 3600
/* The first day held: 2021-01-01T00:00:00Z. */
#define SERIES_EPOCH_S INT64_C(1609459200)
/* Rows kept: 20 years of days. */
#define SERIES_ROWS 7305
/* Days a graph may span. */
#define SERIES_GRAPH_DAYS_MAX 7305

/* The data sources of every file, in this order. */
enum {
    SERIES_DS_ADMISSIONS,
    SERIES_DS_DISCHARGES,
    SERIES_DS_COERCION, /* every coercion episode */
    SERIES_DS_BELT,
    SERIES_DS_RESTRAINT, /* physical_restraint */
    SERIES_DS_SEDATIVE,  /* sedative_medication */
    SERIES_DS_BEDS,      /* occupied beds: bed days of the day */
    SERIES_DS_INDEX,     /* index discharges of the day */
    SERIES_DS_READM,     /* of those, readmitted acutely within 30 days */
    SERIES_DS_R12,       /* the engine's r12 intrusive_per_100k of the day's month */
    SERIES_DS__COUNT
};

/* The RRD data source name of SERIES_DS_* `i` ("adm", "belt", ...). */
const char *series_ds_name(int i);

typedef struct series series_t;

/* The RRD writer, a sink of the model worker. Returns NULL with errno set. Caller destroys it. */
series_t *series_new(agg_t *agg);
/* Frees s and NULLs *s. Accepts NULL. */
void series_destroy(series_t **s);
/* The model_sink_t publish function: ctx is the series_t. Runs on the model worker's thread. */
void series_publish(void *ctx, const agg_model_t *m);

/*
 * Writes the files of every configured center and `region` in rrd_dir from
 * model m (built for conf's centers), one step per UTC day from
 * SERIES_EPOCH_S up to, not including, the UTC day holding `until`; as_of
 * is the engine's evaluation instant (open contacts, readmissions, r12
 * rates) and must be one m covers. Each file is written to a temporary
 * name and renamed into place. A file that fails does not stop the others:
 * every file is attempted and the first error is returned. Returns 0, or a
 * negative errno (-EINVAL for a model that does not cover as_of; -EIO when
 * librrd fails; the first failure and the number of failed files is
 * described in err when err is not NULL).
 */
int series_write(const char *rrd_dir, const psy_agg_conf_t *conf, const kpi_model_t *m,
                 psy_time_t as_of, psy_time_t until, char *err, size_t errsz);

/* series_write() from records: a model built at `now`, days up to now. For tests and tools. */
int series_rebuild(const char *rrd_dir, const psy_agg_conf_t *conf, const kpi_records_t *recs,
                   psy_time_t now, char *err, size_t errsz);

/*
 * What a coercion or rate graph draws besides the data: the baseline (mean
 * intrusive episodes per day over the baseline years, from the KPI engine;
 * NaN for none; for the rate graph the engine's intrusive_baseline_per_100k,
 * NaN or 0 for none) and the target trajectory that falls from it by
 * target_pct between the instants target_start and target_end (seconds
 * since the epoch).
 */
typedef struct {
    double baseline_per_day;
    double baseline_per_100k;
    double target_pct;
    int64_t target_start, target_end;
} series_marks_t;

/*
 * Draws a PNG of the last `days` complete days of `center` (a center id or
 * "region") from the RRD files in agg's data_dir. `what` is "coercion"
 * (intrusive episodes by kind and all coercion, as 30-day means, with the
 * marks when not NULL), "activity" (admissions and discharges, 30-day
 * means), "beds" (occupied beds per day), "readmission" (the share of index
 * discharges readmitted within 30 days, 30-day sums, the part a later
 * admission can still change drawn lighter as "foreløbig") or "rate" (the
 * r12 intrusive rate per 100,000, with baseline and trajectory from the
 * marks when not NULL). One drawing at a time: librrd's graphing is not
 * thread-safe.
 * On success *ret_png is malloc'ed (caller frees) and *ret_len its size.
 * Returns 0, -EINVAL for a bad argument, -ENOENT when the center is not
 * configured or its file is not written yet, -EIO when librrd fails, -ENOMEM.
 */
int series_graph(agg_t *agg, const char *center, const char *what, int days,
                 const series_marks_t *marks, unsigned char **ret_png, size_t *ret_len);

#endif

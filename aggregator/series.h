/*
 * series: per-day time series in RRD files, for drawing only.
 *
 * One file per configured center and one for `region`, in
 * data_dir/rrd/<center>.rrd, with one step per UTC day from 2021-01-01
 * through yesterday. Each day holds the number of registrations of that
 * UTC day as the records stand after corrections: admission and discharge
 * records, coercion episodes (a voluntary belt is not one) and the three
 * intrusive kinds. Numbers shown as numbers come from the KPI engine, never
 * from these files (clarifications.md).
 *
 * RRD refuses an update older than its last one, so a correction of a past
 * day cannot be written in place: the series thread rebuilds every file whole
 * from the store whenever the aggregator's data generation changes (at most
 * every SERIES_MIN_INTERVAL_S seconds), into a temporary file that is renamed
 * into place. No update is ever dated after the start of today (UTC).
 */
#ifndef PSYMON_SERIES_H
#define PSYMON_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "kpi.h"
#include "psymon/time.h"

#define SERIES_MIN_INTERVAL_S 10
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
    SERIES_DS__COUNT
};

/* The RRD data source name of SERIES_DS_* `i` ("adm", "belt", ...). */
const char *series_ds_name(int i);

typedef struct series series_t;

/*
 * Starts the thread that keeps the RRD files of agg's configuration current.
 * It opens its own read-only store when the store exists. Returns NULL with
 * errno set on failure. Caller owns the result and must destroy it.
 */
series_t *series_new(agg_t *agg);
/* Stops the thread, waiting for a rebuild in progress, and NULLs *s. Accepts NULL. */
void series_destroy(series_t **s);

/*
 * Writes the files of every configured center and `region` in
 * rrd_dir from `recs` (as store_load gives them), with one step per UTC day
 * from SERIES_EPOCH_S up to, not including, the UTC day holding `now`.
 * Each file is written to a temporary name and renamed into place. Returns
 * 0, or a negative errno (-EIO when librrd fails; its message is copied into
 * err when err is not NULL).
 */
int series_rebuild(const char *rrd_dir, const psy_agg_conf_t *conf, const kpi_records_t *recs,
                   psy_time_t now, char *err, size_t errsz);

/*
 * What a coercion graph draws besides the data: the baseline (mean
 * intrusive episodes per day over the baseline years, from the KPI engine;
 * NaN for none) and the target trajectory that falls from it by target_pct
 * between the instants target_start and target_end (seconds since the epoch).
 */
typedef struct {
    double baseline_per_day;
    double target_pct;
    int64_t target_start, target_end;
} series_marks_t;

/*
 * Draws a PNG of the last `days` complete days of `center` (a center id or
 * "region") from the RRD files in agg's data_dir. `what` is "coercion"
 * (intrusive episodes by kind and all coercion, as 30-day means, with the
 * marks when not NULL) or "activity" (admissions and discharges, 30-day
 * means). One drawing at a time: librrd's graphing is not thread-safe.
 * On success *ret_png is malloc'ed (caller frees) and *ret_len its size.
 * Returns 0, -EINVAL for a bad argument, -ENOENT when the center is not
 * configured or its file is not written yet, -EIO when librrd fails, -ENOMEM.
 */
int series_graph(agg_t *agg, const char *center, const char *what, int days,
                 const series_marks_t *marks, unsigned char **ret_png, size_t *ret_len);

#endif

/*
 * metrics: the Prometheus text exposition of /metrics (format 0.0.4).
 *
 * Pure formatting: the caller gathers the counters, the per-center status
 * and the KPI rows already computed by the engine, and metrics_write() only
 * prints them, so a table-driven test checks every line without a daemon.
 *
 * Every series has a label set that does not change with the calendar: KPI
 * values carry window="r12" or window="month" (the latest complete rolling
 * twelve months and the latest complete month), never the period's name,
 * which would start a new series every month. Which period a window holds
 * is psymon_kpi_window_start/end_timestamp_seconds{window}.
 */
#ifndef PSYMON_METRICS_H
#define PSYMON_METRICS_H

#include <stdbool.h>
#include <stdio.h>

#include "agg.h"
#include "kpi.h"
#include "psymon/config.h"
#include "store.h"

/* One KPI window: a stable label value and the rows the engine computed for its period. */
typedef struct {
    const char *name; /* the window label: "r12", "month" */
    kpi_period_t period;
    const kpi_row_t *rows; /* each row names its level and KPI; rows not set are left out */
    size_t nrows;
} metrics_window_t;

typedef struct {
    const agg_counters_t *counters; /* NULL: no ingest counters written */
    bool ready;
    const psy_agg_conf_t *conf;
    const store_status_t *status; /* conf->ncenters entries; NULL when the store is unreadable */
    const metrics_window_t *windows;
    size_t nwindows;
    psy_time_t now;
} metrics_input_t;

/*
 * Writes the exposition of `in` to f: HELP and TYPE for every metric family,
 * then its samples. Label values from peers (a collector's version) are
 * escaped. Period bounds use the process's time zone (psy_tz_set). Returns
 * 0, -EINVAL when in or its conf is NULL, -EIO when writing to f failed.
 */
int metrics_write(FILE *f, const metrics_input_t *in);

#endif

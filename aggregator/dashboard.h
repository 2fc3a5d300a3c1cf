/*
 * dashboard: the HTML page at `/`, for management. Plain HTML and a little
 * CSS, no script and nothing fetched from elsewhere: the page must work on
 * a machine without internet and in a browser without JavaScript.
 *
 * Rendering only: the caller computes the rows with the KPI engine and
 * reads the status from the store, so every number on the page is the
 * engine's (clarifications.md).
 */
#ifndef PSYMON_DASHBOARD_H
#define PSYMON_DASHBOARD_H

#include <stdbool.h>
#include <stdio.h>

#include "kpi.h"
#include "psymon/config.h"
#include "store.h"

typedef struct {
    const psy_agg_conf_t *conf;
    kpi_period_t period; /* the period of the rows, an r12 */
    /*
     * One row per (level, kpi) for levels region, then every configured
     * center in order, and kpis 0 .. kpi_count() - 1: kpi_compute's order
     * for that query. NULL when the engine could not run (the page says so).
     */
    const kpi_row_t *rows;
    size_t nrows;
    const store_status_t *status; /* conf->ncenters entries, or NULL */
    bool ready;
    psy_time_t now;
} dashboard_t;

/* Writes the page to f. Returns 0, or -EIO when writing fails. */
int dashboard_write(FILE *f, const dashboard_t *d);

#endif

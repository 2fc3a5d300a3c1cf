/*
 * spc_format: SPC series as `psymon spc` and /api/v1/spc print them
 * (spc.md, "Output"): CSV, JSON, or a table for a person.
 */
#ifndef PSYMON_SPC_FORMAT_H
#define PSYMON_SPC_FORMAT_H

#include <stdio.h>

#include <jansson.h>

#include "kpi_format.h"
#include "psymon/config.h"
#include "spc_query.h"

/*
 * Writes every series' printed points (from its `first`) to f: CSV with
 * the header of spc.md, JSON {"series":[...]} on one line with a newline,
 * or a table. Numbers look as in psymon kpi (kpi_format_num_text); the
 * per-series columns repeat on each row of the series. Returns 0, -ENOMEM,
 * or -EIO when f reports a write error.
 */
int spc_format_write(FILE *f, kpi_format_t fmt, const psy_agg_conf_t *conf,
                     const spc_query_result_t *res);
int spc_format_csv(FILE *f, const psy_agg_conf_t *conf, const spc_query_result_t *res);
int spc_format_json(FILE *f, const psy_agg_conf_t *conf, const spc_query_result_t *res);
int spc_format_table(FILE *f, const psy_agg_conf_t *conf, const spc_query_result_t *res);

/*
 * The {"series":[...]} object, for a caller that embeds it (the dashboard):
 * numbers as numbers rounded as kpi_format_num_json does, empty as null,
 * flags as booleans. Dump with JSON_REAL_PRECISION(15). Caller owns the
 * reference; NULL when out of memory.
 */
json_t *spc_format_json_series(const psy_agg_conf_t *conf, const spc_query_result_t *res);

#endif

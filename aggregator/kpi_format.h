/*
 * kpi_format: KPI rows as `psymon kpi` and /api/v1/kpi print them
 * (interfaces.md): CSV, JSON, or an aligned table for a person.
 */
#ifndef PSYMON_KPI_FORMAT_H
#define PSYMON_KPI_FORMAT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "kpi.h"
#include "psymon/config.h"

typedef enum { KPI_FORMAT_CSV, KPI_FORMAT_JSON, KPI_FORMAT_TABLE } kpi_format_t;

/* "csv", "json" or "table". Returns 0, or -EINVAL with *ret untouched. */
int kpi_format_parse(const char *s, kpi_format_t *ret);

/*
 * Writes rows to f: CSV with the header
 * `period,center,kpi,value,numerator,denominator,provisional`; JSON
 * {"rows":[...]} on one line with a newline; or a table with aligned
 * columns. Integers print as integers, other numbers with 4 decimals, unset
 * ones empty (null in JSON). The center column is the center id or
 * `region`. Returns 0, -ENOMEM, or -EIO when f reports a write error.
 */
int kpi_format_write(FILE *f, kpi_format_t fmt, const psy_agg_conf_t *conf, const kpi_row_t *rows,
                     size_t n);
int kpi_format_csv(FILE *f, const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n);
int kpi_format_json(FILE *f, const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n);
int kpi_format_table(FILE *f, const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n);

/*
 * The {"rows":[...]} object, for a caller that embeds it. Reals are rounded
 * to 4 decimals; dump with JSON_REAL_PRECISION(15) (as kpi_format_json
 * does) so that 4.2857 prints as 4.2857. Caller owns the reference; NULL
 * when out of memory.
 */
json_t *kpi_format_json_rows(const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n);

/*
 * One number as CSV and the table print it: "" when unset or not finite,
 * integers without decimals, everything else with 4 (never "-0.0000").
 * buf needs 48 bytes.
 */
void kpi_format_num_text(const kpi_num_t *n, char *buf, size_t size);
/* The same number for JSON: null, an integer, or a real rounded to 4 decimals. NULL on ENOMEM. */
json_t *kpi_format_num_json(const kpi_num_t *n);

/* The center column of a row: the center id or "region". */
const char *kpi_format_level(const psy_agg_conf_t *conf, int level);

#endif

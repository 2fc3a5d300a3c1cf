/*
 * kpi_query: the user's words ("--period r12 --from 2024-01 --center all")
 * turned into a kpi_query_t, for `psymon kpi` and /api/v1/kpi alike, so
 * that both accept and refuse exactly the same things.
 */
#ifndef PSYMON_KPI_QUERY_H
#define PSYMON_KPI_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "kpi.h"
#include "psymon/config.h"
#include "psymon/time.h"

/*
 * Builds *ret from the options of interfaces.md. NULL or "" means "not
 * given":
 *   period  month|quarter|year|r12 (required)
 *   from    YYYY-MM (required); to YYYY-MM (default: from)
 *   center  ID|region|all, or a comma-separated list of them (default all:
 *           every configured center in configuration order, then region)
 *   kpis    NAME,... (default every KPI, in the order of kpis.md)
 *   as_of   RFC 3339 (default now)
 * ret->conf is set to conf, which must outlive the query. On success the
 * caller owns the arrays and releases them with kpi_query_free(). Returns 0,
 * or -EINVAL with a message for the user in err (e.g. "unknown KPI 'x'")
 * and *ret untouched, or -ENOMEM.
 */
int kpi_query_build(const psy_agg_conf_t *conf, const char *period, const char *from,
                    const char *to, const char *center, const char *kpis, const char *as_of,
                    psy_time_t now, kpi_query_t *ret, char *err, size_t err_size);

/*
 * The pieces of kpi_query_build(), for the other commands that take the
 * same options (psymon spc), so that every command reads them alike.
 * kpi_query_month: exactly "YYYY-MM" with a month 01-12. kpi_query_levels:
 * --center as above into a malloc'ed array. kpi_query_kpis: --kpi as above
 * (NULL or "": every KPI) into a malloc'ed array. Both return 0, -EINVAL
 * with a message in err, or -ENOMEM.
 */
bool kpi_query_month(const char *s, int *ret_y, int *ret_m);
int kpi_query_levels(const psy_agg_conf_t *conf, const char *center, int **ret, size_t *ret_n,
                     char *err, size_t err_size);
int kpi_query_kpis(const char *kpis, int **ret, size_t *ret_n, char *err, size_t err_size);

/* Frees what kpi_query_build() allocated and zeroes q. Accepts NULL. */
void kpi_query_free(kpi_query_t *q);

#endif

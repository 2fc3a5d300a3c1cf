/*
 * psymon kpi -c AGGREGATOR.conf --period P --from YYYY-MM --to YYYY-MM
 *            [--center ID|region|all] [--kpi NAME,...] [--as-of T]
 *            [--known-at T] [--format csv|json|table]
 *
 * Reads the aggregator's store (read-only; the aggregator may or may not be
 * running), computes with the same engine as /api/v1/kpi and prints.
 * The model comes from kpi_common.c, cached between calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kpi.h"
#include "kpi_format.h"
#include "kpi_query.h"
#include "psymon/time.h"

static void
usage(FILE *out)
{
    fprintf(out, "Usage: psymon kpi -c AGGREGATOR.conf --period month|quarter|year|r12\n"
                 "                  --from YYYY-MM --to YYYY-MM [--center ID|region|all]\n"
                 "                  [--kpi NAME,...] [--as-of RFC3339] [--known-at RFC3339]\n"
                 "                  [--format csv|json|table]\n\n"
                 "Computes the KPIs of every period from the one holding --from through the one\n"
                 "holding --to (r12: ending months --from through --to). --center defaults to all\n"
                 "(every center and the region), --kpi to every KPI, --as-of to now. --known-at T\n"
                 "uses only what the aggregator had stored by T, to reproduce a past report.\n"
                 "--format defaults to table on a terminal and csv otherwise.\n\n"
                 "KPIs (docs/kpis.md):\n");
    /* Wrapped at 80 columns: the names are what --kpi takes. */
    size_t col = 0;
    for (size_t i = 0; i < kpi_count(); i++) {
        size_t len = strlen(kpi_name(i));
        if (col > 0 && col + 1 + len > 78) {
            fputc('\n', out);
            col = 0;
        }
        col += (size_t)fprintf(out, "%s%s", col ? " " : "  ", kpi_name(i));
    }
    fputc('\n', out);
}

int
cmd_kpi(int argc, char **argv)
{
    cli_kpi_opts_t o;
    psy_agg_conf_t *conf = NULL;
    kpi_query_t q = {0};
    kpi_row_t *rows = NULL;
    size_t nrows = 0;
    cli_model_t *cm = NULL;
    char err[256];
    int r, rc = cli_kpi_opts_parse(argc, argv, "kpi", true, usage, &o);

    if (rc >= 0)
        return rc;
    conf = calloc(1, sizeof(*conf));
    if (!conf)
        return 1;
    if ((rc = cli_load_agg_conf(o.conf_path, conf)) != 0)
        goto out;
    r = kpi_query_build(conf, o.period, o.from, o.to, o.center, o.kpis, o.as_of, psy_time_now(), &q,
                        err, sizeof(err));
    if (r < 0) {
        cli_error("%s", r == -EINVAL ? err : strerror(-r));
        rc = r == -EINVAL ? 2 : 1;
        goto out;
    }

    rc = 1;
    cm = cli_model_open(conf, q.as_of, o.known_at);
    if (!cm)
        goto out;
    r = kpi_model_compute(cli_model_get(cm), &q, &rows, &nrows);
    if (r < 0) {
        cli_error("%s", strerror(-r));
        goto out;
    }
    r = kpi_format_write(stdout, o.format, conf, rows, nrows);
    if (r < 0 || fflush(stdout) != 0) {
        cli_error("writing the output failed");
        goto out;
    }
    rc = 0;
out:
    free(rows);
    cli_model_destroy(&cm);
    kpi_query_free(&q);
    free(conf);
    return rc;
}

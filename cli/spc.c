/*
 * psymon spc -c AGGREGATOR.conf --kpi NAME,... [--center ID|region|all]
 *            [--from YYYY-MM] [--to YYYY-MM] [--as-of T] [--known-at T]
 *            [--format csv|json|table]
 *
 * The SPC series of spc.md from the aggregator's store (read-only; the
 * aggregator may or may not be running), computed by the same code as
 * /api/v1/spc, from the same cached model as psymon kpi.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spc_format.h"
#include "spc_query.h"

static void
usage(FILE *out)
{
    fprintf(out, "Usage: psymon spc -c AGGREGATOR.conf --kpi NAME,... [--center ID|region|all]\n"
                 "                  [--from YYYY-MM] [--to YYYY-MM] [--as-of RFC3339]\n"
                 "                  [--known-at RFC3339] [--format csv|json|table]\n\n"
                 "Prints the control chart (SPC) of each KPI per month for each center and the\n"
                 "region: centre line, control limits, signals, and what the latest month says\n"
                 "(variation, assessment, assurance). Each series starts in January of the first\n"
                 "baseline year, or in the level's first month with records if later, and ends\n"
                 "with --to (default: the last complete month). --from only chooses the first\n"
                 "month printed. --center defaults to all, --as-of to now; --known-at T uses only\n"
                 "what the aggregator had stored by T. --format defaults to table on a terminal\n"
                 "and csv otherwise. docs/spc.md explains the charts.\n");
}

int
cmd_spc(int argc, char **argv)
{
    cli_kpi_opts_t o;
    psy_agg_conf_t *conf = NULL;
    spc_query_t q = {0};
    spc_query_result_t *res = NULL;
    cli_model_t *cm = NULL;
    char err[256];
    int r, rc = cli_kpi_opts_parse(argc, argv, "spc", false, usage, &o);

    if (rc >= 0)
        return rc;
    conf = calloc(1, sizeof(*conf));
    if (!conf)
        return 1;
    if ((rc = cli_load_agg_conf(o.conf_path, conf)) != 0)
        goto out;
    r = spc_query_build(conf, o.kpis, o.center, o.from, o.to, o.as_of, psy_time_now(), &q, err,
                        sizeof(err));
    if (r < 0) {
        cli_error("%s", r == -EINVAL ? err : strerror(-r));
        rc = r == -EINVAL ? 2 : 1;
        goto out;
    }

    rc = 1;
    cm = cli_model_open(conf, q.as_of, o.known_at);
    if (!cm)
        goto out;
    r = spc_query_compute(cli_model_get(cm), &q, &res);
    if (r < 0) {
        cli_error("%s", strerror(-r));
        goto out;
    }
    r = spc_format_write(stdout, o.format, conf, res);
    if (r < 0 || fflush(stdout) != 0) {
        cli_error("writing the output failed");
        goto out;
    }
    rc = 0;
out:
    spc_query_result_destroy(&res);
    cli_model_destroy(&cm);
    spc_query_free(&q);
    free(conf);
    return rc;
}

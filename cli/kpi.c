/*
 * psymon kpi -c AGGREGATOR.conf --period P --from YYYY-MM --to YYYY-MM
 *            [--center ID|region|all] [--kpi NAME,...] [--as-of T]
 *            [--known-at T] [--format csv|json|table]
 *
 * Reads the aggregator's store (read-only; the aggregator may or may not be
 * running), computes with the same engine as /api/v1/kpi and prints.
 *
 * Loading and joining every record is most of a call's time, so the
 * prepared model of everything stored is kept in data_dir (kpi_snapshot)
 * and used while the store's generation is unchanged and --as-of is not
 * before the latest record. --known-at always reads the store.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kpi.h"
#include "kpi_format.h"
#include "kpi_query.h"
#include "kpi_snapshot.h"
#include "psymon/time.h"
#include "store.h"

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

/*
 * Computes q from the cached model when it is current, else from the store,
 * leaving a fresh cache behind when the data folder is writable (a cache
 * that cannot be written costs the next call time, nothing else).
 */
static int
compute_cached(store_t *store, const psy_agg_conf_t *conf, const kpi_query_t *q,
               kpi_row_t **ret_rows, size_t *ret_n)
{
    kpi_snapshot_t *snap = NULL;
    kpi_model_t *model = NULL;
    kpi_records_t recs = {0};
    uint64_t vid;
    psy_time_t stored_at;
    int r;

    r = store_generation(store, &vid, &stored_at);
    if (r < 0)
        return r;
    snap = kpi_snapshot_open(conf->data_dir, vid, stored_at, conf);
    if (snap && kpi_model_covers(kpi_snapshot_model(snap), q->as_of)) {
        r = kpi_model_compute(kpi_snapshot_model(snap), q, ret_rows, ret_n);
        kpi_snapshot_destroy(&snap);
        return r;
    }
    /* A current cache that does not cover as_of (an as_of before the latest record) stays. */
    bool current = snap != NULL;
    kpi_snapshot_destroy(&snap);
    r = store_load(store, conf, PSY_TIME_NONE, &recs);
    if (r < 0)
        return r;
    model = current ? NULL : kpi_model_new(&recs, conf, INT64_MAX);
    if (model) {
        /* Generation read before the load: newer records in it only make the cache look stale. */
        (void)kpi_snapshot_save(conf->data_dir, vid, stored_at, conf, model);
        if (kpi_model_covers(model, q->as_of)) {
            r = kpi_model_compute(model, q, ret_rows, ret_n);
            goto out;
        }
    }
    r = kpi_compute(&recs, q, ret_rows, ret_n);
out:
    kpi_model_destroy(&model);
    kpi_records_free(&recs);
    return r;
}

int
cmd_kpi(int argc, char **argv)
{
    enum {
        OPT_PERIOD = 256,
        OPT_FROM,
        OPT_TO,
        OPT_CENTER,
        OPT_KPI,
        OPT_AS_OF,
        OPT_KNOWN_AT,
        OPT_FORMAT
    };
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"period", required_argument, NULL, OPT_PERIOD},
                                         {"from", required_argument, NULL, OPT_FROM},
                                         {"to", required_argument, NULL, OPT_TO},
                                         {"center", required_argument, NULL, OPT_CENTER},
                                         {"kpi", required_argument, NULL, OPT_KPI},
                                         {"as-of", required_argument, NULL, OPT_AS_OF},
                                         {"known-at", required_argument, NULL, OPT_KNOWN_AT},
                                         {"format", required_argument, NULL, OPT_FORMAT},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *conf_path = NULL, *period = NULL, *from = NULL, *to = NULL, *center = NULL,
               *kpis = NULL, *as_of = NULL, *known_at_s = NULL, *format_s = NULL;
    psy_agg_conf_t *conf = NULL;
    kpi_query_t q = {0};
    kpi_records_t recs = {0};
    kpi_row_t *rows = NULL;
    size_t nrows = 0;
    store_t *store = NULL;
    kpi_format_t fmt = isatty(STDOUT_FILENO) ? KPI_FORMAT_TABLE : KPI_FORMAT_CSV;
    psy_time_t known_at = PSY_TIME_NONE;
    char err[1024];
    int o, r, rc = 2;

    optind = 1;
    while ((o = cli_getopt(argc, argv, "c:h", opts)) != -1) {
        switch (o) {
        case 'c':
            conf_path = optarg;
            break;
        case OPT_PERIOD:
            period = optarg;
            break;
        case OPT_FROM:
            from = optarg;
            break;
        case OPT_TO:
            to = optarg;
            break;
        case OPT_CENTER:
            center = optarg;
            break;
        case OPT_KPI:
            kpis = optarg;
            break;
        case OPT_AS_OF:
            as_of = optarg;
            break;
        case OPT_KNOWN_AT:
            known_at_s = optarg;
            break;
        case OPT_FORMAT:
            format_s = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return 2;
        }
    }
    if ((rc = cli_check_args(conf_path, "AGGREGATOR.conf", argc, argv)) != 0)
        return rc;
    if (format_s && kpi_format_parse(format_s, &fmt) < 0) {
        cli_error("--format must be csv, json or table, not '%s'", format_s);
        return 2;
    }
    if (known_at_s && psy_time_parse(known_at_s, strlen(known_at_s), &known_at) < 0) {
        cli_error("--known-at must be an RFC 3339 date-time, e.g. 2024-03-01T00:00:00Z");
        return 2;
    }
    conf = calloc(1, sizeof(*conf));
    if (!conf)
        return 1;
    if ((rc = cli_load_agg_conf(conf_path, conf)) != 0)
        goto out;
    r = kpi_query_build(conf, period, from, to, center, kpis, as_of, psy_time_now(), &q, err,
                        sizeof(err));
    if (r < 0) {
        cli_error("%s", r == -EINVAL ? err : strerror(-r));
        rc = r == -EINVAL ? 2 : 1;
        goto out;
    }

    rc = 1;
    store = store_new(conf->data_dir, true);
    if (!store) {
        cli_error("cannot open the store in %s: %s", conf->data_dir, strerror(errno));
        goto out;
    }
    if (known_at == PSY_TIME_NONE)
        r = compute_cached(store, conf, &q, &rows, &nrows);
    else if ((r = store_load(store, conf, known_at, &recs)) == 0)
        r = kpi_compute(&recs, &q, &rows, &nrows);
    if (r == -EIO) {
        cli_error("reading the store failed: %s", strerror(-r));
        goto out;
    }
    if (r < 0) {
        cli_error("%s", strerror(-r));
        goto out;
    }
    r = kpi_format_write(stdout, fmt, conf, rows, nrows);
    if (r < 0 || fflush(stdout) != 0) {
        cli_error("writing the output failed");
        goto out;
    }
    rc = 0;
out:
    free(rows);
    kpi_records_free(&recs);
    kpi_query_free(&q);
    store_destroy(&store);
    free(conf);
    return rc;
}

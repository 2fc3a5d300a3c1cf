/*
 * What `psymon kpi` and `psymon spc` share: their options, and the prepared
 * KPI model they compute from.
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
#include "kpi_snapshot.h"

int
cli_kpi_opts_parse(int argc, char **argv, const char *name, bool with_period,
                   void (*usage)(FILE *out), cli_kpi_opts_t *ret)
{
    (void)name; /* cli_set_command named the command for every message */
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
    static const struct option all[] = {{"config", required_argument, NULL, 'c'},
                                        {"from", required_argument, NULL, OPT_FROM},
                                        {"to", required_argument, NULL, OPT_TO},
                                        {"center", required_argument, NULL, OPT_CENTER},
                                        {"kpi", required_argument, NULL, OPT_KPI},
                                        {"as-of", required_argument, NULL, OPT_AS_OF},
                                        {"known-at", required_argument, NULL, OPT_KNOWN_AT},
                                        {"format", required_argument, NULL, OPT_FORMAT},
                                        {"help", no_argument, NULL, 'h'},
                                        {"period", required_argument, NULL, OPT_PERIOD},
                                        {0}};
    /* --period is the last option: a command without it ends the table one earlier. */
    struct option opts[sizeof(all) / sizeof(all[0])];
    const char *format = NULL, *known_at = NULL;
    int o;

    (void)name; /* cli_set_command named the command for every message */

    memcpy(opts, all, sizeof(all));
    if (!with_period)
        memset(&opts[sizeof(all) / sizeof(all[0]) - 2], 0, sizeof(opts[0]));
    memset(ret, 0, sizeof(*ret));
    ret->known_at = PSY_TIME_NONE;
    ret->format = isatty(STDOUT_FILENO) ? KPI_FORMAT_TABLE : KPI_FORMAT_CSV;
    optind = 1;
    while ((o = cli_getopt(argc, argv, "c:h", opts)) != -1) {
        switch (o) {
        case 'c':
            ret->conf_path = optarg;
            break;
        case OPT_PERIOD:
            ret->period = optarg;
            break;
        case OPT_FROM:
            ret->from = optarg;
            break;
        case OPT_TO:
            ret->to = optarg;
            break;
        case OPT_CENTER:
            ret->center = optarg;
            break;
        case OPT_KPI:
            ret->kpis = optarg;
            break;
        case OPT_AS_OF:
            ret->as_of = optarg;
            break;
        case OPT_KNOWN_AT:
            known_at = optarg;
            break;
        case OPT_FORMAT:
            format = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return 2; /* cli_getopt said what was wrong */
        }
    }
    int rc = cli_check_args(ret->conf_path, "AGGREGATOR.conf", argc, argv);
    if (rc != 0)
        return rc;
    if (format && kpi_format_parse(format, &ret->format) < 0) {
        cli_error("--format must be csv, json or table, not '%s'", format);
        return 2;
    }
    if (known_at && psy_time_parse(known_at, strlen(known_at), &ret->known_at) < 0) {
        cli_error("--known-at must be an RFC 3339 date-time, e.g. 2024-03-01T00:00:00Z");
        return 2;
    }
    return -1;
}

struct cli_model {
    store_t *store;
    kpi_snapshot_t *snap; /* the model is the snapshot's, or */
    kpi_model_t *own;     /* one built for this call */
};

/*
 * The model of everything stored, from the cache when it is current, else
 * built from the store, leaving a fresh cache behind when the data folder
 * is writable (a cache that cannot be written costs the next call time,
 * nothing else). When that model does not cover as_of (an as_of before the
 * latest record) or known_at is given, a model for exactly those records.
 */
static int
cli_model_build(cli_model_t *cm, const psy_agg_conf_t *conf, psy_time_t as_of, psy_time_t known_at)
{
    kpi_records_t recs = {0};
    uint64_t vid = 0;
    psy_time_t stored_at = PSY_TIME_NONE;
    bool current = false;
    int r;

    if (known_at == PSY_TIME_NONE) {
        r = store_generation(cm->store, &vid, &stored_at);
        if (r < 0)
            goto fail;
        cm->snap = kpi_snapshot_open(conf->data_dir, vid, stored_at, conf);
        if (cm->snap && kpi_model_covers(kpi_snapshot_model(cm->snap), as_of))
            return 0;
        /* A current cache that does not cover as_of stays. */
        current = cm->snap != NULL;
        kpi_snapshot_destroy(&cm->snap);
    }
    r = store_load(cm->store, conf, known_at, &recs);
    if (r < 0)
        goto fail;
    if (known_at == PSY_TIME_NONE && !current) {
        cm->own = kpi_model_new(&recs, conf, INT64_MAX);
        /* Generation read before the load: newer records in it only make the cache look stale. */
        if (cm->own)
            (void)kpi_snapshot_save(conf->data_dir, vid, stored_at, conf, cm->own);
        if (cm->own && kpi_model_covers(cm->own, as_of))
            goto done;
        kpi_model_destroy(&cm->own);
    }
    cm->own = kpi_model_new(&recs, conf, as_of);
    if (!cm->own) {
        r = -errno;
        goto fail;
    }
done:
    kpi_records_free(&recs);
    return 0;
fail:
    kpi_records_free(&recs);
    return r;
}

cli_model_t *
cli_model_open(const psy_agg_conf_t *conf, psy_time_t as_of, psy_time_t known_at)
{
    cli_model_t *cm = calloc(1, sizeof(*cm));
    int r;

    if (!cm) {
        cli_error("out of memory");
        return NULL;
    }
    cm->store = store_new(conf->data_dir, true);
    if (!cm->store) {
        cli_error("cannot open the store in %s: %s", conf->data_dir, strerror(errno));
        free(cm);
        return NULL;
    }
    r = cli_model_build(cm, conf, as_of, known_at);
    if (r < 0) {
        cli_error("reading the store failed: %s", strerror(-r));
        cli_model_destroy(&cm);
    }
    return cm;
}

const kpi_model_t *
cli_model_get(const cli_model_t *cm)
{
    return cm->snap ? kpi_snapshot_model(cm->snap) : cm->own;
}

void
cli_model_destroy(cli_model_t **cmp)
{
    if (!cmp || !*cmp)
        return;
    kpi_snapshot_destroy(&(*cmp)->snap);
    kpi_model_destroy(&(*cmp)->own);
    store_destroy(&(*cmp)->store);
    free(*cmp);
    *cmp = NULL;
}

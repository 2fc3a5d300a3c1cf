/*
 * libFuzzer target: one configuration file, parsed as an aggregator's and
 * as a collector's. A file either loads or is refused with a message that
 * names the file; nothing else may happen.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psymon/config.h"
#include "psymon/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

/* One file per process, rewritten for every input and removed at exit. */
static void
remove_file(void)
{
    unlink(path);
}

static int
write_input(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/fuzz_config.%ld.conf", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, size, f);
    if (fclose(f) != 0 || n != size)
        return -1;
    return 0;
}

/* A refusal must name the file; a load must hold only what the limits allow. */
static void
check_err(int r, const char *err)
{
    if (r < 0 && strncmp(err, path, strlen(path)) != 0)
        abort();
    if (r < 0 && (strlen(err) == 0 || strchr(err, '\n')))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static psy_agg_conf_t agg;
    static psy_coll_conf_t coll;
    char err[512];
    int r;

    if (write_input(data, size) < 0)
        return 0;

    err[0] = '\0';
    r = psy_agg_conf_load(path, &agg, err, sizeof(err));
    check_err(r, err);
    if (r == 0) {
        if (agg.ncenters > PSY_CENTERS_MAX || agg.nbaseline > PSY_BASELINE_MAX)
            abort();
        for (size_t i = 0; i < agg.ncenters; i++) {
            const psy_center_conf_t *c = &agg.centers[i];
            if (!psy_center_valid(c->id) || c->nkeys > 2 || c->population.count > PSY_POP_YEARS_MAX)
                abort();
            for (size_t k = 0; k < c->nkeys; k++)
                if (psy_agg_conf_center_by_key(&agg, c->keys[k]) == NULL)
                    abort();
            for (size_t y = 1; y < c->population.count; y++)
                if (c->population.years[y - 1].year >= c->population.years[y].year)
                    abort();
        }
        if (agg.secret_key_file[0] != '/' || agg.data_dir[0] != '/')
            abort();
        if (agg.ngoals > PSY_GOALS_MAX || agg.nalerts > PSY_ALERTS_MAX ||
            agg.notify.nwebhook > PSY_NOTIFY_MAX || agg.notify.nalertmanager > PSY_NOTIFY_MAX)
            abort();
        /* Links are built as external_url + path. */
        size_t len = strlen(agg.external_url);
        if (strncmp(agg.external_url, "http", 4) != 0 || len == 0 ||
            agg.external_url[len - 1] != '/')
            abort();
        for (size_t i = 0; i < agg.nalerts; i++) {
            const psy_alert_conf_t *a = &agg.alerts[i];
            if (a->threshold && (!a->kpi[0] || !a->op || !a->centers[0] || !a->severity[0]))
                abort();
            if (!a->threshold && (a->kpi[0] || a->op || a->centers[0] || a->summary[0]))
                abort();
        }
    }

    err[0] = '\0';
    r = psy_coll_conf_load(path, &coll, err, sizeof(err));
    check_err(r, err);
    if (r == 0 && (!psy_center_valid(coll.center) || coll.inbox[0] != '/' ||
                   coll.state_dir[0] != '/' || coll.done_days < 0))
        abort();
    return 0;
}

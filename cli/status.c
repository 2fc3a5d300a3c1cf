/* psymon status -c AGGREGATOR.conf [--json] */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf_check.h"
#include "psymon/time.h"
#include "status.h"
#include "store.h"

static void
usage(FILE *out)
{
    fprintf(out, "Usage: psymon status -c AGGREGATOR.conf [--json]\n\n"
                 "Per center: records stored, records its collector rejected, its backlog\n"
                 "(spooled, not yet acknowledged) and when it was last seen. Reads the\n"
                 "aggregator's store directly: works whether or not the aggregator runs.\n");
}

int
cli_load_agg_conf(const char *path, psy_agg_conf_t *ret)
{
    char err[600];
    int r = psy_agg_conf_load(path, ret, err, sizeof(err));

    if (r == 0)
        r = conf_check(ret, path, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (psy_tz_set(ret->timezone) < 0) {
        fprintf(stderr, "%s: key 'timezone': unknown time zone\n", path);
        return 2;
    }
    return 0;
}

static void
print_table(json_t *status)
{
    size_t i;
    json_t *c;

    printf("%-20s %10s %10s %10s  %s\n", "center", "records", "rejected", "backlog", "last seen");
    json_array_foreach(json_object_get(status, "centers"), i, c)
    {
        const char *seen = json_string_value(json_object_get(c, "last_seen"));
        printf("%-20s %10lld %10lld %10lld  %s\n", json_string_value(json_object_get(c, "center")),
               (long long)json_integer_value(json_object_get(c, "records")),
               (long long)json_integer_value(json_object_get(c, "rejected")),
               (long long)json_integer_value(json_object_get(c, "backlog")), seen ? seen : "never");
    }
}

int
cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *conf_path = NULL;
    bool json = false;
    int o, rc = 1;
    psy_agg_conf_t *conf = NULL;
    store_t *store = NULL;
    json_t *status = NULL;

    optind = 1;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            conf_path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!conf_path || optind != argc) {
        usage(stderr);
        return 2;
    }
    conf = calloc(1, sizeof(*conf));
    if (!conf)
        return 1;
    if ((rc = cli_load_agg_conf(conf_path, conf)) != 0)
        goto out;
    rc = 1;
    store = store_new(conf->data_dir, true);
    if (!store) {
        fprintf(stderr, "psymon status: cannot open the store in %s: %s\n", conf->data_dir,
                strerror(errno));
        goto out;
    }
    status = status_json(store, conf);
    if (!status) {
        fprintf(stderr, "psymon status: reading the store failed: %s\n", strerror(errno));
        goto out;
    }
    if (json) {
        if (json_dumpf(status, stdout, JSON_COMPACT) < 0)
            goto out;
        putchar('\n');
    } else {
        print_table(status);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    json_decref(status);
    store_destroy(&store);
    free(conf);
    return rc;
}

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
                 "(spooled, not yet acknowledged), and what its collector last reported:\n"
                 "version, spool size, whether the spool is full, clock offset (collector\n"
                 "minus aggregator; '!' when over 2 minutes), and how long ago it was last\n"
                 "seen. Reads the aggregator's store directly: works whether or not the\n"
                 "aggregator runs.\n");
}

/* Bytes in B, KiB, MiB or GiB, one decimal: a spool is read at a glance. */
static void
format_bytes(json_t *v, char *buf, size_t size)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x;
    size_t u = 0;

    if (!json_is_integer(v)) {
        snprintf(buf, size, "-");
        return;
    }
    x = (double)json_integer_value(v);
    while (x >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%.0f B", x);
    else
        snprintf(buf, size, "%.1f %s", x, unit[u]);
}

/* How long ago t (RFC 3339) was: "45s", "12m", "3h", "2d"; "never" without a time. */
static void
format_age(const char *t, psy_time_t now, char *buf, size_t size)
{
    psy_time_t at;
    int64_t s;

    if (!t || psy_time_parse(t, strlen(t), &at) < 0) {
        snprintf(buf, size, "never");
        return;
    }
    s = (now - at) / PSY_USEC;
    if (s < 0)
        snprintf(buf, size, "in the future");
    else if (s < 120)
        snprintf(buf, size, "%llds ago", (long long)s);
    else if (s < 2 * 3600)
        snprintf(buf, size, "%lldm ago", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(buf, size, "%lldh ago", (long long)(s / 3600));
    else
        snprintf(buf, size, "%lldd ago", (long long)(s / 86400));
}

/*
 * One line per center: what the store holds, then what its collector last
 * reported (a dash before its first heartbeat). A clock more than
 * INGEST_CLOCK_SKEW_MAX off is marked with '!'.
 */
static void
print_table(json_t *status, psy_time_t now)
{
    size_t i;
    json_t *c;

    printf("%-18s %9s %8s %8s  %-10s %10s %5s %8s  %s\n", "center", "records", "rejected",
           "backlog", "version", "spool", "full", "clock", "last seen");
    json_array_foreach(json_object_get(status, "centers"), i, c)
    {
        const char *version = json_string_value(json_object_get(c, "version"));
        json_t *off = json_object_get(c, "clock_offset_s");
        char spool[32], clock[32], age[32];

        format_bytes(json_object_get(c, "spool_bytes"), spool, sizeof(spool));
        if (json_is_integer(off))
            snprintf(clock, sizeof(clock), "%+llds%s", (long long)json_integer_value(off),
                     json_is_true(json_object_get(c, "clock_off")) ? "!" : "");
        else
            snprintf(clock, sizeof(clock), "-");
        format_age(json_string_value(json_object_get(c, "last_seen")), now, age, sizeof(age));
        printf("%-18s %9lld %8lld %8lld  %-10s %10s %5s %8s  %s\n",
               json_string_value(json_object_get(c, "center")),
               (long long)json_integer_value(json_object_get(c, "records")),
               (long long)json_integer_value(json_object_get(c, "rejected")),
               (long long)json_integer_value(json_object_get(c, "backlog")),
               version ? version : "-", spool,
               !version                                         ? "-"
               : json_is_true(json_object_get(c, "spool_full")) ? "yes"
                                                                : "no",
               clock, age);
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
    while ((o = cli_getopt(argc, argv, "c:h", opts)) != -1) {
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
            return 2;
        }
    }
    if ((rc = cli_check_args(conf_path, "AGGREGATOR.conf", argc, argv)) != 0)
        return rc;
    conf = calloc(1, sizeof(*conf));
    if (!conf)
        return 1;
    if ((rc = cli_load_agg_conf(conf_path, conf)) != 0)
        goto out;
    rc = 1;
    store = store_new(conf->data_dir, true);
    if (!store) {
        cli_error("cannot open the store in %s: %s", conf->data_dir, strerror(errno));
        goto out;
    }
    status = status_json(store, conf);
    if (!status) {
        cli_error("reading the store failed: %s", strerror(errno));
        goto out;
    }
    if (json) {
        if (json_dumpf(status, stdout, JSON_COMPACT) < 0)
            goto out;
        putchar('\n');
    } else {
        print_table(status, psy_time_now());
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    json_decref(status);
    store_destroy(&store);
    free(conf);
    return rc;
}

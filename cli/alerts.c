/*
 * psymon alerts -c AGG.conf [--json] [--all]
 * psymon alerts ack FINGERPRINT -c AGG.conf --author NAME --comment TEXT
 * psymon silence add -c AGG.conf --match L=V[,L=V...] --duration 2h --author NAME --comment TEXT
 * psymon silence list -c AGG.conf
 * psymon silence expire ID -c AGG.conf
 *
 * They read and write the alert tables of the aggregator's store
 * (alert_store.h); a running aggregator reads silences and
 * acknowledgements at every evaluation (5 s), so they take effect within
 * 10 seconds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "alert_format.h"
#include "alert_store.h"
#include "cli.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: psymon alerts -c AGGREGATOR.conf [--json] [--all]\n"
            "       psymon alerts ack FINGERPRINT -c AGGREGATOR.conf --author NAME --comment TEXT\n"
            "       psymon silence add -c AGGREGATOR.conf --match LABEL=VALUE[,...] --duration 2h\n"
            "                          --author NAME --comment TEXT\n"
            "       psymon silence list -c AGGREGATOR.conf\n"
            "       psymon silence expire ID -c AGGREGATOR.conf\n\n"
            "Alerts that are pending or firing (--all: also those resolved in the last 7 days),\n"
            "acknowledgements and silences (docs/alerts.md).\n");
}

typedef struct {
    const char *conf, *author, *comment, *match, *duration;
    bool json, all;
} args_t;

/* Parses options after the subcommand words; returns 0, or 2 on a usage error. */
static int
parse(int argc, char **argv, args_t *a, int *ret_optind)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"all", no_argument, NULL, 'a'},
                                         {"author", required_argument, NULL, 'A'},
                                         {"comment", required_argument, NULL, 'C'},
                                         {"match", required_argument, NULL, 'm'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->conf = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'a':
            a->all = true;
            break;
        case 'A':
            a->author = optarg;
            break;
        case 'C':
            a->comment = optarg;
            break;
        case 'm':
            a->match = optarg;
            break;
        case 'd':
            a->duration = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!a->conf) {
        fprintf(stderr, "psymon: -c AGGREGATOR.conf is required\n");
        return 2;
    }
    *ret_optind = optind;
    return 0;
}

/* "90s", "15m", "4h", "2d" in microseconds, as in the configuration; -1 when malformed or 0. */
static int64_t
parse_duration(const char *s)
{
    int64_t us;

    return psy_duration_parse(s, &us) == 0 && us > 0 ? us : -1;
}

/* t in RFC 3339, UTC, whole seconds: a column of a table people read. */
static void
fmt_second(psy_time_t t, char *buf, size_t size)
{
    psy_time_format(t - t % PSY_USEC, buf, size);
}

static alert_store_t *
open_store(const char *conf_path)
{
    static psy_agg_conf_t conf;
    alert_store_t *s;

    if (cli_load_agg_conf(conf_path, &conf) != 0)
        exit(2);
    s = alert_store_new(conf.data_dir);
    if (!s)
        fprintf(stderr, "psymon: cannot open the store in %s: %s\n", conf.data_dir,
                strerror(errno));
    return s;
}

static int
list_alerts(const args_t *a)
{
    alert_store_t *s = open_store(a->conf);
    alert_t *alerts = NULL;
    size_t n = 0;
    psy_time_t now = psy_time_now();
    int r;

    if (!s)
        return 1;
    r = alert_store_load(s, &alerts, &n);
    alert_store_destroy(&s);
    if (r < 0) {
        fprintf(stderr, "psymon: cannot read the alerts: %s\n", strerror(-r));
        return 1;
    }
    if (a->json) {
        char *j = alert_api_json(alerts, n, a->all, now);
        if (!j) {
            free(alerts);
            return 1;
        }
        printf("%s\n", j);
        free(j);
    } else {
        printf("%-9s %-20s %-16s %-22s %-12s %s\n", "state", "since", "fingerprint", "alertname",
               "center", "summary");
        for (size_t i = 0; i < n; i++) {
            const alert_t *x = &alerts[i];
            char since[32], at[32];
            if (x->state == ALERT_RESOLVED &&
                (!a->all || now - x->resolved_at > ALERT_RESOLVED_KEEP))
                continue;
            /* Since it became pending, fired or resolved, by its state; whole seconds. */
            psy_time_t t = x->state == ALERT_RESOLVED ? x->resolved_at
                           : x->state == ALERT_FIRING ? x->firing_since
                                                      : x->active_since;
            fmt_second(t, since, sizeof since);
            printf("%-9s %-20s %-16s %-22s %-12s %s\n", alert_state_name(x->state), since,
                   x->fingerprint, x->labels.alertname, x->labels.center, x->ann.summary);
            /* What holds it back, on a line of its own below. */
            for (size_t k = 0; k < x->nsilenced; k++)
                printf("%-9s silenced by %s\n", "", x->silenced_by[k]);
            if (x->inhibited)
                printf("%-9s inhibited: the center's data are incomplete (CollectorSilent or "
                       "ExportStale)\n",
                       "");
            if (x->acked) {
                fmt_second(x->ack.at, at, sizeof at);
                printf("%-9s acknowledged by %s at %s: %s\n", "", x->ack.author, at,
                       x->ack.comment);
            }
        }
    }
    free(alerts);
    return 0;
}

static int
ack(const args_t *a, const char *fp)
{
    alert_store_t *s;
    alert_t *alerts = NULL;
    alert_ack_t k = {0};
    size_t n = 0;
    bool firing = false;
    int r;

    if (!a->author || !a->comment) {
        fprintf(stderr, "psymon: alerts ack needs --author and --comment\n");
        return 2;
    }
    if (!(s = open_store(a->conf)))
        return 1;
    r = alert_store_load(s, &alerts, &n);
    for (size_t i = 0; r == 0 && i < n; i++)
        firing |= strcmp(alerts[i].fingerprint, fp) == 0 && alerts[i].state == ALERT_FIRING;
    free(alerts);
    if (r == 0 && !firing) {
        fprintf(stderr, "psymon: no firing alert has fingerprint %s\n", fp);
        alert_store_destroy(&s);
        return 1;
    }
    snprintf(k.fingerprint, sizeof k.fingerprint, "%s", fp);
    snprintf(k.author, sizeof k.author, "%s", a->author);
    snprintf(k.comment, sizeof k.comment, "%s", a->comment);
    k.at = psy_time_now();
    if (r == 0)
        r = alert_store_ack_add(s, &k);
    alert_store_destroy(&s);
    if (r < 0) {
        fprintf(stderr, "psymon: cannot store the acknowledgement: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}

int
cmd_alerts(int argc, char **argv)
{
    args_t a = {0};
    int first, r;
    bool is_ack = argc > 1 && strcmp(argv[1], "ack") == 0;

    r = parse(is_ack ? argc - 1 : argc, is_ack ? argv + 1 : argv, &a, &first);
    if (r)
        return r;
    if (is_ack) {
        if (first != argc - 2) {
            usage(stderr);
            return 2;
        }
        return ack(&a, argv[1 + first]);
    }
    if (first != argc) {
        usage(stderr);
        return 2;
    }
    return list_alerts(&a);
}

/* A random UUID (version 4) as a silence id, as Alertmanager's. */
static void
uuid4(char buf[ALERT_ID_MAX])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(buf, ALERT_ID_MAX,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int
cmd_silence(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    alert_store_t *s;
    args_t a = {0};
    int first, r;

    if (strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "expire")) {
        usage(strcmp(verb, "--help") ? stderr : stdout);
        return strcmp(verb, "--help") ? 2 : 0;
    }
    r = parse(argc - 1, argv + 1, &a, &first);
    if (r)
        return r;
    if (strcmp(verb, "add") == 0) {
        alert_silence_t sil = {0};
        int64_t d = a.duration ? parse_duration(a.duration) : -1;
        if (first != argc - 1 || !a.match || d < 0 || !a.author || !a.comment) {
            fprintf(stderr, "psymon: silence add needs --match LABEL=VALUE[,...], --duration "
                            "(90s, 15m, 2h, 2d), --author and --comment\n");
            return 2;
        }
        if (alert_matchers_parse(a.match, &sil) < 0) {
            fprintf(stderr, "psymon: --match: LABEL=VALUE pairs separated by commas, LABEL one of "
                            "alertname, center, severity, kpi, region\n");
            return 2;
        }
        uuid4(sil.id);
        sil.starts_at = psy_time_now();
        sil.ends_at = sil.starts_at + d;
        snprintf(sil.author, sizeof sil.author, "%s", a.author);
        snprintf(sil.comment, sizeof sil.comment, "%s", a.comment);
        if (!(s = open_store(a.conf)))
            return 1;
        r = alert_store_silence_add(s, &sil);
        alert_store_destroy(&s);
        if (r < 0) {
            fprintf(stderr, "psymon: cannot store the silence: %s\n", strerror(-r));
            return 1;
        }
        printf("%s\n", sil.id);
        return 0;
    }
    if (strcmp(verb, "expire") == 0) {
        if (first != argc - 2) {
            usage(stderr);
            return 2;
        }
        if (!(s = open_store(a.conf)))
            return 1;
        r = alert_store_silence_expire(s, argv[1 + first], psy_time_now());
        alert_store_destroy(&s);
        if (r == -ENOENT) {
            fprintf(stderr, "psymon: no active silence %s\n", argv[1 + first]);
            return 1;
        }
        return r < 0 ? 1 : 0;
    }
    /* list */
    alert_silence_t *sil = NULL;
    size_t n = 0;
    psy_time_t now = psy_time_now();
    if (first != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (!(s = open_store(a.conf)))
        return 1;
    r = alert_store_silences(s, now, &sil, &n);
    alert_store_destroy(&s);
    if (r < 0)
        return 1;
    printf("%-36s %-20s %-20s %-12s %s\n", "id", "starts", "ends", "author", "matchers / comment");
    for (size_t i = 0; i < n; i++) {
        char st[40], en[40];
        fmt_second(sil[i].starts_at, st, sizeof st);
        fmt_second(sil[i].ends_at, en, sizeof en);
        printf("%-36s %-20s %-20s %-12s ", sil[i].id, st, en, sil[i].author);
        for (size_t k = 0; k < sil[i].nmatchers; k++)
            printf("%s%s=%s", k ? "," : "", sil[i].matchers[k].name, sil[i].matchers[k].value);
        printf(" / %s\n", sil[i].comment);
    }
    free(sil);
    return 0;
}

/*
 * psymon-aggregator: receives collectors' records, stores them, serves the
 * dashboard and draws the graphs.
 *
 * The main thread runs the ingest loop: one zmq_poll over the ROUTER and a
 * signalfd, so a signal never interrupts a transaction; SIGTERM/SIGINT stop
 * after the message in hand is stored and acknowledged, SIGHUP reloads the
 * configuration. The HTTP server, the RRD writer and the ZAP handler run in
 * their own threads, started after the signals are blocked so that only
 * the signalfd sees them.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "agg.h"
#include "conf_check.h"
#include "alert_worker.h"
#include "httpd.h"
#include "ingest.h"
#include "kpi_snapshot.h"
#include "model.h"
#include "psymon/psymon.h"
#include "series.h"
#include "store.h"

#define PROGRAM         "psymon-aggregator"
#define LOOP_TIMEOUT_MS 1000 /* how soon a dead ZAP thread is noticed */

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROGRAM " -c FILE\n"
            "Receives records from psymon collectors, stores them, computes KPIs,\n"
            "draws graphs and serves the dashboard.\n"
            "\n"
            "  -c, --config FILE  the aggregator's configuration (INI)\n"
            "  -h, --help         show this help and exit\n"
            "  -V, --version      show the version and exit\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop cleanly, SIGHUP re-reads the configuration.\n"
            "Exit status: 0 stopped cleanly, 2 usage or configuration error, 1 other failure.\n");
}

/* mkdir -p, so a fresh data_dir needs no preparation. */
static int
mkdir_p(const char *path, mode_t mode)
{
    char buf[PSY_PATH_MAX];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/*
 * Re-reads the configuration. On error the running one stays. Settings
 * bound at start-up (sockets, files, zone) keep their running values, with
 * a warning, so that every thread sees one consistent configuration.
 */
static void
reload(agg_t *agg)
{
    psy_agg_conf_t *n = malloc(sizeof *n);
    char err[512] = "";
    int r;

    if (!n) {
        psy_err("reload: out of memory; keeping the running configuration");
        return;
    }
    r = psy_agg_conf_load(agg->conf_path, n, err, sizeof err);
    if (r == 0)
        r = conf_check(n, agg->conf_path, err, sizeof err);
    if (r < 0) {
        psy_err("reload failed, keeping the running configuration: %s",
                err[0] ? err : strerror(-r));
        free(n);
        return;
    }
    pthread_mutex_lock(&agg->lock);
    const psy_agg_conf_t *o = agg->conf;
#define KEEP(field)                                                                                \
    if (strcmp(n->field, o->field) != 0) {                                                         \
        psy_warn("reload: %s changed; it takes effect at the next start", #field);                 \
        memcpy(n->field, o->field, sizeof n->field);                                               \
    }
    KEEP(listen)
    KEEP(secret_key_file)
    KEEP(data_dir)
    KEEP(http_listen)
    KEEP(timezone)
#undef KEEP
    pthread_mutex_unlock(&agg->lock);
    size_t ncenters = n->ncenters;
    agg_conf_replace(agg, n); /* n is agg's now, and may be gone */
    /* Centers, populations and targets may have changed: the next model is built for them. */
    if (agg->on_change)
        agg->on_change(agg->on_change_ctx);
    psy_notice("configuration reloaded from %s: %zu centers", agg->conf_path, ncenters);
}

/* Reads the pending signals. Returns true when the daemon must stop. */
static bool
on_signals(int sfd, agg_t *agg)
{
    struct signalfd_siginfo si;
    bool stop = false;

    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            psy_notice("received %s, stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            stop = true;
            break;
        case SIGHUP:
            sd_notify(0, "RELOADING=1");
            reload(agg);
            sd_notify(0, "READY=1");
            break;
        default:
            break;
        }
    }
    return stop;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *conf_arg = NULL;
    char conf_path[PSY_PATH_MAX];
    char err[512] = "", secret[41], public[41];
    psy_agg_conf_t *conf = NULL;
    store_t *store = NULL;
    ingest_t *in = NULL;
    httpd_t *httpd = NULL;
    series_t *series = NULL;
    model_t *model = NULL;
    kpi_snapshot_mark_t snap_mark = {0};
    alert_worker_t *alerts = NULL; /* alerts: the engine (alert_worker.h) */
    agg_t agg;
    bool agg_ok = false, stop = false;
    uint64_t wd_usec = 0;
    long timeout = LOOP_TIMEOUT_MS;
    sigset_t mask;
    int c, r, sfd = -1, code = 1;

    psy_log_init(PROGRAM, PSY_LOG_INFO);
    /* The store holds health data: nothing the daemon creates is readable by others. */
    umask(0027);
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            conf_arg = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf(PROGRAM " %s\n", PSYMON_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!conf_arg || optind != argc) {
        fprintf(stderr, PROGRAM ": %s\n", conf_arg ? "unexpected argument" : "-c FILE is required");
        usage(stderr);
        return 2;
    }
    /* SIGHUP re-reads the same file even if the working folder is gone by then. */
    if (!realpath(conf_arg, conf_path))
        snprintf(conf_path, sizeof conf_path, "%s", conf_arg);

    conf = malloc(sizeof *conf);
    if (!conf) {
        fprintf(stderr, PROGRAM ": out of memory\n");
        return 1;
    }
    r = psy_agg_conf_load(conf_path, conf, err, sizeof err);
    if (r == 0)
        r = conf_check(conf, conf_path, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err[0] ? err : strerror(-r));
        free(conf);
        return 2;
    }
    if (psy_tz_set(conf->timezone) < 0) {
        fprintf(stderr, PROGRAM ": %s: key 'timezone': unknown time zone '%s'\n", conf_path,
                conf->timezone);
        free(conf);
        return 2;
    }
    r = psy_keys_load_curve(conf->secret_key_file, secret, public);
    if (r == -EPERM) {
        psy_err("secret key file %s is readable by group or others; refusing to start "
                "(chmod 600 it)",
                conf->secret_key_file);
        free(conf);
        return 1;
    }
    if (r < 0) {
        psy_err("cannot read secret key file %s: %s", conf->secret_key_file, strerror(-r));
        free(conf);
        return 1;
    }
    r = mkdir_p(conf->data_dir, 0750);
    if (r < 0) {
        psy_err("cannot create data_dir %s: %s", conf->data_dir, strerror(-r));
        free(conf);
        return 1;
    }
    /*
     * No process-wide accounting of SQLite's memory (sqlite3_status(), which
     * nothing here reads): every allocation took a global mutex for it, a
     * few per cent of the ingest thread. Must precede the first connection.
     */
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        psy_warn("SQLite was in use before its memory accounting could be switched off");
    store = store_new(conf->data_dir, false);
    if (!store) {
        psy_err("cannot open the store in %s: %s", conf->data_dir, strerror(errno));
        free(conf);
        return 1;
    }

    /* Blocked before any thread starts, so every thread inherits the mask. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
    if (r == 0)
        sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r != 0 || sfd < 0) {
        psy_err("cannot set up signal handling: %s", strerror(r ? r : errno));
        goto out;
    }

    r = agg_init(&agg, conf, conf_path);
    if (r < 0) {
        psy_err("cannot initialise: %s", strerror(-r));
        goto out;
    }
    conf = NULL; /* agg owns it now */
    agg_ok = true;

    in = ingest_new(&agg, store, secret);
    explicit_bzero(secret, sizeof secret); /* libzmq holds its own copy now */
    if (!in) {
        psy_err("cannot listen on %s: %s", agg.conf->listen, strerror(errno));
        goto out;
    }
    /*
     * One worker builds the model of each data generation for every reader:
     * the RRD files and the KPI cache of `psymon kpi` as its sinks, the HTTP
     * server by reference.
     */
    /* Alerts: operational rules on the engine's own timer, KPI rules on every model. */
    alerts = alert_worker_new(&agg);
    if (!alerts) {
        psy_err("cannot start the alert engine: %s", strerror(errno));
        goto out;
    }
    series = series_new(&agg);
    model = series ? model_new(&agg) : NULL;
    if (!model) {
        psy_err("cannot start the model worker: %s", strerror(errno));
        goto out;
    }
    model_add_sink(model, &(model_sink_t){"rrd", series_publish, series});
    model_add_sink(model, &(model_sink_t){"kpi-cache", kpi_snapshot_publish, &snap_mark});
    model_add_sink(model, &(model_sink_t){"alerts", alert_worker_publish, alerts});
    model_wake(model);
    agg.alerts = alerts;
    httpd = httpd_new(&agg, model);
    if (!httpd) {
        psy_err("cannot serve HTTP on %s: %s", agg.conf->http_listen, strerror(errno));
        goto out;
    }
    /* The overview of each new model is computed before its first visitor asks. */
    model_add_sink(model, &(model_sink_t){"http", httpd_publish, httpd});

    atomic_store(&agg.ready, true);
    psy_notice("version %s: collectors on %s, dashboard on http://%s/", PSYMON_VERSION,
               ingest_endpoint(in), agg.conf->http_listen);
    sd_notify(0, "READY=1");
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        long half_ms = (long)(wd_usec / 2000);
        timeout = half_ms < 1 ? 1 : half_ms < LOOP_TIMEOUT_MS ? half_ms : LOOP_TIMEOUT_MS;
    } else {
        wd_usec = 0;
    }

    code = 0;
    while (!stop) {
        zmq_pollitem_t items[2] = {
            {.socket = ingest_socket(in), .events = ZMQ_POLLIN},
            {.socket = NULL, .fd = sfd, .events = ZMQ_POLLIN},
        };
        if (zmq_poll(items, 2, timeout) < 0 && errno != EINTR) {
            psy_err("zmq_poll: %s", zmq_strerror(errno));
            code = 1;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN)
            stop = on_signals(sfd, &agg);
        if (!stop && ingest_dispatch(in) == -ECONNABORTED) {
            psy_err("the ZAP authentication thread died; stopping");
            code = 1;
            break;
        }
        if (wd_usec)
            sd_notify(0, "WATCHDOG=1");
    }
    sd_notify(0, "STOPPING=1");

out:
    if (agg_ok)
        atomic_store(&agg.ready, false);
    httpd_stop(httpd);     /* no request holds the model any more; still a valid sink */
    model_destroy(&model); /* its sinks are idle from here on */
    httpd_destroy(&httpd);
    alert_worker_destroy(&alerts);
    series_destroy(&series);
    ingest_destroy(&in);
    store_destroy(&store);
    if (agg_ok)
        agg_fini(&agg);
    free(conf);
    if (sfd >= 0)
        close(sfd);
    if (code == 0)
        psy_notice("stopped");
    return code;
}

/*
 * psymon-collector: one per center; reads the inbox, spools, sends to the
 * aggregator. Exit codes (interfaces.md): 0 clean stop, 2 usage or
 * configuration error, 1 anything else.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "collector.h"
#include "psymon/psymon.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;

static void
on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void
on_hup(int sig)
{
    (void)sig;
    reload_flag = 1;
}

static void
usage(FILE *f)
{
    fprintf(f, "Usage: psymon-collector -c FILE [-v]\n"
               "\n"
               "Reads export files from the inbox, keeps their records in a durable spool\n"
               "and sends them to the aggregator. Runs in the foreground, logs to stderr.\n"
               "\n"
               "  -c, --config FILE  the collector's configuration (INI, [collector])\n"
               "  -v, --verbose      log debug messages too\n"
               "  -h, --help         show this help\n"
               "  -V, --version      show the version\n"
               "\n"
               "SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration.\n");
}

/* Signals without SA_RESTART, so that zmq_poll returns at once with EINTR. */
static int
install_signals(void)
{
    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -errno;
    sa.sa_handler = on_hup;
    if (sigaction(SIGHUP, &sa, NULL) < 0)
        return -errno;
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0)
        return -errno;
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *conf_path = NULL;
    int level = PSY_LOG_INFO;
    int o;
    while ((o = getopt_long(argc, argv, "c:vhV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            conf_path = optarg;
            break;
        case 'v':
            level = PSY_LOG_DEBUG;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("psymon-collector %s\n", PSYMON_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!conf_path || optind != argc) {
        fprintf(stderr, "psymon-collector: %s\n",
                conf_path ? "unexpected argument" : "missing -c FILE");
        usage(stderr);
        return 2;
    }
    psy_log_init("psymon-collector", level);
    /* The state folder holds pseudonymised health data and done/ holds clear
     * identifiers: nothing the collector creates is for anyone else. */
    umask(0077);
    /*
     * Batch messages (up to PSY_MSG_MAX) are copied into libzmq and
     * encrypted by its I/O thread, a few allocations of about 100 KB each
     * per batch. With glibc's sliding thresholds they were mapped or trimmed
     * and faulted in again on every batch (page faults and TLB flushes were
     * about a sixth of the collector's CPU in a drain). Fixed thresholds keep
     * them on the heap while it works; when work ends the collector calls
     * malloc_trim() itself (collector.c), so an idle collector stays small.
     */
    mallopt(M_MMAP_THRESHOLD, 4 * PSY_MSG_MAX);
    mallopt(M_TRIM_THRESHOLD, 16 * PSY_MSG_MAX);
    mallopt(M_ARENA_MAX, 1);

    psy_coll_conf_t *conf = malloc(sizeof *conf);
    if (!conf) {
        psy_err("out of memory");
        return 1;
    }
    char err[512];
    if (psy_coll_conf_load(conf_path, conf, err, sizeof err) < 0) {
        psy_err("%s", err);
        free(conf);
        return 2;
    }
    if (sodium_init() < 0) {
        psy_err("libsodium cannot be initialised");
        free(conf);
        return 1;
    }
    if (install_signals() < 0) {
        psy_err("cannot install signal handlers: %s", strerror(errno));
        free(conf);
        return 1;
    }
    collector_t *c = collector_new(conf_path, conf);
    free(conf);
    if (!c)
        return 1; /* collector_new logged why */
    int r = collector_run(c, &stop_flag, &reload_flag);
    collector_destroy(&c);
    return r < 0 ? 1 : 0;
}

/* psymon requeue -c COLLECTOR.conf [--since DATE] [--dry-run]: see collectors/requeue.h. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "psymon/config.h"
#include "requeue.h"

typedef struct {
    const char *done_dir, *inbox_dir;
    bool dry_run;
} print_ctx_t;

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: psymon requeue -c COLLECTOR.conf [--since DATE] [--dry-run]\n\n"
            "Puts the files of the collector's state_dir/done/ back into its inbox, so that\n"
            "the collector reads and sends them again: after the aggregator was restored\n"
            "from a backup, this brings back what the backup missed. The aggregator skips\n"
            "what it already holds: a record read from the same place of the same file, or\n"
            "one equal to its current version. Safe while the collector runs: each file appears\n"
            "whole, with its owner and mode; no inbox file is ever replaced.\n\n"
            "  -c, --config FILE   the collector's configuration\n"
            "  -s, --since DATE    only files moved to done/ on or after DATE: YYYY-MM-DD\n"
            "                      (local midnight) or YYYY-MM-DDTHH:MM[:SS] (local time)\n"
            "  -n, --dry-run       print what would be put back; change nothing\n");
}

static void
print_file(const requeue_file_t *f, void *userdata)
{
    const print_ctx_t *c = userdata;
    if (f->error < 0 && !f->inbox_name[0]) {
        fprintf(stderr, "psymon requeue: %s/%s: cannot %s: %s; left in done/\n", c->done_dir,
                f->name, f->what, strerror(-f->error));
        return;
    }
    if (f->error < 0)
        fprintf(stderr, "psymon requeue: %s/%s: cannot %s: %s\n", c->done_dir, f->name, f->what,
                strerror(-f->error));
    printf("%s%s -> %s/%s (%" PRIu64 " bytes)\n", c->dry_run ? "would put back " : "", f->name,
           c->inbox_dir, f->inbox_name, f->size);
}

int
cmd_requeue(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"since", required_argument, NULL, 's'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *conf_path = NULL, *since_arg = NULL;
    bool dry_run = false;
    int64_t since = REQUEUE_SINCE_ALL;
    int o;

    optind = 1;
    while ((o = cli_getopt(argc, argv, "c:s:nh", opts)) != -1) {
        switch (o) {
        case 'c':
            conf_path = optarg;
            break;
        case 's':
            since_arg = optarg;
            break;
        case 'n':
            dry_run = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return 2;
        }
    }
    if ((o = cli_check_args(conf_path, "COLLECTOR.conf", argc, argv)) != 0)
        return o;
    if (since_arg && requeue_parse_since(since_arg, &since) < 0) {
        cli_error("--since '%s': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]", since_arg);
        return 2;
    }

    psy_coll_conf_t *conf = calloc(1, sizeof(*conf));
    if (!conf)
        return 1;
    char err[600];
    if (psy_coll_conf_load(conf_path, conf, err, sizeof err) < 0) {
        cli_error("%s", err);
        free(conf);
        return 2;
    }
    char done_dir[PSY_PATH_MAX + 8];
    snprintf(done_dir, sizeof done_dir, "%s/done", conf->state_dir);
    print_ctx_t ctx = {.done_dir = done_dir, .inbox_dir = conf->inbox, .dry_run = dry_run};
    requeue_totals_t tot;
    int rc = 1;
    const char *dirs[] = {done_dir, conf->inbox};
    for (size_t i = 0; i < 2; i++) {
        struct stat st;
        if (stat(dirs[i], &st) < 0) {
            fprintf(stderr, "psymon requeue: %s: %s\n", dirs[i], strerror(errno));
            goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "psymon requeue: %s: not a folder\n", dirs[i]);
            goto out;
        }
    }
    int r = requeue_dir(done_dir, conf->inbox, since, dry_run, print_file, &ctx, &tot);
    if (r < 0) {
        fprintf(stderr, "psymon requeue: cannot read %s: %s\n", done_dir, strerror(-r));
        goto out;
    }
    printf("%s%zu files, %" PRIu64 " bytes%s", dry_run ? "would put back " : "", tot.files,
           tot.bytes, dry_run ? "\n" : " put back into the inbox\n");
    if (tot.failed > 0)
        fprintf(stderr, "psymon requeue: %zu files failed, see above\n", tot.failed);
    rc = fflush(stdout) == 0 && tot.failed == 0 ? 0 : 1;
out:
    free(conf);
    return rc;
}

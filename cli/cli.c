/* cli: what every subcommand shares. See cli.h. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "conf_check.h"
#include "psymon/time.h"

/* "psymon SUBCOMMAND", set once by main before the subcommand runs. */
static char cli_prefix[64] = "psymon";

void
cli_set_command(const char *name)
{
    snprintf(cli_prefix, sizeof(cli_prefix), "psymon %s", name);
}

void
cli_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", cli_prefix);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    char opts[64];
    int o;

    /* A leading ':' makes getopt tell a missing value (':') from an unknown option ('?'). */
    snprintf(opts, sizeof(opts), ":%s", shortopts);
    opterr = 0;
    o = getopt_long(argc, argv, opts, longopts, NULL);
    if (o == ':' || o == '?') {
        /* optind has moved past the offending word, or is still on a cluster of short options. */
        const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
        char shortname[3] = {'-', (char)optopt, '\0'};
        const char *name = optopt && word[0] == '-' && word[1] != '-' ? shortname : word;

        if (o == ':')
            cli_error("option '%s' needs a value", name);
        else
            cli_error("unknown option '%s' (see --help)", name);
        return '?';
    }
    return o;
}

int
cli_check_args(const char *conf_path, const char *conf_what, int argc, char **argv)
{
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see --help)", argv[optind]);
        return 2;
    }
    if (!conf_path) {
        cli_error("-c %s is required (see --help)", conf_what);
        return 2;
    }
    return 0;
}

int
cli_load_agg_conf(const char *path, psy_agg_conf_t *ret)
{
    char err[600];
    int r = psy_agg_conf_load(path, ret, err, sizeof(err));

    if (r == 0)
        r = conf_check(ret, path, err, sizeof(err));
    if (r < 0) {
        cli_error("%s", err);
        return 2;
    }
    if (psy_tz_set(ret->timezone) < 0) {
        cli_error("%s: key 'timezone': unknown time zone", path);
        return 2;
    }
    return 0;
}

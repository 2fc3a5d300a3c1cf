/* The psymon subcommands, one file each. */
#ifndef PSYMON_CLI_H
#define PSYMON_CLI_H

#include "psymon/config.h"

int cmd_keygen(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_kpi(int argc, char **argv);
int cmd_requeue(int argc, char **argv);

/*
 * Loads the aggregator configuration at path and installs its time zone.
 * Prints the loader's one-line message and returns 2 on failure, else 0.
 */
int cli_load_agg_conf(const char *path, psy_agg_conf_t *ret);

struct option;

/*
 * Names the running subcommand, so that every message of cli_error() (and
 * of the helpers below) starts with "psymon NAME: ". main() calls it before
 * dispatching.
 */
void cli_set_command(const char *name);

/* Prints "psymon NAME: " and the formatted message, then a newline, to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * getopt_long() with psymon's messages: an unknown option or a missing
 * value is reported through cli_error() and returned as '?', after which
 * the caller exits with 2. The caller sets optind = 1 before the first call.
 */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/*
 * After the options: refuses a leftover operand and a missing -c (conf_what
 * names the file, e.g. "AGGREGATOR.conf"), with a message. Returns 0, or 2
 * for the caller to return.
 */
int cli_check_args(const char *conf_path, const char *conf_what, int argc, char **argv);

#endif

/* The psymon subcommands, one file each. */
#ifndef PSYMON_CLI_H
#define PSYMON_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "kpi.h"
#include "kpi_format.h"
#include "psymon/config.h"
#include "psymon/time.h"
#include "store.h"

int cmd_keygen(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_kpi(int argc, char **argv);
int cmd_spc(int argc, char **argv);
int cmd_requeue(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_silence(int argc, char **argv);

/*
 * Loads the aggregator configuration at path, checks what only the
 * aggregator can (conf_check) and installs its time zone. Prints the
 * one-line message and returns 2 on failure, else 0.
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

/* The options `psymon kpi` and `psymon spc` share (interfaces.md); NULL: not given. */
typedef struct {
    const char *conf_path, *period, *from, *to, *center, *kpis, *as_of;
    psy_time_t known_at; /* PSY_TIME_NONE: every record version */
    kpi_format_t format; /* --format, else table on a terminal and csv otherwise */
} cli_kpi_opts_t;

/*
 * Parses the arguments of `psymon NAME` (argv[0] the command), --period
 * only when with_period, so that both commands read their common options
 * alike. Returns -1 to go on, or the exit status to end with: 0 after
 * --help, 2 after a usage error (usage or "psymon NAME: ..." printed).
 */
int cli_kpi_opts_parse(int argc, char **argv, const char *name, bool with_period,
                       void (*usage)(FILE *out), cli_kpi_opts_t *ret);

typedef struct cli_model cli_model_t;

/*
 * A prepared KPI model that answers queries at as_of: the cached model of
 * everything stored when it is current (kpi_snapshot), else one built from
 * the store (and cached for the next call); with known_at (not
 * PSY_TIME_NONE) one of the record versions stored by then. Opens the
 * store of conf->data_dir read-only. Returns NULL after saying why
 * (cli_error). Caller owns the result and must destroy it.
 */
cli_model_t *cli_model_open(const psy_agg_conf_t *conf, psy_time_t as_of, psy_time_t known_at);
/* The model; valid until cm is destroyed. */
const kpi_model_t *cli_model_get(const cli_model_t *cm);
/* Frees cm and NULLs *cm. Accepts NULL. */
void cli_model_destroy(cli_model_t **cm);

#endif

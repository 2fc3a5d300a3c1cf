/* The psymon subcommands, one file each. */
#ifndef PSYMON_CLI_H
#define PSYMON_CLI_H

#include "psymon/config.h"

int cmd_keygen(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_kpi(int argc, char **argv);
int cmd_requeue(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_silence(int argc, char **argv);

/*
 * Loads the aggregator configuration at path and installs its time zone.
 * Prints the loader's one-line message and returns 2 on failure, else 0.
 */
int cli_load_agg_conf(const char *path, psy_agg_conf_t *ret);

#endif

/*
 * psymon: the operator's command line.
 *
 * Each subcommand is a function taking (argc, argv) with argv[0] the
 * subcommand's name, and returning the process exit status: 0 on success,
 * 2 on a usage or configuration error, 1 on any other failure.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "psymon/psymon.h"
#include "simulate.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"keygen", cmd_keygen, "write a CURVE key pair, or a pseudonymisation key"},
    {"status", cmd_status, "what the aggregator holds per center"},
    {"kpi", cmd_kpi, "compute KPIs from the aggregator's records"},
    {"spc", cmd_spc, "control charts (SPC) of the monthly KPIs"},
    {"simulate", cmd_simulate, "write simulated inbox files for the region's centers"},
    {"requeue", cmd_requeue, "put a collector's done/ files back into its inbox"},
    {"alerts", cmd_alerts, "list alerts, or acknowledge one"},
    {"silence", cmd_silence, "add, list or expire silences of alerts"},
};

static void
usage(FILE *out)
{
    fprintf(out, "Usage: psymon COMMAND [OPTIONS]\n"
                 "       psymon --help | --version\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'psymon COMMAND --help' for a command's options.\n");
}

int
main(int argc, char **argv)
{
    psy_log_init("psymon", PSY_LOG_INFO);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("psymon %s\n", PSYMON_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            cli_set_command(commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "psymon: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

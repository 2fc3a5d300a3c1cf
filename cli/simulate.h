/*
 * simulate: `psymon simulate`, a synthetic Region Hovedstaden.
 *
 * Writes inbox files (records.md) for the eight psychiatric centers of the
 * region, from a seeded model of patients, stays, transfers, coercion,
 * social nurse consultations and child psychiatry referrals, so that the
 * whole pipeline and the dashboard can be shown and tested without real
 * patient data. The same seed always gives the same files. See
 * docs/simulator.md.
 */
#ifndef PSYMON_SIMULATE_H
#define PSYMON_SIMULATE_H

#include <stddef.h>

/* The years for which the center table holds a catchment population. */
#define SIM_YEAR_FIRST 2021
#define SIM_YEAR_LAST  2026
#define SIM_YEARS      (SIM_YEAR_LAST - SIM_YEAR_FIRST + 1)

/* One psychiatric center of the region, as the simulator models it. */
typedef struct {
    const char *id;             /* center id of the configuration, e.g. "pc-amager" */
    const char *name;           /* e.g. "Psykiatrisk Center Amager" */
    long population[SIM_YEARS]; /* catchment population, SIM_YEAR_FIRST first */
} sim_center_t;

/*
 * The region's centers, in a fixed order; *ret_n receives their number. The
 * table is static: the caller must not free it. The demo's configuration
 * generator and the tests share it, so that configured populations and
 * simulated centers agree.
 */
const sim_center_t *sim_centers(size_t *ret_n);

/*
 * The region's population in `year` (the [region] section: child
 * psychiatry's catchment overlaps the adult centers', so it is not their
 * sum). Years outside the table take the nearest year's figure.
 */
long sim_region_population(int year);

/*
 * The `psymon simulate` subcommand. argv[0] is the subcommand's name; the
 * options follow (see --help). Returns the process exit status: 0, 2 on a
 * usage error, 1 on any other failure.
 */
int cmd_simulate(int argc, char **argv);

#endif

/*
 * conf_check: the checks of the aggregator's configuration that need the
 * aggregator's own tables. lib/config.c parses every key but cannot know
 * which KPI names exist or which have an SPC chart: those live in kpi.c
 * and spc.c.
 */
#ifndef PSYMON_CONF_CHECK_H
#define PSYMON_CONF_CHECK_H

#include <stddef.h>

#include "psymon/config.h"

/*
 * Checks c, loaded from path: every [goal KPI] names a KPI with an SPC
 * chart, and every [alert NAME] with kind = threshold names a known KPI. Call it wherever the file
 * is loaded, so that the daemon and the command line refuse the same files. Returns 0, or -EINVAL
 * with one line "PATH:LINE: [goal KPI]: ..." in err.
 */
int conf_check(const psy_agg_conf_t *c, const char *path, char *err, size_t err_size);

#endif

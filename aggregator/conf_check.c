/* conf_check: see conf_check.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "conf_check.h"
#include "kpi.h"
#include "spc.h"

int
conf_check(const psy_agg_conf_t *c, const char *path, char *err, size_t err_size)
{
    if (err_size)
        err[0] = '\0';
    for (size_t i = 0; i < c->ngoals && i < PSY_GOALS_MAX; i++) {
        const psy_goal_conf_t *g = &c->goals[i];

        if (kpi_find(g->kpi) < 0) {
            snprintf(err, err_size, "%s:%d: [goal %s]: unknown KPI, so it has no SPC chart", path,
                     g->line, g->kpi);
            return -EINVAL;
        }
        if (spc_chart_of(g->kpi) == SPC_CHART_NONE) {
            snprintf(err, err_size,
                     "%s:%d: [goal %s]: %s has no SPC chart (it has no monthly value), so a "
                     "target cannot apply",
                     path, g->line, g->kpi, g->kpi);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < c->nalerts && i < PSY_ALERTS_MAX; i++) {
        const psy_alert_conf_t *a = &c->alerts[i];

        /* A misspelt name would leave the rule the operator meant to tune as it was. */
        if (!a->threshold && !alert_builtin(a->name)) {
            snprintf(err, err_size,
                     "%s:%d: [alert %s]: no built-in rule has this name (alerts.md lists them: "
                     "IntrusiveOffTrajectory, SpcConcern, ...); a rule of one's own needs "
                     "kind = threshold",
                     path, a->line, a->name);
            return -EINVAL;
        }
        if (a->threshold && alert_builtin(a->name)) {
            snprintf(err, err_size,
                     "%s:%d: [alert %s]: a rule of one's own cannot take a built-in rule's name",
                     path, a->line, a->name);
            return -EINVAL;
        }
        if (a->threshold && kpi_find(a->kpi) < 0) {
            snprintf(err, err_size, "%s:%d: [alert %s]: key 'kpi': unknown KPI '%s'", path, a->line,
                     a->name, a->kpi);
            return -EINVAL;
        }
        /* Provisional for 365 days after its period (kpis.md): no shorter period is ever final
         * soon enough for the rule to see it (alert_facts.c looks two periods back). */
        if (a->threshold && strcmp(a->kpi, "median_days_to_readmission") == 0 &&
            a->period != KPI_YEAR) {
            snprintf(err, err_size,
                     "%s:%d: [alert %s]: median_days_to_readmission stays provisional for a year "
                     "after its period, so a rule on it can only use period = year",
                     path, a->line, a->name);
            return -EINVAL;
        }
    }
    return 0;
}

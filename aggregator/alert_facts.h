/*
 * alert_facts: the adapter between the aggregator's data and the pure
 * alert core. It fills alert_level_t from the KPI model (kpi.h) and the SPC
 * series, and alert_collector_t from what the store holds of a collector
 * (store_status_t), so that alert.c never sees a model, a store or a clock.
 */
#ifndef PSYMON_ALERT_FACTS_H
#define PSYMON_ALERT_FACTS_H

#include "alert.h"
#include "alert_store.h"
#include "kpi.h"
#include "store.h"

/*
 * The KPI facts of every level at as_of: ret[i] for conf->centers[i], and
 * ret[conf->ncenters] for the region; *ret_n = conf->ncenters + 1. ret
 * must hold PSY_CENTERS_MAX + 1 levels. From the model m:
 * intrusive_on_track, intrusive_reduction and intrusive_target_reduction
 * of r12 ending with the last complete month; belt_over_48h of the current
 * and the last complete month; referrals_overdue of the current month (at
 * as_of); and each threshold rule's KPI in its latest complete period. The
 * SPC facts (lv->spc) are left empty: alert_facts_spc fills them. Returns
 * 0, -EINVAL (a model that does not cover as_of), -ENOMEM.
 */
int alert_facts_from_kpi(const kpi_model_t *m, const psy_agg_conf_t *conf, psy_time_t as_of,
                         alert_level_t *ret, size_t *ret_n);

/*
 * Adds the latest-point facts of one SPC series (spc.md: variation,
 * assessment, assurance, value, cl, lcl, ucl, target of the last included
 * point) to the level `level` of levels[0..n). Returns 0, -ENOENT (no such
 * level), -ENOSPC (ALERT_SPC_MAX series already).
 */
int alert_facts_spc(alert_level_t *levels, size_t n, const char *level, const alert_spc_t *s);

/*
 * The SPC facts of every level of levels[0..n) (as alert_facts_from_kpi
 * filled them) at as_of, from the model m: the series of the SpcConcern
 * KPIs, of intrusive_episodes (its monthly trajectory target) and of every
 * KPI with a [goal], each judged at its latest included point (spc.md:
 * provisional and empty points are never the latest), added with
 * alert_facts_spc. m must cover as_of. Returns 0, -EINVAL (a model that
 * does not cover as_of), -ENOMEM.
 */
int alert_facts_spc_model(const kpi_model_t *m, const psy_agg_conf_t *conf, psy_time_t as_of,
                          alert_level_t *levels, size_t n);

/*
 * The operational facts of center c from its store status at now, keeping
 * in *mem what the next call needs (the backlog and when it last shrank,
 * the rejected count and when it last rose). `started` is when the
 * aggregator started: a collector never heard from counts as silent from
 * then. mem->center names c; a fresh mem (center "") starts remembering now.
 */
void alert_facts_collector(const psy_center_conf_t *c, const store_status_t *st, psy_time_t now,
                           psy_time_t started, alert_collector_mem_t *mem, alert_collector_t *ret);

#endif

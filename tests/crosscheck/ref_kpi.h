/*
 * ref_kpi: a deliberately simple second implementation of kpis.md, written
 * from the specification alone, for the randomized cross-check
 * (tests/test_crosscheck.c).
 *
 * It shares nothing with the production path: its own calendar (the EU
 * summer-time rule for Europe/Copenhagen written out by hand), its own
 * contacts, stays and referral matching, plain O(n^2) loops and no hash
 * tables. Only plain data types (psy_record_t, psy_agg_conf_t) come from
 * libpsymon. Speed is not a goal: it is meant for a few thousand records.
 */
#ifndef PSYMON_REF_KPI_H
#define PSYMON_REF_KPI_H

#include <stdbool.h>
#include <stddef.h>

#include "psymon/config.h"
#include "psymon/record.h"

typedef struct {
    int center; /* index into the configuration's centers */
    psy_record_t rec;
} ref_record_t;

/* A number as printed: absent, an integer, or a number with 4 decimals. */
typedef struct {
    bool set;
    bool integer;
    double v;
} ref_num_t;

typedef struct {
    ref_num_t value, n, d;
    bool provisional;
} ref_row_t;

typedef enum { REF_MONTH, REF_QUARTER, REF_YEAR, REF_R12 } ref_kind_t;

#define REF_REGION (-1)

typedef struct ref_model ref_model_t;

/*
 * Builds contacts, stays and referral matches of recs (the current records
 * after corrections) as of `as_of`. recs must outlive the model. Returns
 * NULL on allocation failure.
 */
ref_model_t *ref_model_new(const psy_agg_conf_t *conf, const ref_record_t *recs, size_t n,
                           psy_time_t as_of);
void ref_model_free(ref_model_t **m);

/* The KPI names of kpis.md, in the reference's own order. */
size_t ref_kpi_count(void);
const char *ref_kpi_name(size_t i);

/*
 * Every KPI of one period and level into out[ref_kpi_count()]. For quarters
 * `month` is the quarter's first month, for years 1, for r12 the ending
 * month. level is a center index or REF_REGION.
 */
void ref_compute(const ref_model_t *m, ref_kind_t kind, int year, int month, int level,
                 ref_row_t *out);

/* [start, end) of a period, by the reference's own calendar. */
void ref_period_bounds(ref_kind_t kind, int year, int month, psy_time_t *ret_start,
                       psy_time_t *ret_end);

#endif

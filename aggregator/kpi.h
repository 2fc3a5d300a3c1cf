/*
 * The KPI engine: the pure core that turns registrations into the numbers of
 * ../shared/spec/kpis.md.
 *
 * Records and an as-of instant in, rows out. No sockets, clocks, files or
 * logging: the caller loads the records (store.c) and prints the rows
 * (kpi_format.c). Civil time is that of the zone installed by psy_tz_set().
 */
#ifndef PSYMON_KPI_H
#define PSYMON_KPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/config.h"
#include "psymon/record.h"
#include "psymon/time.h"

/* A registration as it stands after all corrections, with its center. */
typedef struct {
    uint16_t center; /* index into psy_agg_conf_t.centers */
    psy_record_t rec;
} kpi_record_t;

typedef struct {
    size_t count, cap;
    kpi_record_t *items;
} kpi_records_t;

/* Appends a copy of r. Returns 0 or -ENOMEM. */
int kpi_records_push(kpi_records_t *v, uint16_t center, const psy_record_t *r);
/* Frees the items and zeroes v. Accepts NULL. */
void kpi_records_free(kpi_records_t *v);

typedef enum { KPI_MONTH, KPI_QUARTER, KPI_YEAR, KPI_R12 } kpi_period_kind_t;

/*
 * A calendar period in the configured zone. `month` is the period's first
 * month for month, quarter and year (1, 4, 7, 10 for quarters; 1 for
 * years) and the ending month for r12.
 */
typedef struct {
    kpi_period_kind_t kind;
    int year;
    int month;
} kpi_period_t;

/* "2024-03", "2024-Q1", "2024", "r12:2024-03". buf needs 16 bytes. */
void kpi_period_name(const kpi_period_t *p, char *buf, size_t size);
/* Half-open [start, end) of p. */
void kpi_period_bounds(const kpi_period_t *p, psy_time_t *ret_start, psy_time_t *ret_end);
/*
 * Every period of `kind` from the one holding from_y-from_m through the one
 * holding to_y-to_m (r12: ending months from .. to). *ret is malloc'ed.
 * Returns 0, -EINVAL when to is before from or more than
 * PSY_HTTP_PERIODS_MAX periods would result, -ENOMEM.
 */
int kpi_period_list(kpi_period_kind_t kind, int from_y, int from_m, int to_y, int to_m,
                    kpi_period_t **ret, size_t *ret_n);

/* Every KPI name of kpis.md, in the order of that page. */
size_t kpi_count(void);
const char *kpi_name(size_t i);
/* Index of `name`, or -1. */
int kpi_find(const char *name);

#define KPI_LEVEL_REGION (-1)

/* A printed number: absent, an integer, or a number printed with 4 decimals. */
typedef struct {
    bool set;
    bool integer;
    double v;
} kpi_num_t;

typedef struct {
    kpi_period_t period;
    int level; /* center index, or KPI_LEVEL_REGION */
    int kpi;   /* index for kpi_name() */
    kpi_num_t value, numerator, denominator;
    bool provisional;
} kpi_row_t;

typedef struct {
    const psy_agg_conf_t *conf;
    psy_time_t as_of;
    size_t nperiods;
    const kpi_period_t *periods;
    size_t nlevels;
    const int *levels; /* center indexes and/or KPI_LEVEL_REGION */
    size_t nkpis;
    const int *kpis;
} kpi_query_t;

/*
 * Computes one row per (period, level, kpi) of q, ordered by period, then
 * level, then kpi, as listed in q. *ret_rows is malloc'ed (caller frees).
 * Returns 0, -EINVAL for a bad query, -ENOMEM.
 */
int kpi_compute(const kpi_records_t *recs, const kpi_query_t *q, kpi_row_t **ret_rows,
                size_t *ret_n);

/*
 * A prepared model: the registrations of recs whose time is at or before
 * `cutoff`, joined once (patients, contacts, stays, referral matches) into
 * compact tables that no longer refer to recs. kpi_compute() is
 * kpi_model_new(recs, conf, as_of) then kpi_model_compute(); a caller that
 * answers many queries from one data generation builds the model once.
 *
 * A model answers a query at as_of exactly when it holds the same records
 * as a model built for as_of would: as_of is at or after the latest record
 * in it and before the earliest record it left out (kpi_model_covers). So a
 * model built with cutoff INT64_MAX answers every as_of from the latest
 * record on, "now" included. conf must list the same centers, in the same
 * order, at build and at query time.
 */
typedef struct kpi_model kpi_model_t;

/* Returns NULL with errno set (EINVAL, ENOMEM). Caller owns the model and must destroy it. */
kpi_model_t *kpi_model_new(const kpi_records_t *recs, const psy_agg_conf_t *conf,
                           psy_time_t cutoff);
/* Frees the model and NULLs *m. Accepts NULL. */
void kpi_model_destroy(kpi_model_t **m);
/* True when kpi_model_compute() can answer a query at as_of. */
bool kpi_model_covers(const kpi_model_t *m, psy_time_t as_of);
/*
 * As kpi_compute(), from the model. Returns 0, -EINVAL for a bad query, a
 * query the model does not cover or another number of centers, -ENOMEM.
 */
int kpi_model_compute(const kpi_model_t *m, const kpi_query_t *q, kpi_row_t **ret_rows,
                      size_t *ret_n);

/* The number of centers the model was built for. */
size_t kpi_model_centers(const kpi_model_t *m);
/*
 * The time of the earliest record the model left out as after its cutoff
 * (INT64_MAX when none): it answers "now" only until then, and a fresh
 * model must be built when that time comes.
 */
psy_time_t kpi_model_valid_until(const kpi_model_t *m);

/* What kpi_model_days() gives per level and day. */
typedef enum {
    KPI_DAY_ADMISSIONS, /* contacts starting (the admissions KPI) */
    KPI_DAY_DISCHARGES, /* contacts ending (discharges) */
    KPI_DAY_COERCION,   /* coercion episodes of every kind (a voluntary belt is none) */
    KPI_DAY_BELT,
    KPI_DAY_RESTRAINT, /* physical_restraint */
    KPI_DAY_SEDATIVE,  /* sedative_medication */
    KPI_DAY_BED_DAYS,  /* the contacts' bed days within the day */
    KPI_DAY_INDEX,     /* index discharges */
    KPI_DAY_READM30,   /* of those, followed by an acute qualifying stay within 30 days */
    KPI_DAY__COUNT
} kpi_day_t;

/*
 * The engine's own contacts, episodes and index discharges counted per
 * day, for drawing: day i is [first + i days, first + (i + 1) days), days
 * of exactly 24 hours (RRD's UTC steps). The rules are the KPIs' (kpis.md):
 * a day's figures summed over a month equal the month's KPI, to the
 * microsecond. ret holds (ncenters + 1) * ndays * KPI_DAY__COUNT doubles,
 * laid out [level][day][what], the region last. Returns 0, or -EINVAL when
 * the model does not cover as_of.
 */
int kpi_model_days(const kpi_model_t *m, psy_time_t first, size_t ndays, psy_time_t as_of,
                   double *ret);

/*
 * The model as bytes (native byte order, for a cache file on this machine):
 * kpi_model_write hands them to write(ctx, p, n) in pieces and returns 0 or
 * the first negative value write returned. kpi_model_from_buffer checks
 * every count, offset and center index of len bytes at buf (8-byte
 * aligned) and returns a model whose tables point into buf, which must stay
 * unchanged until the model is destroyed; NULL when the bytes are not a
 * whole, valid model or on ENOMEM.
 */
int kpi_model_write(const kpi_model_t *m, int (*write)(void *ctx, const void *p, size_t n),
                    void *ctx);
kpi_model_t *kpi_model_from_buffer(const void *buf, size_t len);

#endif

/*
 * model: the data as of one generation, built once and shared by every
 * reader.
 *
 * One refresh worker owns the job of turning the store into a prepared KPI
 * model (kpi.h). Ingest wakes it after every commit that changed records
 * (model_wake); it waits MODEL_DEBOUNCE_MS for more commits to land, loads
 * the records once, builds the model, frees the records and publishes the
 * result. The published model is immutable and reference-counted: the HTTP
 * server, the RRD series, the KPI cache file of `psymon kpi` and the alert
 * engine each take a reference (model_current) and drop it when done, so a
 * reader never blocks ingest, never waits for a build and never sees half
 * of one.
 *
 * After publishing, the worker hands the model to each registered sink in
 * turn (a small table of function pointers, as OpenSMTPD's backends): the
 * RRD writer, the cache file, the alert engine. A sink runs on the worker's
 * thread; a slow sink delays the next model, never ingest or a reader.
 */
#ifndef PSYMON_MODEL_H
#define PSYMON_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "agg.h"
#include "kpi.h"
#include "psymon/config.h"
#include "psymon/time.h"

/* Commits closer together than this are folded into one rebuild. */
#define MODEL_DEBOUNCE_MS 1000
/* The worker's nice value: builds yield the CPU to ingest (and the HTTP server). */
#define MODEL_NICE 10

/* One generation's data. Plain data: read it, never change it. */
typedef struct agg_model {
    uint64_t generation;        /* agg->generation the model was built at */
    uint64_t vid;               /* the store's generation (store_generation) */
    psy_time_t stored_at;       /* ... and its last commit time */
    psy_time_t as_of;           /* its cutoff: it holds every record dated up to then */
    psy_time_t built_at;        /* when the worker finished it */
    const psy_agg_conf_t *conf; /* the configuration it was built for (a reference) */
    const kpi_model_t *kpi;     /* the records, prepared (kpi_model_new, cutoff as_of) */
    size_t nrecords;            /* records it was built from */
} agg_model_t;

/* What a sink does with each new model. It must not keep m past the call without model_ref. */
typedef struct {
    const char *name;
    void (*publish)(void *ctx, const agg_model_t *m);
    void *ctx;
} model_sink_t;

typedef struct model model_t;

/*
 * Starts the refresh worker for agg. It builds the first model at once.
 * Returns NULL with errno set on failure. Caller owns the result and must
 * destroy it.
 */
model_t *model_new(agg_t *agg);
/* Stops the worker, waiting for a build in progress, and NULLs *m. Accepts NULL. */
void model_destroy(model_t **m);

/*
 * Adds a sink; call before the first model_wake of interest. At most
 * MODEL_SINKS_MAX sinks. Returns 0 or -ENOSPC. The sink is handed the
 * current model, if any, at its next build.
 */
#define MODEL_SINKS_MAX 8
int model_add_sink(model_t *w, const model_sink_t *sink);

/* Tells the worker the data changed. Cheap, never blocks; safe from any thread. */
void model_wake(model_t *w);

/*
 * The newest published model with a reference taken, or NULL before the
 * first build (errno EAGAIN) or when the last build failed and none exists.
 * Release it with model_unref.
 */
const agg_model_t *model_current(model_t *w);
/* Takes another reference to m. */
const agg_model_t *model_ref(const agg_model_t *m);
/* Drops a reference and NULLs *m; the last one frees it. Accepts NULL. */
void model_unref(const agg_model_t **m);

/* What model_at() handed out: a reference to the shared model, or a model of its own. */
typedef struct {
    const agg_model_t *ref;
    kpi_model_t *own;
} model_hold_t;

/*
 * A prepared model that answers queries at as_of for conf's centers: the
 * shared one when it covers as_of (the usual case, "now"), else one built
 * from the store for this caller (an as_of in the past), one such build at
 * a time. Release it with model_release(hold). NULL with errno set on failure.
 */
const kpi_model_t *model_at(model_t *w, const psy_agg_conf_t *conf, psy_time_t as_of,
                            model_hold_t *hold);
/* Gives back what model_at() handed out. */
void model_release(model_hold_t *hold);

/*
 * kpi_compute() for q, from the current model when it covers q->as_of (the
 * usual case: "now"), else from the records loaded afresh for this one
 * query (an as_of in the past), one such load at a time. Returns what
 * kpi_model_compute returns, or a negative errno from the store.
 */
int model_compute(model_t *w, const kpi_query_t *q, kpi_row_t **ret_rows, size_t *ret_n);

/*
 * Waits until a model of at least `generation` is published, up to
 * timeout_ms. Returns 0, or -ETIMEDOUT. For tests and for `--wait` style
 * callers; readers never need it.
 */
int model_wait(model_t *w, uint64_t generation, int timeout_ms);

#endif

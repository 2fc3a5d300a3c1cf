/*
 * agg_t: what the aggregator's threads share.
 *
 * The ingest loop (main thread) owns the ZeroMQ sockets and its store_t;
 * the HTTP server and the RRD writer run in their own threads with their
 * own store_t. They share only this: the configuration (replaced whole on
 * SIGHUP, under `lock`), a readiness flag, a data generation number that
 * ingest bumps after every commit, and counters for /metrics.
 */
#ifndef PSYMON_AGG_H
#define PSYMON_AGG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "psymon/config.h"

typedef struct {
    atomic_uint_fast64_t batches;           /* batches committed */
    atomic_uint_fast64_t records_stored;    /* record versions appended */
    atomic_uint_fast64_t records_duplicate; /* already stored: skipped */
    atomic_uint_fast64_t heartbeats;
    atomic_uint_fast64_t msgs_malformed; /* undecodable or over a limit */
    atomic_uint_fast64_t msgs_denied;    /* from a key no longer allowed */
    atomic_uint_fast64_t auth_denied;    /* ZAP refusals */
    atomic_uint_fast64_t store_errors;
    atomic_uint_fast64_t heartbeats_limited; /* over the per-center rate: not stored */
} agg_counters_t;

typedef struct agg_conf_ref agg_conf_ref_t;

typedef struct agg {
    pthread_mutex_t lock;       /* guards conf */
    agg_conf_ref_t *conf_ref;   /* the running configuration; replaced whole on SIGHUP */
    const psy_agg_conf_t *conf; /* = &conf_ref's configuration, for the thread that owns agg */
    char conf_path[PSY_PATH_MAX];
    atomic_bool ready;               /* the store is open and the socket bound */
    atomic_uint_fast64_t generation; /* bumped after every commit that changed records */
    agg_counters_t counters;
    /* Called after a commit that changed records (the model worker's wake-up); may be NULL. */
    void (*on_change)(void *ctx);
    void *on_change_ctx;
    /* The alert engine (alert_worker.h), for the HTTP server's /api/v1/alerts; may be NULL. */
    struct alert_worker *alerts;
} agg_t;

/*
 * The running configuration with a reference taken: it stays valid, and
 * unchanged, until agg_conf_put, however often SIGHUP replaces it meanwhile.
 * Readers share one copy instead of copying the ~100 KB struct.
 */
const psy_agg_conf_t *agg_conf_get(agg_t *agg);
/* Takes another reference to c, which came from agg_conf_get. */
const psy_agg_conf_t *agg_conf_ref(const psy_agg_conf_t *c);
/* Drops a reference and NULLs *c; the last one frees it. Accepts NULL. */
void agg_conf_put(const psy_agg_conf_t **c);

/*
 * Initialises *agg (zeroed counters, not ready, generation 0) around conf,
 * which it takes ownership of (malloc'ed; freed when its last reference
 * goes). conf_path may be NULL. Returns 0 or a negative errno.
 */
int agg_init(agg_t *agg, psy_agg_conf_t *conf, const char *conf_path);
/* Drops the configuration and frees the lock. Accepts an agg whose conf is NULL. */
void agg_fini(agg_t *agg);
/* Swaps in conf (taking ownership) under the lock; readers holding the old one keep it. */
void agg_conf_replace(agg_t *agg, psy_agg_conf_t *conf);
/* Bumps the data generation and tells on_change: call after every commit that changed records. */
void agg_data_changed(agg_t *agg);
/*
 * Whether the configured center `center` lists the Z85 public key `key`,
 * as the configuration stands now (under the lock).
 */
bool agg_key_allowed(agg_t *agg, const char *center, const char *key);
/*
 * The id of the center whose key list holds the Z85 public key `key`, copied
 * into ret (PSY_CENTER_MAX + 1 bytes). False, ret untouched, when none does.
 */
bool agg_center_by_key(agg_t *agg, const char *key, char ret[PSY_CENTER_MAX + 1]);

#endif

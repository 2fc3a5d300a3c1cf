/*
 * store: the aggregator's durable record of everything it received, in
 * SQLite (WAL, synchronous=FULL) under data_dir.
 *
 * Append-only: every version of every record is kept with the instant it
 * was stored, so that any past state can be reproduced (--known-at). A
 * record is keyed by (center, id); the latest version wins, in the order
 * the collector read them (its sequence numbers). Batches are deduplicated
 * by (center, epoch, sequence).
 *
 * One store_t per thread: the daemon's ingest loop, the HTTP server and
 * the command line each open their own.
 */
#ifndef PSYMON_STORE_H
#define PSYMON_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "kpi.h"
#include "psymon/codec.h"
#include "psymon/config.h"

typedef struct store store_t;

/*
 * Opens (creating when absent and !readonly) the store in data_dir.
 * Returns NULL with errno set on failure. Caller owns the store and must
 * destroy it.
 */
store_t *store_new(const char *data_dir, bool readonly);
/* Closes the store and NULLs *s. Accepts NULL. */
void store_destroy(store_t **s);

/*
 * Stores the records of b for `center` in one transaction, skipping those
 * already stored for (center, epoch, seq), and a record identical to the
 * current version of its (center, id) appends nothing. A batch that would
 * leave a gap after the highest stored sequence stores nothing. On success
 * *ret_acked is the highest contiguous sequence stored for the epoch, to
 * be acknowledged. Returns 0 or a negative errno (-EIO for SQLite errors).
 */
int store_apply_batch(store_t *s, const char *center, const psy_batch_t *b, psy_time_t now,
                      uint64_t *ret_acked);

/* What store_apply did with one batch. */
typedef struct {
    uint64_t acked;     /* highest contiguous sequence stored for the epoch */
    uint64_t appended;  /* record versions appended */
    uint64_t duplicate; /* records skipped: sequence already stored, or content unchanged */
    bool gap;           /* the batch began after a gap, so nothing was stored */
} store_apply_result_t;

/*
 * As store_apply_batch, reporting in *ret what was stored, so that the
 * caller can count and knows whether the records changed. *ret is untouched
 * on failure.
 */
int store_apply(store_t *s, const char *center, const psy_batch_t *b, psy_time_t now,
                store_apply_result_t *ret);

/*
 * Applies n batches (batches[i] from centers[i], in this order) in one
 * transaction, committed durably (synchronous=FULL) before it returns 0:
 * one fsync for all of them. Each batch sees what the ones before it
 * stored, so the outcome per batch is what n calls of store_apply would
 * give; ret[i] is batch i's. On failure nothing of any batch is stored,
 * ret is not to be read, and the caller may apply them one by one to find
 * the one that fails.
 */
int store_apply_many(store_t *s, size_t n, const char *const *centers,
                     const psy_batch_t *const *batches, psy_time_t now, store_apply_result_t *ret);

/* Highest sequence stored for (center, epoch); 0 when none. */
int store_acked(store_t *s, const char *center, const uint8_t epoch[PSY_EPOCH_LEN],
                uint64_t *ret_acked);

/* Records a collector's heartbeat as received at `now`. */
int store_heartbeat(store_t *s, const char *center, const psy_heartbeat_t *hb, psy_time_t now);

/*
 * Loads the current version of every record of the configured centers, as
 * known at `known_at` (PSY_TIME_NONE: everything stored), leaving out voided
 * ones. Records of centers no longer configured are skipped.
 * *ret need not be initialised and its previous contents are not
 * freed; on success the caller owns it and frees it with kpi_records_free().
 * Returns 0, -ENOMEM or -EIO, with *ret untouched on failure.
 */
int store_load(store_t *s, const psy_agg_conf_t *conf, psy_time_t known_at, kpi_records_t *ret);

/*
 * The store's generation: the id and stored_at of the latest record version
 * (0 and PSY_TIME_NONE when empty). Versions are only appended, so equal
 * generations mean equal contents; a cache of anything computed from the
 * records (kpi_snapshot) is up to date when its generation matches. One
 * indexed lookup, cheap enough to ask before every query.
 */
int store_generation(store_t *s, uint64_t *ret_vid, psy_time_t *ret_stored_at);

typedef struct {
    uint64_t records;        /* distinct record ids stored (a voided id still counts) */
    uint64_t rejected;       /* from the latest heartbeat */
    uint64_t backlog;        /* from the latest heartbeat, less what was acked since */
    psy_time_t last_seen;    /* latest batch or heartbeat; PSY_TIME_NONE when never */
    psy_time_t clock_offset; /* collector clock - aggregator clock at last heartbeat */
    uint64_t spool_bytes;    /* the collector's spool size at its last heartbeat */
    bool spool_full;
    char version[PSY_VERSION_MAX + 1];
    psy_time_t
        inbox_read; /* the collector last read an inbox file (aggregator clock); 0: unknown */
} store_status_t;

/* What the store holds for `center`. */
int store_status(store_t *s, const char *center, store_status_t *ret);

#endif

/*
 * alert_store: alerts, silences, acknowledgements and the notification
 * outbox in the aggregator's SQLite database (data_dir/psymon.db), in
 * tables of their own (alert_*), on a connection of their own.
 *
 * Durable in the style of the records (WAL, synchronous=FULL): an
 * evaluation's new alert states and the outbox rows of its notices commit
 * in one transaction (alert_store_commit); a delivery marks its row done in
 * another. A kill -9 at any moment therefore neither loses a notice (it is
 * in the outbox, or its transition is not stored and happens again) nor
 * repeats one marked done. Between a receiver's 2xx and the mark, a crash
 * resends: delivery is at least once.
 *
 * One alert_store_t per thread: the alert worker, the delivery thread and
 * the command line each open their own.
 */
#ifndef PSYMON_ALERT_STORE_H
#define PSYMON_ALERT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "alert.h"

/* Undelivered notifications the outbox holds at most; more are given up and logged. */
#define ALERT_OUTBOX_MAX 10000
/* Payload bytes of one notification at most. */
#define ALERT_PAYLOAD_MAX (64 * 1024)

typedef struct alert_store alert_store_t;

/*
 * Opens the alert tables in data_dir/psymon.db, creating the database and
 * the tables when absent (also when `readonly`: the tables are created once
 * by whoever comes first; a read-only caller never writes after that).
 * Returns NULL with errno set. Caller owns the result and must destroy it.
 */
alert_store_t *alert_store_new(const char *data_dir);
/* Closes and NULLs *s. Accepts NULL. */
void alert_store_destroy(alert_store_t **s);

/* The stored alerts (*ret malloc'ed, caller frees). Returns 0, -ENOMEM, -EIO. */
int alert_store_load(alert_store_t *s, alert_t **ret, size_t *ret_n);

/* One notification to deliver. */
typedef struct {
    int64_t id;
    char channel[16];          /* webhook, exec */
    char target[PSY_PATH_MAX]; /* URL or program */
    char fingerprint[17];
    char status[16]; /* firing, resolved */
    char *payload;   /* malloc'ed */
    int attempts;
    psy_time_t created_at, next_at;
} alert_outbox_t;

/* Frees the payloads and the array. Accepts NULL. */
void alert_outbox_free(alert_outbox_t *rows, size_t n);

/* What the alert worker remembers of a collector between evaluations. */
typedef struct {
    char center[PSY_CENTER_MAX + 1];
    uint64_t backlog;
    psy_time_t backlog_since;
    uint64_t rejected;
    psy_time_t rejected_rose_at;
} alert_collector_mem_t;

/*
 * Replaces the stored alerts by alerts[0..n), stores the collectors'
 * memory and appends the outbox rows (id, attempts and next_at are set
 * here), all in one durable transaction. Returns 0 or a negative errno;
 * on failure nothing changed.
 */
int alert_store_commit(alert_store_t *s, const alert_t *alerts, size_t n,
                       const alert_collector_mem_t *mem, size_t nmem, const alert_outbox_t *rows,
                       size_t nrows, psy_time_t now);

/* The remembered collectors (*ret malloc'ed, caller frees). */
int alert_store_collectors(alert_store_t *s, alert_collector_mem_t **ret, size_t *ret_n);

/*
 * The notifications due at now, oldest first, at most `max`: per
 * (channel, target) only the oldest undelivered one, so that a receiver
 * gets its notices in order and a dead one holds up only itself.
 */
int alert_store_outbox_due(alert_store_t *s, psy_time_t now, size_t max, alert_outbox_t **ret,
                           size_t *ret_n);
/* Undelivered, not given up notifications. */
int alert_store_outbox_pending(alert_store_t *s, uint64_t *ret);
/* Marks row id delivered at now. */
int alert_store_outbox_done(alert_store_t *s, int64_t id, psy_time_t now);
/* Records a failed attempt: next try at next_at. */
int alert_store_outbox_retry(alert_store_t *s, int64_t id, psy_time_t next_at, const char *error);
/* Gives row id up (after ALERT retries for 24 h). */
int alert_store_outbox_give_up(alert_store_t *s, int64_t id, psy_time_t now, const char *error);

/* Adds a silence (its id set by the caller). Returns 0, -EEXIST, or a negative errno. */
int alert_store_silence_add(alert_store_t *s, const alert_silence_t *sil);
/* Ends silence id at now. Returns 0, -ENOENT (no such silence, or already ended). */
int alert_store_silence_expire(alert_store_t *s, const char *id, psy_time_t now);
/* Silences that end after `since` (*ret malloc'ed, caller frees), by start. */
int alert_store_silences(alert_store_t *s, psy_time_t since, alert_silence_t **ret, size_t *ret_n);

/*
 * Forgets history older than `before`: notifications delivered or given up,
 * silences that ended, and acknowledgements of alerts no longer stored.
 * Returns the number of rows removed, or a negative errno.
 */
int alert_store_prune(alert_store_t *s, psy_time_t before);
/* How long the aggregator keeps that history: over a year, for the yearly report. */
#define ALERT_HISTORY_KEEP (400 * PSY_DAY)

/* Adds an acknowledgement. */
int alert_store_ack_add(alert_store_t *s, const alert_ack_t *ack);
/* The latest acknowledgement of each alert in the store, however old (*ret malloc'ed). */
int alert_store_acks(alert_store_t *s, alert_ack_t **ret, size_t *ret_n);

#endif

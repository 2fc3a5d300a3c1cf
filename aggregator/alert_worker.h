/*
 * alert_worker: the alert engine inside the aggregator. A thread that,
 * every ALERT_WORKER_TICK_MS, gathers the facts (collectors from the store,
 * KPI facts from the latest model handed to alert_worker_publish), reads
 * silences and acknowledgements (so the command line's take effect within
 * 10 s), runs alert_eval and commits the new states and their outbox rows
 * in one transaction; then wakes the delivery thread (notify.h), which it
 * owns.
 */
#ifndef PSYMON_ALERT_WORKER_H
#define PSYMON_ALERT_WORKER_H

#include <stdbool.h>
#include <stdio.h>

#include "agg.h"
#include "alert.h"
#include "model.h"

#define ALERT_WORKER_TICK_MS 5000
/* Annotations that alone changed are stored at most this often. */
#define ALERT_ANN_STORE_INTERVAL (60 * PSY_USEC)

typedef struct alert_worker alert_worker_t;

/* Starts the worker and its delivery thread. NULL with errno set. Caller owns and destroys it. */
alert_worker_t *alert_worker_new(agg_t *agg);
/* Stops both threads and NULLs *w. Accepts NULL. */
void alert_worker_destroy(alert_worker_t **w);

/*
 * A model sink (model_sink_t.publish, ctx = the worker): computes the KPI
 * facts of every level from m (alert_facts_from_kpi, alert_facts_spc_model)
 * and hands them to the next evaluation. Runs on the refresh worker's
 * thread; never blocks long.
 */
void alert_worker_publish(void *ctx, const agg_model_t *m);

/*
 * A copy of the alerts as last evaluated, taken under the worker's lock, for
 * readers on other threads (the dashboard's pages): *ret is malloc'ed (NULL
 * when there are none) and the caller frees it. Returns 0 or -ENOMEM.
 */
int alert_worker_snapshot(alert_worker_t *w, alert_t **ret, size_t *ret_n);

/*
 * Whether an evaluation's alerts (next) must be committed to the store over
 * prev (the previous evaluation's): always when `other` (new notices, the
 * collectors' memory changed) or a state changed; when only annotations
 * changed (a duration that grew, "i 17 minutter", a revised value), once
 * ALERT_ANN_STORE_INTERVAL has passed since last_commit. *unstored carries,
 * from one evaluation to the next, that annotations changed since the last
 * commit (prev may already hold text the store does not); the caller keeps
 * it and resets it only through this function. `psymon alerts` and the
 * Alertmanager resend read the store, so they lag the annotations by at most
 * that interval plus a tick, and a firing alert costs no durable commit
 * every tick.
 */
bool alert_worker_store_due(const alert_t *next, size_t nnext, const alert_t *prev, size_t nprev,
                            bool other, psy_time_t now, psy_time_t last_commit, bool *unstored);

/* The body of /api/v1/alerts (as `psymon alerts --json --all`), malloc'ed; NULL on ENOMEM. */
char *alert_worker_api_json(alert_worker_t *w);
/* psymon_alert and the notification counters for /metrics. Returns 0 or -EIO. */
int alert_worker_metrics_write(alert_worker_t *w, FILE *f);

#endif

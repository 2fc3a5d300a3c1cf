/*
 * notify: the delivery thread of alert notifications (alerts.md,
 * "Notifications").
 *
 * It owns a connection to the alert tables and does two jobs, neither of
 * which ever touches ingest or the dashboard: it delivers the rows of the
 * outbox (webhook, exec), one attempt per row at a time with a timeout on
 * every call, retrying with back-off for 24 hours and then giving up with a
 * log line; and it keeps every configured Alertmanager told of the active
 * alerts, as a Prometheus server does, at least every NOTIFY_AM_RESEND_S.
 *
 * Channels are back-ends behind a small table of function pointers looked
 * up by name (as OpenSMTPD's table backends): "webhook", "alertmanager",
 * "exec".
 */
#ifndef PSYMON_NOTIFY_H
#define PSYMON_NOTIFY_H

#include <stddef.h>

#include "alert_format.h"
#include "psymon/config.h"

#define NOTIFY_HTTP_TIMEOUT_MS    10000 /* a whole HTTP POST */
#define NOTIFY_CONNECT_TIMEOUT_MS 5000
#define NOTIFY_EXEC_TIMEOUT_MS    30000 /* an exec program must exit within this */
#define NOTIFY_AM_RESEND_S        60
#define NOTIFY_RETRY_FIRST_S      5   /* the first retry; then doubling ... */
#define NOTIFY_RETRY_MAX_S        600 /* ... up to this */
#define NOTIFY_GIVE_UP            PSY_DAY
#define NOTIFY_BATCH              32 /* outbox rows tried per round */

/* A channel: delivers payload to target; 0, or a negative errno with a message in err. */
typedef struct {
    const char *name;
    int (*deliver)(const char *target, const char *payload, char *err, size_t err_size);
} notify_channel_t;

/* The channel called `name`, or NULL. */
const notify_channel_t *notify_channel(const char *name);

/*
 * After a failed attempt at a notification created at `created_at`, having
 * failed `attempts` times before: when to try again (5 s, 10 s, 20 s ...
 * doubling up to every 10 minutes), or PSY_TIME_NONE when it is given up
 * (24 hours after it was created).
 */
psy_time_t notify_retry_at(psy_time_t created_at, int attempts, psy_time_t now);

#define NOTIFY_CHANNELS 3 /* webhook, alertmanager, exec: the order of notify_stats */

typedef struct notify notify_t;

/*
 * Starts the delivery thread on data_dir's store, with the Alertmanagers
 * and external_url of conf (copied). Returns NULL with errno set. Caller
 * owns the result and must destroy it.
 */
notify_t *notify_new(const char *data_dir, const psy_agg_conf_t *conf);
/* Stops the thread (an attempt in progress finishes first) and NULLs *n. Accepts NULL. */
void notify_destroy(notify_t **n);
/* Takes the [notify] and external_url of a re-read configuration. */
void notify_reload(notify_t *n, const psy_agg_conf_t *conf);
/* Tells the thread the outbox or the alerts changed. Never blocks long; any thread. */
void notify_wake(notify_t *n);
/* Notifications sent and failed per channel, for /metrics: ret[NOTIFY_CHANNELS]. */
void notify_stats(notify_t *n, alert_channel_stats_t ret[NOTIFY_CHANNELS]);

#endif

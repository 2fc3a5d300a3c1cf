/*
 * alert_format: alerts as the outside sees them, in JSON (jansson) and in
 * Prometheus text: `psymon alerts --json` and /api/v1/alerts
 * (interfaces.md), Alertmanager's webhook payload version 4 and its
 * /api/v2/alerts body (alerts.md), the stored form of an alert_t, and the
 * psymon_alert series of /metrics. Pure: no I/O but the FILE * handed in.
 */
#ifndef PSYMON_ALERT_FORMAT_H
#define PSYMON_ALERT_FORMAT_H

#include <stdio.h>

#include <jansson.h>

#include "alert.h"

/* An alert's endsAt towards Alertmanager lies this far ahead while it fires. */
#define ALERT_AM_ENDS_AHEAD (4 * 60 * PSY_USEC)
/* Resolved alerts are re-sent to Alertmanager for this long after they resolved. */
#define ALERT_AM_RESOLVED_FOR (15 * 60 * PSY_USEC)

/*
 * One alert as an object of `psymon alerts --json`: fingerprint, labels,
 * annotations, state, active_since, firing_since, resolved_at, silenced_by,
 * inhibited, acknowledged. Returns a new reference, or NULL on ENOMEM.
 */
json_t *alert_json(const alert_t *a);

/*
 * {"alerts":[...]} of the pending and firing alerts, and with `all` also
 * those resolved in the last 7 days before now, as a malloc'ed string
 * (caller frees); NULL on ENOMEM. The body of `psymon alerts --json` and,
 * with all = true, of /api/v1/alerts.
 */
char *alert_api_json(const alert_t *alerts, size_t n, bool all, psy_time_t now);

/*
 * Alertmanager's webhook payload (version "4") for one alert: its firing
 * (endsAt 0001-01-01T00:00:00Z) or its resolution (endsAt resolved_at).
 * external_url is the dashboard's address (generatorURL, externalURL).
 * Returns a malloc'ed string (caller frees) or NULL on ENOMEM.
 */
char *alert_webhook_payload(const alert_t *a, alert_notice_kind_t kind, const char *external_url);

/*
 * The body of a POST to Alertmanager's /api/v2/alerts: every firing alert
 * that is neither silenced nor inhibited with endsAt now +
 * ALERT_AM_ENDS_AHEAD, and every alert resolved within
 * ALERT_AM_RESOLVED_FOR with its endsAt. *ret_count is the number of
 * alerts in it. Returns a malloc'ed string or NULL on ENOMEM.
 */
char *alert_am_payload(const alert_t *alerts, size_t n, psy_time_t now, const char *external_url,
                       size_t *ret_count);

/*
 * The stored form of an alert: everything of alert_t, internal fields
 * included. alert_from_stored returns 0 or -EINVAL (ret untouched).
 */
char *alert_to_stored(const alert_t *a);
int alert_from_stored(const char *text, alert_t *ret);

/* Notifications sent and failed by one channel, for /metrics. */
typedef struct {
    const char *channel;
    uint64_t sent, failed;
} alert_channel_stats_t;

/*
 * Writes psymon_alert{alertname,center,severity,kpi,region,state} 1 per
 * listed alert (pending, firing; resolved ones are left out) and
 * psymon_notifications_sent_total / psymon_notifications_failed_total by
 * channel, with HELP and TYPE lines. Returns 0 or -EIO.
 */
int alert_metrics_write(FILE *f, const alert_t *alerts, size_t n,
                        const alert_channel_stats_t *stats, size_t nstats);

#endif

/*
 * alert_format: JSON and Prometheus text of alerts (alert_format.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert_format.h"

#define ZERO_TIME "0001-01-01T00:00:00Z"

/* RFC 3339 of t, or JSON null when t is PSY_TIME_NONE. */
static json_t *
time_json(psy_time_t t)
{
    char buf[40];

    if (t == PSY_TIME_NONE)
        return json_null();
    psy_time_format(t, buf, sizeof buf);
    return json_string(buf);
}

static json_t *
labels_json(const alert_labels_t *l)
{
    static const char *const names[] = {"alertname", "center", "severity", "kpi", "region"};
    json_t *o = json_object();

    for (size_t i = 0; o && i < sizeof names / sizeof names[0]; i++) {
        const char *v = alert_label(l, names[i]);
        if (v && *v)
            json_object_set_new(o, names[i], json_string(v));
    }
    return o;
}

static json_t *
annotations_json(const alert_annotations_t *an)
{
    const struct {
        const char *k, *v;
    } kv[] = {{"summary", an->summary},         {"summary_en", an->summary_en},
              {"description", an->description}, {"value", an->value},
              {"period", an->period},           {"dashboard", an->dashboard}};
    json_t *o = json_object();

    for (size_t i = 0; o && i < sizeof kv / sizeof kv[0]; i++)
        if (kv[i].v[0])
            json_object_set_new(o, kv[i].k, json_string(kv[i].v));
    return o;
}

json_t *
alert_json(const alert_t *a)
{
    json_t *o, *sil = json_array(), *ack;

    if (!sil)
        return NULL;
    for (size_t i = 0; i < a->nsilenced; i++)
        json_array_append_new(sil, json_string(a->silenced_by[i]));
    if (a->acked)
        ack = json_pack("{s:s, s:s, s:o}", "author", a->ack.author, "comment", a->ack.comment, "at",
                        time_json(a->ack.at));
    else
        ack = json_null();
    o = json_pack("{s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:b, s:o}", "fingerprint",
                  a->fingerprint, "labels", labels_json(&a->labels), "annotations",
                  annotations_json(&a->ann), "state", alert_state_name(a->state), "active_since",
                  time_json(a->active_since), "firing_since", time_json(a->firing_since),
                  "resolved_at", time_json(a->resolved_at), "silenced_by", sil, "inhibited",
                  a->inhibited, "acknowledged", ack ? ack : json_null());
    return o;
}

static char *
dump(json_t *root)
{
    char *s;

    if (!root)
        return NULL;
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

char *
alert_api_json(const alert_t *alerts, size_t n, bool all, psy_time_t now)
{
    json_t *arr = json_array(), *root;

    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const alert_t *a = &alerts[i];
        if (a->state == ALERT_INACTIVE)
            continue;
        if (a->state == ALERT_RESOLVED && (!all || now - a->resolved_at > ALERT_RESOLVED_KEEP))
            continue;
        json_t *o = alert_json(a);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    root = json_pack("{s:o}", "alerts", arr);
    return dump(root);
}

/* The generator URL: the dashboard's alert page. */
static void
generator_url(const char *external_url, char *buf, size_t size)
{
    const char *base = external_url && *external_url ? external_url : "/";
    snprintf(buf, size, "%s%salerts", base, base[strlen(base) - 1] == '/' ? "" : "/");
}

/*
 * An alert in Alertmanager's shape (webhook and API v2 alike, less status
 * for v2). startsAt is when it fired, as Prometheus sends it (FiredAt), not
 * when it became pending.
 */
static json_t *
am_alert(const alert_t *a, const char *status, psy_time_t ends_at, const char *external_url)
{
    char gen[PSY_URL_MAX + 16];
    psy_time_t starts = a->firing_since != PSY_TIME_NONE ? a->firing_since : a->active_since;
    json_t *o;

    generator_url(external_url, gen, sizeof gen);
    o = json_pack("{s:o, s:o, s:o, s:s}", "labels", labels_json(&a->labels), "annotations",
                  annotations_json(&a->ann), "startsAt", time_json(starts), "generatorURL", gen);
    if (!o)
        return NULL;
    if (status) {
        json_object_set_new(o, "status", json_string(status));
        json_object_set_new(o, "fingerprint", json_string(a->fingerprint));
    }
    json_object_set_new(o, "endsAt",
                        ends_at == PSY_TIME_NONE ? json_string(ZERO_TIME) : time_json(ends_at));
    return o;
}

char *
alert_webhook_payload(const alert_t *a, alert_notice_kind_t kind, const char *external_url)
{
    const char *status = kind == ALERT_NOTICE_RESOLVED ? "resolved" : "firing";
    psy_time_t ends = kind == ALERT_NOTICE_RESOLVED ? a->resolved_at : PSY_TIME_NONE;
    json_t *one = am_alert(a, status, ends, external_url), *root;

    if (!one)
        return NULL;
    root =
        json_pack("{s:s, s:s, s:i, s:s, s:s, s:o, s:o, s:o, s:s, s:[o]}", "version", "4",
                  "groupKey", a->fingerprint, "truncatedAlerts", 0, "status", status, "receiver",
                  "psymon", "groupLabels", labels_json(&a->labels), "commonLabels",
                  labels_json(&a->labels), "commonAnnotations", annotations_json(&a->ann),
                  "externalURL", external_url && *external_url ? external_url : "/", "alerts", one);
    return dump(root);
}

char *
alert_am_payload(const alert_t *alerts, size_t n, psy_time_t now, const char *external_url,
                 size_t *ret_count)
{
    json_t *arr = json_array();
    size_t count = 0;

    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const alert_t *a = &alerts[i];
        json_t *o = NULL;

        if (a->state == ALERT_FIRING && !a->inhibited && a->nsilenced == 0)
            o = am_alert(a, NULL, now + ALERT_AM_ENDS_AHEAD, external_url);
        else if (a->state == ALERT_RESOLVED && a->notified &&
                 now - a->resolved_at <= ALERT_AM_RESOLVED_FOR)
            o = am_alert(a, NULL, a->resolved_at, external_url);
        else
            continue;
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
        count++;
    }
    if (ret_count)
        *ret_count = count;
    return dump(arr);
}

char *
alert_to_stored(const alert_t *a)
{
    json_t *o = alert_json(a);

    if (!o)
        return NULL;
    json_object_set_new(o, "keep_since", time_json(a->keep_since));
    json_object_set_new(o, "last_notified", time_json(a->last_notified));
    json_object_set_new(o, "notified", json_boolean(a->notified));
    return dump(o);
}

/* Copies string member k of o into buf (size bytes); absent is "". */
static int
get_str(json_t *o, const char *k, char *buf, size_t size)
{
    json_t *v = json_object_get(o, k);

    buf[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= size)
        return -EINVAL;
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int
get_time(json_t *o, const char *k, psy_time_t *ret)
{
    json_t *v = json_object_get(o, k);

    *ret = PSY_TIME_NONE;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -EINVAL;
    return psy_time_parse(json_string_value(v), json_string_length(v), ret);
}

int
alert_from_stored(const char *text, alert_t *ret)
{
    alert_t a = {0};
    json_t *o = json_loads(text, 0, NULL), *l, *an, *sil, *ack;
    char state[16];
    int r = 0;

    if (!o)
        return -EINVAL;
    l = json_object_get(o, "labels");
    an = json_object_get(o, "annotations");
    sil = json_object_get(o, "silenced_by");
    ack = json_object_get(o, "acknowledged");
    if (!json_is_object(l) || !json_is_object(an)) {
        json_decref(o);
        return -EINVAL;
    }
    r |= get_str(o, "fingerprint", a.fingerprint, sizeof a.fingerprint);
    r |= get_str(l, "alertname", a.labels.alertname, sizeof a.labels.alertname);
    r |= get_str(l, "center", a.labels.center, sizeof a.labels.center);
    r |= get_str(l, "severity", a.labels.severity, sizeof a.labels.severity);
    r |= get_str(l, "kpi", a.labels.kpi, sizeof a.labels.kpi);
    r |= get_str(l, "region", a.labels.region, sizeof a.labels.region);
    r |= get_str(an, "summary", a.ann.summary, sizeof a.ann.summary);
    r |= get_str(an, "summary_en", a.ann.summary_en, sizeof a.ann.summary_en);
    r |= get_str(an, "description", a.ann.description, sizeof a.ann.description);
    r |= get_str(an, "value", a.ann.value, sizeof a.ann.value);
    r |= get_str(an, "period", a.ann.period, sizeof a.ann.period);
    r |= get_str(an, "dashboard", a.ann.dashboard, sizeof a.ann.dashboard);
    r |= get_str(o, "state", state, sizeof state);
    r |= get_time(o, "active_since", &a.active_since);
    r |= get_time(o, "firing_since", &a.firing_since);
    r |= get_time(o, "resolved_at", &a.resolved_at);
    r |= get_time(o, "keep_since", &a.keep_since);
    r |= get_time(o, "last_notified", &a.last_notified);
    a.notified = json_is_true(json_object_get(o, "notified"));
    a.inhibited = json_is_true(json_object_get(o, "inhibited"));
    if (json_is_array(sil))
        for (size_t i = 0; i < json_array_size(sil) && a.nsilenced < ALERT_SILENCED_MAX; i++)
            if (json_is_string(json_array_get(sil, i)))
                snprintf(a.silenced_by[a.nsilenced++], ALERT_ID_MAX, "%s",
                         json_string_value(json_array_get(sil, i)));
    if (json_is_object(ack)) {
        a.acked = true;
        memcpy(a.ack.fingerprint, a.fingerprint, sizeof a.fingerprint);
        r |= get_str(ack, "author", a.ack.author, sizeof a.ack.author);
        r |= get_str(ack, "comment", a.ack.comment, sizeof a.ack.comment);
        r |= get_time(ack, "at", &a.ack.at);
    }
    if (strcmp(state, "pending") == 0)
        a.state = ALERT_PENDING;
    else if (strcmp(state, "firing") == 0)
        a.state = ALERT_FIRING;
    else if (strcmp(state, "resolved") == 0)
        a.state = ALERT_RESOLVED;
    else
        r = -EINVAL;
    json_decref(o);
    if (r != 0 || strlen(a.fingerprint) != 16)
        return -EINVAL;
    *ret = a;
    return 0;
}

/* Writes a label value with \, " and newline escaped (Prometheus text format). */
static void
put_label(FILE *f, const char *name, const char *v, bool comma)
{
    fprintf(f, "%s%s=\"", comma ? "," : "", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
    fputc('"', f);
}

int
alert_metrics_write(FILE *f, const alert_t *alerts, size_t n, const alert_channel_stats_t *stats,
                    size_t nstats)
{
    fputs("# HELP psymon_alert An alert that is pending or firing (alerts.md).\n"
          "# TYPE psymon_alert gauge\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const alert_t *a = &alerts[i];
        if (a->state != ALERT_PENDING && a->state != ALERT_FIRING)
            continue;
        fputs("psymon_alert{", f);
        put_label(f, "alertname", a->labels.alertname, false);
        put_label(f, "center", a->labels.center, true);
        put_label(f, "severity", a->labels.severity, true);
        if (a->labels.kpi[0])
            put_label(f, "kpi", a->labels.kpi, true);
        put_label(f, "region", a->labels.region, true);
        put_label(f, "state", alert_state_name(a->state), true);
        fputs("} 1\n", f);
    }
    fputs("# HELP psymon_notifications_sent_total Alert notifications delivered, by channel.\n"
          "# TYPE psymon_notifications_sent_total counter\n",
          f);
    for (size_t i = 0; i < nstats; i++)
        fprintf(f, "psymon_notifications_sent_total{channel=\"%s\"} %llu\n", stats[i].channel,
                (unsigned long long)stats[i].sent);
    fputs("# HELP psymon_notifications_failed_total Alert notification attempts that failed, by "
          "channel.\n"
          "# TYPE psymon_notifications_failed_total counter\n",
          f);
    for (size_t i = 0; i < nstats; i++)
        fprintf(f, "psymon_notifications_failed_total{channel=\"%s\"} %llu\n", stats[i].channel,
                (unsigned long long)stats[i].failed);
    return ferror(f) ? -EIO : 0;
}

/*
 * alert: the pure core of psymon's alerts (../shared/spec/alerts.md).
 *
 * Facts in, alerts out. The caller gathers what the rules look at into
 * plain structs (alert_level_t for the KPI rules of one level,
 * alert_collector_t for the operational rules of one center), adds the
 * previous alerts, the silences, the acknowledgements and the time, and
 * alert_eval() returns the new alerts and the notifications to send. No
 * sockets, clocks, files or logging in here, so a test feeds it tables and
 * an injected clock (as collectd's threshold.c keeps rule evaluation apart
 * from notification_t and from the channels).
 *
 * Lifecycle, as Prometheus alerting rules: condition true -> pending; true
 * for `for` -> firing; false for keep_firing_for -> resolved. A pending
 * alert whose condition goes away is dropped without a notice. Resolved
 * alerts are listed for ALERT_RESOLVED_KEEP, then forgotten.
 */
#ifndef PSYMON_ALERT_H
#define PSYMON_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/config.h"
#include "psymon/time.h"

#define ALERT_TEXT_MAX      512
#define ALERT_ID_MAX        40 /* a silence id: 36 characters of a UUID */
#define ALERT_MATCHERS_MAX  8  /* LABEL=VALUE pairs of one silence */
#define ALERT_SILENCES_MAX  256
#define ALERT_SILENCED_MAX  8 /* silence ids listed per alert */
#define ALERT_SPC_MAX       8 /* SPC series per level the rules look at */
#define ALERT_INSTANCES_MAX 8192
#define ALERT_RESOLVED_KEEP (7 * PSY_DAY)

/* A collector counts as silent when nothing arrived for three heartbeats; a
 * `for` shorter than that shortens it, but never below two heartbeats: one
 * heartbeat late on a busy machine is not a stopped collector. */
#define ALERT_SILENT_GRACE (3 * PSY_HEARTBEAT_S * PSY_USEC)
#define ALERT_SILENT_MIN   (2 * PSY_HEARTBEAT_S * PSY_USEC)
/* ExportStale and BacklogStuck are pending only after this much (or `for`, if shorter). */
#define ALERT_STALE_GRACE   PSY_HOUR
#define ALERT_BACKLOG_GRACE (60 * PSY_USEC)
#define ALERT_SKEW_MAX      (120 * PSY_USEC)
#define ALERT_REJECT_WINDOW PSY_DAY

typedef enum {
    ALERT_INACTIVE = 0,
    ALERT_PENDING,
    ALERT_FIRING,
    ALERT_RESOLVED,
} alert_state_t;

/* "pending", "firing", "resolved" ("inactive" for ALERT_INACTIVE). */
const char *alert_state_name(alert_state_t s);

typedef struct {
    char alertname[PSY_NAME_MAX + 1];
    char center[PSY_CENTER_MAX + 1]; /* a center id or "region" */
    char severity[16];
    char kpi[PSY_KPI_NAME_MAX + 1]; /* "" for operational rules */
    char region[PSY_NAME_MAX + 1];
} alert_labels_t;

typedef struct {
    char summary[ALERT_TEXT_MAX];
    char summary_en[ALERT_TEXT_MAX];
    char description[ALERT_TEXT_MAX];
    char value[32];
    char period[24];
    char dashboard[PSY_URL_MAX + 128];
} alert_annotations_t;

typedef struct {
    char fingerprint[17];
    char author[PSY_NAME_MAX + 1];
    char comment[ALERT_TEXT_MAX];
    psy_time_t at;
} alert_ack_t;

/* One alert instance: one rule and one set of labels. Plain data. */
typedef struct {
    char fingerprint[17]; /* 16 hex digits of alert_fingerprint(labels) */
    alert_labels_t labels;
    alert_annotations_t ann;
    alert_state_t state;
    psy_time_t active_since;  /* the condition became true (pending from then) */
    psy_time_t firing_since;  /* PSY_TIME_NONE unless it fired */
    psy_time_t keep_since;    /* firing, condition false since then; PSY_TIME_NONE when true */
    psy_time_t resolved_at;   /* PSY_TIME_NONE unless resolved */
    psy_time_t last_notified; /* last firing notice of this firing; PSY_TIME_NONE */
    bool notified;            /* a firing notice went out for this firing */
    bool inhibited;
    size_t nsilenced;
    char silenced_by[ALERT_SILENCED_MAX][ALERT_ID_MAX];
    bool acked; /* ack holds the acknowledgement of this firing */
    alert_ack_t ack;
} alert_t;

typedef struct {
    char name[32];
    char value[PSY_NAME_MAX + 1];
} alert_matcher_t;

/* A silence: every matcher must equal the alert's label; active in [starts_at, ends_at). */
typedef struct {
    char id[ALERT_ID_MAX];
    size_t nmatchers;
    alert_matcher_t matchers[ALERT_MATCHERS_MAX];
    psy_time_t starts_at, ends_at;
    char author[PSY_NAME_MAX + 1];
    char comment[ALERT_TEXT_MAX];
} alert_silence_t;

/* A number of the model, with the period it belongs to. */
typedef struct {
    bool set; /* false: no value (empty row, or not computed) */
    double v;
    bool provisional;
    char period[24]; /* "2025-06", "r12:2025-06", "2025-Q2", "2025" */
} alert_value_t;

/* What the latest point of one KPI's SPC series says (spc.md). */
typedef struct {
    char kpi[PSY_KPI_NAME_MAX + 1];
    bool set;            /* the series has a latest included point */
    char period[24];     /* of the latest included point, "2025-06" */
    char variation[16];  /* high, low, common */
    char assessment[16]; /* improvement, concern, neutral, common, "" */
    char assurance[16];  /* pass, fail, hit_and_miss, "" */
    double value, cl;
    bool has_limits, has_target;
    double lcl, ucl, target;
} alert_spc_t;

/* The KPI facts of one level (a center or "region"). */
typedef struct {
    char level[PSY_CENTER_MAX + 1]; /* center id or "region" */
    char name[PSY_NAME_MAX + 1];    /* "Psykiatrisk Center Glostrup", "Region Hovedstaden" */
    alert_value_t on_track;         /* intrusive_on_track of r12 of the last complete month */
    alert_value_t reduction;        /* intrusive_reduction of the same period */
    alert_value_t target_reduction; /* intrusive_target_reduction of the same period */
    alert_value_t belt_cur;         /* belt_over_48h, current month (as_of) */
    alert_value_t belt_last;        /* belt_over_48h, last complete month */
    alert_value_t overdue;          /* referrals_overdue at as_of */
    size_t nspc;
    alert_spc_t spc[ALERT_SPC_MAX];
    /* Per conf->alerts[i] that is a threshold rule: its KPI in the latest complete period. */
    alert_value_t thr[PSY_ALERTS_MAX];
} alert_level_t;

/* The operational facts of one center's collector. */
typedef struct {
    char center[PSY_CENTER_MAX + 1];
    char name[PSY_NAME_MAX + 1];
    psy_time_t last_seen;       /* heartbeat or batch; when never: when the aggregator started */
    bool has_heartbeat;         /* the fields below come from a heartbeat */
    psy_time_t last_inbox_read; /* PSY_TIME_NONE when the collector does not say */
    uint64_t backlog;
    psy_time_t backlog_since; /* the backlog has not shrunk since (when it last shrank) */
    bool spool_full;
    uint64_t rejected;
    psy_time_t rejected_rose_at; /* when the rejected count last rose; PSY_TIME_NONE */
    psy_time_t clock_offset;     /* collector clock - aggregator clock */
} alert_collector_t;

typedef struct {
    const psy_agg_conf_t *conf;
    psy_time_t now;
    bool kpi_known; /* false before the first model: KPI alerts keep their state */
    size_t nlevels;
    const alert_level_t *levels;
    size_t ncollectors;
    const alert_collector_t *collectors;
    size_t nsilences;
    const alert_silence_t *silences;
    size_t nacks;
    const alert_ack_t *acks;
} alert_input_t;

typedef enum { ALERT_NOTICE_FIRING = 1, ALERT_NOTICE_RESOLVED } alert_notice_kind_t;

/* A notification to send: of items[index], as it stands after the evaluation. */
typedef struct {
    size_t index;
    alert_notice_kind_t kind;
    bool repeat; /* a repeat_interval re-notification */
} alert_notice_t;

typedef struct {
    size_t n, cap;
    alert_t *items;
    size_t nnotices, ncap;
    alert_notice_t *notices;
} alert_set_t;

/* Frees the arrays of set and zeroes it. Accepts NULL. */
void alert_set_free(alert_set_t *set);

/*
 * One evaluation at in->now of every rule of alerts.md plus the threshold
 * rules of in->conf, against the previous alerts prev[0..nprev). On
 * success *ret (zeroed by the caller or freed before) holds the alerts to
 * keep, in a stable order, and the notices to send; the caller stores both
 * in one transaction. Returns 0, -EINVAL, -ENOMEM or -E2BIG (more than
 * ALERT_INSTANCES_MAX instances).
 */
int alert_eval(const alert_input_t *in, const alert_t *prev, size_t nprev, alert_set_t *ret);

/*
 * The fingerprint of a label set, as Prometheus and Alertmanager compute
 * it (FNV-1a 64 over the labels sorted by name, name 0xff value 0xff, empty
 * labels left out), as 16 hex digits: the same alert has the same
 * fingerprint in psymon and in Alertmanager.
 */
void alert_fingerprint(const alert_labels_t *l, char ret[17]);

/* Whether every matcher of s equals the corresponding label of l (a missing label is ""). */
bool alert_silence_matches(const alert_silence_t *s, const alert_labels_t *l);

/* The value of label `name` of l, or NULL when l has no such label. */
const char *alert_label(const alert_labels_t *l, const char *name);

/*
 * Parses "LABEL=VALUE[,LABEL=VALUE...]" into s->matchers. Returns 0 or
 * -EINVAL (no matcher, an unknown label name, too many).
 */
int alert_matchers_parse(const char *text, alert_silence_t *s);

/* Whether `name` is an alertname of alerts.md. */
bool alert_builtin(const char *name);

#endif

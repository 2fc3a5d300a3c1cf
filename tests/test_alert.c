/*
 * alert: whole lifecycles with an injected clock, table-driven: pending ->
 * firing after `for`, keep_firing_for holding a flapping condition,
 * resolve, re-fire, repeat, acknowledgement until resolve, silences
 * starting and ending, inhibition by a silent collector, provisional values
 * never firing, and each built-in rule's condition.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"

#define T0  (INT64_C(1764547200) * PSY_USEC) /* 2025-12-01T00:00:00Z */
#define S   PSY_USEC
#define MIN (60 * PSY_USEC)

typedef struct {
    psy_agg_conf_t conf;
    alert_t *alerts;
    size_t n;
    alert_collector_t coll[2];
    alert_level_t levels[3]; /* pc-a, pc-b, region */
    alert_silence_t sil[4];
    size_t nsil;
    alert_ack_t acks[4];
    size_t nacks;
    bool kpi_known;
    bool auto_alive;               /* every collector sends a heartbeat before each tick */
    int firing, resolved, repeats; /* notices so far */
    char last_fp[17];
} world_t;

static world_t *
world_new(void)
{
    world_t *w = calloc(1, sizeof *w);
    const char *ids[] = {"pc-a", "pc-b"};
    const char *names[] = {"Psykiatrisk Center A", "Psykiatrisk Center B"};

    assert_non_null(w);
    w->conf.ncenters = 2;
    for (int i = 0; i < 2; i++) {
        strcpy(w->conf.centers[i].id, ids[i]);
        strcpy(w->conf.centers[i].name, names[i]);
        strcpy(w->coll[i].center, ids[i]);
        strcpy(w->coll[i].name, names[i]);
        w->coll[i].last_seen = T0;
        w->coll[i].has_heartbeat = true;
        w->coll[i].last_inbox_read = T0;
        w->coll[i].backlog_since = T0;
        w->coll[i].rejected_rose_at = PSY_TIME_NONE;
        strcpy(w->levels[i].level, ids[i]);
        strcpy(w->levels[i].name, names[i]);
    }
    strcpy(w->levels[2].level, "region");
    strcpy(w->levels[2].name, "Region Test");
    strcpy(w->conf.external_url, "http://dash.example/");
    w->conf.notify.repeat_interval_us = PSY_DAY;
    w->conf.notify.send_resolved = true;
    w->kpi_known = true;
    w->auto_alive = true;
    return w;
}

static void
world_free(world_t *w)
{
    free(w->alerts);
    free(w);
}

/* Keeps every heartbeat-fed collector alive at `now` (a heartbeat just arrived). */
static void
alive(world_t *w, psy_time_t now)
{
    for (int i = 0; i < 2; i++)
        if (w->coll[i].last_seen != T0 - PSY_DAY) /* a collector stopped by the test */
            w->coll[i].last_seen = now;
}

static void
tick(world_t *w, psy_time_t now)
{
    alert_set_t set = {0};
    alert_input_t in = {
        .conf = &w->conf,
        .now = now,
        .kpi_known = w->kpi_known,
        .nlevels = 3,
        .levels = w->levels,
        .ncollectors = 2,
        .collectors = w->coll,
        .nsilences = w->nsil,
        .silences = w->sil,
        .nacks = w->nacks,
        .acks = w->acks,
    };

    if (w->auto_alive)
        for (int i = 0; i < 2; i++)
            w->coll[i].last_seen = now;
    assert_int_equal(alert_eval(&in, w->alerts, w->n, &set), 0);
    for (size_t i = 0; i < set.nnotices; i++) {
        const alert_notice_t *no = &set.notices[i];
        assert_true(no->index < set.n);
        if (no->kind == ALERT_NOTICE_FIRING) {
            w->firing++;
            w->repeats += no->repeat;
            assert_int_equal(set.items[no->index].state, ALERT_FIRING);
        } else {
            w->resolved++;
            assert_int_equal(set.items[no->index].state, ALERT_RESOLVED);
        }
        memcpy(w->last_fp, set.items[no->index].fingerprint, 17);
    }
    free(w->alerts);
    free(set.notices);
    w->alerts = set.items;
    w->n = set.n;
}

static const alert_t *
find(const world_t *w, const char *name, const char *center, const char *kpi)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->alerts[i].labels.alertname, name) == 0 &&
            strcmp(w->alerts[i].labels.center, center) == 0 &&
            (!kpi || strcmp(w->alerts[i].labels.kpi, kpi) == 0))
            return &w->alerts[i];
    return NULL;
}

static alert_state_t
state_of(const world_t *w, const char *name, const char *center)
{
    const alert_t *a = find(w, name, center, NULL);
    return a ? a->state : ALERT_INACTIVE;
}

static void
tune(world_t *w, const char *name, int64_t for_us, int64_t keep_us)
{
    psy_alert_conf_t *a = &w->conf.alerts[w->conf.nalerts++];
    memset(a, 0, sizeof *a);
    strcpy(a->name, name);
    a->enabled = -1;
    a->for_us = for_us;
    a->keep_firing_for_us = keep_us;
}

/* ---- table-driven lifecycles on ClockSkew of pc-a ---- */

typedef struct {
    int64_t t_s;
    bool cond;
    alert_state_t want;
    int firing, resolved;
} step_t;

typedef struct {
    const char *what;
    int64_t for_us, keep_us; /* -1: the rule's default (5m, 0s) */
    step_t steps[12];
} lifecycle_t;

static const lifecycle_t lifecycles[] = {
    {"pending, firing after for, resolve, re-fire",
     -1,
     -1,
     {{0, true, ALERT_PENDING, 0, 0},
      {60, true, ALERT_PENDING, 0, 0},
      {299, true, ALERT_PENDING, 0, 0},
      {300, true, ALERT_FIRING, 1, 0},
      {360, true, ALERT_FIRING, 1, 0},
      {420, false, ALERT_RESOLVED, 1, 1},
      {480, false, ALERT_RESOLVED, 1, 1},
      {540, true, ALERT_PENDING, 1, 1},
      {840, true, ALERT_FIRING, 2, 1},
      {-1, false, 0, 0, 0}}},
    {"a pending alert whose condition goes away is dropped unannounced",
     -1,
     -1,
     {{0, true, ALERT_PENDING, 0, 0},
      {120, false, ALERT_INACTIVE, 0, 0},
      {180, true, ALERT_PENDING, 0, 0},
      {400, true, ALERT_PENDING, 0, 0},
      {480, true, ALERT_FIRING, 1, 0},
      {-1, false, 0, 0, 0}}},
    {"keep_firing_for holds a flapping condition",
     0,
     10 * MIN,
     {{0, true, ALERT_FIRING, 1, 0},
      {60, false, ALERT_FIRING, 1, 0},
      {120, true, ALERT_FIRING, 1, 0},
      {180, false, ALERT_FIRING, 1, 0},
      {600, false, ALERT_FIRING, 1, 0},
      {779, false, ALERT_FIRING, 1, 0},
      {780, false, ALERT_RESOLVED, 1, 1},
      {840, true, ALERT_FIRING, 2, 1},
      {-1, false, 0, 0, 0}}},
};

static void
test_lifecycles(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof lifecycles / sizeof lifecycles[0]; k++) {
        const lifecycle_t *lc = &lifecycles[k];
        world_t *w = world_new();
        if (lc->for_us >= 0 || lc->keep_us >= 0)
            tune(w, "ClockSkew", lc->for_us, lc->keep_us);
        for (const step_t *st = lc->steps; st->t_s >= 0; st++) {
            psy_time_t now = T0 + st->t_s * S;
            alive(w, now);
            w->coll[0].clock_offset = st->cond ? 300 * S : 0;
            tick(w, now);
            if (state_of(w, "ClockSkew", "pc-a") != st->want || w->firing != st->firing ||
                w->resolved != st->resolved)
                fail_msg("%s: at %llds: state %s firing %d resolved %d", lc->what,
                         (long long)st->t_s, alert_state_name(state_of(w, "ClockSkew", "pc-a")),
                         w->firing, w->resolved);
        }
        world_free(w);
    }
}

/* Pending keeps the time it became active; firing_since is when it fired. */
static void
test_times(void **state)
{
    world_t *w = world_new();
    const alert_t *a;

    (void)state;
    alive(w, T0);
    w->coll[0].clock_offset = -200 * S;
    tick(w, T0);
    tick(w, T0 + 10 * MIN);
    a = find(w, "ClockSkew", "pc-a", NULL);
    assert_non_null(a);
    assert_int_equal(a->state, ALERT_FIRING);
    assert_true(a->active_since == T0);
    assert_true(a->firing_since == T0 + 10 * MIN);
    assert_string_equal(a->labels.severity, "warning");
    assert_string_equal(a->labels.region, "psymon");
    assert_string_equal(a->ann.value, "-200");
    assert_non_null(strstr(a->ann.summary, "200 sekunder bagud"));
    world_free(w);
}

/* repeat_interval re-notifies an unacknowledged firing alert; an ack stops it until resolve. */
static void
test_repeat_and_ack(void **state)
{
    world_t *w = world_new();
    const alert_t *a;

    (void)state;
    w->conf.notify.repeat_interval_us = PSY_HOUR;
    w->coll[0].spool_full = true;
    tick(w, T0);
    assert_int_equal(w->firing, 1);
    tick(w, T0 + PSY_HOUR - S);
    assert_int_equal(w->firing, 1);
    tick(w, T0 + PSY_HOUR);
    assert_int_equal(w->firing, 2);
    assert_int_equal(w->repeats, 1);

    a = find(w, "SpoolFull", "pc-a", NULL);
    assert_non_null(a);
    memcpy(w->acks[0].fingerprint, a->fingerprint, 17);
    strcpy(w->acks[0].author, "Hanne");
    strcpy(w->acks[0].comment, "IT rydder op");
    w->acks[0].at = T0 + PSY_HOUR + MIN;
    w->nacks = 1;
    tick(w, T0 + PSY_HOUR + 2 * MIN);
    a = find(w, "SpoolFull", "pc-a", NULL);
    assert_true(a->acked);
    assert_string_equal(a->ack.author, "Hanne");
    tick(w, T0 + 3 * PSY_HOUR);
    assert_int_equal(w->firing, 2); /* acknowledged: not repeated */

    w->coll[0].spool_full = false;
    alive(w, T0 + 3 * PSY_HOUR + MIN);
    tick(w, T0 + 3 * PSY_HOUR + MIN);
    assert_int_equal(w->resolved, 1);
    a = find(w, "SpoolFull", "pc-a", NULL);
    assert_false(a->acked);

    /* A new firing is notified again: the old ack was for the old firing. */
    w->coll[0].spool_full = true;
    alive(w, T0 + 4 * PSY_HOUR);
    tick(w, T0 + 4 * PSY_HOUR);
    assert_int_equal(w->firing, 3);
    a = find(w, "SpoolFull", "pc-a", NULL);
    assert_false(a->acked);
    tick(w, T0 + 5 * PSY_HOUR);
    assert_int_equal(w->firing, 4); /* and repeated, as nobody acknowledged it */
    world_free(w);
}

/* A silence holds notices back while it lasts; when it ends, a still-firing alert is told. */
static void
test_silence(void **state)
{
    world_t *w = world_new();
    alert_silence_t *s = &w->sil[0];
    const alert_t *a;

    (void)state;
    strcpy(s->id, "sil-1");
    assert_int_equal(alert_matchers_parse("center=pc-a,alertname=SpoolFull", s), 0);
    assert_int_equal(s->nmatchers, 2);
    s->starts_at = T0 + 100 * S;
    s->ends_at = T0 + 400 * S;
    w->nsil = 1;

    alive(w, T0 + 200 * S);
    w->coll[0].spool_full = true;
    w->coll[1].spool_full = true;
    tick(w, T0 + 200 * S);
    a = find(w, "SpoolFull", "pc-a", NULL);
    assert_int_equal(a->state, ALERT_FIRING);
    assert_int_equal(a->nsilenced, 1);
    assert_string_equal(a->silenced_by[0], "sil-1");
    assert_int_equal(w->firing, 1); /* pc-b only */
    assert_int_equal(find(w, "SpoolFull", "pc-b", NULL)->nsilenced, 0);

    alive(w, T0 + 399 * S);
    tick(w, T0 + 399 * S);
    assert_int_equal(w->firing, 1);
    alive(w, T0 + 400 * S);
    tick(w, T0 + 400 * S);
    assert_int_equal(w->firing, 2); /* the silence ended */
    assert_int_equal(find(w, "SpoolFull", "pc-a", NULL)->nsilenced, 0);

    /* A firing never told is not told of its resolution either. */
    s->starts_at = T0;
    s->ends_at = T0 + PSY_DAY;
    w->coll[1].spool_full = false;
    w->coll[0].spool_full = false;
    strcpy(s->matchers[0].value, "pc-b");
    alive(w, T0 + 500 * S);
    tick(w, T0 + 500 * S);
    assert_int_equal(w->resolved, 2); /* both had been told */
    w->coll[1].spool_full = true;
    alive(w, T0 + 600 * S);
    tick(w, T0 + 600 * S);
    assert_int_equal(w->firing, 2);
    w->coll[1].spool_full = false;
    alive(w, T0 + 700 * S);
    tick(w, T0 + 700 * S);
    assert_int_equal(w->resolved, 2);
    assert_int_equal(state_of(w, "SpoolFull", "pc-b"), ALERT_RESOLVED);

    /* A silence that has not started yet holds nothing. */
    s->starts_at = T0 + PSY_DAY;
    s->ends_at = T0 + 2 * PSY_DAY;
    strcpy(s->matchers[0].value, "pc-a");
    w->coll[0].spool_full = true;
    alive(w, T0 + 800 * S);
    tick(w, T0 + 800 * S);
    assert_int_equal(w->firing, 3);
    world_free(w);
}

/* One event is one: "1 bæltefiksering", not "1 bæltefikseringer". */
static void
test_one_word(void **state)
{
    world_t *w = world_new();
    const alert_t *a;

    (void)state;
    w->levels[0].belt_last = (alert_value_t){true, 1, false, "2025-11"};
    w->levels[0].overdue = (alert_value_t){true, 1, true, "2025-12"};
    w->levels[1].belt_last = (alert_value_t){true, 2, false, "2025-11"};
    tick(w, T0);
    a = find(w, "BeltOver48h", "pc-a", NULL);
    assert_string_equal(a->ann.summary,
                        "Psykiatrisk Center A: 1 bæltefiksering over 48 timer i november 2025");
    assert_string_equal(a->ann.summary_en,
                        "Psykiatrisk Center A: 1 belt fixation over 48 hours in November 2025");
    a = find(w, "BeltOver48h", "pc-b", NULL);
    assert_string_equal(a->ann.summary,
                        "Psykiatrisk Center B: 2 bæltefikseringer over 48 timer i november 2025");
    a = find(w, "ReferralsOverdue", "pc-a", NULL);
    assert_string_equal(a->ann.summary, "Psykiatrisk Center A: 1 henvist barn eller ung har ventet "
                                        "mere end 60 dage på udredning og behandling");
    assert_string_equal(a->ann.summary_en, "Psykiatrisk Center A: 1 referred child has waited "
                                           "more than 60 days for assessment and treatment");
    world_free(w);
}

/*
 * A firing alert already told, then held back by a silence or an
 * inhibition, is told again when the hold ends (alerts.md: "When it ends, a
 * matching alert that still fires is notified"); an acknowledged one is not.
 */
static void
test_hold_ends(void **state)
{
    world_t *w = world_new();
    alert_silence_t *s = &w->sil[0];

    (void)state;
    w->coll[0].spool_full = true;
    tick(w, T0 + 10 * S);
    assert_int_equal(w->firing, 1);
    assert_int_equal(w->repeats, 0);

    strcpy(s->id, "sil-1");
    assert_int_equal(alert_matchers_parse("center=pc-a", s), 0);
    s->starts_at = T0 + 20 * S;
    s->ends_at = T0 + 100 * S;
    w->nsil = 1;
    tick(w, T0 + 20 * S);
    tick(w, T0 + 60 * S);
    assert_int_equal(find(w, "SpoolFull", "pc-a", NULL)->nsilenced, 1);
    assert_int_equal(w->firing, 1);
    tick(w, T0 + 100 * S); /* the silence ended: told again, as the same firing */
    assert_int_equal(w->firing, 2);
    assert_int_equal(w->repeats, 1);
    tick(w, T0 + 110 * S); /* once */
    assert_int_equal(w->firing, 2);

    /* Acknowledged, silenced, the silence ends: still quiet until it resolves. */
    strcpy(w->acks[0].fingerprint, find(w, "SpoolFull", "pc-a", NULL)->fingerprint);
    strcpy(w->acks[0].author, "kvalitet");
    w->acks[0].at = T0 + 120 * S;
    w->nacks = 1;
    s->starts_at = T0 + 130 * S;
    s->ends_at = T0 + 140 * S;
    tick(w, T0 + 130 * S);
    tick(w, T0 + 140 * S);
    assert_int_equal(w->firing, 2);
    w->nacks = 0;
    w->nsil = 0;

    /* Inhibited while pc-a's collector is silent, told again when it is back. */
    w->coll[0].spool_full = false;
    w->auto_alive = false;
    tune(w, "CollectorSilent", 5 * MIN, -1);
    w->levels[0].belt_last = (alert_value_t){true, 2, false, "2025-11"};
    alive(w, T0 + 200 * S);
    tick(w, T0 + 200 * S);
    assert_int_equal(state_of(w, "BeltOver48h", "pc-a"), ALERT_FIRING);
    assert_int_equal(w->firing, 3);
    w->coll[1].last_seen = T0 + 200 * S + 6 * MIN; /* pc-a silent since T0 + 200 s */
    tick(w, T0 + 200 * S + 6 * MIN);
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_FIRING);
    assert_true(find(w, "BeltOver48h", "pc-a", NULL)->inhibited);
    assert_int_equal(w->firing, 4); /* CollectorSilent only */
    alive(w, T0 + 200 * S + 7 * MIN);
    w->coll[0].last_seen = T0 + 200 * S + 7 * MIN;
    tick(w, T0 + 200 * S + 7 * MIN);
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_RESOLVED);
    assert_false(find(w, "BeltOver48h", "pc-a", NULL)->inhibited);
    assert_int_equal(w->firing, 5); /* the belt again */
    assert_int_equal(w->repeats, 2);
    world_free(w);
}

/* A short `for` shortens CollectorSilent's grace, but a heartbeat late by a
 * few seconds (5 s apart) is never a stopped collector. */
static void
test_silent_short_for(void **state)
{
    world_t *w = world_new();

    (void)state;
    w->auto_alive = false;
    tune(w, "CollectorSilent", 3 * S, -1);
    w->coll[0].last_seen = T0;
    w->coll[1].last_seen = T0 + 9 * S;
    tick(w, T0 + 9 * S); /* one heartbeat late: not even pending */
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_INACTIVE);
    w->coll[1].last_seen = T0 + 11 * S;
    tick(w, T0 + 11 * S); /* two missed: silent since T0, longer than `for` */
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_FIRING);
    assert_true(find(w, "CollectorSilent", "pc-a", NULL)->active_since == T0);
    assert_int_equal(w->firing, 1);

    /* A long `for` keeps the three-heartbeat grace, then waits out `for`. */
    tune(w, "CollectorSilent", 30 * S, -1);
    w->conf.alerts[0] = w->conf.alerts[1];
    w->conf.nalerts = 1;
    w->coll[0].last_seen = T0 + 20 * S;
    w->coll[1].last_seen = T0 + 34 * S;
    tick(w, T0 + 34 * S); /* back, then 14 s quiet: resolved, nothing pending */
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_RESOLVED);
    w->coll[1].last_seen = T0 + 36 * S;
    tick(w, T0 + 36 * S); /* 16 s quiet: pending */
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_PENDING);
    w->coll[1].last_seen = T0 + 50 * S;
    tick(w, T0 + 50 * S); /* 30 s quiet: firing again */
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_FIRING);
    assert_int_equal(w->firing, 2);
    world_free(w);
}

/* A silent collector inhibits its center's KPI alerts and the region's, not others. */
static void
test_inhibition(void **state)
{
    world_t *w = world_new();

    (void)state;
    w->auto_alive = false;
    tune(w, "CollectorSilent", 5 * MIN, -1);
    for (int i = 0; i < 3; i++) {
        w->levels[i].belt_last = (alert_value_t){true, 2, false, "2025-11"};
    }
    w->coll[0].last_seen = T0 - PSY_DAY; /* pc-a stops */
    w->coll[0].last_seen = T0;
    tick(w, T0 + 10 * S); /* everything fires but CollectorSilent, not yet pending */
    assert_int_equal(w->firing, 3);

    /* A fresh start, collector pc-a silent from T0. */
    free(w->alerts);
    w->alerts = NULL;
    w->n = 0;
    w->firing = 0;
    w->coll[0].last_seen = T0;
    w->coll[1].last_seen = T0 + 6 * MIN;
    tick(w, T0 + 6 * MIN);
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_FIRING);
    assert_true(find(w, "CollectorSilent", "pc-a", NULL)->active_since == T0);
    assert_true(find(w, "BeltOver48h", "pc-a", NULL)->inhibited);
    assert_true(find(w, "BeltOver48h", "region", NULL)->inhibited);
    assert_false(find(w, "BeltOver48h", "pc-b", NULL)->inhibited);
    assert_false(find(w, "CollectorSilent", "pc-a", NULL)->inhibited);
    assert_int_equal(w->firing, 2); /* CollectorSilent and pc-b's belt */
    /* Inhibited alerts are still evaluated: firing, listed. */
    assert_int_equal(state_of(w, "BeltOver48h", "pc-a"), ALERT_FIRING);

    /* The collector comes back: the inhibited alerts are told now. */
    w->coll[0].last_seen = T0 + 7 * MIN;
    w->coll[1].last_seen = T0 + 7 * MIN;
    tick(w, T0 + 7 * MIN);
    assert_int_equal(state_of(w, "CollectorSilent", "pc-a"), ALERT_RESOLVED);
    assert_int_equal(w->resolved, 1);
    assert_int_equal(w->firing, 4);
    assert_false(find(w, "BeltOver48h", "region", NULL)->inhibited);
    world_free(w);
}

/* Provisional values never fire (threshold rules, the trajectory). */
static void
test_provisional(void **state)
{
    world_t *w = world_new();
    psy_alert_conf_t *r = &w->conf.alerts[w->conf.nalerts++];

    (void)state;
    memset(r, 0, sizeof *r);
    strcpy(r->name, "BeltsAbove20");
    r->enabled = -1;
    r->for_us = r->keep_firing_for_us = -1;
    r->threshold = true;
    strcpy(r->kpi, "coercion_episodes:belt");
    r->op = PSY_ALERT_OP_GT;
    r->value = 20;
    strcpy(r->centers, "pc-a, region");
    strcpy(r->summary, "Flere end 20 bæltefikseringer på en måned");
    for (int i = 0; i < 3; i++) {
        w->levels[i].thr[0] = (alert_value_t){true, 23, true, "2025-11"};
        w->levels[i].on_track = (alert_value_t){true, 0, true, "r12:2025-11"};
    }
    tick(w, T0);
    assert_int_equal(w->n, 0);
    assert_int_equal(w->firing, 0);

    for (int i = 0; i < 3; i++) {
        w->levels[i].thr[0].provisional = false;
        w->levels[i].on_track.provisional = false;
    }
    tick(w, T0 + MIN);
    assert_int_equal(state_of(w, "BeltsAbove20", "pc-a"), ALERT_FIRING);
    assert_int_equal(state_of(w, "BeltsAbove20", "region"), ALERT_FIRING);
    assert_int_equal(state_of(w, "BeltsAbove20", "pc-b"), ALERT_INACTIVE); /* not in centers */
    assert_int_equal(state_of(w, "IntrusiveOffTrajectory", "pc-b"), ALERT_FIRING);
    assert_string_equal(find(w, "BeltsAbove20", "pc-a", NULL)->ann.summary,
                        "Psykiatrisk Center A: Flere end 20 bæltefikseringer på en måned "
                        "(23 i november 2025)");
    assert_string_equal(find(w, "BeltsAbove20", "pc-a", NULL)->labels.kpi,
                        "coercion_episodes:belt");
    assert_int_equal(w->firing, 5);

    /* A value at the threshold does not break "> 20". */
    for (int i = 0; i < 3; i++)
        w->levels[i].thr[0].v = 20;
    tick(w, T0 + 2 * MIN);
    assert_int_equal(state_of(w, "BeltsAbove20", "pc-a"), ALERT_RESOLVED);
    world_free(w);
}

/*
 * A threshold rule without its own summary speaks of any KPI in Danish words
 * and reads its period: the dashboard's KPI names (l10n), quarters as
 * "3. kvartal 2026".
 */
static void
test_threshold_words(void **state)
{
    world_t *w = world_new();
    psy_alert_conf_t *r = &w->conf.alerts[w->conf.nalerts++];

    (void)state;
    memset(r, 0, sizeof *r);
    strcpy(r->name, "ManyAdmissions");
    r->enabled = -1;
    r->for_us = r->keep_firing_for_us = -1;
    r->threshold = true;
    strcpy(r->kpi, "admissions");
    r->op = PSY_ALERT_OP_GE;
    r->value = 900;
    strcpy(r->centers, "pc-a");
    w->levels[0].thr[0] = (alert_value_t){true, 949, false, "2026-Q3"};
    tick(w, T0);
    const alert_t *a = find(w, "ManyAdmissions", "pc-a", NULL);
    assert_non_null(a);
    assert_int_equal(a->state, ALERT_FIRING);
    assert_string_equal(a->ann.summary,
                        "Psykiatrisk Center A: 949 indlæggelser i 3. kvartal 2026 (grænse >= 900)");
    assert_string_equal(a->ann.summary_en, "Psykiatrisk Center A: 949 admissions in Q3 2026 "
                                           "(rule admissions >= 900)");
    world_free(w);
}

/* Before the first model, KPI alerts keep their state; they do not resolve. */
static void
test_kpi_unknown(void **state)
{
    world_t *w = world_new();

    (void)state;
    w->levels[2].overdue = (alert_value_t){true, 4, true, "2025-12"};
    tick(w, T0);
    assert_int_equal(state_of(w, "ReferralsOverdue", "region"), ALERT_FIRING);
    w->kpi_known = false;
    w->levels[2].overdue.v = 0;
    alive(w, T0 + PSY_HOUR);
    tick(w, T0 + PSY_HOUR);
    assert_int_equal(state_of(w, "ReferralsOverdue", "region"), ALERT_FIRING);
    assert_int_equal(w->resolved, 0);
    w->kpi_known = true;
    tick(w, T0 + 2 * PSY_HOUR);
    assert_int_equal(state_of(w, "ReferralsOverdue", "region"), ALERT_RESOLVED);
    assert_int_equal(w->resolved, 1);
    world_free(w);
}

/* ---- each built-in rule's condition ---- */

typedef struct {
    const char *rule, *center, *kpi, *severity;
    void (*set)(world_t *w, bool on);
    int64_t after;       /* evaluate this long after T0 (past `for`) */
    const char *summary; /* a part of the Danish summary */
} rule_case_t;

static void
set_trajectory(world_t *w, bool on)
{
    w->levels[0].on_track = (alert_value_t){true, on ? 0 : 1, false, "r12:2025-11"};
    w->levels[0].reduction = (alert_value_t){true, 2.5, false, "r12:2025-11"};
    w->levels[0].target_reduction = (alert_value_t){true, 8.5714, false, "r12:2025-11"};
}

static void
set_spc(world_t *w, bool on)
{
    alert_spc_t *s = &w->levels[0].spc[0];
    w->levels[0].nspc = 1;
    memset(s, 0, sizeof *s);
    strcpy(s->kpi, "intrusive_episodes");
    s->set = true;
    strcpy(s->period, "2025-11");
    strcpy(s->variation, on ? "high" : "common");
    strcpy(s->assessment, on ? "concern" : "common");
    s->value = 41;
    s->cl = 25;
    s->has_limits = true;
    s->ucl = 34;
    s->lcl = 10;
}

static void
set_assurance(world_t *w, bool on)
{
    alert_spc_t *s = &w->levels[0].spc[0];
    w->levels[0].nspc = 1;
    memset(s, 0, sizeof *s);
    strcpy(s->kpi, "readmission_rate_30d");
    s->set = true;
    strcpy(s->period, "2025-09");
    strcpy(s->variation, "common");
    strcpy(s->assessment, "common");
    strcpy(s->assurance, on ? "fail" : "hit_and_miss");
    s->value = 23.5;
    s->has_limits = true;
    s->has_target = true;
    s->target = 15;
    /* readmission_rate_30d has a [goal] */
    w->conf.ngoals = 1;
    strcpy(w->conf.goals[0].kpi, "readmission_rate_30d");
    w->conf.goals[0].target = 15;
}

static void
set_belt(world_t *w, bool on)
{
    w->levels[0].belt_cur = (alert_value_t){true, on ? 1 : 0, true, "2025-12"};
    w->levels[0].belt_last = (alert_value_t){true, 0, false, "2025-11"};
}

static void
set_overdue(world_t *w, bool on)
{
    w->levels[0].overdue = (alert_value_t){true, on ? 3 : 0, true, "2025-12"};
}

static void
set_silent(world_t *w, bool on)
{
    w->coll[0].last_seen = on ? T0 : T0 + 16 * MIN;
    w->coll[1].last_seen = T0 + 16 * MIN;
}

static void
set_stale(world_t *w, bool on)
{
    set_silent(w, false);
    w->coll[0].last_inbox_read = on ? T0 : T0 + 36 * PSY_HOUR;
    w->coll[1].last_inbox_read = T0 + 36 * PSY_HOUR;
    w->coll[0].last_seen = w->coll[1].last_seen = T0 + 36 * PSY_HOUR + MIN;
}

static void
set_backlog(world_t *w, bool on)
{
    w->coll[0].last_seen = w->coll[1].last_seen = T0 + 31 * MIN;
    w->coll[0].backlog = 500;
    w->coll[0].backlog_since = on ? T0 : T0 + 31 * MIN; /* it shrank just now */
}

static void
set_spool(world_t *w, bool on)
{
    w->coll[0].spool_full = on;
}

static void
set_rejected(world_t *w, bool on)
{
    w->coll[0].rejected = 7;
    w->coll[0].rejected_rose_at = on ? T0 - PSY_HOUR : T0 - 25 * PSY_HOUR;
}

static void
set_clock(world_t *w, bool on)
{
    w->coll[0].last_seen = w->coll[1].last_seen = T0 + 5 * MIN;
    w->coll[0].clock_offset = on ? 121 * S : 119 * S;
}

static const rule_case_t rule_cases[] = {
    {"IntrusiveOffTrajectory", "pc-a", "intrusive_on_track", "warning", set_trajectory, 0,
     "Psykiatrisk Center A: ikke på sporet mod 30 % færre episoder med indgribende tvang; "
     "reduktionen i de 12 måneder til og med november 2025 er 2,5 %, sporet kræver 8,6 %"},
    {"SpcConcern", "pc-a", "intrusive_episodes", "warning", set_spc, 0,
     "Psykiatrisk Center A: 41 episoder med indgribende tvang i november 2025, over den øvre "
     "kontrolgrænse 34"},
    {"TargetAssuranceFail", "pc-a", "readmission_rate_30d", "info", set_assurance, 0,
     "23,5 % akut genindlagt inden for 30 dage i september 2025; målet 15 nås ikke"},
    {"BeltOver48h", "pc-a", "belt_over_48h", "warning", set_belt, 0,
     "Psykiatrisk Center A: 1 bæltefiksering over 48 timer i december 2025"},
    {"ReferralsOverdue", "pc-a", "referrals_overdue", "warning", set_overdue, 0,
     "3 henviste børn og unge har ventet mere end 60 dage"},
    {"CollectorSilent", "pc-a", "", "critical", set_silent, 16 * MIN,
     "ingen data fra centrets opsamler i 16 minutter"},
    {"ExportStale", "pc-a", "", "warning", set_stale, 36 * PSY_HOUR + MIN,
     "ingen nye eksportfiler fra patientjournalen i 36 timer"},
    {"BacklogStuck", "pc-a", "", "warning", set_backlog, 31 * MIN,
     "500 registreringer venter hos opsamleren"},
    {"SpoolFull", "pc-a", "", "critical", set_spool, 0, "opsamlerens lager er fuldt"},
    {"RecordsRejected", "pc-a", "", "info", set_rejected, 0, "(7 i alt)"},
    {"ClockSkew", "pc-a", "", "warning", set_clock, 5 * MIN, "121 sekunder foran"},
};

static void
test_rules(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof rule_cases / sizeof rule_cases[0]; k++) {
        const rule_case_t *rc = &rule_cases[k];
        for (int on = 0; on <= 1; on++) {
            world_t *w = world_new();
            const alert_t *a;

            w->auto_alive = false;
            /* The condition held from T0 (ClockSkew and the KPI rules: evaluated at T0 too). */
            rc->set(w, on);
            if (rc->after && strcmp(rc->rule, "ClockSkew") == 0) {
                w->coll[0].last_seen = w->coll[1].last_seen = T0;
                tick(w, T0);
                rc->set(w, on);
            }
            tick(w, T0 + rc->after);
            a = find(w, rc->rule, rc->center, NULL);
            if (!on) {
                if (a)
                    fail_msg("%s fired without its condition", rc->rule);
                world_free(w);
                continue;
            }
            if (!a || a->state != ALERT_FIRING)
                fail_msg("%s: %s", rc->rule, a ? alert_state_name(a->state) : "no alert");
            assert_string_equal(a->labels.kpi, rc->kpi);
            assert_string_equal(a->labels.severity, rc->severity);
            if (!strstr(a->ann.summary, rc->summary))
                fail_msg("%s: summary '%s' lacks '%s'", rc->rule, a->ann.summary, rc->summary);
            assert_true(a->ann.summary_en[0] != '\0');
            assert_true(a->ann.description[0] != '\0');
            assert_true(strncmp(a->ann.dashboard, "http://dash.example/", 20) == 0);
            if (w->firing != 1)
                fail_msg("%s: %d notices", rc->rule, w->firing);
            world_free(w);
        }
    }
}

/* A rule switched off fires nothing; one with a tuned severity carries it. */
static void
test_tuning(void **state)
{
    world_t *w = world_new();

    (void)state;
    tune(w, "SpoolFull", -1, -1);
    w->conf.alerts[0].enabled = 0;
    tune(w, "BeltOver48h", -1, -1);
    strcpy(w->conf.alerts[1].severity, "critical");
    w->coll[0].spool_full = true;
    w->levels[1].belt_last = (alert_value_t){true, 1, false, "2025-11"};
    tick(w, T0);
    assert_null(find(w, "SpoolFull", "pc-a", NULL));
    assert_string_equal(find(w, "BeltOver48h", "pc-b", NULL)->labels.severity, "critical");
    assert_true(alert_builtin("ExportStale"));
    assert_false(alert_builtin("BeltsAbove20"));
    world_free(w);
}

/* Fingerprints as Alertmanager's: FNV-1a 64 of sorted labels; stable and label-sensitive. */
static void
test_fingerprint(void **state)
{
    alert_labels_t l = {0}, m;
    char fp[17], fp2[17];

    (void)state;
    strcpy(l.alertname, "CollectorSilent");
    strcpy(l.center, "pc-a");
    strcpy(l.severity, "critical");
    strcpy(l.region, "psymon");
    alert_fingerprint(&l, fp);
    /* Computed independently (Python: FNV-1a 64 over name 0xff value 0xff, names sorted). */
    assert_string_equal(fp, "8d42a495af24d4c4");
    m = l;
    strcpy(m.center, "pc-b");
    alert_fingerprint(&m, fp2);
    assert_string_not_equal(fp, fp2);

    alert_silence_t s = {0};
    assert_int_equal(alert_matchers_parse("nolabel=x", &s), -EINVAL);
    assert_int_equal(alert_matchers_parse("", &s), -EINVAL);
    assert_int_equal(alert_matchers_parse("center", &s), -EINVAL);
    assert_int_equal(alert_matchers_parse("severity=critical", &s), 0);
    assert_true(alert_silence_matches(&s, &l));
    assert_int_equal(alert_matchers_parse("kpi=x", &s), 0);
    assert_false(alert_silence_matches(&s, &l));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycles),       cmocka_unit_test(test_times),
        cmocka_unit_test(test_repeat_and_ack),   cmocka_unit_test(test_silence),
        cmocka_unit_test(test_hold_ends),        cmocka_unit_test(test_one_word),
        cmocka_unit_test(test_silent_short_for), cmocka_unit_test(test_inhibition),
        cmocka_unit_test(test_provisional),      cmocka_unit_test(test_threshold_words),
        cmocka_unit_test(test_kpi_unknown),      cmocka_unit_test(test_rules),
        cmocka_unit_test(test_tuning),           cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * alert_worker: evaluation thread of the alert engine (alert_worker.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert_facts.h"
#include "alert_format.h"
#include "alert_store.h"
#include "alert_worker.h"
#include "notify.h"
#include "psymon/log.h"
#include "store.h"

struct alert_worker {
    agg_t *agg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    /* Under lock: the latest KPI facts, and the alerts as last evaluated. */
    bool kpi_known;
    size_t nlevels;
    alert_level_t *levels; /* PSY_CENTERS_MAX + 1 */
    alert_t *alerts;
    size_t nalerts;
    /* The worker thread's own. */
    alert_store_t *astore;
    store_t *store;
    notify_t *notify;
    const psy_agg_conf_t *conf; /* a reference (agg_conf_get), renewed every round */
    alert_collector_mem_t mem[PSY_CENTERS_MAX];
    psy_time_t started;
    psy_time_t last_commit; /* of alerts to the store (alert_worker_store_due) */
    psy_time_t last_prune;  /* alert_store_prune */
    bool ann_unstored;      /* annotations changed since the last commit */
};

/* The outbox rows of the notices of set: one per webhook URL and one for exec. */
static int
outbox_rows(const psy_agg_conf_t *conf, const alert_set_t *set, alert_outbox_t **ret, size_t *ret_n)
{
    size_t per = conf->notify.nwebhook + (conf->notify.exec[0] ? 1 : 0), n = 0;
    alert_outbox_t *rows;

    *ret = NULL;
    *ret_n = 0;
    if (per == 0 || set->nnotices == 0)
        return 0;
    rows = calloc(per * set->nnotices, sizeof *rows);
    if (!rows)
        return -ENOMEM;
    for (size_t i = 0; i < set->nnotices; i++) {
        const alert_notice_t *no = &set->notices[i];
        const alert_t *a = &set->items[no->index];
        char *payload = alert_webhook_payload(a, no->kind, conf->external_url);
        if (!payload) {
            alert_outbox_free(rows, n);
            return -ENOMEM;
        }
        for (size_t k = 0; k < per; k++) {
            alert_outbox_t *o = &rows[n++];
            bool exec = k == conf->notify.nwebhook;
            snprintf(o->channel, sizeof o->channel, "%s", exec ? "exec" : "webhook");
            snprintf(o->target, sizeof o->target, "%s",
                     exec ? conf->notify.exec : conf->notify.webhook[k]);
            memcpy(o->fingerprint, a->fingerprint, sizeof o->fingerprint);
            snprintf(o->status, sizeof o->status, "%s",
                     no->kind == ALERT_NOTICE_RESOLVED ? "resolved" : "firing");
            o->payload = k == 0 ? payload : strdup(payload);
            if (!o->payload) {
                alert_outbox_free(rows, n);
                return -ENOMEM;
            }
        }
    }
    *ret = rows;
    *ret_n = n;
    return 0;
}

typedef enum { SAME, ANNOTATIONS, STATES } change_t;

/* What the evaluation changed in the alerts (a, b in the same stable order). */
static change_t
changed(const alert_t *a, size_t na, const alert_t *b, size_t nb)
{
    change_t c = SAME;

    if (na != nb)
        return STATES;
    for (size_t i = 0; i < na; i++) {
        alert_t u = a[i], v = b[i];
        bool same_ann = strcmp(u.ann.summary, v.ann.summary) == 0 &&
                        strcmp(u.ann.summary_en, v.ann.summary_en) == 0 &&
                        strcmp(u.ann.description, v.ann.description) == 0 &&
                        strcmp(u.ann.value, v.ann.value) == 0 &&
                        strcmp(u.ann.period, v.ann.period) == 0 &&
                        strcmp(u.ann.dashboard, v.ann.dashboard) == 0;
        if (!same_ann)
            c = ANNOTATIONS;
        memset(&u.ann, 0, sizeof u.ann);
        memset(&v.ann, 0, sizeof v.ann);
        char *x = alert_to_stored(&u), *y = alert_to_stored(&v);
        bool diff = !x || !y || strcmp(x, y) != 0;
        free(x);
        free(y);
        if (diff)
            return STATES;
    }
    return c;
}

bool
alert_worker_store_due(const alert_t *next, size_t nnext, const alert_t *prev, size_t nprev,
                       bool other, psy_time_t now, psy_time_t last_commit, bool *unstored)
{
    change_t c = changed(next, nnext, prev, nprev);
    bool due;

    if (c == ANNOTATIONS)
        *unstored = true;
    due = other || c == STATES || (*unstored && now - last_commit >= ALERT_ANN_STORE_INTERVAL);
    if (due)
        *unstored = false;
    return due;
}

static void
evaluate(alert_worker_t *w)
{
    alert_collector_t coll[PSY_CENTERS_MAX];
    alert_silence_t *sil = NULL;
    alert_ack_t *acks = NULL;
    alert_outbox_t *rows = NULL;
    alert_set_t set = {0};
    alert_level_t *levels = NULL;
    size_t nsil = 0, nacks = 0, nrows = 0, nlevels = 0;
    psy_time_t now = psy_time_now();
    psy_time_t since_before[PSY_CENTERS_MAX];
    bool kpi_known, mem_changed = false;
    uint64_t pending = 0;
    int r;

    agg_conf_put(&w->conf);
    w->conf = agg_conf_get(w->agg);
    notify_reload(w->notify, w->conf); /* SIGHUP: new Alertmanagers take effect at once */
    for (size_t i = 0; i < w->conf->ncenters; i++) {
        store_status_t st = {0};
        st.last_seen = PSY_TIME_NONE;
        if (store_status(w->store, w->conf->centers[i].id, &st) < 0)
            continue;
        since_before[i] = w->mem[i].rejected_rose_at;
        alert_facts_collector(&w->conf->centers[i], &st, now, w->started, &w->mem[i], &coll[i]);
        mem_changed |= since_before[i] != w->mem[i].rejected_rose_at;
    }
    if (alert_store_silences(w->astore, now, &sil, &nsil) < 0 ||
        alert_store_acks(w->astore, &acks, &nacks) < 0) {
        psy_err("alerts: cannot read silences or acknowledgements");
        goto out;
    }
    pthread_mutex_lock(&w->lock);
    kpi_known = w->kpi_known;
    if (kpi_known) {
        levels = malloc(w->nlevels * sizeof *levels);
        if (levels) {
            memcpy(levels, w->levels, w->nlevels * sizeof *levels);
            nlevels = w->nlevels;
        }
    }
    pthread_mutex_unlock(&w->lock);

    alert_input_t in = {.conf = w->conf,
                        .now = now,
                        .kpi_known = kpi_known && levels,
                        .nlevels = nlevels,
                        .levels = levels,
                        .ncollectors = w->conf->ncenters,
                        .collectors = coll,
                        .nsilences = nsil,
                        .silences = sil,
                        .nacks = nacks,
                        .acks = acks};
    r = alert_eval(&in, w->alerts, w->nalerts, &set);
    if (r < 0) {
        psy_err("alerts: evaluation failed: %s", strerror(-r));
        goto out;
    }
    r = outbox_rows(w->conf, &set, &rows, &nrows);
    if (r < 0)
        goto out;
    if (nrows && alert_store_outbox_pending(w->astore, &pending) == 0 &&
        pending + nrows > ALERT_OUTBOX_MAX) {
        psy_err("alerts: the outbox holds %llu undelivered notifications; dropping %zu new ones",
                (unsigned long long)pending, nrows);
        alert_outbox_free(rows, nrows);
        rows = NULL;
        nrows = 0;
    }
    if (alert_worker_store_due(set.items, set.n, w->alerts, w->nalerts, nrows || mem_changed, now,
                               w->last_commit, &w->ann_unstored)) {
        r = alert_store_commit(w->astore, set.items, set.n, w->mem, w->conf->ncenters, rows, nrows,
                               now);
        if (r < 0) {
            /* Not stored: the same transitions happen again at the next evaluation. */
            psy_err("alerts: cannot store the alerts: %s", strerror(-r));
            goto out;
        }
        w->last_commit = now;
        for (size_t i = 0; i < set.nnotices; i++) {
            const alert_t *a = &set.items[set.notices[i].index];
            psy_notice("alert %s %s %s: %s", a->labels.alertname, a->labels.center,
                       set.notices[i].kind == ALERT_NOTICE_RESOLVED ? "resolved" : "firing",
                       a->ann.summary_en);
        }
        notify_wake(w->notify);
    }
    pthread_mutex_lock(&w->lock);
    free(w->alerts);
    w->alerts = set.items;
    w->nalerts = set.n;
    set.items = NULL;
    pthread_mutex_unlock(&w->lock);
    /* Once a day: the history older than ALERT_HISTORY_KEEP goes, so the store stays bounded. */
    if (now - w->last_prune >= PSY_DAY) {
        int k = alert_store_prune(w->astore, now - ALERT_HISTORY_KEEP);
        w->last_prune = now;
        if (k < 0)
            psy_warn("alerts: cannot forget old notifications: %s", strerror(-k));
        else if (k > 0)
            psy_info("alerts: forgot %d notifications, silences and acknowledgements older "
                     "than %d days",
                     k, (int)(ALERT_HISTORY_KEEP / PSY_DAY));
    }
out:
    alert_outbox_free(rows, nrows);
    alert_set_free(&set);
    free(levels);
    free(sil);
    free(acks);
}

static void *
run(void *arg)
{
    alert_worker_t *w = arg;

    for (;;) {
        struct timespec ts;
        pthread_mutex_lock(&w->lock);
        if (!w->stop) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += ALERT_WORKER_TICK_MS / 1000;
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
        bool stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        evaluate(w);
    }
    return NULL;
}

alert_worker_t *
alert_worker_new(agg_t *agg)
{
    alert_worker_t *w = calloc(1, sizeof *w);
    alert_collector_mem_t *mem = NULL;
    size_t nmem = 0;
    int r = ENOMEM;

    if (!w)
        return NULL;
    w->agg = agg;
    w->started = psy_time_now();
    w->conf = agg_conf_get(agg);
    w->levels = calloc(PSY_CENTERS_MAX + 1, sizeof *w->levels);
    if (!w->conf || !w->levels)
        goto fail;
    w->astore = alert_store_new(w->conf->data_dir);
    if (!w->astore || !(w->store = store_new(w->conf->data_dir, true))) {
        r = errno;
        goto fail;
    }
    /* What was firing before a restart keeps its times and its notices (alerts.md). */
    if ((r = -alert_store_load(w->astore, &w->alerts, &w->nalerts)) != 0 ||
        (r = -alert_store_collectors(w->astore, &mem, &nmem)) != 0)
        goto fail;
    for (size_t i = 0; i < w->conf->ncenters; i++)
        for (size_t k = 0; k < nmem; k++)
            if (strcmp(mem[k].center, w->conf->centers[i].id) == 0)
                w->mem[i] = mem[k];
    free(mem);
    w->notify = notify_new(w->conf->data_dir, w->conf);
    if (!w->notify) {
        r = errno;
        goto fail;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    r = pthread_create(&w->thread, NULL, run, w);
    if (r != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        goto fail;
    }
    return w;
fail:
    notify_destroy(&w->notify);
    store_destroy(&w->store);
    alert_store_destroy(&w->astore);
    free(w->alerts);
    free(w->levels);
    agg_conf_put(&w->conf);
    free(w);
    errno = r ? r : ENOMEM;
    return NULL;
}

void
alert_worker_destroy(alert_worker_t **wp)
{
    alert_worker_t *w;

    if (!wp || !*wp)
        return;
    w = *wp;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    notify_destroy(&w->notify);
    store_destroy(&w->store);
    alert_store_destroy(&w->astore);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->alerts);
    free(w->levels);
    agg_conf_put(&w->conf);
    free(w);
    *wp = NULL;
}

void
alert_worker_publish(void *ctx, const agg_model_t *m)
{
    alert_worker_t *w = ctx;
    alert_level_t *levels = calloc(PSY_CENTERS_MAX + 1, sizeof *levels);
    size_t n = 0;
    int r;

    if (!levels || !m || !m->kpi || !m->conf) {
        free(levels);
        return;
    }
    /* The engine's rules hold at an instant the model covers: now, or its cutoff. */
    psy_time_t as_of = kpi_model_covers(m->kpi, psy_time_now()) ? psy_time_now() : m->as_of;
    r = alert_facts_from_kpi(m->kpi, m->conf, as_of, levels, &n);
    if (r < 0) {
        psy_err("alerts: cannot compute the KPI facts: %s", strerror(-r));
        free(levels);
        return;
    }
    r = alert_facts_spc_model(m->kpi, m->conf, as_of, levels, n);
    if (r < 0)
        psy_err("alerts: cannot compute the SPC series: %s", strerror(-r));
    pthread_mutex_lock(&w->lock);
    free(w->levels);
    w->levels = levels;
    w->nlevels = n;
    w->kpi_known = true;
    pthread_cond_signal(&w->cond); /* evaluate within a minute of the data change: now */
    pthread_mutex_unlock(&w->lock);
}

int
alert_worker_snapshot(alert_worker_t *w, alert_t **ret, size_t *ret_n)
{
    alert_t *copy = NULL;
    size_t n;

    pthread_mutex_lock(&w->lock);
    n = w->nalerts;
    if (n > 0) {
        copy = malloc(n * sizeof(*copy));
        if (copy)
            memcpy(copy, w->alerts, n * sizeof(*copy));
    }
    pthread_mutex_unlock(&w->lock);
    if (n > 0 && !copy)
        return -ENOMEM;
    *ret = copy;
    *ret_n = n;
    return 0;
}

char *
alert_worker_api_json(alert_worker_t *w)
{
    char *s;

    pthread_mutex_lock(&w->lock);
    s = alert_api_json(w->alerts, w->nalerts, true, psy_time_now());
    pthread_mutex_unlock(&w->lock);
    return s;
}

int
alert_worker_metrics_write(alert_worker_t *w, FILE *f)
{
    alert_channel_stats_t stats[NOTIFY_CHANNELS];
    int r;

    notify_stats(w->notify, stats);
    pthread_mutex_lock(&w->lock);
    r = alert_metrics_write(f, w->alerts, w->nalerts, stats, NOTIFY_CHANNELS);
    pthread_mutex_unlock(&w->lock);
    return r;
}

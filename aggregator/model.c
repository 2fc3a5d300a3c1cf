/* model: the refresh worker and its reference-counted models. See model.h. */
#include "model.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "psymon/log.h"
#include "store.h"

/* A published model and its reference count in one allocation. */
typedef struct {
    atomic_size_t refs;
    agg_model_t pub;
    kpi_model_t *kpi;
} model_box_t;

struct model {
    agg_t *agg;
    pthread_t thread;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* the worker waits on it; model_wait's callers too */
    bool stop;
    bool woken;            /* data changed since the last build started */
    psy_time_t woken_at;   /* when `woken` was first set */
    model_box_t *cur;      /* the published model, or NULL */
    psy_time_t next_build; /* not before: builds are spaced by their own cost */
    size_t nsinks;
    model_sink_t sinks[MODEL_SINKS_MAX];
    pthread_mutex_t load_lock; /* one on-demand load at a time (model_compute) */
    store_t *load_store;
};

/* The worker hands every sink the current model at least this often, for time-driven work. */
#define MODEL_TICK_MS 10000

static model_box_t *
model_box_of(const agg_model_t *m)
{
    return (model_box_t *)((char *)(uintptr_t)m - offsetof(model_box_t, pub));
}

const agg_model_t *
model_ref(const agg_model_t *m)
{
    if (m)
        atomic_fetch_add(&model_box_of(m)->refs, 1);
    return m;
}

void
model_unref(const agg_model_t **mp)
{
    if (!mp || !*mp)
        return;
    model_box_t *b = model_box_of(*mp);
    if (atomic_fetch_sub(&b->refs, 1) == 1) {
        kpi_model_destroy(&b->kpi);
        agg_conf_put(&b->pub.conf);
        free(b);
    }
    *mp = NULL;
}

static psy_time_t
model_mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (psy_time_t)ts.tv_sec * PSY_USEC + ts.tv_nsec / 1000;
}

/*
 * Loads every record once, prepares the KPI model and lets the records go:
 * the model's compact tables are all that stays resident. The cutoff is
 * the start of the build, so the model answers "now" until the earliest
 * record dated after it (kpi_model_valid_until), when the worker builds
 * again.
 */
static model_box_t *
model_build(model_t *w, store_t **store)
{
    const psy_agg_conf_t *conf = agg_conf_get(w->agg);
    uint64_t gen = atomic_load(&w->agg->generation);
    kpi_records_t recs = {0};
    model_box_t *b = calloc(1, sizeof(*b));
    int r = -ENOMEM;

    if (!b)
        goto fail;
    if (!*store && !(*store = store_new(conf->data_dir, true))) {
        r = -errno;
        goto fail;
    }
    /* Read before the load: records committed meanwhile only make the model look older. */
    r = store_generation(*store, &b->pub.vid, &b->pub.stored_at);
    if (r < 0)
        goto fail;
    b->pub.as_of = psy_time_now();
    r = store_load(*store, conf, PSY_TIME_NONE, &recs);
    if (r < 0)
        goto fail;
    b->kpi = kpi_model_new(&recs, conf, b->pub.as_of);
    b->pub.nrecords = recs.count;
    kpi_records_free(&recs);
    /* The records were most of the build's memory: give it back to the system now. */
    malloc_trim(0);
    if (!b->kpi) {
        r = -errno;
        goto fail;
    }
    atomic_init(&b->refs, 1);
    b->pub.generation = gen;
    b->pub.conf = conf;
    b->pub.kpi = b->kpi;
    b->pub.built_at = psy_time_now();
    return b;
fail:
    psy_err("model: the data could not be prepared: %s; the previous model stays", strerror(-r));
    if (r != -ENOMEM || !b)
        store_destroy(store); /* a store that went away is reopened next time */
    free(b);
    agg_conf_put(&conf);
    return NULL;
}

/* Hands m to every sink, on the worker's thread, without the lock. */
static void
model_publish_sinks(const agg_model_t *m, size_t nsinks, const model_sink_t *sinks)
{
    for (size_t i = 0; i < nsinks; i++)
        sinks[i].publish(sinks[i].ctx, m);
}

static void
model_timed_wait(model_t *w, psy_time_t until_mono)
{
    struct timespec ts = {.tv_sec = until_mono / PSY_USEC,
                          .tv_nsec = (long)(until_mono % PSY_USEC) * 1000};

    pthread_cond_timedwait(&w->cond, &w->lock, &ts);
}

/*
 * The worker: builds when the data changed (MODEL_DEBOUNCE_MS after the
 * first change, so a burst of commits makes one model), when the model no
 * longer covers "now", or when there is none; and hands the current model
 * to the sinks after every build and every MODEL_TICK_MS. A build never
 * starts sooner after the previous one than twice that one took, so that a
 * steady stream of commits leaves ingest at least two thirds of a core; and
 * the worker runs at a lower priority (MODEL_NICE), so that where cores are
 * short (a backlog draining while collectors run on the same machine) the
 * ingest thread, which acknowledges, gets them first and a build waits.
 */
static void *
model_main(void *arg)
{
    model_t *w = arg;
    store_t *store = NULL;
    psy_time_t next_tick = 0;

    /* Linux gives each thread its own nice value; failing to set it changes nothing else. */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), MODEL_NICE);
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        psy_time_t mono = model_mono_now();
        psy_time_t wall = psy_time_now();
        bool stale = w->cur && !kpi_model_covers(w->cur->kpi, wall);
        bool want = !w->cur || stale || w->woken;
        psy_time_t at = w->woken ? w->woken_at + (psy_time_t)MODEL_DEBOUNCE_MS * 1000 : mono;

        if (at < w->next_build)
            at = w->next_build;
        if (want && mono >= at) {
            psy_time_t t0 = mono;

            w->woken = false;
            pthread_mutex_unlock(&w->lock);
            model_box_t *b = model_build(w, &store);
            psy_time_t took = model_mono_now() - t0;
            pthread_mutex_lock(&w->lock);
            /* A failed build is retried no sooner than a minute later. */
            w->next_build = t0 + (b ? 2 * took : 60 * (psy_time_t)PSY_USEC);
            if (b) {
                const agg_model_t *old = w->cur ? &w->cur->pub : NULL;
                w->cur = b;
                model_unref(&old);
                pthread_cond_broadcast(&w->cond);
                psy_debug("model: generation %llu, %zu records, built in %lld ms",
                          (unsigned long long)b->pub.generation, b->pub.nrecords,
                          (long long)(took / 1000));
            }
            next_tick = 0; /* hand the new model to the sinks now */
        }
        if (w->cur && model_mono_now() >= next_tick) {
            const agg_model_t *m = model_ref(&w->cur->pub);
            model_sink_t sinks[MODEL_SINKS_MAX];
            size_t n = w->nsinks;

            memcpy(sinks, w->sinks, n * sizeof(*sinks));
            pthread_mutex_unlock(&w->lock);
            model_publish_sinks(m, n, sinks);
            model_unref(&m);
            pthread_mutex_lock(&w->lock);
            next_tick = model_mono_now() + (psy_time_t)MODEL_TICK_MS * 1000;
        }
        if (w->stop)
            break;
        /*
         * Sleep until the next thing to do: a tick, a due build, or a
         * wake-up. Without a model there is no tick (next_tick is still 0,
         * in the past): waiting for it would not wait at all, and the loop
         * would spin through the debounce of the first build.
         */
        psy_time_t until = w->cur ? next_tick : INT64_MAX;
        if ((w->woken || !w->cur) && at < until)
            until = at > model_mono_now() ? at : model_mono_now() + 1000;
        if (w->cur) {
            psy_time_t valid = kpi_model_valid_until(w->cur->kpi);
            psy_time_t left = valid - psy_time_now();
            if (valid != INT64_MAX && left < until - model_mono_now())
                until = model_mono_now() + (left > 0 ? left : 0) + 1000;
        }
        if (until > model_mono_now())
            model_timed_wait(w, until);
    }
    pthread_mutex_unlock(&w->lock);
    store_destroy(&store);
    return NULL;
}

static void
model_on_change(void *ctx)
{
    model_wake(ctx);
}

model_t *
model_new(agg_t *agg)
{
    pthread_condattr_t ca;
    model_t *w;
    int r;

    if (!agg) {
        errno = EINVAL;
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->agg = agg;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->load_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    r = pthread_create(&w->thread, NULL, model_main, w);
    if (r != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        pthread_mutex_destroy(&w->load_lock);
        free(w);
        errno = r;
        return NULL;
    }
    agg->on_change_ctx = w;
    agg->on_change = model_on_change;
    return w;
}

void
model_destroy(model_t **wp)
{
    model_t *w = wp ? *wp : NULL;
    const agg_model_t *m;

    if (!w)
        return;
    w->agg->on_change = NULL;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    m = w->cur ? &w->cur->pub : NULL;
    model_unref(&m);
    store_destroy(&w->load_store);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->load_lock);
    free(w);
    *wp = NULL;
}

int
model_add_sink(model_t *w, const model_sink_t *sink)
{
    int r = 0;

    pthread_mutex_lock(&w->lock);
    if (w->nsinks == MODEL_SINKS_MAX)
        r = -ENOSPC;
    else
        w->sinks[w->nsinks++] = *sink;
    pthread_mutex_unlock(&w->lock);
    return r;
}

void
model_wake(model_t *w)
{
    pthread_mutex_lock(&w->lock);
    if (!w->woken) {
        w->woken = true;
        w->woken_at = model_mono_now();
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

const agg_model_t *
model_current(model_t *w)
{
    const agg_model_t *m = NULL;

    pthread_mutex_lock(&w->lock);
    if (w->cur)
        m = model_ref(&w->cur->pub);
    pthread_mutex_unlock(&w->lock);
    if (!m)
        errno = EAGAIN;
    return m;
}

int
model_wait(model_t *w, uint64_t generation, int timeout_ms)
{
    psy_time_t until = model_mono_now() + (psy_time_t)timeout_ms * 1000;
    int r = 0;

    pthread_mutex_lock(&w->lock);
    while (!w->cur || w->cur->pub.generation < generation) {
        if (model_mono_now() >= until) {
            r = -ETIMEDOUT;
            break;
        }
        model_timed_wait(w, until);
    }
    pthread_mutex_unlock(&w->lock);
    return r;
}

const kpi_model_t *
model_at(model_t *w, const psy_agg_conf_t *conf, psy_time_t as_of, model_hold_t *hold)
{
    const agg_model_t *m = model_current(w);
    kpi_records_t recs = {0};
    int r;

    hold->ref = NULL;
    hold->own = NULL;
    if (m && kpi_model_covers(m->kpi, as_of) && kpi_model_centers(m->kpi) == conf->ncenters) {
        hold->ref = m;
        return m->kpi;
    }
    model_unref(&m);
    /*
     * An instant the current model cannot answer (before its latest record,
     * or before the first build): load, prepare and let go, one at a time so
     * that such requests cannot pile copies of the records up in memory.
     */
    pthread_mutex_lock(&w->load_lock);
    if (!w->load_store && !(w->load_store = store_new(conf->data_dir, true))) {
        r = -errno;
        goto out;
    }
    r = store_load(w->load_store, conf, PSY_TIME_NONE, &recs);
    if (r < 0) {
        store_destroy(&w->load_store);
        goto out;
    }
    hold->own = kpi_model_new(&recs, conf, as_of);
    r = hold->own ? 0 : -errno;
    kpi_records_free(&recs);
    malloc_trim(0);
out:
    pthread_mutex_unlock(&w->load_lock);
    if (r < 0)
        errno = -r;
    return hold->own;
}

void
model_release(model_hold_t *hold)
{
    model_unref(&hold->ref);
    kpi_model_destroy(&hold->own);
}

int
model_compute(model_t *w, const kpi_query_t *q, kpi_row_t **ret_rows, size_t *ret_n)
{
    model_hold_t hold;
    const kpi_model_t *m = model_at(w, q->conf, q->as_of, &hold);
    int r = m ? kpi_model_compute(m, q, ret_rows, ret_n) : -errno;

    model_release(&hold);
    return r;
}

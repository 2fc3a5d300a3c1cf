/* httpd: the read-only HTTP server. See httpd.h. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "alert_worker.h"
#include "httpd_cache.h"
#include "pages.h"
#include "kpi_format.h"
#include "kpi_query.h"
#include "metrics.h"
#include "series.h"
#include "spc_format.h"
#include "spc_query.h"
#include "status.h"
#include "store.h"

/* Page and graph computations running at once; more wait for a slot (2 cores are the target). */
#define HTTPD_RENDER_MAX 2
/* Read-only stores kept open between requests. */
#define HTTPD_STORES_MAX 4
/* Rendered answers kept: entries and bytes of bodies (httpd_cache.h). */
#define HTTPD_CACHE_ENTRIES 256
#define HTTPD_CACHE_BYTES   (64u * 1024 * 1024)
/*
 * How long an answer of the current generation is served before it is
 * computed again. The KPIs are evaluated at "now" (open stays, what is
 * still provisional), so even without new data a page may change as time
 * passes; a minute is far below the granularity of those rules.
 */
#define HTTPD_CACHE_TTL_S 60

struct httpd {
    agg_t *agg;
    model_t *model; /* the refresh worker: every KPI answer comes from its current model */
    struct MHD_Daemon *daemon;
    int port;
    httpd_cache_t *cache;

    /* Everything below is shared by the connection threads, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t slot_free;
    int rendering;                     /* computations holding a render slot */
    store_t *stores[HTTPD_STORES_MAX]; /* read-only stores not in use */
    size_t nstores;
    const psy_agg_conf_t *last_conf; /* a reference: its address cannot be reused */
    uint64_t conf_serial;            /* bumped whenever a request sees another conf */
    void (*render_hook)(void *ctx, const char *key);
    void *render_hook_ctx;
    pthread_cond_t refresh_done;
    int nrefresh;               /* refreshes running on threads of their own */
    bool stopping;              /* httpd_destroy: no more refreshes */
    atomic_int_fast64_t ttl_us; /* HTTPD_CACHE_TTL_S; tests shorten it */
    bool alerts_busy[2];        /* a request is computing alerts_stamp[i] */
    int64_t alerts_at[2];       /* when alerts_stamp[with value] was computed (monotonic) */
    uint64_t alerts_stamp[2];
    /*
     * Completeness: the `records` KPI per center and month, which every
     * page needs (and /collectors nothing else), as of the model of
     * generation rec_gen and configuration rec_conf_serial, months from
     * rec_mfirst, rec_n of them. A pass over the whole model, so it is kept
     * until the next model rather than computed per request.
     */
    uint64_t *rec;
    uint64_t rec_gen, rec_conf_serial;
    long rec_mfirst;
    size_t rec_n, rec_ncenters;
    atomic_uint_fast64_t rec_computed; /* passes made (tests) */
};

/*
 * One request's view of the aggregator, taken when it starts and held to
 * its end: the configuration and the current model (references), and a
 * read-only store from the pool when it needs one. Requests share nothing
 * else, so they run at once on their connections' threads. The fields
 * `agg` and `conf` are named as the server's were, so code that reads
 * h->conf or h->agg works on either.
 */
typedef struct {
    httpd_t *srv;
    agg_t *agg;
    const psy_agg_conf_t *conf;
    const agg_model_t *m; /* the current model, or NULL before the first build */
    model_t *model;
    store_t *store; /* from srv's pool, opened when first needed */
    bool off_model; /* an answer came from another model than m: not cacheable */
} httpd_req_t;

/*
 * What the URI log callback hands to the request handler, and how far the
 * handler got with a request: addresses only, never written.
 */
static const char httpd_uri_ok, httpd_uri_too_long, httpd_uri_headers, httpd_uri_seen;

typedef struct {
    int status;
    const char *type;
    char *body; /* malloc'ed */
    size_t len;
    const char *allow;                /* the Allow header of a 405 */
    const httpd_cache_entry_t *entry; /* instead of the above: a cached answer (a reference) */
} httpd_reply_t;

static void
httpd_reply_text(httpd_reply_t *rep, int status, const char *text)
{
    rep->status = status;
    rep->type = "text/plain; charset=utf-8";
    rep->body = strdup(text);
    rep->len = rep->body ? strlen(rep->body) : 0;
}

static void
httpd_reply_json(httpd_reply_t *rep, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (!s) {
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return;
    }
    rep->status = status;
    rep->type = "application/json";
    rep->len = strlen(s);
    /* Newline-terminated, like the command line's output. */
    char *grown = realloc(s, rep->len + 2);
    if (grown) {
        s = grown;
        s[rep->len++] = '\n';
        s[rep->len] = '\0';
    }
    rep->body = s;
}

static void
httpd_reply_error(httpd_reply_t *rep, int status, const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);

    httpd_reply_json(rep, status, j);
    json_decref(j);
}

/*
 * The API names its parameters as URLs spell them: "period is required",
 * not the command line's "--period is required" (kpi_query and spc_query
 * word their errors for the command line).
 */
static void
httpd_api_words(char *err)
{
    char *p;

    while ((p = strstr(err, "--")) != NULL) {
        memmove(p, p + 2, strlen(p + 2) + 1);
        if (strncmp(p, "as-of", 5) == 0)
            p[2] = '_';
    }
}

/*
 * A read-only store for this request: one from the server's pool, else a
 * new one. It goes back to the pool when the request ends (httpd_req_end).
 */
static int
httpd_store(httpd_req_t *h)
{
    httpd_t *s = h->srv;

    if (h->store)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (s->nstores > 0)
        h->store = s->stores[--s->nstores];
    pthread_mutex_unlock(&s->lock);
    if (!h->store)
        h->store = store_new(h->conf->data_dir, true);
    return h->store ? 0 : -errno;
}

/*
 * The model that answers queries at as_of: the request's own reference to
 * the current model when it covers as_of (the usual case, "now"), else
 * what model_at builds for this one answer (an as_of in the past), which
 * makes the request's answer one not to cache.
 */
static const kpi_model_t *
httpd_model_at(httpd_req_t *h, psy_time_t as_of, model_hold_t *hold)
{
    if (h->m && kpi_model_covers(h->m->kpi, as_of) &&
        kpi_model_centers(h->m->kpi) == h->conf->ncenters) {
        hold->ref = model_ref(h->m);
        hold->own = NULL;
        return h->m->kpi;
    }
    h->off_model = true;
    return model_at(h->model, h->conf, as_of, hold);
}

/*
 * kpi_compute() from the shared model of the current data generation: the
 * worker prepared it once for every reader, so a request only sums. A query
 * at an as_of the model does not cover (in the past) loads the records for
 * that one answer (httpd_model_at).
 */
static int
httpd_compute(httpd_req_t *h, const kpi_query_t *q, kpi_row_t **ret_rows, size_t *ret_n)
{
    model_hold_t hold;
    const kpi_model_t *m = httpd_model_at(h, q->as_of, &hold);
    int r = m ? kpi_model_compute(m, q, ret_rows, ret_n) : -errno;

    model_release(&hold);
    return r;
}

/* The r12 period ending with the last complete month (in the configured zone) before now. */
static kpi_period_t
httpd_last_r12(psy_time_t now)
{
    kpi_period_t p = {.kind = KPI_R12};
    int y, m, d;

    psy_civil_date(now, &y, &m, &d);
    if (--m < 1) {
        m = 12;
        y--;
    }
    p.year = y;
    p.month = m;
    return p;
}

/*
 * Every KPI of the period for the region, then each center: the order the
 * dashboard expects. *ret_rows is malloc'ed.
 */
static int
httpd_compute_all(httpd_req_t *h, const kpi_period_t *p, psy_time_t now, kpi_row_t **ret_rows,
                  size_t *ret_n)
{
    int levels[PSY_CENTERS_MAX + 1];
    int *kpis;
    size_t nk = kpi_count();
    kpi_query_t q = {0};
    int r;

    kpis = malloc(nk * sizeof(*kpis));
    if (!kpis)
        return -ENOMEM;
    for (size_t i = 0; i < nk; i++)
        kpis[i] = (int)i;
    levels[0] = KPI_LEVEL_REGION;
    for (size_t i = 0; i < h->conf->ncenters; i++)
        levels[i + 1] = (int)i;
    q.conf = h->conf;
    q.as_of = now;
    q.nperiods = 1;
    q.periods = p;
    q.nlevels = h->conf->ncenters + 1;
    q.levels = levels;
    q.nkpis = nk;
    q.kpis = kpis;
    r = httpd_compute(h, &q, ret_rows, ret_n);
    free(kpis);
    return r;
}

/* ---- Cached answers (httpd_cache.h) ------------------------------------------------------ */

static int64_t
httpd_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* FNV-1a over the bytes of v, continuing from h. */
static uint64_t
httpd_mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        h = (h ^ (v & 0xff)) * 1099511628211ULL;
    return h;
}

/*
 * A number that changes whenever the requests see another configuration
 * (SIGHUP). The server keeps a reference to the last one seen, so that no
 * new configuration can be allocated at its address and pass for it.
 */
static uint64_t
httpd_conf_serial(httpd_req_t *h)
{
    httpd_t *s = h->srv;
    const psy_agg_conf_t *old = NULL;
    uint64_t serial;

    pthread_mutex_lock(&s->lock);
    if (s->last_conf != h->conf) {
        old = s->last_conf;
        s->last_conf = agg_conf_ref(h->conf);
        s->conf_serial++;
    }
    serial = s->conf_serial;
    pthread_mutex_unlock(&s->lock);
    agg_conf_put(&old);
    return serial;
}

/*
 * What every cached answer is made from: the model (its generation and the
 * instant of its build: a rebuild for a record that came due keeps the
 * generation), the configuration and readiness. False when there is no
 * model yet: answers computed without one are not kept.
 */
static bool
httpd_stamp_base(httpd_req_t *h, uint64_t *ret)
{
    uint64_t st = 1469598103934665603ULL;

    if (!h->m)
        return false;
    st = httpd_mix(st, h->m->generation);
    st = httpd_mix(st, (uint64_t)h->m->built_at);
    st = httpd_mix(st, httpd_conf_serial(h));
    st = httpd_mix(st, atomic_load(&h->agg->ready));
    *ret = st;
    return true;
}

/*
 * Waits for one of HTTPD_RENDER_MAX slots, so that however many
 * connections ask for pages nobody has cached, at most that many are
 * computed at once and the rest of the machine stays with ingest and the
 * model worker. /healthz, /metrics and cache hits never take one.
 */
static void
httpd_render_begin(httpd_req_t *h, const char *key)
{
    httpd_t *s = h->srv;
    void (*hook)(void *, const char *);
    void *ctx;

    pthread_mutex_lock(&s->lock);
    while (s->rendering >= HTTPD_RENDER_MAX)
        pthread_cond_wait(&s->slot_free, &s->lock);
    s->rendering++;
    hook = s->render_hook;
    ctx = s->render_hook_ctx;
    pthread_mutex_unlock(&s->lock);
    if (hook)
        hook(ctx, key);
}

static void
httpd_render_end(httpd_req_t *h)
{
    httpd_t *s = h->srv;

    pthread_mutex_lock(&s->lock);
    s->rendering--;
    pthread_cond_signal(&s->slot_free);
    pthread_mutex_unlock(&s->lock);
}

/*
 * Ends a miss of (key, stamp): a 200 computed from the request's model is
 * stored and served from the cache; anything else (an error, an answer
 * from a model built for a past as_of) is served once and forgotten.
 */
static void
httpd_cache_finish(httpd_req_t *h, const char *key, uint64_t stamp, uint64_t soft,
                   httpd_reply_t *rep)
{
    const httpd_cache_entry_t *e = NULL;

    if (rep->status != MHD_HTTP_OK || !rep->body || h->off_model) {
        httpd_cache_abandon(h->srv->cache, key, stamp);
        return;
    }
    if (httpd_cache_put(h->srv->cache, key, stamp, soft, h->m->generation, httpd_mono_us(),
                        rep->status, rep->type, rep->body, rep->len, &e) < 0) {
        rep->body = NULL;
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return;
    }
    rep->body = NULL;
    rep->len = 0;
    rep->entry = e;
}

/* ---- Refreshes off the requester's time ------------------------------------------------- */

/* What a refresh computes: a page or a graph, with its own references. */
typedef struct {
    httpd_req_t h;
    char key[PSY_HTTP_URL_MAX + 32];
    uint64_t stamp, soft;
    bool graph;
    bool warm;           /* look the page up first: computed only when not cached */
    pages_request_t req; /* a page */
    psy_time_t now;
    char center[PSY_CENTER_MAX + 1]; /* a graph */
    char what[16];
    long days;
    int level;
} httpd_refresh_t;

static void httpd_page_render(httpd_req_t *h, const pages_request_t *req, psy_time_t now,
                              httpd_reply_t *rep);
static void httpd_graph_draw(httpd_req_t *h, const char *center, const char *what, long days,
                             int level, httpd_reply_t *rep);
static void httpd_req_end(httpd_req_t *h);
static bool httpd_page_warm_due(httpd_req_t *h, httpd_refresh_t *r);

static void *
httpd_refresh_main(void *arg)
{
    httpd_refresh_t *r = arg;
    httpd_t *s = r->h.srv;
    httpd_reply_t rep = {0};

    if (r->warm && !httpd_page_warm_due(&r->h, r)) {
        httpd_req_end(&r->h);
        free(r);
        goto done;
    }
    httpd_render_begin(&r->h, r->key);
    if (r->graph)
        httpd_graph_draw(&r->h, r->center, r->what, r->days, r->level, &rep);
    else
        httpd_page_render(&r->h, &r->req, r->now, &rep);
    httpd_render_end(&r->h);
    httpd_cache_finish(&r->h, r->key, r->stamp, r->soft, &rep);
    httpd_cache_entry_unref(&rep.entry);
    free(rep.body);
    httpd_req_end(&r->h);
    free(r);
done:
    pthread_mutex_lock(&s->lock);
    s->nrefresh--;
    pthread_cond_broadcast(&s->refresh_done);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/*
 * Computes r on a thread of its own, with references of its own, so that
 * the request that found its answer due for a refresh is served the
 * previous bytes at once instead of waiting a second for the new ones.
 * Takes r on success; false (r untouched, nothing started) when the
 * server is stopping or no thread can be started: then the caller computes.
 */
static bool
httpd_refresh_start(httpd_req_t *h, httpd_refresh_t *r)
{
    httpd_t *s = h->srv;
    pthread_attr_t attr;
    pthread_t t;
    bool counted = false, started = false;

    r->h = *h;
    r->h.store = NULL;
    r->h.off_model = false;
    r->h.conf = agg_conf_ref(h->conf);
    r->h.m = model_ref(h->m);
    pthread_mutex_lock(&s->lock);
    if (!s->stopping) {
        s->nrefresh++;
        counted = true;
    }
    pthread_mutex_unlock(&s->lock);
    if (counted && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &attr, httpd_refresh_main, r) == 0;
        pthread_attr_destroy(&attr);
    }
    if (started)
        return true;
    if (counted) {
        pthread_mutex_lock(&s->lock);
        s->nrefresh--;
        pthread_cond_broadcast(&s->refresh_done);
        pthread_mutex_unlock(&s->lock);
    }
    model_unref(&r->h.m);
    agg_conf_put(&r->h.conf);
    return false;
}

/* ---- The dashboard's pages (pages.h) ----------------------------------------------------- */

static bool httpd_args_ok(struct MHD_Connection *conn, const char *const *allowed,
                          const char **ret_bad);

/* Everything a pages_input_t points into, freed in one place. */
typedef struct {
    pages_input_t in;
    pages_level_t levels[PSY_CENTERS_MAX + 1];
    pages_collector_t collectors[PSY_CENTERS_MAX];
    store_status_t status[PSY_CENTERS_MAX];
    pages_center_data_t cdata[PSY_CENTERS_MAX];
    uint64_t *records;       /* (ncenters) x nrec months of the `records` KPI */
    svg_spc_point_t *points; /* nlevels x PAGES_HEADLINE_N x nser */
    svg_r12_point_t *r12;    /* nlevels x nr12 */
    pages_figure_t *all;     /* nlevels x kpi_count() */
    alert_t *alerts;         /* the alert engine's, copied (alert_worker_snapshot) */
    pages_alert_t *palerts;  /* pointing into alerts */
} httpd_pages_t;

static void
httpd_pages_free(httpd_pages_t *p)
{
    free(p->records);
    free(p->points);
    free(p->r12);
    free(p->all);
    free(p->alerts);
    free(p->palerts);
}

/* Runs one query over every level (region first) and the given periods and KPIs. */
static int
httpd_query(httpd_req_t *h, const kpi_period_t *periods, size_t np, const int *kpis, size_t nk,
            psy_time_t now, kpi_row_t **ret_rows, size_t *ret_n)
{
    int levels[PSY_CENTERS_MAX + 1];
    kpi_query_t q = {0};

    levels[0] = KPI_LEVEL_REGION;
    for (size_t i = 0; i < h->conf->ncenters; i++)
        levels[i + 1] = (int)i;
    q.conf = h->conf;
    q.as_of = now;
    q.nperiods = np;
    q.periods = periods;
    q.nlevels = h->conf->ncenters + 1;
    q.levels = levels;
    q.nkpis = nk;
    q.kpis = kpis;
    return httpd_compute(h, &q, ret_rows, ret_n);
}

/*
 * Completeness counts (struct httpd, rec): copies them into `out` (ncenters
 * * n) and returns 1 when the server holds them for this request's model,
 * configuration and months; 0 when they must be computed.
 */
static int
httpd_records_cached(httpd_req_t *h, long mfirst, size_t n, uint64_t *out)
{
    httpd_t *s = h->srv;
    uint64_t serial = httpd_conf_serial(h);
    int hit = 0;

    if (!h->m)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (s->rec && s->rec_gen == h->m->generation && s->rec_conf_serial == serial &&
        s->rec_mfirst == mfirst && s->rec_n == n && s->rec_ncenters == h->conf->ncenters) {
        memcpy(out, s->rec, n * s->rec_ncenters * sizeof(*out));
        hit = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

/* Keeps counts computed from the request's own model (not from one built for a past as_of). */
static void
httpd_records_keep(httpd_req_t *h, long mfirst, size_t n, const uint64_t *counts)
{
    httpd_t *s = h->srv;
    size_t nc = h->conf->ncenters;
    uint64_t serial = httpd_conf_serial(h), *copy;

    atomic_fetch_add(&s->rec_computed, 1);
    if (!h->m || h->off_model || nc == 0)
        return;
    copy = malloc(n * nc * sizeof(*copy));
    if (!copy)
        return; /* computed again next time */
    memcpy(copy, counts, n * nc * sizeof(*copy));
    pthread_mutex_lock(&s->lock);
    free(s->rec);
    s->rec = copy;
    s->rec_gen = h->m->generation;
    s->rec_conf_serial = serial;
    s->rec_mfirst = mfirst;
    s->rec_n = n;
    s->rec_ncenters = nc;
    pthread_mutex_unlock(&s->lock);
}

static void
httpd_figure(pages_figure_t *g, const char *kpi, const kpi_row_t *row)
{
    memset(g, 0, sizeof(*g));
    g->kpi = kpi;
    g->on_track = -1;
    if (!row)
        return;
    kpi_period_name(&row->period, g->period, sizeof(g->period));
    g->set = row->value.set;
    g->integer = row->value.integer;
    g->value = row->value.v;
    g->provisional = row->provisional;
}

static long
httpd_mi(int y, int m)
{
    return (long)y * 12 + (m - 1);
}

/*
 * httpd_pages_fill: the one place where the dashboard's input is filled
 * from what the aggregator knows. Every number comes from the KPI engine
 * through the request's model (httpd_compute); completeness from the
 * `records` KPI per month; SPC from the spc core; alerts from the engine's
 * snapshot. The filled pages are cached per model generation (httpd_cache).
 */
/*
 * The SPC series of the headline KPIs at every level, through the page's
 * month, from the shared model (spc.md): each chart's centre line, limits,
 * signals and baseline, and each figure's variation, assessment and
 * assurance, judged good for an improvement and bad for a concern. Without
 * a model the pages say SPC is not available.
 */
static void
httpd_pages_spc(httpd_req_t *h, httpd_pages_t *p, psy_time_t now)
{
    char kpis[512] = "", to[16], err[256];
    size_t len = 0;
    spc_query_t q;
    spc_query_result_t *res = NULL;
    model_hold_t hold;
    const kpi_model_t *m;

    for (int k = 1; k < PAGES_HEADLINE_N; k++)
        if (spc_chart_of(pages_headline[k]) != SPC_CHART_NONE)
            len += (size_t)snprintf(kpis + len, sizeof kpis - len, "%s%s", len ? "," : "",
                                    pages_headline[k]);
    snprintf(to, sizeof to, "%04d-%02d", p->in.year, p->in.month);
    if (spc_query_build(h->conf, kpis, "all", NULL, to, NULL, now, &q, err, sizeof err) < 0)
        return;
    m = httpd_model_at(h, q.as_of, &hold);
    if (!m || spc_query_compute(m, &q, &res) < 0) {
        model_release(&hold);
        spc_query_free(&q);
        return;
    }
    model_release(&hold);
    spc_query_free(&q);
    for (size_t i = 0; i < res->nseries; i++) {
        const spc_series_t *se = &res->series[i];
        size_t l = se->level == KPI_LEVEL_REGION ? 0 : (size_t)se->level + 1;
        int k;

        for (k = 1; k < PAGES_HEADLINE_N; k++)
            if (strcmp(pages_headline[k], kpi_name((size_t)se->kpi)) == 0)
                break;
        if (k == PAGES_HEADLINE_N || l >= p->in.nlevels)
            continue;
        pages_level_t *lv = &p->levels[l];
        pages_figure_t *g = &lv->headline[k];
        pages_series_t *ps = &lv->series[k];
        snprintf(g->variation, sizeof g->variation, "%s",
                 spc_variation_name(se->summary.variation));
        snprintf(g->assessment, sizeof g->assessment, "%s",
                 spc_assessment_name(se->summary.assessment));
        snprintf(g->assurance, sizeof g->assurance, "%s",
                 spc_assurance_name(se->summary.assurance));
        if (se->summary.assessment == SPC_ASSESS_IMPROVEMENT)
            g->judgement = PAGES_GOOD;
        else if (se->summary.assessment == SPC_ASSESS_CONCERN)
            g->judgement = PAGES_BAD;
        ps->runs_signal = se->summary.runs_signal;
        for (size_t j = 0; j < ps->npoints; j++) {
            svg_spc_point_t *pt = &ps->points[j];
            for (size_t x = 0; x < se->npoints; x++) {
                const spc_row_t *row = &se->points[x];
                if (row->period.year != pt->year || row->period.month != pt->month)
                    continue;
                pt->has_cl = row->spc.cl.set;
                pt->cl = row->spc.cl.v;
                pt->has_lcl = row->spc.lcl.set;
                pt->lcl = row->spc.lcl.v;
                pt->has_ucl = row->spc.ucl.set;
                pt->ucl = row->spc.ucl.v;
                pt->sigma_signal = row->spc.sigma_signal;
                pt->baseline = row->spc.baseline;
                if (row->target.set) {
                    pt->has_target = true;
                    pt->target = row->target.v;
                }
                ps->limits |= pt->has_cl;
                break;
            }
        }
    }
    spc_query_result_destroy(&res);
    p->in.spc_available = true;
}

/*
 * The alerts, a copy taken under the alert worker's lock: the /alerts list
 * and each level's, and every center's silent_since for the completeness
 * rule (a firing CollectorSilent or ExportStale). Without the engine the
 * pages say alerts are not available, and completeness rests on the
 * records alone.
 */
static void
httpd_pages_alerts(httpd_req_t *h, httpd_pages_t *p, psy_time_t now)
{
    size_t n = 0;

    if (!h->agg->alerts || alert_worker_snapshot(h->agg->alerts, &p->alerts, &n) < 0)
        return;
    p->palerts = calloc(n ? n : 1, sizeof(*p->palerts));
    if (!p->palerts)
        return;
    pages_silent_since(p->alerts, n, h->conf, p->cdata);
    p->in.alerts = p->palerts;
    p->in.nalerts = pages_alerts_from(p->alerts, n, now, p->palerts);
    p->in.alerts_available = true;
}

static int
httpd_pages_fill(httpd_req_t *h, const pages_request_t *req, psy_time_t now, httpd_pages_t *p)
{
    const psy_agg_conf_t *c = h->conf;
    size_t nl = c->ncenters + 1, nk = kpi_count();
    int cy, cm, cd, y0, r, kpis[PAGES_HEADLINE_N + 4];
    bool series = req->kind == PAGES_CENTER || req->kind == PAGES_KPI ||
                  req->kind == PAGES_REPORT || (req->kind == PAGES_OVERVIEW && req->csv);
    kpi_period_t *periods = NULL;
    kpi_row_t *rows = NULL;
    size_t nrows = 0, nrec, nser;
    long mfirst;

    memset(&p->in, 0, sizeof(p->in));
    p->in.lang = req->lang;
    p->in.now = now;
    p->in.conf = c;
    p->in.ready = atomic_load(&h->agg->ready);
    p->in.levels = p->levels;
    p->in.nlevels = nl;
    p->in.collectors = p->collectors;
    p->in.ncollectors = c->ncenters;
    p->in.daily_graphs = true;
    psy_civil_date(now, &cy, &cm, &cd);
    if (req->kind == PAGES_REPORT) {
        p->in.year = req->year;
        p->in.month = req->month;
    } else {
        p->in.year = cm == 1 ? cy - 1 : cy;
        p->in.month = cm == 1 ? 12 : cm - 1;
    }
    /* Months from January of the first baseline year through the current one. */
    y0 = c->nbaseline ? c->baseline_years[0] : 2021;
    if (y0 > p->in.year)
        y0 = p->in.year;
    mfirst = httpd_mi(y0, 1);
    nrec = (size_t)(httpd_mi(cy, cm) - mfirst + 1);
    if (httpd_mi(p->in.year, p->in.month) > httpd_mi(cy, cm) || nrec > PSY_HTTP_PERIODS_MAX)
        return -EINVAL;
    nser = (size_t)(httpd_mi(p->in.year, p->in.month) - mfirst + 1);

    for (size_t l = 0; l < nl; l++) {
        pages_level_t *lv = &p->levels[l];
        memset(lv, 0, sizeof(*lv));
        lv->id = l == 0 ? "region" : c->centers[l - 1].id;
        lv->name = l == 0 ? c->region_name : c->centers[l - 1].name;
        lv->is_region = l == 0;
    }

    /* Completeness: the `records` KPI per month and center. */
    periods = calloc(nrec, sizeof(*periods));
    p->records = calloc(nrec * (c->ncenters ? c->ncenters : 1), sizeof(*p->records));
    if (!periods || !p->records) {
        free(periods);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nrec; i++)
        periods[i] = (kpi_period_t){KPI_MONTH, (int)((mfirst + (long)i) / 12),
                                    (int)((mfirst + (long)i) % 12) + 1};
    r = httpd_records_cached(h, mfirst, nrec, p->records);
    if (r == 0) {
        kpis[0] = kpi_find("records");
        r = httpd_query(h, periods, nrec, kpis, 1, now, &rows, &nrows);
        if (r < 0 || nrows != nrec * nl) {
            free(periods);
            free(rows);
            return r < 0 ? r : -EIO;
        }
        for (size_t i = 0; i < nrec; i++)
            for (size_t l = 1; l < nl; l++) {
                const kpi_row_t *row = &rows[i * nl + l];
                p->records[(l - 1) * nrec + i] = row->value.set ? (uint64_t)row->value.v : 0;
            }
        free(rows);
        rows = NULL;
        httpd_records_keep(h, mfirst, nrec, p->records);
    }
    for (size_t i = 0; i < c->ncenters; i++) {
        p->cdata[i] = (pages_center_data_t){.from_year = y0,
                                            .from_month = 1,
                                            .nmonths = nrec,
                                            .records = &p->records[i * nrec],
                                            .silent_since = PSY_TIME_NONE};
        for (size_t m = 0; m < nrec; m++)
            if (p->records[i * nrec + m] > 0) {
                p->levels[i + 1].first_year = (int)((mfirst + (long)m) / 12);
                p->levels[i + 1].first_month = (int)((mfirst + (long)m) % 12) + 1;
                break;
            }
    }
    httpd_pages_alerts(h, p, now);
    for (size_t l = 0; l < nl; l++) {
        pages_level_t *lv = &p->levels[l];
        int ry = p->in.month == 12 ? p->in.year : p->in.year - 1;
        int rm = p->in.month == 12 ? 1 : p->in.month + 1;
        if (l == 0) {
            lv->complete =
                pages_complete_region(p->cdata, c->ncenters, p->in.year, p->in.month, 1, now);
            lv->complete_r12 = pages_complete_region(p->cdata, c->ncenters, ry, rm, 12, now);
        } else {
            lv->complete = pages_complete(&p->cdata[l - 1], p->in.year, p->in.month, 1, now);
            lv->complete_r12 = pages_complete(&p->cdata[l - 1], ry, rm, 12, now);
        }
    }

    /* The collectors' page shows no KPI: completeness (above) and the store's status only. */
    if (req->kind == PAGES_COLLECTORS) {
        free(periods);
        goto collectors;
    }

    /* The headline figures: the month, and r12 for the rate and its on-track flag. */
    {
        kpi_period_t pm[2] = {{KPI_MONTH, p->in.year, p->in.month},
                              {KPI_R12, p->in.year, p->in.month}};
        size_t n = 0;
        for (int k = 0; k < PAGES_HEADLINE_N; k++)
            kpis[n++] = kpi_find(pages_headline[k]);
        kpis[n++] = kpi_find("intrusive_on_track");
        kpis[n++] = kpi_find("intrusive_baseline_per_100k");
        for (size_t i = 0; i < n; i++)
            if (kpis[i] < 0) {
                free(periods);
                return -EIO;
            }
        r = httpd_query(h, pm, 2, kpis, n, now, &rows, &nrows);
        if (r < 0 || nrows != 2 * nl * n) {
            free(periods);
            free(rows);
            return r < 0 ? r : -EIO;
        }
        for (size_t l = 0; l < nl; l++) {
            pages_level_t *lv = &p->levels[l];
            const kpi_row_t *mrow = &rows[l * n], *rrow = &rows[(nl + l) * n];
            for (int k = 0; k < PAGES_HEADLINE_N; k++) {
                pages_figure_t *g = &lv->headline[k];
                httpd_figure(g, pages_headline[k], k == 0 ? &rrow[0] : &mrow[k]);
                g->incomplete = k == 0 ? !lv->complete_r12 : !lv->complete;
            }
            if (rrow[PAGES_HEADLINE_N].value.set) {
                lv->headline[0].on_track = rrow[PAGES_HEADLINE_N].value.v != 0;
                lv->headline[0].judgement = lv->headline[0].on_track ? PAGES_GOOD : PAGES_BAD;
            }
            lv->has_baseline = rrow[PAGES_HEADLINE_N + 1].value.set;
            lv->baseline = rrow[PAGES_HEADLINE_N + 1].value.v;
        }
        free(rows);
        rows = NULL;
    }

    if (series) {
        /* Monthly values of the headline KPIs (their SPC: httpd_pages_spc), and the r12 rate. */
        size_t n = 0;
        int target = kpi_find("intrusive_target_episodes");

        for (int k = 1; k < PAGES_HEADLINE_N; k++)
            kpis[n++] = kpi_find(pages_headline[k]);
        if (target >= 0)
            kpis[n++] = target;
        p->points = calloc(nl * PAGES_HEADLINE_N * nser, sizeof(*p->points));
        p->r12 = calloc(nl * nser, sizeof(*p->r12));
        if (!p->points || !p->r12) {
            free(periods);
            return -ENOMEM;
        }
        r = httpd_query(h, periods, nser, kpis, n, now, &rows, &nrows);
        if (r < 0 || nrows != nser * nl * n) {
            free(periods);
            free(rows);
            return r < 0 ? r : -EIO;
        }
        for (size_t l = 0; l < nl; l++) {
            pages_level_t *lv = &p->levels[l];
            /* spc.md: a series starts with the later of the baseline and the first data. */
            long first = l == 0 ? mfirst : httpd_mi(lv->first_year, lv->first_month);
            if (l == 0) {
                for (size_t i = 1; i < nl; i++)
                    if (p->levels[i].first_year &&
                        (first == mfirst ||
                         httpd_mi(p->levels[i].first_year, p->levels[i].first_month) < first))
                        first = httpd_mi(p->levels[i].first_year, p->levels[i].first_month);
            }
            if (first < mfirst)
                first = mfirst;
            for (int k = 1; k < PAGES_HEADLINE_N; k++) {
                pages_series_t *s = &lv->series[k];
                s->kpi = pages_headline[k];
                s->points = &p->points[(l * PAGES_HEADLINE_N + (size_t)k) * nser];
                if ((l > 0 && !lv->first_year) || first > httpd_mi(p->in.year, p->in.month))
                    continue;
                for (size_t i = (size_t)(first - mfirst); i < nser; i++) {
                    const kpi_row_t *row = &rows[(i * nl + l) * n + (size_t)(k - 1)];
                    svg_spc_point_t *pt = &s->points[s->npoints++];
                    pt->year = periods[i].year;
                    pt->month = periods[i].month;
                    pt->has_y = row->value.set;
                    pt->y = row->value.v;
                    pt->provisional = row->provisional;
                    pt->incomplete =
                        l == 0 ? !pages_complete_region(p->cdata, c->ncenters, pt->year, pt->month,
                                                        1, now)
                               : !pages_complete(&p->cdata[l - 1], pt->year, pt->month, 1, now);
                    if (k == 1 && target >= 0) {
                        const kpi_row_t *t = &rows[(i * nl + l) * n + n - 1];
                        pt->has_target = t->value.set;
                        pt->target = t->value.v;
                    }
                }
            }
        }
        free(rows);
        rows = NULL;

        /* r12 periods ending with every month from December of the first baseline year. */
        {
            size_t n12 = 0, off = 11;
            kpis[0] = kpi_find("intrusive_per_100k");
            if (nser > off) {
                n12 = nser - off;
                for (size_t i = 0; i < n12; i++)
                    periods[i] =
                        (kpi_period_t){KPI_R12, periods[i + off].year, periods[i + off].month};
                r = httpd_query(h, periods, n12, kpis, 1, now, &rows, &nrows);
                if (r < 0 || nrows != n12 * nl) {
                    free(periods);
                    free(rows);
                    return r < 0 ? r : -EIO;
                }
            }
            for (size_t l = 0; l < nl; l++) {
                pages_level_t *lv = &p->levels[l];
                lv->r12 = &p->r12[l * nser];
                lv->nr12 = n12;
                for (size_t i = 0; i < n12; i++) {
                    const kpi_row_t *row = &rows[i * nl + l];
                    svg_r12_point_t *pt = &lv->r12[i];
                    int sy = periods[i].month == 12 ? periods[i].year : periods[i].year - 1;
                    int sm = periods[i].month == 12 ? 1 : periods[i].month + 1;
                    pt->year = periods[i].year;
                    pt->month = periods[i].month;
                    pt->has_rate = row->value.set;
                    pt->rate = row->value.v;
                    pt->provisional = row->provisional;
                    pt->incomplete =
                        l == 0 ? !pages_complete_region(p->cdata, c->ncenters, sy, sm, 12, now)
                               : !pages_complete(&p->cdata[l - 1], sy, sm, 12, now);
                }
            }
            free(rows);
            rows = NULL;
        }
    }
    free(periods);
    httpd_pages_spc(h, p, now);

    /* Every KPI of the month, for the center page and its CSV. */
    if (req->kind == PAGES_CENTER) {
        kpi_period_t pm = {KPI_MONTH, p->in.year, p->in.month};
        int *all = malloc(nk * sizeof(*all));
        if (!all)
            return -ENOMEM;
        for (size_t i = 0; i < nk; i++)
            all[i] = (int)i;
        r = httpd_query(h, &pm, 1, all, nk, now, &rows, &nrows);
        free(all);
        if (r < 0 || nrows != nl * nk) {
            free(rows);
            return r < 0 ? r : -EIO;
        }
        p->all = calloc(nl * nk, sizeof(*p->all));
        if (!p->all) {
            free(rows);
            return -ENOMEM;
        }
        for (size_t l = 0; l < nl; l++) {
            size_t n = 0;
            for (size_t k = 0; k < nk; k++) {
                const kpi_row_t *row = &rows[l * nk + k];
                /* Rows that are empty for a month by definition (kpis.md) are left out. */
                if (!row->value.set && !row->numerator.set && !row->denominator.set)
                    continue;
                httpd_figure(&p->all[l * nk + n], kpi_name(k), row);
                p->all[l * nk + n].incomplete = !p->levels[l].complete;
                n++;
            }
            p->levels[l].all = &p->all[l * nk];
            p->levels[l].nall = n;
        }
        free(rows);
        rows = NULL;
    }

    /* The collectors, from the store. */
collectors:
    if (httpd_store(h) == 0) {
        for (size_t i = 0; i < c->ncenters; i++) {
            pages_collector_t *pc = &p->collectors[i];
            store_status_t *st = &p->status[i];
            memset(pc, 0, sizeof(*pc));
            pc->id = c->centers[i].id;
            pc->name = c->centers[i].name;
            pc->last_file_at = PSY_TIME_NONE;
            pc->last_seen = PSY_TIME_NONE;
            pc->version = "";
            pc->complete = pages_complete(&p->cdata[i], cy, cm, 1, now);
            if (store_status(h->store, c->centers[i].id, st) < 0)
                continue;
            pc->known = true;
            pc->records = st->records;
            pc->rejected = st->rejected;
            pc->backlog = st->backlog;
            pc->last_seen = st->last_seen;
            pc->clock_offset = st->clock_offset;
            pc->spool_full = st->spool_full;
            pc->version = st->version;
        }
    }
    return 0;
}

static const char *const httpd_page_args[] = {"lang", "format", NULL};

/* Computes and writes the page of req as it stands at `now` into rep. */
static void
httpd_page_render(httpd_req_t *h, const pages_request_t *req, psy_time_t now, httpd_reply_t *rep)
{
    httpd_pages_t *p;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    p = calloc(1, sizeof(*p));
    if (!p) {
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return;
    }
    r = httpd_pages_fill(h, req, now, p);
    if (r == -EINVAL) {
        httpd_reply_text(rep, MHD_HTTP_NOT_FOUND, "no such month\n");
        goto out;
    }
    if (r < 0) {
        httpd_reply_text(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "the figures cannot be computed now\n");
        goto out;
    }
    f = open_memstream(&buf, &len);
    if (!f) {
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        goto out;
    }
    r = pages_write(f, &p->in, req);
    if (fclose(f) != 0 || r < 0) {
        free(buf);
        if (r == -ENOENT)
            httpd_reply_text(rep, MHD_HTTP_NOT_FOUND, "not found\n");
        else
            httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the page\n");
        goto out;
    }
    rep->status = MHD_HTTP_OK;
    rep->type = req->csv ? "text/csv; charset=utf-8" : "text/html; charset=utf-8";
    rep->body = buf;
    rep->len = len;
out:
    httpd_pages_free(p);
    free(p);
}

/*
 * A hash of the alert engine's state as the pages show it: the body of
 * /api/v1/alerts (states, silences, acknowledgements, summaries), without
 * each alert's "value" unless with_value (only /alerts' CSV shows it, and
 * for a silent collector it counts seconds).
 */
static uint64_t
httpd_alerts_hash(httpd_req_t *h, bool with_value)
{
    static const char field[] = "\"value\":\"";
    uint64_t st = 1469598103934665603ULL;
    char *json;

    if (!h->agg->alerts)
        return 0;
    json = alert_worker_api_json(h->agg->alerts);
    if (!json)
        return 1; /* no memory: a soft stamp of its own, so the page is computed again */
    for (const char *p = json; *p; p++) {
        /* Compact JSON: the key can only appear as itself; values escape their quotes. */
        if (!with_value && strncmp(p, field, sizeof(field) - 1) == 0) {
            p += sizeof(field) - 1;
            while (*p && *p != '"')
                p += p[0] == '\\' && p[1] ? 2 : 1;
            if (!*p)
                break;
            continue;
        }
        st = (st ^ (unsigned char)*p) * 1099511628211ULL;
    }
    free(json);
    return st;
}

/*
 * httpd_alerts_hash, computed at most every HTTPD_ALERTS_MEMO_MS and
 * shared by the requests meanwhile: building the alerts' JSON is most of
 * what a cache hit would cost, and the engine only evaluates every few
 * seconds anyway.
 */
#define HTTPD_ALERTS_MEMO_MS 500

static uint64_t
httpd_alerts_stamp(httpd_req_t *h, bool with_value)
{
    httpd_t *s = h->srv;
    int64_t now = httpd_mono_us();
    uint64_t st;
    int i = with_value ? 1 : 0;

    pthread_mutex_lock(&s->lock);
    /*
     * Fresh, or being computed by another request (which can wait a while
     * for the alert engine's lock during an evaluation): the last one.
     */
    if (s->alerts_at[i] != 0 &&
        (now - s->alerts_at[i] < HTTPD_ALERTS_MEMO_MS * 1000 || s->alerts_busy[i])) {
        st = s->alerts_stamp[i];
        pthread_mutex_unlock(&s->lock);
        return st;
    }
    s->alerts_busy[i] = true;
    pthread_mutex_unlock(&s->lock);
    st = httpd_alerts_hash(h, with_value);
    pthread_mutex_lock(&s->lock);
    s->alerts_busy[i] = false;
    s->alerts_at[i] = httpd_mono_us();
    s->alerts_stamp[i] = st;
    pthread_mutex_unlock(&s->lock);
    return st;
}

/*
 * Whether the page of req may be served from the cache, and its stamps:
 * the model, configuration and readiness (httpd_stamp_base) and the month
 * of `now` (which month a page shows, which months are complete) must
 * match; the alerts (their states, silences and acknowledgements show on
 * the pages and make periods incomplete) are the soft stamp, a change of
 * which is computed by one request while the others get the bytes before
 * it. /collectors shows what changes without new data (a collector's last
 * heartbeat, measured against the clock) and is always computed. A page
 * that comes to show such things must be left out here too.
 */
static bool
httpd_page_stamp(httpd_req_t *h, const pages_request_t *req, psy_time_t now, uint64_t *ret,
                 uint64_t *ret_soft)
{
    int y, m, d;
    uint64_t st;

    if (req->kind == PAGES_COLLECTORS || !httpd_stamp_base(h, &st))
        return false;
    psy_civil_date(now, &y, &m, &d);
    *ret = httpd_mix(st, (uint64_t)(y * 12 + m));
    *ret_soft = httpd_alerts_stamp(h, req->kind == PAGES_ALERTS);
    return true;
}

/* The cache key of a page: its path and query as parsed (?lang=da and no lang are one page). */
static void
httpd_page_key(const char *url, const pages_request_t *req, char *buf, size_t size)
{
    snprintf(buf, size, "%s?lang=%d&csv=%d", url, (int)req->lang, req->csv ? 1 : 0);
}

/*
 * For a warming job (httpd_publish): whether the page is to be computed,
 * and then r holds its stamps and owns the computation. False when it is
 * cached already (or cannot be).
 */
static bool
httpd_page_warm_due(httpd_req_t *h, httpd_refresh_t *r)
{
    const httpd_cache_entry_t *e = NULL;
    httpd_cache_result_t got;

    r->now = psy_time_now();
    if (!httpd_page_stamp(h, &r->req, r->now, &r->stamp, &r->soft))
        return false;
    got = httpd_cache_get(h->srv->cache, r->key, r->stamp, r->soft, httpd_mono_us(),
                          atomic_load(&h->srv->ttl_us), &e);
    httpd_cache_entry_unref(&e);
    return got != HTTPD_CACHE_HIT;
}

/*
 * The model sink: after every new model (and every tick of the worker),
 * computes the overview on a thread of its own unless it is cached, so
 * that the first visitor after new data finds it ready. The worker is not
 * held up: the sink only starts the thread.
 */
void
httpd_publish(void *ctx, const agg_model_t *m)
{
    httpd_t *s = ctx;
    httpd_refresh_t *job = calloc(1, sizeof(*job));
    httpd_req_t h;

    if (!job || pages_parse("/", NULL, NULL, &job->req) < 0) {
        free(job);
        return;
    }
    memset(&h, 0, sizeof(h));
    h.srv = s;
    h.agg = s->agg;
    h.model = s->model;
    h.conf = agg_conf_get(s->agg);
    h.m = m;
    job->warm = true;
    httpd_page_key("/", &job->req, job->key, sizeof(job->key));
    /* httpd_refresh_start takes references of its own. */
    if (!httpd_refresh_start(&h, job))
        free(job);
    agg_conf_put(&h.conf);
}

static void
httpd_page(httpd_req_t *h, struct MHD_Connection *conn, const char *url, httpd_reply_t *rep)
{
    const char *lang = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "lang");
    const char *format = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
    psy_time_t now = psy_time_now();
    pages_request_t req;
    const char *bad;
    char key[PSY_HTTP_URL_MAX + 32];
    uint64_t stamp = 0, soft = 0;
    httpd_cache_result_t got;
    bool cache;
    int r;

    if (!httpd_args_ok(conn, httpd_page_args, &bad)) {
        httpd_reply_text(rep, MHD_HTTP_BAD_REQUEST, "unknown parameter\n");
        return;
    }
    r = pages_parse(url, lang, format, &req);
    if (r == -ENOENT) {
        httpd_reply_text(rep, MHD_HTTP_NOT_FOUND, "not found\n");
        return;
    }
    if (r < 0) {
        httpd_reply_text(rep, MHD_HTTP_BAD_REQUEST, "bad parameter: lang=da|en, format=html|csv\n");
        return;
    }
    /* The key names the page as parsed: ?lang=da and no lang are one page. */
    httpd_page_key(url, &req, key, sizeof(key));
    cache = httpd_page_stamp(h, &req, now, &stamp, &soft);
    got = cache ? httpd_cache_get(h->srv->cache, key, stamp, soft, httpd_mono_us(),
                                  atomic_load(&h->srv->ttl_us), &rep->entry)
                : HTTPD_CACHE_MISS;
    if (got == HTTPD_CACHE_HIT)
        return;
    if (got == HTTPD_CACHE_REFRESH) {
        httpd_refresh_t *job = calloc(1, sizeof(*job));
        if (job) {
            snprintf(job->key, sizeof(job->key), "%s", key);
            job->stamp = stamp;
            job->soft = soft;
            job->req = req;
            job->now = now;
            if (httpd_refresh_start(h, job))
                return; /* rep->entry: the bytes from before */
        }
        free(job);
        httpd_cache_entry_unref(&rep->entry);
    }
    httpd_render_begin(h, key);
    httpd_page_render(h, &req, now, rep);
    httpd_render_end(h);
    if (cache)
        httpd_cache_finish(h, key, stamp, soft, rep);
}

/*
 * The marks of a coercion or rate graph, from the KPI engine: the mean
 * number of intrusive episodes per day over the baseline years and the
 * baseline per 100,000, drawn only when the engine has a baseline for the
 * level (records in every baseline year).
 */
static bool
httpd_marks(httpd_req_t *h, int level, series_marks_t *ret)
{
    kpi_period_t periods[PSY_BASELINE_MAX + 1];
    int kpis[2] = {kpi_find("intrusive_episodes"), kpi_find("intrusive_baseline_per_100k")};
    kpi_query_t q = {0};
    kpi_row_t *rows = NULL;
    size_t n = 0, nb = h->conf->nbaseline;
    double sum = 0, days = 0, base100k;
    bool ok;

    if (nb == 0 || nb > PSY_BASELINE_MAX || kpis[0] < 0 || kpis[1] < 0)
        return false;
    for (size_t i = 0; i < nb; i++)
        periods[i] =
            (kpi_period_t){.kind = KPI_YEAR, .year = h->conf->baseline_years[i], .month = 1};
    q.conf = h->conf;
    q.as_of = psy_time_now();
    q.nperiods = nb;
    q.periods = periods;
    q.nlevels = 1;
    q.levels = &level;
    q.nkpis = 2;
    q.kpis = kpis;
    if (httpd_compute(h, &q, &rows, &n) < 0)
        return false;
    if (n != 2 * nb) {
        free(rows);
        return false;
    }
    ok = rows[1].value.set;
    base100k = rows[1].value.v;
    for (size_t i = 0; ok && i < nb; i++) {
        psy_time_t s, e;
        kpi_period_bounds(&periods[i], &s, &e);
        sum += rows[2 * i].value.set ? rows[2 * i].value.v : 0;
        days += (double)(e - s) / (double)PSY_DAY;
    }
    free(rows);
    if (!ok || days <= 0)
        return false;
    ret->baseline_per_day = sum / days;
    ret->baseline_per_100k = base100k;
    ret->target_pct = h->conf->target_pct;
    ret->target_start = psy_civil_start(h->conf->first_year, h->conf->first_month, 1) / PSY_USEC;
    ret->target_end = psy_civil_start(h->conf->last_year, h->conf->last_month + 1, 1) / PSY_USEC;
    return true;
}

/* Parses a decimal integer in [lo, hi]. */
static bool
httpd_parse_int(const char *s, long lo, long hi, long *ret)
{
    char *end;
    long v;

    if (!s || !*s)
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *ret = v;
    return true;
}

static const char *const httpd_graph_args[] = {"what", "days", NULL};
static const char *const httpd_kpi_args[] = {"period", "from",  "to",     "center",
                                             "kpi",    "as_of", "format", NULL};

typedef struct {
    const char *const *allowed;
    const char *bad;
} httpd_args_check_t;

static enum MHD_Result
httpd_args_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    httpd_args_check_t *c = cls;

    (void)kind;
    (void)value;
    for (size_t i = 0; c->allowed && c->allowed[i]; i++)
        if (strcmp(key, c->allowed[i]) == 0)
            return MHD_YES;
    c->bad = key;
    return MHD_NO;
}

/* True when every query parameter is one of `allowed`; else *ret_bad names one that is not. */
static bool
httpd_args_ok(struct MHD_Connection *conn, const char *const *allowed, const char **ret_bad)
{
    httpd_args_check_t c = {.allowed = allowed};

    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, httpd_args_iter, &c);
    *ret_bad = c.bad;
    return c.bad == NULL;
}

/*
 * Whether a graph of center may be served from the cache, and its stamp:
 * the model (the baseline and trajectory come from the KPI engine), the
 * configuration (names in titles), the RRD file it is drawn from (the
 * writer replaces it whole: a new inode and modification time) and the
 * hour (the graph ends with the last complete day, and the readmission
 * graph's provisional part moves with the clock).
 */
static bool
httpd_graph_stamp(httpd_req_t *h, const char *center, uint64_t *ret)
{
    char path[PSY_PATH_MAX];
    struct stat st;
    uint64_t s;

    if (!httpd_stamp_base(h, &s))
        return false;
    if ((size_t)snprintf(path, sizeof(path), "%s/rrd/%s.rrd", h->conf->data_dir, center) >=
            sizeof(path) ||
        stat(path, &st) != 0)
        return false;
    s = httpd_mix(s, (uint64_t)st.st_ino);
    s = httpd_mix(s, (uint64_t)st.st_size);
    s = httpd_mix(s, (uint64_t)st.st_mtim.tv_sec);
    s = httpd_mix(s, (uint64_t)st.st_mtim.tv_nsec);
    s = httpd_mix(s, (uint64_t)(psy_time_now() / PSY_USEC / 3600));
    *ret = s;
    return true;
}

/* Draws one graph into rep: the engine's marks for coercion and rate, then librrd. */
static void
httpd_graph_draw(httpd_req_t *h, const char *center, const char *what, long days, int level,
                 httpd_reply_t *rep)
{
    series_marks_t marks;
    bool have_marks = false;
    unsigned char *png = NULL;
    size_t plen = 0;
    int r;

    if (strcmp(what, "coercion") == 0 || strcmp(what, "rate") == 0)
        have_marks = httpd_marks(h, level, &marks);
    r = series_graph(h->agg, center, what, (int)days, have_marks ? &marks : NULL, &png, &plen);
    if (r == -ENOENT)
        httpd_reply_text(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "graph not drawn yet\n");
    else if (r < 0)
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot draw the graph\n");
    else {
        rep->status = MHD_HTTP_OK;
        rep->type = "image/png";
        rep->body = (char *)png;
        rep->len = plen;
    }
}

static void
httpd_graph(httpd_req_t *h, struct MHD_Connection *conn, const char *name, httpd_reply_t *rep)
{
    char center[PSY_CENTER_MAX + 1];
    const char *what = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "what");
    const char *sdays = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "days");
    const char *bad;
    size_t len = strlen(name);
    long days = 0;
    int level = KPI_LEVEL_REGION;
    char key[PSY_CENTER_MAX + 96];
    uint64_t stamp = 0;
    httpd_cache_result_t got;
    bool cache;

    if (len < 5 || strcmp(name + len - 4, ".png") != 0 || len - 4 > PSY_CENTER_MAX) {
        httpd_reply_text(rep, MHD_HTTP_NOT_FOUND, "not found\n");
        return;
    }
    memcpy(center, name, len - 4);
    center[len - 4] = '\0';
    if (strcmp(center, "region") != 0) {
        const psy_center_conf_t *c =
            psy_center_valid(center) ? psy_agg_conf_center(h->conf, center) : NULL;
        if (!c) {
            httpd_reply_text(rep, MHD_HTTP_NOT_FOUND, "no such center\n");
            return;
        }
        level = (int)(c - h->conf->centers);
    }
    if (!httpd_args_ok(conn, httpd_graph_args, &bad)) {
        httpd_reply_text(rep, MHD_HTTP_BAD_REQUEST, "unknown parameter\n");
        return;
    }
    if (!what)
        what = "coercion";
    if (strcmp(what, "coercion") != 0 && strcmp(what, "activity") != 0 &&
        strcmp(what, "beds") != 0 && strcmp(what, "readmission") != 0 &&
        strcmp(what, "rate") != 0) {
        httpd_reply_text(rep, MHD_HTTP_BAD_REQUEST,
                         "what: coercion, activity, beds, readmission or rate\n");
        return;
    }
    if (!sdays) {
        /* From the first day held, so that the baseline years show. */
        days = (long)((psy_time_now() / PSY_USEC - SERIES_EPOCH_S) / 86400);
        if (days < 30)
            days = 30;
        if (days > SERIES_GRAPH_DAYS_MAX)
            days = SERIES_GRAPH_DAYS_MAX;
    } else if (!httpd_parse_int(sdays, 1, SERIES_GRAPH_DAYS_MAX, &days)) {
        httpd_reply_text(rep, MHD_HTTP_BAD_REQUEST, "days: 1 to 7305\n");
        return;
    }
    snprintf(key, sizeof(key), "/graph/%s?what=%s&days=%ld", name, what, days);
    cache = httpd_graph_stamp(h, center, &stamp);
    got = cache ? httpd_cache_get(h->srv->cache, key, stamp, 0, httpd_mono_us(),
                                  atomic_load(&h->srv->ttl_us), &rep->entry)
                : HTTPD_CACHE_MISS;
    if (got == HTTPD_CACHE_HIT)
        return;
    if (got == HTTPD_CACHE_REFRESH) {
        httpd_refresh_t *job = calloc(1, sizeof(*job));
        if (job) {
            snprintf(job->key, sizeof(job->key), "%s", key);
            job->stamp = stamp;
            job->graph = true;
            snprintf(job->center, sizeof(job->center), "%s", center);
            snprintf(job->what, sizeof(job->what), "%s", what);
            job->days = days;
            job->level = level;
            if (httpd_refresh_start(h, job))
                return; /* rep->entry: the bytes from before */
        }
        free(job);
        httpd_cache_entry_unref(&rep->entry);
    }
    httpd_render_begin(h, key);
    httpd_graph_draw(h, center, what, days, level, rep);
    httpd_render_end(h);
    if (cache)
        httpd_cache_finish(h, key, stamp, 0, rep);
}

static void
httpd_status(httpd_req_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
{
    const char *bad;
    json_t *j;

    if (!httpd_args_ok(conn, NULL, &bad)) {
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, "unknown parameter");
        return;
    }
    if (httpd_store(h) < 0) {
        httpd_reply_error(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "store not available");
        return;
    }
    j = status_json(h->store, h->conf);
    if (!j) {
        store_destroy(&h->store);
        httpd_reply_error(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the store");
        return;
    }
    httpd_reply_json(rep, MHD_HTTP_OK, j);
    json_decref(j);
}

/* The KPI rows of /metrics' two windows as one cache entry: this header, then the rows. */
typedef struct {
    size_t n[2];
    bool ok[2];
} httpd_metrics_rows_t;

/*
 * The rows of both windows: from the cache when this model, configuration
 * and r12 window were computed within HTTPD_CACHE_TTL_S, else computed
 * (once, however many scrapes arrive together). The bytes are either in
 * *ret_entry (release it) or in *ret_own (free it).
 */
static const httpd_metrics_rows_t *
httpd_metrics_kpis(httpd_req_t *h, metrics_window_t w[2], psy_time_t now,
                   const httpd_cache_entry_t **ret_entry, char **ret_own)
{
    static const char key[] = "\001metrics-kpi"; /* no URL looks like this */
    httpd_metrics_rows_t head;
    kpi_row_t *rows[2] = {NULL, NULL};
    uint64_t stamp = 0;
    bool cache = httpd_stamp_base(h, &stamp);
    char *body;
    int64_t t0 = httpd_mono_us();

    memset(&head, 0, sizeof(head));
    *ret_entry = NULL;
    *ret_own = NULL;
    stamp = httpd_mix(stamp, (uint64_t)(w[0].period.year * 12 + w[0].period.month));
    if (cache && httpd_cache_get(h->srv->cache, key, stamp, 0, t0, atomic_load(&h->srv->ttl_us),
                                 ret_entry) == HTTPD_CACHE_HIT)
        return (const httpd_metrics_rows_t *)(const void *)(*ret_entry)->body;
    for (size_t i = 0; i < 2; i++)
        head.ok[i] = httpd_compute_all(h, &w[i].period, now, &rows[i], &head.n[i]) == 0;
    body = malloc(sizeof(head) + (head.n[0] + head.n[1]) * sizeof(kpi_row_t));
    if (body) {
        memcpy(body, &head, sizeof(head));
        if (head.n[0])
            memcpy(body + sizeof(head), rows[0], head.n[0] * sizeof(kpi_row_t));
        if (head.n[1])
            memcpy(body + sizeof(head) + head.n[0] * sizeof(kpi_row_t), rows[1],
                   head.n[1] * sizeof(kpi_row_t));
    }
    free(rows[0]);
    free(rows[1]);
    if (!cache)
        return (const httpd_metrics_rows_t *)(const void *)(*ret_own = body);
    if (body && head.ok[0] && head.ok[1] && !h->off_model) {
        /* put takes the body in every case. */
        if (httpd_cache_put(h->srv->cache, key, stamp, 0, h->m->generation, httpd_mono_us(),
                            MHD_HTTP_OK, "application/octet-stream", body,
                            sizeof(head) + (head.n[0] + head.n[1]) * sizeof(kpi_row_t),
                            ret_entry) < 0)
            return NULL;
        return (const httpd_metrics_rows_t *)(const void *)(*ret_entry)->body;
    }
    httpd_cache_abandon(h->srv->cache, key, stamp);
    return (const httpd_metrics_rows_t *)(const void *)(*ret_own = body);
}

/* The cache's counters, after the rest of /metrics. */
static int
httpd_cache_metrics_write(httpd_t *s, FILE *f)
{
    httpd_cache_stats_t st;

    httpd_cache_stats(s->cache, &st);
    fprintf(f,
            "# HELP psymon_http_cache_hits_total Pages, graphs and /metrics KPI rows served from "
            "the cache of the current data generation.\n"
            "# TYPE psymon_http_cache_hits_total counter\n"
            "psymon_http_cache_hits_total %llu\n"
            "# HELP psymon_http_cache_misses_total Pages, graphs and /metrics KPI rows computed.\n"
            "# TYPE psymon_http_cache_misses_total counter\n"
            "psymon_http_cache_misses_total %llu\n"
            "# HELP psymon_http_cache_entries Answers held in the cache.\n"
            "# TYPE psymon_http_cache_entries gauge\n"
            "psymon_http_cache_entries %zu\n"
            "# HELP psymon_http_cache_bytes Bytes of the answers held in the cache.\n"
            "# TYPE psymon_http_cache_bytes gauge\n"
            "psymon_http_cache_bytes %zu\n",
            (unsigned long long)st.hits, (unsigned long long)st.misses, st.entries, st.bytes);
    return ferror(f) ? -EIO : 0;
}

/*
 * /metrics: gathers what metrics_write() prints, the latest complete r12 and
 * month of every KPI and level (cached per model, httpd_metrics_kpis), and
 * each center's status and the counters as they are now. A store that
 * cannot be read leaves its part out rather than failing the scrape.
 */
static void
httpd_metrics(httpd_req_t *h, httpd_reply_t *rep)
{
    psy_time_t now = psy_time_now();
    store_status_t *st = NULL;
    metrics_window_t w[2] = {{.name = "r12", .period = httpd_last_r12(now)},
                             {.name = "month", .period = httpd_last_r12(now)}};
    metrics_input_t in = {.counters = &h->agg->counters,
                          .ready = atomic_load(&h->agg->ready),
                          .conf = h->conf,
                          .now = now};
    const httpd_cache_entry_t *entry = NULL;
    const httpd_metrics_rows_t *kr;
    char *own = NULL, *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    w[1].period.kind = KPI_MONTH;
    if (httpd_store(h) == 0 && h->conf->ncenters > 0) {
        st = calloc(h->conf->ncenters, sizeof(*st));
        for (size_t i = 0; st && i < h->conf->ncenters; i++) {
            if (store_status(h->store, h->conf->centers[i].id, &st[i]) < 0) {
                free(st);
                st = NULL;
            }
        }
    }
    in.status = st;
    kr = httpd_metrics_kpis(h, w, now, &entry, &own);
    if (kr) {
        const kpi_row_t *rows = (const kpi_row_t *)(const void *)(kr + 1);
        for (size_t i = 0; i < 2; i++) {
            if (kr->ok[i]) {
                w[i].rows = rows;
                w[i].nrows = kr->n[i];
                in.nwindows = i + 1;
            }
            rows += kr->n[i];
        }
    }
    in.windows = in.nwindows > 0 ? w : NULL;
    f = open_memstream(&buf, &len);
    r = f ? metrics_write(f, &in) : -ENOMEM;
    if (r == 0 && h->agg->alerts)
        r = alert_worker_metrics_write(h->agg->alerts, f);
    if (r == 0)
        r = httpd_cache_metrics_write(h->srv, f);
    if (!f || fclose(f) != 0 || r < 0) {
        free(buf);
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write metrics\n");
    } else {
        rep->status = MHD_HTTP_OK;
        rep->type = "text/plain; version=0.0.4; charset=utf-8";
        rep->body = buf;
        rep->len = len;
    }
    httpd_cache_entry_unref(&entry);
    free(own);
    free(st);
}

/*
 * /api/v1/kpi: the parameters are those of `psymon kpi`, checked by the
 * same code (kpi_query_build), and the body is what `--format json` prints.
 */
static void
httpd_kpi(httpd_req_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
{
    const char *v[6];
    const char *bad;
    kpi_query_t q;
    kpi_row_t *rows = NULL;
    size_t n = 0;
    char err[256] = "";
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    if (!httpd_args_ok(conn, httpd_kpi_args, &bad)) {
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, "unknown parameter");
        return;
    }
    for (size_t i = 0; i < 6; i++)
        v[i] = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, httpd_kpi_args[i]);
    /* format=csv: the rows `psymon kpi --format csv` prints, for a spreadsheet. */
    const char *format = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
    bool csv = format && strcmp(format, "csv") == 0;
    if (format && !csv && strcmp(format, "json") != 0) {
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, "format must be json or csv");
        return;
    }
    r = kpi_query_build(h->conf, v[0], v[1], v[2], v[3], v[4], v[5], psy_time_now(), &q, err,
                        sizeof(err));
    if (r == -EINVAL) {
        httpd_api_words(err);
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, err[0] ? err : "bad parameters");
        return;
    }
    if (r < 0) {
        httpd_reply_error(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    /*
     * Repeated centers and KPIs are allowed (the command line takes them),
     * so the URL limit alone does not bound the rows; this does.
     */
    if (q.nperiods * q.nlevels * q.nkpis > PSY_HTTP_ROWS_MAX) {
        kpi_query_free(&q);
        snprintf(err, sizeof(err),
                 "the query asks for more than %d rows (periods x centers x KPIs); narrow it",
                 PSY_HTTP_ROWS_MAX);
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, err);
        return;
    }
    r = httpd_compute(h, &q, &rows, &n);
    kpi_query_free(&q);
    if (r == -EINVAL) {
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, "bad query");
        return;
    }
    if (r < 0) {
        httpd_reply_error(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot compute");
        return;
    }
    f = open_memstream(&buf, &len);
    if (!f) {
        free(rows);
        httpd_reply_error(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    r = kpi_format_write(f, csv ? KPI_FORMAT_CSV : KPI_FORMAT_JSON, h->conf, rows, n);
    free(rows);
    if (fclose(f) != 0 || r < 0) {
        free(buf);
        httpd_reply_error(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the rows");
        return;
    }
    rep->status = MHD_HTTP_OK;
    rep->type = csv ? "text/csv; charset=utf-8" : "application/json";
    rep->body = buf;
    rep->len = len;
}

/*
 * /api/v1/spc: the parameters of `psymon spc`, checked by the same code
 * (spc_query_build), and the body `--format json` prints. The model is the
 * server's own when it covers as_of, else one built for as_of.
 */
static void
httpd_spc(httpd_req_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
{
    static const char *const args[] = {"kpi", "center", "from", "to", "as_of", NULL};
    const char *v[5], *bad;
    model_hold_t hold;
    const kpi_model_t *m;
    spc_query_t q;
    spc_query_result_t *res = NULL;
    json_t *j;
    char err[256] = "", *dump = NULL;
    int r;

    if (!httpd_args_ok(conn, args, &bad)) {
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, "unknown parameter");
        return;
    }
    for (size_t i = 0; i < 5; i++)
        v[i] = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, args[i]);
    r = spc_query_build(h->conf, v[0], v[1], v[2], v[3], v[4], psy_time_now(), &q, err,
                        sizeof(err));
    if (r < 0) {
        httpd_api_words(err);
        httpd_reply_error(rep, r == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          r == -EINVAL && err[0] ? err : "out of memory");
        return;
    }
    if (spc_query_months(&q) * q.nlevels * (q.nkpis + 2) > PSY_HTTP_ROWS_MAX) {
        spc_query_free(&q);
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST,
                          "the query asks for too many months x "
                          "centers x KPIs; narrow it");
        return;
    }
    m = httpd_model_at(h, q.as_of, &hold);
    r = m ? spc_query_compute(m, &q, &res) : -errno;
    model_release(&hold);
    j = r == 0 ? spc_format_json_series(h->conf, res) : NULL;
    spc_query_result_destroy(&res);
    spc_query_free(&q);
    if (!j) {
        httpd_reply_error(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot compute");
        return;
    }
    rep->status = MHD_HTTP_OK;
    rep->type = "application/json";
    r = asprintf(&rep->body, "%s\n",
                 (dump = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15))) ? dump : "");
    rep->len = r > 0 && dump ? (size_t)r : 0;
    if (r < 0 || !dump) {
        if (r >= 0)
            free(rep->body);
        rep->body = NULL;
    }
    free(dump);
    json_decref(j);
}

/* /api/v1/alerts: what `psymon alerts --json --all` prints, from the running engine. */
static void
httpd_alerts(httpd_req_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
{
    const char *bad;
    char *body;

    if (!httpd_args_ok(conn, NULL, &bad)) {
        httpd_reply_error(rep, MHD_HTTP_BAD_REQUEST, "unknown parameter");
        return;
    }
    if (!h->agg->alerts || !(body = alert_worker_api_json(h->agg->alerts))) {
        httpd_reply_error(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "the alert engine is not running");
        return;
    }
    rep->status = MHD_HTTP_OK;
    rep->type = "application/json";
    rep->body = body;
    rep->len = strlen(body);
}

/* Routes one request. */
static void
httpd_route(httpd_req_t *h, struct MHD_Connection *conn, const char *url, httpd_reply_t *rep)
{

    if (strcmp(url, "/healthz") == 0) {
        if (atomic_load(&h->agg->ready))
            httpd_reply_text(rep, MHD_HTTP_OK, "ok\n");
        else
            httpd_reply_text(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    } else if (strcmp(url, "/") == 0 || strncmp(url, "/center/", 8) == 0 ||
               strncmp(url, "/kpi/", 5) == 0 || strcmp(url, "/alerts") == 0 ||
               strcmp(url, "/collectors") == 0 || strncmp(url, "/report/", 8) == 0) {
        httpd_page(h, conn, url, rep);
    } else if (strncmp(url, "/graph/", 7) == 0) {
        httpd_graph(h, conn, url + 7, rep);
    } else if (strcmp(url, "/api/v1/kpi") == 0) {
        httpd_kpi(h, conn, rep);
    } else if (strcmp(url, "/api/v1/spc") == 0) {
        httpd_spc(h, conn, rep);
    } else if (strcmp(url, "/api/v1/status") == 0) {
        httpd_status(h, conn, rep);
    } else if (strcmp(url, "/api/v1/alerts") == 0) {
        httpd_alerts(h, conn, rep);
    } else if (strcmp(url, "/metrics") == 0) {
        httpd_metrics(h, rep);
    } else {
        httpd_reply_text(rep, MHD_HTTP_NOT_FOUND, "not found\n");
    }
}

static void *
httpd_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    return (void *)(uintptr_t)(strlen(uri) > PSY_HTTP_URL_MAX ? &httpd_uri_too_long
                                                              : &httpd_uri_ok);
}

/* Takes what one request reads: the configuration and the current model, as references. */
static void
httpd_req_begin(httpd_t *s, httpd_req_t *h)
{
    memset(h, 0, sizeof(*h));
    h->srv = s;
    h->agg = s->agg;
    h->model = s->model;
    h->conf = agg_conf_get(s->agg);
    h->m = model_current(s->model);
}

/* Gives back what httpd_req_begin took; the store goes back to the pool. */
static void
httpd_req_end(httpd_req_t *h)
{
    httpd_t *s = h->srv;

    if (h->store) {
        pthread_mutex_lock(&s->lock);
        if (s->nstores < HTTPD_STORES_MAX) {
            s->stores[s->nstores++] = h->store;
            h->store = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        store_destroy(&h->store);
    }
    model_unref(&h->m);
    agg_conf_put(&h->conf);
}

static void
httpd_entry_free(void *cls)
{
    const httpd_cache_entry_t *e = cls;

    httpd_cache_entry_unref(&e);
}

/* True when the request's If-None-Match names etag (or is "*"). */
static bool
httpd_not_modified(struct MHD_Connection *conn, const char *etag)
{
    const char *inm =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);

    return inm && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

/*
 * Runs on the connection's own thread (a thread per connection): a
 * request works on its own references and never waits for another, except
 * for a render slot or for the computation of the very page it asked for.
 */
static enum MHD_Result
httpd_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
              const char *version, const char *upload_data, size_t *upload_data_size,
              void **req_cls)
{
    httpd_t *s = cls;
    httpd_reply_t rep = {0};
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned int status;

    (void)version;
    (void)upload_data;
    if (*req_cls == &httpd_uri_seen) {
        /* A body we do not want (the reply is queued already): drop it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    /*
     * A GET or HEAD is answered on the handler's second call, once
     * libmicrohttpd has read the whole request: a reply queued on the first
     * call is an "early" one, after which it closes the connection, and a
     * browser would open a new one for every image. Anything else is
     * refused at once, without reading its body.
     */
    if (*req_cls == &httpd_uri_ok &&
        (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)) {
        *req_cls = (void *)(uintptr_t)&httpd_uri_headers;
        return MHD_YES;
    }
    if (*req_cls == &httpd_uri_headers && *upload_data_size != 0) {
        *upload_data_size = 0; /* a GET with a body: not wanted */
        return MHD_YES;
    }
    if (*req_cls == &httpd_uri_too_long) {
        httpd_reply_text(&rep, MHD_HTTP_URI_TOO_LONG, "URL too long\n");
    } else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
               strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        httpd_reply_text(&rep, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        rep.allow = "GET, HEAD";
    } else {
        httpd_req_t h;

        httpd_req_begin(s, &h);
        httpd_route(&h, conn, url, &rep);
        httpd_req_end(&h);
    }
    *req_cls = (void *)(uintptr_t)&httpd_uri_seen;
    if (rep.entry) {
        /*
         * A cached answer: its bytes go out without a copy, and the entry
         * stays alive until libmicrohttpd has sent them. The client may
         * keep it and ask again with its ETag (no-cache: always ask).
         */
        bool same = httpd_not_modified(conn, rep.entry->etag);
        status = same ? MHD_HTTP_NOT_MODIFIED : (unsigned int)rep.entry->status;
        resp = MHD_create_response_from_buffer_with_free_callback_cls(
            same ? 0 : rep.entry->len, (void *)(uintptr_t)rep.entry->body, httpd_entry_free,
            (void *)(uintptr_t)rep.entry);
        if (!resp) {
            httpd_cache_entry_unref(&rep.entry);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep.entry->type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, rep.entry->etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
        if (!rep.body) {
            rep.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            rep.type = "text/plain; charset=utf-8";
            rep.len = 0;
        }
        status = (unsigned int)rep.status;
        resp = MHD_create_response_from_buffer(rep.len, rep.body ? rep.body : (void *)"",
                                               rep.body ? MHD_RESPMEM_MUST_FREE
                                                        : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            free(rep.body);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep.type);
        /* Computed for this request (the time, the collectors' status, a query): never kept. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rep.allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep.allow);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/*
 * Parses "host:port" or "[v6]:port" into an address. Host names are
 * resolved; the first address wins.
 */
static int
httpd_parse_listen(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len)
{
    char host[PSY_NAME_MAX + 1];
    const char *colon, *port;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    size_t hlen;
    long p;

    if (!listen || !*listen)
        return -EINVAL;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hlen = (size_t)(close - listen - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return -EINVAL;
        memcpy(host, listen + 1, hlen);
        port = close + 2;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return -EINVAL;
        hlen = (size_t)(colon - listen);
        if (hlen == 0 || hlen >= sizeof(host))
            return -EINVAL;
        memcpy(host, listen, hlen);
        port = colon + 1;
    }
    host[hlen] = '\0';
    if (!httpd_parse_int(port, 0, 65535, &p))
        return -EINVAL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return -EINVAL;
    if (ai->ai_addrlen > sizeof(*ret)) {
        freeaddrinfo(ai);
        return -EINVAL;
    }
    memset(ret, 0, sizeof(*ret));
    memcpy(ret, ai->ai_addr, ai->ai_addrlen);
    *ret_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

httpd_t *
httpd_new(agg_t *agg, model_t *model)
{
    struct sockaddr_storage addr;
    socklen_t alen = 0;
    const union MHD_DaemonInfo *info;
    /*
     * A thread per connection, not a pool: a page nobody has cached can take
     * a second at two million records (an as_of in the past several), and in
     * a pool it would hold up every other connection of its thread, /healthz
     * included. Connections are capped (PSY_HTTP_CONN_MAX) and so are the
     * computations running at once (HTTPD_RENDER_MAX); a cache hit or a
     * health check never waits for one.
     */
    unsigned int flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO;
    const psy_agg_conf_t *conf;
    httpd_t *h;
    int r;

    if (!agg || !model) {
        errno = EINVAL;
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->agg = agg;
    h->model = model;
    conf = agg_conf_get(agg);
    r = httpd_parse_listen(conf->http_listen, &addr, &alen);
    agg_conf_put(&conf);
    if (r < 0) {
        free(h);
        errno = -r;
        return NULL;
    }
    h->cache = httpd_cache_new(HTTPD_CACHE_ENTRIES, HTTPD_CACHE_BYTES);
    if (!h->cache) {
        free(h);
        return NULL;
    }
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->slot_free, NULL);
    pthread_cond_init(&h->refresh_done, NULL);
    atomic_init(&h->ttl_us, (int64_t)HTTPD_CACHE_TTL_S * 1000000);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, httpd_handler, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)PSY_HTTP_CONN_MAX,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PSY_HTTP_REQUEST_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)PSY_HTTP_TIMEOUT_S,
        MHD_OPTION_URI_LOG_CALLBACK, httpd_uri_log, (void *)NULL, MHD_OPTION_END);
    if (!h->daemon) {
        httpd_cache_destroy(&h->cache);
        pthread_cond_destroy(&h->refresh_done);
        pthread_cond_destroy(&h->slot_free);
        pthread_mutex_destroy(&h->lock);
        free(h);
        /* libmicrohttpd does not say why; a taken port is by far the most common cause. */
        errno = EADDRINUSE;
        return NULL;
    }
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    return h;
}

void
httpd_stop(httpd_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_mutex_unlock(&h->lock);
    if (h->daemon) {
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
    }
    /* Refreshes still running hold references and the cache: wait for them. */
    pthread_mutex_lock(&h->lock);
    while (h->nrefresh > 0)
        pthread_cond_wait(&h->refresh_done, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

void
httpd_destroy(httpd_t **hp)
{
    httpd_t *h;

    if (!hp || !*hp)
        return;
    h = *hp;
    httpd_stop(h);
    while (h->nstores > 0)
        store_destroy(&h->stores[--h->nstores]);
    agg_conf_put(&h->last_conf);
    free(h->rec);
    httpd_cache_destroy(&h->cache);
    pthread_cond_destroy(&h->refresh_done);
    pthread_cond_destroy(&h->slot_free);
    pthread_mutex_destroy(&h->lock);
    free(h);
    *hp = NULL;
}

int
httpd_port(const httpd_t *h)
{
    return h ? h->port : -1;
}

void
httpd_set_render_hook(httpd_t *h, void (*hook)(void *ctx, const char *key), void *ctx)
{
    pthread_mutex_lock(&h->lock);
    h->render_hook = hook;
    h->render_hook_ctx = ctx;
    pthread_mutex_unlock(&h->lock);
}

void
httpd_set_cache_ttl(httpd_t *h, int64_t ttl_ms)
{
    atomic_store(&h->ttl_us, ttl_ms * 1000);
}

void
httpd_stats(httpd_t *h, httpd_cache_stats_t *ret)
{
    httpd_cache_stats(h->cache, ret);
}

uint64_t
httpd_completeness_passes(httpd_t *h)
{
    return atomic_load(&h->rec_computed);
}

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

#include <jansson.h>
#include <microhttpd.h>

#include "alert_worker.h"
#include "dashboard.h"
#include "kpi_format.h"
#include "kpi_query.h"
#include "metrics.h"
#include "series.h"
#include "spc_format.h"
#include "spc_query.h"
#include "status.h"
#include "store.h"

struct httpd {
    agg_t *agg;
    model_t *model; /* the shared per-generation model every KPI answer comes from */
    struct MHD_Daemon *daemon;
    int port;

    /* Everything below is the serving thread's, guarded by lock all the same. */
    pthread_mutex_t lock;
    const psy_agg_conf_t *conf; /* a reference for the request in progress */
    store_t *store;             /* read-only, for status: opened when first needed */
};

/* What the URI log callback hands to the request handler. */
static char httpd_uri_ok, httpd_uri_too_long, httpd_uri_seen;

typedef struct {
    int status;
    const char *type;
    char *body; /* malloc'ed */
    size_t len;
    const char *allow; /* the Allow header of a 405 */
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

/* Opens the server's own read-only store once it exists. */
static int
httpd_store(httpd_t *h)
{
    if (h->store)
        return 0;
    h->store = store_new(h->conf->data_dir, true);
    return h->store ? 0 : -errno;
}

/*
 * kpi_compute() from the shared model of the current data generation: the
 * worker prepared it once for every reader, so a request only sums. A query
 * at an as_of the model does not cover (in the past) loads the records for
 * that one answer (model_compute).
 */
static int
httpd_compute(httpd_t *h, const kpi_query_t *q, kpi_row_t **ret_rows, size_t *ret_n)
{
    return model_compute(h->model, q, ret_rows, ret_n);
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
httpd_compute_all(httpd_t *h, const kpi_period_t *p, psy_time_t now, kpi_row_t **ret_rows,
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

static void
httpd_dashboard(httpd_t *h, httpd_reply_t *rep)
{
    psy_time_t now = psy_time_now();
    store_status_t *st = NULL;
    kpi_row_t *rows = NULL;
    size_t nrows = 0;
    dashboard_t d = {.conf = h->conf, .now = now, .ready = atomic_load(&h->agg->ready)};
    FILE *f;
    char *buf = NULL;
    size_t len = 0;
    int r;

    d.period = httpd_last_r12(now);
    if (httpd_compute_all(h, &d.period, now, &rows, &nrows) == 0) {
        d.rows = rows;
        d.nrows = nrows;
    }
    if (httpd_store(h) == 0 && h->conf->ncenters > 0) {
        st = calloc(h->conf->ncenters, sizeof(*st));
        for (size_t i = 0; st && i < h->conf->ncenters; i++) {
            if (store_status(h->store, h->conf->centers[i].id, &st[i]) < 0) {
                free(st);
                st = NULL;
            }
        }
    }
    d.status = st;
    f = open_memstream(&buf, &len);
    if (!f) {
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        goto out;
    }
    r = dashboard_write(f, &d);
    if (fclose(f) != 0 || r < 0) {
        free(buf);
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the page\n");
        goto out;
    }
    rep->status = MHD_HTTP_OK;
    rep->type = "text/html; charset=utf-8";
    rep->body = buf;
    rep->len = len;
out:
    free(rows);
    free(st);
}

/*
 * The marks of a coercion or rate graph, from the KPI engine: the mean
 * number of intrusive episodes per day over the baseline years and the
 * baseline per 100,000, drawn only when the engine has a baseline for the
 * level (records in every baseline year).
 */
static bool
httpd_marks(httpd_t *h, int level, series_marks_t *ret)
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
static const char *const httpd_kpi_args[] = {"period", "from",  "to", "center",
                                             "kpi",    "as_of", NULL};

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

static void
httpd_graph(httpd_t *h, struct MHD_Connection *conn, const char *name, httpd_reply_t *rep)
{
    char center[PSY_CENTER_MAX + 1];
    const char *what = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "what");
    const char *sdays = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "days");
    const char *bad;
    size_t len = strlen(name);
    long days = 0;
    int level = KPI_LEVEL_REGION;
    series_marks_t marks;
    bool have_marks = false;
    unsigned char *png = NULL;
    size_t plen = 0;
    int r;

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
    if (strcmp(what, "coercion") == 0 || strcmp(what, "rate") == 0)
        have_marks = httpd_marks(h, level, &marks);
    r = series_graph(h->agg, center, what, (int)days, have_marks ? &marks : NULL, &png, &plen);
    if (r == -ENOENT) {
        httpd_reply_text(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "graph not drawn yet\n");
        return;
    }
    if (r < 0) {
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot draw the graph\n");
        return;
    }
    rep->status = MHD_HTTP_OK;
    rep->type = "image/png";
    rep->body = (char *)png;
    rep->len = plen;
}

static void
httpd_status(httpd_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
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

/*
 * /metrics: gathers what metrics_write() prints, the latest complete r12 and
 * month of every KPI and level, and each center's status. A store that
 * cannot be read leaves its part out rather than failing the scrape.
 */
static void
httpd_metrics(httpd_t *h, httpd_reply_t *rep)
{
    psy_time_t now = psy_time_now();
    store_status_t *st = NULL;
    metrics_window_t w[2] = {{.name = "r12", .period = httpd_last_r12(now)},
                             {.name = "month", .period = httpd_last_r12(now)}};
    metrics_input_t in = {.counters = &h->agg->counters,
                          .ready = atomic_load(&h->agg->ready),
                          .conf = h->conf,
                          .now = now};
    kpi_row_t *rows[2] = {NULL, NULL};
    char *buf = NULL;
    size_t len = 0, nrows;
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
    for (size_t i = 0; i < 2; i++) {
        if (httpd_compute_all(h, &w[i].period, now, &rows[i], &nrows) == 0) {
            w[i].rows = rows[i];
            w[i].nrows = nrows;
            in.nwindows = i + 1;
        }
    }
    in.windows = in.nwindows > 0 ? w : NULL;
    f = open_memstream(&buf, &len);
    r = f ? metrics_write(f, &in) : -ENOMEM;
    if (r == 0 && h->agg->alerts)
        r = alert_worker_metrics_write(h->agg->alerts, f);
    if (!f || fclose(f) != 0 || r < 0) {
        free(buf);
        httpd_reply_text(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write metrics\n");
    } else {
        rep->status = MHD_HTTP_OK;
        rep->type = "text/plain; version=0.0.4; charset=utf-8";
        rep->body = buf;
        rep->len = len;
    }
    free(rows[0]);
    free(rows[1]);
    free(st);
}

/*
 * /api/v1/kpi: the parameters are those of `psymon kpi`, checked by the
 * same code (kpi_query_build), and the body is what `--format json` prints.
 */
static void
httpd_kpi(httpd_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
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
    r = kpi_query_build(h->conf, v[0], v[1], v[2], v[3], v[4], v[5], psy_time_now(), &q, err,
                        sizeof(err));
    if (r == -EINVAL) {
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
    r = kpi_format_json(f, h->conf, rows, n);
    free(rows);
    if (fclose(f) != 0 || r < 0) {
        free(buf);
        httpd_reply_error(rep, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the rows");
        return;
    }
    rep->status = MHD_HTTP_OK;
    rep->type = "application/json";
    rep->body = buf;
    rep->len = len;
}

/*
 * /api/v1/spc: the parameters of `psymon spc`, checked by the same code
 * (spc_query_build), and the body `--format json` prints. The model is the
 * server's own when it covers as_of, else one built for as_of.
 */
static void
httpd_spc(httpd_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
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
    m = model_at(h->model, h->conf, q.as_of, &hold);
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
httpd_alerts(httpd_t *h, struct MHD_Connection *conn, httpd_reply_t *rep)
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

/* Routes one request; h->lock is held. */
static void
httpd_route(httpd_t *h, struct MHD_Connection *conn, const char *url, httpd_reply_t *rep)
{
    const char *bad;

    if (strcmp(url, "/healthz") == 0) {
        if (atomic_load(&h->agg->ready))
            httpd_reply_text(rep, MHD_HTTP_OK, "ok\n");
        else
            httpd_reply_text(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    } else if (strcmp(url, "/") == 0) {
        if (!httpd_args_ok(conn, NULL, &bad))
            httpd_reply_text(rep, MHD_HTTP_BAD_REQUEST, "unknown parameter\n");
        else
            httpd_dashboard(h, rep);
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
    return strlen(uri) > PSY_HTTP_URL_MAX ? &httpd_uri_too_long : &httpd_uri_ok;
}

static enum MHD_Result
httpd_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
              const char *version, const char *upload_data, size_t *upload_data_size,
              void **req_cls)
{
    httpd_t *h = cls;
    httpd_reply_t rep = {0};
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void)version;
    (void)upload_data;
    if (*req_cls == &httpd_uri_seen) {
        /* A body we do not want (the reply is queued already): drop it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*req_cls == &httpd_uri_too_long) {
        httpd_reply_text(&rep, MHD_HTTP_URI_TOO_LONG, "URL too long\n");
    } else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
               strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        httpd_reply_text(&rep, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        rep.allow = "GET, HEAD";
    } else {
        pthread_mutex_lock(&h->lock);
        h->conf = agg_conf_get(h->agg);
        httpd_route(h, conn, url, &rep);
        agg_conf_put(&h->conf);
        pthread_mutex_unlock(&h->lock);
    }
    *req_cls = &httpd_uri_seen;
    if (!rep.body) {
        rep.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        rep.type = "text/plain; charset=utf-8";
        rep.len = 0;
    }
    resp =
        MHD_create_response_from_buffer(rep.len, rep.body ? rep.body : (void *)"",
                                        rep.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(rep.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep.type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rep.allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep.allow);
    ret = MHD_queue_response(conn, (unsigned int)rep.status, resp);
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
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
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
    h->conf = agg_conf_get(agg);
    r = httpd_parse_listen(h->conf->http_listen, &addr, &alen);
    agg_conf_put(&h->conf);
    if (r < 0) {
        free(h);
        errno = -r;
        return NULL;
    }
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    pthread_mutex_init(&h->lock, NULL);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, httpd_handler, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)PSY_HTTP_CONN_MAX,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PSY_HTTP_REQUEST_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)PSY_HTTP_TIMEOUT_S,
        MHD_OPTION_URI_LOG_CALLBACK, httpd_uri_log, (void *)NULL, MHD_OPTION_END);
    if (!h->daemon) {
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
httpd_destroy(httpd_t **hp)
{
    httpd_t *h;

    if (!hp || !*hp)
        return;
    h = *hp;
    MHD_stop_daemon(h->daemon);
    store_destroy(&h->store);
    pthread_mutex_destroy(&h->lock);
    free(h);
    *hp = NULL;
}

int
httpd_port(const httpd_t *h)
{
    return h ? h->port : -1;
}

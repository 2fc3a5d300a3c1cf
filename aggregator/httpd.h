/*
 * httpd: the aggregator's read-only HTTP server (interfaces.md, "HTTP"):
 * the dashboard at `/`, graphs at /graph/<center|region>.png, the KPI and
 * status API under /api/v1/, Prometheus text at /metrics and /healthz.
 *
 * libmicrohttpd serves each connection on a thread of its own, bound only
 * to the configured http_listen address, with at most PSY_HTTP_CONN_MAX
 * connections, each closed after PSY_HTTP_TIMEOUT_S seconds idle and
 * holding at most PSY_HTTP_REQUEST_MAX bytes of request (a longer request
 * line or header gets a 4xx from libmicrohttpd). Only GET and HEAD are
 * answered (405 otherwise); a URL over PSY_HTTP_URL_MAX bytes gets 414; a
 * KPI query of more than PSY_HTTP_ROWS_MAX rows gets 400. Every KPI figure comes from the
 * shared model of the current data generation (model.h): each request takes a reference to
 * it and to the configuration when it starts and works on those alone, so requests run at
 * once and a slow one holds up no other. The server keeps no records of its own; it opens
 * read-only store_t handles (a small pool) only for the collectors' status.
 *
 * Pages and graphs are cached per data generation (httpd_cache.h; what is cached and what
 * is not: docs/architecture.md, "The HTTP server"): a warm page costs no KPI work and no drawing,
 * is sent with a strong ETag and Cache-Control: no-cache, and answers If-None-Match with 304.
 * Everything computed per request (/healthz, /metrics, /collectors, the API) is sent with
 * Cache-Control: no-store.
 */
#ifndef PSYMON_HTTPD_H
#define PSYMON_HTTPD_H

#include "agg.h"
#include "httpd_cache.h"
#include "model.h"

typedef struct httpd httpd_t;

/*
 * Starts serving on agg->conf->http_listen ("host:port" or "[v6]:port";
 * port 0 picks a free port, see httpd_port()). Returns NULL with errno set
 * on failure (EINVAL for a bad address, EADDRINUSE, ...). Caller owns the
 * result and must destroy it.
 */
httpd_t *httpd_new(agg_t *agg, model_t *model);
/*
 * Stops serving, waiting for requests and refreshes in progress; later
 * httpd_publish calls do nothing. The model may be destroyed after this
 * (the server registered as its sink stays valid until httpd_destroy).
 * Accepts NULL and a server stopped already.
 */
void httpd_stop(httpd_t *h);
/* Stops serving (httpd_stop) and NULLs *h. Accepts NULL. */
void httpd_destroy(httpd_t **h);

/*
 * A model sink (model_sink_t.publish, ctx = the server): starts computing
 * the overview of a new model on a thread of its own, so that the first
 * visitor after new data finds it cached. Never blocks the worker.
 */
void httpd_publish(void *ctx, const agg_model_t *m);

/* The TCP port actually bound. */
int httpd_port(const httpd_t *h);

/*
 * For tests: hook is called, on the request's thread, at the start of every
 * page or graph computation (a cache miss), with the cache key; it may block
 * to hold that computation. NULL removes it.
 */
void httpd_set_render_hook(httpd_t *h, void (*hook)(void *ctx, const char *key), void *ctx);
/* For tests: how long a cached answer is served before it is refreshed (default 60 s). */
void httpd_set_cache_ttl(httpd_t *h, int64_t ttl_ms);
/* The counters of the cache of pages and graphs. */
void httpd_stats(httpd_t *h, httpd_cache_stats_t *ret);
/*
 * For tests: how often the completeness counts (the `records` KPI per center
 * and month, which every page needs) were computed; once per model, then
 * kept.
 */
uint64_t httpd_completeness_passes(httpd_t *h);

#endif

/*
 * httpd: the aggregator's read-only HTTP server (interfaces.md, "HTTP"):
 * the dashboard at `/`, graphs at /graph/<center|region>.png, the KPI and
 * status API under /api/v1/, Prometheus text at /metrics and /healthz.
 *
 * libmicrohttpd serves from one internal thread, bound only to the
 * configured http_listen address, with at most PSY_HTTP_CONN_MAX
 * connections, each closed after PSY_HTTP_TIMEOUT_S seconds idle and
 * holding at most PSY_HTTP_REQUEST_MAX bytes of request (a longer request
 * line or header gets a 4xx from libmicrohttpd). Only GET and HEAD are
 * answered (405 otherwise); a URL over PSY_HTTP_URL_MAX bytes gets 414; a
 * KPI query of more than PSY_HTTP_ROWS_MAX rows gets 400. Every KPI figure comes from the
 * shared model of the current data generation (model.h); the server keeps no records of its
 * own, and opens its own read-only store_t only for the collectors' status.
 */
#ifndef PSYMON_HTTPD_H
#define PSYMON_HTTPD_H

#include "agg.h"
#include "model.h"

typedef struct httpd httpd_t;

/*
 * Starts serving on agg->conf->http_listen ("host:port" or "[v6]:port";
 * port 0 picks a free port, see httpd_port()). Returns NULL with errno set
 * on failure (EINVAL for a bad address, EADDRINUSE, ...). Caller owns the
 * result and must destroy it.
 */
httpd_t *httpd_new(agg_t *agg, model_t *model);
/* Stops serving, waiting for requests in progress, and NULLs *h. Accepts NULL. */
void httpd_destroy(httpd_t **h);

/* The TCP port actually bound. */
int httpd_port(const httpd_t *h);

#endif

/*
 * httpd: the server started on 127.0.0.1 with a free port against a
 * temporary store, each endpoint asked with a tiny raw HTTP client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agg.h"
#include "httpd.h"
#include "series.h"
#include "store.h"

typedef struct {
    char dir[64];
    psy_agg_conf_t *conf;
    agg_t agg;
    model_t *model;
    httpd_t *h;
    int port;
} fixture_t;

typedef struct {
    int status;
    char *head; /* status line and headers */
    char *body;
    size_t body_len;
} reply_t;

static void
reply_free(reply_t *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Sends `raw` as is and reads the reply until the server closes. */
static void
http_raw(int port, const char *raw, size_t raw_len, reply_t *ret)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 20};
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    char *sep;
    int fd;

    assert_non_null(buf);
    memset(ret, 0, sizeof *ret);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    for (size_t off = 0; off < raw_len;) {
        ssize_t n = send(fd, raw + off, raw_len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer and close before reading everything */
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    ret->head = strndup(buf, (size_t)(sep - buf));
    ret->body_len = len - (size_t)(sep + 4 - buf);
    ret->body = malloc(ret->body_len + 1);
    assert_non_null(ret->body);
    memcpy(ret->body, sep + 4, ret->body_len);
    ret->body[ret->body_len] = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &ret->status), 1);
    free(buf);
}

/*
 * Sends `raw` and returns the reply's status, or 0 when the server closed
 * (or reset) the connection without a reply.
 */
static int
http_raw_status(int port, const char *raw, size_t raw_len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 20};
    char buf[256];
    size_t len = 0;
    int fd, status = 0;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    for (size_t off = 0; off < raw_len;) {
        ssize_t n = send(fd, raw + off, raw_len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    return status;
}

static void
http(int port, const char *method, const char *target, reply_t *ret)
{
    char *req = NULL;
    int n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method,
                     target);

    assert_true(n > 0);
    http_raw(port, req, (size_t)n, ret);
    free(req);
}

/* The value of header `name` (case-insensitive), copied into buf, or NULL. */
static const char *
header(const reply_t *r, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);

    for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = strcspn(v, "\r\n");
            snprintf(buf, size, "%.*s", (int)vl, v);
            return buf;
        }
    }
    return NULL;
}

static psy_record_t
rec(psy_rec_type_t type, const char *id, psy_time_t t, uint8_t patient)
{
    psy_record_t r;

    psy_record_init(&r);
    r.type = type;
    snprintf(r.id, sizeof r.id, "%s", id);
    r.time = t;
    r.has_patient = true;
    memset(r.patient, patient, sizeof r.patient);
    return r;
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    store_t *st;
    psy_record_t recs[4];
    psy_batch_t b = {.first_seq = 1, .count = 4, .records = recs};
    psy_time_t now = psy_time_now();
    uint64_t acked = 0;

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_httpd.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->conf = calloc(1, sizeof *f->conf);
    assert_non_null(f->conf);
    f->conf->ncenters = 2;
    strcpy(f->conf->centers[0].id, "pc-a");
    strcpy(f->conf->centers[0].name, "Center <A>");
    strcpy(f->conf->centers[1].id, "pc-b");
    strcpy(f->conf->centers[1].name, "Center B");
    strcpy(f->conf->region_name, "Region Test");
    snprintf(f->conf->data_dir, sizeof f->conf->data_dir, "%s", f->dir);
    strcpy(f->conf->http_listen, "127.0.0.1:0");
    strcpy(f->conf->timezone, "UTC");
    f->conf->target_pct = 30;
    f->conf->nbaseline = 3;
    f->conf->baseline_years[0] = 2021;
    f->conf->baseline_years[1] = 2022;
    f->conf->baseline_years[2] = 2023;
    f->conf->first_year = 2024;
    f->conf->first_month = 1;
    f->conf->last_year = 2030;
    f->conf->last_month = 12;

    /* Four records at pc-a, all more than a month old. */
    st = store_new(f->dir, false);
    assert_non_null(st);
    recs[0] = rec(PSY_REC_ADMISSION, "a1", now - 40 * PSY_DAY, 1);
    recs[0].mode = PSY_MODE_ACUTE;
    recs[0].legal = PSY_LEGAL_VOLUNTARY;
    snprintf(recs[0].contact, sizeof recs[0].contact, "a1");
    recs[1] = rec(PSY_REC_COERCION, "c1", now - 39 * PSY_DAY, 1);
    recs[1].coercion = PSY_COERCION_BELT;
    recs[1].end = now - 39 * PSY_DAY + 5 * PSY_HOUR;
    recs[2] = rec(PSY_REC_DISCHARGE, "d1", now - 35 * PSY_DAY, 1);
    snprintf(recs[2].contact, sizeof recs[2].contact, "a1");
    recs[2].outcome = PSY_OUTCOME_REGULAR;
    recs[3] = rec(PSY_REC_ADMISSION, "a2", now - 34 * PSY_DAY, 2);
    recs[3].mode = PSY_MODE_PLANNED;
    recs[3].legal = PSY_LEGAL_VOLUNTARY;
    snprintf(recs[3].contact, sizeof recs[3].contact, "a2");
    memset(b.epoch, 7, sizeof b.epoch);
    assert_int_equal(store_apply_batch(st, "pc-a", &b, now, &acked), 0);
    assert_int_equal(acked, 4);
    store_destroy(&st);

    assert_int_equal(agg_init(&f->agg, f->conf, NULL), 0);
    /* agg owns the configuration now; tests may still adjust it in place. */
    f->conf = (psy_agg_conf_t *)(uintptr_t)f->agg.conf;
    atomic_store(&f->agg.counters.batches, 7);
    f->model = model_new(&f->agg);
    assert_non_null(f->model);
    agg_data_changed(&f->agg);
    assert_int_equal(model_wait(f->model, 1, 30000), 0);
    f->h = httpd_new(&f->agg, f->model);
    assert_non_null(f->h);
    f->port = httpd_port(f->h);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    httpd_destroy(&f->h);
    assert_null(f->h);
    httpd_destroy(&f->h);
    httpd_destroy(NULL);
    model_destroy(&f->model);
    agg_fini(&f->agg);
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
test_healthz(void **state)
{
    fixture_t *f = *state;
    reply_t r;

    http(f->port, "GET", "/healthz", &r);
    assert_int_equal(r.status, 503);
    reply_free(&r);
    atomic_store(&f->agg.ready, true);
    http(f->port, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    reply_free(&r);
    /* HEAD: the same status, no body. */
    http(f->port, "HEAD", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
}

static void
test_methods_and_errors(void **state)
{
    fixture_t *f = *state;
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    char buf[128], *longurl;
    reply_t r;

    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        http(f->port, methods[i], "/healthz", &r);
        assert_int_equal(r.status, 405);
        assert_non_null(header(&r, "Allow", buf, sizeof buf));
        assert_string_equal(buf, "GET, HEAD");
        reply_free(&r);
    }
    /* A body does not change that, and the server stays up. */
    {
        const char req[] = "POST /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Content-Length: 5\r\n\r\nhello";
        http_raw(f->port, req, sizeof req - 1, &r);
        assert_int_equal(r.status, 405);
        reply_free(&r);
    }

    http(f->port, "GET", "/nope", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    http(f->port, "GET", "/graph/pc-zz.png", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    http(f->port, "GET", "/graph/..%2fetc.png", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    http(f->port, "GET", "/graph/pc-a.gif", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);

    longurl = malloc(PSY_HTTP_URL_MAX + 64);
    assert_non_null(longurl);
    strcpy(longurl, "/api/v1/status?x=");
    memset(longurl + strlen(longurl), 'a', PSY_HTTP_URL_MAX);
    longurl[PSY_HTTP_URL_MAX + 17] = '\0';
    http(f->port, "GET", longurl, &r);
    assert_int_equal(r.status, 414);
    reply_free(&r);
    /* Exactly at the limit is not too long: the unknown parameter is what is wrong. */
    longurl[PSY_HTTP_URL_MAX] = '\0';
    http(f->port, "GET", longurl, &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    free(longurl);

    http(f->port, "GET", "/api/v1/status?bogus=1", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    http(f->port, "GET", "/healthz", &r); /* still serving */
    assert_true(r.status == 200 || r.status == 503);
    reply_free(&r);
}

static void
test_status(void **state)
{
    fixture_t *f = *state;
    json_error_t jerr;
    json_t *j, *centers, *c;
    char buf[128];
    reply_t r;

    http(f->port, "GET", "/api/v1/status", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", buf, sizeof buf));
    assert_string_equal(buf, "application/json");
    j = json_loads(r.body, 0, &jerr);
    assert_non_null(j);
    centers = json_object_get(j, "centers");
    assert_true(json_is_array(centers));
    assert_int_equal(json_array_size(centers), 2);
    c = json_array_get(centers, 0);
    assert_string_equal(json_string_value(json_object_get(c, "center")), "pc-a");
    assert_int_equal(json_integer_value(json_object_get(c, "records")), 4);
    assert_true(json_is_integer(json_object_get(c, "rejected")));
    assert_true(json_is_integer(json_object_get(c, "backlog")));
    assert_true(json_is_string(json_object_get(c, "last_seen")));
    /* The collector's last heartbeat: none was stored here. */
    assert_true(json_is_false(json_object_get(c, "spool_full")));
    assert_true(json_is_null(json_object_get(c, "version")));
    assert_true(json_is_null(json_object_get(c, "clock_offset_s")));
    assert_true(json_is_false(json_object_get(c, "clock_off")));
    assert_true(json_is_null(json_object_get(c, "spool_bytes")));
    assert_int_equal(json_object_size(c), 10);
    c = json_array_get(centers, 1);
    assert_string_equal(json_string_value(json_object_get(c, "center")), "pc-b");
    assert_int_equal(json_integer_value(json_object_get(c, "records")), 0);
    assert_true(json_is_null(json_object_get(c, "last_seen")));
    json_decref(j);
    reply_free(&r);
}

static void
test_metrics(void **state)
{
    fixture_t *f = *state;
    reply_t r;

    /* A heartbeat from pc-a whose clock is 200 s ahead. */
    store_t *st = store_new(f->dir, false);
    assert_non_null(st);
    psy_time_t now = psy_time_now();
    psy_heartbeat_t hb = {.clock = now + 200 * PSY_USEC, .spool_bytes = 4096};
    snprintf(hb.version, sizeof hb.version, "0.1.0");
    assert_int_equal(store_heartbeat(st, "pc-a", &hb, now), 0);
    store_destroy(&st);

    http(f->port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "psymon_center_clock_offset_seconds{center=\"pc-a\"} 200.000\n"));
    assert_null(strstr(r.body, "psymon_center_clock_offset_seconds{center=\"pc-b\"}"));
    assert_non_null(strstr(r.body, "# TYPE psymon_batches_total counter\n"));
    assert_non_null(strstr(r.body, "\npsymon_batches_total 7\n"));
    assert_non_null(strstr(r.body, "# HELP psymon_center_backlog "));
    assert_non_null(strstr(r.body, "psymon_center_records{center=\"pc-a\"} 4\n"));
    assert_non_null(strstr(r.body, "psymon_center_records{center=\"pc-b\"} 0\n"));
    assert_non_null(strstr(r.body, "psymon_center_last_seen_age_seconds{center=\"pc-a\"} "));
    assert_null(strstr(r.body, "psymon_center_last_seen_age_seconds{center=\"pc-b\"}"));
    assert_non_null(strstr(r.body, "psymon_ready 0\n"));
    assert_non_null(strstr(r.body, "# TYPE psymon_kpi gauge\n"));
    assert_non_null(
        strstr(r.body, "psymon_kpi{window=\"r12\",center=\"pc-a\",kpi=\"admissions\"} "));
    assert_non_null(
        strstr(r.body, "psymon_kpi{window=\"month\",center=\"region\",kpi=\"admissions\"} "));
    assert_null(strstr(r.body, "period="));
    assert_non_null(strstr(r.body, "psymon_center_spool_bytes{center=\"pc-a\"} 4096\n"));
    reply_free(&r);
}

static void
test_dashboard_and_graph(void **state)
{
    fixture_t *f = *state;
    char buf[128], rrd_dir[128];
    kpi_records_t recs = {0};
    store_t *st;
    reply_t r;

    http(f->port, "GET", "/", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", buf, sizeof buf));
    assert_string_equal(buf, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "<html lang=\"da\">"));
    assert_non_null(strstr(r.body, "href=\"/center/pc-a\""));
    assert_non_null(strstr(r.body, "href=\"/center/pc-b\""));
    /* Names from the configuration are escaped. */
    assert_non_null(strstr(r.body, "Center &lt;A&gt;"));
    assert_null(strstr(r.body, "Center <A>"));
    assert_null(strstr(r.body, "<script"));
    assert_non_null(strstr(r.body, "data-center=\"pc-a\" data-kpi=\"intrusive_episodes\""));
    reply_free(&r);

    /* The pages of dashboard.md; the center page shows the daily librrd graphs. */
    http(f->port, "GET", "/center/pc-a?lang=en", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<html lang=\"en\">"));
    assert_non_null(strstr(r.body, "<img class=\"daily\" src=\"/graph/pc-a.png\""));
    reply_free(&r);
    http(f->port, "GET", "/center/region?format=csv", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", buf, sizeof buf));
    assert_string_equal(buf, "text/csv; charset=utf-8");
    assert_true(strncmp(r.body, "center,center_name,kpi,", 23) == 0);
    reply_free(&r);
    http(f->port, "GET", "/kpi/readmission_rate_30d", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    http(f->port, "GET", "/alerts", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    http(f->port, "GET", "/collectors", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    http(f->port, "GET", "/center/nope", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    http(f->port, "GET", "/kpi/admissions", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    http(f->port, "GET", "/?lang=fr", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    http(f->port, "GET", "/?x=1", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    http(f->port, "GET", "/report/1999-01", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);

    /* Before the series are written, a graph is not there yet. */
    http(f->port, "GET", "/graph/region.png", &r);
    assert_int_equal(r.status, 503);
    reply_free(&r);

    st = store_new(f->dir, true);
    assert_non_null(st);
    assert_int_equal(store_load(st, f->conf, PSY_TIME_NONE, &recs), 0);
    snprintf(rrd_dir, sizeof rrd_dir, "%s/rrd", f->dir);
    assert_int_equal(series_rebuild(rrd_dir, f->conf, &recs, psy_time_now(), NULL, 0), 0);
    kpi_records_free(&recs);
    store_destroy(&st);

    http(f->port, "GET", "/graph/region.png", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", buf, sizeof buf));
    assert_string_equal(buf, "image/png");
    assert_true(r.body_len > 8);
    assert_memory_equal(r.body, "\x89PNG\r\n\x1a\n", 8);
    reply_free(&r);
    http(f->port, "GET", "/graph/pc-a.png?what=activity&days=90", &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "\x89PNG", 4);
    reply_free(&r);

    http(f->port, "GET", "/graph/pc-a.png?days=0", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    http(f->port, "GET", "/graph/pc-a.png?days=12x", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    http(f->port, "GET", "/graph/pc-a.png?what=pie", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    http(f->port, "GET", "/graph/pc-a.png?colour=red", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
}

static void
test_kpi_api(void **state)
{
    fixture_t *f = *state;
    json_error_t jerr;
    json_t *j, *rows, *row;
    char buf[128], target[256];
    int y, m, d;
    reply_t r;

    psy_civil_date(psy_time_now() - 40 * PSY_DAY, &y, &m, &d);
    snprintf(target, sizeof target,
             "/api/v1/kpi?period=month&from=%04d-%02d&to=%04d-%02d&center=pc-a&kpi=admissions,"
             "coercion_episodes:belt",
             y, m, y, m);
    http(f->port, "GET", target, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", buf, sizeof buf));
    assert_string_equal(buf, "application/json");
    j = json_loads(r.body, 0, &jerr);
    assert_non_null(j);
    rows = json_object_get(j, "rows");
    assert_true(json_is_array(rows));
    assert_int_equal(json_array_size(rows), 2);
    row = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(row, "center")), "pc-a");
    assert_string_equal(json_string_value(json_object_get(row, "kpi")), "admissions");
    assert_true(json_is_integer(json_object_get(row, "value")));
    assert_true(json_is_boolean(json_object_get(row, "provisional")));
    assert_non_null(json_object_get(row, "period"));
    assert_non_null(json_object_get(row, "numerator"));
    assert_non_null(json_object_get(row, "denominator"));
    row = json_array_get(rows, 1);
    assert_string_equal(json_string_value(json_object_get(row, "kpi")), "coercion_episodes:belt");
    assert_int_equal(json_integer_value(json_object_get(row, "value")), 1);
    json_decref(j);
    reply_free(&r);

    /* Bad parameters: 400 with {"error": "..."}. */
    {
        static const char *const bad[] = {
            "/api/v1/kpi?period=fortnight&from=2024-01&to=2024-02",
            "/api/v1/kpi?period=month&from=2024-13&to=2024-02",
            "/api/v1/kpi?period=month&from=2024-03&to=2024-02",
            "/api/v1/kpi?period=month&from=2024-01&to=2024-02&center=nowhere",
            "/api/v1/kpi?period=month&from=2024-01&to=2024-02&kpi=no_such_kpi",
            "/api/v1/kpi?period=month&from=2024-01&to=2024-02&as_of=yesterday",
            "/api/v1/kpi?period=month&from=1900-01&to=2024-02",
            "/api/v1/kpi?period=month&from=2024-01&to=2024-02&colour=red",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            http(f->port, "GET", bad[i], &r);
            if (r.status != 400)
                fail_msg("%s: %d", bad[i], r.status);
            j = json_loads(r.body, 0, &jerr);
            assert_non_null(j);
            assert_true(json_is_string(json_object_get(j, "error")));
            json_decref(j);
            reply_free(&r);
        }
    }
    /* The API words its errors as URLs spell the parameters. */
    {
        http(f->port, "GET", "/api/v1/kpi?from=2024-01", &r);
        assert_int_equal(r.status, 400);
        j = json_loads(r.body, 0, &jerr);
        assert_non_null(j);
        assert_non_null(
            strstr(json_string_value(json_object_get(j, "error")), "period is required"));
        assert_null(strstr(json_string_value(json_object_get(j, "error")), "--"));
        json_decref(j);
        reply_free(&r);
    }
    /* format=csv: the rows `psymon kpi --format csv` prints. */
    http(f->port, "GET",
         "/api/v1/kpi?period=year&from=2024-01&center=pc-a&kpi=admissions&format=csv", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/csv"));
    assert_true(
        strncmp(r.body,
                "period,center,kpi,value,numerator,denominator,provisional\n2024,pc-a,admissions,",
                strlen("period,center,kpi,value,numerator,denominator,provisional\n2024,pc-a,"
                       "admissions,")) == 0);
    reply_free(&r);
    http(f->port, "GET", "/api/v1/kpi?period=year&from=2024-01&format=xml", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
}

/* Builds a KPI query of `periods` months from 1990-01 x `levels` region levels x two KPIs. */
static void
rows_query(char *buf, size_t size, int periods, int levels)
{
    int last = 1990 * 12 + periods - 1; /* months since year 0, January = 0 */
    size_t n = (size_t)snprintf(
        buf, size,
        "/api/v1/kpi?period=month&from=1990-01&to=%04d-%02d&kpi=admissions,admissions"
        "&as_of=2024-01-01T00:00:00Z&center=",
        last / 12, last % 12 + 1);

    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(buf + n, size - n, "%sregion", i ? "," : "");
    assert_true(n < size);
}

/*
 * Over-limit requests get a 4xx and change nothing: a KPI query of more
 * rows than PSY_HTTP_ROWS_MAX (repeated centers make the URL limit no
 * bound), request headers beyond PSY_HTTP_REQUEST_MAX, and garbage.
 */
static void
test_request_limits(void **state)
{
    fixture_t *f = *state;
    char target[PSY_HTTP_URL_MAX];
    json_error_t jerr;
    json_t *j;
    reply_t r;

    atomic_store(&f->agg.ready, true);
    /*
     * 500 months x 100 levels x 2 KPIs is exactly the limit; computing that
     * many rows is slow under sanitizers, so a tenth of it shows that such
     * queries are answered, and one level more than the limit is refused
     * before anything is computed.
     */
    assert_int_equal(500 * 100 * 2, PSY_HTTP_ROWS_MAX);
    rows_query(target, sizeof target, 500, 10);
    http(f->port, "GET", target, &r);
    assert_int_equal(r.status, 200);
    j = json_loads(r.body, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "rows")), PSY_HTTP_ROWS_MAX / 10);
    json_decref(j);
    reply_free(&r);
    rows_query(target, sizeof target, 500, 101);
    http(f->port, "GET", target, &r);
    assert_int_equal(r.status, 400);
    j = json_loads(r.body, 0, &jerr);
    assert_non_null(j);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "rows"));
    json_decref(j);
    reply_free(&r);

    /* A header larger than the per-connection memory. */
    {
        size_t big = 2 * PSY_HTTP_REQUEST_MAX;
        char *req = malloc(big + 256);
        size_t n;
        assert_non_null(req);
        n = (size_t)sprintf(req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(req + n, 'b', big);
        n += big;
        n += (size_t)sprintf(req + n, "\r\nConnection: close\r\n\r\n");
        int status = http_raw_status(f->port, req, n);
        /* libmicrohttpd answers 431, or closes when the client is still sending. */
        if (status != 0 && (status < 400 || status >= 500))
            fail_msg("a %zu-byte header got %d", big, status);
        free(req);
    }
    /* Not HTTP at all. */
    {
        static const char junk[] = "\x16\x03\x01\x02\x00garbage\r\n\r\n";
        int status = http_raw_status(f->port, junk, sizeof junk - 1);
        if (status != 0 && status != 400)
            fail_msg("garbage got %d", status);
    }
    http(f->port, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

/* /api/v1/spc: the series of psymon spc --format json, and its refusals. */
static void
test_spc_api(void **state)
{
    fixture_t *f = *state;
    json_error_t e;
    json_t *j, *s;
    reply_t r;

    http(f->port, "GET", "/api/v1/spc?kpi=admissions&center=pc-a", &r);
    assert_int_equal(r.status, 200);
    assert_true(r.body_len > 1 && r.body[r.body_len - 1] == '\n'); /* as psymon spc prints */
    j = json_loads(r.body, 0, &e);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 1);
    s = json_array_get(json_object_get(j, "series"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "center")), "pc-a");
    assert_string_equal(json_string_value(json_object_get(s, "kpi")), "admissions");
    assert_string_equal(json_string_value(json_object_get(s, "chart")), "c");
    /* The records are 34-40 days old: the series runs from their first month to last month. */
    assert_true(json_array_size(json_object_get(s, "points")) >= 1);
    json_decref(j);
    reply_free(&r);

    http(f->port, "GET", "/api/v1/spc?kpi=intrusive_per_100k", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "has no SPC chart"));
    reply_free(&r);
    http(f->port, "GET", "/api/v1/spc?kpi=admissions&period=month", &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    http(f->port, "GET", "/api/v1/spc", &r);
    assert_int_equal(r.status, 400);
    /* Named as the URL spells it: "kpi is required", not "--kpi is required". */
    assert_non_null(strstr(r.body, "kpi is required"));
    assert_null(strstr(r.body, "--kpi"));
    reply_free(&r);
}

/* Sends a GET with one extra header line (e.g. "If-None-Match: x"). */
static void
http_with(int port, const char *target, const char *line, reply_t *ret)
{
    char *req = NULL;
    int n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nConnection: close\r\n\r\n",
                     target, line);

    assert_true(n > 0);
    http_raw(port, req, (size_t)n, ret);
    free(req);
}

/* One more record at pc-b and a model of the new generation. */
static void
new_generation(fixture_t *f, const char *id)
{
    static uint64_t seq = 5;
    psy_record_t r = rec(PSY_REC_ADMISSION, id, psy_time_now() - 20 * PSY_DAY, 3);
    psy_batch_t b = {.first_seq = seq, .count = 1, .records = &r};
    uint64_t acked = 0, gen;
    store_t *st = store_new(f->dir, false);

    r.mode = PSY_MODE_ACUTE;
    r.legal = PSY_LEGAL_VOLUNTARY;
    snprintf(r.contact, sizeof r.contact, "%s", id);
    memset(b.epoch, 9, sizeof b.epoch);
    assert_non_null(st);
    assert_int_equal(store_apply_batch(st, "pc-b", &b, psy_time_now(), &acked), 0);
    store_destroy(&st);
    seq++;
    agg_data_changed(&f->agg);
    gen = atomic_load(&f->agg.generation);
    assert_int_equal(model_wait(f->model, gen, 30000), 0);
}

/*
 * Pages are cached per data generation: a second request is a hit with the
 * very same bytes and ETag, If-None-Match gets 304, a new generation is
 * computed afresh, and what is computed per request is never cached.
 */
static void
test_page_cache(void **state)
{
    fixture_t *f = *state;
    httpd_cache_stats_t s0, s1, s2;
    char etag[64], etag2[64], buf[128], line[128];
    reply_t a, b;

    atomic_store(&f->agg.ready, true);
    httpd_stats(f->h, &s0);
    http(f->port, "GET", "/", &a);
    assert_int_equal(a.status, 200);
    assert_non_null(header(&a, "ETag", etag, sizeof etag));
    assert_non_null(header(&a, "Cache-Control", buf, sizeof buf));
    assert_string_equal(buf, "no-cache");
    http(f->port, "GET", "/?lang=da", &b); /* the same page as "/" */
    assert_int_equal(b.status, 200);
    assert_int_equal(b.body_len, a.body_len);
    assert_memory_equal(b.body, a.body, a.body_len);
    assert_non_null(header(&b, "ETag", etag2, sizeof etag2));
    assert_string_equal(etag, etag2);
    reply_free(&b);
    httpd_stats(f->h, &s1);
    assert_int_equal(s1.misses - s0.misses, 1);
    assert_int_equal(s1.hits - s0.hits, 1);

    /* The browser's copy is current. */
    snprintf(line, sizeof line, "If-None-Match: %s", etag);
    http_with(f->port, "/", line, &b);
    assert_int_equal(b.status, 304);
    assert_int_equal(b.body_len, 0);
    reply_free(&b);
    http_with(f->port, "/", "If-None-Match: \"0000000000000000\"", &b);
    assert_int_equal(b.status, 200);
    assert_int_equal(b.body_len, a.body_len);
    reply_free(&b);

    /* English is another page. */
    http(f->port, "GET", "/?lang=en", &b);
    assert_int_equal(b.status, 200);
    assert_non_null(strstr(b.body, "<html lang=\"en\">"));
    reply_free(&b);

    /* A new generation: computed again, whatever the clock. */
    httpd_stats(f->h, &s1);
    new_generation(f, "a9");
    http(f->port, "GET", "/", &b);
    assert_int_equal(b.status, 200);
    reply_free(&b);
    httpd_stats(f->h, &s2);
    assert_int_equal(s2.misses - s1.misses, 1);
    assert_int_equal(s2.hits, s1.hits);
    /* ... and only the new generation is held. */
    assert_int_equal(s2.entries, 1);

    /*
     * The completeness counts every page needs are computed once per model:
     * "/" of the new generation did, /collectors reuses them; the next
     * generation computes them again, once.
     */
    uint64_t passes = httpd_completeness_passes(f->h);
    assert_true(passes >= 1);
    for (int i = 0; i < 2; i++) {
        http(f->port, "GET", "/collectors", &b);
        assert_int_equal(b.status, 200);
        reply_free(&b);
    }
    assert_int_equal(httpd_completeness_passes(f->h), passes);
    new_generation(f, "a10");
    http(f->port, "GET", "/", &b); /* waits for the warming of the new overview, if any */
    reply_free(&b);
    uint64_t passes2 = httpd_completeness_passes(f->h);
    assert_true(passes2 > passes);
    for (int i = 0; i < 2; i++) {
        http(f->port, "GET", "/collectors", &b);
        reply_free(&b);
    }
    assert_int_equal(httpd_completeness_passes(f->h), passes2);
    httpd_stats(f->h, &s2);

    /* Computed per request, never cached: the collectors, health, status. */
    http(f->port, "GET", "/collectors", &b);
    assert_int_equal(b.status, 200);
    assert_non_null(header(&b, "Cache-Control", buf, sizeof buf));
    assert_string_equal(buf, "no-store");
    assert_null(header(&b, "ETag", buf, sizeof buf));
    reply_free(&b);
    http(f->port, "GET", "/healthz", &b);
    assert_non_null(header(&b, "Cache-Control", buf, sizeof buf));
    assert_string_equal(buf, "no-store");
    reply_free(&b);
    httpd_stats(f->h, &s1);
    assert_int_equal(s1.misses, s2.misses);
    assert_int_equal(s1.hits, s2.hits);
    reply_free(&a);
}

/* Graphs: cached until the RRD file they are drawn from is replaced. */
static void
test_graph_cache(void **state)
{
    fixture_t *f = *state;
    char rrd_dir[128], e1[64], e2[64];
    kpi_records_t recs = {0};
    httpd_cache_stats_t s0, s1;
    store_t *st;
    reply_t a, b;

    st = store_new(f->dir, true);
    assert_non_null(st);
    assert_int_equal(store_load(st, f->conf, PSY_TIME_NONE, &recs), 0);
    store_destroy(&st);
    snprintf(rrd_dir, sizeof rrd_dir, "%s/rrd", f->dir);
    assert_int_equal(series_rebuild(rrd_dir, f->conf, &recs, psy_time_now(), NULL, 0), 0);

    httpd_stats(f->h, &s0);
    http(f->port, "GET", "/graph/pc-a.png?what=beds", &a);
    assert_int_equal(a.status, 200);
    http(f->port, "GET", "/graph/pc-a.png?what=beds", &b);
    assert_int_equal(b.status, 200);
    assert_int_equal(a.body_len, b.body_len);
    assert_memory_equal(a.body, b.body, a.body_len);
    assert_non_null(header(&a, "ETag", e1, sizeof e1));
    assert_non_null(header(&b, "ETag", e2, sizeof e2));
    assert_string_equal(e1, e2);
    reply_free(&b);
    httpd_stats(f->h, &s1);
    assert_int_equal(s1.misses - s0.misses, 1);
    assert_int_equal(s1.hits - s0.hits, 1);

    /* The writer replaces the files: drawn again. */
    assert_int_equal(series_rebuild(rrd_dir, f->conf, &recs, psy_time_now(), NULL, 0), 0);
    kpi_records_free(&recs);
    http(f->port, "GET", "/graph/pc-a.png?what=beds", &b);
    assert_int_equal(b.status, 200);
    assert_memory_equal(b.body, "\x89PNG", 4);
    reply_free(&b);
    httpd_stats(f->h, &s0);
    assert_int_equal(s0.misses - s1.misses, 1);
    reply_free(&a);
}

/* Two requests on one connection: both answered, the first without closing it. */
static void
test_keep_alive(void **state)
{
    fixture_t *f = *state;
    static const char two[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    reply_t r;

    atomic_store(&f->agg.ready, true);
    http_raw(f->port, two, sizeof two - 1, &r);
    assert_int_equal(r.status, 200);
    assert_null(strcasestr(r.head, "Connection: close"));
    /* The second reply follows the first's body on the same connection. */
    assert_true(strncmp(r.body, "ok\nHTTP/1.1 200", 15) == 0);
    assert_non_null(strstr(r.body, "<html lang=\"da\">"));
    reply_free(&r);
}

/* Holds every page or graph computation until released. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, root;
    bool release;
} hold_t;

static void
hold_hook(void *ctx, const char *key)
{
    hold_t *h = ctx;

    pthread_mutex_lock(&h->lock);
    h->entered++;
    if (strncmp(key, "/?", 2) == 0)
        h->root++;
    pthread_cond_broadcast(&h->cond);
    while (!h->release)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

typedef struct {
    int port;
    const char *target;
    reply_t r;
} getter_t;

static void *
getter_main(void *p)
{
    getter_t *g = p;

    http(g->port, "GET", g->target, &g->r);
    return NULL;
}

/*
 * While a page is being computed (held here for as long as the test
 * likes), /healthz, /metrics and the status API answer; a second request
 * for the same page waits for that computation instead of starting its
 * own, and both get the same bytes.
 */
static void
test_healthz_during_render(void **state)
{
    fixture_t *f = *state;
    hold_t hold = {.release = false};
    getter_t a = {.port = f->port, .target = "/"}, b = {.port = f->port, .target = "/"};
    httpd_cache_stats_t st;
    pthread_t ta, tb;
    reply_t r;

    atomic_store(&f->agg.ready, true);
    pthread_mutex_init(&hold.lock, NULL);
    pthread_cond_init(&hold.cond, NULL);
    httpd_set_render_hook(f->h, hold_hook, &hold);
    assert_int_equal(pthread_create(&ta, NULL, getter_main, &a), 0);
    pthread_mutex_lock(&hold.lock);
    while (hold.entered == 0)
        pthread_cond_wait(&hold.cond, &hold.lock);
    pthread_mutex_unlock(&hold.lock);

    /* The page is being computed, and stays so until released below. */
    http(f->port, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    http(f->port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "psymon_http_cache_misses_total "));
    reply_free(&r);
    http(f->port, "GET", "/api/v1/status", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);

    /* The same page again: it waits for the computation under way. */
    httpd_stats(f->h, &st);
    uint64_t waits = st.waits;
    assert_int_equal(pthread_create(&tb, NULL, getter_main, &b), 0);
    for (int i = 0; i < 6000 && st.waits == waits; i++) {
        usleep(10 * 1000);
        httpd_stats(f->h, &st);
    }
    assert_true(st.waits > waits);
    pthread_mutex_lock(&hold.lock);
    assert_int_equal(hold.entered, 1);
    hold.release = true;
    pthread_cond_broadcast(&hold.cond);
    pthread_mutex_unlock(&hold.lock);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.r.status, 200);
    assert_int_equal(b.r.status, 200);
    assert_int_equal(a.r.body_len, b.r.body_len);
    assert_memory_equal(a.r.body, b.r.body, a.r.body_len);
    assert_int_equal(hold.root, 1);
    httpd_set_render_hook(f->h, NULL, NULL);
    reply_free(&a.r);
    reply_free(&b.r);
    pthread_cond_destroy(&hold.cond);
    pthread_mutex_destroy(&hold.lock);
}

/*
 * An answer due for a refresh (here: a time to live of 0) is served from
 * before at once, and computed again on a thread of its own.
 */
static void
test_refresh_in_background(void **state)
{
    fixture_t *f = *state;
    hold_t hold = {.release = true};
    char e1[64], e2[64];
    reply_t a, b;

    atomic_store(&f->agg.ready, true);
    pthread_mutex_init(&hold.lock, NULL);
    pthread_cond_init(&hold.cond, NULL);
    httpd_set_render_hook(f->h, hold_hook, &hold);
    httpd_set_cache_ttl(f->h, 0);
    http(f->port, "GET", "/", &a); /* computed */
    assert_int_equal(a.status, 200);
    pthread_mutex_lock(&hold.lock);
    assert_int_equal(hold.root, 1);
    /* From now on the next computation is held until released. */
    hold.release = false;
    pthread_mutex_unlock(&hold.lock);
    http(f->port, "GET", "/", &b); /* due: the old bytes, while the refresh is held */
    assert_int_equal(b.status, 200);
    assert_non_null(header(&a, "ETag", e1, sizeof e1));
    assert_non_null(header(&b, "ETag", e2, sizeof e2));
    assert_string_equal(e1, e2);
    assert_int_equal(a.body_len, b.body_len);
    pthread_mutex_lock(&hold.lock);
    while (hold.root < 2)
        pthread_cond_wait(&hold.cond, &hold.lock);
    hold.release = true;
    pthread_cond_broadcast(&hold.cond);
    pthread_mutex_unlock(&hold.lock);
    reply_free(&a);
    reply_free(&b);
    /* Teardown waits for the refresh thread; then the hook may go. */
    httpd_destroy(&f->h);
    pthread_cond_destroy(&hold.cond);
    pthread_mutex_destroy(&hold.lock);
}

/* The model sink computes the overview before anyone asks: the first visitor hits. */
static void
test_publish_warms(void **state)
{
    fixture_t *f = *state;
    const agg_model_t *m = model_current(f->model);
    httpd_cache_stats_t st;
    reply_t r;

    atomic_store(&f->agg.ready, true);
    assert_non_null(m);
    httpd_publish(f->h, m);
    model_unref(&m);
    httpd_stats(f->h, &st);
    for (int i = 0; i < 6000 && st.entries == 0; i++) {
        usleep(10 * 1000);
        httpd_stats(f->h, &st);
    }
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.misses, 1);
    http(f->port, "GET", "/", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    httpd_stats(f->h, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    /* Once stopped, the sink does nothing; the server stays valid until destroyed. */
    httpd_stop(f->h);
    m = model_current(f->model);
    httpd_publish(f->h, m);
    model_unref(&m);
    httpd_stats(f->h, &st);
    assert_int_equal(st.misses, 1);
}

/* Many clients at once, on pages, graphs' absence, health and metrics: every answer right. */
#define CLIENTS 16
#define ROUNDS  6

typedef struct {
    int port;
    int i;
    int bad;
} client_t;

static void *
client_main(void *p)
{
    static const char *const targets[] = {"/",         "/healthz",      "/metrics", "/center/pc-a",
                                          "/?lang=en", "/api/v1/status"};
    client_t *c = p;

    for (int k = 0; k < ROUNDS; k++) {
        reply_t r;
        http(c->port, "GET", targets[(c->i + k) % 6], &r);
        if (r.status != 200)
            c->bad++;
        reply_free(&r);
    }
    return NULL;
}

static void
test_concurrent_requests(void **state)
{
    fixture_t *f = *state;
    client_t c[CLIENTS];
    pthread_t t[CLIENTS];
    httpd_cache_stats_t st;

    atomic_store(&f->agg.ready, true);
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client_t){.port = f->port, .i = i};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].bad, 0);
    }
    /* Three pages, each computed once: every other request for them was a hit. */
    httpd_stats(f->h, &st);
    assert_int_equal(st.entries, 4); /* the three pages and the /metrics KPI rows */
    assert_int_equal(st.misses, 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_and_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kpi_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spc_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz_during_render, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_in_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_warms, setup, teardown),
    };

    if (psy_tz_set("UTC") != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}

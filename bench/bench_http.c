/*
 * bench_http: how fast the dashboard answers at two million records.
 *
 *   bench_http [RECORDS] [DATA_DIR] [CLIENTS] [SECONDS]
 *
 * Fills DATA_DIR (default /tmp/bench_http) with about RECORDS registrations
 * (default 2,000,000) of 8 centers over the ten years before today, once:
 * a later run with the same folder and count reuses the store. Then it runs
 * the aggregator's own model worker (with the RRD, alert and HTTP sinks, as
 * psymon-aggregator does), alert engine and HTTP server in this process and
 * asks them over TCP on 127.0.0.1, printing in milliseconds:
 *   - the overview `/`, the SPC page `/kpi/readmission_rate_30d`, a center
 *     page, two graphs, /metrics, /healthz, /collectors, one connection
 *     per request: first request (computed) and warm (cached)
 *     min/median/max;
 *   - CLIENTS (default 50) clients at once, each asking in turn for `/` and
 *     the graph for SECONDS (default 10), on kept-alive connections and
 *     with a new connection per request; then for five answers:
 *     p50/p90/p99/max latency, errors, and the cache's counters;
 *   - /healthz asked every 5 ms while a new generation is built and `/` and
 *     the graph are computed again: p50/p99/max.
 * Numbers only; nothing here is a test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "alert_worker.h"
#include "httpd.h"
#include "model.h"
#include "series.h"
#include "store.h"

#define NCENTERS 8

static uint64_t rng = 42;

static uint64_t
rnd(void)
{
    uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- The store: bench_kpi's region, moved to end two days before today ---------------- */

typedef struct {
    store_t *st;
    psy_record_t *buf[NCENTERS];
    size_t nbuf[NCENTERS];
    uint64_t seq[NCENTERS];
    size_t stored;
    psy_time_t cutoff;
    const psy_agg_conf_t *conf;
} filler_t;

static int
flush(filler_t *f, int c)
{
    psy_batch_t b = {{0}, f->seq[c], f->nbuf[c], f->buf[c]};
    uint64_t acked;
    int r;

    if (f->nbuf[c] == 0)
        return 0;
    memset(b.epoch, c + 1, sizeof(b.epoch));
    r = store_apply_batch(f->st, f->conf->centers[c].id, &b, psy_time_now(), &acked);
    f->seq[c] += f->nbuf[c];
    f->stored += f->nbuf[c];
    f->nbuf[c] = 0;
    return r;
}

/* Records dated after the cutoff are left out: none may be in the future. */
static int
push(filler_t *f, int c, const psy_record_t *r)
{
    if (r->time > f->cutoff || (r->end != PSY_TIME_NONE && r->end > f->cutoff))
        return 0;
    f->buf[c][f->nbuf[c]++] = *r;
    return f->nbuf[c] == PSY_BATCH_MAX ? flush(f, c) : 0;
}

static int
generate(filler_t *f, size_t want)
{
    psy_time_t span = (psy_time_t)3650 * PSY_DAY;
    psy_time_t lo = f->cutoff - span;
    unsigned long id = 0;
    int r = 0;

    for (uint32_t p = 0; r == 0 && f->stored + NCENTERS * PSY_BATCH_MAX / 2 < want; p++) {
        psy_record_t rec;
        psy_time_t t = lo + (psy_time_t)(rnd() % (uint64_t)span);
        int nc = 1 + (int)(rnd() % 5);
        int home = (int)(rnd() % NCENTERS);

        for (int k = 0; r == 0 && k < nc && t < lo + span; k++) {
            int center = rnd() % 10 ? home : (int)(rnd() % NCENTERS);
            psy_time_t dur = (psy_time_t)(rnd() % (uint64_t)(30 * PSY_DAY));
            char cid[PSY_ID_MAX + 1];

            psy_record_init(&rec);
            rec.type = PSY_REC_ADMISSION;
            snprintf(rec.id, sizeof(rec.id), "A%lu", ++id);
            snprintf(rec.contact, sizeof(rec.contact), "%s", rec.id);
            snprintf(cid, sizeof(cid), "%s", rec.id);
            rec.time = t;
            rec.has_patient = true;
            memset(rec.patient, 0, sizeof(rec.patient));
            memcpy(rec.patient, &p, sizeof(p));
            rec.patient[31] = 0xa5;
            rec.mode = rnd() % 3 ? PSY_MODE_ACUTE : PSY_MODE_PLANNED;
            rec.legal = rnd() % 5 ? PSY_LEGAL_VOLUNTARY : PSY_LEGAL_INVOLUNTARY_RED;
            r = push(f, center, &rec);
            for (int c = (int)(rnd() % 4) - 2; r == 0 && c > 0; c--) {
                psy_record_t co = rec;

                co.type = PSY_REC_COERCION;
                snprintf(co.id, sizeof(co.id), "C%lu", ++id);
                co.time = t + (psy_time_t)(rnd() % (uint64_t)(dur + 1));
                co.coercion = (psy_coercion_t)(1 + rnd() % 5);
                co.end = co.coercion == PSY_COERCION_BELT
                             ? co.time + (psy_time_t)(rnd() % (uint64_t)(40 * PSY_HOUR))
                             : PSY_TIME_NONE;
                co.mode = PSY_MODE_NONE;
                co.legal = PSY_LEGAL_NONE;
                r = push(f, center, &co);
            }
            if (r == 0 && rnd() % 3 == 0) {
                psy_record_t cs = rec;

                cs.type = PSY_REC_CONSULTATION;
                snprintf(cs.id, sizeof(cs.id), "S%lu", ++id);
                cs.contact[0] = '\0';
                cs.mode = PSY_MODE_NONE;
                cs.legal = PSY_LEGAL_NONE;
                cs.role = (psy_role_t)(1 + rnd() % 3);
                cs.consult = (psy_consult_t)(1 + rnd() % 6);
                r = push(f, center, &cs);
            }
            rec.type = PSY_REC_DISCHARGE;
            snprintf(rec.id, sizeof(rec.id), "D%lu", ++id);
            snprintf(rec.contact, sizeof(rec.contact), "%s", cid);
            rec.time = t + dur;
            rec.mode = PSY_MODE_NONE;
            rec.legal = PSY_LEGAL_NONE;
            rec.outcome = rnd() % 8 ? PSY_OUTCOME_REGULAR : PSY_OUTCOME_SELF_DISCHARGE;
            if (r == 0)
                r = push(f, center, &rec);
            t += dur + (psy_time_t)(rnd() % (uint64_t)(200 * PSY_DAY));
        }
        if (r == 0 && rnd() % 10 == 0) {
            char rid[PSY_ID_MAX + 1];

            psy_record_init(&rec);
            rec.type = PSY_REC_REFERRAL;
            snprintf(rec.id, sizeof(rec.id), "R%lu", ++id);
            rec.time = t;
            rec.has_patient = true;
            memcpy(rec.patient, &p, sizeof(p));
            r = push(f, home, &rec);
            snprintf(rid, sizeof(rid), "%s", rec.id);
            rec.type = PSY_REC_TREATMENT_START;
            snprintf(rec.id, sizeof(rec.id), "T%lu", ++id);
            snprintf(rec.referral, sizeof(rec.referral), "%s", rid);
            rec.time = t + (psy_time_t)(rnd() % (uint64_t)(90 * PSY_DAY));
            if (r == 0)
                r = push(f, home, &rec);
        }
    }
    for (int c = 0; r == 0 && c < NCENTERS; c++)
        r = flush(f, c);
    return r;
}

/* Fills dir unless a previous run left `want` records there (its marker file says so). */
static int
fill_store(const char *dir, const psy_agg_conf_t *conf, size_t want)
{
    char marker[PSY_PATH_MAX + 32];
    filler_t f = {.conf = conf, .cutoff = psy_time_now() - 2 * PSY_DAY};
    FILE *m;
    size_t had = 0;
    int r = -ENOMEM;

    snprintf(marker, sizeof(marker), "%s/bench_http.count", dir);
    if ((m = fopen(marker, "r")) != NULL) {
        if (fscanf(m, "%zu", &had) != 1)
            had = 0;
        fclose(m);
        if (had == want) {
            printf("%-48s reusing %s (%zu records asked for)\n", "store", dir, want);
            return 0;
        }
        fprintf(stderr, "bench_http: %s holds another count; use an empty folder\n", dir);
        return -EEXIST;
    }
    mkdir(dir, 0750);
    f.st = store_new(dir, false);
    for (int c = 0; c < NCENTERS; c++) {
        f.seq[c] = 1;
        f.buf[c] = malloc(PSY_BATCH_MAX * sizeof(psy_record_t));
        if (!f.buf[c])
            goto out;
    }
    if (!f.st) {
        r = -errno;
        goto out;
    }
    double t0 = now_ms();
    r = generate(&f, want);
    if (r < 0)
        goto out;
    printf("%-48s %9.1f ms  (%zu records)\n", "generating and storing", now_ms() - t0, f.stored);
    if ((m = fopen(marker, "w")) != NULL) {
        fprintf(m, "%zu\n", want);
        fclose(m);
    }
out:
    for (int c = 0; c < NCENTERS; c++)
        free(f.buf[c]);
    store_destroy(&f.st);
    return r;
}

/* ---- A tiny HTTP client: one connection per request ----------------------------------- */

static int port;

/* GETs target; returns the status (0 on a failure to talk) and the wall time in *ret_ms. */
static int
get(const char *target, double *ret_ms, size_t *ret_bytes)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 60};
    char req[512], buf[65536];
    size_t len = 0;
    int fd, status = 0, n;
    double t0 = now_ms();

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
                 target);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        for (;;) {
            ssize_t k = recv(fd, buf, sizeof(buf) - 1, 0);
            if (k <= 0)
                break;
            if (len == 0) {
                buf[k] = '\0';
                if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
                    status = 0;
            }
            len += (size_t)k;
        }
    }
    close(fd);
    *ret_ms = now_ms() - t0;
    if (ret_bytes)
        *ret_bytes = len;
    return status;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
pct(double *v, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

    return n ? v[i < n ? i : n - 1] : 0;
}

/* First request, then `warm` more: prints both. */
static void
first_and_warm(const char *target, int warm)
{
    double ms, first, v[64];
    size_t bytes = 0;
    int st = get(target, &first, &bytes), bad = 0;

    for (int i = 0; i < warm; i++)
        if (get(target, &v[i], NULL) != 200)
            bad++;
    qsort(v, (size_t)warm, sizeof(v[0]), cmp_double);
    ms = pct(v, (size_t)warm, 50);
    printf("%-48s first %8.1f ms (status %d, %zu bytes); warm min %.2f median %.2f max %.2f "
           "ms%s\n",
           target, first, st, bytes, v[0], ms, v[warm - 1], bad ? " ERRORS" : "");
}

/* ---- Many clients at once -------------------------------------------------------------- */

static int
ka_connect(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 60};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * GETs target on a kept-alive connection *fd (opened when -1, closed on
 * any trouble), as a browser does: reads the headers, then Content-Length
 * bytes. Returns the status, 0 on a failure to talk.
 */
static int
ka_get(int *fd, const char *target, double *ret_ms)
{
    static __thread char buf[1 << 20];
    char req[512];
    size_t len = 0, need = 0;
    int n, status = 0;
    double t0 = now_ms();
    char *end = NULL;

    if (*fd < 0 && (*fd = ka_connect()) < 0)
        goto fail;
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: b\r\n\r\n", target);
    if (send(*fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto fail;
    for (;;) {
        ssize_t k = recv(*fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (k <= 0)
            goto fail;
        len += (size_t)k;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !cl || cl > end)
                goto fail;
            need = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
            if (need >= sizeof(buf))
                goto fail;
        }
        if (end && len >= need)
            break;
    }
    *ret_ms = now_ms() - t0;
    return status;
fail:
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    *ret_ms = now_ms() - t0;
    return 0;
}

typedef struct {
    bool keepalive;
    int i;
    double until;
    const char *const *targets;
    size_t ntargets;
    double *lat;
    size_t n, cap;
    size_t errors;
} client_t;

static void *
client_main(void *p)
{
    client_t *c = p;
    int fd = -1;

    for (size_t k = (size_t)c->i; now_ms() < c->until; k++) {
        double ms;
        int st = c->keepalive ? ka_get(&fd, c->targets[k % c->ntargets], &ms)
                              : get(c->targets[k % c->ntargets], &ms, NULL);
        if (st != 200)
            c->errors++;
        if (c->n == c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 1024;
            double *g = realloc(c->lat, cap * sizeof(*g));
            if (!g)
                break;
            c->lat = g;
            c->cap = cap;
        }
        c->lat[c->n++] = ms;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void
load(int nclients, double seconds, const char *const *targets, size_t ntargets, bool keepalive)
{
    client_t *c = calloc((size_t)nclients, sizeof(*c));
    pthread_t *t = calloc((size_t)nclients, sizeof(*t));
    double t0 = now_ms(), *all;
    size_t n = 0, errors = 0;

    if (!c || !t)
        return;
    for (int i = 0; i < nclients; i++) {
        c[i] = (client_t){.keepalive = keepalive,
                          .i = i,
                          .until = t0 + seconds * 1e3,
                          .targets = targets,
                          .ntargets = ntargets};
        pthread_create(&t[i], NULL, client_main, &c[i]);
    }
    for (int i = 0; i < nclients; i++) {
        pthread_join(t[i], NULL);
        n += c[i].n;
        errors += c[i].errors;
    }
    all = malloc((n + 1) * sizeof(*all));
    n = 0;
    for (int i = 0; all && i < nclients; i++) {
        memcpy(all + n, c[i].lat, c[i].n * sizeof(*all));
        n += c[i].n;
        free(c[i].lat);
    }
    qsort(all, n, sizeof(*all), cmp_double);
    printf("%d clients, %s, %.0f s, %zu targets: %zu requests (%.0f/s), p50 %.2f p90 %.2f p99 "
           "%.2f max %.2f ms, errors %zu\n",
           nclients, keepalive ? "keep-alive" : "a connection per request", seconds, ntargets, n,
           (double)n / ((now_ms() - t0) / 1e3), pct(all, n, 50), pct(all, n, 90), pct(all, n, 99),
           n ? all[n - 1] : 0, errors);
    free(all);
    free(c);
    free(t);
}

/* ---- /healthz while a new generation is built and computed ----------------------------- */

typedef struct {
    atomic_bool stop;
    double lat[200000];
    size_t n, errors;
} prober_t;

static void *
prober_main(void *p)
{
    prober_t *pr = p;

    while (!atomic_load(&pr->stop) && pr->n < sizeof(pr->lat) / sizeof(pr->lat[0])) {
        double ms;
        if (get("/healthz", &ms, NULL) != 200)
            pr->errors++;
        pr->lat[pr->n++] = ms;
        usleep(5000);
    }
    return NULL;
}

static uint64_t
alerts_hash(alert_worker_t *w)
{
    char *json = alert_worker_api_json(w);
    uint64_t h = 1469598103934665603ULL;

    for (const char *p = json; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    free(json);
    return h;
}

/* The cache's counters, and whether the alerts changed since the last call (a new page state). */
static void
stats(httpd_t *h, alert_worker_t *w, const char *when)
{
    static uint64_t last;
    uint64_t a = alerts_hash(w);
    httpd_cache_stats_t cs;

    httpd_stats(h, &cs);
    printf("  cache %s: %llu hits, %llu misses, %llu waits; alerts %s\n", when,
           (unsigned long long)cs.hits, (unsigned long long)cs.misses, (unsigned long long)cs.waits,
           last == 0   ? "-"
           : a == last ? "unchanged"
                       : "CHANGED");
    last = a;
}

static void
conf_init(psy_agg_conf_t *c, const char *dir)
{
    memset(c, 0, sizeof(*c));
    c->ncenters = NCENTERS;
    for (int i = 0; i < NCENTERS; i++) {
        snprintf(c->centers[i].id, sizeof(c->centers[i].id), "pc-%d", i);
        snprintf(c->centers[i].name, sizeof(c->centers[i].name), "Psykiatrisk Center %d", i);
        c->centers[i].population.count = 1;
        c->centers[i].population.years[0] = (psy_population_t){2016, 230000};
    }
    snprintf(c->region_name, sizeof(c->region_name), "Region Bench");
    snprintf(c->data_dir, sizeof(c->data_dir), "%s", dir);
    snprintf(c->http_listen, sizeof(c->http_listen), "127.0.0.1:0");
    snprintf(c->timezone, sizeof(c->timezone), "Europe/Copenhagen");
    c->target_pct = 30;
    c->nbaseline = 3;
    c->baseline_years[0] = 2021;
    c->baseline_years[1] = 2022;
    c->baseline_years[2] = 2023;
    c->first_year = 2024;
    c->first_month = 1;
    c->last_year = 2030;
    c->last_month = 12;
}

int
main(int argc, char **argv)
{
    size_t want = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    const char *dir = argc > 2 ? argv[2] : "/tmp/bench_http";
    int nclients = argc > 3 ? atoi(argv[3]) : 50;
    double seconds = argc > 4 ? atof(argv[4]) : 10;
    static const char *const mixed[] = {"/", "/graph/region.png?what=rate"};
    static const char *const pages[] = {"/", "/kpi/readmission_rate_30d", "/center/pc-1",
                                        "/graph/region.png?what=rate", "/graph/pc-1.png"};
    psy_agg_conf_t *conf = calloc(1, sizeof(*conf));
    agg_t agg;
    model_t *model = NULL;
    series_t *series = NULL;
    alert_worker_t *alerts = NULL;
    httpd_t *h = NULL;
    httpd_cache_stats_t cs;
    prober_t *pr = calloc(1, sizeof(*pr));
    pthread_t pt;
    double t0, ms;
    uint64_t gen;
    int r;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!conf || !pr || psy_tz_set("Europe/Copenhagen") < 0) {
        fprintf(stderr, "bench_http: no memory or no zone Europe/Copenhagen\n");
        return 1;
    }
    conf_init(conf, dir);
    if ((r = fill_store(dir, conf, want)) < 0) {
        fprintf(stderr, "bench_http: %s\n", strerror(-r));
        return 1;
    }
    if ((r = agg_init(&agg, conf, NULL)) < 0) {
        fprintf(stderr, "bench_http: %s\n", strerror(-r));
        return 1;
    }
    alerts = alert_worker_new(&agg);
    series = series_new(&agg);
    model = model_new(&agg);
    if (!alerts || !series || !model) {
        fprintf(stderr, "bench_http: cannot start the workers: %s\n", strerror(errno));
        return 1;
    }
    model_add_sink(model, &(model_sink_t){"rrd", series_publish, series});
    model_add_sink(model, &(model_sink_t){"alerts", alert_worker_publish, alerts});
    agg.alerts = alerts;
    t0 = now_ms();
    agg_data_changed(&agg);
    if (model_wait(model, 1, 600000) < 0) {
        fprintf(stderr, "bench_http: no model within 10 minutes\n");
        return 1;
    }
    {
        const agg_model_t *m = model_current(model);
        printf("%-48s %9.1f ms  (%zu records)\n", "first model (load + prepare)", now_ms() - t0,
               m ? m->nrecords : 0);
        model_unref(&m);
    }
    h = httpd_new(&agg, model);
    if (!h) {
        fprintf(stderr, "bench_http: cannot serve: %s\n", strerror(errno));
        return 1;
    }
    model_add_sink(model, &(model_sink_t){"http", httpd_publish, h});
    port = httpd_port(h);
    atomic_store(&agg.ready, true);
    /* The RRD sink writes the files after the build; wait for the region's. */
    {
        char path[PSY_PATH_MAX + 32];
        struct stat st;
        snprintf(path, sizeof(path), "%s/rrd/region.rrd", dir);
        t0 = now_ms();
        while (stat(path, &st) != 0 && now_ms() - t0 < 120000)
            usleep(50000);
        printf("%-48s %9.1f ms after the model\n", "RRD files there", now_ms() - t0);
        sleep(1); /* let the sinks finish */
    }

    /*
     * No collector ever reported here, so CollectorSilent alerts fire and
     * their summaries count the minutes: the pages' soft stamp changes, and
     * one request computes the page again while the others get the bytes
     * before it (httpd_cache.h). The phases print whether that happened.
     */
    printf("\n-- one client --\n");
    first_and_warm("/", 20);
    first_and_warm("/?lang=en", 20);
    first_and_warm("/kpi/readmission_rate_30d", 20);
    first_and_warm("/center/pc-1", 20);
    first_and_warm("/graph/region.png?what=rate", 20);
    first_and_warm("/graph/pc-1.png", 20);
    first_and_warm("/metrics", 20);
    first_and_warm("/healthz", 20);
    first_and_warm("/collectors", 5);

    printf("\n-- %d clients at once --\n", nclients);
    stats(h, alerts, "before");
    load(nclients, seconds, mixed, 2, true);
    stats(h, alerts, "after");
    load(nclients, seconds, mixed, 2, false);
    stats(h, alerts, "after");
    load(nclients, seconds, pages, 5, true);
    stats(h, alerts, "after");

    printf("\n-- /healthz every 5 ms while a new generation is built and computed --\n");
    pthread_create(&pt, NULL, prober_main, pr);
    usleep(200000);
    {
        /* One more record: the worker loads and prepares everything again. */
        store_t *st = store_new(dir, false);
        psy_record_t rec;
        psy_batch_t b = {{0}, 1, 1, &rec};
        uint64_t acked;
        psy_record_init(&rec);
        rec.type = PSY_REC_REFERRAL;
        snprintf(rec.id, sizeof(rec.id), "bench-%lld", (long long)psy_time_now());
        rec.time = psy_time_now() - PSY_DAY;
        rec.has_patient = true;
        /* A new epoch each run, so that its sequence 1 is new too. */
        psy_time_t now = psy_time_now();
        memset(b.epoch, 0x77, sizeof(b.epoch));
        memcpy(b.epoch, &now, sizeof(now));
        if (!st || store_apply_batch(st, "pc-0", &b, psy_time_now(), &acked) < 0)
            fprintf(stderr, "bench_http: cannot store one more record\n");
        store_destroy(&st);
    }
    t0 = now_ms();
    agg_data_changed(&agg);
    gen = atomic_load(&agg.generation);
    model_wait(model, gen, 600000);
    printf("%-48s %9.1f ms\n", "new model (debounce 1 s + load + prepare)", now_ms() - t0);
    for (int i = 0; i < 2; i++) {
        get(mixed[i], &ms, NULL);
        printf("%-48s %9.1f ms (computed again)\n", mixed[i], ms);
    }
    usleep(200000);
    atomic_store(&pr->stop, true);
    pthread_join(pt, NULL);
    qsort(pr->lat, pr->n, sizeof(pr->lat[0]), cmp_double);
    printf("/healthz during it: %zu requests, p50 %.2f p99 %.2f max %.2f ms, errors %zu\n", pr->n,
           pct(pr->lat, pr->n, 50), pct(pr->lat, pr->n, 99), pr->n ? pr->lat[pr->n - 1] : 0,
           pr->errors);

    httpd_stats(h, &cs);
    printf("\ncache: %llu hits, %llu misses, %llu waits, %llu evictions, %zu entries, %zu bytes\n",
           (unsigned long long)cs.hits, (unsigned long long)cs.misses, (unsigned long long)cs.waits,
           (unsigned long long)cs.evictions, cs.entries, cs.bytes);
    httpd_stop(h);
    model_destroy(&model);
    httpd_destroy(&h);
    alert_worker_destroy(&alerts);
    series_destroy(&series);
    agg_fini(&agg);
    free(pr);
    return 0;
}

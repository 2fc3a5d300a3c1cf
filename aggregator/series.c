/*
 * series: RRD files rebuilt from the records, and graphs drawn from them.
 * See series.h.
 */
#include "series.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rrd.h>

#include "psymon/record.h"
#include "store.h"

/*
 * librrd keeps its error text per thread, but its graphing code is not
 * thread-safe, and nothing says create and update may run beside it: every
 * call into librrd in this process goes through this lock.
 */
static pthread_mutex_t series_rrd_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const series_ds_names[SERIES_DS__COUNT] = {
    [SERIES_DS_ADMISSIONS] = "adm", [SERIES_DS_DISCHARGES] = "dis",  [SERIES_DS_COERCION] = "coerc",
    [SERIES_DS_BELT] = "belt",      [SERIES_DS_RESTRAINT] = "restr", [SERIES_DS_SEDATIVE] = "sedat",
};

const char *
series_ds_name(int i)
{
    if (i < 0 || i >= SERIES_DS__COUNT)
        return NULL;
    return series_ds_names[i];
}

struct series {
    agg_t *agg;
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop */
    pthread_cond_t cond;
    bool stop;
};

static void
series_set_err(char *err, size_t errsz, const char *what, const char *path)
{
    const char *msg = rrd_test_error() ? rrd_get_error() : "unknown error";

    if (err && errsz > 0)
        snprintf(err, errsz, "%s %s: %s", what, path, msg);
}

/* The data sources a record counts in: none, one, or all coercion plus its kind. */
static void
series_classify(const psy_record_t *r, int ret_ds[2], int *ret_n)
{
    int n = 0;

    switch (r->type) {
    case PSY_REC_ADMISSION:
        ret_ds[n++] = SERIES_DS_ADMISSIONS;
        break;
    case PSY_REC_DISCHARGE:
        ret_ds[n++] = SERIES_DS_DISCHARGES;
        break;
    case PSY_REC_COERCION:
        /* A voluntary belt fixation is not coercion (kpis.md). */
        if (r->coercion == PSY_COERCION_BELT && r->voluntary)
            break;
        ret_ds[n++] = SERIES_DS_COERCION;
        if (r->coercion == PSY_COERCION_BELT)
            ret_ds[n++] = SERIES_DS_BELT;
        else if (r->coercion == PSY_COERCION_PHYSICAL_RESTRAINT)
            ret_ds[n++] = SERIES_DS_RESTRAINT;
        else if (r->coercion == PSY_COERCION_SEDATIVE_MEDICATION)
            ret_ds[n++] = SERIES_DS_SEDATIVE;
        break;
    default:
        break;
    }
    *ret_n = n;
}

/*
 * Writes one file from counts[day][ds]: created at the epoch, then one
 * update per day dated at the day's end, so that the step ending at
 * midnight UTC holds the day before it.
 */
static int
series_write_file(const char *path, const uint32_t *counts, size_t ndays, char *err, size_t errsz)
{
    char tmp[PSY_PATH_MAX + 16];
    char ds[SERIES_DS__COUNT][64];
    char rra[64];
    const char *argv[SERIES_DS__COUNT + 1];
    char **upd = NULL;
    char *buf = NULL;
    int r = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    for (int i = 0; i < SERIES_DS__COUNT; i++) {
        snprintf(ds[i], sizeof(ds[i]), "DS:%s:GAUGE:172800:0:U", series_ds_names[i]);
        argv[i] = ds[i];
    }
    snprintf(rra, sizeof(rra), "RRA:AVERAGE:0.5:1:%d", SERIES_ROWS);
    argv[SERIES_DS__COUNT] = rra;

    /* Each line: "<time>:<n>:<n>:..." with at most 11 + 6 * 11 bytes. */
    enum { LINE = 96 };
    if (ndays > 0) {
        upd = calloc(ndays, sizeof(*upd));
        buf = malloc(ndays * LINE);
        if (!upd || !buf) {
            r = -ENOMEM;
            goto out;
        }
        for (size_t d = 0; d < ndays; d++) {
            char *p = buf + d * LINE;
            const uint32_t *c = counts + d * SERIES_DS__COUNT;
            snprintf(p, LINE, "%lld:%u:%u:%u:%u:%u:%u",
                     (long long)(SERIES_EPOCH_S + (int64_t)(d + 1) * 86400), c[0], c[1], c[2], c[3],
                     c[4], c[5]);
            upd[d] = p;
        }
    }

    (void)unlink(tmp);
    pthread_mutex_lock(&series_rrd_lock);
    rrd_clear_error();
    if (rrd_create_r(tmp, 86400, (time_t)SERIES_EPOCH_S, SERIES_DS__COUNT + 1, argv) != 0) {
        series_set_err(err, errsz, "rrd_create", tmp);
        r = -EIO;
    } else if (ndays > 0) {
        /* librrd takes int argc; ndays is bounded by the calendar, far below INT_MAX. */
        rrd_clear_error();
        if (rrd_update_r(tmp, NULL, (int)ndays, (const char **)upd) != 0) {
            series_set_err(err, errsz, "rrd_update", tmp);
            r = -EIO;
        }
    }
    pthread_mutex_unlock(&series_rrd_lock);
    if (r == 0 && rename(tmp, path) != 0)
        r = -errno;
    if (r < 0)
        (void)unlink(tmp);
out:
    free(upd);
    free(buf);
    return r;
}

int
series_rebuild(const char *rrd_dir, const psy_agg_conf_t *conf, const kpi_records_t *recs,
               psy_time_t now, char *err, size_t errsz)
{
    int64_t today = now / PSY_USEC;
    size_t ndays, nlevels;
    uint32_t *counts = NULL;
    int r = 0;

    if (!rrd_dir || !conf || !recs || now == PSY_TIME_NONE)
        return -EINVAL;
    if (mkdir(rrd_dir, 0750) != 0 && errno != EEXIST)
        return -errno;

    today -= ((today % 86400) + 86400) % 86400;
    ndays = today > SERIES_EPOCH_S ? (size_t)((today - SERIES_EPOCH_S) / 86400) : 0;
    /* Level ncenters is the region. */
    nlevels = conf->ncenters + 1;
    if (ndays > 0) {
        counts = calloc(nlevels * ndays * SERIES_DS__COUNT, sizeof(*counts));
        if (!counts)
            return -ENOMEM;
    }

    for (size_t i = 0; i < recs->count; i++) {
        const kpi_record_t *kr = &recs->items[i];
        int64_t t;
        size_t day;
        int dsv[2], nds;

        if (kr->center >= conf->ncenters || kr->rec.is_void || kr->rec.time == PSY_TIME_NONE)
            continue;
        t = kr->rec.time / PSY_USEC;
        if (kr->rec.time < 0 && kr->rec.time % PSY_USEC != 0)
            t--;
        /* Only complete days: nothing at or after the start of today. */
        if (t < SERIES_EPOCH_S || t >= today)
            continue;
        day = (size_t)((t - SERIES_EPOCH_S) / 86400);
        series_classify(&kr->rec, dsv, &nds);
        for (int k = 0; k < nds; k++) {
            counts[((size_t)kr->center * ndays + day) * SERIES_DS__COUNT + (size_t)dsv[k]]++;
            counts[(conf->ncenters * ndays + day) * SERIES_DS__COUNT + (size_t)dsv[k]]++;
        }
    }

    for (size_t l = 0; l < nlevels && r == 0; l++) {
        char path[PSY_PATH_MAX];
        const char *id = l < conf->ncenters ? conf->centers[l].id : "region";

        if ((size_t)snprintf(path, sizeof(path), "%s/%s.rrd", rrd_dir, id) >= sizeof(path)) {
            r = -ENAMETOOLONG;
            break;
        }
        r = series_write_file(path, counts ? counts + l * ndays * SERIES_DS__COUNT : NULL, ndays,
                              err, errsz);
    }
    free(counts);
    return r;
}

/* A cheap fingerprint of the configured center ids, to notice a SIGHUP that changed them. */
static uint64_t
series_conf_hash(const psy_agg_conf_t *conf)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < conf->ncenters; i++) {
        for (const char *p = conf->centers[i].id; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

/*
 * The thread: wakes every second, and rebuilds when the data generation,
 * the UTC day or the set of centers changed since the last good rebuild,
 * but not sooner than SERIES_MIN_INTERVAL_S after the previous attempt. A
 * failed rebuild is retried after that interval.
 */
static void *
series_main(void *arg)
{
    series_t *s = arg;
    store_t *store = NULL;
    psy_agg_conf_t *conf = malloc(sizeof(*conf));
    uint64_t built_gen = 0, built_hash = 0;
    int64_t built_day = -1, last_try = 0;
    bool built = false;

    if (!conf)
        return NULL;
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct timespec ts;
        psy_time_t now = psy_time_now();
        int64_t now_s = now / PSY_USEC;
        uint64_t gen = atomic_load(&s->agg->generation);
        uint64_t hash;

        pthread_mutex_unlock(&s->lock);
        agg_conf_snapshot(s->agg, conf);
        hash = series_conf_hash(conf);
        if ((!built || gen != built_gen || now_s / 86400 != built_day || hash != built_hash) &&
            now_s - last_try >= SERIES_MIN_INTERVAL_S) {
            char dir[PSY_PATH_MAX];
            char err[256] = "";
            kpi_records_t recs = {0};
            int r;

            last_try = now_s;
            if (!store)
                store = store_new(conf->data_dir, true);
            if (store) {
                r = store_load(store, conf, PSY_TIME_NONE, &recs);
                if (r == 0 &&
                    (size_t)snprintf(dir, sizeof(dir), "%s/rrd", conf->data_dir) < sizeof(dir))
                    r = series_rebuild(dir, conf, &recs, now, err, sizeof(err));
                kpi_records_free(&recs);
                if (r == 0) {
                    built = true;
                    built_gen = gen;
                    built_day = now_s / 86400;
                    built_hash = hash;
                } else {
                    /* A store that went away is reopened on the next try. */
                    store_destroy(&store);
                }
            }
        }
        pthread_mutex_lock(&s->lock);
        if (s->stop)
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    store_destroy(&store);
    free(conf);
    return NULL;
}

series_t *
series_new(agg_t *agg)
{
    series_t *s;
    pthread_condattr_t ca;
    int r;

    if (!agg) {
        errno = EINVAL;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->agg = agg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    r = pthread_create(&s->thread, NULL, series_main, s);
    if (r != 0) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        errno = r;
        return NULL;
    }
    return s;
}

void
series_destroy(series_t **sp)
{
    series_t *s;

    if (!sp || !*sp)
        return;
    s = *sp;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
    *sp = NULL;
}

/* Growable argv for rrd_graph_v; every string is owned. */
typedef struct {
    int argc;
    char *argv[64];
    bool oom;
} series_args_t;

static void __attribute__((format(printf, 2, 3))) series_arg(series_args_t *a, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    if (a->oom || a->argc >= (int)(sizeof(a->argv) / sizeof(a->argv[0]))) {
        a->oom = true;
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s) {
        a->oom = true;
        return;
    }
    a->argv[a->argc++] = s;
}

static void
series_args_free(series_args_t *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    a->argc = 0;
}

int
series_graph(agg_t *agg, const char *center, const char *what, int days,
             const series_marks_t *marks, unsigned char **ret_png, size_t *ret_len)
{
    psy_agg_conf_t *conf;
    char path[PSY_PATH_MAX];
    char title[PSY_NAME_MAX + 64];
    const char *name = NULL;
    series_args_t a = {0};
    struct stat st;
    rrd_info_t *info, *it;
    int64_t end, start;
    bool coercion;
    int r = 0;

    if (!agg || !center || !what || !ret_png || !ret_len || days < 1 ||
        days > SERIES_GRAPH_DAYS_MAX)
        return -EINVAL;
    if (strcmp(what, "coercion") == 0)
        coercion = true;
    else if (strcmp(what, "activity") == 0)
        coercion = false;
    else
        return -EINVAL;
    if (strcmp(center, "region") != 0 && !psy_center_valid(center))
        return -EINVAL;

    conf = malloc(sizeof(*conf));
    if (!conf)
        return -ENOMEM;
    agg_conf_snapshot(agg, conf);
    if (strcmp(center, "region") == 0) {
        name = conf->region_name[0] ? conf->region_name : "Region";
    } else {
        const psy_center_conf_t *c = psy_agg_conf_center(conf, center);
        if (c)
            name = c->name[0] ? c->name : c->id;
    }
    if (!name) {
        free(conf);
        return -ENOENT;
    }
    snprintf(title, sizeof(title), "%s: %s", name,
             coercion ? "tvang pr. dag (30 dages gennemsnit)"
                      : "indlæggelser og udskrivelser pr. dag (30 dages gennemsnit)");
    r = snprintf(path, sizeof(path), "%s/rrd/%s.rrd", conf->data_dir, center) >= (int)sizeof(path)
            ? -ENAMETOOLONG
            : 0;
    free(conf);
    if (r < 0)
        return r;
    if (stat(path, &st) != 0)
        return -ENOENT;

    end = psy_time_now() / PSY_USEC;
    end -= end % 86400;
    start = end - (int64_t)days * 86400;

    series_arg(&a, "graph");
    series_arg(&a, "-");
    series_arg(&a, "--imgformat=PNG");
    series_arg(&a, "--start=%lld", (long long)start);
    series_arg(&a, "--end=%lld", (long long)end);
    series_arg(&a, "--width=640");
    series_arg(&a, "--height=180");
    series_arg(&a, "--lower-limit=0");
    series_arg(&a, "--title=%s", title);
    series_arg(&a, "--vertical-label=pr. dag");
    if (coercion) {
        series_arg(&a, "DEF:belt=%s:belt:AVERAGE", path);
        series_arg(&a, "DEF:restr=%s:restr:AVERAGE", path);
        series_arg(&a, "DEF:sedat=%s:sedat:AVERAGE", path);
        series_arg(&a, "DEF:coerc=%s:coerc:AVERAGE", path);
        series_arg(&a, "CDEF:belt30=belt,2592000,TRENDNAN");
        series_arg(&a, "CDEF:restr30=restr,2592000,TRENDNAN");
        series_arg(&a, "CDEF:sedat30=sedat,2592000,TRENDNAN");
        series_arg(&a, "CDEF:coerc30=coerc,2592000,TRENDNAN");
        series_arg(&a, "AREA:belt30#c0392b:Bæltefiksering");
        series_arg(&a, "AREA:restr30#e67e22:Fastholdelse:STACK");
        series_arg(&a, "AREA:sedat30#f1c40f:Beroligende medicin\\l:STACK");
        series_arg(&a, "LINE1:coerc30#34495e:Al tvang");
        if (marks && isfinite(marks->baseline_per_day) && marks->target_end > marks->target_start) {
            series_arg(&a, "HRULE:%.6f#7f8c8d:Baseline:dashes", marks->baseline_per_day);
            /* base * (1 - pct/100 * clamp((TIME - t0) / (t1 - t0), 0, 1)) */
            series_arg(&a, "CDEF:goal=belt,POP,1,TIME,%lld,-,%lld,/,0,MAX,1,MIN,%.6f,*,-,%.6f,*",
                       (long long)marks->target_start,
                       (long long)(marks->target_end - marks->target_start),
                       marks->target_pct / 100.0, marks->baseline_per_day);
            series_arg(&a, "LINE2:goal#27ae60:Målsti (indgribende tvang)\\l");
        }
    } else {
        series_arg(&a, "DEF:adm=%s:adm:AVERAGE", path);
        series_arg(&a, "DEF:dis=%s:dis:AVERAGE", path);
        series_arg(&a, "CDEF:adm30=adm,2592000,TRENDNAN");
        series_arg(&a, "CDEF:dis30=dis,2592000,TRENDNAN");
        series_arg(&a, "LINE2:adm30#2980b9:Indlæggelser");
        series_arg(&a, "LINE2:dis30#8e44ad:Udskrivelser\\l");
    }
    if (a.oom) {
        series_args_free(&a);
        return -ENOMEM;
    }

    pthread_mutex_lock(&series_rrd_lock);
    rrd_clear_error();
    info = rrd_graph_v(a.argc, a.argv);
    r = -EIO;
    for (it = info; it; it = it->next) {
        if (it->type == RD_I_BLO && strcmp(it->key, "image") == 0 && it->value.u_blo.ptr &&
            it->value.u_blo.size > 0) {
            unsigned char *png = malloc(it->value.u_blo.size);
            if (!png) {
                r = -ENOMEM;
                break;
            }
            memcpy(png, it->value.u_blo.ptr, it->value.u_blo.size);
            *ret_png = png;
            *ret_len = it->value.u_blo.size;
            r = 0;
            break;
        }
    }
    if (info)
        rrd_info_free(info);
    rrd_clear_error();
    pthread_mutex_unlock(&series_rrd_lock);
    series_args_free(&a);
    return r;
}

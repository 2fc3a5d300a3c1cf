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

#include "psymon/log.h"
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
    [SERIES_DS_BEDS] = "beds",      [SERIES_DS_INDEX] = "idx",       [SERIES_DS_READM] = "readm",
    [SERIES_DS_R12] = "r12",
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
    /* What the files were last written from, so that an unchanged tick writes nothing. */
    bool built;
    uint64_t built_gen;
    uint64_t built_hash;
    int64_t built_day;
    int64_t last_try; /* seconds: a failed rebuild is retried after SERIES_MIN_INTERVAL_S */
};

static void
series_set_err(char *err, size_t errsz, const char *what, const char *path)
{
    const char *msg = rrd_test_error() ? rrd_get_error() : "unknown error";

    if (err && errsz > 0)
        snprintf(err, errsz, "%s %s: %s", what, path, msg);
}

/* Whole seconds of t, rounded down also before 1970. */
static int64_t
series_secs(psy_time_t t)
{
    int64_t s = t / PSY_USEC;

    if (t < 0 && t % PSY_USEC != 0)
        s--;
    return s;
}

/* What one rebuild computes before it writes: per level (centers, then the region) and day. */
typedef struct {
    size_t ndays, nlevels;
    double *days; /* kpi_model_days: [level][day][KPI_DAY__COUNT] */
    double *r12;  /* [level][day]: NaN when there is no value */
} series_days_t;

/*
 * The first month (year * 12 + month - 1) with records of every level in
 * levels[0..nlevels), from the engine's `records` KPI of the months the
 * r12 periods per[0..nper) cover, or the month before them when the level
 * has records in the twelve months before; -1 when a level has none. The
 * region's is its earliest center's.
 */
static int
series_first_months(const kpi_model_t *m, const psy_agg_conf_t *conf, psy_time_t as_of,
                    const kpi_period_t *per, size_t nper, const int *levels, size_t nlevels,
                    long *ret)
{
    int kpi = kpi_find("records");
    kpi_period_t *months;
    kpi_row_t *rows = NULL;
    size_t nrows = 0, nm = nper + 12;
    long m0;
    int r;

    for (size_t l = 0; l < nlevels; l++)
        ret[l] = -1;
    if (kpi < 0 || nper == 0)
        return 0;
    months = calloc(nm, sizeof(*months));
    if (!months)
        return -ENOMEM;
    /* The twelve months before the first window, then each month from its first. */
    m0 = (long)per[0].year * 12 + per[0].month - 1 - 12;
    months[0] =
        (kpi_period_t){.kind = KPI_R12, .year = (int)(m0 / 12), .month = (int)(m0 % 12) + 1};
    for (size_t p = 1; p < nm; p++)
        months[p] = (kpi_period_t){.kind = KPI_MONTH,
                                   .year = (int)((m0 + (long)p) / 12),
                                   .month = (int)((m0 + (long)p) % 12) + 1};
    kpi_query_t q = {.conf = conf,
                     .as_of = as_of,
                     .nperiods = nm,
                     .periods = months,
                     .nlevels = nlevels,
                     .levels = levels,
                     .nkpis = 1,
                     .kpis = &kpi};
    r = kpi_model_compute(m, &q, &rows, &nrows);
    for (size_t p = 0; r == 0 && p < nm && p * nlevels < nrows; p++)
        for (size_t l = 0; l < nlevels; l++) {
            const kpi_row_t *row = &rows[p * nlevels + l];
            if (ret[l] < 0 && row->value.set && row->value.v > 0)
                ret[l] = m0 + (long)p;
        }
    free(rows);
    free(months);
    return r;
}

/*
 * The engine's r12 intrusive_per_100k of every month from r12:2021-01
 * through the last month complete at as_of, for every level, spread over
 * the UTC days that start in the month. The rule (periods, episodes,
 * population) is the engine's, nowhere else. A window that begins before
 * the level's first month with records is left out, as on the target
 * chart (dashboard.md): drawn, it would ramp up from zero, and a reader
 * would take the ramp for a rise in coercion.
 */
static int
series_r12(series_days_t *d, const kpi_model_t *m, const psy_agg_conf_t *conf, psy_time_t as_of)
{
    int levels[PSY_CENTERS_MAX + 1];
    int kpi = kpi_find("intrusive_per_100k");
    int ey, em, ed;
    kpi_period_t *per = NULL;
    kpi_row_t *rows = NULL;
    size_t nper = 0, nrows = 0;
    long first_mi[PSY_CENTERS_MAX + 1];
    int r;

    for (size_t i = 0; i < d->nlevels * d->ndays; i++)
        d->r12[i] = NAN;
    psy_civil_date(as_of, &ey, &em, &ed);
    if (--em < 1) {
        em = 12;
        ey--;
    }
    if (ey * 12 + em < 2021 * 12 + 1 || kpi < 0)
        return 0;
    r = kpi_period_list(KPI_R12, 2021, 1, ey, em, &per, &nper);
    if (r < 0)
        return r;
    for (size_t l = 0; l < conf->ncenters; l++)
        levels[l] = (int)l;
    levels[conf->ncenters] = KPI_LEVEL_REGION;
    kpi_query_t q = {.conf = conf,
                     .as_of = as_of,
                     .nperiods = nper,
                     .periods = per,
                     .nlevels = conf->ncenters + 1,
                     .levels = levels,
                     .nkpis = 1,
                     .kpis = &kpi};
    r = kpi_model_compute(m, &q, &rows, &nrows);
    if (r == 0)
        r = series_first_months(m, conf, as_of, per, nper, levels, d->nlevels, first_mi);
    for (size_t p = 0; r == 0 && p < nper; p++) {
        kpi_period_t month = {.kind = KPI_MONTH, .year = per[p].year, .month = per[p].month};
        psy_time_t ms, me;

        kpi_period_bounds(&month, &ms, &me);
        int64_t ms_s = series_secs(ms), me_s = series_secs(me);
        int64_t first = ms_s <= SERIES_EPOCH_S ? 0 : (ms_s - SERIES_EPOCH_S + 86399) / 86400;

        for (size_t l = 0; l < d->nlevels; l++) {
            const kpi_row_t *row = &rows[p * d->nlevels + l];

            /* The window's first month (per[p] ends it) must hold the level's data. */
            if (!row->value.set || first_mi[l] < 0 ||
                (long)per[p].year * 12 + per[p].month - 1 - 11 < first_mi[l])
                continue;
            for (int64_t day = first;
                 day < (int64_t)d->ndays && SERIES_EPOCH_S + day * 86400 < me_s; day++)
                d->r12[l * d->ndays + (size_t)day] = row->value.v;
        }
    }
    free(rows);
    free(per);
    return r;
}

/*
 * Writes one level's file: created at the epoch, then one update per day
 * dated at the day's end, so that the step ending at midnight UTC holds the
 * day before it; all days go to librrd in one call.
 */
static int
series_write_file(const char *path, const series_days_t *d, size_t level, char *err, size_t errsz)
{
    char tmp[PSY_PATH_MAX + 16];
    char ds[SERIES_DS__COUNT][64];
    char rra[64];
    const char *argv[SERIES_DS__COUNT + 1];
    char **upd = NULL;
    char *buf = NULL;
    size_t ndays = d->ndays;
    int r = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    for (int i = 0; i < SERIES_DS__COUNT; i++) {
        snprintf(ds[i], sizeof(ds[i]), "DS:%s:GAUGE:172800:0:U", series_ds_names[i]);
        argv[i] = ds[i];
    }
    snprintf(rra, sizeof(rra), "RRA:AVERAGE:0.5:1:%d", SERIES_ROWS);
    argv[SERIES_DS__COUNT] = rra;

    /* Each line: a time, 8 counts of at most 10 digits, two numbers: well below LINE. */
    enum { LINE = 256 };
    if (ndays > 0) {
        const double *r12 = d->r12 + level * ndays;

        upd = calloc(ndays, sizeof(*upd));
        buf = malloc(ndays * LINE);
        if (!upd || !buf) {
            r = -ENOMEM;
            goto out;
        }
        for (size_t day = 0; day < ndays; day++) {
            char *p = buf + day * LINE;
            const double *c = d->days + (level * ndays + day) * KPI_DAY__COUNT;
            char r12s[32] = "U";
            int len;

            if (isfinite(r12[day]))
                snprintf(r12s, sizeof(r12s), "%.4f", r12[day]);
            len = snprintf(p, LINE, "%lld:%.0f:%.0f:%.0f:%.0f:%.0f:%.0f:%.6f:%.0f:%.0f:%s",
                           (long long)(SERIES_EPOCH_S + (int64_t)(day + 1) * 86400),
                           c[KPI_DAY_ADMISSIONS], c[KPI_DAY_DISCHARGES], c[KPI_DAY_COERCION],
                           c[KPI_DAY_BELT], c[KPI_DAY_RESTRAINT], c[KPI_DAY_SEDATIVE],
                           c[KPI_DAY_BED_DAYS], c[KPI_DAY_INDEX], c[KPI_DAY_READM30], r12s);
            if (len < 0 || len >= LINE) {
                r = -EOVERFLOW;
                goto out;
            }
            upd[day] = p;
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
    if (r == 0 && rename(tmp, path) != 0) {
        r = -errno;
        if (err && errsz > 0)
            snprintf(err, errsz, "rename %s: %s", tmp, strerror(-r));
    }
    if (r < 0)
        (void)unlink(tmp);
out:
    free(upd);
    free(buf);
    return r;
}

static void
series_days_free(series_days_t *d)
{
    free(d->days);
    free(d->r12);
}

int
series_write(const char *rrd_dir, const psy_agg_conf_t *conf, const kpi_model_t *m,
             psy_time_t as_of, psy_time_t until, char *err, size_t errsz)
{
    series_days_t d = {0};
    size_t failed = 0;
    int64_t until_s, today;
    int r = 0;

    if (!rrd_dir || !conf || !m || as_of == PSY_TIME_NONE || until == PSY_TIME_NONE ||
        conf->ncenters > PSY_CENTERS_MAX || kpi_model_centers(m) != conf->ncenters ||
        !kpi_model_covers(m, as_of))
        return -EINVAL;
    if (mkdir(rrd_dir, 0750) != 0 && errno != EEXIST)
        return -errno;

    until_s = series_secs(until);
    today = until_s - (((until_s % 86400) + 86400) % 86400);
    d.ndays = today > SERIES_EPOCH_S ? (size_t)((today - SERIES_EPOCH_S) / 86400) : 0;
    /* Level ncenters is the region. */
    d.nlevels = conf->ncenters + 1;
    d.days = malloc((d.nlevels * d.ndays * KPI_DAY__COUNT + 1) * sizeof(*d.days));
    d.r12 = malloc((d.nlevels * d.ndays + 1) * sizeof(*d.r12));
    if (!d.days || !d.r12) {
        r = -ENOMEM;
        goto out;
    }
    r = kpi_model_days(m, (psy_time_t)SERIES_EPOCH_S * PSY_USEC, d.ndays, as_of, d.days);
    if (r == 0)
        r = series_r12(&d, m, conf, as_of);
    if (r < 0)
        goto out;

    for (size_t l = 0; l < d.nlevels; l++) {
        char path[PSY_PATH_MAX];
        const char *id = l < conf->ncenters ? conf->centers[l].id : "region";
        int w;

        if ((size_t)snprintf(path, sizeof(path), "%s/%s.rrd", rrd_dir, id) >= sizeof(path))
            w = -ENAMETOOLONG;
        else
            w = series_write_file(path, &d, l, r < 0 ? NULL : err, errsz);
        if (w < 0) {
            failed++;
            if (r == 0) {
                r = w;
                if (err && errsz > 0 && w == -ENAMETOOLONG)
                    snprintf(err, errsz, "%s/%s.rrd: %s", rrd_dir, id, strerror(-w));
            }
        }
    }
    if (failed > 1 && err && errsz > 0) {
        size_t len = strlen(err);
        snprintf(err + len, errsz - len, " (%zu of %zu files failed)", failed, d.nlevels);
    }
out:
    series_days_free(&d);
    return r;
}

int
series_rebuild(const char *rrd_dir, const psy_agg_conf_t *conf, const kpi_records_t *recs,
               psy_time_t now, char *err, size_t errsz)
{
    kpi_model_t *m;
    int r;

    if (!rrd_dir || !conf || !recs || now == PSY_TIME_NONE || conf->ncenters > PSY_CENTERS_MAX ||
        recs->count > UINT32_MAX)
        return -EINVAL;
    m = kpi_model_new(recs, conf, now);
    if (!m)
        return -errno;
    r = series_write(rrd_dir, conf, m, now, now, err, errsz);
    kpi_model_destroy(&m);
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
 * The sink: rewrites the files when the data generation, the UTC day (less
 * SERIES_GRACE_S, so that registrations made just after midnight land in
 * their day) or the set of centers changed since the last good rebuild,
 * but not sooner than SERIES_MIN_INTERVAL_S after the previous attempt. A
 * failed rebuild is logged and retried, so a file that could not be
 * written is never silently stale.
 */
void
series_publish(void *ctx, const agg_model_t *m)
{
    series_t *s = ctx;
    psy_time_t now = psy_time_now();
    psy_time_t until = now - (psy_time_t)SERIES_GRACE_S * PSY_USEC;
    int64_t now_s = now / PSY_USEC, day = until / PSY_USEC / 86400;
    uint64_t hash = series_conf_hash(m->conf);
    char dir[PSY_PATH_MAX];
    char err[512] = "";
    int r;

    if (s->built && m->generation == s->built_gen && day == s->built_day && hash == s->built_hash)
        return;
    if (now_s - s->last_try < SERIES_MIN_INTERVAL_S)
        return;
    s->last_try = now_s;
    /* The engine's rules hold at an instant the model covers: its cutoff or later. */
    psy_time_t as_of = kpi_model_covers(m->kpi, now) ? now : m->as_of;
    if ((size_t)snprintf(dir, sizeof(dir), "%s/rrd", m->conf->data_dir) >= sizeof(dir))
        r = -ENAMETOOLONG;
    else
        r = series_write(dir, m->conf, m->kpi, as_of, until, err, sizeof(err));
    if (r < 0) {
        psy_err("series: the RRD files were not rebuilt: %s (%s); retrying in %d s",
                err[0] ? err : "no detail", strerror(-r), SERIES_MIN_INTERVAL_S);
        return;
    }
    s->built = true;
    s->built_gen = m->generation;
    s->built_day = day;
    s->built_hash = hash;
}

series_t *
series_new(agg_t *agg)
{
    series_t *s;

    if (!agg) {
        errno = EINVAL;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->agg = agg;
    s->last_try = INT64_MIN / 2;
    return s;
}

void
series_destroy(series_t **sp)
{
    if (!sp || !*sp)
        return;
    free(*sp);
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

/* The graphs series_graph draws, by their `what`, with their titles. */
typedef enum {
    SERIES_G_COERCION,
    SERIES_G_ACTIVITY,
    SERIES_G_BEDS,
    SERIES_G_READMISSION,
    SERIES_G_RATE,
    SERIES_G__COUNT
} series_graph_kind_t;

/*
 * Titles are short enough for the graph's width with the longest center
 * name of the region ("Børne- og Ungdomspsykiatrisk Center"): librrd
 * centres the title and cuts what does not fit on both sides.
 */
static const struct {
    const char *what;
    const char *title;
    const char *label;
} series_graphs[SERIES_G__COUNT] = {
    [SERIES_G_COERCION] = {"coercion", "tvang, antal de seneste 30 dage", "antal pr. 30 dage"},
    [SERIES_G_ACTIVITY] = {"activity", "indlæggelser og udskrivelser, de seneste 30 dage",
                           "antal pr. 30 dage"},
    [SERIES_G_BEDS] = {"beds", "belagte senge (sengedage pr. dag)", "senge"},
    [SERIES_G_READMISSION] = {"readmission", "akut genindlagt inden for 30 dage",
                              "% af udskrivelser"},
    [SERIES_G_RATE] = {"rate", "indgribende tvang pr. 100.000 borgere, 12 måneder",
                       "pr. 100.000 borgere"},
};

/*
 * An invisible line at 10, so that librrd's autoscaling spans at least 0-10
 * and never steps the grid by less than one. Not --upper-limit: with it,
 * librrd 1.7 leaves out the legend of an HRULE above that limit.
 */
static void
series_arg_floor(series_args_t *a, const char *def)
{
    series_arg(a, "CDEF:floor10=%s,UN,10,10,IF", def);
    series_arg(a, "LINE1:floor10");
}

/* The trajectory line: base * (1 - pct/100 * clamp((TIME - t0) / (t1 - t0), 0, 1)). */
static void
series_arg_goal(series_args_t *a, const char *def, const series_marks_t *m, double base)
{
    series_arg(a, "CDEF:goal=%s,POP,1,TIME,%lld,-,%lld,/,0,MAX,1,MIN,%.6f,*,-,%.6f,*", def,
               (long long)m->target_start, (long long)(m->target_end - m->target_start),
               m->target_pct / 100.0, base);
}

/*
 * The time axis, without the process's locale: librrd formats its labels
 * with strftime in the calling thread's LC_TIME, which is "C" (English
 * month names) in the daemon, and switching a process-wide locale in a
 * threaded server is unsafe (uselocale() with da_DK would be safe, but
 * that locale is missing on most servers and CI machines). So the labels
 * are numbers in Danish order: years, month/year, or day/month.
 */
static const char *
series_x_grid(int days)
{
    if (days <= 62)
        return "DAY:1:WEEK:1:WEEK:1:0:%-d/%-m";
    if (days <= 400)
        return "WEEK:1:MONTH:1:MONTH:1:0:%-m/%Y";
    if (days <= 1100)
        return "MONTH:1:MONTH:3:MONTH:3:0:%-m/%Y";
    /* A label per year, centred under it. */
    return "MONTH:3:YEAR:1:YEAR:1:31536000:%Y";
}

/*
 * The data and lines of one graph. Counts are drawn as the number in the
 * 30 days up to each day (the 30-day mean times 30): whole numbers, so the
 * y axis needs no decimal mark, which librrd would print as a point. In
 * the readmission graph, a discharge day is provisional until 30 days and
 * 12 hours after it ends (kpis.md); the value at a day sums the 30 days
 * before it, so it is split at now - 30 d 12 h into a final line and a
 * lighter "foreløbig" one, which starts a day early so that the two join.
 * The 30-day sums read from 30 days before the graph's start, so that they
 * are whole at its left edge. Every pair of series differs in more than
 * colour: area against line, solid against dashed.
 */
static void
series_graph_args(series_args_t *a, series_graph_kind_t kind, const char *path,
                  const series_marks_t *marks, int64_t start, int64_t now, int64_t r12_from)
{
    /* The 30-day sums at the left edge need the 30 days before it. */
    int64_t from = start - 30 * 86400;

    switch (kind) {
    case SERIES_G_COERCION:
        series_arg(a, "DEF:belt=%s:belt:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:restr=%s:restr:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:sedat=%s:sedat:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:coerc=%s:coerc:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "CDEF:belt30=belt,2592000,TRENDNAN,30,*");
        series_arg(a, "CDEF:restr30=restr,2592000,TRENDNAN,30,*");
        series_arg(a, "CDEF:sedat30=sedat,2592000,TRENDNAN,30,*");
        series_arg(a, "CDEF:coerc30=coerc,2592000,TRENDNAN,30,*");
        series_arg_floor(a, "coerc");
        series_arg(a, "COMMENT:Indgribende tvang (flader)\\:");
        series_arg(a, "AREA:belt30#b03a2e:Bæltefiksering");
        series_arg(a, "AREA:restr30#e67e22:Fastholdelse:STACK");
        series_arg(a, "AREA:sedat30#f4d03f:Beroligende medicin\\l:STACK");
        series_arg(a, "LINE1:coerc30#1d2b3a:Al tvang (tynd linje)");
        if (marks && isfinite(marks->baseline_per_day) && marks->target_end > marks->target_start) {
            series_arg_goal(a, "belt", marks, 30 * marks->baseline_per_day);
            series_arg(a, "HRULE:%.6f#555555:Udgangsniveau, indgribende (stiplet):dashes=4,3",
                       30 * marks->baseline_per_day);
            series_arg(a, "LINE2:goal#1e8449:Målsti (tyk grøn)\\l");
        } else {
            series_arg(a, "COMMENT:\\l");
        }
        break;
    case SERIES_G_ACTIVITY:
        series_arg(a, "DEF:adm=%s:adm:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:dis=%s:dis:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "CDEF:adm30=adm,2592000,TRENDNAN,30,*");
        series_arg(a, "CDEF:dis30=dis,2592000,TRENDNAN,30,*");
        series_arg_floor(a, "adm");
        series_arg(a, "AREA:adm30#a9cce3:Indlæggelser (blå flade)  ");
        series_arg(a, "LINE1.5:dis30#a04000:Udskrivelser (brun stiplet linje)\\l:dashes=6,3");
        break;
    case SERIES_G_BEDS:
        series_arg(a, "DEF:beds=%s:beds:AVERAGE", path);
        series_arg_floor(a, "beds");
        series_arg(a, "AREA:beds#5d8aa8:Belagte senge, gennemsnit over døgnet\\l");
        break;
    case SERIES_G_READMISSION: {
        int64_t b = now - 30 * 86400 - 12 * 3600;

        series_arg(a, "DEF:idx=%s:idx:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:readm=%s:readm:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "CDEF:idx30=idx,2592000,TRENDNAN,30,*");
        series_arg(a, "CDEF:readm30=readm,2592000,TRENDNAN,30,*");
        series_arg_floor(a, "idx");
        series_arg(a, "CDEF:rate=idx30,0,GT,readm30,idx30,/,100,*,UNKN,IF");
        series_arg(a, "CDEF:final=TIME,%lld,LE,rate,UNKN,IF", (long long)b);
        series_arg(a, "CDEF:prov=TIME,%lld,GT,rate,UNKN,IF", (long long)(b - 86400));
        series_arg(a, "LINE2:final#1d2b3a:Genindlagt inden for 30 dage, af de seneste 30 dages "
                      "udskrivelser  ");
        series_arg(a, "LINE2:prov#9aa7b4:foreløbig (stiplet)\\l:dashes=4,3");
        break;
    }
    case SERIES_G_RATE:
        series_arg(a, "DEF:r12all=%s:r12:AVERAGE", path);
        series_arg_floor(a, "r12all");
        /* From the first baseline year's December, as the target chart on the center page. */
        series_arg(a, "CDEF:r12=TIME,%lld,LT,UNKN,r12all,IF", (long long)r12_from);
        series_arg(a, "LINE2:r12#b03a2e:Indgribende tvang pr. 100.000, de seneste 12 måneder\\l");
        if (marks && isfinite(marks->baseline_per_100k) && marks->baseline_per_100k > 0 &&
            marks->target_end > marks->target_start) {
            series_arg_goal(a, "r12", marks, marks->baseline_per_100k);
            series_arg(a, "HRULE:%.6f#555555:Udgangsniveau (stiplet):dashes=4,3",
                       marks->baseline_per_100k);
            series_arg(a, "LINE2:goal#1e8449:Målsti (tyk grøn)\\l");
        }
        series_arg(a, "COMMENT:12-måneders vinduer med ufuldstændige data er ikke tegnet\\l");
        break;
    default:
        break;
    }
}

int
series_graph(agg_t *agg, const char *center, const char *what, int days,
             const series_marks_t *marks, unsigned char **ret_png, size_t *ret_len)
{
    const psy_agg_conf_t *conf;
    char path[PSY_PATH_MAX];
    char title[PSY_NAME_MAX + 96];
    const char *name = NULL;
    series_args_t a = {0};
    struct stat st;
    rrd_info_t *info, *it;
    int64_t now, end, start, r12_from = 0;
    int kind = -1;
    int r = 0;

    if (!agg || !center || !what || !ret_png || !ret_len || days < 1 ||
        days > SERIES_GRAPH_DAYS_MAX)
        return -EINVAL;
    for (int k = 0; k < SERIES_G__COUNT; k++)
        if (strcmp(what, series_graphs[k].what) == 0)
            kind = k;
    if (kind < 0)
        return -EINVAL;
    if (strcmp(center, "region") != 0 && !psy_center_valid(center))
        return -EINVAL;

    conf = agg_conf_get(agg);
    if (conf->nbaseline > 0)
        r12_from = series_secs(psy_civil_start(conf->baseline_years[0], 12, 1));
    if (strcmp(center, "region") == 0) {
        name = conf->region_name[0] ? conf->region_name : "Region";
    } else {
        const psy_center_conf_t *c = psy_agg_conf_center(conf, center);
        if (c)
            name = c->name[0] ? c->name : c->id;
    }
    if (!name) {
        agg_conf_put(&conf);
        return -ENOENT;
    }
    snprintf(title, sizeof(title), "%s: %s", name, series_graphs[kind].title);
    r = snprintf(path, sizeof(path), "%s/rrd/%s.rrd", conf->data_dir, center) >= (int)sizeof(path)
            ? -ENAMETOOLONG
            : 0;
    agg_conf_put(&conf);
    if (r < 0)
        return r;
    if (stat(path, &st) != 0)
        return -ENOENT;

    now = psy_time_now() / PSY_USEC;
    end = now - now % 86400;
    start = end - (int64_t)days * 86400;

    series_arg(&a, "graph");
    series_arg(&a, "-");
    series_arg(&a, "--imgformat=PNG");
    series_arg(&a, "--start=%lld", (long long)start);
    series_arg(&a, "--end=%lld", (long long)end);
    series_arg(&a, "--width=640");
    series_arg(&a, "--height=180");
    /*
     * Whole numbers on the y axis: plain (no SI prefix, "240 m" for 0.24),
     * without decimals (librrd's decimal mark is a point), over a range of
     * at least 0-10 (series_arg_floor).
     */
    series_arg(&a, "--lower-limit=0");
    series_arg(&a, "--units-exponent=0");
    series_arg(&a, "--left-axis-format=%%.0lf");
    series_arg(&a, "--x-grid=%s", series_x_grid(days));
    /* A proportional face: librrd's monospaced default cut long titles off. */
    series_arg(&a, "--font=DEFAULT:8:DejaVu Sans");
    series_arg(&a, "--font=TITLE:10:DejaVu Sans");
    series_arg(&a, "--disable-rrdtool-tag");
    series_arg(&a, "--title=%s", title);
    series_arg(&a, "--vertical-label=%s", series_graphs[kind].label);
    series_graph_args(&a, (series_graph_kind_t)kind, path, marks, start, now, r12_from);
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

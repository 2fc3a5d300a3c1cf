/*
 * series: RRD files rebuilt from the records, and graphs drawn from them.
 * See series.h.
 */
#include "kpi_snapshot.h"
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
    psy_time_t as_of;        /* records after it do not exist yet */
    int64_t today;           /* start of the first day not written */
    uint32_t *counts;        /* [level][day][SERIES_DS__COUNT]; beds and r12 unused */
    double *beds;            /* [level][day]: seconds in bed within the day */
    int32_t *full;           /* [level][day + 1]: difference array of whole days in bed */
    double *r12;             /* [level][day]: NaN when there is no value */
    size_t nmonths;          /* months counted for the r12 rates */
    kpi_period_t *months;    /* [month] */
    psy_time_t *month_start; /* [month + 1]: bounds */
    uint32_t *episodes;      /* [level][month]: intrusive episodes */
} series_days_t;

static uint32_t *
series_count_at(series_days_t *d, size_t level, size_t day, int ds)
{
    return &d->counts[(level * d->ndays + day) * SERIES_DS__COUNT + (size_t)ds];
}

/* A contact: an admission with the first discharge of its contact id at its center. */
#define SERIES_OPEN INT64_MAX

typedef struct {
    const uint8_t *patient; /* NULL without one */
    uint64_t pkey;          /* the patient's first bytes, to sort by without a lookup */
    int64_t start, end;     /* seconds; end SERIES_OPEN while open */
    uint16_t center;
    uint8_t mode;    /* psy_mode_t of the admission */
    uint8_t outcome; /* psy_outcome_t of the discharge */
} series_contact_t;

/*
 * An admission or discharge to pair: a hash of (center, contact id) and the
 * time kept beside the index, so that sorting rarely looks at the record.
 */
typedef struct {
    uint64_t key;
    psy_time_t time;
    uint32_t idx;
} series_ref_t;

static const char *
series_contact_id(const psy_record_t *r)
{
    return r->contact[0] ? r->contact : r->id;
}

static series_ref_t
series_ref(const kpi_record_t *kr, uint32_t idx)
{
    uint64_t h = 1469598103934665603ULL;

    h = (h ^ kr->center) * 1099511628211ULL;
    for (const char *p = series_contact_id(&kr->rec); *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (series_ref_t){.key = h, .time = kr->rec.time, .idx = idx};
}

/* The order of contacts: key, then center and contact id (on a hash collision). */
static int
series_key_cmp(const kpi_records_t *recs, const series_ref_t *x, const series_ref_t *y)
{
    const kpi_record_t *a, *b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    a = &recs->items[x->idx];
    b = &recs->items[y->idx];
    if (a->center != b->center)
        return a->center < b->center ? -1 : 1;
    return strcmp(series_contact_id(&a->rec), series_contact_id(&b->rec));
}

/* Within a contact: time, then id, as the engine breaks ties. */
static int
series_ref_cmp_r(const void *pa, const void *pb, void *arg)
{
    const kpi_records_t *recs = arg;
    const series_ref_t *x = pa, *y = pb;
    int c = series_key_cmp(recs, x, y);

    if (c)
        return c;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return strcmp(recs->items[x->idx].rec.id, recs->items[y->idx].rec.id);
}

/*
 * Pairs admissions with discharges by (center, contact id), as the KPI
 * engine does, for drawing: the first admission of a contact id counts,
 * and its first discharge at or after it ends it; the rest are the
 * engine's inconsistent records and are left out. adm and dis are sorted
 * here. *ret is malloc'ed.
 */
static int
series_contacts(const kpi_records_t *recs, series_ref_t *adm, size_t nadm, series_ref_t *dis,
                size_t ndis, series_contact_t **ret, size_t *ret_n)
{
    series_contact_t *cs = nadm ? malloc(nadm * sizeof(*cs)) : NULL;
    size_t n = 0, j = 0;

    if (nadm && !cs)
        return -ENOMEM;
    qsort_r(adm, nadm, sizeof(*adm), series_ref_cmp_r, (void *)recs);
    qsort_r(dis, ndis, sizeof(*dis), series_ref_cmp_r, (void *)recs);
    for (size_t i = 0; i < nadm; i++) {
        const kpi_record_t *a = &recs->items[adm[i].idx];
        series_contact_t *c;

        /* A later admission of the same contact id is a duplicate. */
        if (i > 0 && series_key_cmp(recs, &adm[i - 1], &adm[i]) == 0)
            continue;
        c = &cs[n++];
        c->patient = a->rec.has_patient ? a->rec.patient : NULL;
        c->pkey = 0;
        if (c->patient)
            for (int b = 0; b < 8 && b < PSY_PSEUDONYM_LEN; b++)
                c->pkey = c->pkey << 8 | c->patient[b];
        c->start = series_secs(a->rec.time);
        c->end = SERIES_OPEN;
        c->center = a->center;
        c->mode = (uint8_t)a->rec.mode;
        c->outcome = PSY_OUTCOME_REGULAR;
        while (j < ndis && series_key_cmp(recs, &dis[j], &adm[i]) < 0)
            j++;
        for (size_t k = j; k < ndis && series_key_cmp(recs, &dis[k], &adm[i]) == 0; k++) {
            const psy_record_t *d = &recs->items[dis[k].idx].rec;

            if (d->time >= a->rec.time) {
                c->end = series_secs(d->time);
                c->outcome = (uint8_t)d->outcome;
                break;
            }
        }
    }
    *ret = cs;
    *ret_n = n;
    return 0;
}

/*
 * Adds the bed days of one contact, clipped to the days written: partial
 * first and last days as fractions, whole days in between through the
 * difference array. An open contact is in bed through the last day written.
 */
static void
series_beds_add(series_days_t *d, size_t level, const series_contact_t *c)
{
    int64_t s = c->start > SERIES_EPOCH_S ? c->start : SERIES_EPOCH_S;
    int64_t e = c->end < d->today ? c->end : d->today;
    double *beds = d->beds + level * d->ndays;
    int32_t *full = d->full + level * (d->ndays + 1);
    size_t d0, d1;

    if (e <= s)
        return;
    d0 = (size_t)((s - SERIES_EPOCH_S) / 86400);
    d1 = (size_t)((e - SERIES_EPOCH_S) / 86400); /* ndays when e is the end of the last day */
    if (d0 == d1) {
        beds[d0] += (double)(e - s);
        return;
    }
    beds[d0] += (double)(SERIES_EPOCH_S + (int64_t)(d0 + 1) * 86400 - s);
    full[d0 + 1]++;
    full[d1]--;
    if (d1 < d->ndays)
        beds[d1] += (double)(e - (SERIES_EPOCH_S + (int64_t)d1 * 86400));
}

/* Orders contacts by patient, start, then earlier end (open last), then center. */
static int
series_contact_cmp(const void *a, const void *b)
{
    const series_contact_t *x = a, *y = b;
    int c;

    if (x->pkey != y->pkey)
        return x->pkey < y->pkey ? -1 : 1;
    c = memcmp(x->patient, y->patient, PSY_PSEUDONYM_LEN);
    if (c)
        return c;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (int)x->center - (int)y->center;
}

typedef struct {
    int64_t start, end; /* end SERIES_OPEN while open */
    size_t first, last; /* contact indexes */
} series_stay_t;

/*
 * Index discharges and 30-day acute readmissions by discharge day, with the
 * rules of kpis.md: one patient's contacts merge into a stay across centers
 * when the next begins at most 4 hours after the stay's end; a stay
 * qualifies at 12 hours (an open one by `as_of`); an index discharge ends a
 * qualifying stay unless the patient died or was transferred, and counts at
 * the center of the stay's last contact; it is readmitted when the next
 * qualifying stay that began acutely starts within 30 days. The KPI engine
 * gives the official rates; this only draws their shape per day.
 */
static int
series_readmissions(series_days_t *d, series_contact_t *cs, size_t n, int64_t as_of)
{
    series_contact_t *pc;
    series_stay_t *st;
    size_t np = 0, region = d->nlevels - 1;

    /* Contacts without a patient cannot be followed: move them out of the way. */
    pc = n ? malloc(n * sizeof(*pc)) : NULL;
    st = n ? malloc(n * sizeof(*st)) : NULL;
    if (n && (!pc || !st)) {
        free(pc);
        free(st);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (cs[i].patient)
            pc[np++] = cs[i];
    if (np > 1) /* qsort(NULL, 0) is undefined: UBSan stops the aggregator */
        qsort(pc, np, sizeof(*pc), series_contact_cmp);

    for (size_t i = 0; i < np;) {
        size_t j = i, ns = 0;
        int64_t next_qa = SERIES_OPEN;

        while (j < np && pc[j].pkey == pc[i].pkey &&
               memcmp(pc[j].patient, pc[i].patient, PSY_PSEUDONYM_LEN) == 0)
            j++;
        for (size_t k = i; k < j; k++) {
            const series_contact_t *c = &pc[k];
            series_stay_t *s = ns ? &st[ns - 1] : NULL;

            if (s && (s->end == SERIES_OPEN || c->start <= s->end + 4 * 3600)) {
                if (c->end == SERIES_OPEN || (s->end != SERIES_OPEN && c->end >= s->end)) {
                    s->end = c->end;
                    s->last = k;
                }
                continue;
            }
            st[ns++] = (series_stay_t){.start = c->start, .end = c->end, .first = k, .last = k};
        }
        for (size_t k = ns; k-- > 0;) {
            const series_stay_t *s = &st[k];
            bool open = s->end == SERIES_OPEN;
            bool q = (open ? as_of : s->end) - s->start >= 12 * 3600;
            const series_contact_t *last = &pc[s->last];

            if (q && !open && last->outcome != PSY_OUTCOME_DEATH &&
                last->outcome != PSY_OUTCOME_TRANSFER && s->end >= SERIES_EPOCH_S &&
                s->end < d->today) {
                size_t day = (size_t)((s->end - SERIES_EPOCH_S) / 86400);
                bool r30 = next_qa != SERIES_OPEN && next_qa - s->end <= 30 * 86400;

                (*series_count_at(d, last->center, day, SERIES_DS_INDEX))++;
                (*series_count_at(d, region, day, SERIES_DS_INDEX))++;
                *series_count_at(d, last->center, day, SERIES_DS_READM) += r30;
                *series_count_at(d, region, day, SERIES_DS_READM) += r30;
            }
            if (q && pc[s->first].mode == PSY_MODE_ACUTE)
                next_qa = s->start;
        }
        i = j;
    }
    free(pc);
    free(st);
    return 0;
}

/*
 * The months whose intrusive episodes make the r12 rates: from 2020-02 (the
 * first month of r12:2021-01) through the last month complete at `now`,
 * with their bounds as the KPI engine's period code gives them.
 */
static int
series_months(series_days_t *d, psy_time_t now)
{
    int ey, em, ed, y = 2020, m = 2;

    d->nmonths = 0;
    psy_civil_date(now, &ey, &em, &ed);
    if (ey * 12 + em - (y * 12 + m) < 12)
        return 0;
    d->nmonths = (size_t)(ey * 12 + em - (y * 12 + m));
    d->months = malloc(d->nmonths * sizeof(*d->months));
    d->month_start = malloc((d->nmonths + 1) * sizeof(*d->month_start));
    d->episodes = calloc(d->nlevels * d->nmonths, sizeof(*d->episodes));
    if (!d->months || !d->month_start || !d->episodes)
        return -ENOMEM;
    for (size_t i = 0; i < d->nmonths; i++, m++) {
        psy_time_t end;

        if (m > 12) {
            m = 1;
            y++;
        }
        d->months[i] = (kpi_period_t){.kind = KPI_MONTH, .year = y, .month = m};
        kpi_period_bounds(&d->months[i], &d->month_start[i], &end);
        d->month_start[i + 1] = end;
    }
    return 0;
}

/* Counts an intrusive episode at `t` in its month, when that month is held. */
static void
series_month_add(series_days_t *d, size_t center, psy_time_t t)
{
    size_t lo = 0, hi = d->nmonths;

    if (d->nmonths == 0 || t < d->month_start[0] || t >= d->month_start[d->nmonths])
        return;
    /* The last month starting at or before t. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (d->month_start[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    d->episodes[center * d->nmonths + lo]++;
    d->episodes[(d->nlevels - 1) * d->nmonths + lo]++;
}

/* The population of a level in `year`, by the KPI engine's rule (kpis.md). */
static long
series_population(const psy_agg_conf_t *conf, size_t level, int year)
{
    long sum = 0;

    if (level < conf->ncenters)
        return psy_population_for(&conf->centers[level].population, year);
    if (conf->region_population.count)
        return psy_population_for(&conf->region_population, year);
    for (size_t i = 0; i < conf->ncenters; i++)
        sum += psy_population_for(&conf->centers[i].population, year);
    return sum;
}

/*
 * The r12 intrusive rate per 100,000 of every month held, for every level,
 * spread over the UTC days that start in the month: the episodes of the
 * twelve months ending with it, per 100,000 of the population of its year.
 *
 * This is the KPI engine's r12 intrusive_per_100k, by the engine's own
 * definitions: an episode is a usable coercion record of an intrusive kind
 * (a voluntary belt is none) counted in the period holding its start, with
 * no distinct persons, so an r12 period's count is the sum of its months';
 * the months' bounds are kpi_period_bounds'; the population follows the
 * engine's rule. test_series checks the values against kpi_compute on
 * random records. Asking kpi_compute itself costs a full engine pass (every
 * KPI, about 3 s on 2 million records), more than the whole rebuild may
 * take, and the files are rebuilt after every change of the records.
 */
static void
series_r12(series_days_t *d, const psy_agg_conf_t *conf)
{
    for (size_t i = 0; i < d->nlevels * d->ndays; i++)
        d->r12[i] = NAN;
    for (size_t i = 11; i < d->nmonths; i++) {
        int64_t ms = series_secs(d->month_start[i]);
        int64_t me = series_secs(d->month_start[i + 1]);
        int64_t first = ms <= SERIES_EPOCH_S ? 0 : (ms - SERIES_EPOCH_S + 86399) / 86400;

        for (size_t l = 0; l < d->nlevels; l++) {
            long pop = series_population(conf, l, d->months[i].year);
            uint64_t episodes = 0;

            if (pop <= 0)
                continue;
            for (size_t k = i - 11; k <= i; k++)
                episodes += d->episodes[l * d->nmonths + k];
            for (int64_t day = first; day < (int64_t)d->ndays && SERIES_EPOCH_S + day * 86400 < me;
                 day++)
                d->r12[l * d->ndays + (size_t)day] = 100000.0 * (double)episodes / (double)pop;
        }
    }
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
    enum { LINE = 192 };
    if (ndays > 0) {
        const double *beds = d->beds + level * ndays;
        const int32_t *full = d->full + level * (ndays + 1);
        const double *r12 = d->r12 + level * ndays;
        int64_t infull = 0;

        upd = calloc(ndays, sizeof(*upd));
        buf = malloc(ndays * LINE);
        if (!upd || !buf) {
            r = -ENOMEM;
            goto out;
        }
        for (size_t day = 0; day < ndays; day++) {
            char *p = buf + day * LINE;
            const uint32_t *c = d->counts + (level * ndays + day) * SERIES_DS__COUNT;
            char r12s[32] = "U";
            int len;

            infull += full[day];
            if (isfinite(r12[day]))
                snprintf(r12s, sizeof(r12s), "%.4f", r12[day]);
            len = snprintf(p, LINE, "%lld:%u:%u:%u:%u:%u:%u:%.4f:%u:%u:%s",
                           (long long)(SERIES_EPOCH_S + (int64_t)(day + 1) * 86400),
                           c[SERIES_DS_ADMISSIONS], c[SERIES_DS_DISCHARGES], c[SERIES_DS_COERCION],
                           c[SERIES_DS_BELT], c[SERIES_DS_RESTRAINT], c[SERIES_DS_SEDATIVE],
                           (double)infull + beds[day] / 86400.0, c[SERIES_DS_INDEX],
                           c[SERIES_DS_READM], r12s);
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
    free(d->counts);
    free(d->beds);
    free(d->full);
    free(d->r12);
    free(d->months);
    free(d->month_start);
    free(d->episodes);
}

/*
 * Counts the records by level and day and the intrusive episodes by month,
 * and collects the admissions and discharges. Records the KPI engine cannot
 * place, or dated after as_of, are left out as the engine leaves them out.
 */
static void
series_count(series_days_t *d, const psy_agg_conf_t *conf, const kpi_records_t *recs,
             series_ref_t *adm, size_t *ret_nadm, series_ref_t *dis, size_t *ret_ndis)
{
    size_t nadm = 0, ndis = 0, region = d->nlevels - 1;

    for (size_t i = 0; i < recs->count; i++) {
        const kpi_record_t *kr = &recs->items[i];
        int64_t t;
        size_t day;
        int dsv[2], nds;

        if (kr->center >= conf->ncenters || kr->rec.is_void || kr->rec.time == PSY_TIME_NONE ||
            kr->rec.time > d->as_of)
            continue;
        if (kr->rec.type == PSY_REC_ADMISSION)
            adm[nadm++] = series_ref(kr, (uint32_t)i);
        else if (kr->rec.type == PSY_REC_DISCHARGE)
            dis[ndis++] = series_ref(kr, (uint32_t)i);
        if (kr->rec.type == PSY_REC_COERCION && psy_coercion_is_intrusive(kr->rec.coercion) &&
            !(kr->rec.coercion == PSY_COERCION_BELT && kr->rec.voluntary))
            series_month_add(d, kr->center, kr->rec.time);
        t = series_secs(kr->rec.time);
        /* Only complete days: nothing at or after the start of today. */
        if (t < SERIES_EPOCH_S || t >= d->today)
            continue;
        day = (size_t)((t - SERIES_EPOCH_S) / 86400);
        series_classify(&kr->rec, dsv, &nds);
        for (int k = 0; k < nds; k++) {
            (*series_count_at(d, kr->center, day, dsv[k]))++;
            (*series_count_at(d, region, day, dsv[k]))++;
        }
    }
    *ret_nadm = nadm;
    *ret_ndis = ndis;
}

int
series_rebuild(const char *rrd_dir, const psy_agg_conf_t *conf, const kpi_records_t *recs,
               psy_time_t now, char *err, size_t errsz)
{
    series_days_t d = {0};
    series_contact_t *cs = NULL;
    series_ref_t *adm = NULL, *dis = NULL;
    size_t nadm = 0, ndis = 0, ncs = 0, failed = 0;
    int64_t now_s;
    int r = 0;

    if (!rrd_dir || !conf || !recs || now == PSY_TIME_NONE || conf->ncenters > PSY_CENTERS_MAX ||
        recs->count > UINT32_MAX)
        return -EINVAL;
    if (mkdir(rrd_dir, 0750) != 0 && errno != EEXIST)
        return -errno;

    now_s = series_secs(now);
    d.as_of = now;
    d.today = now_s - (((now_s % 86400) + 86400) % 86400);
    d.ndays = d.today > SERIES_EPOCH_S ? (size_t)((d.today - SERIES_EPOCH_S) / 86400) : 0;
    /* Level ncenters is the region. */
    d.nlevels = conf->ncenters + 1;
    d.counts = calloc(d.nlevels * d.ndays * SERIES_DS__COUNT + 1, sizeof(*d.counts));
    d.beds = calloc(d.nlevels * d.ndays + 1, sizeof(*d.beds));
    d.full = calloc(d.nlevels * (d.ndays + 1), sizeof(*d.full));
    d.r12 = malloc((d.nlevels * d.ndays + 1) * sizeof(*d.r12));
    adm = malloc((recs->count + 1) * sizeof(*adm));
    dis = malloc((recs->count + 1) * sizeof(*dis));
    if (!d.counts || !d.beds || !d.full || !d.r12 || !adm || !dis) {
        r = -ENOMEM;
        goto out;
    }

    r = series_months(&d, now);
    if (r < 0)
        goto out;
    series_count(&d, conf, recs, adm, &nadm, dis, &ndis);
    series_r12(&d, conf);
    r = series_contacts(recs, adm, nadm, dis, ndis, &cs, &ncs);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < ncs; i++) {
        series_beds_add(&d, cs[i].center, &cs[i]);
        series_beds_add(&d, d.nlevels - 1, &cs[i]);
    }
    r = series_readmissions(&d, cs, ncs, now_s);
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
    free(cs);
    free(adm);
    free(dis);
    series_days_free(&d);
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
 * Leaves the prepared KPI model of these records in data_dir
 * (kpi_snapshot.h), so that `psymon kpi` answers from it instead of loading
 * and joining every record again: while the data stands still, a call takes
 * a tenth of a second instead of seconds. A cache that cannot be written
 * costs time, never a number, so failing here is only logged.
 */
static void
series_save_model(const psy_agg_conf_t *conf, const kpi_records_t *recs, uint64_t vid,
                  psy_time_t stored_at)
{
    kpi_model_t *m = kpi_model_new(recs, conf, INT64_MAX);
    int r = m ? kpi_snapshot_save(conf->data_dir, vid, stored_at, conf, m) : -errno;

    if (r < 0)
        psy_warn("series: the KPI model cache was not written: %s", strerror(-r));
    kpi_model_destroy(&m);
}

/*
 * The thread: wakes every second, and rebuilds when the data generation,
 * the UTC day (less the grace period) or the set of centers changed since
 * the last good rebuild, but not sooner than SERIES_MIN_INTERVAL_S after the
 * previous attempt. A failed rebuild is logged and retried after that
 * interval, so a file that could not be written is never silently stale.
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
        /* Days are written SERIES_GRACE_S after they end: late registrations of the night land. */
        psy_time_t now = psy_time_now() - (psy_time_t)SERIES_GRACE_S * PSY_USEC;
        int64_t now_s = now / PSY_USEC;
        uint64_t gen = atomic_load(&s->agg->generation);
        uint64_t hash;

        pthread_mutex_unlock(&s->lock);
        agg_conf_snapshot(s->agg, conf);
        hash = series_conf_hash(conf);
        if ((!built || gen != built_gen || now_s / 86400 != built_day || hash != built_hash) &&
            now_s - last_try >= SERIES_MIN_INTERVAL_S) {
            char dir[PSY_PATH_MAX];
            char err[512] = "";
            kpi_records_t recs = {0};
            int r;

            last_try = now_s;
            if (!store)
                store = store_new(conf->data_dir, true);
            if (store) {
                uint64_t vid = 0;
                psy_time_t stored_at = 0;
                /* Read before the load: newer records in it only make the cache look stale. */
                bool have_gen = store_generation(store, &vid, &stored_at) == 0;
                r = store_load(store, conf, PSY_TIME_NONE, &recs);
                if (r == 0 && have_gen)
                    series_save_model(conf, &recs, vid, stored_at);
                if (r < 0)
                    snprintf(err, sizeof(err), "loading the records: %s", strerror(-r));
                else if ((size_t)snprintf(dir, sizeof(dir), "%s/rrd", conf->data_dir) >=
                         sizeof(dir))
                    r = -ENAMETOOLONG;
                else
                    r = series_rebuild(dir, conf, &recs, now, err, sizeof(err));
                kpi_records_free(&recs);
                if (r == 0) {
                    built = true;
                    built_gen = gen;
                    built_day = now_s / 86400;
                    built_hash = hash;
                } else {
                    psy_err("series: the RRD files were not rebuilt: %s (%s); retrying in %d s",
                            err[0] ? err : "no detail", strerror(-r), SERIES_MIN_INTERVAL_S);
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

/* The graphs series_graph draws, by their `what`, with their titles. */
typedef enum {
    SERIES_G_COERCION,
    SERIES_G_ACTIVITY,
    SERIES_G_BEDS,
    SERIES_G_READMISSION,
    SERIES_G_RATE,
    SERIES_G__COUNT
} series_graph_kind_t;

static const struct {
    const char *what;
    const char *title;
    const char *label;
} series_graphs[SERIES_G__COUNT] = {
    [SERIES_G_COERCION] = {"coercion", "tvang pr. dag (30 dages gennemsnit)", "pr. dag"},
    [SERIES_G_ACTIVITY] = {"activity", "indlæggelser og udskrivelser pr. dag (30 dages gennemsnit)",
                           "pr. dag"},
    [SERIES_G_BEDS] = {"beds", "belagte senge (sengedage pr. dag)", "senge"},
    [SERIES_G_READMISSION] = {"readmission",
                              "akut genindlagt inden for 30 dage (30 dages udskrivninger)",
                              "% af udskrivninger"},
    [SERIES_G_RATE] = {"rate", "indgribende tvang pr. 100.000 borgere, seneste 12 måneder",
                       "pr. 100.000"},
};

/* The trajectory line: base * (1 - pct/100 * clamp((TIME - t0) / (t1 - t0), 0, 1)). */
static void
series_arg_goal(series_args_t *a, const char *def, const series_marks_t *m, double base)
{
    series_arg(a, "CDEF:goal=%s,POP,1,TIME,%lld,-,%lld,/,0,MAX,1,MIN,%.6f,*,-,%.6f,*", def,
               (long long)m->target_start, (long long)(m->target_end - m->target_start),
               m->target_pct / 100.0, base);
}

/*
 * The data and lines of one graph. In the readmission graph, a discharge
 * day is provisional until 30 days and 12 hours after it ends (kpis.md);
 * the value at a day sums the 30 days before it, so it is split at
 * now - 30 d 12 h into a final line and a lighter "foreløbig" one, which
 * starts a day early so that the two join. The 30-day means read from 30
 * days before the graph's start, so that they are whole at its left edge.
 */
static void
series_graph_args(series_args_t *a, series_graph_kind_t kind, const char *path,
                  const series_marks_t *marks, int64_t start, int64_t now)
{
    /* The 30-day means at the left edge need the 30 days before it. */
    int64_t from = start - 30 * 86400;

    switch (kind) {
    case SERIES_G_COERCION:
        series_arg(a, "DEF:belt=%s:belt:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:restr=%s:restr:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:sedat=%s:sedat:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:coerc=%s:coerc:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "CDEF:belt30=belt,2592000,TRENDNAN");
        series_arg(a, "CDEF:restr30=restr,2592000,TRENDNAN");
        series_arg(a, "CDEF:sedat30=sedat,2592000,TRENDNAN");
        series_arg(a, "CDEF:coerc30=coerc,2592000,TRENDNAN");
        series_arg(a, "AREA:belt30#c0392b:Bæltefiksering");
        series_arg(a, "AREA:restr30#e67e22:Fastholdelse:STACK");
        series_arg(a, "AREA:sedat30#f1c40f:Beroligende medicin\\l:STACK");
        series_arg(a, "LINE1:coerc30#34495e:Al tvang");
        if (marks && isfinite(marks->baseline_per_day) && marks->target_end > marks->target_start) {
            series_arg(a, "HRULE:%.6f#7f8c8d:Baseline:dashes", marks->baseline_per_day);
            series_arg_goal(a, "belt", marks, marks->baseline_per_day);
            series_arg(a, "LINE2:goal#27ae60:Målsti (indgribende tvang)\\l");
        }
        break;
    case SERIES_G_ACTIVITY:
        series_arg(a, "DEF:adm=%s:adm:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:dis=%s:dis:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "CDEF:adm30=adm,2592000,TRENDNAN");
        series_arg(a, "CDEF:dis30=dis,2592000,TRENDNAN");
        series_arg(a, "LINE2:adm30#2980b9:Indlæggelser");
        series_arg(a, "LINE2:dis30#8e44ad:Udskrivelser\\l");
        break;
    case SERIES_G_BEDS:
        series_arg(a, "DEF:beds=%s:beds:AVERAGE", path);
        series_arg(a, "AREA:beds#5d8aa8:Belagte senge (gennemsnit over døgnet)\\l");
        break;
    case SERIES_G_READMISSION: {
        int64_t b = now - 30 * 86400 - 12 * 3600;

        series_arg(a, "DEF:idx=%s:idx:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "DEF:readm=%s:readm:AVERAGE:start=%lld", path, (long long)from);
        series_arg(a, "CDEF:idx30=idx,2592000,TRENDNAN,30,*");
        series_arg(a, "CDEF:readm30=readm,2592000,TRENDNAN,30,*");
        series_arg(a, "CDEF:rate=idx30,0,GT,readm30,idx30,/,100,*,UNKN,IF");
        series_arg(a, "CDEF:final=TIME,%lld,LE,rate,UNKN,IF", (long long)b);
        series_arg(a, "CDEF:prov=TIME,%lld,GT,rate,UNKN,IF", (long long)(b - 86400));
        series_arg(a, "LINE2:final#2c3e50:Genindlagt inden for 30 dage");
        series_arg(a, "LINE2:prov#aab7c4:foreløbig\\l");
        break;
    }
    case SERIES_G_RATE:
        series_arg(a, "DEF:r12=%s:r12:AVERAGE", path);
        series_arg(a, "LINE2:r12#c0392b:Indgribende tvang pr. 100.000 (12 måneder)\\l");
        if (marks && isfinite(marks->baseline_per_100k) && marks->baseline_per_100k > 0 &&
            marks->target_end > marks->target_start) {
            series_arg(a, "HRULE:%.6f#7f8c8d:Baseline:dashes", marks->baseline_per_100k);
            series_arg_goal(a, "r12", marks, marks->baseline_per_100k);
            series_arg(a, "LINE2:goal#27ae60:Målsti\\l");
        }
        break;
    default:
        break;
    }
}

int
series_graph(agg_t *agg, const char *center, const char *what, int days,
             const series_marks_t *marks, unsigned char **ret_png, size_t *ret_len)
{
    psy_agg_conf_t *conf;
    char path[PSY_PATH_MAX];
    char title[PSY_NAME_MAX + 96];
    const char *name = NULL;
    series_args_t a = {0};
    struct stat st;
    rrd_info_t *info, *it;
    int64_t now, end, start;
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
    snprintf(title, sizeof(title), "%s: %s", name, series_graphs[kind].title);
    r = snprintf(path, sizeof(path), "%s/rrd/%s.rrd", conf->data_dir, center) >= (int)sizeof(path)
            ? -ENAMETOOLONG
            : 0;
    free(conf);
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
    series_arg(&a, "--lower-limit=0");
    /* Counts per day as plain numbers: no SI prefix ("240 m" for 0.24 a day). */
    series_arg(&a, "--units-exponent=0");
    series_arg(&a, "--title=%s", title);
    series_arg(&a, "--vertical-label=%s", series_graphs[kind].label);
    series_graph_args(&a, (series_graph_kind_t)kind, path, marks, start, now);
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

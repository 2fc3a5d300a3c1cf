/*
 * bench_kpi: how fast the KPI engine answers on ten years of a region.
 *
 *   bench_kpi [RECORDS] [DATA_DIR | memory | r12]
 *
 * Generates about RECORDS registrations (default 2,000,000) of 8 centers
 * over 2016-2025 and prints, in milliseconds:
 *   - one r12 query, every center and the region, every KPI (the call
 *     behind `psymon kpi --period r12`);
 *   - a full recompute: every month, quarter, year and r12 of the ten years;
 *   - with DATA_DIR (an empty folder): storing the records through
 *     store_apply_batch, store_load, and store_load + the r12 query, which
 *     is what one `psymon kpi` call does.
 * With `memory`: the bytes of the prepared model per record, and the
 * resident memory once the records are freed (what the aggregator keeps
 * between builds; issue target: at most 96 bytes per record at 2 million).
 * Numbers only; nothing here is a test.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpi.h"
#include "kpi_snapshot.h"
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

static double
cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
conf_init(psy_agg_conf_t *c)
{
    memset(c, 0, sizeof(*c));
    c->ncenters = NCENTERS;
    for (int i = 0; i < NCENTERS; i++) {
        snprintf(c->centers[i].id, sizeof(c->centers[i].id), "pc-%d", i);
        c->centers[i].population.count = 1;
        c->centers[i].population.years[0] = (psy_population_t){2016, 230000};
    }
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

static int
push(kpi_records_t *v, int center, psy_record_t *r)
{
    return kpi_records_push(v, (uint16_t)center, r);
}

/*
 * A region's ten years: patients with a few contacts each, discharges,
 * coercion during some contacts, consultations, referrals and treatment
 * starts, until about `want` records exist.
 */
static int
generate(kpi_records_t *v, size_t want)
{
    psy_time_t lo = 1451606400 * PSY_USEC; /* 2016-01-01 */
    psy_time_t span = (psy_time_t)3650 * PSY_DAY;
    unsigned long id = 0;

    for (uint32_t p = 0; v->count < want; p++) {
        psy_record_t r;
        psy_time_t t = lo + (psy_time_t)(rnd() % (uint64_t)span);
        int nc = 1 + (int)(rnd() % 5);
        int home = (int)(rnd() % NCENTERS);

        for (int k = 0; k < nc && t < lo + span; k++) {
            int center = rnd() % 10 ? home : (int)(rnd() % NCENTERS);
            psy_time_t dur = (psy_time_t)(rnd() % (uint64_t)(30 * PSY_DAY));
            char cid[PSY_ID_MAX + 1];

            psy_record_init(&r);
            r.type = PSY_REC_ADMISSION;
            snprintf(r.id, sizeof(r.id), "A%lu", ++id);
            snprintf(r.contact, sizeof(r.contact), "%s", r.id);
            snprintf(cid, sizeof(cid), "%s", r.id);
            r.time = t;
            r.has_patient = true;
            memset(r.patient, 0, sizeof(r.patient));
            memcpy(r.patient, &p, sizeof(p));
            r.patient[31] = 0xa5;
            r.mode = rnd() % 3 ? PSY_MODE_ACUTE : PSY_MODE_PLANNED;
            r.legal = rnd() % 5 ? PSY_LEGAL_VOLUNTARY : PSY_LEGAL_INVOLUNTARY_RED;
            if (push(v, center, &r) < 0)
                return -ENOMEM;
            for (int c = (int)(rnd() % 4) - 2; c > 0; c--) {
                psy_record_t co = r;

                co.type = PSY_REC_COERCION;
                snprintf(co.id, sizeof(co.id), "C%lu", ++id);
                co.time = t + (psy_time_t)(rnd() % (uint64_t)(dur + 1));
                co.coercion = (psy_coercion_t)(1 + rnd() % 5);
                co.end = co.coercion == PSY_COERCION_BELT
                             ? co.time + (psy_time_t)(rnd() % (uint64_t)(40 * PSY_HOUR))
                             : PSY_TIME_NONE;
                co.mode = PSY_MODE_NONE;
                co.legal = PSY_LEGAL_NONE;
                if (push(v, center, &co) < 0)
                    return -ENOMEM;
            }
            if (rnd() % 3 == 0) {
                psy_record_t cs = r;

                cs.type = PSY_REC_CONSULTATION;
                snprintf(cs.id, sizeof(cs.id), "S%lu", ++id);
                cs.contact[0] = '\0';
                cs.mode = PSY_MODE_NONE;
                cs.legal = PSY_LEGAL_NONE;
                cs.role = (psy_role_t)(1 + rnd() % 3);
                cs.consult = (psy_consult_t)(1 + rnd() % 6);
                if (push(v, center, &cs) < 0)
                    return -ENOMEM;
            }
            r.type = PSY_REC_DISCHARGE;
            snprintf(r.id, sizeof(r.id), "D%lu", ++id);
            snprintf(r.contact, sizeof(r.contact), "%s", cid);
            r.time = t + dur;
            r.mode = PSY_MODE_NONE;
            r.legal = PSY_LEGAL_NONE;
            r.outcome = rnd() % 8 ? PSY_OUTCOME_REGULAR : PSY_OUTCOME_SELF_DISCHARGE;
            if (push(v, center, &r) < 0)
                return -ENOMEM;
            t += dur + (psy_time_t)(rnd() % (uint64_t)(200 * PSY_DAY));
        }
        if (rnd() % 10 == 0) {
            psy_record_init(&r);
            r.type = PSY_REC_REFERRAL;
            snprintf(r.id, sizeof(r.id), "R%lu", ++id);
            r.time = t;
            r.has_patient = true;
            memcpy(r.patient, &p, sizeof(p));
            if (push(v, home, &r) < 0)
                return -ENOMEM;
            char rid[PSY_ID_MAX + 1];
            snprintf(rid, sizeof(rid), "%s", r.id);
            r.type = PSY_REC_TREATMENT_START;
            snprintf(r.id, sizeof(r.id), "T%lu", ++id);
            snprintf(r.referral, sizeof(r.referral), "%s", rid);
            r.time = t + (psy_time_t)(rnd() % (uint64_t)(90 * PSY_DAY));
            if (push(v, home, &r) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

/* Runs one query (from the model when m is not NULL) and prints its wall and CPU time. */
static int
run_on(const char *what, const kpi_records_t *v, const kpi_model_t *m, const psy_agg_conf_t *conf,
       kpi_period_kind_t kind, int from_y, int from_m, int to_y, int to_m, psy_time_t as_of)
{
    kpi_period_t *per = NULL;
    size_t nper = 0, nk = kpi_count(), nrows = 0;
    int levels[NCENTERS + 1], *kpis = malloc(nk * sizeof(int));
    kpi_row_t *rows = NULL;
    int r;

    if (!kpis)
        return -ENOMEM;
    for (int i = 0; i < NCENTERS; i++)
        levels[i] = i;
    levels[NCENTERS] = KPI_LEVEL_REGION;
    for (size_t k = 0; k < nk; k++)
        kpis[k] = (int)k;
    r = kpi_period_list(kind, from_y, from_m, to_y, to_m, &per, &nper);
    if (r < 0)
        goto out;
    kpi_query_t q = {conf, as_of, nper, per, NCENTERS + 1, levels, nk, kpis};
    double w0 = now_ms(), c0 = cpu_ms();
    r = m ? kpi_model_compute(m, &q, &rows, &nrows) : kpi_compute(v, &q, &rows, &nrows);
    double w1 = now_ms(), c1 = cpu_ms();
    if (r == 0)
        printf("%-44s %9.1f ms wall %9.1f ms cpu  (%zu periods, %zu rows)\n", what, w1 - w0,
               c1 - c0, nper, nrows);
out:
    free(rows);
    free(per);
    free(kpis);
    return r;
}

static int
run(const char *what, const kpi_records_t *v, const psy_agg_conf_t *conf, kpi_period_kind_t kind,
    int from_y, int from_m, int to_y, int to_m, psy_time_t as_of)
{
    return run_on(what, v, NULL, conf, kind, from_y, from_m, to_y, to_m, as_of);
}

/* Every month, quarter, year and r12 of the ten years, from records or from a model. */
static int
full(const char *what, const kpi_records_t *v, const kpi_model_t *m, const psy_agg_conf_t *conf,
     psy_time_t as_of)
{
    double f0 = now_ms(), fc0 = cpu_ms();
    int r;

    if ((r = run_on("  full: 120 months", v, m, conf, KPI_MONTH, 2016, 1, 2025, 12, as_of)) < 0 ||
        (r = run_on("  full: 40 quarters", v, m, conf, KPI_QUARTER, 2016, 1, 2025, 12, as_of)) <
            0 ||
        (r = run_on("  full: 10 years", v, m, conf, KPI_YEAR, 2016, 1, 2025, 12, as_of)) < 0 ||
        (r = run_on("  full: 109 r12", v, m, conf, KPI_R12, 2016, 12, 2025, 12, as_of)) < 0)
        return r;
    printf("%-44s %9.1f ms wall %9.1f ms cpu\n", what, now_ms() - f0, cpu_ms() - fc0);
    return 0;
}

/* What one `psymon kpi --period r12` call does when the cached model is current. */
static int
snapshot_call(const char *dir, const psy_agg_conf_t *conf, psy_time_t as_of)
{
    double w0 = now_ms(), c0 = cpu_ms();
    store_t *ro = store_new(dir, true);
    kpi_snapshot_t *snap = NULL;
    uint64_t vid;
    psy_time_t at;
    int r = -EIO;

    if (!ro || store_generation(ro, &vid, &at) < 0)
        goto out;
    snap = kpi_snapshot_open(dir, vid, at, conf);
    if (!snap) {
        r = -errno;
        goto out;
    }
    r = run_on("  r12 query from the cached model", NULL, kpi_snapshot_model(snap), conf, KPI_R12,
               2025, 12, 2025, 12, as_of);
    printf("%-44s %9.1f ms wall %9.1f ms cpu\n", "  = `psymon kpi` with a current cache",
           now_ms() - w0, cpu_ms() - c0);
out:
    kpi_snapshot_destroy(&snap);
    store_destroy(&ro);
    return r;
}

static int
store_bench(const char *dir, const kpi_records_t *v, const psy_agg_conf_t *conf, psy_time_t as_of)
{
    store_t *s = store_new(dir, false);
    psy_record_t *buf = malloc(PSY_BATCH_MAX * sizeof(*buf));
    uint64_t seq[NCENTERS];
    size_t done = 0;
    int r = -ENOMEM;

    if (!s || !buf)
        goto out;
    for (int c = 0; c < NCENTERS; c++)
        seq[c] = 1;
    double w0 = now_ms();
    /* One center's records at a time, in batches of PSY_BATCH_MAX. */
    for (int c = 0; c < NCENTERS; c++) {
        size_t nb = 0;

        for (size_t i = 0; i <= v->count; i++) {
            if (i < v->count && v->items[i].center == c)
                buf[nb++] = v->items[i].rec;
            if (nb && (nb == PSY_BATCH_MAX || i == v->count)) {
                psy_batch_t b = {{0}, seq[c], nb, buf};
                uint64_t acked;

                memset(b.epoch, c + 1, sizeof(b.epoch));
                r = store_apply_batch(s, conf->centers[c].id, &b, as_of, &acked);
                if (r < 0)
                    goto out;
                seq[c] += nb;
                done += nb;
                nb = 0;
            }
        }
    }
    printf("%-44s %9.1f ms wall  (%zu records)\n", "store_apply_batch, all records", now_ms() - w0,
           done);
    store_destroy(&s);

    for (int i = 0; i < 2; i++) {
        kpi_records_t loaded = {0};
        store_t *ro = store_new(dir, true);

        if (!ro)
            goto out;
        double l0 = now_ms(), c0 = cpu_ms();
        r = store_load(ro, conf, PSY_TIME_NONE, &loaded);
        double l1 = now_ms(), c1 = cpu_ms();
        if (r == 0)
            printf("%-44s %9.1f ms wall %9.1f ms cpu  (%zu records)\n", "store_load", l1 - l0,
                   c1 - c0, loaded.count);
        if (r == 0)
            r = run("  then one r12 query, all centers", &loaded, conf, KPI_R12, 2025, 12, 2025, 12,
                    as_of);
        printf("%-44s %9.1f ms wall\n", "  = one `psymon kpi` call (open+load+query)",
               now_ms() - l0);
        if (i == 0 && r == 0) {
            uint64_t vid;
            psy_time_t at;
            double s0 = now_ms();
            kpi_model_t *m = kpi_model_new(&loaded, conf, INT64_MAX);

            r = m && store_generation(ro, &vid, &at) == 0 ? kpi_snapshot_save(dir, vid, at, conf, m)
                                                          : -ENOMEM;
            kpi_model_destroy(&m);
            printf("%-44s %9.1f ms wall\n", "  build + save the cached model", now_ms() - s0);
        }
        kpi_records_free(&loaded);
        store_destroy(&ro);
        if (r < 0)
            goto out;
    }
    for (int i = 0; i < 3; i++)
        if ((r = snapshot_call(dir, conf, as_of)) < 0)
            goto out;
    r = 0;
out:
    free(buf);
    store_destroy(&s);
    return r;
}

/* kpi_model_write's sink that only counts. */
static int
count_bytes(void *ctx, const void *p, size_t n)
{
    (void)p;
    *(size_t *)ctx += n;
    return 0;
}

/* A line of /proc/self/status in KiB ("VmRSS:", "VmHWM:"), or -1. */
static long
rss_kib(const char *key)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "re");

    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key), NULL, 10);
    if (f)
        fclose(f);
    return v;
}

int
main(int argc, char **argv)
{
    size_t want = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    static psy_agg_conf_t conf;
    kpi_records_t v = {0};
    kpi_model_t *model = NULL;
    psy_time_t as_of = 1798761600 * PSY_USEC; /* 2027-01-01, after every record */
    int r;

    if (psy_tz_set("Europe/Copenhagen") < 0) {
        fprintf(stderr, "bench_kpi: zone Europe/Copenhagen missing\n");
        return 1;
    }
    conf_init(&conf);
    double g0 = now_ms();
    if (generate(&v, want) < 0) {
        fprintf(stderr, "bench_kpi: out of memory\n");
        return 1;
    }
    printf("%-44s %9.1f ms wall  (%zu records, %zu bytes each)\n", "generate", now_ms() - g0,
           v.count, sizeof(kpi_record_t));
    for (int i = 0; i < 2; i++)
        if ((r = run("one r12 query from records (kpi_compute)", &v, &conf, KPI_R12, 2025, 12, 2025,
                     12, as_of)) < 0)
            goto fail;
    double m0 = now_ms(), mc0 = cpu_ms();
    model = kpi_model_new(&v, &conf, INT64_MAX);
    if (!model) {
        r = -errno;
        goto fail;
    }
    printf("%-44s %9.1f ms wall %9.1f ms cpu\n", "kpi_model_new (prepare once)", now_ms() - m0,
           cpu_ms() - mc0);
    for (int i = 0; i < 3; i++)
        if ((r = run_on("one r12 query from the model", NULL, model, &conf, KPI_R12, 2025, 12, 2025,
                        12, as_of)) < 0)
            goto fail;
    if (argc > 2 && strcmp(argv[2], "r12") == 0) /* for profiling the one query */
        goto done;
    if (argc > 2 && strcmp(argv[2], "memory") == 0) {
        /*
         * What the aggregator keeps resident between builds (model.c): the
         * model alone, the records freed and the heap trimmed, as the
         * refresh worker leaves it.
         */
        size_t bytes = 0;
        size_t n = v.count;
        kpi_model_write(model, count_bytes, &bytes);
        long before = rss_kib("VmRSS:");
        kpi_records_free(&v);
        malloc_trim(0);
        long after = rss_kib("VmRSS:"), peak = rss_kib("VmHWM:");
        printf("%-44s %9zu bytes  (%.1f bytes per record)\n", "model tables", bytes,
               (double)bytes / (double)n);
        printf("%-44s %9ld KiB\n", "RSS with records and model", before);
        printf("%-44s %9ld KiB  (%.1f bytes per record)\n", "RSS with the model only", after,
               (double)after * 1024.0 / (double)n);
        printf("%-44s %9ld KiB  (%.1f bytes per record)\n", "peak RSS (generating + building)",
               peak, (double)peak * 1024.0 / (double)n);
        goto done;
    }
    if ((r = full("full recompute from the model", NULL, model, &conf, as_of)) < 0 ||
        (r = full("full recompute from records (kpi_compute)", &v, NULL, &conf, as_of)) < 0)
        goto fail;
    if (argc > 2 && (r = store_bench(argv[2], &v, &conf, as_of)) < 0)
        goto fail;
done:
    kpi_model_destroy(&model);
    kpi_records_free(&v);
    return 0;
fail:
    fprintf(stderr, "bench_kpi: %s\n", strerror(-r));
    kpi_model_destroy(&model);
    kpi_records_free(&v);
    return 1;
}

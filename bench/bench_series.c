/*
 * bench_series: rebuild of every RRD file for a region of about 2 million
 * records, 8 centers and 10 years (2021-2030), as the series thread does
 * after a correction. Target: at most 2 s. Prints numbers; asserts nothing.
 *
 * Usage: bench_series [records] [runs]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kpi.h"
#include "psymon/time.h"
#include "series.h"

#define CENTERS  8
#define PATIENTS 60000
#define YEARS    10

static uint64_t bench_rng = 88172645463325252ULL;

/* xorshift64: deterministic, so every run draws the same region. */
static uint64_t
bench_rand(void)
{
    bench_rng ^= bench_rng << 13;
    bench_rng ^= bench_rng >> 7;
    bench_rng ^= bench_rng << 17;
    return bench_rng;
}

static double
bench_secs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_patient(psy_record_t *r, uint32_t p)
{
    r->has_patient = true;
    memset(r->patient, 0, sizeof(r->patient));
    memcpy(r->patient, &p, sizeof(p));
}

/*
 * The mix of a real region: a third of the records admissions and
 * discharges, a third coercion, the rest consultations, referrals and
 * treatment starts.
 */
static int
bench_generate(kpi_records_t *recs, size_t want, int64_t span_s)
{
    size_t contacts = want / 6;
    psy_record_t r;

    for (size_t i = 0; i < contacts; i++) {
        uint32_t p = (uint32_t)(bench_rand() % PATIENTS);
        uint16_t c = (uint16_t)(p % CENTERS);
        int64_t start = SERIES_EPOCH_S + (int64_t)(bench_rand() % (uint64_t)span_s);
        int64_t len = 3600 + (int64_t)(bench_rand() % (40 * 86400));

        psy_record_init(&r);
        r.type = PSY_REC_ADMISSION;
        snprintf(r.id, sizeof(r.id), "adm-%zu", i);
        r.time = start * PSY_USEC;
        r.mode = bench_rand() % 3 ? PSY_MODE_ACUTE : PSY_MODE_PLANNED;
        r.legal = PSY_LEGAL_VOLUNTARY;
        bench_patient(&r, p);
        if (kpi_records_push(recs, c, &r) < 0)
            return -ENOMEM;
        psy_record_init(&r);
        r.type = PSY_REC_DISCHARGE;
        snprintf(r.id, sizeof(r.id), "dis-%zu", i);
        snprintf(r.contact, sizeof(r.contact), "adm-%zu", i);
        r.time = (start + len) * PSY_USEC;
        r.outcome = bench_rand() % 20 ? PSY_OUTCOME_REGULAR : PSY_OUTCOME_SELF_DISCHARGE;
        bench_patient(&r, p);
        if (kpi_records_push(recs, c, &r) < 0)
            return -ENOMEM;
    }
    for (size_t i = 0; recs->count < want; i++) {
        uint32_t p = (uint32_t)(bench_rand() % PATIENTS);
        uint16_t c = (uint16_t)(p % CENTERS);
        int64_t t = SERIES_EPOCH_S + (int64_t)(bench_rand() % (uint64_t)span_s);
        uint64_t kind = bench_rand() % 6;

        psy_record_init(&r);
        snprintf(r.id, sizeof(r.id), "x-%zu", i);
        r.time = t * PSY_USEC;
        bench_patient(&r, p);
        if (kind < 3) {
            r.type = PSY_REC_COERCION;
            r.coercion = (psy_coercion_t)(1 + bench_rand() % (PSY_COERCION__COUNT - 1));
            r.end = (t + 3600 * (int64_t)(1 + bench_rand() % 30)) * PSY_USEC;
            r.voluntary = r.coercion == PSY_COERCION_BELT && bench_rand() % 10 == 0;
        } else if (kind < 5) {
            r.type = PSY_REC_CONSULTATION;
            r.role = PSY_ROLE_SOCIAL_NURSE;
            r.consult = PSY_CONSULT_ACTION_PLAN;
        } else {
            r.type = PSY_REC_REFERRAL;
        }
        if (kpi_records_push(recs, c, &r) < 0)
            return -ENOMEM;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    size_t want = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    psy_agg_conf_t *conf = calloc(1, sizeof(*conf));
    kpi_records_t recs = {0};
    char dir[] = "/tmp/bench_series.XXXXXX";
    char rrd_dir[64], err[512] = "";
    /* 2031-01-01T00:00:00Z: ten whole years held. */
    const int64_t now_s = INT64_C(1924992000);
    double t0, best = 1e9, sum = 0;
    char cmd[128];

    if (!conf || want == 0 || runs < 1 || !mkdtemp(dir)) {
        fprintf(stderr, "bench_series: cannot start\n");
        return 1;
    }
    snprintf(rrd_dir, sizeof(rrd_dir), "%s/rrd", dir);
    conf->ncenters = CENTERS;
    for (int c = 0; c < CENTERS; c++) {
        snprintf(conf->centers[c].id, sizeof(conf->centers[c].id), "pc-%d", c);
        conf->centers[c].population.count = 1;
        conf->centers[c].population.years[0] = (psy_population_t){2021, 230000};
    }
    conf->target_pct = 30;
    conf->nbaseline = 3;
    conf->baseline_years[0] = 2021;
    conf->baseline_years[1] = 2022;
    conf->baseline_years[2] = 2023;
    conf->first_year = 2024;
    conf->first_month = 1;
    conf->last_year = 2030;
    conf->last_month = 12;

    t0 = bench_secs();
    if (bench_generate(&recs, want, now_s - SERIES_EPOCH_S) < 0) {
        fprintf(stderr, "bench_series: out of memory\n");
        return 1;
    }
    printf("generated %zu records, %d centers, %d years in %.2f s\n", recs.count, CENTERS, YEARS,
           bench_secs() - t0);

    for (int i = 0; i < runs; i++) {
        double dt;
        int r;

        t0 = bench_secs();
        r = series_rebuild(rrd_dir, conf, &recs, now_s * PSY_USEC, err, sizeof(err));
        dt = bench_secs() - t0;
        if (r < 0) {
            fprintf(stderr, "bench_series: series_rebuild: %s (%s)\n", strerror(-r), err);
            return 1;
        }
        printf("rebuild %d: %.3f s (%d files of %lld days)\n", i + 1, dt, CENTERS + 1,
               (long long)((now_s - SERIES_EPOCH_S) / 86400));
        sum += dt;
        if (dt < best)
            best = dt;
    }
    printf("series_rebuild: best %.3f s, mean %.3f s over %d runs (target <= 2 s)\n", best,
           sum / runs, runs);

    /*
     * For comparison: what asking the KPI engine for the monthly intrusive
     * episodes of the ten years would add to every rebuild (series.c
     * counts them itself, by the engine's definition).
     */
    {
        kpi_period_t months[120];
        int levels[CENTERS + 1];
        int kpi = kpi_find("intrusive_episodes");
        kpi_query_t q = {0};
        kpi_row_t *rows = NULL;
        size_t n = 0;

        for (int i = 0; i < 120; i++)
            months[i] =
                (kpi_period_t){.kind = KPI_MONTH, .year = 2021 + i / 12, .month = 1 + i % 12};
        for (int l = 0; l < CENTERS; l++)
            levels[l] = l;
        levels[CENTERS] = KPI_LEVEL_REGION;
        q.conf = conf;
        q.as_of = now_s * PSY_USEC;
        q.nperiods = 120;
        q.periods = months;
        q.nlevels = CENTERS + 1;
        q.levels = levels;
        q.nkpis = 1;
        q.kpis = &kpi;
        t0 = bench_secs();
        if (kpi_compute(&recs, &q, &rows, &n) == 0)
            printf("for comparison, kpi_compute of 120 months' intrusive_episodes: %.3f s\n",
                   bench_secs() - t0);
        free(rows);
    }

    kpi_records_free(&recs);
    free(conf);
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/*
 * spc: the qicharts2 fixture reproduced to 1e-9, then one table-driven case
 * per chart and rule of spc.md, each with numbers worked out by hand (the
 * comments show the arithmetic).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kpi.h"
#include "spc.h"

#define NONE NAN /* an expected line that must be unset */

/* got equals want to 1e-9 relative, or both are unset when want is NONE. */
static void
expect_num(const char *what, size_t i, const kpi_num_t *got, double want)
{
    if (isnan(want)) {
        if (got->set)
            fail_msg("%s[%zu]: want empty, got %.15g", what, i, got->v);
        return;
    }
    if (!got->set)
        fail_msg("%s[%zu]: want %.15g, got empty", what, i, want);
    double tol = want == 0 ? 1e-12 : 1e-9 * fabs(want);
    if (!(fabs(got->v - want) <= tol))
        fail_msg("%s[%zu]: want %.15g, got %.15g", what, i, want, got->v);
}

static void
expect_count(const char *what, const kpi_num_t *got, long want)
{
    if (want < 0) {
        if (got->set)
            fail_msg("%s: want empty, got %g", what, got->v);
        return;
    }
    if (!got->set || !got->integer || got->v != (double)want)
        fail_msg("%s: want %ld, got %s%g", what, want, got->set ? "" : "empty ", got->v);
}

/* ---- the qicharts2 fixture ---- */

static char *
read_text(const char *dir, const char *name)
{
    char path[1024];
    FILE *f;
    char *buf;
    long len;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* The integer after "key=" in line, which must hold it. */
static long
summary_value(const char *line, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), ",%s=", key);
    p = strstr(line, pat);
    if (!p)
        fail_msg("summary has no %s", key);
    return strtol(p + strlen(pat), NULL, 10);
}

static void
check_fixture(const char *dir)
{
    char *input = read_text(dir, "u_input.csv");
    char *want = read_text(dir, "u_qicharts2.csv");
    spc_in_t in[64] = {0};
    spc_point_t pts[64];
    spc_summary_t s;
    size_t n = 0, rows = 0, signals = 0;
    char *save = NULL, *line;

    line = strtok_r(input, "\n", &save);
    assert_string_equal(line, "x,n");
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        long x, d;

        assert_int_equal(sscanf(line, "%ld,%ld", &x, &d), 2);
        assert_true(n < 64);
        /* As the engine returns intrusive_per_1000_bed_days: d is bed days, a real. */
        in[n].numerator = (kpi_num_t){true, true, (double)x};
        in[n].denominator = (kpi_num_t){true, false, (double)d};
        in[n].value = (kpi_num_t){true, false, 1000.0 * (double)x / (double)d};
        /* freeze = 12: the first twelve months are the baseline year. */
        in[n].in_baseline_year = n < 12;
        n++;
    }
    assert_int_equal(n, 24);
    assert_int_equal(spc_compute(SPC_CHART_U, SPC_DIR_LOWER, in, n, pts, &s), 0);

    save = NULL;
    line = strtok_r(want, "\n", &save);
    assert_string_equal(line, "i,y,cl,lcl,ucl,sigma_signal");
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        size_t i;
        double y, cl, lcl, ucl;
        int sig;

        if (strncmp(line, "#summary", 8) == 0) {
            assert_int_equal(summary_value(line, "n_obs"), 24);
            assert_int_equal(s.n_useful, summary_value(line, "n_useful"));
            expect_count("longest_run", &s.longest_run, summary_value(line, "longest_run"));
            expect_count("longest_run_max", &s.longest_run_max,
                         summary_value(line, "longest_run_max"));
            expect_count("crossings", &s.crossings, summary_value(line, "n_crossings"));
            expect_count("crossings_min", &s.crossings_min, summary_value(line, "n_crossings_min"));
            assert_int_equal(s.runs_signal, summary_value(line, "runs_signal"));
            assert_int_equal(signals, summary_value(line, "sigma_signals"));
            continue;
        }
        assert_int_equal(sscanf(line, "%zu,%lf,%lf,%lf,%lf,%d", &i, &y, &cl, &lcl, &ucl, &sig), 6);
        assert_true(i >= 1 && i <= n);
        i--;
        expect_num("y", i, &pts[i].y, y);
        expect_num("cl", i, &pts[i].cl, cl);
        expect_num("lcl", i, &pts[i].lcl, lcl);
        expect_num("ucl", i, &pts[i].ucl, ucl);
        assert_int_equal(pts[i].sigma_signal, sig);
        assert_int_equal(pts[i].baseline, i < 12);
        signals += pts[i].sigma_signal;
        rows++;
    }
    assert_int_equal(rows, 24);
    /* The latest point, 13.84 per 1000 bed days, is far above ucl: a concern. */
    assert_int_equal(s.variation, SPC_VAR_HIGH);
    assert_int_equal(s.assessment, SPC_ASSESS_CONCERN);
    assert_int_equal(s.assurance, SPC_ASSURE_NONE);
    free(input);
    free(want);
}

/*
 * The fixture as committed with the tests (tests/data/spc, copied from
 * ../shared/spec/spc-fixtures, which a fresh CI checkout does not have),
 * and the shared original too when it is there.
 */
static void
test_qicharts2_fixture(void **state)
{
    const char *src = getenv("PSY_SOURCE_DIR");
    char dir[1024], probe[1100];
    FILE *f;

    (void)state;
    assert_non_null(src);
    snprintf(dir, sizeof(dir), "%s/tests/data/spc", src);
    check_fixture(dir);
    snprintf(dir, sizeof(dir), "%s/../shared/spec/spc-fixtures", src);
    snprintf(probe, sizeof(probe), "%s/u_qicharts2.csv", dir);
    f = fopen(probe, "r");
    if (f) {
        fclose(f);
        check_fixture(dir);
    }
}

/* ---- table-driven cases ---- */

#define MAXP 24

/*
 * One series. vals are the counts (c), values (i) or numerators (p, u);
 * dens the denominators of p and u. flags per point: '.' an ordinary month,
 * 'B' a month of a baseline year, 'P' provisional, 'E' empty. Expected
 * lines: cl, lcl and ucl the same on every point (NONE: unset), except
 * where nolim has an 'x' (no limits there); sig and base as 0/1 strings.
 * Counts -1 mean empty.
 */
typedef struct {
    const char *name;
    spc_chart_t chart;
    spc_direction_t dir;
    double target; /* NONE: no target */
    const char *flags;
    double vals[MAXP], dens[MAXP];
    double cl, lcl, ucl;
    const char *nolim, *sig, *base;
    long n_useful, longest, lmax, cross, cmin;
    bool runs_signal;
    spc_variation_t var;
    spc_assessment_t assess;
    spc_assurance_t assure;
} spc_case_t;

/* Trial p chart: cl = 170 / 1400 over all fourteen points. */
#define P_TRIAL_CL 170.0 / 1400
#define P_TRIAL_S  sqrt(P_TRIAL_CL *(1 - P_TRIAL_CL) / 100)
/* Frozen p chart: cl = 120 / 1200 = 0.1, s = sqrt(0.1 * 0.9 / 100) = 0.03. */
#define P_FROZEN_S sqrt(0.1 * 0.9 / 100)

/* Twelve baseline months alternating 4 and 6 (cl 5), then eight months of 7. */
#define RUN_VALS 4, 6, 4, 6, 4, 6, 4, 6, 4, 6, 4, 6, 7, 7, 7, 7, 7, 7, 7, 7

/* Twelve baseline months of 20 (cl 20, limits 20 -+ 3 sqrt(20)), then a 5: below lcl. */
#define LOW_FLAGS "BBBBBBBBBBBB."
#define LOW_VALS  20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 5

static void
case_inputs(const spc_case_t *c, spc_in_t *in, size_t *ret_n)
{
    size_t n = strlen(c->flags);

    assert_true(n <= MAXP);
    memset(in, 0, n * sizeof(*in));
    for (size_t i = 0; i < n; i++) {
        char fl = c->flags[i];
        double v = c->vals[i], d = c->dens[i];

        in[i].in_baseline_year = fl == 'B';
        in[i].provisional = fl == 'P';
        if (!isnan(c->target))
            in[i].target = (kpi_num_t){true, false, c->target};
        switch (c->chart) {
        case SPC_CHART_C:
            in[i].numerator = (kpi_num_t){true, true, v};
            if (fl != 'E')
                in[i].value = in[i].numerator;
            break;
        case SPC_CHART_I:
            /* A median: d is the number of values, the value empty when there are none. */
            in[i].denominator = (kpi_num_t){true, true, fl == 'E' ? 0 : 3};
            if (fl != 'E')
                in[i].value = (kpi_num_t){true, false, v};
            break;
        default:
            in[i].numerator = (kpi_num_t){true, true, v};
            in[i].denominator = (kpi_num_t){true, c->chart == SPC_CHART_P, d};
            if (d > 0)
                in[i].value = (kpi_num_t){true, false, spc_chart_scale(c->chart) * v / d};
            break;
        }
    }
    *ret_n = n;
}

static void
test_cases(void **state)
{
    /* Automatic: the expected limits are computed (sqrt), not constants. */
    const spc_case_t cases[] = {
        {
            /* y - cl: -1 +1 -1 +1 0 0: four useful points, three crossings. */
            .name = "c: points on the centre line, trial limits",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_NEUTRAL,
            .target = NONE,
            .flags = "......",
            .vals = {2, 4, 2, 4, 3, 3},
            .cl = 3,
            .lcl = 0, /* 3 - 3 sqrt(3) < 0 */
            .ucl = 3 + 3 * 1.7320508075688772,
            .nolim = "",
            .sig = "000000",
            .base = "000000",
            .n_useful = 4,
            .longest = 1,
            .lmax = 5, /* round(log2 4) + 3 */
            .cross = 3,
            .cmin = 0, /* P(X <= 0) = 1/8 for X ~ B(3, 1/2) */
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
        },
        {
            /*
             * Included: 5, 7, 6, so cl = 6. The one moving range with both
             * months in B is |6 - 7| = 1, so s = 1 / 1.128. The provisional 20
             * is above ucl and signals, but the latest included point is the 6
             * on the line.
             */
            .name = "i: empty and provisional points",
            .chart = SPC_CHART_I,
            .dir = SPC_DIR_LOWER,
            .target = NONE,
            .flags = ".E..P",
            .vals = {5, 0, 7, 6, 20},
            .cl = 6,
            .lcl = 6 - 3 / 1.128,
            .ucl = 6 + 3 / 1.128,
            .nolim = "",
            .sig = "00001",
            .base = "00000",
            .n_useful = 2,
            .longest = 1,
            .lmax = 4,
            .cross = 1,
            .cmin = 0,
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
        },
        {
            /*
             * cl = (10 + 12 + 20 + 22 + 21) / 5 = 17. Moving ranges 2, 2, 1
             * (not |20 - 12|: the empty month between breaks the pair), so
             * s = (5/3) / 1.128 and the limits are 17 -+ 4.4326.
             */
            .name = "i: moving ranges skip a gap",
            .chart = SPC_CHART_I,
            .dir = SPC_DIR_LOWER,
            .target = 25, /* above ucl on a lower-is-better KPI */
            .flags = "..E...",
            .vals = {10, 12, 0, 20, 22, 21},
            .cl = 17,
            .lcl = 17 - 3 * (5.0 / 3) / 1.128,
            .ucl = 17 + 3 * (5.0 / 3) / 1.128,
            .nolim = "",
            .sig = "110010",
            .base = "000000",
            .n_useful = 5,
            .longest = 3,
            .lmax = 5, /* round(2.32) + 3 */
            .cross = 1,
            .cmin = 0, /* P(X <= 0) = 1/16 for B(4, 1/2) */
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
            .assure = SPC_ASSURE_PASS,
        },
        {
            /* 5 and 7 are not consecutive months: no moving range, no limits, no assurance. */
            .name = "i: no moving range, no limits",
            .chart = SPC_CHART_I,
            .dir = SPC_DIR_HIGHER,
            .target = 3,
            .flags = ".E.",
            .vals = {5, 0, 7},
            .cl = 6,
            .lcl = NONE,
            .ucl = NONE,
            .nolim = "",
            .sig = "000",
            .base = "000",
            .n_useful = 2,
            .longest = 1,
            .lmax = 4,
            .cross = 1,
            .cmin = 0,
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
        },
        {
            /*
             * Eleven baseline months only: trial limits from all fourteen.
             * 13 of 14 points (10 %) sit below cl = 12.14 %, then 40 % above
             * ucl = 21.94 %: a run of 13 > round(log2 14) + 3 = 7.
             */
            .name = "p: fewer than 12 baseline points give trial limits",
            .chart = SPC_CHART_P,
            .dir = SPC_DIR_LOWER,
            .target = 20, /* between the limits */
            .flags = "BBBBBBBBBBB...",
            .vals = {10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 40},
            .dens = {100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100},
            .cl = 100 * (P_TRIAL_CL),
            .lcl = 100 * (P_TRIAL_CL - 3 * P_TRIAL_S),
            .ucl = 100 * (P_TRIAL_CL + 3 * P_TRIAL_S),
            .nolim = "",
            .sig = "00000000000001",
            .base = "00000000000000",
            .n_useful = 14,
            .longest = 13,
            .lmax = 7,
            .cross = 1,
            .cmin = 4, /* qbinom(0.05, 13, 0.5) */
            .runs_signal = true,
            .var = SPC_VAR_HIGH,
            .assess = SPC_ASSESS_CONCERN,
            .assure = SPC_ASSURE_HIT_AND_MISS,
        },
        {
            /*
             * Twelve baseline months freeze cl = 10 % and the limits
             * 10 -+ 3 * 3 = 1 % and 19 %. The baseline points lie on the line;
             * only the 40 % is useful.
             */
            .name = "p: twelve baseline points freeze the limits",
            .chart = SPC_CHART_P,
            .dir = SPC_DIR_HIGHER,
            .target = 95, /* above ucl on a higher-is-better KPI: fail */
            .flags = "BBBBBBBBBBBB..",
            .vals = {10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 40},
            .dens = {100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100},
            .cl = 10,
            .lcl = 100 * (0.1 - 3 * P_FROZEN_S),
            .ucl = 100 * (0.1 + 3 * P_FROZEN_S),
            .nolim = "",
            .sig = "00000000000001",
            .base = "11111111111100",
            .n_useful = 1,
            .longest = 1,
            .lmax = 3,
            .cross = 0,
            .cmin = 0,
            .var = SPC_VAR_HIGH,
            .assess = SPC_ASSESS_IMPROVEMENT,
            .assure = SPC_ASSURE_FAIL,
        },
        {
            /* The empty month (d = 0) has the centre line but no limits. cl = 50 / 500. */
            .name = "p: a month with d = 0",
            .chart = SPC_CHART_P,
            .dir = SPC_DIR_LOWER,
            .target = NONE,
            .flags = "....E.",
            .vals = {10, 12, 8, 10, 0, 10},
            .dens = {100, 100, 100, 100, 0, 100},
            .cl = 10,
            .lcl = 100 * (0.1 - 3 * P_FROZEN_S),
            .ucl = 100 * (0.1 + 3 * P_FROZEN_S),
            .nolim = "....x.",
            .sig = "000000",
            .base = "000000",
            .n_useful = 2,
            .longest = 1,
            .lmax = 4,
            .cross = 1,
            .cmin = 0,
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
        },
        {
            /* cl = 0: the limits collapse to 0 and nothing is useful; a target of 5 is met. */
            .name = "p: all-zero numerators",
            .chart = SPC_CHART_P,
            .dir = SPC_DIR_LOWER,
            .target = 5,
            .flags = "BBBBBBBBBBBB",
            .vals = {0},
            .dens = {50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50},
            .cl = 0,
            .lcl = 0,
            .ucl = 0,
            .nolim = "",
            .sig = "000000000000",
            .base = "111111111111",
            .n_useful = 0,
            .longest = -1,
            .lmax = -1,
            .cross = -1,
            .cmin = -1,
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
            .assure = SPC_ASSURE_PASS,
        },
        {
            .name = "c: all-zero series",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_LOWER,
            .target = NONE,
            .flags = "BBBBBBBBBBBB..",
            .vals = {0},
            .cl = 0,
            .lcl = 0,
            .ucl = 0,
            .nolim = "",
            .sig = "00000000000000",
            .base = "11111111111100",
            .n_useful = 0,
            .longest = -1,
            .lmax = -1,
            .cross = -1,
            .cmin = -1,
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
        },
        {
            /* Nothing included: no lines, no words. */
            .name = "c: only provisional points",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_LOWER,
            .target = 3,
            .flags = "PPP",
            .vals = {4, 5, 6},
            .cl = NONE,
            .lcl = NONE,
            .ucl = NONE,
            .nolim = "",
            .sig = "000",
            .base = "000",
            .n_useful = 0,
            .longest = -1,
            .lmax = -1,
            .cross = -1,
            .cmin = -1,
            .var = SPC_VAR_NONE,
            .assess = SPC_ASSESS_NONE,
            .assure = SPC_ASSURE_NONE,
        },
        {
            /*
             * cl 5, ucl 5 + 3 sqrt(5) = 11.7. The last 6 of the baseline and the
             * eight 7s make a run of 9 above cl, ending at the latest point:
             * 9 > round(log2 20) + 3 = 7. Eleven crossings, min qbinom(0.05, 19)
             * = 6.
             */
            .name = "c: a run ending at the latest point",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_LOWER,
            .target = 3, /* between lcl 0 and ucl */
            .flags = "BBBBBBBBBBBB........",
            .vals = {RUN_VALS},
            .cl = 5,
            .lcl = 0,
            .ucl = 5 + 3 * 2.23606797749979,
            .nolim = "",
            .sig = "00000000000000000000",
            .base = "11111111111100000000",
            .n_useful = 20,
            .longest = 9,
            .lmax = 7,
            .cross = 11,
            .cmin = 6,
            .runs_signal = true,
            .var = SPC_VAR_HIGH,
            .assess = SPC_ASSESS_CONCERN,
            .assure = SPC_ASSURE_HIT_AND_MISS,
        },
        {
            /* The same run, then a 4: the series signals, its latest point does not. */
            .name = "c: a long run that ended before the latest point",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_LOWER,
            .target = NONE,
            .flags = "BBBBBBBBBBBB.........",
            .vals = {RUN_VALS, 4},
            .cl = 5,
            .lcl = 0,
            .ucl = 5 + 3 * 2.23606797749979,
            .nolim = "",
            .sig = "000000000000000000000",
            .base = "111111111111000000000",
            .n_useful = 21,
            .longest = 9,
            .lmax = 7, /* round(4.39) + 3 */
            .cross = 12,
            .cmin = 6, /* qbinom(0.05, 20, 0.5) */
            .runs_signal = true,
            .var = SPC_VAR_COMMON,
            .assess = SPC_ASSESS_COMMON,
        },
        {
            /* 5 < lcl = 20 - 3 sqrt(20) = 6.58 on a higher-is-better KPI; target between limits. */
            .name = "c: low on a higher-is-better KPI",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_HIGHER,
            .target = 10,
            .flags = LOW_FLAGS,
            .vals = {LOW_VALS},
            .cl = 20,
            .lcl = 20 - 3 * 4.47213595499958,
            .ucl = 20 + 3 * 4.47213595499958,
            .nolim = "",
            .sig = "0000000000001",
            .base = "1111111111110",
            .n_useful = 1,
            .longest = 1,
            .lmax = 3,
            .cross = 0,
            .cmin = 0,
            .var = SPC_VAR_LOW,
            .assess = SPC_ASSESS_CONCERN,
            .assure = SPC_ASSURE_HIT_AND_MISS,
        },
        {
            .name = "c: low on a higher-is-better KPI, target below lcl",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_HIGHER,
            .target = 2,
            .flags = LOW_FLAGS,
            .vals = {LOW_VALS},
            .cl = 20,
            .lcl = 20 - 3 * 4.47213595499958,
            .ucl = 20 + 3 * 4.47213595499958,
            .nolim = "",
            .sig = "0000000000001",
            .base = "1111111111110",
            .n_useful = 1,
            .longest = 1,
            .lmax = 3,
            .cross = 0,
            .cmin = 0,
            .var = SPC_VAR_LOW,
            .assess = SPC_ASSESS_CONCERN,
            .assure = SPC_ASSURE_PASS,
        },
        {
            .name = "c: low on a lower-is-better KPI, target above ucl",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_LOWER,
            .target = 40,
            .flags = LOW_FLAGS,
            .vals = {LOW_VALS},
            .cl = 20,
            .lcl = 20 - 3 * 4.47213595499958,
            .ucl = 20 + 3 * 4.47213595499958,
            .nolim = "",
            .sig = "0000000000001",
            .base = "1111111111110",
            .n_useful = 1,
            .longest = 1,
            .lmax = 3,
            .cross = 0,
            .cmin = 0,
            .var = SPC_VAR_LOW,
            .assess = SPC_ASSESS_IMPROVEMENT,
            .assure = SPC_ASSURE_PASS,
        },
        {
            .name = "c: low on a lower-is-better KPI, target below lcl",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_LOWER,
            .target = 1,
            .flags = LOW_FLAGS,
            .vals = {LOW_VALS},
            .cl = 20,
            .lcl = 20 - 3 * 4.47213595499958,
            .ucl = 20 + 3 * 4.47213595499958,
            .nolim = "",
            .sig = "0000000000001",
            .base = "1111111111110",
            .n_useful = 1,
            .longest = 1,
            .lmax = 3,
            .cross = 0,
            .cmin = 0,
            .var = SPC_VAR_LOW,
            .assess = SPC_ASSESS_IMPROVEMENT,
            .assure = SPC_ASSURE_FAIL,
        },
        {
            /* A special cause on a neutral KPI is only "neutral", and has no assurance. */
            .name = "c: low on a neutral KPI",
            .chart = SPC_CHART_C,
            .dir = SPC_DIR_NEUTRAL,
            .target = 10,
            .flags = LOW_FLAGS,
            .vals = {LOW_VALS},
            .cl = 20,
            .lcl = 20 - 3 * 4.47213595499958,
            .ucl = 20 + 3 * 4.47213595499958,
            .nolim = "",
            .sig = "0000000000001",
            .base = "1111111111110",
            .n_useful = 1,
            .longest = 1,
            .lmax = 3,
            .cross = 0,
            .cmin = 0,
            .var = SPC_VAR_LOW,
            .assess = SPC_ASSESS_NEUTRAL,
            .assure = SPC_ASSURE_NONE,
        },
    };

    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const spc_case_t *c = &cases[k];
        spc_in_t in[MAXP];
        spc_point_t pts[MAXP];
        spc_summary_t s;
        size_t n;
        char what[160];

        print_message("case: %s\n", c->name);
        case_inputs(c, in, &n);
        assert_int_equal(strlen(c->sig), n);
        assert_int_equal(strlen(c->base), n);
        assert_int_equal(spc_compute(c->chart, c->dir, in, n, pts, &s), 0);
        for (size_t i = 0; i < n; i++) {
            bool nolim = i < strlen(c->nolim) && c->nolim[i] == 'x';
            double scale = spc_chart_scale(c->chart);
            double y = c->flags[i] == 'E' ? NONE
                       : c->chart == SPC_CHART_C || c->chart == SPC_CHART_I
                           ? c->vals[i]
                           : scale * c->vals[i] / c->dens[i];

            snprintf(what, sizeof(what), "%s: y", c->name);
            expect_num(what, i, &pts[i].y, y);
            snprintf(what, sizeof(what), "%s: cl", c->name);
            expect_num(what, i, &pts[i].cl, c->cl);
            snprintf(what, sizeof(what), "%s: lcl", c->name);
            expect_num(what, i, &pts[i].lcl, nolim ? NONE : c->lcl);
            snprintf(what, sizeof(what), "%s: ucl", c->name);
            expect_num(what, i, &pts[i].ucl, nolim ? NONE : c->ucl);
            if (pts[i].sigma_signal != (c->sig[i] == '1'))
                fail_msg("%s: sigma_signal[%zu] is %d", c->name, i, pts[i].sigma_signal);
            if (pts[i].baseline != (c->base[i] == '1'))
                fail_msg("%s: baseline[%zu] is %d", c->name, i, pts[i].baseline);
        }
        assert_int_equal(s.n_useful, c->n_useful);
        expect_count("longest_run", &s.longest_run, c->longest);
        expect_count("longest_run_max", &s.longest_run_max, c->lmax);
        expect_count("crossings", &s.crossings, c->cross);
        expect_count("crossings_min", &s.crossings_min, c->cmin);
        assert_int_equal(s.runs_signal, c->runs_signal);
        assert_string_equal(spc_variation_name(s.variation), spc_variation_name(c->var));
        assert_string_equal(spc_assessment_name(s.assessment), spc_assessment_name(c->assess));
        assert_string_equal(spc_assurance_name(s.assurance), spc_assurance_name(c->assure));
    }
}

static void
test_empty_and_invalid(void **state)
{
    spc_in_t in[1] = {0};
    spc_point_t pts[1];
    spc_summary_t s = {.n_useful = 99};

    (void)state;
    /* No points at all: nothing to say, and no error. */
    assert_int_equal(spc_compute(SPC_CHART_P, SPC_DIR_LOWER, NULL, 0, NULL, &s), 0);
    assert_int_equal(s.n_useful, 0);
    assert_false(s.longest_run.set);
    assert_int_equal(s.variation, SPC_VAR_NONE);
    assert_string_equal(spc_variation_name(s.variation), "");
    assert_int_equal(spc_compute(SPC_CHART_NONE, SPC_DIR_LOWER, in, 1, pts, &s), -EINVAL);
    assert_int_equal(spc_compute(SPC_CHART_C, SPC_DIR_LOWER, NULL, 1, pts, &s), -EINVAL);
    assert_int_equal(spc_compute(SPC_CHART_C, SPC_DIR_LOWER, in, SPC_POINTS_MAX + 1, pts, &s),
                     -EINVAL);
}

/*
 * R's qbinom(0.05, n, 0.5). By hand: n = 5: P(X <= 0) = 1/32 < 0.05 <=
 * P(X <= 1) = 6/32, so 1; n = 9: P(X <= 1) = 10/512 < 0.05 <= P(X <= 2) =
 * 46/512, so 2. The others are Anhøj's table of minimum crossings (n + 1
 * useful points: 10 -> 2, 14 -> 4, 20 -> 6, 24 -> 8, 30 -> 10, 100 -> 41),
 * checked with exact fractions.
 */
static void
test_qbinom(void **state)
{
    static const struct {
        size_t n;
        long k;
    } t[] = {{0, 0},   {1, 0},   {2, 0},    {3, 0},     {4, 0},     {5, 1},
             {9, 2},   {10, 2},  {13, 4},   {19, 6},    {23, 8},    {29, 10},
             {49, 19}, {99, 41}, {199, 88}, {599, 279}, {1199, 571}};

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (spc_qbinom05(t[i].n) != t[i].k)
            fail_msg("qbinom(0.05, %zu, 0.5): want %ld, got %ld", t[i].n, t[i].k,
                     spc_qbinom05(t[i].n));
    assert_int_equal(spc_qbinom05(SPC_POINTS_MAX), 572); /* the largest series */
    assert_int_equal(spc_qbinom05(SPC_POINTS_MAX + 1), -1);
}

static void
test_tables(void **state)
{
    static const struct {
        const char *kpi;
        spc_chart_t chart;
        spc_direction_t dir;
    } t[] = {
        {"readmission_rate_30d", SPC_CHART_P, SPC_DIR_LOWER},
        {"readmission_rate_7d", SPC_CHART_P, SPC_DIR_LOWER},
        {"wait_within_60d_share", SPC_CHART_P, SPC_DIR_HIGHER},
        {"involuntary_admission_share", SPC_CHART_P, SPC_DIR_LOWER},
        {"intrusive_per_1000_bed_days", SPC_CHART_U, SPC_DIR_LOWER},
        {"coercion_episodes:belt", SPC_CHART_C, SPC_DIR_LOWER},
        {"coercion_persons:other", SPC_CHART_C, SPC_DIR_LOWER},
        {"consultations:social_nurse:action_plan", SPC_CHART_C, SPC_DIR_HIGHER},
        {"consultations", SPC_CHART_C, SPC_DIR_HIGHER},
        {"admissions", SPC_CHART_C, SPC_DIR_NEUTRAL},
        {"records", SPC_CHART_C, SPC_DIR_NEUTRAL},
        {"records_inconsistent", SPC_CHART_C, SPC_DIR_LOWER},
        {"intrusive_episodes", SPC_CHART_C, SPC_DIR_LOWER},
        {"bed_days", SPC_CHART_I, SPC_DIR_NEUTRAL},
        {"belt_median_hours", SPC_CHART_I, SPC_DIR_LOWER},
        {"median_days_to_readmission", SPC_CHART_I, SPC_DIR_HIGHER},
        {"intrusive_per_100k", SPC_CHART_NONE, SPC_DIR_NEUTRAL},
        {"intrusive_baseline_per_100k", SPC_CHART_NONE, SPC_DIR_NEUTRAL},
        {"intrusive_target_episodes", SPC_CHART_NONE, SPC_DIR_NEUTRAL},
        {"coercion_episodes:nonsense", SPC_CHART_NONE, SPC_DIR_NEUTRAL},
        {"consultations:", SPC_CHART_NONE, SPC_DIR_NEUTRAL},
        {"nonsense", SPC_CHART_NONE, SPC_DIR_NEUTRAL},
        {"", SPC_CHART_NONE, SPC_DIR_NEUTRAL},
    };
    size_t nochart = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (spc_chart_of(t[i].kpi) != t[i].chart)
            fail_msg("chart of %s: %d", t[i].kpi, spc_chart_of(t[i].kpi));
        if (spc_direction_of(t[i].kpi) != t[i].dir)
            fail_msg("direction of %s: %d", t[i].kpi, spc_direction_of(t[i].kpi));
    }
    assert_int_equal(spc_chart_of(NULL), SPC_CHART_NONE);
    /* Every KPI of the engine has a chart but the yearly ones (spc.md). */
    for (size_t i = 0; i < kpi_count(); i++) {
        const char *name = kpi_name(i);

        if (spc_chart_of(name) != SPC_CHART_NONE)
            continue;
        nochart++;
        if (strcmp(name, "intrusive_per_100k") != 0 &&
            strcmp(name, "intrusive_baseline_per_100k") != 0 &&
            strcmp(name, "intrusive_reduction") != 0 &&
            strcmp(name, "intrusive_target_reduction") != 0 &&
            strcmp(name, "intrusive_on_track") != 0 &&
            strcmp(name, "intrusive_target_episodes") != 0)
            fail_msg("%s has no chart", name);
    }
    assert_true(nochart >= 5);
    assert_string_equal(spc_chart_name(SPC_CHART_U), "u");
    assert_null(spc_chart_name(SPC_CHART_NONE));
    assert_true(spc_chart_scale(SPC_CHART_P) == 100.0);
    assert_true(spc_chart_scale(SPC_CHART_U) == 1000.0);
    assert_true(spc_chart_scale(SPC_CHART_I) == 1.0);
    assert_string_equal(spc_assurance_name(SPC_ASSURE_HIT_AND_MISS), "hit_and_miss");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qicharts2_fixture),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_empty_and_invalid),
        cmocka_unit_test(test_qbinom),
        cmocka_unit_test(test_tables),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

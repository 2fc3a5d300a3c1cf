/*
 * Periods in Europe/Copenhagen and the parsing of the KPI options.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "kpi.h"
#include "kpi_query.h"

static void
test_names(void **state)
{
    static const struct {
        kpi_period_t p;
        const char *name;
    } cases[] = {
        {{KPI_MONTH, 2024, 3}, "2024-03"},    {{KPI_QUARTER, 2024, 1}, "2024-Q1"},
        {{KPI_QUARTER, 2024, 10}, "2024-Q4"}, {{KPI_YEAR, 2024, 1}, "2024"},
        {{KPI_R12, 2024, 3}, "r12:2024-03"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[16];

        kpi_period_name(&cases[i].p, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].name);
    }
}

static void
test_bounds(void **state)
{
    static const struct {
        kpi_period_t p;
        const char *start, *end;
    } cases[] = {
        /* March ends when CEST begins: 743 hours. */
        {{KPI_MONTH, 2024, 3}, "2024-02-29T23:00:00Z", "2024-03-31T22:00:00Z"},
        {{KPI_MONTH, 2024, 4}, "2024-03-31T22:00:00Z", "2024-04-30T22:00:00Z"},
        /* October holds the extra hour. */
        {{KPI_MONTH, 2024, 10}, "2024-09-30T22:00:00Z", "2024-10-31T23:00:00Z"},
        {{KPI_MONTH, 2024, 12}, "2024-11-30T23:00:00Z", "2024-12-31T23:00:00Z"},
        {{KPI_QUARTER, 2024, 1}, "2023-12-31T23:00:00Z", "2024-03-31T22:00:00Z"},
        {{KPI_QUARTER, 2024, 10}, "2024-09-30T22:00:00Z", "2024-12-31T23:00:00Z"},
        {{KPI_YEAR, 2024, 1}, "2023-12-31T23:00:00Z", "2024-12-31T23:00:00Z"},
        /* r12:2024-03 = 2023-04 .. 2024-03. */
        {{KPI_R12, 2024, 3}, "2023-03-31T22:00:00Z", "2024-03-31T22:00:00Z"},
        {{KPI_R12, 2024, 12}, "2023-12-31T23:00:00Z", "2024-12-31T23:00:00Z"},
        {{KPI_R12, 2024, 1}, "2023-01-31T23:00:00Z", "2024-01-31T23:00:00Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        psy_time_t s, e;

        kpi_period_bounds(&cases[i].p, &s, &e);
        assert_int_equal(s, T(cases[i].start));
        assert_int_equal(e, T(cases[i].end));
    }
}

static void
test_list(void **state)
{
    kpi_period_t *v = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(kpi_period_list(KPI_MONTH, 2023, 11, 2024, 2, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[0].year, 2023);
    assert_int_equal(v[0].month, 11);
    assert_int_equal(v[3].year, 2024);
    assert_int_equal(v[3].month, 2);
    free(v);
    /* Quarters holding from and to. */
    assert_int_equal(kpi_period_list(KPI_QUARTER, 2023, 11, 2024, 2, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].month, 10);
    assert_int_equal(v[1].year, 2024);
    assert_int_equal(v[1].month, 1);
    free(v);
    assert_int_equal(kpi_period_list(KPI_YEAR, 2021, 6, 2024, 2, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[3].year, 2024);
    assert_int_equal(v[3].month, 1);
    free(v);
    /* r12: ending months from .. to. */
    assert_int_equal(kpi_period_list(KPI_R12, 2024, 11, 2025, 1, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].kind, KPI_R12);
    assert_int_equal(v[0].month, 11);
    assert_int_equal(v[2].year, 2025);
    assert_int_equal(v[2].month, 1);
    free(v);
    v = NULL;
    assert_int_equal(kpi_period_list(KPI_MONTH, 2024, 3, 2024, 2, &v, &n), -EINVAL);
    assert_int_equal(kpi_period_list(KPI_MONTH, 2024, 13, 2024, 2, &v, &n), -EINVAL);
    assert_int_equal(kpi_period_list(KPI_MONTH, 1900, 1, 2024, 2, &v, &n), -EINVAL);
    assert_null(v);
    /* Exactly the limit is fine. */
    assert_int_equal(kpi_period_list(KPI_MONTH, 2000, 1, 2049, 12, &v, &n), 0);
    assert_int_equal(n, PSY_HTTP_PERIODS_MAX);
    free(v);
}

static psy_agg_conf_t conf;

static void
make_conf(void)
{
    memset(&conf, 0, sizeof(conf));
    conf.ncenters = 2;
    snprintf(conf.centers[0].id, sizeof(conf.centers[0].id), "pc-amager");
    snprintf(conf.centers[1].id, sizeof(conf.centers[1].id), "pc-ballerup");
}

static void
test_query_defaults(void **state)
{
    kpi_query_t q = {0};
    char err[256];

    (void)state;
    make_conf();
    assert_int_equal(kpi_query_build(&conf, "r12", "2024-03", NULL, NULL, NULL, NULL, 12345, &q,
                                     err, sizeof(err)),
                     0);
    assert_ptr_equal(q.conf, &conf);
    assert_int_equal(q.as_of, 12345);
    assert_int_equal(q.nperiods, 1);
    assert_int_equal(q.periods[0].kind, KPI_R12);
    assert_int_equal(q.nlevels, 3);
    assert_int_equal(q.levels[0], 0);
    assert_int_equal(q.levels[1], 1);
    assert_int_equal(q.levels[2], KPI_LEVEL_REGION);
    assert_int_equal(q.nkpis, kpi_count());
    for (size_t i = 0; i < q.nkpis; i++)
        assert_int_equal(q.kpis[i], (int)i);
    kpi_query_free(&q);
    assert_null(q.periods);
    kpi_query_free(NULL);

    assert_int_equal(kpi_query_build(&conf, "month", "2024-01", "2024-03", "pc-ballerup,region",
                                     "records,coercion_episodes:belt", "2024-03-01T00:00:00+01:00",
                                     0, &q, err, sizeof(err)),
                     0);
    assert_int_equal(q.nperiods, 3);
    assert_int_equal(q.nlevels, 2);
    assert_int_equal(q.levels[0], 1);
    assert_int_equal(q.levels[1], KPI_LEVEL_REGION);
    assert_int_equal(q.nkpis, 2);
    assert_int_equal(q.kpis[0], kpi_find("records"));
    assert_int_equal(q.kpis[1], kpi_find("coercion_episodes:belt"));
    assert_int_equal(q.as_of, T("2024-02-29T23:00:00Z"));
    kpi_query_free(&q);
}

static void
test_query_errors(void **state)
{
    static const struct {
        const char *period, *from, *to, *center, *kpis, *as_of, *msg;
    } cases[] = {
        {NULL, "2024-01", NULL, NULL, NULL, NULL, "--period is required"},
        {"week", "2024-01", NULL, NULL, NULL, NULL, "--period must be"},
        {"month", NULL, NULL, NULL, NULL, NULL, "--from is required"},
        {"month", "2024-1", NULL, NULL, NULL, NULL, "--from must be YYYY-MM"},
        {"month", "2024-13", NULL, NULL, NULL, NULL, "--from must be YYYY-MM"},
        {"month", "2024-01x", NULL, NULL, NULL, NULL, "--from must be YYYY-MM"},
        {"month", "2024-03", "2024-02", NULL, NULL, NULL, "--to is before --from"},
        {"month", "2024-03", "24-04", NULL, NULL, NULL, "--to must be YYYY-MM"},
        {"month", "1900-01", "2024-04", NULL, NULL, NULL, "spans more than"},
        {"month", "2024-03", NULL, "pc-nowhere", NULL, NULL, "unknown center 'pc-nowhere'"},
        {"month", "2024-03", NULL, "region,", NULL, NULL, NULL},
        {"month", "2024-03", NULL, NULL, "x", NULL, "unknown KPI 'x'"},
        {"month", "2024-03", NULL, NULL, "records,,admissions", NULL, "unknown KPI ''"},
        {"month", "2024-03", NULL, NULL, "coercion_episodes:rope", NULL,
         "unknown KPI 'coercion_episodes:rope'"},
        {"month", "2024-03", NULL, NULL, NULL, "yesterday", "--as-of must be"},
        /* An unknown name comes with the valid choices or a hint. */
        {"month", "2024-03", NULL, "pc-amagr", NULL, NULL,
         "unknown center 'pc-amagr'; one of pc-amager, pc-ballerup, region or all"},
        {"month", "2024-03", NULL, NULL, "admisions", NULL,
         "unknown KPI 'admisions'; did you mean 'admissions'?"},
        {"month", "2024-03", NULL, NULL, "coercion_episodes", NULL,
         "unknown KPI 'coercion_episodes'; one of coercion_episodes:belt, "
         "coercion_episodes:physical_restraint,"},
        {"month", "2024-03", NULL, NULL, "x", NULL, "; the KPIs are those of docs/kpis.md"},
    };
    (void)state;
    make_conf();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kpi_query_t q = {0};
        char err[256] = "";
        int r = kpi_query_build(&conf, cases[i].period, cases[i].from, cases[i].to, cases[i].center,
                                cases[i].kpis, cases[i].as_of, 0, &q, err, sizeof(err));

        if (!cases[i].msg) {
            /* A trailing comma is harmless. */
            assert_int_equal(r, 0);
            kpi_query_free(&q);
            continue;
        }
        assert_int_equal(r, -EINVAL);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' does not hold '%s'", i, err, cases[i].msg);
        assert_null(q.periods);
    }
}

int
main(void)
{
    if (psy_tz_set("Europe/Copenhagen") < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_list),         cmocka_unit_test(test_query_defaults),
        cmocka_unit_test(test_query_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

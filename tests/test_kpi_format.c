/*
 * The printed forms of KPI rows: CSV, JSON and the table.
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

#include "kpi_format.h"

static psy_agg_conf_t conf;
static kpi_row_t rows[4];

static void
make(void)
{
    memset(&conf, 0, sizeof(conf));
    conf.ncenters = 1;
    snprintf(conf.centers[0].id, sizeof(conf.centers[0].id), "pc-amager");
    memset(rows, 0, sizeof(rows));
    /* A count. */
    rows[0] = (kpi_row_t){
        {KPI_MONTH, 2024, 3}, 0,    kpi_find("admissions"), {true, true, 12}, {true, true, 12},
        {false, false, 0},    false};
    /* A ratio, provisional. */
    rows[1] = (kpi_row_t){{KPI_R12, 2024, 3},
                          KPI_LEVEL_REGION,
                          kpi_find("readmission_rate_30d"),
                          {true, false, 300.0 / 7.0},
                          {true, true, 3},
                          {true, true, 7},
                          true};
    /* A whole number printed with decimals, and an empty value. */
    rows[2] = (kpi_row_t){{KPI_YEAR, 2024, 1},
                          0,
                          kpi_find("intrusive_target_reduction"),
                          {true, false, 30.0 * 12 / 84},
                          {false, false, 0},
                          {false, false, 0},
                          false};
    rows[3] = (kpi_row_t){{KPI_QUARTER, 2024, 10},
                          0,
                          kpi_find("belt_median_hours"),
                          {false, false, 0},
                          {false, false, 0},
                          {true, true, 0},
                          false};
}

static char *
render(kpi_format_t fmt, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(kpi_format_write(f, fmt, &conf, rows, n), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void
test_csv(void **state)
{
    char *s;

    (void)state;
    make();
    s = render(KPI_FORMAT_CSV, 4);
    assert_string_equal(s, "period,center,kpi,value,numerator,denominator,provisional\n"
                           "2024-03,pc-amager,admissions,12,12,,0\n"
                           "r12:2024-03,region,readmission_rate_30d,42.8571,3,7,1\n"
                           "2024,pc-amager,intrusive_target_reduction,4.2857,,,0\n"
                           "2024-Q4,pc-amager,belt_median_hours,,,0,0\n");
    free(s);
    /* A whole value of a non-integer KPI keeps its decimals; -0 prints as 0. */
    rows[0].value = (kpi_num_t){true, false, 100};
    rows[0].numerator = (kpi_num_t){true, false, -0.00001};
    s = render(KPI_FORMAT_CSV, 1);
    assert_non_null(strstr(s, "2024-03,pc-amager,admissions,100.0000,0.0000,,0\n"));
    free(s);
    /* No rows: the header alone. */
    s = render(KPI_FORMAT_CSV, 0);
    assert_string_equal(s, "period,center,kpi,value,numerator,denominator,provisional\n");
    free(s);
}

static void
test_json(void **state)
{
    char *s;

    (void)state;
    make();
    s = render(KPI_FORMAT_JSON, 4);
    assert_string_equal(
        s, "{\"rows\":["
           "{\"period\":\"2024-03\",\"center\":\"pc-amager\",\"kpi\":\"admissions\",\"value\":12,"
           "\"numerator\":12,\"denominator\":null,\"provisional\":false},"
           "{\"period\":\"r12:2024-03\",\"center\":\"region\",\"kpi\":\"readmission_rate_30d\","
           "\"value\":42.8571,\"numerator\":3,\"denominator\":7,\"provisional\":true},"
           "{\"period\":\"2024\",\"center\":\"pc-amager\",\"kpi\":\"intrusive_target_reduction\","
           "\"value\":4.2857,\"numerator\":null,\"denominator\":null,\"provisional\":false},"
           "{\"period\":\"2024-Q4\",\"center\":\"pc-amager\",\"kpi\":\"belt_median_hours\","
           "\"value\":null,\"numerator\":null,\"denominator\":0,\"provisional\":false}"
           "]}\n");
    free(s);
    /* A whole real stays a real. */
    rows[0].value = (kpi_num_t){true, false, 100};
    s = render(KPI_FORMAT_JSON, 1);
    assert_non_null(strstr(s, "\"value\":100.0,"));
    free(s);
}

static void
test_table(void **state)
{
    char *s, *line, *save = NULL;
    size_t nlines = 0;
    long kpi_col = -1;

    (void)state;
    make();
    s = render(KPI_FORMAT_TABLE, 4);
    /* Every line has its kpi column at the same offset. */
    for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save), nlines++) {
        const char *k = nlines == 0 ? strstr(line, "kpi") : strstr(line, "  ");
        assert_non_null(k);
        if (nlines == 0) {
            kpi_col = k - line;
            continue;
        }
        /* Third column: skip period and center. */
        const char *p = line;
        for (int col = 0; col < 2; col++) {
            p += strcspn(p, " ");
            p += strspn(p, " ");
        }
        assert_int_equal(p - line, kpi_col);
    }
    assert_int_equal(nlines, 5);
    free(s);
    make();
    s = render(KPI_FORMAT_TABLE, 2);
    assert_non_null(strstr(s, "42.8571"));
    assert_non_null(strstr(s, "yes"));
    free(s);
}

static void
test_parse_and_errors(void **state)
{
    kpi_format_t f = KPI_FORMAT_TABLE;
    FILE *full;

    (void)state;
    make();
    assert_int_equal(kpi_format_parse("csv", &f), 0);
    assert_int_equal(f, KPI_FORMAT_CSV);
    assert_int_equal(kpi_format_parse("json", &f), 0);
    assert_int_equal(f, KPI_FORMAT_JSON);
    assert_int_equal(kpi_format_parse("table", &f), 0);
    assert_int_equal(f, KPI_FORMAT_TABLE);
    assert_int_equal(kpi_format_parse("xml", &f), -EINVAL);
    assert_int_equal(f, KPI_FORMAT_TABLE);
    assert_string_equal(kpi_format_level(&conf, 0), "pc-amager");
    assert_string_equal(kpi_format_level(&conf, KPI_LEVEL_REGION), "region");
    assert_string_equal(kpi_format_level(&conf, 5), "?");
    /* A write error is reported, not swallowed. */
    full = fopen("/dev/full", "w");
    if (full) {
        assert_int_equal(kpi_format_csv(full, &conf, rows, 4), -EIO);
        fclose(full);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_parse_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

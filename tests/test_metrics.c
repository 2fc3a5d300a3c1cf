/*
 * The /metrics exposition (metrics_write): table-driven. Each case builds
 * plain inputs and names lines that must appear and strings that must not;
 * every case is also checked for the shape Prometheus wants: HELP and TYPE
 * once per family and before its samples, counters named _total and only
 * they, and no label whose value changes with the calendar.
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

#include "metrics.h"
#include "psymon/psymon.h"
#include "psymon/time.h"

#define MAX_LINES 16

/* 2024-12-05T12:00:00Z */
#define NOW (INT64_C(1733400000) * PSY_USEC)

typedef struct {
    const char *name;
    void (*setup)(metrics_input_t *in);
    const char *want[MAX_LINES];  /* whole lines that must appear */
    const char *avoid[MAX_LINES]; /* substrings that must not */
} metrics_case_t;

static psy_agg_conf_t conf;
static store_status_t status[2];
static agg_counters_t counters;
static kpi_row_t rows_r12[3], rows_month[2];
static metrics_window_t windows[2];

/* Two centers, one heard from with a full spool, one never; no KPI windows. */
static void
base(metrics_input_t *in)
{
    memset(&conf, 0, sizeof(conf));
    conf.ncenters = 2;
    snprintf(conf.centers[0].id, sizeof(conf.centers[0].id), "pc-amager");
    snprintf(conf.centers[1].id, sizeof(conf.centers[1].id), "pc-bornholm");
    conf.target_pct = 30;
    memset(status, 0, sizeof(status));
    status[0] = (store_status_t){.records = 1234,
                                 .rejected = 5,
                                 .backlog = 17,
                                 .last_seen = NOW - 90 * PSY_USEC,
                                 .clock_offset = -2500000,
                                 .spool_bytes = 65536,
                                 .spool_full = true};
    snprintf(status[0].version, sizeof(status[0].version), "0.1.0");
    status[1].last_seen = PSY_TIME_NONE;
    memset(&counters, 0, sizeof(counters));
    atomic_store(&counters.records_stored, 1234);
    atomic_store(&counters.auth_denied, 3);
    *in = (metrics_input_t){
        .counters = &counters, .ready = true, .conf = &conf, .status = status, .now = NOW};
}

static void
with_kpis(metrics_input_t *in)
{
    base(in);
    rows_r12[0] = (kpi_row_t){.period = {KPI_R12, 2024, 11},
                              .level = KPI_LEVEL_REGION,
                              .kpi = kpi_find("intrusive_on_track"),
                              .value = {true, true, 1}};
    rows_r12[1] = (kpi_row_t){.period = {KPI_R12, 2024, 11},
                              .level = 0,
                              .kpi = kpi_find("intrusive_target_reduction"),
                              .value = {true, false, 30.0 * 11 / 84}};
    /* Empty values (a ratio over nothing) are left out, not printed as 0 or NaN. */
    rows_r12[2] = (kpi_row_t){.period = {KPI_R12, 2024, 11},
                              .level = 1,
                              .kpi = kpi_find("wait_within_60d_share"),
                              .value = {false, false, 0}};
    rows_month[0] = (kpi_row_t){.period = {KPI_MONTH, 2024, 11},
                                .level = 1,
                                .kpi = kpi_find("referrals_overdue"),
                                .value = {true, true, 4}};
    rows_month[1] = (kpi_row_t){.period = {KPI_MONTH, 2024, 11},
                                .level = KPI_LEVEL_REGION,
                                .kpi = kpi_find("consultations:social_nurse:action_plan"),
                                .value = {true, true, 12}};
    windows[0] = (metrics_window_t){"r12", {KPI_R12, 2024, 11}, rows_r12, 3};
    windows[1] = (metrics_window_t){"month", {KPI_MONTH, 2024, 11}, rows_month, 2};
    in->windows = windows;
    in->nwindows = 2;
}

/*
 * A collector's version is a peer's string: quotes, backslashes, controls
 * and bytes that are not UTF-8. A configured region name in UTF-8 stays.
 */
static void
hostile_version(metrics_input_t *in)
{
    base(in);
    snprintf(status[0].version, sizeof(status[0].version), "1\"} 9\n\\\xff");
    snprintf(conf.region_name, sizeof(conf.region_name), "Region Sj\xc3\xa6lland");
}

static void
no_store(metrics_input_t *in)
{
    base(in);
    in->status = NULL;
    in->counters = NULL;
    in->ready = false;
}

static const metrics_case_t cases[] = {
    {"counters and centers",
     base,
     {
         "psymon_records_stored_total 1234",
         "psymon_auth_denied_total 3",
         "psymon_ready 1",
         "psymon_build_info{version=\"" PSYMON_VERSION "\"} 1",
         "psymon_target_intrusive_reduction_percent 30.0000",
         "psymon_center_records{center=\"pc-amager\"} 1234",
         "psymon_center_rejected{center=\"pc-amager\"} 5",
         "psymon_center_backlog{center=\"pc-amager\"} 17",
         "psymon_center_last_seen_age_seconds{center=\"pc-amager\"} 90.000",
         "psymon_center_last_seen_timestamp_seconds{center=\"pc-amager\"} 1733399910.000",
         "psymon_center_spool_bytes{center=\"pc-amager\"} 65536",
         "psymon_center_spool_full{center=\"pc-amager\"} 1",
         "psymon_center_clock_offset_seconds{center=\"pc-amager\"} -2.500",
         "psymon_collector_info{center=\"pc-amager\",version=\"0.1.0\"} 1",
         "psymon_center_records{center=\"pc-bornholm\"} 0",
         "psymon_center_spool_full{center=\"pc-bornholm\"} 0",
     },
     /* Never heard from: no age, size, offset or version that would read as real. */
     {"psymon_center_last_seen_age_seconds{center=\"pc-bornholm\"}",
      "psymon_center_spool_bytes{center=\"pc-bornholm\"}",
      "psymon_center_clock_offset_seconds{center=\"pc-bornholm\"}",
      "psymon_collector_info{center=\"pc-bornholm\"", "psymon_region_info{", "psymon_kpi{"}},
    {"KPI windows with stable labels",
     with_kpis,
     {
         "psymon_kpi{window=\"r12\",center=\"region\",kpi=\"intrusive_on_track\"} 1.0000",
         "psymon_kpi{window=\"r12\",center=\"pc-amager\",kpi=\"intrusive_target_reduction\"} "
         "3.9286",
         "psymon_kpi{window=\"month\",center=\"pc-bornholm\",kpi=\"referrals_overdue\"} 4.0000",
         "psymon_kpi{window=\"month\",center=\"region\","
         "kpi=\"consultations:social_nurse:action_plan\"} 12.0000",
         /* r12:2024-11 is 2023-12-01 through 2024-11-30, Copenhagen time. */
         "psymon_kpi_window_start_timestamp_seconds{window=\"r12\"} 1701385200",
         "psymon_kpi_window_end_timestamp_seconds{window=\"r12\"} 1733007600",
         "psymon_kpi_window_start_timestamp_seconds{window=\"month\"} 1730415600",
         "psymon_kpi_window_end_timestamp_seconds{window=\"month\"} 1733007600",
     },
     {"wait_within_60d_share", "period=", "2024-11", "NaN"}},
    {"hostile version and a region name",
     hostile_version,
     {
         "psymon_collector_info{center=\"pc-amager\",version=\"1\\\"} 9?\\\\?\"} 1",
         "psymon_region_info{name=\"Region Sj\xc3\xa6lland\"} 1",
     },
     {"\xff"}},
    {"store unreadable, not ready",
     no_store,
     {"psymon_ready 0"},
     {"psymon_center_records{", "_total "}},
};

static char *
render(const metrics_case_t *c)
{
    metrics_input_t in;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    c->setup(&in);
    assert_int_equal(metrics_write(f, &in), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static bool
has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* The metric name of a sample line, into name. */
static void
sample_name(const char *line, char *name, size_t size)
{
    size_t n = strcspn(line, "{ ");

    assert_true(n < size);
    memcpy(name, line, n);
    name[n] = '\0';
}

/*
 * Checks the exposition's shape line by line: a family's HELP then TYPE
 * come first and once, samples follow their own TYPE, counters end in
 * _total and gauges do not, and a label value holds no raw quote or newline
 * (a sample line ends with a number after the closing brace).
 */
static void
check_shape(const char *text)
{
    char *copy = strdup(text), *save = NULL;
    char family[128] = "", seen[64][128];
    size_t nseen = 0;
    bool have_type = false;

    assert_non_null(copy);
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char name[128], type[16];
        if (strncmp(l, "# HELP ", 7) == 0) {
            sample_name(l + 7, family, sizeof(family));
            for (size_t i = 0; i < nseen; i++)
                assert_string_not_equal(seen[i], family);
            assert_true(nseen < 64);
            strcpy(seen[nseen++], family);
            have_type = false;
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(l + 7, "%127s %15s", name, type), 2);
            assert_string_equal(name, family);
            assert_false(have_type);
            have_type = true;
            size_t n = strlen(name);
            bool total = n > 6 && strcmp(name + n - 6, "_total") == 0;
            if (strcmp(type, "counter") == 0)
                assert_true(total);
            else
                assert_true(strcmp(type, "gauge") == 0 && !total);
            continue;
        }
        assert_true(have_type);
        sample_name(l, name, sizeof(name));
        assert_string_equal(name, family);
        const char *close = strrchr(l, '}');
        const char *value = close ? close + 1 : l + strlen(name);
        char *end;
        assert_true(*value == ' ');
        strtod(value + 1, &end);
        assert_true(end != value + 1 && *end == '\0');
    }
    free(copy);
}

static void
test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const metrics_case_t *c = &cases[i];
        char *text = render(c);
        for (size_t k = 0; k < MAX_LINES && c->want[k]; k++) {
            if (!has_line(text, c->want[k]))
                fail_msg("%s: no line '%s' in:\n%s", c->name, c->want[k], text);
        }
        for (size_t k = 0; k < MAX_LINES && c->avoid[k]; k++) {
            if (strstr(text, c->avoid[k]))
                fail_msg("%s: '%s' found in:\n%s", c->name, c->avoid[k], text);
        }
        check_shape(text);
        free(text);
    }
}

static void
test_errors(void **state)
{
    metrics_input_t in;
    FILE *ro = fopen("/dev/null", "r");

    (void)state;
    assert_int_equal(metrics_write(stdout, NULL), -EINVAL);
    base(&in);
    in.conf = NULL;
    assert_int_equal(metrics_write(stdout, &in), -EINVAL);
    /* A stream that refuses every write: the failure is reported, not swallowed. */
    assert_non_null(ro);
    base(&in);
    assert_int_equal(metrics_write(ro, &in), -EIO);
    fclose(ro);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_errors),
    };

    if (psy_tz_set("Europe/Copenhagen") < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * psymon spc and psymon kpi, the programs themselves, against a temporary
 * store: what they print, what they refuse (exit 2, "psymon spc: ..."),
 * and that both read the model they share (kpi_common.c) alike, cached or
 * --known-at.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "testutil.h"
#include <jansson.h>

#include "store.h"

static char dir[64];
static char conf_path[128];
static const char *psymon;

typedef struct {
    int status;
    char *out, *err;
} run_t;

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int c;

    assert_non_null(f);
    assert_non_null(m);
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* Runs `psymon ARGS -c conf_path`, capturing its output and exit status. */
static void
run(run_t *r, const char *args)
{
    char cmd[2048], out[160], err[160];
    int st;

    snprintf(out, sizeof(out), "%s/out", dir);
    snprintf(err, sizeof(err), "%s/err", dir);
    snprintf(cmd, sizeof(cmd), "'%s' %s -c '%s' >'%s' 2>'%s'", psymon, args, conf_path, out, err);
    st = system(cmd);
    assert_true(WIFEXITED(st));
    r->status = WEXITSTATUS(st);
    r->out = slurp(out);
    r->err = slurp(err);
}

static void
run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/* pc-a: three admissions a month, 2021-01 through 2022-06, 20 in 2022-05; stored at 2022-07-10. */
static int
setup(void **state)
{
    const char *bd = getenv("PSY_BUILD_DIR");
    static char path[1024];
    psy_record_t recs[60];
    store_t *st;
    uint64_t seq = 1, acked = 0;
    int n = 0, id = 0;
    FILE *f;

    (void)state;
    assert_non_null(bd);
    snprintf(path, sizeof(path), "%s/cli/psymon", bd);
    psymon = path;
    snprintf(dir, sizeof(dir), "/tmp/test_cli_spc.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(conf_path, sizeof(conf_path), "%s/aggregator.conf", dir);
    f = fopen(conf_path, "w");
    assert_non_null(f);
    fprintf(f, "[aggregator]\nlisten = tcp://127.0.0.1:7470\nsecret_key_file = a.key\n"
               "data_dir = data\ntimezone = UTC\n\n[center pc-a]\npublic_key =\n");
    assert_int_equal(fclose(f), 0);

    char data[128];
    snprintf(data, sizeof(data), "%s/data", dir);
    assert_int_equal(mkdir(data, 0700), 0);
    st = store_new(data, false);
    assert_non_null(st);
    for (int y = 2021; y <= 2022; y++)
        for (int m = 1; m <= 12 && (y == 2021 || m <= 6); m++)
            for (int i = 0; i < (y == 2022 && m == 5 ? 20 : 3); i++) {
                psy_record_t *r = &recs[n++];
                char when[32];

                psy_record_init(r);
                r->type = PSY_REC_ADMISSION;
                snprintf(r->id, sizeof(r->id), "a%d", ++id);
                snprintf(r->contact, sizeof(r->contact), "a%d", id);
                snprintf(when, sizeof(when), "%04d-%02d-%02dT10:00:00Z", y, m, 2 + i);
                r->time = T(when);
                r->has_patient = true;
                r->patient[0] = (uint8_t)id;
                r->patient[1] = (uint8_t)(id >> 8);
                r->mode = PSY_MODE_ACUTE;
                r->legal = PSY_LEGAL_VOLUNTARY;
                if (n == 60) {
                    psy_batch_t b = {.first_seq = seq, .count = (uint32_t)n, .records = recs};
                    memset(b.epoch, 3, sizeof(b.epoch));
                    assert_int_equal(
                        store_apply_batch(st, "pc-a", &b, T("2022-07-10T00:00:00Z"), &acked), 0);
                    seq += (uint64_t)n;
                    n = 0;
                }
            }
    if (n > 0) {
        psy_batch_t b = {.first_seq = seq, .count = (uint32_t)n, .records = recs};
        memset(b.epoch, 3, sizeof(b.epoch));
        assert_int_equal(store_apply_batch(st, "pc-a", &b, T("2022-07-10T00:00:00Z"), &acked), 0);
    }
    store_destroy(&st);
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* The number of lines of s. */
static size_t
lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void
test_spc_csv(void **state)
{
    run_t r;

    (void)state;
    /*
     * 18 months, 12 of them in baseline year 2021 (the default baseline
     * years are 2021-2023: all 18 are): cl = (17 * 3 + 20) / 18 = 71/18.
     */
    run(&r, "spc --kpi admissions --center pc-a --as-of 2022-07-15T00:00:00Z --format csv");
    assert_int_equal(r.status, 0);
    assert_int_equal(lines(r.out), 1 + 18);
    assert_non_null(strstr(r.out, "period,center,kpi,chart,value,numerator,denominator,"
                                  "provisional,baseline,cl,lcl,ucl,sigma_signal,runs_signal,"
                                  "n_useful,longest_run,longest_run_max,crossings,crossings_min,"
                                  "variation,assessment,assurance,target\n2021-01,pc-a,"
                                  "admissions,c,3,3,,0,1,3.9444,0.0000,9.9026,0,"));
    /* 20 > ucl 71/18 + 3 sqrt(71/18) = 9.9026: a signal, then the latest month back to 3. */
    assert_non_null(
        strstr(r.out, "\n2022-05,pc-a,admissions,c,20,20,,0,1,3.9444,0.0000,9.9026,1,"));
    assert_string_equal(r.err, "");
    run_free(&r);

    /* --from picks the rows; the lines stay those of the whole series. */
    run(&r, "spc --kpi admissions --center pc-a --from 2022-06 --as-of 2022-07-15T00:00:00Z "
            "--format csv");
    assert_int_equal(r.status, 0);
    assert_int_equal(lines(r.out), 2);
    assert_non_null(strstr(r.out, "\n2022-06,pc-a,admissions,c,3,3,,0,1,3.9444,0.0000,9.9026,0,"));
    run_free(&r);
}

static void
test_spc_json_and_table(void **state)
{
    run_t r;
    json_t *j, *s;
    json_error_t e;

    (void)state;
    run(&r, "spc --kpi admissions,records --center pc-a,region --to 2022-06 --format json");
    assert_int_equal(r.status, 0);
    j = json_loads(r.out, 0, &e);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 4);
    s = json_array_get(json_object_get(j, "series"), 3);
    assert_string_equal(json_string_value(json_object_get(s, "center")), "region");
    assert_string_equal(json_string_value(json_object_get(s, "kpi")), "records");
    assert_int_equal(json_array_size(json_object_get(s, "points")), 18);
    json_decref(j);
    run_free(&r);

    run(&r, "spc --kpi admissions --center pc-a --to 2022-06 --format table");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "pc-a  admissions  (c chart)"));
    assert_non_null(strstr(r.out, "SIGNAL"));
    run_free(&r);
}

static void
test_spc_refuses(void **state)
{
    static const struct {
        const char *args, *msg;
    } t[] = {
        {"spc", "psymon spc: --kpi is required"},
        {"spc --kpi intrusive_per_100k", "psymon spc: KPI 'intrusive_per_100k' has no SPC chart"},
        {"spc --kpi nonsense", "psymon spc: unknown KPI 'nonsense'"},
        {"spc --kpi admissions --period month", "psymon spc: unknown option '--period'"},
        {"spc --kpi admissions --format xml", "psymon spc: --format must be"},
        {"spc --kpi admissions --known-at never", "psymon spc: --known-at must be"},
        {"spc --kpi admissions --from 2022-05 --to 2022-04", "psymon spc: --to is before --from"},
        {"spc --kpi admissions extra", "psymon spc: unexpected argument 'extra'"},
    };
    run_t r;

    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        run(&r, t[i].args);
        if (r.status != 2 || !strstr(r.err, t[i].msg))
            fail_msg("'%s': exit %d, stderr '%s'", t[i].args, r.status, r.err);
        assert_string_equal(r.out, "");
        run_free(&r);
    }
    run(&r, "spc --help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--kpi NAME"));
    run_free(&r);
}

/* psymon kpi through the shared options and model: cached, uncached and --known-at. */
static void
test_kpi_still(void **state)
{
    run_t r;

    (void)state;
    for (int pass = 0; pass < 2; pass++) { /* the second call reads the cache the first wrote */
        run(&r, "kpi --period month --from 2022-05 --kpi admissions --center pc-a "
                "--as-of 2022-07-15T00:00:00Z --format csv");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "period,center,kpi,value,numerator,denominator,provisional\n"
                                   "2022-05,pc-a,admissions,20,20,,0\n");
        run_free(&r);
    }
    /* Known before anything was stored: nothing. */
    run(&r, "kpi --period month --from 2022-05 --kpi admissions --center pc-a "
            "--as-of 2022-07-15T00:00:00Z --known-at 2022-07-01T00:00:00Z --format csv");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\n2022-05,pc-a,admissions,0,0,,0\n"));
    run_free(&r);
    run(&r, "kpi --kpi admissions --from 2022-05");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "psymon kpi: --period is required"));
    run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spc_csv),
        cmocka_unit_test(test_spc_json_and_table),
        cmocka_unit_test(test_spc_refuses),
        cmocka_unit_test(test_kpi_still),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

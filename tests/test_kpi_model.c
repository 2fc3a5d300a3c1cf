/*
 * The prepared KPI model and its cache file: what it covers, that damaged
 * bytes are refused (never read out of bounds), and that a cache file is
 * used only for the generation and centers it was built for. That the
 * model's numbers are right is test_crosscheck's job.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "kpi.h"
#include "kpi_snapshot.h"

static psy_agg_conf_t conf;
static kpi_records_t recs;

static void
add(int center, psy_rec_type_t type, const char *id, const char *contact, int patient,
    const char *time)
{
    psy_record_t r;

    psy_record_init(&r);
    r.type = type;
    snprintf(r.id, sizeof(r.id), "%s", id);
    snprintf(r.contact, sizeof(r.contact), "%s", contact);
    r.time = T(time);
    r.has_patient = true;
    r.patient[0] = (uint8_t)patient;
    r.mode = type == PSY_REC_ADMISSION ? PSY_MODE_ACUTE : PSY_MODE_NONE;
    r.legal = type == PSY_REC_ADMISSION ? PSY_LEGAL_VOLUNTARY : PSY_LEGAL_NONE;
    r.outcome = type == PSY_REC_DISCHARGE ? PSY_OUTCOME_REGULAR : PSY_OUTCOME_NONE;
    if (type == PSY_REC_COERCION) {
        r.coercion = PSY_COERCION_BELT;
        r.end = r.time + 5 * PSY_HOUR;
    }
    assert_int_equal(kpi_records_push(&recs, (uint16_t)center, &r), 0);
}

static int
setup(void **state)
{
    (void)state;
    memset(&conf, 0, sizeof(conf));
    conf.ncenters = 2;
    snprintf(conf.centers[0].id, sizeof(conf.centers[0].id), "a");
    snprintf(conf.centers[1].id, sizeof(conf.centers[1].id), "b");
    conf.target_pct = 30;
    conf.first_year = 2024;
    conf.first_month = 1;
    conf.last_year = 2030;
    conf.last_month = 12;
    memset(&recs, 0, sizeof(recs));
    add(0, PSY_REC_ADMISSION, "A1", "A1", 1, "2024-03-01T10:00:00+01:00");
    add(0, PSY_REC_DISCHARGE, "D1", "A1", 1, "2024-03-05T10:00:00+01:00");
    add(1, PSY_REC_ADMISSION, "A2", "A2", 1, "2024-03-05T12:00:00+01:00");
    add(1, PSY_REC_COERCION, "C1", "A2", 1, "2024-03-06T12:00:00+01:00");
    add(1, PSY_REC_DISCHARGE, "D2", "A2", 1, "2024-03-10T10:00:00+01:00");
    add(0, PSY_REC_ADMISSION, "A3", "A3", 1, "2024-04-02T08:00:00+02:00");
    add(0, PSY_REC_ADMISSION, "A4", "A4", 2, "2024-04-03T08:00:00+02:00"); /* open */
    add(1, PSY_REC_DISCHARGE, "D9", "nosuch", 2, "2024-04-04T08:00:00+02:00");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    kpi_records_free(&recs);
    return 0;
}

typedef struct {
    uint64_t *w;
    size_t len, cap;
} buf_t;

static int
buf_write(void *ctx, const void *p, size_t n)
{
    buf_t *b = ctx;

    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;

        while (cap < b->len + n)
            cap *= 2;
        b->w = realloc(b->w, cap);
        assert_non_null(b->w);
        b->cap = cap;
    }
    memcpy((char *)b->w + b->len, p, n);
    b->len += n;
    return 0;
}

/* All KPIs of March and April 2024 and r12:2024-04, both centers and the region. */
static void
query_all(const kpi_records_t *r, const kpi_model_t *m, psy_time_t as_of, kpi_row_t **ret,
          size_t *ret_n, int want)
{
    static kpi_period_t per[3] = {{KPI_MONTH, 2024, 3}, {KPI_MONTH, 2024, 4}, {KPI_R12, 2024, 4}};
    static int levels[3] = {0, 1, KPI_LEVEL_REGION};
    int *kpis = malloc(kpi_count() * sizeof(int));

    assert_non_null(kpis);
    for (size_t k = 0; k < kpi_count(); k++)
        kpis[k] = (int)k;
    kpi_query_t q = {&conf, as_of, 3, per, 3, levels, kpi_count(), kpis};
    int rc = m ? kpi_model_compute(m, &q, ret, ret_n) : kpi_compute(r, &q, ret, ret_n);
    assert_int_equal(rc, want);
    free(kpis);
}

static void
rows_equal(const kpi_row_t *a, const kpi_row_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a[i].kpi, b[i].kpi);
        assert_int_equal(a[i].value.set, b[i].value.set);
        assert_true(a[i].value.v == b[i].value.v);
        assert_true(a[i].numerator.v == b[i].numerator.v);
        assert_true(a[i].denominator.v == b[i].denominator.v);
        assert_int_equal(a[i].provisional, b[i].provisional);
    }
}

/* A model of everything answers from its latest record on, with kpi_compute's rows. */
static void
test_covers(void **state)
{
    (void)state;
    kpi_model_t *m = kpi_model_new(&recs, &conf, INT64_MAX);
    kpi_row_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;

    assert_non_null(m);
    assert_false(kpi_model_covers(m, T("2024-04-04T07:59:59+02:00")));
    assert_true(kpi_model_covers(m, T("2024-04-04T08:00:00+02:00")));
    assert_true(kpi_model_covers(m, T("2025-06-01T00:00:00Z")));
    query_all(NULL, m, T("2024-04-01T00:00:00Z"), &a, &na, -EINVAL);
    query_all(NULL, m, T("2024-05-01T12:00:00Z"), &a, &na, 0);
    query_all(&recs, NULL, T("2024-05-01T12:00:00Z"), &b, &nb, 0);
    assert_int_equal(na, nb);
    rows_equal(a, b, na);
    free(a);
    free(b);
    kpi_model_destroy(&m);
    assert_null(m);
    kpi_model_destroy(&m);

    /* Built for an earlier cutoff, it covers up to the first record it left out. */
    m = kpi_model_new(&recs, &conf, T("2024-03-20T00:00:00Z"));
    assert_non_null(m);
    assert_true(kpi_model_covers(m, T("2024-03-20T00:00:00Z")));
    assert_true(kpi_model_covers(m, T("2024-04-02T07:59:59+02:00")));
    assert_false(kpi_model_covers(m, T("2024-04-02T08:00:00+02:00")));
    kpi_model_destroy(&m);
}

/* Bytes back to a model: the same rows; truncated, padded or altered bytes never crash. */
static void
test_bytes(void **state)
{
    (void)state;
    kpi_model_t *m = kpi_model_new(&recs, &conf, INT64_MAX), *back;
    buf_t buf = {0};
    kpi_row_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    psy_time_t as_of = T("2024-06-01T00:00:00Z");

    assert_non_null(m);
    assert_int_equal(kpi_model_write(m, buf_write, &buf), 0);
    back = kpi_model_from_buffer(buf.w, buf.len);
    assert_non_null(back);
    query_all(NULL, m, as_of, &a, &na, 0);
    query_all(NULL, back, as_of, &b, &nb, 0);
    assert_int_equal(na, nb);
    rows_equal(a, b, na);
    free(a);
    free(b);
    kpi_model_destroy(&back);

    assert_null(kpi_model_from_buffer(buf.w, buf.len - 8));
    assert_null(kpi_model_from_buffer(buf.w, 16));
    assert_null(kpi_model_from_buffer((char *)buf.w + 8, buf.len - 8));
    buf_write(&buf, "\0\0\0\0\0\0\0\0", 8);
    assert_null(kpi_model_from_buffer(buf.w, buf.len));
    buf.len -= 8;

    /* Every single byte changed, one at a time: refused, or a model that computes. */
    uint8_t *bytes = (uint8_t *)buf.w;
    size_t accepted = 0;
    for (size_t i = 0; i < buf.len; i++) {
        uint8_t old = bytes[i];

        bytes[i] ^= (uint8_t)(0x80 | (i & 0x7f));
        back = kpi_model_from_buffer(buf.w, buf.len);
        if (back) {
            if (kpi_model_covers(back, as_of)) {
                query_all(NULL, back, as_of, &a, &na, 0);
                free(a);
            }
            accepted++;
        }
        kpi_model_destroy(&back);
        bytes[i] = old;
    }
    /* Counts, offsets and centers are in the header and tables: many changes must be refused. */
    assert_true(accepted < buf.len);
    free(buf.w);
    kpi_model_destroy(&m);
}

/* The cache file: used only for its generation and centers, replaced whole. */
static void
test_snapshot(void **state)
{
    (void)state;
    char dir[] = "/tmp/psy-kpimodel-XXXXXX", path[256];
    kpi_model_t *m = kpi_model_new(&recs, &conf, INT64_MAX);
    kpi_snapshot_t *s;
    psy_agg_conf_t other;

    assert_non_null(m);
    assert_non_null(mkdtemp(dir));
    errno = 0;
    assert_null(kpi_snapshot_open(dir, 7, 1234, &conf));
    assert_int_equal(errno, ENOENT);

    assert_int_equal(kpi_snapshot_save(dir, 7, 1234, &conf, m), 0);
    s = kpi_snapshot_open(dir, 7, 1234, &conf);
    assert_non_null(s);
    assert_true(kpi_model_covers(kpi_snapshot_model(s), T("2024-06-01T00:00:00Z")));
    kpi_snapshot_destroy(&s);
    assert_null(s);

    errno = 0;
    assert_null(kpi_snapshot_open(dir, 8, 1234, &conf));
    assert_int_equal(errno, ESTALE);
    assert_null(kpi_snapshot_open(dir, 7, 1235, &conf));
    assert_int_equal(errno, ESTALE);
    other = conf;
    snprintf(other.centers[0].id, sizeof(other.centers[0].id), "b");
    snprintf(other.centers[1].id, sizeof(other.centers[1].id), "a");
    assert_null(kpi_snapshot_open(dir, 7, 1234, &other));
    assert_int_equal(errno, ESTALE);

    /* A damaged file is refused. */
    snprintf(path, sizeof(path), "%s/kpi-model.bin", dir);
    assert_int_equal(truncate(path, 5000), 0);
    assert_null(kpi_snapshot_open(dir, 7, 1234, &conf));
    assert_int_equal(errno, EBADMSG);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "garbage", 7), 7);
    close(fd);
    assert_null(kpi_snapshot_open(dir, 7, 1234, &conf));
    assert_int_equal(errno, EBADMSG);

    /* Saving again replaces it, leaving no temporary file. */
    assert_int_equal(kpi_snapshot_save(dir, 9, 1, &conf, m), 0);
    s = kpi_snapshot_open(dir, 9, 1, &conf);
    assert_non_null(s);
    kpi_snapshot_destroy(&s);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
    kpi_model_destroy(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_covers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
    };

    if (psy_tz_set("Europe/Copenhagen") < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}

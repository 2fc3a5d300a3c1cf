/*
 * Tests of `psymon simulate`: the center table, argument checking, that a
 * seed always gives the same files, and that the files are what records.md
 * asks for (read back through the collector's own reader), in time order,
 * with the right Copenhagen offsets and the intended trends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "psymon/psymon.h"
#include "reader.h"
#include "simulate.h"

#define FROM "2021-01-01"
#define TO   "2023-12-31"

static char dir_a[64], dir_b[64], dir_c[64], dir_d[64];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
simulate(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)"simulate";
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return cmd_simulate(argc, argv);
}

/* The sorted names of the regular files in dir; returns their number. */
static size_t
list_files(const char *dir, char names[][96], size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(n < max);
        assert_true(strlen(e->d_name) < 96);
        strcpy(names[n++], e->d_name);
    }
    closedir(d);
    qsort(names, n, 96, (int (*)(const void *, const void *))strcmp);
    return n;
}

static char *
slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = 0;
    fclose(f);
    *ret_len = (size_t)len;
    return buf;
}

/* 1 when the trees a/<center> and b/<center> hold the same files byte for byte. */
static int
same_center(const char *a, const char *b, const char *center)
{
    static char na[256][96], nb[256][96];
    char pa[512], pb[512];
    snprintf(pa, sizeof(pa), "%s/%s", a, center);
    snprintf(pb, sizeof(pb), "%s/%s", b, center);
    size_t n = list_files(pa, na, 256), m = list_files(pb, nb, 256);
    if (n != m || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(na[i], nb[i]) != 0)
            return 0;
        char fa[700], fb[700];
        size_t la, lb;
        snprintf(fa, sizeof(fa), "%s/%.95s", pa, na[i]);
        snprintf(fb, sizeof(fb), "%s/%.95s", pb, nb[i]);
        char *x = slurp(fa, &la), *y = slurp(fb, &lb);
        int same = la == lb && memcmp(x, y, la) == 0;
        free(x);
        free(y);
        if (!same)
            return 0;
    }
    return 1;
}

static int
setup(void **state)
{
    (void)state;
    strcpy(dir_a, "/tmp/psy-sim-a.XXXXXX");
    strcpy(dir_b, "/tmp/psy-sim-b.XXXXXX");
    strcpy(dir_c, "/tmp/psy-sim-c.XXXXXX");
    strcpy(dir_d, "/tmp/psy-sim-d.XXXXXX");
    if (!mkdtemp(dir_a) || !mkdtemp(dir_b) || !mkdtemp(dir_c) || !mkdtemp(dir_d))
        return -1;
    if (psy_tz_set("Europe/Copenhagen") < 0)
        return -1;
    /* localtime_r gives the expected offsets, independently of the simulator. */
    setenv("TZ", "Europe/Copenhagen", 1);
    tzset();
    /* Generated once and shared by the tests below. */
    return simulate("--out", dir_a, "--from", FROM, "--to", TO, "--seed", "11", NULL) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    rm_rf(dir_a);
    rm_rf(dir_b);
    rm_rf(dir_c);
    rm_rf(dir_d);
    return 0;
}

static void
test_centers(void **state)
{
    (void)state;
    static const char *const want[] = {
        "pc-amager",     "pc-ballerup",      "pc-bornholm", "pc-glostrup",
        "pc-koebenhavn", "pc-nordsjaelland", "pc-sct-hans", "buc"};
    size_t n = 0;
    const sim_center_t *c = sim_centers(&n);
    assert_int_equal(n, 8);
    for (size_t y = 0; y < SIM_YEARS; y++) {
        long sum = 0;
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(c[i].id, want[i]);
            assert_true(psy_center_valid(c[i].id));
            assert_true(strlen(c[i].name) > 0);
            assert_true(c[i].population[y] > 30000 && c[i].population[y] < 600000);
            sum += c[i].population[y];
        }
        long region = sim_region_population(SIM_YEAR_FIRST + (int)y);
        assert_true(region > 1800000 && region < 2000000);
        /* Child psychiatry's catchment overlaps the adult centers'. */
        assert_true(sum > region);
    }
    assert_int_equal(sim_region_population(1990), sim_region_population(SIM_YEAR_FIRST));
    assert_int_equal(sim_region_population(2099), sim_region_population(SIM_YEAR_LAST));
}

static void
test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(simulate("--from", FROM, NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--from", "2021-02-30", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--from", "2021-1-01", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--to", "yesterday", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--from", "2022-01-01", "--to", "2021-12-31", NULL),
                     2);
    assert_int_equal(simulate("--out", dir_d, "--seed", "x1", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--center", "pc-atlantis", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--live", "0", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--bogus", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--deteriorate", "pc-atlantis", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--deteriorate", "pc-glostrup:2024-13", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--deteriorate", "pc-glostrup:2024-7", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--deteriorate", "pc-glostrup:2024-07:1", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "--deteriorate", "pc-glostrup:2024-07:x", NULL), 2);
    assert_int_equal(simulate("--out", dir_d, "extra", NULL), 2);
    /* Nothing was written by a refused command. */
    char names[4][96];
    assert_int_equal(list_files(dir_d, names, 4), 0);
}

static void
test_deterministic(void **state)
{
    (void)state;
    assert_int_equal(simulate("--out", dir_b, "--from", FROM, "--to", TO, "--seed", "11", NULL), 0);
    assert_int_equal(simulate("--out", dir_c, "--from", FROM, "--to", TO, "--seed", "12", NULL), 0);
    size_t n = 0;
    const sim_center_t *c = sim_centers(&n);
    for (size_t i = 0; i < n; i++) {
        assert_true(same_center(dir_a, dir_b, c[i].id));
        assert_false(same_center(dir_a, dir_c, c[i].id));
    }
    /* One center alone is that center's part of the whole region. */
    assert_int_equal(simulate("--out", dir_d, "--from", FROM, "--to", TO, "--seed", "11",
                              "--center", "pc-bornholm", "--center", "buc", NULL),
                     0);
    char names[4][96];
    assert_int_equal(list_files(dir_d, names, 4), 2);
    assert_true(same_center(dir_a, dir_d, "pc-bornholm"));
    assert_true(same_center(dir_a, dir_d, "buc"));
}

/* The lines of a file, in a NULL-terminated array of pointers into *ret_buf. */
static char **
split_lines(const char *path, char **ret_buf, size_t *ret_n)
{
    size_t len, n = 0;
    char *buf = slurp(path, &len);
    char **lines = calloc(len / 8 + 2, sizeof(*lines)), *save = NULL;
    assert_non_null(lines);
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        assert_true(n < len / 8 + 1);
        lines[n++] = l;
    }
    *ret_buf = buf;
    *ret_n = n;
    return lines;
}

static bool
has_line(char **lines, size_t n, const char *line)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(lines[i], line) == 0)
            return true;
    return false;
}

/* The `"time":"..."` value of an NDJSON line, compared as text: one offset in a month. */
static const char *
line_time(const char *line)
{
    const char *p = strstr(line, "\"time\":\"");
    assert_non_null(p);
    return p + 8;
}

/*
 * A coercion episode still going on at the cut is written without its end
 * and, by a later run, with it: the one difference allowed. True when
 * `line` (without an end) and a line of `other` are such a pair.
 */
static bool
ongoing_pair(const char *line, char **other, size_t n)
{
    const char *t = strstr(line, ",\"time\":");
    if (!t || !strstr(line, "\"type\":\"coercion\"") || strstr(line, "\"end\":"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (strncmp(other[i], line, (size_t)(t - line)) == 0 && strstr(other[i], "\"end\":"))
            return true;
    return false;
}

/* True when `with_end` is the later form of an episode that `lines` has as still going on. */
static bool
ongoing_in(const char *with_end, char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ongoing_pair(lines[i], (char **)&with_end, 1))
            return true;
    return false;
}

/*
 * The history before --to does not depend on --to: a run to 2022-08-14
 * writes, for every center, what a run to 2023-12-31 (another year, so the
 * model runs a year longer) holds before 2022-08-15: the same files, byte
 * for byte, up to July, and in August's file the same lines before the
 * cut. Only an episode still going on at the cut lacks its end.
 */
static void
test_history_independent_of_to(void **state)
{
    (void)state;
    static char na[256][96], ne[256][96];
    char dir_e[] = "/tmp/psy-sim-e.XXXXXX";
    size_t ncenters = 0, same_files = 0, last_lines = 0, ongoing = 0;
    const sim_center_t *c = sim_centers(&ncenters);

    assert_non_null(mkdtemp(dir_e));
    assert_int_equal(
        simulate("--out", dir_e, "--from", FROM, "--to", "2022-08-14", "--seed", "11", NULL), 0);
    for (size_t k = 0; k < ncenters; k++) {
        char pa[512], pe[512];
        snprintf(pa, sizeof(pa), "%s/%s", dir_a, c[k].id);
        snprintf(pe, sizeof(pe), "%s/%s", dir_e, c[k].id);
        size_t n = list_files(pa, na, 256), m = list_files(pe, ne, 256);
        assert_true(m > 12 && m < n);
        for (size_t i = 0; i < m; i++) {
            char fa[700], fe[700], *ba, *be;
            size_t la, le;
            assert_string_equal(na[i], ne[i]);
            snprintf(fa, sizeof(fa), "%s/%.95s", pa, na[i]);
            snprintf(fe, sizeof(fe), "%s/%.95s", pe, ne[i]);
            if (i + 1 < m) {
                /* A month before the cut's: every byte the same. */
                char *x = slurp(fa, &la), *y = slurp(fe, &le);
                if (la != le || memcmp(x, y, la) != 0)
                    fail_msg("%s/%s differs with an earlier --to", c[k].id, ne[i]);
                free(x);
                free(y);
                same_files++;
                continue;
            }
            /* The cut's month, August 2022, is NDJSON: compared line by line. */
            assert_non_null(strstr(ne[i], "2022-08.ndjson"));
            char **a = split_lines(fa, &ba, &la), **e = split_lines(fe, &be, &le);
            for (size_t j = 0; j < le; j++) {
                assert_true(strncmp(line_time(e[j]), "2022-08-15", 10) < 0);
                if (has_line(a, la, e[j])) {
                    last_lines++;
                } else {
                    if (!ongoing_pair(e[j], a, la))
                        fail_msg("%s: not in the longer run: %s", c[k].id, e[j]);
                    ongoing++;
                }
            }
            /* A bad record's time is broken on purpose: it cannot be compared as text. */
            for (size_t j = 0; j < la; j++)
                if (strncmp(line_time(a[j]), "2022-08-15", 10) < 0 && !has_line(e, le, a[j]) &&
                    !ongoing_in(a[j], e, le) && !strstr(a[j], "\"id\":\"BAD-"))
                    fail_msg("%s: missing with the earlier --to: %s", c[k].id, a[j]);
            free(a);
            free(e);
            free(ba);
            free(be);
        }
    }
    /* What was compared is most of the history, and the exceptions are few. */
    assert_true(same_files >= 8 * 19);
    assert_true(last_lines > 1000);
    assert_true(ongoing < last_lines / 100);
    rm_rf(dir_e);
}

/* The offset text of an RFC 3339 time at `p` ("+01:00"), checked against the C library's zone. */
static void
check_offset(const char *line, psy_time_t t)
{
    const char *p = strstr(line, "\"time\":\"");
    char text[40];
    if (p) {
        p += 8;
    } else {
        /* CSV: the third cell. */
        p = strchr(line, ',');
        assert_non_null(p);
        p = strchr(p + 1, ',');
        assert_non_null(p);
        p++;
    }
    memcpy(text, p, 25);
    text[25] = 0;
    time_t tt = (time_t)(t / PSY_USEC);
    struct tm tm;
    localtime_r(&tt, &tm);
    char want[32];
    snprintf(want, sizeof(want), "+%02d:00", (int)(tm.tm_gmtoff / 3600));
    assert_string_equal(text + 19, want);
    /* The local hour printed is the zone's. */
    char hour[3] = {text[11], text[12], 0};
    assert_int_equal(atoi(hour), tm.tm_hour);
}

typedef struct {
    long records, rejected, csv_files, ndjson_files, voids, voluntary, ages;
    long belts[3];
    double belt_hours[3][2000];
    long nbelt_hours[3];
    long kinds[PSY_COERCION__COUNT];
    long consultations_2021, consultations_2023, referrals, treatment_starts;
} tally_t;

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void
check_center(const char *center, tally_t *t, psy_time_t from, psy_time_t to)
{
    static char names[256][96];
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", dir_a, center);
    size_t n = list_files(dir, names, 256);
    assert_int_equal(n, 36);
    uint8_t key[PSY_PSEUDO_KEYLEN] = {1, 2, 3};
    psy_time_t now = psy_time_now();
    for (size_t i = 0; i < n; i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%.95s", dir, names[i]);
        bool csv = strstr(names[i], ".csv") != NULL;
        t->csv_files += csv;
        t->ndjson_files += !csv;
        /* The name's month (after the UTC stamp) holds every record but corrections. */
        int fy = atoi(names[i] + 17), fm = atoi(names[i] + 22);
        assert_true(fy >= 2021 && fy <= 2023 && fm >= 1 && fm <= 12);
        psy_time_t month_end = psy_civil_start(fy, fm + 1, 1);

        reader_t *r = reader_new(path, key, now);
        assert_non_null(r);
        FILE *raw = fopen(path, "r");
        assert_non_null(raw);
        char line[4096];
        if (csv)
            assert_non_null(fgets(line, sizeof(line), raw)); /* the header */
        reader_item_t it;
        psy_time_t last = INT64_MIN;
        int rc;
        while ((rc = reader_next(r, &it)) == 1) {
            assert_non_null(fgets(line, sizeof(line), raw));
            t->records++;
            if (it.rejected) {
                /* Only the deliberate bad records are rejected. */
                assert_memory_equal(it.id, "BAD-", 4);
                t->rejected++;
                continue;
            }
            const psy_record_t *rec = &it.rec;
            assert_true(rec->time <= to);
            assert_true(rec->time < month_end);
            /* Only admissions of patients already in a ward at --from lie before it. */
            if (rec->time < from)
                assert_int_equal(rec->type, PSY_REC_ADMISSION);
            assert_true(rec->time >= last);
            last = rec->time;
            check_offset(line, rec->time);
            if (rec->is_void) {
                t->voids++;
                continue;
            }
            assert_true(rec->has_patient || rec->type == PSY_REC_CONSULTATION);
            int y = 0, m, d;
            psy_civil_date(rec->time, &y, &m, &d);
            if (rec->type == PSY_REC_ADMISSION || rec->type == PSY_REC_REFERRAL) {
                /* Given or derived from the CPR number's century digit. */
                assert_true(rec->age >= 0 && rec->age <= 110);
                if (rec->type == PSY_REC_REFERRAL)
                    assert_true(rec->age <= 18);
                t->ages++;
            }
            if (rec->type == PSY_REC_COERCION) {
                t->kinds[rec->coercion]++;
                if (rec->end != PSY_TIME_NONE)
                    assert_true(rec->end > rec->time && rec->end <= to);
                if (rec->voluntary) {
                    t->voluntary++;
                } else if (rec->coercion == PSY_COERCION_BELT && y >= 2021) {
                    t->belts[y - 2021]++;
                    if (rec->end != PSY_TIME_NONE && t->nbelt_hours[y - 2021] < 2000)
                        t->belt_hours[y - 2021][t->nbelt_hours[y - 2021]++] =
                            (double)(rec->end - rec->time) / (double)PSY_HOUR;
                }
            }
            if (rec->type == PSY_REC_CONSULTATION) {
                t->consultations_2021 += y == 2021;
                t->consultations_2023 += y == 2023;
            }
            t->referrals += rec->type == PSY_REC_REFERRAL;
            t->treatment_starts += rec->type == PSY_REC_TREATMENT_START;
        }
        assert_int_equal(rc, 0);
        reader_destroy(&r);
        assert_null(r);
        fclose(raw);
    }
}

static void
test_valid_and_realistic(void **state)
{
    (void)state;
    static tally_t t;
    memset(&t, 0, sizeof(t));
    psy_time_t from = psy_civil_start(2021, 1, 1), to = psy_civil_start(2024, 1, 1);
    size_t n = 0;
    const sim_center_t *c = sim_centers(&n);
    for (size_t i = 0; i < n; i++)
        check_center(c[i].id, &t, from, to);

    print_message("records %ld, rejected %ld, voids %ld\n", t.records, t.rejected, t.voids);
    assert_true(t.records > 100000);
    /* Bad records are rare (~0.1 %) but present. */
    assert_true(t.rejected > 0 && t.rejected * 500 < t.records);
    assert_true(t.voids > 0 && t.voluntary > 0);
    assert_true(t.csv_files > 0 && t.ndjson_files > t.csv_files);
    for (int k = PSY_COERCION_BELT; k < PSY_COERCION__COUNT; k++)
        assert_true(t.kinds[k] > 0);
    /* Belt fixations about 1,000 in 2021, falling, median 6-14 h, a few over 48 h. */
    long over48 = 0;
    for (int y = 0; y < 3; y++) {
        qsort(t.belt_hours[y], (size_t)t.nbelt_hours[y], sizeof(double), cmp_double);
        double median = t.belt_hours[y][t.nbelt_hours[y] / 2];
        print_message("%d: belts %ld, median %.2f h\n", 2021 + y, t.belts[y], median);
        assert_true(median >= 6 && median <= 14);
        for (long i = 0; i < t.nbelt_hours[y]; i++)
            over48 += t.belt_hours[y][i] > 48;
        if (y > 0)
            assert_true(t.belts[y] < t.belts[y - 1]);
    }
    assert_true(t.belts[0] > 900 && t.belts[0] < 1100);
    assert_true(over48 > 0 && over48 * 10 < t.belts[0]);
    /* Social nurses start in 2022; child psychiatry referrals mostly start treatment. */
    assert_int_equal(t.consultations_2021, 0);
    assert_true(t.consultations_2023 > 1000);
    assert_true(t.referrals > 10000 && t.treatment_starts > t.referrals * 8 / 10);
}

/* Counts the live files under dir/<center>/ and checks each through the reader. */
static size_t
check_live_files(const char *dir, bool read)
{
    static char names[64][96];
    size_t nlive = 0, n = 0;
    const sim_center_t *c = sim_centers(&n);
    uint8_t key[PSY_PSEUDO_KEYLEN] = {9};
    for (size_t i = 0; i < n; i++) {
        char sub[512];
        snprintf(sub, sizeof(sub), "%s/%s", dir, c[i].id);
        DIR *d = opendir(sub);
        if (!d)
            continue;
        closedir(d);
        size_t k = list_files(sub, names, 64);
        for (size_t j = 0; j < k; j++) {
            assert_non_null(strstr(names[j], "-live.ndjson"));
            nlive++;
            if (!read)
                continue;
            char path[700];
            snprintf(path, sizeof(path), "%s/%.95s", sub, names[j]);
            reader_t *r = reader_new(path, key, psy_time_now());
            assert_non_null(r);
            reader_item_t it;
            int rc, nrec = 0;
            while ((rc = reader_next(r, &it)) == 1) {
                assert_false(it.rejected);
                assert_memory_equal(it.rec.id, "L", 1);
                nrec++;
            }
            assert_int_equal(rc, 0);
            assert_true(nrec > 0);
            reader_destroy(&r);
        }
    }
    return nlive;
}

/* --live writes valid files until SIGTERM, then exits 0. */
static void
test_live(void **state)
{
    (void)state;
    char dir[] = "/tmp/psy-sim-live.XXXXXX";
    assert_non_null(mkdtemp(dir));
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        _exit(simulate("--out", dir, "--from", "2025-01-01", "--live", "1", "--no-history", NULL));
    }
    /* Generous: the model runs first; no timing is asserted. */
    for (int i = 0; i < 600 && check_live_files(dir, false) < 3; i++)
        usleep(100000);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(check_live_files(dir, true) >= 3);
    rm_rf(dir);
}

/* Lines of the files of dir/center whose month (the name's tail) is in [from, to) naming `what`. */
static size_t
count_in_months(const char *dir, const char *center, const char *from, const char *to,
                const char *what)
{
    static char names[256][96];
    char path[512];
    size_t n, count = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, center);
    n = list_files(path, names, 256);
    for (size_t i = 0; i < n; i++) {
        const char *month = strchr(names[i], '-'); /* 20201231T230000Z-2021-01.ndjson */
        if (!month || strncmp(month + 1, from, 7) < 0 || strncmp(month + 1, to, 7) >= 0)
            continue;
        char file[700], *buf, **lines;
        size_t nl;
        snprintf(file, sizeof(file), "%s/%.95s", path, names[i]);
        lines = split_lines(file, &buf, &nl);
        for (size_t k = 0; k < nl; k++)
            count += strstr(lines[k], what) != NULL;
        free(lines);
        free(buf);
    }
    return count;
}

/*
 * --deteriorate pc-glostrup:2023-07 lifts that center's intrusive coercion
 * by half from July 2023 and changes nothing else: every other center's
 * files and Glostrup's files before July are those of the run without it.
 */
static void
test_deteriorate(void **state)
{
    (void)state;
    char dir[64] = "/tmp/psy-sim-w.XXXXXX";
    size_t n = 0;
    const sim_center_t *c = sim_centers(&n);

    assert_non_null(mkdtemp(dir));
    assert_int_equal(simulate("--out", dir, "--from", FROM, "--to", TO, "--seed", "11",
                              "--deteriorate", "pc-glostrup:2023-07", NULL),
                     0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].id, "pc-glostrup") == 0)
            assert_false(same_center(dir_a, dir, c[i].id));
        else
            assert_true(same_center(dir_a, dir, c[i].id));
    /* Before July: the same lines; from July: about half as many again. */
    static const char *const kinds[] = {"physical_restraint", "sedative_medication"};
    for (size_t k = 0; k < 2; k++) {
        size_t before_a = count_in_months(dir_a, "pc-glostrup", "2021-01", "2023-07", kinds[k]);
        size_t before_w = count_in_months(dir, "pc-glostrup", "2021-01", "2023-07", kinds[k]);
        size_t after_a = count_in_months(dir_a, "pc-glostrup", "2023-07", "2024-01", kinds[k]);
        size_t after_w = count_in_months(dir, "pc-glostrup", "2023-07", "2024-01", kinds[k]);
        print_message("%s: before July %zu / %zu, after %zu / %zu\n", kinds[k], before_a, before_w,
                      after_a, after_w);
        assert_true(before_a > 500);
        assert_int_equal(before_a, before_w);
        assert_true(after_w * 10 >= after_a * 13 && after_w * 10 <= after_a * 17);
    }
    rm_rf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_centers),       cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_valid_and_realistic),
        cmocka_unit_test(test_live),          cmocka_unit_test(test_history_independent_of_to),
        cmocka_unit_test(test_deteriorate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

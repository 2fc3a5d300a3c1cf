/*
 * Tests of collectors/reader.c with ndjson.c and csv.c: the file rules of
 * records.md (encodings, BOM, blank lines, line numbers, over-long lines,
 * invalid UTF-8, CSV quoting and cell counts) and the data files in
 * tests/data/reader/.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pseudonym.h"
#include "reader.h"

static const uint8_t key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

/* HMAC-SHA-256 of "0101901234" under key, from openssl (see test_pseudonym.c). */
static const char cpr_pseudonym_hex[] =
    "ec8ee9f1171562dc7ab8560142b9c1767eb5da8bffddaf89d58e89da3db166af";

#define MAX_ITEMS 64

static char tmpdir[64];

static psy_time_t
at(const char *s)
{
    psy_time_t t = 0;

    assert_int_equal(psy_time_parse(s, strlen(s), &t), 0);
    return t;
}

static psy_time_t
now(void)
{
    return at("2024-06-01T00:00:00Z");
}

static void
hex_to_bytes(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;

        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static const char *
write_file(const char *name, const char *data, size_t len)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Reads every item of path; returns their count. Fails on an I/O error or too many items. */
static int
read_path(const char *path, reader_item_t *items, int max)
{
    reader_t *r = reader_new(path, key, now());
    int n = 0, k;

    assert_non_null(r);
    while ((k = reader_next(r, &items[n])) == 1) {
        n++;
        assert_true(n < max);
    }
    assert_int_equal(k, 0);
    /* The end stays the end. */
    assert_int_equal(reader_next(r, &items[n]), 0);
    reader_destroy(&r);
    assert_null(r);
    return n;
}

static int
read_str(const char *name, const char *data, reader_item_t *items)
{
    return read_path(write_file(name, data, strlen(data)), items, MAX_ITEMS);
}

static void
assert_rejected(const reader_item_t *it, long line, const char *id, const char *reason)
{
    if (!it->rejected)
        fail_msg("line %ld accepted, wanted rejection '%s'", line, reason);
    assert_int_equal(it->line, line);
    assert_string_equal(it->id, id);
    if (strstr(it->reason, reason) != it->reason)
        fail_msg("line %ld: reason '%s', wanted '%s'", line, it->reason, reason);
    /* Nothing that looks like a CPR number ever reaches a reason. */
    assert_null(strstr(it->reason, "0101"));
}

static void
assert_accepted(const reader_item_t *it, long line, const char *id)
{
    if (it->rejected)
        fail_msg("line %ld rejected: %s", line, it->reason);
    assert_int_equal(it->line, line);
    assert_string_equal(it->rec.id, id);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_reader.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *
data_path(const char *name)
{
    static char path[1024];
    const char *src = getenv("PSY_SOURCE_DIR");

    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/tests/data/reader/%s", src, name);
    return path;
}

static void
test_example_ndjson(void **state)
{
    reader_item_t it[MAX_ITEMS];
    uint8_t p[32];

    (void)state;
    hex_to_bytes(cpr_pseudonym_hex, p);
    assert_int_equal(read_path(data_path("example.ndjson"), it, MAX_ITEMS), 3);
    assert_accepted(&it[0], 1, "A-1001");
    assert_int_equal(it[0].rec.type, PSY_REC_ADMISSION);
    assert_true(it[0].rec.time == at("2024-03-01T13:05:00Z"));
    assert_int_equal(it[0].rec.mode, PSY_MODE_ACUTE);
    assert_int_equal(it[0].rec.legal, PSY_LEGAL_INVOLUNTARY_YELLOW);
    assert_string_equal(it[0].rec.ward, "M1");
    assert_string_equal(it[0].rec.contact, "A-1001");
    assert_int_equal(it[0].rec.age, 34);
    assert_true(it[0].rec.has_patient);
    assert_memory_equal(it[0].rec.patient, p, 32);
    assert_accepted(&it[1], 2, "C-77");
    assert_int_equal(it[1].rec.coercion, PSY_COERCION_BELT);
    assert_true(it[1].rec.end == at("2024-03-01T18:30:00Z"));
    assert_string_equal(it[1].rec.contact, "A-1001");
    assert_memory_equal(it[1].rec.patient, p, 32);
    assert_accepted(&it[2], 3, "D-1001");
    assert_int_equal(it[2].rec.outcome, PSY_OUTCOME_SELF_DISCHARGE);
    assert_memory_equal(it[2].rec.patient, p, 32);
}

static void
test_example_csv(void **state)
{
    reader_item_t it[MAX_ITEMS];
    uint8_t p[32];

    (void)state;
    hex_to_bytes(cpr_pseudonym_hex, p);
    assert_int_equal(read_path(data_path("example.csv"), it, MAX_ITEMS), 3);
    assert_accepted(&it[0], 2, "C-77");
    assert_int_equal(it[0].rec.coercion, PSY_COERCION_BELT);
    assert_string_equal(it[0].rec.contact, "A-1001");
    assert_true(it[0].rec.end == at("2024-03-01T18:30:00Z"));
    assert_false(it[0].rec.voluntary);
    assert_memory_equal(it[0].rec.patient, p, 32);
    /* The quoted note spans lines 3 and 4; the row starts on 3. */
    assert_accepted(&it[1], 3, "C-78");
    assert_int_equal(it[1].rec.coercion, PSY_COERCION_PHYSICAL_RESTRAINT);
    assert_string_equal(it[1].rec.contact, ""); /* empty cell: absent */
    assert_true(it[1].rec.end == PSY_TIME_NONE);
    assert_memory_equal(it[1].rec.patient, p, 32);
    assert_accepted(&it[2], 5, "C-79");
    assert_true(it[2].rec.voluntary);
}

static void
test_ndjson_blank_lines_and_crlf(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data = "\n"
                       "{\"type\":\"referral\",\"id\":\"R-1\",\"time\":\"2024-03-02T10:00:00Z\","
                       "\"patient\":\"x\"}\r\n"
                       "   \t\r\n"
                       "\r\n"
                       "{\"type\":\"referral\",\"id\":\"R-2\",\"time\":\"2024-03-02T10:00:00Z\","
                       "\"patient\":\"x\"}"; /* no final newline */

    (void)state;
    assert_int_equal(read_str("blank.ndjson", data, it), 2);
    assert_accepted(&it[0], 2, "R-1");
    assert_accepted(&it[1], 5, "R-2");
    assert_int_equal(read_str("empty.ndjson", "", it), 0);
    assert_int_equal(read_str("empty2.ndjson", "\n\n\n", it), 0);
}

static void
test_bom(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *nd = "\xEF\xBB\xBF{\"type\":\"referral\",\"id\":\"R-1\","
                     "\"time\":\"2024-03-02T10:00:00Z\",\"patient\":\"x\"}\n"
                     "\xEF\xBB\xBF{\"type\":\"referral\",\"id\":\"R-2\","
                     "\"time\":\"2024-03-02T10:00:00Z\",\"patient\":\"x\"}\n";
    const char *csv = "\xEF\xBB\xBFtype,id,time,patient\nreferral,R-1,2024-03-02T10:00:00Z,x\n";

    (void)state;
    assert_int_equal(read_str("bom.ndjson", nd, it), 2);
    assert_accepted(&it[0], 1, "R-1");
    /* Only at the start of the file. */
    assert_rejected(&it[1], 2, "", "invalid JSON");
    assert_int_equal(read_str("bom.csv", csv, it), 1);
    assert_accepted(&it[0], 2, "R-1");
    /* A quoted first cell right after the mark, with a line break in it. */
    assert_int_equal(read_str("bomq.csv",
                              "\xEF\xBB\xBF\"no\nte\",type,id,time,patient\n"
                              "y,referral,R-1,2024-03-02T10:00:00Z,x\n",
                              it),
                     1);
    assert_accepted(&it[0], 3, "R-1");
    assert_int_equal(read_str("bomonly.ndjson", "\xEF\xBB\xBF", it), 0);
    assert_int_equal(read_str("bomonly.csv", "\xEF\xBB\xBF\r\n", it), 0);
}

static void
test_ndjson_not_object(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data = "[{\"type\":\"referral\"}]\n"
                       "\"text\"\n"
                       "5\n"
                       "null\n"
                       "{\"type\":\"referral\",\"id\":\"R-1\"\n"
                       "{\"type\":\"referral\",\"id\":\"R-2\",\"time\":\"2024-03-02T10:00:00Z\","
                       "\"patient\":\"x\"} {}\n"
                       "{\"type\":\"referral\",\"id\":\"R-3\",\"time\":\"2024-03-02T10:00:00Z\","
                       "\"patient\":\"x\"}\n";

    (void)state;
    assert_int_equal(read_str("notobj.ndjson", data, it), 7);
    assert_rejected(&it[0], 1, "", "line is not a JSON object");
    assert_rejected(&it[1], 2, "", "line is not a JSON object");
    assert_rejected(&it[2], 3, "", "line is not a JSON object");
    assert_rejected(&it[3], 4, "", "line is not a JSON object");
    assert_rejected(&it[4], 5, "", "invalid JSON");
    assert_rejected(&it[5], 6, "", "invalid JSON");
    assert_accepted(&it[6], 7, "R-3");
}

static void
test_ndjson_duplicate_key(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data = "{\"type\":\"referral\",\"id\":\"R-1\",\"time\":\"2024-03-02T10:00:00Z\","
                       "\"patient\":\"x\",\"patient\":\"y\"}\n"
                       "{\"type\":\"referral\",\"id\":\"R-2\",\"time\":\"2024-03-02T10:00:00Z\","
                       "\"patient\":\"x\",\"note\":1,\"note\":2}\n"
                       "{\"type\":\"referral\",\"id\":\"R-3\",\"time\":\"2024-03-02T10:00:00Z\","
                       "\"patient\":\"x\"}\n";

    (void)state;
    assert_int_equal(read_str("dup.ndjson", data, it), 3);
    assert_rejected(&it[0], 1, "", "duplicate key");
    /* Also of a field nobody reads. */
    assert_rejected(&it[1], 2, "", "duplicate key");
    assert_accepted(&it[2], 3, "R-3");
}

static void
test_ndjson_types(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data =
        "{\"type\":\"admission\",\"id\":\"A-1\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":\"acute\",\"age\":\"5\"}\n"
        "{\"type\":\"admission\",\"id\":\"A-2\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":\"acute\",\"age\":5.0}\n"
        "{\"type\":\"admission\",\"id\":\"A-3\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":\"acute\",\"age\":null,\"legal\":\"\",\"ward\":null}\n"
        "{\"type\":\"admission\",\"id\":\"A-4\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":\"acute\",\"void\":\"true\"}\n"
        "{\"type\":\"admission\",\"id\":\"A-5\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":\"acute\",\"void\":false,\"age\":7}\n"
        "{\"type\":\"consultation\",\"id\":\"K-1\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"role\":\"other\",\"kind\":\"other\",\"minutes\":\"30\"}\n"
        "{\"type\":\"consultation\",\"id\":\"K-2\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"role\":\"other\",\"kind\":\"other\",\"minutes\":30,\"patient\":\"\"}\n"
        "{\"type\":\"coercion\",\"id\":\"C-1\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"kind\":\"belt\",\"voluntary\":1}\n"
        "{\"type\":\"admission\",\"id\":\"A-6\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":[\"acute\"]}\n"
        "{\"type\":\"admission\",\"id\":\"A-7\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"void\":true}\n"
        "{\"type\":\"admission\",\"id\":\"A-8\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":\"acute\",\"age\":99999999999999999999}\n"
        "{\"type\":\"admission\",\"id\":\"A-9\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"x\",\"mode\":\"acute\",\"age\":-3}\n";

    (void)state;
    assert_int_equal(read_str("types.ndjson", data, it), 12);
    assert_rejected(&it[0], 1, "A-1", "field 'age' is not an integer");
    assert_rejected(&it[1], 2, "A-2", "field 'age' is not an integer");
    assert_accepted(&it[2], 3, "A-3");
    assert_int_equal(it[2].rec.age, -1);
    assert_int_equal(it[2].rec.legal, PSY_LEGAL_VOLUNTARY);
    assert_string_equal(it[2].rec.ward, "");
    assert_rejected(&it[3], 4, "A-4", "field 'void' is not a boolean");
    assert_accepted(&it[4], 5, "A-5");
    assert_false(it[4].rec.is_void);
    assert_int_equal(it[4].rec.age, 7);
    assert_rejected(&it[5], 6, "K-1", "field 'minutes' is not an integer");
    assert_accepted(&it[6], 7, "K-2");
    assert_int_equal(it[6].rec.minutes, 30);
    assert_false(it[6].rec.has_patient); /* "" is absent */
    assert_rejected(&it[7], 8, "C-1", "field 'voluntary' is not a boolean");
    assert_rejected(&it[8], 9, "A-6", "field 'mode' is not a string");
    assert_accepted(&it[9], 10, "A-7");
    assert_true(it[9].rec.is_void);
    assert_rejected(&it[10], 11, "", "invalid JSON"); /* jansson: too big an integer */
    assert_rejected(&it[11], 12, "A-9", "field 'age' is out of range");
}

static void
test_invalid_utf8(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *nd = "{\"type\":\"referral\",\"id\":\"R-1\",\"time\":\"2024-03-02T10:00:00Z\","
                     "\"patient\":\"x\",\"note\":\"\xff\"}\n"
                     "{\"type\":\"referral\",\"id\":\"R-2\",\"time\":\"2024-03-02T10:00:00Z\","
                     "\"patient\":\"\xc0\xaf\"}\n"
                     "{\"type\":\"referral\",\"id\":\"R-3\",\"time\":\"2024-03-02T10:00:00Z\","
                     "\"patient\":\"\xc3\xa6\"}\n";
    const char *csv = "type,id,time,patient,note\n"
                      "referral,R-1,2024-03-02T10:00:00Z,x,\xed\xa0\x80\n"
                      "referral,R-2,2024-03-02T10:00:00Z,\xc3\xa6\xc3\xb8,ok\n"
                      "referral,R-3,2024-03-02T10:00:00Z,x,\"\xe2\x82\"\n";

    (void)state;
    assert_int_equal(read_str("utf8.ndjson", nd, it), 3);
    assert_rejected(&it[0], 1, "", "invalid UTF-8");
    assert_rejected(&it[1], 2, "", "invalid UTF-8");
    assert_accepted(&it[2], 3, "R-3");
    assert_int_equal(read_str("utf8.csv", csv, it), 3);
    assert_rejected(&it[0], 2, "", "invalid UTF-8");
    assert_accepted(&it[1], 3, "R-2");
    assert_rejected(&it[2], 4, "", "invalid UTF-8");
}

/* A valid referral line of exactly len bytes (without the newline), padded in an ignored field. */
static char *
referral_line(const char *id, size_t len)
{
    char head[128];
    int n = snprintf(head, sizeof(head),
                     "{\"type\":\"referral\",\"id\":\"%s\",\"time\":\"2024-03-02T10:00:00Z\","
                     "\"patient\":\"x\",\"pad\":\"",
                     id);
    char *s = malloc(len + 1);

    assert_non_null(s);
    assert_true((size_t)n + 2 <= len);
    memcpy(s, head, (size_t)n);
    memset(s + n, 'p', len - (size_t)n - 2);
    memcpy(s + len - 2, "\"}", 2);
    s[len] = '\0';
    return s;
}

static void
test_long_lines_ndjson(void **state)
{
    reader_item_t it[MAX_ITEMS];
    char *exact = referral_line("R-1", PSY_LINE_MAX);
    char *over = referral_line("R-2", PSY_LINE_MAX + 1);
    char *huge = referral_line("R-3", 5 * 1024 * 1024);
    size_t total = strlen(exact) + strlen(over) + strlen(huge) + 1024;
    char *data = malloc(total);

    (void)state;
    assert_non_null(data);
    snprintf(data, total,
             "%s\n%s\n%s\r\n{\"type\":\"referral\",\"id\":\"R-4\",\"time\":"
             "\"2024-03-02T10:00:00Z\",\"patient\":\"x\"}\n",
             exact, over, huge);
    assert_int_equal(read_str("long.ndjson", data, it), 4);
    assert_accepted(&it[0], 1, "R-1");
    assert_rejected(&it[1], 2, "", "line longer than 65536 bytes");
    assert_rejected(&it[2], 3, "", "line longer than 65536 bytes");
    assert_accepted(&it[3], 4, "R-4");
    /* An over-long last line without a newline. */
    assert_int_equal(read_str("long2.ndjson", over, it), 1);
    assert_rejected(&it[0], 1, "", "line longer than 65536 bytes");
    free(exact);
    free(over);
    free(huge);
    free(data);
}

/*
 * Reads path in a fresh child process and reports its peak memory, so
 * that what earlier tests touched does not hide it. Returns the peak in
 * KiB, or -1 when the file did not read as one over-long line followed by
 * the record R-2.
 */
static long
child_peak_kib(const char *path)
{
    struct rusage ru;
    int fds[2], status;
    long peak = -1;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        reader_item_t a, b, c;
        reader_t *r = reader_new(path, key, now());
        bool ok = r && reader_next(r, &a) == 1 && a.rejected && reader_next(r, &b) == 1 &&
                  !b.rejected && strcmp(b.rec.id, "R-2") == 0 && reader_next(r, &c) == 0;

        reader_destroy(&r);
        getrusage(RUSAGE_SELF, &ru);
        peak = ok ? ru.ru_maxrss : -1;
        _exit(write(fds[1], &peak, sizeof(peak)) == sizeof(peak) ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &peak, sizeof(peak)), sizeof(peak));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return peak;
}

/*
 * A 64 MiB line, written in pieces, must not be held: the reader's peak
 * memory stays far below the line's size, and the next line is read.
 */
static void
test_memory_bounded(void **state)
{
    static char chunk[1 << 20];
    static const char tail[] = "\"}\n{\"type\":\"referral\",\"id\":\"R-2\","
                               "\"time\":\"2024-03-02T10:00:00Z\",\"patient\":\"x\"}\n";
    char path[256];
    long small, big;
    FILE *f;

    (void)state;
    /* The same shape with a line just over the limit, for the baseline. */
    snprintf(path, sizeof(path), "%s/over.ndjson", tmpdir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"type\":\"referral\",\"id\":\"R-1\",\"pad\":\"", f);
    memset(chunk, 'p', sizeof(chunk));
    assert_int_equal(fwrite(chunk, 1, PSY_LINE_MAX, f), PSY_LINE_MAX);
    fputs(tail, f);
    assert_int_equal(fclose(f), 0);
    small = child_peak_kib(path);
    assert_true(small > 0);

    snprintf(path, sizeof(path), "%s/huge.ndjson", tmpdir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"type\":\"referral\",\"id\":\"R-1\",\"pad\":\"", f);
    for (int i = 0; i < 64; i++)
        assert_int_equal(fwrite(chunk, 1, sizeof(chunk), f), sizeof(chunk));
    fputs(tail, f);
    assert_int_equal(fclose(f), 0);
    big = child_peak_kib(path);
    assert_true(big > 0);
    /* Holding the 64 MiB line, or a buffer of its size, would break both bounds. */
    assert_true(big - small < 8 * 1024);
    assert_true(big < 48 * 1024);
}

static void
test_future_time(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data =
        "{\"type\":\"referral\",\"id\":\"R-1\",\"time\":\"2024-06-02T00:00:01Z\","
        "\"patient\":\"010190-1234\"}\n"
        "{\"type\":\"referral\",\"id\":\"R-2\",\"time\":\"2024-06-02T01:00:00+01:00\","
        "\"patient\":\"010190-1234\"}\n";

    (void)state;
    assert_int_equal(read_str("future.ndjson", data, it), 2);
    assert_rejected(&it[0], 1, "R-1", "field 'time' lies more than 24 h in the future");
    assert_accepted(&it[1], 2, "R-2"); /* exactly 24 h ahead */
}

static void
test_csv_quoting(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data = "id,type,time,patient,note\r\n"
                       "R-1,referral,2024-03-02T10:00:00Z,\"0101901234\",\"a, b\"\r\n"
                       "\"R-2\",referral,2024-03-02T10:00:00Z,x,\"say \"\"hi\"\"\r\nand go\"\r\n"
                       "R-3,referral,2024-03-02T10:00:00Z,x,a\"b\r\n"
                       "R-4,referral,2024-03-02T10:00:00Z,x,\"ab\"c\r\n"
                       "R-5,referral,2024-03-02T10:00:00Z,\"x\",\"\"\r\n"
                       "R-6,\"referral\",2024-03-02T10:00:00Z,x,\"unterminated\r\n"
                       "R-7,referral,2024-03-02T10:00:00Z,x,\r\n";
    uint8_t p[32];

    (void)state;
    hex_to_bytes(cpr_pseudonym_hex, p);
    assert_int_equal(read_str("quote.csv", data, it), 6);
    assert_accepted(&it[0], 2, "R-1");
    assert_memory_equal(it[0].rec.patient, p, 32);
    assert_accepted(&it[1], 3, "R-2");
    assert_rejected(&it[2], 5, "", "malformed quotes in CSV row");
    assert_rejected(&it[3], 6, "", "malformed quotes in CSV row");
    assert_accepted(&it[4], 7, "R-5");
    /* The open quote runs to the end of the file, taking R-7 with it. */
    assert_rejected(&it[5], 8, "", "unterminated quoted field");
}

static void
test_csv_cells(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data =
        "age,legal,mode,patient,time,id,type,Type,ekstra\n"
        "41,,acute,010190-1234,2024-03-01T14:05:00+01:00,A-1,admission,x,y\n"
        ",involuntary_red,planned,010190-1234,2024-03-01T14:05:00+01:00,A-2,admission,,\n"
        "4x,,acute,x,2024-03-01T14:05:00Z,A-3,admission,,\n"
        "-1,,acute,x,2024-03-01T14:05:00Z,A-4,admission,,\n"
        "131,,acute,x,2024-03-01T14:05:00Z,A-5,admission,,\n"
        "99999999999999999999999,,acute,x,2024-03-01T14:05:00Z,A-6,admission,,\n"
        ",,acute,x,2024-03-01T14:05:00Z,A-7,admission,\n"
        ",,acute,x,2024-03-01T14:05:00Z,A-8,admission,,,\n"
        ",,,x,2024-03-01T14:05:00Z,A-9,admission,,\n"
        "\n"
        "007,,acute,x,2024-03-01T14:05:00Z,A-10,admission,,\n";

    (void)state;
    assert_int_equal(read_str("cells.csv", data, it), 10);
    assert_accepted(&it[0], 2, "A-1");
    assert_int_equal(it[0].rec.age, 41);
    assert_int_equal(it[0].rec.legal, PSY_LEGAL_VOLUNTARY);
    assert_int_equal(it[0].rec.mode, PSY_MODE_ACUTE);
    assert_accepted(&it[1], 3, "A-2");
    assert_int_equal(it[1].rec.age, 34); /* empty cell: derived */
    assert_int_equal(it[1].rec.legal, PSY_LEGAL_INVOLUNTARY_RED);
    assert_rejected(&it[2], 4, "A-3", "field 'age' is not an integer");
    assert_rejected(&it[3], 5, "A-4", "field 'age' is not an integer"); /* digits only */
    assert_rejected(&it[4], 6, "A-5", "field 'age' is out of range");
    assert_rejected(&it[5], 7, "A-6", "field 'age' is out of range");
    assert_rejected(&it[6], 8, "", "row has fewer cells than the header");
    assert_rejected(&it[7], 9, "", "row has more cells than the header");
    assert_rejected(&it[8], 10, "A-9", "missing required field 'mode'");
    assert_accepted(&it[9], 12, "A-10");
    assert_int_equal(it[9].rec.age, 7);
}

static void
test_csv_booleans(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data = "type,id,time,void,patient,kind,voluntary\n"
                       "coercion,C-1,2024-03-01T14:05:00Z,false,x,belt,true\n"
                       "coercion,C-2,2024-03-01T14:05:00Z,TRUE,x,belt,\n"
                       "coercion,C-3,2024-03-01T14:05:00Z,,x,belt,1\n"
                       "coercion,C-4,2024-03-01T14:05:00Z,true,,,\n"
                       "coercion,C-5,2024-03-01T14:05:00Z,,x,gloves,true\n";

    (void)state;
    assert_int_equal(read_str("bool.csv", data, it), 5);
    assert_accepted(&it[0], 2, "C-1");
    assert_false(it[0].rec.is_void);
    assert_true(it[0].rec.voluntary);
    assert_rejected(&it[1], 3, "C-2", "field 'void' is not a boolean");
    assert_rejected(&it[2], 4, "C-3", "field 'voluntary' is not a boolean");
    assert_accepted(&it[3], 5, "C-4");
    assert_true(it[3].rec.is_void);
    assert_false(it[3].rec.has_patient);
    assert_rejected(&it[4], 6, "C-5", "field 'voluntary' is true on a kind other than belt");
}

static void
test_csv_header(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *dup = "type,id,time,patient,id\nreferral,R-1,2024-03-02T10:00:00Z,x,R-1\n"
                      "referral,R-2,2024-03-02T10:00:00Z,x,R-2\n";
    const char *unknown_dup = "type,id,time,patient,x,x\nreferral,R-1,2024-03-02T10:00:00Z,p,1,2\n";
    const char *no_type = "id,time,patient\nR-1,2024-03-02T10:00:00Z,x\n";
    char wide[8192];
    size_t n = 0;

    (void)state;
    assert_int_equal(read_str("dup.csv", dup, it), 3);
    assert_rejected(&it[0], 1, "", "CSV header names column 'id' twice");
    assert_rejected(&it[1], 2, "", "no valid CSV header");
    assert_rejected(&it[2], 3, "", "no valid CSV header");
    assert_int_equal(read_str("udup.csv", unknown_dup, it), 1);
    assert_accepted(&it[0], 2, "R-1");
    assert_int_equal(read_str("notype.csv", no_type, it), 1);
    assert_rejected(&it[0], 2, "R-1", "missing required field 'type'");
    assert_int_equal(read_str("badhead.csv",
                              "type,id,time,pati\xff"
                              "ent\nreferral,R-1,x,y\n",
                              it),
                     2);
    assert_rejected(&it[0], 1, "", "invalid UTF-8 in CSV header");
    assert_rejected(&it[1], 2, "", "no valid CSV header");
    assert_int_equal(read_str("quotehead.csv", "type,id,time,\"patient\nreferral,R-1,x,y\n", it),
                     1);
    assert_rejected(&it[0], 1, "", "unterminated quoted field");
    assert_int_equal(read_str("header-only.csv", "type,id,time\n", it), 0);
    assert_int_equal(read_str("empty.csv", "", it), 0);
    for (int i = 0; i <= PSY_CSV_FIELDS; i++)
        n += (size_t)snprintf(wide + n, sizeof(wide) - n, "c%d,", i);
    wide[n - 1] = '\n';
    snprintf(wide + n, sizeof(wide) - n, "x\n");
    assert_int_equal(read_str("wide.csv", wide, it), 2);
    assert_rejected(&it[0], 1, "", "CSV header has more than 256 columns");
    assert_rejected(&it[1], 2, "", "no valid CSV header");
}

static void
test_long_rows_csv(void **state)
{
    reader_item_t it[MAX_ITEMS];
    size_t big = 200 * 1024, cap = big + PSY_LINE_MAX + 4096, n;
    char *data = malloc(cap);

    (void)state;
    assert_non_null(data);
    n = (size_t)snprintf(data, cap,
                         "type,id,time,patient,note\n"
                         "referral,R-1,2024-03-02T10:00:00Z,x,\"");
    /* An over-long quoted cell with line breaks inside: they do not end the row. */
    for (size_t i = 0; i < big; i++)
        data[n++] = (i % 100 == 99) ? '\n' : 'q';
    n += (size_t)snprintf(data + n, cap - n,
                          "\"\nreferral,R-2,2024-03-02T10:00:00Z,x,\n"
                          "referral,R-3,2024-03-02T10:00:00Z,x,");
    /* Past the limit by its first cells, and without quotes. */
    memset(data + n, 'q', PSY_LINE_MAX);
    n += PSY_LINE_MAX;
    data[n++] = '\n';
    assert_int_equal(read_path(write_file("long.csv", data, n), it, MAX_ITEMS), 3);
    assert_rejected(&it[0], 2, "", "row longer than 65536 bytes");
    assert_accepted(&it[1], 2 + (long)(big / 100) + 1, "R-2");
    assert_rejected(&it[2], 2 + (long)(big / 100) + 2, "", "row longer than 65536 bytes");

    /* An over-long header: the row after it is data, not a header. */
    n = 0;
    memset(data, 'h', PSY_LINE_MAX + 1);
    n = PSY_LINE_MAX + 1;
    n += (size_t)snprintf(data + n, cap - n,
                          "\ntype,id,time,patient\nreferral,R-1,2024-03-02T10:00:00Z,x\n");
    assert_int_equal(read_path(write_file("longhead.csv", data, n), it, MAX_ITEMS), 3);
    assert_rejected(&it[0], 1, "", "CSV header longer than 65536 bytes");
    assert_rejected(&it[1], 2, "", "no valid CSV header");
    assert_rejected(&it[2], 3, "", "no valid CSV header");
    free(data);
}

static void
test_reason_has_no_values(void **state)
{
    reader_item_t it[MAX_ITEMS];
    const char *data =
        "{\"type\":\"referral\",\"id\":\"R-1\",\"time\":\"0101901234\","
        "\"patient\":\"0101901234\"}\n"
        "{\"type\":\"0101901234\",\"id\":\"R-2\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"0101901234\"}\n"
        "{\"type\":\"referral\",\"id\":\"0101901234 \",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"0101901234\"}\n"
        "{\"type\":\"referral\",\"id\":\"R-4\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":0101901234}\n"
        "{\"type\":\"admission\",\"id\":\"A-1\",\"time\":\"2024-03-02T10:00:00Z\","
        "\"patient\":\"0101901234\",\"mode\":\"0101901234\"}\n";

    (void)state;
    assert_int_equal(read_str("privacy.ndjson", data, it), 5);
    /* assert_rejected checks that no "0101" reaches any reason. */
    assert_rejected(&it[0], 1, "R-1", "field 'time' is not an RFC 3339 time");
    assert_rejected(&it[1], 2, "R-2", "unknown type");
    assert_rejected(&it[2], 3, "", "field 'id' holds a character");
    assert_rejected(&it[3], 4, "", "invalid JSON");
    assert_rejected(&it[4], 5, "A-1", "field 'mode' has an unknown value");
}

static void
test_new_errors(void **state)
{
    FILE *f;

    (void)state;
    errno = 0;
    assert_null(reader_new(write_file("x.txt", "", 0), key, now()));
    assert_int_equal(errno, EINVAL);
    assert_null(reader_new(write_file("x.ndjson.tmp", "", 0), key, now()));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(reader_new("/nonexistent/dir/x.ndjson", key, now()));
    assert_int_equal(errno, ENOENT);
    f = fmemopen((void *)"", 1, "r");
    assert_non_null(f);
    assert_null(reader_new_stream(f, "mem.json", key, now()));
    assert_int_equal(errno, EINVAL);
    fclose(f); /* the caller keeps the stream on failure */
    reader_destroy(NULL);
}

static void
test_stream(void **state)
{
    static const char data[] = "type,id,time,patient\nreferral,R-1,2024-03-02T10:00:00Z,x\n";
    reader_item_t it;
    reader_t *r;
    FILE *f;

    (void)state;
    f = fmemopen((void *)data, sizeof(data) - 1, "r");
    assert_non_null(f);
    r = reader_new_stream(f, "mem.csv", key, now());
    assert_non_null(r);
    assert_int_equal(reader_next(r, &it), 1);
    assert_accepted(&it, 2, "R-1");
    assert_int_equal(reader_next(r, &it), 0);
    reader_destroy(&r);
    assert_null(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_ndjson),
        cmocka_unit_test(test_example_csv),
        cmocka_unit_test(test_ndjson_blank_lines_and_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_ndjson_not_object),
        cmocka_unit_test(test_ndjson_duplicate_key),
        cmocka_unit_test(test_ndjson_types),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_long_lines_ndjson),
        cmocka_unit_test(test_memory_bounded),
        cmocka_unit_test(test_future_time),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_cells),
        cmocka_unit_test(test_csv_booleans),
        cmocka_unit_test(test_csv_header),
        cmocka_unit_test(test_long_rows_csv),
        cmocka_unit_test(test_reason_has_no_values),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_stream),
    };

    assert_int_equal(psy_tz_set("UTC"), 0);
    return cmocka_run_group_tests(tests, setup, teardown);
}

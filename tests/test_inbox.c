/*
 * inbox: order of files, names that are skipped, the move to done/,
 * rejected.ndjson without field values, and a half-read file that is not
 * spooled twice after a crash. Real files in a temporary folder, read by
 * the real reader, into a real spool.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "inbox.h"
#include "psymon/log.h"
#include "spool.h"

/*
 * Link-time fake (tests/inbox.cmake wraps fsync): a full disk at the
 * spool's fsync without filling one. 0 passes the call through.
 */
static int fail_fsync;

int __real_fsync(int fd);
int __wrap_fsync(int fd);

int
__wrap_fsync(int fd)
{
    if (fail_fsync) {
        errno = fail_fsync;
        return -1;
    }
    return __real_fsync(fd);
}

static const uint8_t key[PSY_PSEUDO_KEYLEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                               12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                               23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

typedef struct {
    char root[64];
    char inbox[128];
    char state[128];
    spool_t *spool;
    inbox_t *in;
} fixture_t;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
open_all(fixture_t *f, int done_days)
{
    f->spool = spool_open(f->state, NULL);
    assert_non_null(f->spool);
    f->in = inbox_new(f->inbox, f->state, done_days, key);
    assert_non_null(f->in);
}

/* What a crash leaves: nothing in memory, only what was committed on disk. */
static void
close_all(fixture_t *f)
{
    inbox_destroy(&f->in);
    assert_null(f->in);
    spool_destroy(&f->spool);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->root, sizeof f->root, "/tmp/test_inbox.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->inbox, sizeof f->inbox, "%s/inbox", f->root);
    snprintf(f->state, sizeof f->state, "%s/state", f->root);
    assert_int_equal(mkdir(f->inbox, 0700), 0);
    assert_int_equal(mkdir(f->state, 0700), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    fail_fsync = 0;
    close_all(f);
    nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void
put_file(const char *dir, const char *name, const char *content)
{
    char tmp[256], path[256];
    snprintf(tmp, sizeof tmp, "%s/.%s.writing", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs(content, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static bool
exists(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static char *
slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return strdup("");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return strdup(buf);
}

static char *
rejected_text(const fixture_t *f)
{
    char path[256];
    snprintf(path, sizeof path, "%s/rejected.ndjson", f->state);
    return slurp(path);
}

/* Runs the inbox until it has nothing left to read; returns the number of steps. */
static int
drain(fixture_t *f, size_t max_items)
{
    int steps = 0, r;
    while ((r = inbox_step(f->in, f->spool, psy_time_now(), max_items)) == 1) {
        steps++;
        assert_true(steps < 1000);
    }
    assert_int_equal(r, 0);
    return steps;
}

/* The ids in the spool, in sequence order, joined by spaces. */
static void
spool_ids(spool_t *s, char *buf, size_t size)
{
    buf[0] = '\0';
    assert_int_equal(spool_rewind(s), 0);
    psy_record_t r;
    uint64_t seq, want = spool_acked(s) + 1;
    int rc;
    while ((rc = spool_next(s, &r, &seq)) == 1) {
        assert_int_equal(seq, want++);
        if (buf[0])
            strncat(buf, " ", size - strlen(buf) - 1);
        strncat(buf, r.id, size - strlen(buf) - 1);
    }
    assert_int_equal(rc, 0);
}

static char *
adm(int i, char *buf, size_t size)
{
    snprintf(buf, size,
             "{\"type\":\"admission\",\"id\":\"A-%d\",\"time\":\"2024-03-01T14:05:00+01:00\","
             "\"patient\":\"010190-1234\",\"mode\":\"acute\",\"ward\":\"M1\"}\n",
             i);
    return buf;
}

/* n admissions A-from .. A-(from+n-1), one per line. */
static char *
adms(int from, int n)
{
    size_t size = (size_t)n * 160 + 1;
    char *s = calloc(1, size);
    assert_non_null(s);
    char line[200];
    for (int i = from; i < from + n; i++)
        strcat(s, adm(i, line, sizeof line));
    return s;
}

static void
test_order_and_skipped_names(void **state)
{
    fixture_t *f = *state;
    char line[200];
    put_file(f->inbox, "b.ndjson", adm(2, line, sizeof line));
    put_file(f->inbox, "a.ndjson", adm(1, line, sizeof line));
    put_file(f->inbox, "c.csv",
             "id,type,time,patient,mode,extra\r\nC-1,admission,2024-03-02T10:00:00Z,"
             "0101901234,planned,x\r\n");
    put_file(f->inbox, ".d.ndjson", adm(4, line, sizeof line));
    put_file(f->inbox, "e.ndjson.tmp", adm(5, line, sizeof line));
    put_file(f->inbox, "notes.txt", adm(6, line, sizeof line));
    open_all(f, 30);

    assert_int_equal(drain(f, INBOX_GROUP), 3);
    char ids[512];
    spool_ids(f->spool, ids, sizeof ids);
    assert_string_equal(ids, "A-1 A-2 C-1");
    assert_int_equal(spool_last_seq(f->spool), 3);

    char done[200];
    snprintf(done, sizeof done, "%s/done", f->state);
    assert_true(exists(done, "a.ndjson"));
    assert_true(exists(done, "b.ndjson"));
    assert_true(exists(done, "c.csv"));
    assert_false(exists(f->inbox, "a.ndjson"));
    /* Names that are still being written, or not ours, stay where they are. */
    assert_true(exists(f->inbox, ".d.ndjson"));
    assert_true(exists(f->inbox, "e.ndjson.tmp"));
    assert_true(exists(f->inbox, "notes.txt"));
    assert_false(exists(done, "notes.txt"));

    /* Nothing more to do: a further step reads nothing. */
    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), INBOX_GROUP), 0);
    assert_int_equal(spool_last_seq(f->spool), 3);
}

static void
test_done_name_taken_gets_suffix(void **state)
{
    fixture_t *f = *state;
    char line[200], done[200];
    snprintf(done, sizeof done, "%s/done", f->state);
    open_all(f, 30);
    put_file(done, "x.ndjson", "old\n");
    put_file(f->inbox, "x.ndjson", adm(1, line, sizeof line));
    drain(f, INBOX_GROUP);
    assert_true(exists(done, "x.1.ndjson"));
    char path[256];
    snprintf(path, sizeof path, "%s/x.ndjson", done);
    char *old = slurp(path);
    assert_string_equal(old, "old\n");
    free(old);
    put_file(f->inbox, "x.ndjson", adm(2, line, sizeof line));
    drain(f, INBOX_GROUP);
    assert_true(exists(done, "x.2.ndjson"));
    assert_int_equal(spool_last_seq(f->spool), 2);
}

static void
test_rejections_hold_no_values(void **state)
{
    fixture_t *f = *state;
    char line[200];
    char content[2048] = "";
    strcat(content, adm(1, line, sizeof line));
    /* Line 2: malformed time; line 3: unknown type; line 4: not JSON at all. */
    strcat(content, "{\"type\":\"admission\",\"id\":\"A-2\",\"time\":\"yesterday-ish\","
                    "\"patient\":\"010190-1234\",\"mode\":\"acute\",\"ward\":\"SECRETWARD\"}\n");
    strcat(content, "{\"type\":\"bogustype\",\"id\":\"B-1\",\"time\":\"2024-03-01T14:05:00Z\","
                    "\"patient\":\"2702901234\"}\n");
    strcat(content, "2702901234 garbage\n");
    strcat(content, adm(5, line, sizeof line));
    put_file(f->inbox, "r.ndjson", content);
    open_all(f, 30);
    drain(f, INBOX_GROUP);

    char ids[256];
    spool_ids(f->spool, ids, sizeof ids);
    assert_string_equal(ids, "A-1 A-5");
    assert_int_equal(spool_last_mark(f->spool)->rejected, 3);

    char *rej = rejected_text(f);
    /* One JSON line per rejected record, naming file, line, id and reason. */
    int lines = 0;
    for (const char *p = rej; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    assert_non_null(strstr(rej, "{\"file\":\"r.ndjson\",\"line\":2,\"id\":\"A-2\",\"reason\":"));
    assert_non_null(strstr(rej, "\"line\":3,\"id\":\"B-1\""));
    assert_non_null(strstr(rej, "\"line\":4,\"id\":null"));
    /* Never a field value: no CPR number, no ward, no time, no type value. */
    assert_null(strstr(rej, "010190"));
    assert_null(strstr(rej, "2702901234"));
    assert_null(strstr(rej, "SECRETWARD"));
    assert_null(strstr(rej, "yesterday-ish"));
    assert_null(strstr(rej, "bogustype"));
    free(rej);

    /* The total survives a restart and adds up over files. */
    close_all(f);
    put_file(f->inbox, "s.ndjson", "{\"type\":\"admission\"}\n");
    open_all(f, 30);
    assert_int_equal(spool_last_mark(f->spool)->rejected, 3);
    drain(f, INBOX_GROUP);
    assert_int_equal(spool_last_mark(f->spool)->rejected, 4);
}

static void
test_half_read_file_not_spooled_twice(void **state)
{
    fixture_t *f = *state;
    char *content = adms(1, 12);
    /* A rejected record in the middle (line 6), so rejections are skipped too. */
    char *nl = content;
    for (int i = 0; i < 5; i++)
        nl = strchr(nl, '\n') + 1;
    size_t head = (size_t)(nl - content);
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s{\"type\":\"admission\",\"id\":\"BAD-1\"}\n%s", (int)head,
             content, nl);
    free(content);
    put_file(f->inbox, "h.ndjson", buf);
    open_all(f, 30);

    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), 5), 1);
    assert_int_equal(spool_last_seq(f->spool), 5);
    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), 5), 1);
    assert_int_equal(spool_last_seq(f->spool), 9);
    assert_int_equal(spool_last_mark(f->spool)->rejected, 1);
    assert_int_equal(spool_last_mark(f->spool)->items, 10);
    assert_true(exists(f->inbox, "h.ndjson"));

    /* The collector dies here; the file is read again from the start. */
    close_all(f);
    open_all(f, 30);
    drain(f, 5);
    char ids[1024];
    spool_ids(f->spool, ids, sizeof ids);
    assert_string_equal(ids, "A-1 A-2 A-3 A-4 A-5 A-6 A-7 A-8 A-9 A-10 A-11 A-12");
    assert_int_equal(spool_last_mark(f->spool)->rejected, 1);
    char *rej = rejected_text(f);
    assert_non_null(strstr(rej, "\"line\":6"));
    assert_null(strstr(strstr(rej, "\n") + 1, "\"line\""));
    free(rej);
    assert_false(exists(f->inbox, "h.ndjson"));
}

/*
 * The disk fills up in the middle of a file: the group fails, the file
 * stays in the inbox, and once there is space again (the collector reopens
 * the spool and resets the inbox, as after any spool failure) every record
 * is spooled exactly once.
 */
/*
 * The collector stops half way through a file, and a file whose name sorts
 * before it arrives meanwhile: the half-read file is finished first (its
 * mark covers only it), then the new one; nothing is spooled twice.
 */
static void
test_half_read_file_resumed_before_an_earlier_name(void **state)
{
    fixture_t *f = *state;
    char *content = adms(1, 12);
    put_file(f->inbox, "m.ndjson", content);
    free(content);
    open_all(f, 30);
    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), 5), 1);
    assert_int_equal(spool_last_seq(f->spool), 5);

    close_all(f); /* the collector dies here */
    content = adms(100, 2);
    put_file(f->inbox, "a.ndjson", content);
    free(content);
    open_all(f, 30);
    drain(f, 5);
    char ids[1024];
    spool_ids(f->spool, ids, sizeof ids);
    assert_string_equal(ids, "A-1 A-2 A-3 A-4 A-5 A-6 A-7 A-8 A-9 A-10 A-11 A-12 A-100 A-101");
    assert_false(exists(f->inbox, "m.ndjson"));
    assert_false(exists(f->inbox, "a.ndjson"));
}

/*
 * Skipping the part of a huge file an earlier run spooled is bounded per
 * step (INBOX_SKIP_STEP items), so the daemon's loop and its watchdog ping
 * go on; the rest is then read, each record once.
 */
static void
test_skipping_is_bounded(void **state)
{
    fixture_t *f = *state;
    const int total = INBOX_SKIP_STEP + 2 * INBOX_GROUP + 50;
    char path[512], line[200];
    snprintf(path, sizeof path, "%s/big.ndjson", f->inbox);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 1; i <= total; i++)
        fputs(adm(i, line, sizeof line), fp);
    assert_int_equal(fclose(fp), 0);
    open_all(f, 30);
    while (spool_last_seq(f->spool) <= (uint64_t)INBOX_SKIP_STEP)
        assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), INBOX_GROUP), 1);
    uint64_t done = spool_last_seq(f->spool);

    close_all(f); /* the collector dies here */
    open_all(f, 30);
    /* The first step only skips, and stops after INBOX_SKIP_STEP items. */
    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), INBOX_GROUP), 1);
    assert_int_equal(spool_last_seq(f->spool), done);
    drain(f, INBOX_GROUP);
    assert_int_equal(spool_last_seq(f->spool), (uint64_t)total);
    /* Each record once, in order. */
    assert_int_equal(spool_rewind(f->spool), 0);
    psy_record_t r;
    uint64_t seq;
    char want[32];
    for (int i = 1; i <= total; i++) {
        assert_int_equal(spool_next(f->spool, &r, &seq), 1);
        snprintf(want, sizeof want, "A-%d", i);
        assert_string_equal(r.id, want);
    }
    assert_int_equal(spool_next(f->spool, &r, &seq), 0);
    assert_false(exists(f->inbox, "big.ndjson"));
}

static void
test_full_disk_keeps_the_file_in_the_inbox(void **state)
{
    fixture_t *f = *state;
    char *content = adms(1, 12);
    put_file(f->inbox, "full.ndjson", content);
    free(content);
    char done[200];
    snprintf(done, sizeof done, "%s/done", f->state);
    open_all(f, 30);
    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), 5), 1);
    assert_int_equal(spool_last_seq(f->spool), 5);

    for (int attempt = 0; attempt < 2; attempt++) {
        fail_fsync = attempt == 0 ? ENOSPC : EDQUOT;
        int r = inbox_step(f->in, f->spool, psy_time_now(), 5);
        assert_int_equal(r, -fail_fsync);
        fail_fsync = 0;
        assert_true(exists(f->inbox, "full.ndjson"));
        assert_false(exists(done, "full.ndjson"));
        /* What the collector does after a spool failure. */
        spool_destroy(&f->spool);
        f->spool = spool_open(f->state, NULL);
        assert_non_null(f->spool);
        inbox_reset(f->in);
        assert_int_equal(spool_last_seq(f->spool), 5);
    }

    drain(f, 5);
    char ids[1024];
    spool_ids(f->spool, ids, sizeof ids);
    assert_string_equal(ids, "A-1 A-2 A-3 A-4 A-5 A-6 A-7 A-8 A-9 A-10 A-11 A-12");
    assert_false(exists(f->inbox, "full.ndjson"));
    assert_true(exists(done, "full.ndjson"));
}

static void
test_crash_before_move_adds_nothing(void **state)
{
    fixture_t *f = *state;
    char *content = adms(1, 3);
    put_file(f->inbox, "m.ndjson", content);
    free(content);
    open_all(f, 30);
    /* Exactly its 3 items: committed, but the end of the file is not seen yet. */
    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), 3), 1);
    assert_int_equal(spool_last_seq(f->spool), 3);
    assert_true(exists(f->inbox, "m.ndjson"));
    close_all(f);
    open_all(f, 30);
    drain(f, INBOX_GROUP);
    assert_int_equal(spool_last_seq(f->spool), 3);
    assert_false(exists(f->inbox, "m.ndjson"));
}

static void
test_new_file_with_same_name_is_read_whole(void **state)
{
    fixture_t *f = *state;
    char *content = adms(1, 4);
    put_file(f->inbox, "n.ndjson", content);
    free(content);
    open_all(f, 30);
    assert_int_equal(inbox_step(f->in, f->spool, psy_time_now(), 2), 1);
    assert_int_equal(spool_last_seq(f->spool), 2);
    close_all(f);
    /* The export job replaced the file (a new file renamed into place). */
    content = adms(101, 4);
    put_file(f->inbox, "n.ndjson", content);
    free(content);
    open_all(f, 30);
    drain(f, INBOX_GROUP);
    char ids[256];
    spool_ids(f->spool, ids, sizeof ids);
    assert_string_equal(ids, "A-1 A-2 A-101 A-102 A-103 A-104");
}

static void
test_done_days(void **state)
{
    fixture_t *f = *state;
    char line[200], done[200];
    snprintf(done, sizeof done, "%s/done", f->state);

    /* 0: deleted at once. */
    open_all(f, 0);
    put_file(f->inbox, "z.ndjson", adm(1, line, sizeof line));
    drain(f, INBOX_GROUP);
    assert_false(exists(f->inbox, "z.ndjson"));
    assert_false(exists(done, "z.ndjson"));
    assert_int_equal(spool_last_seq(f->spool), 1);
    close_all(f);

    /* 1: kept for a day. */
    open_all(f, 1);
    put_file(f->inbox, "y.ndjson", adm(2, line, sizeof line));
    drain(f, INBOX_GROUP);
    assert_true(exists(done, "y.ndjson"));
    psy_time_t now = psy_time_now();
    assert_int_equal(inbox_clean_done(f->in, now), 0);
    assert_true(exists(done, "y.ndjson"));
    assert_int_equal(inbox_clean_done(f->in, now + 2 * PSY_DAY), 1);
    assert_false(exists(done, "y.ndjson"));
}

/* The spool's records, in sequence order, into out (at most max); returns how many. */
static size_t
spool_records(spool_t *s, psy_record_t *out, size_t max)
{
    size_t n = 0;
    psy_record_t r;
    uint64_t seq;
    int rc;

    assert_int_equal(spool_rewind(s), 0);
    while ((rc = spool_next(s, &r, &seq)) == 1) {
        assert_true(n < max);
        out[n++] = r;
    }
    assert_int_equal(rc, 0);
    return n;
}

/* The origin inbox.h promises, computed here in one go: keyed BLAKE2b-128(name, 0, line LE64). */
static void
want_origin(const uint8_t k[PSY_PSEUDO_KEYLEN], const char *name, uint64_t line,
            uint8_t out[PSY_ORIGIN_LEN])
{
    uint8_t msg[SPOOL_NAME_MAX + 9];
    size_t len = strlen(name);

    assert_true(len <= SPOOL_NAME_MAX);
    memcpy(msg, name, len);
    msg[len] = 0;
    for (int i = 0; i < 8; i++)
        msg[len + 1 + i] = (uint8_t)(line >> (8 * i));
    assert_int_equal(crypto_generichash(out, PSY_ORIGIN_LEN, msg, len + 9, k, PSY_PSEUDO_KEYLEN),
                     0);
}

/*
 * Every accepted record carries its origin: the file's name and the line it
 * starts on, under the key. Reading the same file again with a fresh state
 * folder gives the same origins; another name or another key other ones.
 */
static void
test_origin(void **state)
{
    fixture_t *f = *state;
    char *nd = adms(1, 2);
    /* A CSV's record lines are physical lines: the header is line 1, a quoted newline counts. */
    const char *csv = "id,type,time,patient,mode,ward\r\n"
                      "C-1,admission,2024-03-02T10:00:00Z,0101901234,planned,M1\r\n"
                      "C-2,admission,2024-03-02T11:00:00Z,\"0101901234\",acute,\"M\r\n2\"\r\n"
                      "C-3,admission,2024-03-02T12:00:00Z,0101901234,acute,M3\r\n";
    psy_record_t a[8], b[8], c[8];
    uint8_t want[PSY_ORIGIN_LEN];

    put_file(f->inbox, "o.ndjson", nd);
    put_file(f->inbox, "p.csv", csv);
    open_all(f, 30);
    drain(f, INBOX_GROUP);
    size_t n = spool_records(f->spool, a, 8);
    assert_int_equal(n, 4);
    assert_string_equal(a[0].id, "A-1");
    assert_string_equal(a[1].id, "A-2");
    assert_string_equal(a[2].id, "C-1");
    assert_string_equal(a[3].id, "C-3");
    for (size_t i = 0; i < n; i++)
        assert_true(a[i].has_origin);
    want_origin(key, "o.ndjson", 1, want);
    assert_memory_equal(a[0].origin, want, PSY_ORIGIN_LEN);
    want_origin(key, "o.ndjson", 2, want);
    assert_memory_equal(a[1].origin, want, PSY_ORIGIN_LEN);
    want_origin(key, "p.csv", 2, want);
    assert_memory_equal(a[2].origin, want, PSY_ORIGIN_LEN);
    want_origin(key, "p.csv", 5, want);
    assert_memory_equal(a[3].origin, want, PSY_ORIGIN_LEN);
    assert_memory_not_equal(a[0].origin, a[1].origin, PSY_ORIGIN_LEN);
    close_all(f);

    /* The same files again, as after a reinstall: a new state folder, the same origins. */
    snprintf(f->state, sizeof f->state, "%s/state2", f->root);
    assert_int_equal(mkdir(f->state, 0700), 0);
    put_file(f->inbox, "o.ndjson", nd);
    put_file(f->inbox, "p.csv", csv);
    open_all(f, 30);
    drain(f, INBOX_GROUP);
    assert_int_equal(spool_records(f->spool, b, 8), 4);
    for (size_t i = 0; i < n; i++) {
        assert_true(b[i].has_origin);
        assert_true(psy_record_equal(&a[i], &b[i]));
        assert_memory_equal(a[i].origin, b[i].origin, PSY_ORIGIN_LEN);
    }
    close_all(f);

    /* The same content under another name gives other origins, and so does another key. */
    snprintf(f->state, sizeof f->state, "%s/state3", f->root);
    assert_int_equal(mkdir(f->state, 0700), 0);
    put_file(f->inbox, "q.ndjson", nd);
    open_all(f, 30);
    drain(f, INBOX_GROUP);
    assert_int_equal(spool_records(f->spool, c, 8), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(psy_record_equal(&a[i], &c[i]));
        assert_memory_not_equal(a[i].origin, c[i].origin, PSY_ORIGIN_LEN);
    }
    uint8_t key2[PSY_PSEUDO_KEYLEN];
    memcpy(key2, key, sizeof key2);
    key2[0] ^= 1;
    want_origin(key2, "o.ndjson", 1, want);
    assert_memory_not_equal(a[0].origin, want, PSY_ORIGIN_LEN);
    free(nd);
}

int
main(void)
{
    psy_log_init("test_inbox", PSY_LOG_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_skipped_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_name_taken_gets_suffix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections_hold_no_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_read_file_not_spooled_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_read_file_resumed_before_an_earlier_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_skipping_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_keeps_the_file_in_the_inbox, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_before_move_adds_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_file_with_same_name_is_read_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_done_days, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * spool: append, commit, recovery after a torn or damaged tail, sequence
 * numbers and epoch across reopening, acknowledgements and reclaiming of
 * segments. Each test works in a fresh temporary folder.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
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
#include <zlib.h>

#include "spool.h"

#define T0 (INT64_C(1709300000) * PSY_USEC) /* 2024-03-01 */

/*
 * Link-time fakes (tests/spool.cmake wraps write and fsync): a full disk
 * without filling one. 0 passes the call through; an errno makes it fail.
 */
static int fail_write, fail_fsync;

ssize_t __real_write(int fd, const void *buf, size_t len);
int __real_fsync(int fd);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
int __wrap_fsync(int fd);

ssize_t
__wrap_write(int fd, const void *buf, size_t len)
{
    if (fail_write) {
        errno = fail_write;
        return -1;
    }
    return __real_write(fd, buf, len);
}

int
__wrap_fsync(int fd)
{
    if (fail_fsync) {
        errno = fail_fsync;
        return -1;
    }
    return __real_fsync(fd);
}

typedef struct {
    char dir[64];
} fixture_t;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fail_write = fail_fsync = 0;
    fixture_t *f = *state;
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A valid admission numbered i: its id and time tell records apart. */
static psy_record_t
make_rec(int i)
{
    psy_record_t r;
    psy_record_init(&r);
    r.type = PSY_REC_ADMISSION;
    snprintf(r.id, sizeof r.id, "A-%d", i);
    snprintf(r.contact, sizeof r.contact, "A-%d", i);
    r.time = T0 + (psy_time_t)i * PSY_USEC;
    r.has_patient = true;
    memset(r.patient, i & 0xff, sizeof r.patient);
    r.mode = PSY_MODE_ACUTE;
    r.legal = PSY_LEGAL_VOLUNTARY;
    snprintf(r.ward, sizeof r.ward, "M1");
    return r;
}

static void
append_n(spool_t *s, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        psy_record_t r = make_rec(i);
        uint64_t seq = 0;
        assert_int_equal(spool_append(s, &r, &seq), 0);
    }
}

/* Reads everything from the first unacknowledged record; checks ids and sequence. */
static int
read_all(spool_t *s, uint64_t first_seq, int first_id)
{
    assert_int_equal(spool_rewind(s), 0);
    psy_record_t r;
    uint64_t seq;
    int n = 0, rc;
    while ((rc = spool_next(s, &r, &seq)) == 1) {
        psy_record_t want = make_rec(first_id + n);
        assert_int_equal(seq, first_seq + (uint64_t)n);
        assert_true(psy_record_equal(&r, &want));
        n++;
    }
    assert_int_equal(rc, 0);
    return n;
}

static void
seg_file(const char *dir, uint64_t base, char *buf, size_t size)
{
    snprintf(buf, size, "%s/spool/%020" PRIu64 ".seg", dir, base);
}

static off_t
file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Damages one byte of a file in place, as a bad sector would. */
static void
flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void
test_append_commit_reopen(void **state)
{
    fixture_t *f = *state;
    spool_recovery_t info;
    spool_t *s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_true(info.created);
    assert_int_equal(spool_last_seq(s), 0);
    uint8_t epoch[PSY_EPOCH_LEN];
    memcpy(epoch, spool_epoch(s), PSY_EPOCH_LEN);

    append_n(s, 1, 10);
    /* Not committed: not visible to the sender. */
    assert_int_equal(spool_last_seq(s), 0);
    assert_int_equal(read_all(s, 1, 1), 0);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(spool_last_seq(s), 10);
    assert_int_equal(read_all(s, 1, 1), 10);
    spool_destroy(&s);
    assert_null(s);

    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_false(info.created);
    assert_int_equal(info.cut_bytes, 0);
    assert_memory_equal(spool_epoch(s), epoch, PSY_EPOCH_LEN);
    assert_int_equal(spool_last_seq(s), 10);
    assert_int_equal(read_all(s, 1, 1), 10);
    /* Sequence numbers continue after a restart. */
    uint64_t seq = 0;
    psy_record_t r = make_rec(11);
    assert_int_equal(spool_append(s, &r, &seq), 0);
    assert_int_equal(seq, 11);
    assert_int_equal(spool_commit(s), 0);
    spool_destroy(&s);
    spool_destroy(&s); /* NULL is accepted */
}

static void
test_uncommitted_lost_on_reopen(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 3);
    assert_int_equal(spool_commit(s), 0);
    append_n(s, 4, 2); /* buffered, never committed */
    spool_destroy(&s);
    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_int_equal(spool_last_seq(s), 3);
    uint64_t seq;
    psy_record_t r = make_rec(4);
    assert_int_equal(spool_append(s, &r, &seq), 0);
    assert_int_equal(seq, 4);
    spool_destroy(&s);
}

static void
test_torn_tail_is_cut(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 5);
    assert_int_equal(spool_commit(s), 0);
    spool_destroy(&s);

    char path[256];
    seg_file(f->dir, 1, path, sizeof path);
    off_t good = file_size(path);
    /* Half a frame: a length that promises more than follows. */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    const uint8_t torn[] = {0x40, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x02, 0x01};
    assert_int_equal(write(fd, torn, sizeof torn), (ssize_t)sizeof torn);
    close(fd);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_int_equal(info.cut_bytes, sizeof torn);
    assert_int_equal(info.cut_segments, 1);
    assert_false(info.committed_cut); /* a crash: nothing committed was cut */
    assert_false(info.new_epoch);
    assert_int_equal(file_size(path), good);
    assert_int_equal(spool_last_seq(s), 5);
    assert_int_equal(read_all(s, 1, 1), 5);
    append_n(s, 6, 1);
    assert_int_equal(spool_commit(s), 0);
    spool_destroy(&s);

    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_int_equal(info.cut_bytes, 0);
    assert_int_equal(spool_last_seq(s), 6);
    assert_int_equal(read_all(s, 1, 1), 6);
    spool_destroy(&s);
}

static void
test_flushed_but_uncommitted_is_cut(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 3);
    assert_int_equal(spool_commit(s), 0);
    char path[256];
    seg_file(f->dir, 1, path, sizeof path);
    off_t committed = file_size(path);
    spool_mark_t m = {0};
    snprintf(m.name, sizeof m.name, "big.ndjson");
    m.items = 5000;
    /* A large group reaches the file before its commit; then the process is killed. */
    append_n(s, 4, 5000);
    assert_int_equal(spool_mark(s, &m), 0);
    assert_true(file_size(path) > committed);
    spool_destroy(&s);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    /* Keeping those records without their mark would spool them twice on re-reading. */
    assert_int_equal(spool_last_seq(s), 3);
    assert_string_equal(spool_last_mark(s)->name, "");
    assert_true(info.cut_bytes > 0);
    assert_int_equal(file_size(path), committed);
    assert_int_equal(read_all(s, 1, 1), 3);
    spool_destroy(&s);
}

/*
 * The frame CRC is zlib's CRC-32 whatever computes it (libdeflate since
 * session 5): spools written by earlier collectors must open unchanged.
 * Every frame of a segment written here carries crc32() of zlib over its
 * type and payload, and the segment ends at its last frame.
 */
static void
test_frame_crc_is_zlibs(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 50);
    assert_int_equal(spool_commit(s), 0);
    spool_destroy(&s);

    char path[256];
    seg_file(f->dir, 1, path, sizeof path);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    assert_true(n > 0 && n < sizeof buf);

    size_t off = 0, frames = 0;
    while (off < n) {
        assert_true(n - off >= 9);
        uint32_t len = (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 |
                       (uint32_t)buf[off + 2] << 16 | (uint32_t)buf[off + 3] << 24;
        uint32_t crc = (uint32_t)buf[off + 4] | (uint32_t)buf[off + 5] << 8 |
                       (uint32_t)buf[off + 6] << 16 | (uint32_t)buf[off + 7] << 24;
        assert_true(len >= 1 && off + 8 + len <= n);
        assert_int_equal(crc, (uint32_t)crc32(0L, buf + off + 8, (uInt)len));
        off += 8 + len;
        frames++;
    }
    assert_int_equal(off, n);
    assert_true(frames >= 52); /* a header, 50 records, a commit */
}

static void
test_crc_damage_cuts_from_the_bad_frame(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 4);
    assert_int_equal(spool_commit(s), 0);
    char path[256];
    seg_file(f->dir, 1, path, sizeof path);
    off_t before_last = file_size(path);
    append_n(s, 5, 1);
    assert_int_equal(spool_commit(s), 0);
    off_t end = file_size(path);
    spool_destroy(&s);

    /* Flip one byte inside the last record's payload. */
    flip_byte(path, before_last + (end - before_last) / 2);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_int_equal(info.cut_bytes, (uint64_t)(end - before_last));
    /*
     * The damaged record was committed (its commit frame follows, intact),
     * so it may have been sent: its number is not given again. The records
     * before it go on under a new epoch.
     */
    assert_true(info.committed_cut);
    assert_true(info.new_epoch);
    assert_int_equal(info.respooled, 4);
    assert_int_equal(spool_last_seq(s), 4);
    assert_int_equal(read_all(s, 1, 1), 4);
    spool_destroy(&s);
}

static void
test_ack_persists_and_rewind_skips_acked(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 10);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(spool_ack(s, 4), 0);
    assert_int_equal(spool_acked(s), 4);
    assert_int_equal(read_all(s, 5, 5), 6);
    /* Lower acknowledgements change nothing; higher ones are clamped to what exists. */
    assert_int_equal(spool_ack(s, 2), 0);
    assert_int_equal(spool_acked(s), 4);
    spool_destroy(&s);

    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_int_equal(spool_acked(s), 4);
    assert_int_equal(read_all(s, 5, 5), 6);
    assert_int_equal(spool_ack(s, 1000), 0);
    assert_int_equal(spool_acked(s), 10);
    assert_int_equal(read_all(s, 11, 11), 0);
    spool_destroy(&s);
}

static void
test_next_continues_without_rewind(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 3);
    assert_int_equal(spool_commit(s), 0);
    psy_record_t r;
    uint64_t seq;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(spool_next(s, &r, &seq), 1);
        assert_int_equal(seq, (uint64_t)i);
    }
    assert_int_equal(spool_next(s, &r, &seq), 0);
    append_n(s, 4, 2);
    assert_int_equal(spool_next(s, &r, &seq), 0); /* not committed yet */
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(spool_next(s, &r, &seq), 1);
    assert_int_equal(seq, 4);
    psy_record_t want = make_rec(4);
    assert_true(psy_record_equal(&r, &want));
    spool_destroy(&s);
}

/* spool_shrink (an idle collector's memory) at any point keeps reading and appending right. */
static void
test_shrink_keeps_cursor_and_appends(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_shrink(s); /* nothing allocated yet */
    append_n(s, 1, 2000);
    assert_int_equal(spool_commit(s), 0);

    psy_record_t r, want;
    uint64_t seq;
    int id = 1;
    for (; id <= 700; id++) { /* part way: the read-ahead buffer holds more */
        assert_int_equal(spool_next(s, &r, &seq), 1);
        assert_int_equal(seq, (uint64_t)id);
    }
    spool_shrink(s);
    for (; id <= 2000; id++) {
        assert_int_equal(spool_next(s, &r, &seq), 1);
        assert_int_equal(seq, (uint64_t)id);
        want = make_rec(id);
        assert_true(psy_record_equal(&r, &want));
    }
    assert_int_equal(spool_next(s, &r, &seq), 0);
    spool_shrink(s); /* caught up: both buffers empty */

    append_n(s, 2001, 10);
    spool_shrink(s); /* appended, not committed: the write buffer is kept */
    assert_int_equal(spool_commit(s), 0);
    for (; id <= 2010; id++) {
        assert_int_equal(spool_next(s, &r, &seq), 1);
        assert_int_equal(seq, (uint64_t)id);
        want = make_rec(id);
        assert_true(psy_record_equal(&r, &want));
    }
    assert_int_equal(spool_next(s, &r, &seq), 0);
    spool_destroy(&s);

    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_int_equal(spool_last_seq(s), 2010);
    assert_int_equal(read_all(s, 1, 1), 2010);
    spool_destroy(&s);
}

static void
test_segments_and_reclaim(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_set_segment_max(s, 4096);
    for (int g = 0; g < 20; g++) {
        append_n(s, 1 + g * 10, 10);
        assert_int_equal(spool_commit(s), 0);
    }
    assert_int_equal(spool_last_seq(s), 200);
    unsigned segs = spool_segments(s);
    assert_true(segs > 3);
    uint64_t bytes = spool_bytes(s);
    assert_int_equal(read_all(s, 1, 1), 200);

    /* Acknowledging part of it deletes only segments wholly acknowledged. */
    assert_int_equal(spool_ack(s, 100), 0);
    assert_true(spool_segments(s) < segs);
    assert_true(spool_segments(s) > 1);
    assert_true(spool_bytes(s) < bytes);
    assert_int_equal(read_all(s, 101, 101), 100);
    spool_destroy(&s);

    /* After a restart the remaining segments still give 101..200. */
    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_set_segment_max(s, 4096);
    assert_int_equal(spool_last_seq(s), 200);
    assert_int_equal(read_all(s, 101, 101), 100);

    /* Everything acknowledged: one small segment remains, and numbering goes on. */
    assert_int_equal(spool_ack(s, 200), 0);
    assert_int_equal(spool_segments(s), 1);
    assert_true(spool_bytes(s) < 1024);
    spool_destroy(&s);
    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_int_equal(spool_last_seq(s), 200);
    assert_int_equal(spool_acked(s), 200);
    uint64_t seq;
    psy_record_t r = make_rec(201);
    assert_int_equal(spool_append(s, &r, &seq), 0);
    assert_int_equal(seq, 201);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(read_all(s, 201, 201), 1);
    spool_destroy(&s);
}

/*
 * An aggregator restored from a backup acknowledges less than before:
 * what the spool still holds is read again under its own numbers, and when
 * it no longer holds everything lost, spool_restart() starts an empty new
 * epoch (the collector then reads done/ again).
 */
static void
test_unack_and_restart(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_set_segment_max(s, 4096);
    for (int g = 0; g < 20; g++) {
        append_n(s, 1 + g * 10, 10);
        assert_int_equal(spool_commit(s), 0);
    }
    assert_int_equal(spool_ack(s, 150), 0);
    assert_int_equal(spool_unack(s, 160), 0); /* not below: nothing changes */
    assert_int_equal(spool_acked(s), 150);

    /* Still held: acked goes back, persisted, and reading starts after it. */
    assert_int_equal(spool_unack(s, 140), 0);
    assert_int_equal(spool_acked(s), 140);
    assert_int_equal(read_all(s, 141, 141), 60);
    spool_destroy(&s);
    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_set_segment_max(s, 4096);
    assert_int_equal(spool_acked(s), 140);

    /* Everything acknowledged and reclaimed, then 30 new records of a file half read. */
    assert_int_equal(spool_ack(s, 200), 0);
    append_n(s, 201, 30);
    spool_mark_t m = {0};
    snprintf(m.name, sizeof m.name, "2024-04.ndjson");
    m.items = 30;
    m.rejected = 7;
    assert_int_equal(spool_mark(s, &m), 0);
    assert_int_equal(spool_commit(s), 0);
    uint8_t old_epoch[PSY_EPOCH_LEN];
    memcpy(old_epoch, spool_epoch(s), PSY_EPOCH_LEN);

    /* The aggregator lost 151..200, which the spool no longer holds. */
    int64_t lost = spool_unack(s, 150);
    assert_true(lost > 0);
    assert_true(lost <= 50);
    assert_int_equal(spool_acked(s), 150 + (uint64_t)lost);
    assert_int_equal(spool_restart(&s, false), 0);
    assert_non_null(s);
    assert_memory_not_equal(spool_epoch(s), old_epoch, PSY_EPOCH_LEN);
    assert_int_equal(spool_last_seq(s), 0);
    assert_int_equal(spool_acked(s), 0);
    /* No file is half read in the new epoch; the rejected total goes on. */
    assert_string_equal(spool_last_mark(s)->name, "");
    assert_int_equal(spool_last_mark(s)->items, 0);
    assert_int_equal(spool_last_mark(s)->rejected, 7);
    assert_int_equal(read_all(s, 1, 1), 0);
    /* New records are numbered from 1 in the new epoch, and it survives a restart. */
    append_n(s, 1, 5);
    assert_int_equal(spool_commit(s), 0);
    uint8_t new_epoch[PSY_EPOCH_LEN];
    memcpy(new_epoch, spool_epoch(s), PSY_EPOCH_LEN);
    spool_destroy(&s);
    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_memory_equal(spool_epoch(s), new_epoch, PSY_EPOCH_LEN);
    assert_int_equal(spool_acked(s), 0);
    assert_int_equal(read_all(s, 1, 1), 5);
    spool_destroy(&s);
}

/*
 * Damage at the end that cut records the aggregator acknowledged: their
 * numbers must not be given again (the aggregator would skip new records
 * under them as held), so the spool continues under a new epoch.
 */
/* With nothing to read again (done_days = 0), a restart carries the unacknowledged records and the
 * mark. */
static void
test_restart_keeping_records(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 10);
    spool_mark_t m = {0};
    snprintf(m.name, sizeof m.name, "2024-05.ndjson");
    m.items = 10;
    assert_int_equal(spool_mark(s, &m), 0);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(spool_ack(s, 6), 0);
    uint8_t old_epoch[PSY_EPOCH_LEN];
    memcpy(old_epoch, spool_epoch(s), PSY_EPOCH_LEN);

    assert_int_equal(spool_restart(&s, true), 0);
    assert_non_null(s);
    assert_memory_not_equal(spool_epoch(s), old_epoch, PSY_EPOCH_LEN);
    assert_int_equal(spool_last_seq(s), 4);
    assert_int_equal(spool_acked(s), 0);
    assert_string_equal(spool_last_mark(s)->name, "2024-05.ndjson");
    assert_int_equal(spool_last_mark(s)->items, 10);
    assert_int_equal(read_all(s, 1, 7), 4); /* A-7 .. A-10, numbered 1 .. 4 */
    spool_destroy(&s);
}

static void
test_damage_past_acked_starts_a_new_epoch(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 4);
    assert_int_equal(spool_commit(s), 0);
    char path[256];
    seg_file(f->dir, 1, path, sizeof path);
    off_t before_last = file_size(path);
    append_n(s, 5, 1);
    assert_int_equal(spool_commit(s), 0);
    off_t end = file_size(path);
    assert_int_equal(spool_ack(s, 5), 0);
    uint8_t old_epoch[PSY_EPOCH_LEN];
    memcpy(old_epoch, spool_epoch(s), PSY_EPOCH_LEN);
    spool_destroy(&s);

    flip_byte(path, before_last + (end - before_last) / 2);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_int_equal(info.acked_cut, 1);
    assert_true(info.new_epoch);
    assert_memory_equal(info.old_epoch, old_epoch, PSY_EPOCH_LEN);
    assert_memory_not_equal(spool_epoch(s), old_epoch, PSY_EPOCH_LEN);
    assert_int_equal(spool_acked(s), 0);
    uint64_t seq;
    psy_record_t r = make_rec(6);
    assert_int_equal(spool_append(s, &r, &seq), 0);
    assert_int_equal(seq, 1);
    spool_destroy(&s);
}

/*
 * A last segment without records (only marks of empty or wholly rejected
 * files) grows to the rotation size: rotating starts a segment of the same
 * name, which must replace it, not be deleted with it as acknowledged.
 */
static void
test_rotation_of_a_segment_without_records(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_set_segment_max(s, 4096);
    for (int g = 0; g < 4; g++) {
        append_n(s, 1 + g * 9, 9);
        assert_int_equal(spool_commit(s), 0);
    }
    assert_int_equal(spool_last_seq(s), 36);
    spool_mark_t m = {0};
    for (int g = 0; g < 60; g++) { /* marks only, until the last segment is over 1024 bytes */
        snprintf(m.name, sizeof m.name, "empty-%02d.ndjson", g);
        assert_int_equal(spool_mark(s, &m), 0);
        assert_int_equal(spool_commit(s), 0);
    }
    assert_int_equal(spool_ack(s, 36), 0); /* rotates: everything acknowledged, segment large */
    assert_true(spool_segments(s) >= 1);
    append_n(s, 37, 5);
    assert_int_equal(spool_commit(s), 0);
    psy_record_t r, want;
    uint64_t seq;
    for (int i = 37; i <= 41; i++) {
        assert_int_equal(spool_next(s, &r, &seq), 1);
        assert_int_equal(seq, (uint64_t)i);
        want = make_rec(i);
        assert_true(psy_record_equal(&r, &want));
    }
    spool_destroy(&s);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_false(info.created);
    assert_int_equal(spool_last_seq(s), 41);
    assert_int_equal(spool_acked(s), 36);
    assert_string_equal(spool_last_mark(s)->name, "empty-59.ndjson");
    assert_int_equal(read_all(s, 37, 37), 5);
    spool_destroy(&s);
}

static void
test_mark_is_durable_with_commit_only(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_string_equal(spool_last_mark(s)->name, "");
    spool_mark_t m = {0};
    snprintf(m.name, sizeof m.name, "2024-03.ndjson");
    m.ino = 77;
    m.items = 12;
    m.rejected = 3;
    append_n(s, 1, 2);
    assert_int_equal(spool_mark(s, &m), 0);
    assert_int_equal(spool_commit(s), 0);
    assert_string_equal(spool_last_mark(s)->name, "2024-03.ndjson");

    spool_mark_t m2 = m;
    m2.items = 20;
    assert_int_equal(spool_mark(s, &m2), 0); /* never committed */
    spool_destroy(&s);

    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    const spool_mark_t *got = spool_last_mark(s);
    assert_string_equal(got->name, "2024-03.ndjson");
    assert_int_equal(got->ino, 77);
    assert_int_equal(got->items, 12);
    assert_int_equal(got->rejected, 3);

    /* A mark is carried into a new segment, so reclaiming does not lose it. */
    spool_set_segment_max(s, 4096);
    for (int g = 0; g < 10; g++) {
        append_n(s, 3 + g * 10, 10);
        assert_int_equal(spool_commit(s), 0);
    }
    assert_int_equal(spool_ack(s, spool_last_seq(s)), 0);
    assert_int_equal(spool_segments(s), 1);
    spool_destroy(&s);
    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_int_equal(spool_last_mark(s)->items, 12);
    assert_int_equal(spool_last_mark(s)->rejected, 3);
    spool_destroy(&s);
}

static void
test_lost_segments_start_a_new_epoch(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    uint8_t epoch[PSY_EPOCH_LEN];
    memcpy(epoch, spool_epoch(s), PSY_EPOCH_LEN);
    append_n(s, 1, 3);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(spool_ack(s, 2), 0);
    spool_destroy(&s);

    char path[256];
    seg_file(f->dir, 1, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    /* Reusing the old epoch would make the aggregator drop new records as duplicates. */
    assert_true(info.created);
    assert_memory_not_equal(spool_epoch(s), epoch, PSY_EPOCH_LEN);
    assert_int_equal(spool_last_seq(s), 0);
    assert_int_equal(spool_acked(s), 0);
    spool_destroy(&s);
}

static void
test_foreign_segment_is_refused(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_destroy(&s);
    char path[256];
    snprintf(path, sizeof path, "%s/epoch", f->dir);
    FILE *e = fopen(path, "w");
    assert_non_null(e);
    fputs("00112233445566778899aabbccddeeff\n", e);
    fclose(e);
    errno = 0;
    s = spool_open(f->dir, NULL);
    assert_null(s);
    assert_int_equal(errno, EXDEV);
}

/* A full disk at the group's fsync or write: the group is lost, nothing before it, numbering goes
 * on. */
static void
test_full_disk_loses_only_the_uncommitted_group(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 5);
    assert_int_equal(spool_commit(s), 0);

    append_n(s, 6, 5);
    fail_fsync = ENOSPC;
    assert_int_equal(spool_commit(s), -ENOSPC);
    fail_fsync = 0;
    /* Broken until reopened: nothing more is appended to a file in an unknown state. */
    psy_record_t r = make_rec(11);
    assert_int_equal(spool_append(s, &r, NULL), -EIO);
    assert_int_equal(spool_commit(s), -EIO);
    spool_destroy(&s);

    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_int_equal(spool_last_seq(s), 5);
    assert_int_equal(read_all(s, 1, 1), 5);

    /* The write of the group fails (EDQUOT, a quota): the same. */
    append_n(s, 6, 5);
    fail_write = EDQUOT;
    assert_int_equal(spool_commit(s), -EDQUOT);
    fail_write = 0;
    spool_destroy(&s);
    s = spool_open(f->dir, NULL);
    assert_non_null(s);
    assert_int_equal(spool_last_seq(s), 5);

    /* Space is back: the same records go in under the next numbers. */
    append_n(s, 6, 5);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(read_all(s, 1, 1), 10);
    spool_destroy(&s);
}

/* An acknowledgement is kept on a full disk (in place), so reclaiming can free space. */
static void
test_ack_on_full_disk_is_kept(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_set_segment_max(s, 4096);
    for (int g = 0; g < 10; g++) {
        append_n(s, 1 + g * 10, 10);
        assert_int_equal(spool_commit(s), 0);
    }
    assert_int_equal(spool_ack(s, 10), 0); /* the acked file exists */
    unsigned segs = spool_segments(s);
    uint64_t bytes = spool_bytes(s);

    fail_write = ENOSPC; /* no new file can be written */
    assert_int_equal(spool_ack(s, 60), 0);
    fail_write = 0;
    assert_int_equal(spool_acked(s), 60);
    assert_true(spool_segments(s) < segs);
    assert_true(spool_bytes(s) < bytes);
    spool_destroy(&s);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_int_equal(spool_acked(s), 60);
    assert_int_equal(info.gap_records, 0);
    assert_false(info.new_epoch);
    assert_int_equal(read_all(s, 61, 61), 40);
    spool_destroy(&s);
}

/*
 * A segment in the middle is lost while later ones are intact: the records
 * after the gap could never be acknowledged under the old epoch, so what is
 * left goes into a new epoch, in order, and the spool is usable again.
 */
static void
test_middle_gap_starts_a_new_epoch(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    spool_set_segment_max(s, 4096);
    spool_mark_t m = {0};
    snprintf(m.name, sizeof m.name, "z.ndjson");
    m.items = 200;
    m.rejected = 7;
    for (int g = 0; g < 20; g++) {
        append_n(s, 1 + g * 10, 10);
        if (g == 19)
            assert_int_equal(spool_mark(s, &m), 0);
        assert_int_equal(spool_commit(s), 0);
    }
    assert_int_equal(spool_ack(s, 5), 0);
    uint8_t epoch[PSY_EPOCH_LEN];
    memcpy(epoch, spool_epoch(s), PSY_EPOCH_LEN);
    assert_true(spool_segments(s) >= 4);
    spool_destroy(&s);

    /* Find the segments and remove the second one (records lo..hi). */
    uint64_t bases[64];
    size_t nb = 0;
    for (uint64_t b = 1; b <= 200; b++) {
        char path[256];
        seg_file(f->dir, b, path, sizeof path);
        if (access(path, F_OK) == 0 && nb < 64)
            bases[nb++] = b;
    }
    assert_true(nb >= 4);
    uint64_t lo = bases[1], hi = bases[2] - 1;
    char path[256];
    seg_file(f->dir, lo, path, sizeof path);
    assert_int_equal(unlink(path), 0);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_true(info.new_epoch);
    assert_int_equal(info.gap_records, hi - lo + 1);
    assert_memory_equal(info.old_epoch, epoch, PSY_EPOCH_LEN);
    assert_memory_not_equal(spool_epoch(s), epoch, PSY_EPOCH_LEN);
    /* 6..lo-1 and hi+1..200, renumbered from 1; nothing acknowledged yet. */
    uint64_t left = (lo - 6) + (200 - hi);
    assert_int_equal(info.respooled, left);
    assert_int_equal(spool_last_seq(s), left);
    assert_int_equal(spool_acked(s), 0);
    assert_int_equal(spool_last_mark(s)->items, 200);
    assert_int_equal(spool_last_mark(s)->rejected, 7);
    assert_int_equal(spool_rewind(s), 0);
    psy_record_t r;
    uint64_t seq, n = 0;
    int rc;
    while ((rc = spool_next(s, &r, &seq)) == 1) {
        n++;
        int id = n <= lo - 6 ? (int)(5 + n) : (int)(hi + n - (lo - 6));
        psy_record_t want = make_rec(id);
        assert_int_equal(seq, n);
        assert_true(psy_record_equal(&r, &want));
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, left);
    snprintf(path, sizeof path, "%s/rebuild", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    spool_destroy(&s);

    /* Reopened, it is an ordinary spool: same epoch, numbering goes on. */
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_false(info.new_epoch);
    assert_int_equal(spool_last_seq(s), left);
    r = make_rec(1000);
    assert_int_equal(spool_append(s, &r, &seq), 0);
    assert_int_equal(seq, left + 1);
    spool_destroy(&s);
}

/* A rebuild that was interrupted before it was complete is thrown away. */
static void
test_unfinished_rebuild_is_discarded(void **state)
{
    fixture_t *f = *state;
    spool_t *s = spool_open(f->dir, NULL);
    assert_non_null(s);
    append_n(s, 1, 3);
    assert_int_equal(spool_commit(s), 0);
    uint8_t epoch[PSY_EPOCH_LEN];
    memcpy(epoch, spool_epoch(s), PSY_EPOCH_LEN);
    spool_destroy(&s);

    char path[256];
    snprintf(path, sizeof path, "%s/rebuild", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/rebuild/spool", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/rebuild/epoch", f->dir);
    FILE *e = fopen(path, "w");
    assert_non_null(e);
    fputs("00112233445566778899aabbccddeeff\n", e);
    fclose(e);

    spool_recovery_t info;
    s = spool_open(f->dir, &info);
    assert_non_null(s);
    assert_false(info.new_epoch);
    assert_memory_equal(spool_epoch(s), epoch, PSY_EPOCH_LEN);
    assert_int_equal(read_all(s, 1, 1), 3);
    snprintf(path, sizeof path, "%s/rebuild", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    spool_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_commit_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_lost_on_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flushed_but_uncommitted_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_crc_is_zlibs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crc_damage_cuts_from_the_bad_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_persists_and_rewind_skips_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_continues_without_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shrink_keeps_cursor_and_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segments_and_reclaim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unack_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeping_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_past_acked_starts_a_new_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_of_a_segment_without_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mark_is_durable_with_commit_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_segments_start_a_new_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_segment_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_loses_only_the_uncommitted_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ack_on_full_disk_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middle_gap_starts_a_new_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_rebuild_is_discarded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests of requeue_dir, the file logic of `psymon requeue`: files appear in
 * the inbox whole and as new files, no inbox file is ever replaced, --since
 * selects by the time a file was moved to done/, a dry run changes nothing,
 * and owner, mode and contents are kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "requeue.h"

static char root[64], done_dir[128], inbox_dir[128];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_requeue.XXXXXX");
    if (!mkdtemp(root))
        return -1;
    snprintf(done_dir, sizeof done_dir, "%s/done", root);
    snprintf(inbox_dir, sizeof inbox_dir, "%s/inbox", root);
    if (mkdir(done_dir, 0700) < 0 || mkdir(inbox_dir, 0755) < 0)
        return -1;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void
write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* The file's contents, or NULL when it does not exist. Caller frees. */
static char *
read_file(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool
exists(const char *dir, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

static void
stat_of(const char *dir, const char *name, struct stat *st)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(lstat(path, st), 0);
}

/* Entries of dir other than "." and "..". */
static int
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

typedef struct {
    int calls;
    char names[8][64], inbox_names[8][64];
    int errors[8];
} seen_t;

static void
record_report(const requeue_file_t *f, void *userdata)
{
    seen_t *s = userdata;
    if (s->calls < 8) {
        snprintf(s->names[s->calls], sizeof s->names[0], "%s", f->name);
        snprintf(s->inbox_names[s->calls], sizeof s->inbox_names[0], "%s", f->inbox_name);
        s->errors[s->calls] = f->error;
    }
    s->calls++;
}

/* Everything is copied into the inbox as new files, in name order, with contents and mode. */
static void
test_puts_back(void **state)
{
    (void)state;
    write_file(done_dir, "b.ndjson", "{\"b\":1}\n", 0644);
    write_file(done_dir, "a.csv", "a;b\n1;2\n", 0640);
    write_file(done_dir, "notes.txt", "not the collector's\n", 0644);
    write_file(done_dir, ".hidden.csv", "x\n", 0644);
    struct stat a_before, a_after, b_after;
    stat_of(done_dir, "a.csv", &a_before);

    seen_t seen = {0};
    requeue_totals_t tot = {99, 99, 99};
    assert_int_equal(
        requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, false, record_report, &seen, &tot), 0);
    assert_int_equal(tot.files, 2);
    assert_int_equal(tot.bytes, strlen("{\"b\":1}\n") + strlen("a;b\n1;2\n"));
    assert_int_equal(tot.failed, 0);
    assert_int_equal(seen.calls, 2);
    assert_string_equal(seen.names[0], "a.csv");
    assert_string_equal(seen.inbox_names[0], "a.csv");
    assert_string_equal(seen.names[1], "b.ndjson");
    assert_int_equal(seen.errors[0], 0);
    assert_int_equal(seen.errors[1], 0);

    char *a = read_file(inbox_dir, "a.csv"), *b = read_file(inbox_dir, "b.ndjson");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, "a;b\n1;2\n");
    assert_string_equal(b, "{\"b\":1}\n");
    free(a);
    free(b);
    stat_of(inbox_dir, "a.csv", &a_after);
    stat_of(inbox_dir, "b.ndjson", &b_after);
    assert_int_equal(a_after.st_mode & 07777, 0640);
    assert_int_equal(b_after.st_mode & 07777, 0644);
    assert_int_equal(a_after.st_mtim.tv_sec, a_before.st_mtim.tv_sec);
    assert_int_equal(a_after.st_mtim.tv_nsec, a_before.st_mtim.tv_nsec);
    /* A new inode: the collector's mark of the old file cannot match it. */
    assert_true(a_after.st_ino != a_before.st_ino);
    /* Nothing else in the inbox (no temporary file left), the originals left done/. */
    assert_int_equal(count_entries(inbox_dir), 2);
    assert_false(exists(done_dir, "a.csv"));
    assert_false(exists(done_dir, "b.ndjson"));
    assert_true(exists(done_dir, "notes.txt"));
    assert_true(exists(done_dir, ".hidden.csv"));
}

/* An inbox name that is taken is never replaced: the copy gets the next free number. */
static void
test_never_overwrites(void **state)
{
    (void)state;
    write_file(done_dir, "x.csv", "old\n", 0600);
    write_file(inbox_dir, "x.csv", "new export\n", 0600);
    write_file(inbox_dir, "x.1.csv", "another\n", 0600);

    seen_t seen = {0};
    requeue_totals_t tot;
    assert_int_equal(
        requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, false, record_report, &seen, &tot), 0);
    assert_int_equal(tot.files, 1);
    assert_int_equal(tot.failed, 0);
    assert_string_equal(seen.inbox_names[0], "x.2.csv");
    char *x = read_file(inbox_dir, "x.csv"), *x1 = read_file(inbox_dir, "x.1.csv"),
         *x2 = read_file(inbox_dir, "x.2.csv");
    assert_string_equal(x, "new export\n");
    assert_string_equal(x1, "another\n");
    assert_string_equal(x2, "old\n");
    free(x);
    free(x1);
    free(x2);
    assert_int_equal(count_entries(inbox_dir), 3);
}

/*
 * A done/ name with the collector's clash number ("x.1.csv") goes back under
 * the name it had in the inbox ("x.csv"), which its records' origins were
 * computed from; names the collector would not have made are kept.
 */
static void
test_original_name(void **state)
{
    (void)state;
    write_file(done_dir, "x.1.csv", "second x\n", 0600);
    write_file(done_dir, "y.99999.ndjson", "y\n", 0600);
    write_file(done_dir, "z.07.csv", "z\n", 0600);
    write_file(done_dir, "w.123456.csv", "w\n", 0600);
    write_file(done_dir, "7.csv", "7\n", 0600);
    write_file(done_dir, "v..2.csv", "v\n", 0600);

    requeue_totals_t tot;
    assert_int_equal(requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, false, NULL, NULL, &tot),
                     0);
    assert_int_equal(tot.files, 6);
    assert_int_equal(tot.failed, 0);
    char *x = read_file(inbox_dir, "x.csv"), *v = read_file(inbox_dir, "v..csv");
    assert_string_equal(x, "second x\n");
    assert_string_equal(v, "v\n");
    free(x);
    free(v);
    assert_true(exists(inbox_dir, "y.ndjson"));
    assert_true(exists(inbox_dir, "z.07.csv"));
    assert_true(exists(inbox_dir, "w.123456.csv"));
    assert_true(exists(inbox_dir, "7.csv"));
    assert_int_equal(count_entries(inbox_dir), 6);

    /* The original name taken in the inbox: the next free number, never a replacement. */
    write_file(done_dir, "x.2.csv", "third x\n", 0600);
    assert_int_equal(requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, false, NULL, NULL, &tot),
                     0);
    assert_int_equal(tot.files, 1);
    char *x1 = read_file(inbox_dir, "x.1.csv");
    assert_string_equal(x1, "third x\n");
    free(x1);
}

/* --since compares with the status change time, the time a file was moved to done/. */
static void
test_since(void **state)
{
    (void)state;
    write_file(done_dir, "early.csv", "e\n", 0600);
    write_file(done_dir, "late.csv", "l\n", 0600);
    struct stat early, late;
    stat_of(done_dir, "early.csv", &early);
    /* Wait into the next second, then change late.csv's status (as a rename does). */
    do {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        char path[256];
        snprintf(path, sizeof path, "%s/late.csv", done_dir);
        assert_int_equal(chmod(path, 0640), 0);
        stat_of(done_dir, "late.csv", &late);
    } while (late.st_ctim.tv_sec <= early.st_ctim.tv_sec);

    requeue_totals_t tot;
    /* After both: nothing. */
    assert_int_equal(
        requeue_dir(done_dir, inbox_dir, (int64_t)late.st_ctim.tv_sec + 1, false, NULL, NULL, &tot),
        0);
    assert_int_equal(tot.files, 0);
    assert_int_equal(count_entries(inbox_dir), 0);
    /* At late's second: only late. */
    assert_int_equal(
        requeue_dir(done_dir, inbox_dir, (int64_t)late.st_ctim.tv_sec, false, NULL, NULL, &tot), 0);
    assert_int_equal(tot.files, 1);
    assert_true(exists(inbox_dir, "late.csv"));
    assert_false(exists(inbox_dir, "early.csv"));
    assert_true(exists(done_dir, "early.csv"));
    /* Everything: early too. */
    assert_int_equal(requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, false, NULL, NULL, &tot),
                     0);
    assert_int_equal(tot.files, 1);
    assert_true(exists(inbox_dir, "early.csv"));
}

/* A dry run reports what it would do and changes nothing. */
static void
test_dry_run(void **state)
{
    (void)state;
    write_file(done_dir, "d.csv", "d\n", 0600);
    write_file(inbox_dir, "d.csv", "taken\n", 0600);
    struct stat before, after, inbox_before, inbox_after;
    stat_of(done_dir, "d.csv", &before);
    stat_of(root, "inbox", &inbox_before);

    seen_t seen = {0};
    requeue_totals_t tot;
    assert_int_equal(
        requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, true, record_report, &seen, &tot), 0);
    assert_int_equal(tot.files, 1);
    assert_int_equal(tot.bytes, 2);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.inbox_names[0], "d.1.csv");

    stat_of(done_dir, "d.csv", &after);
    stat_of(root, "inbox", &inbox_after);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);
    assert_int_equal(inbox_after.st_mtim.tv_sec, inbox_before.st_mtim.tv_sec);
    assert_int_equal(inbox_after.st_mtim.tv_nsec, inbox_before.st_mtim.tv_nsec);
    assert_int_equal(count_entries(inbox_dir), 1);
    char *d = read_file(inbox_dir, "d.csv");
    assert_string_equal(d, "taken\n");
    free(d);
}

/* The original's owner and group are kept (needs root to hand a file to another user). */
static void
test_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    write_file(done_dir, "o.csv", "o\n", 0600);
    char path[256];
    snprintf(path, sizeof path, "%s/o.csv", done_dir);
    assert_int_equal(chown(path, 65534, 65534), 0);
    requeue_totals_t tot;
    assert_int_equal(requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, false, NULL, NULL, &tot),
                     0);
    assert_int_equal(tot.failed, 0);
    struct stat st;
    stat_of(inbox_dir, "o.csv", &st);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65534);
    assert_int_equal(st.st_mode & 07777, 0600);
}

#define BIG_SIZE (8 * 1024 * 1024)

static atomic_bool big_done;
static atomic_int big_partial, big_seen;

/* Watches the inbox as the collector would: a readable name must always hold the whole file. */
static void *
watch_inbox(void *arg)
{
    (void)arg;
    while (!atomic_load(&big_done)) {
        DIR *d = opendir(inbox_dir);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (de->d_name[0] == '.' || (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0))
                continue;
            struct stat st;
            if (fstatat(dirfd(d), de->d_name, &st, 0) == 0) {
                atomic_fetch_add(&big_seen, 1);
                if (st.st_size != BIG_SIZE || (st.st_mode & 07777) != 0640)
                    atomic_fetch_add(&big_partial, 1);
            }
        }
        closedir(d);
    }
    return NULL;
}

/* A file appears in the inbox whole, with its final mode, or not at all. */
static void
test_atomic(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/big.csv", done_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
    assert_true(fd >= 0);
    char *buf = malloc(BIG_SIZE);
    assert_non_null(buf);
    memset(buf, 'x', BIG_SIZE);
    assert_int_equal(write(fd, buf, BIG_SIZE), BIG_SIZE);
    free(buf);
    close(fd);

    pthread_t th;
    atomic_store(&big_done, false);
    atomic_store(&big_partial, 0);
    atomic_store(&big_seen, 0);
    assert_int_equal(pthread_create(&th, NULL, watch_inbox, NULL), 0);
    requeue_totals_t tot;
    int r = requeue_dir(done_dir, inbox_dir, REQUEUE_SINCE_ALL, false, NULL, NULL, &tot);
    /* Let the watcher see the result at least once. */
    while (atomic_load(&big_seen) == 0) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&big_done, true);
    pthread_join(th, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(tot.files, 1);
    assert_int_equal(tot.bytes, BIG_SIZE);
    assert_int_equal(atomic_load(&big_partial), 0);
    assert_int_equal(count_entries(inbox_dir), 1);
}

/* A missing done/ is an error and leaves the totals alone. */
static void
test_missing_dir(void **state)
{
    (void)state;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope", root);
    requeue_totals_t tot = {7, 7, 7};
    assert_int_equal(requeue_dir(missing, inbox_dir, REQUEUE_SINCE_ALL, false, NULL, NULL, &tot),
                     -ENOENT);
    assert_int_equal(requeue_dir(done_dir, missing, REQUEUE_SINCE_ALL, false, NULL, NULL, &tot),
                     -ENOENT);
    assert_int_equal(tot.files, 7);
    assert_int_equal(tot.bytes, 7);
    assert_int_equal(tot.failed, 7);
}

static void
test_parse_since(void **state)
{
    (void)state;
    int64_t t = 0;
    /* TZ=UTC in the tests' environment. */
    assert_int_equal(requeue_parse_since("2026-03-01", &t), 0);
    assert_int_equal(t, 1772323200);
    assert_int_equal(requeue_parse_since("2026-03-01T12:30", &t), 0);
    assert_int_equal(t, 1772323200 + 12 * 3600 + 30 * 60);
    assert_int_equal(requeue_parse_since("2026-03-01T12:30:15", &t), 0);
    assert_int_equal(t, 1772323200 + 12 * 3600 + 30 * 60 + 15);
    t = 42;
    const char *bad[] = {"",
                         "2026",
                         "2026-02-30",
                         "2026-13-01",
                         "2026-03-01x",
                         "2026-03-01T",
                         "2026-03-01T25:00",
                         "yesterday",
                         "2026-3-1",
                         "2026-03-01T12:30:15Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(requeue_parse_since(bad[i], &t), -EINVAL);
    assert_int_equal(t, 42);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_puts_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_original_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
        cmocka_unit_test(test_parse_since),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

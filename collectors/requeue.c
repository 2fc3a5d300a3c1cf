/* requeue: done/ files back into the inbox. See requeue.h. */
#include "requeue.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define NAME_TRIES 1000 /* "x.1.csv" ... "x.999.csv" before giving up on a file */

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Names the inbox reads; anything else in done/ is not the collector's. */
static bool
is_inbox_name(const char *name)
{
    return name[0] != '.' && (has_suffix(name, ".ndjson") || has_suffix(name, ".csv"));
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The inbox-style names of dir, sorted (strcmp), the order the collector reads them in. */
static int
list_names(const char *dir, char ***ret_names, size_t *ret_n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!is_inbox_name(de->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **p = realloc(names, ncap * sizeof *p);
            if (!p) {
                r = -ENOMEM;
                break;
            }
            names = p;
            cap = ncap;
        }
        if (!(names[n] = strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        n++;
        errno = 0;
    }
    if (r == 0 && errno != 0)
        r = -errno;
    closedir(d);
    if (r < 0) {
        free_names(names, n);
        return r;
    }
    if (n > 0)
        qsort(names, n, sizeof *names, name_cmp);
    *ret_names = names;
    *ret_n = n;
    return 0;
}

/*
 * The i-th candidate inbox name for `name`: the name itself, then a number
 * before the ending ("x.1.csv"), as the collector names a clash in done/.
 */
static int
candidate(const char *name, unsigned i, char *buf, size_t size)
{
    const char *dot = strrchr(name, '.');
    int n = i == 0 ? snprintf(buf, size, "%s", name)
                   : snprintf(buf, size, "%.*s.%u%s", (int)(dot - name), name, i, dot);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * The name a done/ file had in the inbox. The collector files a second
 * "x.csv" in done/ as "x.1.csv" (up to "x.99999.csv"); the records' origins
 * were computed from "x.csv", so the copy goes back under that name, and
 * a replay is recognised as one (aggregator.md). The scheme cannot be
 * undone with certainty: an export that was itself named "x.7.csv" comes
 * back as "x.csv" (operations.md, section 5, says so).
 */
static void
original_name(const char *name, char *buf, size_t size)
{
    const char *ext = strrchr(name, '.'), *num = NULL;

    snprintf(buf, size, "%s", name);
    if (!ext || ext == name)
        return;
    for (num = ext; num > name && num[-1] >= '0' && num[-1] <= '9'; num--)
        ;
    size_t digits = (size_t)(ext - num);
    /* "stem.N.ext": a non-empty stem, a dot, 1-5 digits without a leading zero. */
    if (digits < 1 || digits > 5 || *num == '0' || num - 1 <= name || num[-1] != '.')
        return;
    snprintf(buf, size, "%.*s%s", (int)(num - 1 - name), name, ext);
}

/* The first candidate name not present in the inbox, for a dry run. */
static int
free_name(int inbox_fd, const char *name, char *buf, size_t size)
{
    struct stat st;
    for (unsigned i = 0; i < NAME_TRIES; i++) {
        int r = candidate(name, i, buf, size);
        if (r < 0)
            return r;
        if (fstatat(inbox_fd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                return 0;
            return -errno;
        }
    }
    return -EEXIST;
}

static int
copy_data(int in, int out)
{
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            off += w;
        }
    }
}

/*
 * Renames tmp to the first free candidate name, never replacing a file:
 * RENAME_NOREPLACE, or link() and unlink() where the file system lacks it.
 */
static int
place(int inbox_fd, const char *tmp, const char *name, char *buf, size_t size)
{
    for (unsigned i = 0; i < NAME_TRIES; i++) {
        int r = candidate(name, i, buf, size);
        if (r < 0)
            return r;
        if (renameat2(inbox_fd, tmp, inbox_fd, buf, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EEXIST)
            continue;
        if (errno != EINVAL && errno != ENOSYS)
            return -errno;
        if (linkat(inbox_fd, tmp, inbox_fd, buf, 0) == 0) {
            (void)unlinkat(inbox_fd, tmp, 0);
            return 0;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

/*
 * Copies done/name into the inbox (see requeue.h). On failure sets *what
 * to the step that failed and leaves nothing behind in the inbox.
 */
static int
requeue_one(int done_fd, int inbox_fd, const char *name, const struct stat *st, char *ret_name,
            size_t size, const char **what)
{
    char tmp[32];
    int in = -1, out = -1, r;

    *what = "open";
    in = openat(done_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return -errno;
    *what = "create a temporary file in the inbox";
    /* Names starting with '.' and ending in ".tmp": the collector does not look at them. */
    for (unsigned i = 0; i < 100 && out < 0; i++) {
        snprintf(tmp, sizeof tmp, ".requeue-%08" PRIx32 ".tmp", randombytes_random());
        out = openat(inbox_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (out < 0 && errno != EEXIST) {
            r = -errno;
            goto fail;
        }
    }
    if (out < 0) {
        r = -EEXIST;
        goto fail;
    }
    *what = "copy";
    if ((r = copy_data(in, out)) < 0)
        goto fail_tmp;
    /* The collector runs as its own user: a root-owned 0600 copy would be unreadable to it. */
    *what = "give the copy the original's owner";
    if ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
        fchown(out, st->st_uid, st->st_gid) < 0) {
        r = -errno;
        goto fail_tmp;
    }
    *what = "give the copy the original's mode";
    if (fchmod(out, st->st_mode & 07777) < 0) {
        r = -errno;
        goto fail_tmp;
    }
    /* The modification time is the export's; keep it. A failure here harms nobody. */
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    (void)futimens(out, times);
    *what = "sync the copy";
    if (fsync(out) < 0) {
        r = -errno;
        goto fail_tmp;
    }
    close(out);
    out = -1;
    *what = "rename the copy into the inbox";
    char orig[NAME_MAX + 1];
    original_name(name, orig, sizeof orig);
    if ((r = place(inbox_fd, tmp, orig, ret_name, size)) < 0)
        goto fail_tmp;
    (void)fsync(inbox_fd);
    close(in);
    /* The copy is in the inbox; after reading it the collector moves it back to done/. */
    *what = "remove the original from done/ (the copy is in the inbox)";
    if (unlinkat(done_fd, name, 0) < 0 && errno != ENOENT)
        return -errno;
    (void)fsync(done_fd);
    return 0;

fail_tmp:
    if (out >= 0)
        close(out);
    (void)unlinkat(inbox_fd, tmp, 0);
fail:
    close(in);
    return r;
}

int
requeue_dir(const char *done_dir, const char *inbox_dir, int64_t since, bool dry_run,
            requeue_report_fn report, void *userdata, requeue_totals_t *ret_totals)
{
    requeue_totals_t tot = {0};
    char **names = NULL;
    size_t n = 0;
    int done_fd = -1, inbox_fd = -1, r;

    done_fd = open(done_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (done_fd < 0)
        return -errno;
    inbox_fd = open(inbox_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (inbox_fd < 0) {
        r = -errno;
        goto out;
    }
    if ((r = list_names(done_dir, &names, &n)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char inbox_name[NAME_MAX + 1] = "";
        requeue_file_t f = {.name = names[i], .inbox_name = inbox_name, .what = ""};
        struct stat st;
        if (fstatat(done_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue; /* cleaned away meanwhile */
            f.error = -errno;
            f.what = "stat";
        } else if (!S_ISREG(st.st_mode)) {
            continue;
        } else if (since != REQUEUE_SINCE_ALL && (int64_t)st.st_ctim.tv_sec < since) {
            continue;
        } else {
            f.size = (uint64_t)st.st_size;
            if (dry_run) {
                char orig[NAME_MAX + 1];
                original_name(names[i], orig, sizeof orig);
                f.error = free_name(inbox_fd, orig, inbox_name, sizeof inbox_name);
                f.what = "find a free name in the inbox";
            } else {
                f.error = requeue_one(done_fd, inbox_fd, names[i], &st, inbox_name,
                                      sizeof inbox_name, &f.what);
            }
        }
        /* A file in the inbox but still in done/ counts as put back; its failure is reported. */
        if (f.error == 0 || inbox_name[0]) {
            tot.files++;
            tot.bytes += f.size;
        }
        if (f.error < 0)
            tot.failed++;
        if (report)
            report(&f, userdata);
    }
    *ret_totals = tot;
    r = 0;
out:
    free_names(names, n);
    if (inbox_fd >= 0)
        close(inbox_fd);
    close(done_fd);
    return r;
}

int
requeue_parse_since(const char *s, int64_t *ret)
{
    /* strptime() takes "2026-3-1" and leading blanks: insist on the digits of the form. */
    static const char form[] = "dddd-dd-ddTdd:dd:dd";
    size_t len = strlen(s);
    if (len != 10 && len != 16 && len != 19)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (form[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != form[i])
            return -EINVAL;

    struct tm tm = {0}, want;
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end)
        return -EINVAL;
    if (*end == 'T') {
        const char *e = strptime(end + 1, "%H:%M", &tm);
        if (!e)
            return -EINVAL;
        if (*e == ':')
            e = strptime(e + 1, "%S", &tm);
        end = e;
    }
    if (!end || *end != '\0')
        return -EINVAL;
    tm.tm_isdst = -1;
    want = tm;
    time_t t = mktime(&tm);
    /* mktime() moves 2026-02-30 to March: a date it had to move was not a date. */
    if (t == (time_t)-1 || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon ||
        tm.tm_mday != want.tm_mday)
        return -EINVAL;
    *ret = (int64_t)t;
    return 0;
}

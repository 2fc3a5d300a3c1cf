/*
 * inbox: scan, read into the spool, reject, move to done/. See inbox.h.
 */
#include "inbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "psymon/log.h"
#include "reader.h"

#define NAMESET_MAX 128 /* names remembered for "log once"; forgotten all at once beyond */
#define PATH_BUF    (PSY_PATH_MAX + SPOOL_NAME_MAX + 32) /* a folder, a file name and a suffix */

/* A small bounded set of file names. */
typedef struct {
    char *names[NAMESET_MAX];
    size_t n;
} nameset_t;

struct inbox {
    char dir[PSY_PATH_MAX];
    char state_dir[PSY_PATH_MAX];
    char done_dir[PSY_PATH_MAX];
    int done_days;
    uint8_t key[PSY_PSEUDO_KEYLEN];
    int rej_fd; /* rejected.ndjson, O_APPEND */

    /* The file being read. */
    reader_t *reader;
    char name[SPOOL_NAME_MAX + 1];
    spool_mark_t mark;      /* identity and progress */
    uint64_t skip;          /* items already in the spool from an earlier run */
    uint64_t file_records;  /* spooled by this run */
    uint64_t file_rejected; /* rejected by this run */

    nameset_t ignored; /* names logged as not ours */
    nameset_t failed;  /* names that could not be read; retried after a reload */
};

static bool
nameset_has(const nameset_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    return false;
}

static void
nameset_clear(nameset_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    s->n = 0;
}

static void
nameset_add(nameset_t *s, const char *name)
{
    if (s->n == NAMESET_MAX)
        nameset_clear(s);
    char *d = strdup(name);
    if (d)
        s->names[s->n++] = d;
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int
set_dir(inbox_t *in, const char *inbox_dir, int done_days, const uint8_t key[PSY_PSEUDO_KEYLEN])
{
    if (snprintf(in->dir, sizeof in->dir, "%s", inbox_dir) >= (int)sizeof in->dir)
        return -ENAMETOOLONG;
    in->done_days = done_days;
    memcpy(in->key, key, PSY_PSEUDO_KEYLEN);
    return 0;
}

inbox_t *
inbox_new(const char *inbox_dir, const char *state_dir, int done_days,
          const uint8_t key[PSY_PSEUDO_KEYLEN])
{
    inbox_t *in = calloc(1, sizeof *in);
    if (!in) {
        errno = ENOMEM;
        return NULL;
    }
    in->rej_fd = -1;
    int r = set_dir(in, inbox_dir, done_days, key);
    if (r == 0 && (snprintf(in->state_dir, sizeof in->state_dir, "%s", state_dir) >=
                       (int)sizeof in->state_dir ||
                   snprintf(in->done_dir, sizeof in->done_dir, "%s/done", state_dir) >=
                       (int)sizeof in->done_dir))
        r = -ENAMETOOLONG;
    if (r == 0 && mkdir(in->done_dir, 0700) < 0 && errno != EEXIST)
        r = -errno;
    if (r == 0) {
        char path[PSY_PATH_MAX];
        snprintf(path, sizeof path, "%s/rejected.ndjson", state_dir);
        in->rej_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (in->rej_fd < 0)
            r = -errno;
    }
    if (r < 0) {
        inbox_destroy(&in);
        errno = -r;
        return NULL;
    }
    return in;
}

void
inbox_reset(inbox_t *in)
{
    reader_destroy(&in->reader);
    in->name[0] = '\0';
}

void
inbox_destroy(inbox_t **inp)
{
    if (!inp || !*inp)
        return;
    inbox_t *in = *inp;
    inbox_reset(in);
    if (in->rej_fd >= 0)
        close(in->rej_fd);
    nameset_clear(&in->ignored);
    nameset_clear(&in->failed);
    sodium_memzero(in->key, sizeof in->key);
    free(in);
    *inp = NULL;
}

int
inbox_configure(inbox_t *in, const char *inbox_dir, int done_days,
                const uint8_t key[PSY_PSEUDO_KEYLEN])
{
    inbox_reset(in);
    nameset_clear(&in->failed);
    return set_dir(in, inbox_dir, done_days, key);
}

/*
 * Finds the first name (strcmp) in the inbox that is ours to read. Other
 * names are logged once each. Returns 1 with the name in ret, 0 when there
 * is none, or a negative errno when the folder cannot be read.
 */
static int
next_name(inbox_t *in, char ret[SPOOL_NAME_MAX + 1])
{
    DIR *d = opendir(in->dir);
    if (!d)
        return -errno;
    bool found = false;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.' || has_suffix(nm, ".tmp"))
            continue;
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK) {
            continue;
        }
        if (!has_suffix(nm, ".ndjson") && !has_suffix(nm, ".csv")) {
            if (!nameset_has(&in->ignored, nm)) {
                psy_warn("inbox: leaving '%s' alone: only .ndjson and .csv files are read", nm);
                nameset_add(&in->ignored, nm);
            }
            continue;
        }
        if (strlen(nm) > SPOOL_NAME_MAX || nameset_has(&in->failed, nm))
            continue;
        if (!found || strcmp(nm, ret) < 0) {
            strcpy(ret, nm);
            found = true;
        }
    }
    closedir(d);
    return found ? 1 : 0;
}

/* True when the file of `m` is still in the inbox as it was when the mark was made. */
static bool
mark_file_present(const inbox_t *in, const spool_mark_t *m)
{
    char path[PSY_PATH_MAX];
    struct stat st;
    if (m->name[0] == '\0' || nameset_has(&in->failed, m->name) ||
        snprintf(path, sizeof path, "%s/%s", in->dir, m->name) >= (int)sizeof path ||
        stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    return m->dev == (uint64_t)st.st_dev && m->ino == (uint64_t)st.st_ino &&
           m->size == (uint64_t)st.st_size &&
           m->mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec &&
           m->ctime_ns == (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

/*
 * Opens the next file and works out how much of it an earlier run spooled.
 * A file half read when the collector stopped comes first, even when a
 * name sorting before it arrived meanwhile: the spool's mark covers only
 * the last file, and reading another first would lose where it stopped.
 */
static int
open_next(inbox_t *in, const spool_t *spool, psy_time_t now)
{
    char name[SPOOL_NAME_MAX + 1];
    const spool_mark_t *last = spool_last_mark(spool);
    int r = 1;
    if (mark_file_present(in, last))
        snprintf(name, sizeof name, "%s", last->name);
    else
        r = next_name(in, name);
    if (r <= 0) {
        if (r < 0)
            psy_err("inbox: cannot read %s: %s", in->dir, strerror(-r));
        return r < 0 ? 0 : r;
    }
    char path[PSY_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", in->dir, name) >= (int)sizeof path) {
        nameset_add(&in->failed, name);
        return 1;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (errno != ENOENT) {
            psy_err("inbox: %s: not a readable regular file, left in the inbox", name);
            nameset_add(&in->failed, name);
        }
        return 1;
    }
    in->reader = reader_new(path, in->key, now);
    if (!in->reader) {
        if (errno != ENOENT) {
            psy_err("inbox: %s: cannot open: %s; left in the inbox", name, strerror(errno));
            nameset_add(&in->failed, name);
        }
        return 1;
    }
    snprintf(in->name, sizeof in->name, "%s", name);
    spool_mark_t m = {0};
    snprintf(m.name, sizeof m.name, "%s", name);
    m.dev = (uint64_t)st.st_dev;
    m.ino = (uint64_t)st.st_ino;
    m.size = (uint64_t)st.st_size;
    m.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    m.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    m.rejected = last->rejected;
    in->skip = 0;
    if (strcmp(last->name, m.name) == 0 && last->dev == m.dev && last->ino == m.ino &&
        last->size == m.size && last->mtime_ns == m.mtime_ns && last->ctime_ns == m.ctime_ns) {
        in->skip = last->items;
        psy_notice("inbox: %s: read again after an interruption; its first %llu items are "
                   "already spooled",
                   name, (unsigned long long)in->skip);
    }
    in->mark = m;
    in->file_records = in->file_rejected = 0;
    return 1;
}

/* A copy of `s` that is valid UTF-8 for JSON: bytes of a broken sequence become '?'. */
static json_t *
json_name(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char buf[SPOOL_NAME_MAX + 1];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return json_string(buf);
}

/* Appends one line to rejected.ndjson: where and why, never a field value. */
static int
write_rejection(inbox_t *in, const reader_item_t *it)
{
    json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    json_object_set_new(o, "file", json_name(in->name));
    json_object_set_new(o, "line", json_integer(it->line));
    json_object_set_new(o, "id", it->id[0] ? json_string(it->id) : json_null());
    json_object_set_new(o, "reason", json_name(it->reason));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line)
        return -ENOMEM;
    size_t len = strlen(line);
    line[len] = '\n'; /* replaces the NUL; the write below is bounded by len + 1 */
    int r = 0;
    const char *p = line;
    size_t left = len + 1;
    while (left > 0) {
        ssize_t n = write(in->rej_fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    free(line);
    return r;
}

/*
 * Where a record was read: BLAKE2b-128 keyed with the pseudonymisation key
 * over the file's name in the inbox, a 0 byte and the item's line as 8
 * little-endian bytes. The same file read again (after a crash, with a new
 * state folder, or put back by psymon requeue) gives the same origins, so
 * the aggregator can tell a replay from a correction brought back
 * (aggregator.md); the key keeps a name that held an identifier unreadable.
 */
static void
set_origin(const inbox_t *in, long line, psy_record_t *rec)
{
    crypto_generichash_state h;
    uint8_t num[9] = {0};
    uint64_t v = (uint64_t)line;

    for (int i = 0; i < 8; i++)
        num[1 + i] = (uint8_t)(v >> (8 * i));
    /* 16-byte output and a 32-byte key are inside BLAKE2b's bounds: these calls cannot fail. */
    (void)crypto_generichash_init(&h, in->key, sizeof in->key, PSY_ORIGIN_LEN);
    (void)crypto_generichash_update(&h, (const unsigned char *)in->name, strlen(in->name));
    (void)crypto_generichash_update(&h, num, sizeof num);
    (void)crypto_generichash_final(&h, rec->origin, PSY_ORIGIN_LEN);
    rec->has_origin = true;
}

/* Copies src to dst durably, for a done/ folder on another file system. */
static int
copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    int r = 0;
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                r = -errno;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                r = -errno;
                break;
            }
            off += w;
        }
        if (r < 0)
            break;
    }
    if (r == 0 && fsync(out) < 0)
        r = -errno;
    close(in);
    close(out);
    if (r < 0)
        unlink(dst);
    return r;
}

/* Moves the finished file to done/ (or deletes it when nothing is kept). */
static void
retire(inbox_t *in)
{
    char src[PATH_BUF], dst[PATH_BUF];
    snprintf(src, sizeof src, "%s/%s", in->dir, in->name);
    if (in->done_days == 0) {
        if (unlink(src) < 0 && errno != ENOENT)
            psy_err("inbox: %s: cannot delete: %s", in->name, strerror(errno));
        return;
    }
    /* "x.csv" taken in done/: "x.1.csv", "x.2.csv", ..., keeping the ending. */
    const char *dot = strrchr(in->name, '.');
    int stem = (int)(dot - in->name);
    struct stat st;
    int r = -EEXIST;
    for (unsigned i = 0; i < 100000; i++) {
        int n = i == 0 ? snprintf(dst, sizeof dst, "%s/%s", in->done_dir, in->name)
                       : snprintf(dst, sizeof dst, "%s/%.*s.%u%s", in->done_dir, stem, in->name, i,
                                  dot);
        if (n >= (int)sizeof dst) {
            r = -ENAMETOOLONG;
            break;
        }
        if (lstat(dst, &st) < 0 && errno == ENOENT) {
            r = 0;
            break;
        }
    }
    if (r == 0 && rename(src, dst) < 0) {
        r = -errno;
        if (r == -EXDEV) {
            r = copy_file(src, dst);
            if (r == 0 && unlink(src) < 0)
                r = -errno;
        }
    }
    if (r < 0) {
        psy_err("inbox: %s: cannot move to %s: %s", in->name, in->done_dir, strerror(-r));
        /* Its records are spooled and its mark says so: reading it again adds nothing. */
        nameset_add(&in->failed, in->name);
        return;
    }
    int fd = open(in->done_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/*
 * A group failed before its commit (a full disk): its records are cut from
 * the spool when it is reopened, and the file is read again from the mark,
 * so the group's rejection lines go too, or every retry would repeat them.
 */
static int
group_failed(inbox_t *in, off_t rej_size, int err)
{
    struct stat st;
    /* Only lines this group added: a file truncated meanwhile (log rotation) is left alone. */
    if (rej_size >= 0 && fstat(in->rej_fd, &st) == 0 && st.st_size >= rej_size &&
        ftruncate(in->rej_fd, rej_size) < 0)
        psy_warn("inbox: cannot take back rejected.ndjson lines of a failed group: %s",
                 strerror(errno));
    return err;
}

int
inbox_step(inbox_t *in, spool_t *spool, psy_time_t now, size_t max_items)
{
    if (!in->reader) {
        int r = open_next(in, spool, now);
        if (r <= 0 || !in->reader)
            return r;
    }
    bool eof = false, rejected_written = false;
    size_t n = 0, skipped = 0;
    int r = 0;
    struct stat rej_st;
    off_t rej_size = fstat(in->rej_fd, &rej_st) == 0 ? rej_st.st_size : -1;
    while (n < max_items) {
        reader_item_t it;
        r = reader_next(in->reader, &it);
        if (r == 0) {
            eof = true;
            break;
        }
        if (r < 0) {
            psy_err("inbox: %s: read error: %s; left in the inbox", in->name, strerror(-r));
            nameset_add(&in->failed, in->name);
            inbox_reset(in);
            return 1;
        }
        in->mark.items++;
        if (in->mark.items <= in->skip) {
            /*
             * Skipping what an earlier run spooled is bounded per step too,
             * so that the loop (and the watchdog's ping) goes on during a
             * huge file; nothing is appended before the skipping ends.
             */
            if (++skipped >= INBOX_SKIP_STEP)
                return 1;
            continue;
        }
        n++;
        if (it.rejected) {
            r = write_rejection(in, &it);
            if (r < 0) {
                psy_err("inbox: cannot write rejected.ndjson: %s", strerror(-r));
                return group_failed(in, rej_size, r);
            }
            rejected_written = true;
            in->mark.rejected++;
            in->file_rejected++;
        } else {
            set_origin(in, it.line, &it.rec);
            r = spool_append(spool, &it.rec, NULL);
            if (r == -EINVAL) {
                /* The codec refused what the reader accepted: reject it rather than stall. */
                reader_item_t rej = it;
                rej.rejected = true;
                snprintf(rej.id, sizeof rej.id, "%s", it.rec.id);
                snprintf(rej.reason, sizeof rej.reason, "record cannot be encoded");
                r = write_rejection(in, &rej);
                if (r < 0)
                    return group_failed(in, rej_size, r);
                rejected_written = true;
                in->mark.rejected++;
                in->file_rejected++;
                continue;
            }
            if (r < 0)
                return group_failed(in, rej_size, r);
            in->file_records++;
        }
    }
    /* Rejections first, so that a crash can repeat a rejection line but never lose one. */
    if (rejected_written && fdatasync(in->rej_fd) < 0) {
        r = -errno;
        psy_err("inbox: cannot sync rejected.ndjson: %s", strerror(-r));
        return group_failed(in, rej_size, r);
    }
    r = spool_mark(spool, &in->mark);
    if (r == 0)
        r = spool_commit(spool);
    if (r < 0)
        return group_failed(in, rej_size, r);
    if (eof) {
        if (in->file_rejected > 0)
            psy_warn("%s: %llu records rejected, see rejected.ndjson", in->name,
                     (unsigned long long)in->file_rejected);
        psy_info("%s: %llu records spooled", in->name, (unsigned long long)in->file_records);
        retire(in);
        inbox_reset(in);
    }
    return 1;
}

int
inbox_clean_done(inbox_t *in, psy_time_t now)
{
    DIR *d = opendir(in->done_dir);
    if (!d)
        return -errno;
    int count = 0;
    struct dirent *de;
    int64_t limit_s = now / PSY_USEC - (int64_t)in->done_days * 86400;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        /* ctime: when the file was moved here; a rename does not change mtime. */
        if (in->done_days == 0 || st.st_ctim.tv_sec < limit_s) {
            if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                count++;
        }
    }
    closedir(d);
    return count;
}

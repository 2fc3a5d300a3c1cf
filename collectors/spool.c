/*
 * spool: append-only segments of CRC-framed records with a durable acked
 * sequence. The layout is described in spool.h.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libdeflate.h>
#include <sodium.h>

#include "psymon/codec.h"

enum { FRAME_HEADER = 1, FRAME_RECORD = 2, FRAME_MARK = 3, FRAME_COMMIT = 4 };

#define FRAME_PREFIX 8                    /* length + CRC */
#define FRAME_MAX    (PSY_MSG_MAX + 1024) /* type + payload, at most */
#define WBUF_FLUSH   (64 * 1024)          /* small: it stays allocated (collector RSS) */
#define RBUF_INITIAL (64 * 1024)
#define MARK_LEN_MAX (2 + SPOOL_NAME_MAX + 7 * 8)
#define DIR_MAX      (PSY_PATH_MAX - 64) /* room for a file name under it */
#define RECLAIM_MIN  (1024 * 1024)       /* rotate a fully acked segment above this size */

typedef struct {
    uint64_t base;  /* sequence number of its first record */
    uint64_t bytes; /* size on disk, plus what is buffered for it */
} segment_t;

/* A buffered sequential reader of frames in one segment file. */
typedef struct {
    int fd;
    uint8_t *buf;
    size_t cap, start, end;
    uint64_t off; /* file offset of buf[start] */
    bool eof;
} rbuf_t;

/* The read cursor of the sender. */
typedef struct {
    bool valid;
    size_t seg; /* index into segs */
    rbuf_t rb;
    uint64_t next_seq;  /* sequence number of the next record to return */
    uint64_t frame_off; /* offset of the frame read last, to step back to it */
} cursor_t;

struct spool {
    char dir[DIR_MAX];
    char segdir[DIR_MAX];
    uint8_t epoch[PSY_EPOCH_LEN];

    segment_t *segs;
    size_t nsegs, segcap;
    int wfd;           /* the last segment, open for appending */
    uint64_t wdurable; /* its size at the last successful fsync */
    uint8_t *wbuf;
    size_t wlen, wcap;

    uint64_t next_seq; /* next sequence number to assign */
    uint64_t last_seq; /* highest committed */
    uint64_t acked;
    spool_mark_t mark;         /* last committed */
    spool_mark_t pending_mark; /* last appended */
    bool dirty;                /* appended since the last commit */
    bool broken;               /* a write or fsync failed: only destroy is allowed */
    uint64_t gap_hi;           /* highest sequence missing between segments (recovery) */
    uint64_t segment_max;

    cursor_t cur;
};

/* Little-endian helpers: the spool must read back the same on any host. */
static void
put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t
get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/*
 * The CRC-32 of zlib and gzip (so spools written before libdeflate open as
 * they are), computed by libdeflate with the CPU's carry-less multiply:
 * zlib's table-driven crc32 was a third of the collector's instructions
 * in a drain, every frame being checked when the spool opens and again when
 * it is read back for sending.
 */
static uint32_t
frame_crc(const uint8_t *body, size_t len)
{
    return libdeflate_crc32(0, body, len);
}

/* fsync of a folder, so that a create, rename or unlink in it is durable. */
static int
fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Replaces dir/name with `len` bytes durably: a temporary file is written
 * and fsynced, then renamed over the old one, then the folder is fsynced,
 * so a crash leaves either the old or the new content, never a mix.
 */
static int
write_file_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PSY_PATH_MAX], tmp[PSY_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    return fsync_dir(dir);
}

static size_t
mark_encode(const spool_mark_t *m, uint8_t *p)
{
    size_t nlen = strnlen(m->name, SPOOL_NAME_MAX);
    uint8_t *q = p;
    put_u16(q, (uint16_t)nlen);
    q += 2;
    memcpy(q, m->name, nlen);
    q += nlen;
    put_u64(q, m->dev);
    put_u64(q + 8, m->ino);
    put_u64(q + 16, m->size);
    put_u64(q + 24, (uint64_t)m->mtime_ns);
    put_u64(q + 32, (uint64_t)m->ctime_ns);
    put_u64(q + 40, m->items);
    put_u64(q + 48, m->rejected);
    q += 56;
    return (size_t)(q - p);
}

static int
mark_decode(const uint8_t *p, size_t len, spool_mark_t *ret)
{
    if (len < 2)
        return -EBADMSG;
    size_t nlen = get_u16(p);
    if (nlen > SPOOL_NAME_MAX || len != 2 + nlen + 56)
        return -EBADMSG;
    spool_mark_t m = {0};
    memcpy(m.name, p + 2, nlen);
    if (memchr(m.name, '\0', nlen))
        return -EBADMSG;
    const uint8_t *q = p + 2 + nlen;
    m.dev = get_u64(q);
    m.ino = get_u64(q + 8);
    m.size = get_u64(q + 16);
    m.mtime_ns = (int64_t)get_u64(q + 24);
    m.ctime_ns = (int64_t)get_u64(q + 32);
    m.items = get_u64(q + 40);
    m.rejected = get_u64(q + 48);
    *ret = m;
    return 0;
}

/* Appends one frame to the write buffer, flushing it when large. */
static int
frame_put(spool_t *s, uint8_t type, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t body = 1 + alen + blen;
    if (body > FRAME_MAX)
        return -EINVAL;
    size_t need = s->wlen + FRAME_PREFIX + body;
    if (need > s->wcap) {
        size_t cap = s->wcap ? s->wcap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = realloc(s->wbuf, cap);
        if (!nb)
            return -ENOMEM;
        s->wbuf = nb;
        s->wcap = cap;
    }
    uint8_t *f = s->wbuf + s->wlen;
    uint8_t *bd = f + FRAME_PREFIX;
    bd[0] = type;
    if (alen)
        memcpy(bd + 1, a, alen);
    if (blen)
        memcpy(bd + 1 + alen, b, blen);
    put_u32(f, (uint32_t)body);
    put_u32(f + 4, frame_crc(bd, body));
    s->wlen = need;
    s->segs[s->nsegs - 1].bytes += FRAME_PREFIX + body;
    if (s->wlen >= WBUF_FLUSH) {
        int r = write_all(s->wfd, s->wbuf, s->wlen);
        s->wlen = 0;
        if (r < 0) {
            s->broken = true;
            return r;
        }
    }
    return 0;
}

static void
seg_path(const spool_t *s, uint64_t base, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%020" PRIu64 ".seg", s->segdir, base);
}

static int
segs_push(spool_t *s, uint64_t base, uint64_t bytes)
{
    if (s->nsegs == s->segcap) {
        size_t cap = s->segcap ? s->segcap * 2 : 8;
        segment_t *n = realloc(s->segs, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        s->segs = n;
        s->segcap = cap;
    }
    s->segs[s->nsegs++] = (segment_t){.base = base, .bytes = bytes};
    return 0;
}

static int cursor_open(spool_t *s, size_t idx);

/*
 * Starts a new segment at s->next_seq whose header carries the committed
 * mark, and makes it durable, so that older segments may be deleted.
 *
 * A last segment that holds no records (only marks: empty or wholly
 * rejected files) has that same name. It is replaced whole, written under
 * a temporary name and renamed over it, never truncated in place: a crash
 * leaves the one or the other, and the list keeps one entry for the name,
 * so reclaiming cannot delete the segment being written.
 */
static int
segment_start(spool_t *s)
{
    char path[PSY_PATH_MAX], tmp[PSY_PATH_MAX + 8];
    seg_path(s, s->next_seq, path, sizeof path);
    bool replace = s->nsegs > 0 && s->segs[s->nsegs - 1].base == s->next_seq;
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int fd = open(replace ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = 0;
    if (replace)
        s->segs[s->nsegs - 1].bytes = 0;
    else
        r = segs_push(s, s->next_seq, 0);
    if (r < 0) {
        close(fd);
        unlink(path);
        return r;
    }
    if (s->wfd >= 0)
        close(s->wfd);
    s->wfd = fd;
    s->wlen = 0;
    uint8_t hdr[PSY_EPOCH_LEN + 8 + MARK_LEN_MAX];
    memcpy(hdr, s->epoch, PSY_EPOCH_LEN);
    put_u64(hdr + PSY_EPOCH_LEN, s->next_seq);
    size_t n = PSY_EPOCH_LEN + 8 + mark_encode(&s->mark, hdr + PSY_EPOCH_LEN + 8);
    r = frame_put(s, FRAME_HEADER, hdr, n, NULL, 0);
    if (r == 0)
        r = write_all(fd, s->wbuf, s->wlen);
    s->wlen = 0;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && replace && rename(tmp, path) < 0)
        r = -errno;
    if (r == 0)
        r = fsync_dir(s->segdir);
    if (r == 0 && replace && s->cur.valid && s->cur.seg == s->nsegs - 1)
        r = cursor_open(s, s->nsegs - 1); /* the cursor read the replaced file: no records */
    if (r < 0)
        s->broken = true;
    else
        s->wdurable = s->segs[s->nsegs - 1].bytes;
    return r;
}

static void
rbuf_init(rbuf_t *rb, int fd, uint64_t off)
{
    rb->fd = fd;
    rb->start = rb->end = 0;
    rb->off = off;
    rb->eof = false;
}

static void
rbuf_close(rbuf_t *rb)
{
    if (rb->fd >= 0)
        close(rb->fd);
    rb->fd = -1;
    rb->start = rb->end = 0;
}

/* Makes at least `want` bytes available from buf[start], unless the file ends first. */
static int
rbuf_fill(rbuf_t *rb, size_t want)
{
    if (want > rb->cap) {
        size_t cap = rb->cap ? rb->cap : RBUF_INITIAL;
        while (cap < want)
            cap *= 2;
        uint8_t *n = realloc(rb->buf, cap);
        if (!n)
            return -ENOMEM;
        rb->buf = n;
        rb->cap = cap;
    }
    if (rb->start > 0 && rb->end - rb->start < want) {
        memmove(rb->buf, rb->buf + rb->start, rb->end - rb->start);
        rb->end -= rb->start;
        rb->start = 0;
    }
    while (rb->end - rb->start < want) {
        ssize_t n = pread(rb->fd, rb->buf + rb->end, rb->cap - rb->end,
                          (off_t)(rb->off + (rb->end - rb->start)));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            rb->eof = true;
            break;
        }
        rb->end += (size_t)n;
    }
    return 0;
}

/*
 * Reads the next frame. Returns 1 with *ret_type, *ret_body (type
 * excluded, valid until the next call) and *ret_len; 0 at a clean end of
 * the file; -EBADMSG for a torn or damaged frame (rb->off is then the
 * offset where the damage begins); or the errno of read.
 */
static int
rbuf_frame(rbuf_t *rb, uint8_t *ret_type, const uint8_t **ret_body, size_t *ret_len)
{
    int r = rbuf_fill(rb, FRAME_PREFIX);
    if (r < 0)
        return r;
    size_t avail = rb->end - rb->start;
    if (avail == 0)
        return 0;
    if (avail < FRAME_PREFIX)
        return -EBADMSG;
    const uint8_t *f = rb->buf + rb->start;
    uint32_t len = get_u32(f);
    uint32_t crc = get_u32(f + 4);
    if (len < 1 || len > FRAME_MAX)
        return -EBADMSG;
    r = rbuf_fill(rb, FRAME_PREFIX + len);
    if (r < 0)
        return r;
    if (rb->end - rb->start < FRAME_PREFIX + len)
        return -EBADMSG;
    f = rb->buf + rb->start;
    if (frame_crc(f + FRAME_PREFIX, len) != crc)
        return -EBADMSG;
    *ret_type = f[FRAME_PREFIX];
    *ret_body = f + FRAME_PREFIX + 1;
    *ret_len = len - 1;
    rb->start += FRAME_PREFIX + len;
    rb->off += FRAME_PREFIX + len;
    return 1;
}

/* Orders segment bases; names are fixed-width, but numbers are what count. */
static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Lists the bases of the segment files in segdir, sorted. */
static int
list_segments(const char *segdir, uint64_t **ret, size_t *ret_n)
{
    DIR *d = opendir(segdir);
    if (!d)
        return -errno;
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strlen(nm) != 24 || strcmp(nm + 20, ".seg") != 0 || strspn(nm, "0123456789") != 20)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
        }
        v[n++] = strtoull(nm, NULL, 10);
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_u64);
    *ret = v;
    *ret_n = n;
    return 0;
}

/*
 * Scans one segment: checks its header and every frame, cuts a damaged
 * tail, and advances next_seq and the mark. Returns 0, or 1 when the
 * segment had no valid header and was removed.
 */
/*
 * True when an intact commit frame lies in fd after `from`: what was cut
 * there was committed, so damage, not a crash, cut it (a crash leaves only
 * frames no commit closed; the rare group whose commit reached the disk
 * without its fsync returning counts too, which costs only a re-read).
 */
static bool
commit_after(int fd, uint64_t from, uint64_t size)
{
    uint8_t want[FRAME_PREFIX + 1], buf[64 * 1024 + FRAME_PREFIX];
    const uint8_t type = FRAME_COMMIT;
    put_u32(want, 1);
    put_u32(want + 4, frame_crc(&type, 1));
    want[FRAME_PREFIX] = FRAME_COMMIT;
    for (uint64_t off = from + 1; off + sizeof want <= size;) {
        ssize_t n = pread(fd, buf, sizeof buf, (off_t)off);
        if (n < (ssize_t)sizeof want)
            return false;
        if (memmem(buf, (size_t)n, want, sizeof want))
            return true;
        off += (uint64_t)n - (sizeof want - 1); /* a frame across two reads is still seen */
    }
    return false;
}

static int
segment_recover(spool_t *s, uint64_t base, bool have_epoch, spool_recovery_t *info)
{
    char path[PSY_PATH_MAX];
    seg_path(s, base, path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rbuf_t rb = {.fd = -1};
    rbuf_init(&rb, fd, 0);
    uint8_t type;
    const uint8_t *body;
    size_t len;
    int r = rbuf_frame(&rb, &type, &body, &len);
    if (r <= 0 || type != FRAME_HEADER || len < PSY_EPOCH_LEN + 8 ||
        get_u64(body + PSY_EPOCH_LEN) != base || base < s->next_seq) {
        /* No usable header: the segment was being created, or is damaged. */
        if (r < 0 && r != -EBADMSG)
            goto out;
        struct stat st;
        if (fstat(fd, &st) == 0)
            info->cut_bytes += (uint64_t)st.st_size;
        info->cut_segments++;
        r = unlink(path) < 0 ? -errno : 1;
        goto out;
    }
    if (have_epoch && memcmp(body, s->epoch, PSY_EPOCH_LEN) != 0) {
        r = -EXDEV; /* a segment of another spool */
        goto out;
    }
    spool_mark_t m;
    r = mark_decode(body + PSY_EPOCH_LEN + 8, len - PSY_EPOCH_LEN - 8, &m);
    if (r < 0) {
        r = -EBADMSG;
        goto out;
    }
    /* Only what a commit frame closes counts: frames after the last one were never fsynced. */
    spool_mark_t pending = m;
    uint64_t seq = base;
    s->mark = m;
    s->next_seq = base;
    uint64_t good = rb.off;
    for (;;) {
        r = rbuf_frame(&rb, &type, &body, &len);
        if (r == 0 || r == -EBADMSG)
            break;
        if (r < 0)
            goto out;
        if (type == FRAME_RECORD) {
            if (len < 8 || get_u64(body) != seq) {
                r = -EBADMSG;
                break;
            }
            seq++;
        } else if (type == FRAME_MARK) {
            if (mark_decode(body, len, &pending) < 0) {
                r = -EBADMSG;
                break;
            }
        } else if (type == FRAME_COMMIT && len == 0) {
            s->mark = pending;
            s->next_seq = seq;
            good = rb.off;
        } else {
            r = -EBADMSG;
            break;
        }
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if ((uint64_t)st.st_size > good) {
        info->cut_bytes += (uint64_t)st.st_size - good;
        info->cut_segments++;
        if (commit_after(fd, good, (uint64_t)st.st_size))
            info->committed_cut = true;
        if (ftruncate(fd, (off_t)good) < 0 || fsync(fd) < 0) {
            r = -errno;
            goto out;
        }
    }
    r = segs_push(s, base, good);
out:
    rbuf_close(&rb);
    free(rb.buf);
    return r;
}

static int
epoch_load(spool_t *s, bool *ret_found)
{
    char path[PSY_PATH_MAX];
    snprintf(path, sizeof path, "%s/epoch", s->dir);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) {
            *ret_found = false;
            return 0;
        }
        return -errno;
    }
    char hex[2 * PSY_EPOCH_LEN + 2] = "";
    bool ok = fgets(hex, sizeof hex, f) != NULL;
    fclose(f);
    size_t got = 0;
    if (!ok ||
        sodium_hex2bin(s->epoch, PSY_EPOCH_LEN, hex, strcspn(hex, "\n"), NULL, &got, NULL) != 0 ||
        got != PSY_EPOCH_LEN)
        return -EBADMSG;
    *ret_found = true;
    return 0;
}

static int
epoch_create(spool_t *s)
{
    randombytes_buf(s->epoch, PSY_EPOCH_LEN);
    char hex[2 * PSY_EPOCH_LEN + 2];
    sodium_bin2hex(hex, sizeof hex, s->epoch, PSY_EPOCH_LEN);
    strcat(hex, "\n");
    return write_file_atomic(s->dir, "epoch", hex, strlen(hex));
}

/* Reads the acked sequence; one of another epoch, or none, is 0. */
static int
acked_load(spool_t *s)
{
    char path[PSY_PATH_MAX];
    snprintf(path, sizeof path, "%s/acked", s->dir);
    FILE *f = fopen(path, "re");
    s->acked = 0;
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char hex[2 * PSY_EPOCH_LEN + 1];
    unsigned long long v;
    char want[2 * PSY_EPOCH_LEN + 1];
    sodium_bin2hex(want, sizeof want, s->epoch, PSY_EPOCH_LEN);
    if (fscanf(f, "epoch %32s acked_seq %llu", hex, &v) == 2 && strcmp(hex, want) == 0)
        s->acked = v;
    fclose(f);
    return 0;
}

/*
 * Overwrites the acked file in place: the line has a fixed width, so the
 * write needs no new block (it works on a full disk too), and it lies
 * within the first sector, which disks write whole. -ENOENT when the file
 * is missing, -ENOSPC when its line has another width.
 */
static int
acked_overwrite(const spool_t *s, const char *line, size_t len)
{
    char path[PSY_PATH_MAX];
    snprintf(path, sizeof path, "%s/acked", s->dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = 0;
    struct stat st;
    if (fstat(fd, &st) < 0)
        r = -errno;
    else if ((size_t)st.st_size != len)
        r = -ENOSPC; /* an old, shorter line: in place would leave a mix */
    if (r == 0) {
        ssize_t n = pwrite(fd, line, len, 0);
        if (n < 0)
            r = -errno;
        else if ((size_t)n != len)
            r = -EIO;
    }
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    close(fd);
    return r;
}

/*
 * Persists the acked sequence. The line has a fixed width, so once the file
 * exists each acknowledgement overwrites it in place and fdatasyncs it: no
 * new file, no rename, no fsync of the folder, no metadata for the journal
 * (it was the collector's largest cost per batch). The line lies within
 * the first sector, which a disk writes whole, so a crash leaves the old
 * or the new line. A missing file, or one of another width (an older
 * psymon's), is replaced atomically instead.
 */
static int
acked_store(spool_t *s)
{
    char hex[2 * PSY_EPOCH_LEN + 1];
    char buf[128];
    sodium_bin2hex(hex, sizeof hex, s->epoch, PSY_EPOCH_LEN);
    int n = snprintf(buf, sizeof buf, "epoch %s acked_seq %020" PRIu64 "\n", hex, s->acked);
    if (acked_overwrite(s, buf, (size_t)n) == 0)
        return 0;
    return write_file_atomic(s->dir, "acked", buf, (size_t)n);
}

static int
spool_recover(spool_t *s, spool_recovery_t *info)
{
    bool have_epoch = false;
    int r = epoch_load(s, &have_epoch);
    if (r < 0)
        return r;
    if (have_epoch) {
        r = acked_load(s); /* to tell reclaimed segments from lost ones */
        if (r < 0)
            return r;
    }
    uint64_t *bases = NULL;
    size_t n = 0;
    r = list_segments(s->segdir, &bases, &n);
    if (r < 0)
        return r;
    s->next_seq = 1;
    s->gap_hi = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        uint64_t expect = s->next_seq;
        r = segment_recover(s, bases[i], have_epoch, info);
        if (r == 0 && !have_epoch)
            r = -EXDEV; /* segments without their epoch file */
        if (r == 0 && bases[i] > expect && bases[i] - 1 > s->acked) {
            /* Unacknowledged records are missing below this segment: damage, not reclaiming. */
            uint64_t from = expect > s->acked + 1 ? expect : s->acked + 1;
            info->gap_records += bases[i] - from;
            s->gap_hi = bases[i] - 1;
        }
    }
    free(bases);
    if (r < 0)
        return r;
    if (s->nsegs == 0) {
        /* Nothing usable: a new spool with a new epoch, so no sequence number is reused. */
        info->created = true;
        memset(&s->mark, 0, sizeof s->mark);
        s->next_seq = 1;
        r = epoch_create(s);
        if (r < 0)
            return r;
        char ap[PSY_PATH_MAX];
        snprintf(ap, sizeof ap, "%s/acked", s->dir);
        unlink(ap);
        s->acked = 0;
        r = segment_start(s);
        if (r < 0)
            return r;
    } else {
        char path[PSY_PATH_MAX];
        seg_path(s, s->segs[s->nsegs - 1].base, path, sizeof path);
        s->wfd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (s->wfd < 0)
            return -errno;
        s->wdurable = s->segs[s->nsegs - 1].bytes;
        r = acked_load(s);
        if (r < 0)
            return r;
    }
    s->last_seq = s->next_seq - 1;
    if (s->acked > s->last_seq) {
        /* Damage cut records the aggregator stored: their numbers must not be given again. */
        info->acked_cut = s->acked - s->last_seq;
        s->acked = s->last_seq;
    }
    s->pending_mark = s->mark;
    return 0;
}

/* Opens and recovers one spool folder, without healing a gap (see spool_open). */
static spool_t *
open_one(const char *dir, spool_recovery_t *ret_info)
{
    spool_recovery_t info = {0};
    spool_t *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->wfd = -1;
    s->cur.rb.fd = -1;
    s->segment_max = SPOOL_SEGMENT_MAX;
    int r = 0;
    if (snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir ||
        snprintf(s->segdir, sizeof s->segdir, "%s/spool", dir) >= (int)sizeof s->segdir)
        r = -ENAMETOOLONG;
    if (r == 0 && mkdir(s->segdir, 0700) < 0 && errno != EEXIST)
        r = -errno;
    if (r == 0)
        r = spool_recover(s, &info);
    if (r < 0) {
        spool_destroy(&s);
        errno = -r;
        return NULL;
    }
    if (ret_info)
        *ret_info = info;
    return s;
}

void
spool_destroy(spool_t **sp)
{
    if (!sp || !*sp)
        return;
    spool_t *s = *sp;
    rbuf_close(&s->cur.rb);
    free(s->cur.rb.buf);
    if (s->wfd >= 0)
        close(s->wfd);
    free(s->wbuf);
    free(s->segs);
    free(s);
    *sp = NULL;
}

void
spool_shrink(spool_t *s)
{
    if (s->wlen == 0) {
        free(s->wbuf);
        s->wbuf = NULL;
        s->wcap = 0;
    }
    rbuf_t *rb = &s->cur.rb;
    if (rb->start == rb->end) {
        free(rb->buf);
        rb->buf = NULL;
        rb->cap = rb->start = rb->end = 0; /* rb->off already names the next byte */
    }
}

void
spool_set_segment_max(spool_t *s, uint64_t bytes)
{
    s->segment_max = bytes < 4096 ? 4096 : bytes;
}

int
spool_append(spool_t *s, const psy_record_t *rec, uint64_t *ret_seq)
{
    if (s->broken)
        return -EIO;
    psy_msg_t msg = {.kind = PSY_MSG_BATCH};
    memcpy(msg.u.batch.epoch, s->epoch, PSY_EPOCH_LEN);
    msg.u.batch.first_seq = s->next_seq;
    msg.u.batch.count = 1;
    msg.u.batch.records = (psy_record_t *)rec;
    uint8_t *enc = NULL;
    size_t elen = 0;
    int r = psy_codec_encode(&msg, &enc, &elen);
    if (r < 0)
        return r;
    uint8_t seq[8];
    put_u64(seq, s->next_seq);
    r = frame_put(s, FRAME_RECORD, seq, sizeof seq, enc, elen);
    free(enc);
    if (r < 0)
        return r;
    if (ret_seq)
        *ret_seq = s->next_seq;
    s->next_seq++;
    s->dirty = true;
    return 0;
}

int
spool_mark(spool_t *s, const spool_mark_t *m)
{
    if (s->broken)
        return -EIO;
    uint8_t buf[MARK_LEN_MAX];
    size_t n = mark_encode(m, buf);
    int r = frame_put(s, FRAME_MARK, buf, n, NULL, 0);
    if (r < 0)
        return r;
    s->pending_mark = *m;
    s->pending_mark.name[SPOOL_NAME_MAX] = '\0';
    s->dirty = true;
    return 0;
}

int
spool_commit(spool_t *s)
{
    if (s->broken)
        return -EIO;
    if (!s->dirty)
        return 0;
    int r = frame_put(s, FRAME_COMMIT, NULL, 0, NULL, 0);
    if (r < 0)
        return r;
    r = write_all(s->wfd, s->wbuf, s->wlen);
    s->wlen = 0;
    if (r == 0 && fsync(s->wfd) < 0)
        r = -errno;
    if (r < 0) {
        /*
         * After a failed fsync (ENOSPC, EIO) the group may sit in the page
         * cache with its commit frame and never reach the disk; if reopening
         * counted it, its inbox file could move to done/ and the records be
         * lost in a crash. Cutting it now makes the failure certain.
         */
        if (ftruncate(s->wfd, (off_t)s->wdurable) == 0)
            (void)fsync(s->wfd);
        s->broken = true;
        return r;
    }
    s->wdurable = s->segs[s->nsegs - 1].bytes;
    s->dirty = false;
    s->last_seq = s->next_seq - 1;
    s->mark = s->pending_mark;
    /*
     * Rotation happens only here, between groups, so that a mark and its
     * records share a segment. The group is durable whatever it gives: a
     * failed rotation leaves the spool broken, and the next call says so.
     */
    if (s->segs[s->nsegs - 1].bytes >= s->segment_max)
        (void)segment_start(s);
    return 0;
}

/* Deletes segments all of whose records are acknowledged, oldest first. */
static int
reclaim(spool_t *s)
{
    size_t drop = 0;
    while (drop + 1 < s->nsegs && s->segs[drop + 1].base - 1 <= s->acked)
        drop++;
    if (drop == 0)
        return 0;
    for (size_t i = 0; i < drop; i++) {
        char path[PSY_PATH_MAX];
        seg_path(s, s->segs[i].base, path, sizeof path);
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
    }
    memmove(s->segs, s->segs + drop, (s->nsegs - drop) * sizeof *s->segs);
    s->nsegs -= drop;
    /* The cursor keeps its open file; only its index shifts. Behind the acked point it restarts. */
    if (s->cur.valid && s->cur.seg >= drop) {
        s->cur.seg -= drop;
    } else {
        rbuf_close(&s->cur.rb);
        s->cur.valid = false;
    }
    return fsync_dir(s->segdir);
}

int
spool_ack(spool_t *s, uint64_t seq)
{
    if (s->broken)
        return -EIO;
    if (seq > s->last_seq)
        seq = s->last_seq;
    if (seq <= s->acked)
        return 0;
    s->acked = seq;
    int r = acked_store(s);
    if (r < 0)
        return r;
    if (s->acked == s->last_seq && !s->dirty &&
        s->segs[s->nsegs - 1].bytes >=
            (s->segment_max < RECLAIM_MIN ? s->segment_max / 4 : RECLAIM_MIN)) {
        r = segment_start(s);
        if (r < 0)
            return r;
    }
    return reclaim(s);
}

int64_t
spool_unack(spool_t *s, uint64_t seq)
{
    if (s->broken)
        return -EIO;
    if (seq >= s->acked)
        return 0;
    uint64_t first_held = s->segs[0].base; /* segments go whole, so every later one is held */
    uint64_t lost = first_held > seq + 1 ? first_held - 1 - seq : 0;
    s->acked = seq + lost;
    s->cur.valid = false;
    int r = acked_store(s);
    return r < 0 ? r : (int64_t)lost;
}

/* Opens segment `idx` for the cursor, positioned after its header. */
static int
cursor_open(spool_t *s, size_t idx)
{
    rbuf_close(&s->cur.rb);
    char path[PSY_PATH_MAX];
    seg_path(s, s->segs[idx].base, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rbuf_init(&s->cur.rb, fd, 0);
    uint8_t type;
    const uint8_t *body;
    size_t len;
    int r = rbuf_frame(&s->cur.rb, &type, &body, &len);
    if (r <= 0 || type != FRAME_HEADER)
        return r < 0 ? r : -EBADMSG;
    s->cur.seg = idx;
    s->cur.next_seq = s->segs[idx].base;
    s->cur.valid = true;
    return 0;
}

/* Reads the next record frame at the cursor; returns 1, 0 at the end of committed data, -errno. */
static int
cursor_frame(spool_t *s, const uint8_t **ret_body, size_t *ret_len, uint64_t *ret_seq)
{
    for (;;) {
        if (s->cur.next_seq > s->last_seq)
            return 0;
        uint8_t type;
        const uint8_t *body;
        size_t len;
        s->cur.frame_off = s->cur.rb.off;
        int r = rbuf_frame(&s->cur.rb, &type, &body, &len);
        if (r < 0)
            return r;
        if (r == 0) {
            if (s->cur.seg + 1 >= s->nsegs)
                return 0;
            r = cursor_open(s, s->cur.seg + 1);
            if (r < 0)
                return r;
            continue;
        }
        if (type != FRAME_RECORD)
            continue;
        if (len < 8)
            return -EBADMSG;
        uint64_t seq = get_u64(body);
        s->cur.next_seq = seq + 1;
        *ret_body = body + 8;
        *ret_len = len - 8;
        *ret_seq = seq;
        return 1;
    }
}

int
spool_rewind(spool_t *s)
{
    if (s->broken)
        return -EIO;
    /* Flushed but uncommitted bytes are readable; the cursor stops at last_seq anyway. */
    uint64_t target = s->acked + 1;
    size_t idx = 0;
    while (idx + 1 < s->nsegs && s->segs[idx + 1].base <= target)
        idx++;
    s->cur.valid = false;
    int r = cursor_open(s, idx);
    if (r < 0)
        return r;
    while (s->cur.next_seq < target) {
        const uint8_t *body;
        size_t len;
        uint64_t seq;
        r = cursor_frame(s, &body, &len, &seq);
        if (r <= 0)
            return r;
        if (seq >= target) {
            /* Step back so that spool_next() returns this record (after a gap left by damage). */
            rbuf_init(&s->cur.rb, s->cur.rb.fd, s->cur.frame_off);
            s->cur.next_seq = seq;
            break;
        }
    }
    return 0;
}

int
spool_next(spool_t *s, psy_record_t *ret, uint64_t *ret_seq)
{
    if (s->broken)
        return -EIO;
    if (!s->cur.valid) {
        int r = spool_rewind(s);
        if (r < 0)
            return r;
    }
    const uint8_t *body;
    size_t len;
    uint64_t seq;
    int r = cursor_frame(s, &body, &len, &seq);
    if (r <= 0)
        return r;
    psy_msg_t msg;
    r = psy_codec_decode(body, len, &msg);
    if (r < 0)
        return r;
    if (msg.kind != PSY_MSG_BATCH || msg.u.batch.count != 1 || msg.u.batch.first_seq != seq) {
        psy_msg_clear(&msg);
        return -EBADMSG;
    }
    *ret = msg.u.batch.records[0];
    psy_msg_clear(&msg);
    *ret_seq = seq;
    return 1;
}

int
spool_next_raw(spool_t *s, const uint8_t **ret_rec, size_t *ret_len, uint64_t *ret_seq)
{
    if (s->broken)
        return -EIO;
    if (!s->cur.valid) {
        int r = spool_rewind(s);
        if (r < 0)
            return r;
    }
    const uint8_t *body;
    size_t len;
    uint64_t seq;
    int r = cursor_frame(s, &body, &len, &seq);
    if (r <= 0)
        return r;
    /* The frame's CRC held; the record was validated and encoded when it was spooled. */
    r = psy_codec_batch_record(body, len, seq, ret_rec, ret_len);
    if (r < 0)
        return r;
    *ret_seq = seq;
    return 1;
}

void
spool_unread(spool_t *s, uint64_t seq)
{
    if (!s->cur.valid || s->cur.next_seq != seq + 1)
        return;
    rbuf_init(&s->cur.rb, s->cur.rb.fd, s->cur.frame_off);
    s->cur.next_seq = seq;
}

const uint8_t *
spool_epoch(const spool_t *s)
{
    return s->epoch;
}

uint64_t
spool_last_seq(const spool_t *s)
{
    return s->last_seq;
}

uint64_t
spool_acked(const spool_t *s)
{
    return s->acked;
}

uint64_t
spool_bytes(const spool_t *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nsegs; i++)
        n += s->segs[i].bytes;
    return n;
}

unsigned
spool_segments(const spool_t *s)
{
    return (unsigned)s->nsegs;
}

const spool_mark_t *
spool_last_mark(const spool_t *s)
{
    return &s->mark;
}

/* ---- healing a gap: the unacknowledged records go into a new epoch ---- */

#define REBUILD_DIR "rebuild"
#define HEAL_GROUP  5000 /* records per fsync while re-spooling */

/* Removes the regular files in `dir` and then `dir` itself; a missing folder is fine. */
static int
remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && r == 0)
            r = -errno;
    }
    closedir(d);
    if (r == 0 && rmdir(dir) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

static bool
path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/*
 * Finishes or discards a rebuild left by an earlier run. A rebuild counts
 * only once its "ready" file exists (written after every record of it was
 * fsynced); from then on each step below is repeatable, so a crash anywhere
 * in between is finished by the next start. An unfinished rebuild is
 * removed, and the old spool heals again.
 */
static int
rebuild_finish(const char *dir)
{
    char rb[PSY_PATH_MAX], p[PSY_PATH_MAX + 16], q[PSY_PATH_MAX + 16];
    snprintf(rb, sizeof rb, "%s/" REBUILD_DIR, dir);
    snprintf(p, sizeof p, "%s/ready", rb);
    if (!path_exists(p)) {
        snprintf(p, sizeof p, "%s/spool", rb);
        int r = remove_dir(p);
        return r < 0 ? r : remove_dir(rb);
    }
    snprintf(p, sizeof p, "%s/spool", rb);
    if (path_exists(p)) {
        snprintf(q, sizeof q, "%s/spool", dir);
        int r = remove_dir(q);
        if (r < 0)
            return r;
        if (rename(p, q) < 0)
            return -errno;
        if ((r = fsync_dir(dir)) < 0)
            return r;
    }
    snprintf(p, sizeof p, "%s/epoch", rb);
    if (path_exists(p)) {
        snprintf(q, sizeof q, "%s/epoch", dir);
        if (rename(p, q) < 0)
            return -errno;
        int r = fsync_dir(dir);
        if (r < 0)
            return r;
    }
    int r = remove_dir(rb);
    return r < 0 ? r : fsync_dir(dir);
}

/*
 * The spool `old` lost unacknowledged records between segments (damage in
 * the middle). The aggregator accepts only contiguous sequence numbers, so
 * sending what follows the gap under the old epoch would be refused
 * forever. Instead, every unacknowledged record that is left is copied, in
 * order, into a new spool with a new epoch (numbered from 1) and the inbox
 * mark; the aggregator ignores the ones whose content it already holds.
 * Without `records`, the new spool is empty and its mark names no file
 * (spool_restart()). Returns how many records were copied, or a negative
 * errno.
 */
static int64_t
rebuild_write(spool_t *old, const char *dir, bool records)
{
    char rb[PSY_PATH_MAX], p[PSY_PATH_MAX + 16];
    snprintf(rb, sizeof rb, "%s/" REBUILD_DIR, dir);
    if (mkdir(rb, 0700) < 0)
        return -errno;
    spool_t *n = open_one(rb, NULL);
    if (!n)
        return -errno;
    int64_t copied = 0;
    int r = records ? spool_rewind(old) : 0;
    spool_mark_t mark = old->mark;
    if (!records) {
        /* Everything is read again: no file is half done, only the rejected total goes on. */
        memset(&mark, 0, sizeof mark);
        mark.rejected = old->mark.rejected;
    }
    while (r == 0 && records) {
        psy_record_t rec;
        uint64_t seq;
        r = spool_next(old, &rec, &seq);
        if (r <= 0)
            break;
        r = spool_append(n, &rec, NULL);
        if (r == 0 && ++copied % HEAL_GROUP == 0)
            r = spool_commit(n);
    }
    if (r == 0)
        r = spool_mark(n, &mark);
    if (r == 0)
        r = spool_commit(n);
    spool_destroy(&n);
    if (r == 0)
        r = write_file_atomic(rb, "ready", "", 0);
    if (r == 0)
        r = fsync_dir(dir);
    if (r < 0) {
        snprintf(p, sizeof p, "%s/spool", rb);
        remove_dir(p);
        remove_dir(rb);
        return r;
    }
    return copied;
}

int
spool_restart(spool_t **sp, bool keep)
{
    spool_t *s = *sp;
    char dir[DIR_MAX];
    memcpy(dir, s->dir, sizeof dir);
    uint64_t segment_max = s->segment_max;
    int64_t r = s->broken ? -EIO : rebuild_write(s, dir, keep);
    spool_destroy(sp);
    if (r >= 0)
        r = rebuild_finish(dir);
    if (r < 0)
        return (int)r;
    *sp = spool_open(dir, NULL);
    if (!*sp)
        return -errno;
    (*sp)->segment_max = segment_max;
    return 0;
}

spool_t *
spool_open(const char *dir, spool_recovery_t *ret_info)
{
    if (strlen(dir) >= DIR_MAX - sizeof "/" REBUILD_DIR "/spool") {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int r = rebuild_finish(dir);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    spool_recovery_t info;
    spool_t *s = open_one(dir, &info);
    if (!s)
        return NULL;
    if (info.gap_records > 0 || info.acked_cut > 0 || info.committed_cut) {
        uint8_t old_epoch[PSY_EPOCH_LEN];
        memcpy(old_epoch, s->epoch, PSY_EPOCH_LEN);
        int64_t copied = rebuild_write(s, dir, true);
        spool_destroy(&s);
        r = copied < 0 ? (int)copied : rebuild_finish(dir);
        if (r < 0) {
            errno = -r;
            return NULL;
        }
        spool_recovery_t again;
        s = open_one(dir, &again);
        if (!s)
            return NULL;
        info.new_epoch = true;
        info.respooled = (uint64_t)copied;
        memcpy(info.old_epoch, old_epoch, PSY_EPOCH_LEN);
    }
    if (ret_info)
        *ret_info = info;
    return s;
}

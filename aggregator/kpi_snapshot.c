/*
 * The KPI model cache file: a fixed header (magic, generation, center ids),
 * then the model's bytes as kpi_model_write() gives them, mapped back with
 * kpi_model_from_buffer(), which checks them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kpi_snapshot.h"
#include "psymon/log.h"

#define SNAP_FILE  "kpi-model.bin"
#define SNAP_MAGIC UINT64_C(0x31504e534b595350) /* "PSYKSNP1" */

typedef struct {
    uint64_t magic;
    uint64_t vid;
    int64_t stored_at;
    uint64_t ncenters;
    char ids[PSY_CENTERS_MAX][40]; /* PSY_CENTER_MAX + 1, rounded up to 8 */
} snap_hdr_t;

_Static_assert(PSY_CENTER_MAX + 1 <= 40, "center ids fit the snapshot header");
_Static_assert(sizeof(snap_hdr_t) % 8 == 0, "the model after the header stays 8-byte aligned");

struct kpi_snapshot {
    void *map;
    size_t len;
    kpi_model_t *model;
};

static void
hdr_fill(snap_hdr_t *h, uint64_t vid, psy_time_t stored_at, const psy_agg_conf_t *conf)
{
    memset(h, 0, sizeof(*h));
    h->magic = SNAP_MAGIC;
    h->vid = vid;
    h->stored_at = stored_at;
    h->ncenters = conf->ncenters;
    for (size_t i = 0; i < conf->ncenters && i < PSY_CENTERS_MAX; i++)
        snprintf(h->ids[i], sizeof(h->ids[i]), "%s", conf->centers[i].id);
}

static int
path_of(char *buf, size_t size, const char *data_dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", data_dir, name);

    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int
fd_write(void *ctx, const void *p, size_t n)
{
    int fd = *(int *)ctx;
    const char *c = p;

    while (n) {
        ssize_t w = write(fd, c, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int
kpi_snapshot_save(const char *data_dir, uint64_t vid, psy_time_t stored_at,
                  const psy_agg_conf_t *conf, const kpi_model_t *m)
{
    char path[PSY_PATH_MAX], tmp[PSY_PATH_MAX + 32];
    snap_hdr_t h;
    int fd, r;

    if (!data_dir || !conf || !m || conf->ncenters > PSY_CENTERS_MAX)
        return -EINVAL;
    if ((r = path_of(path, sizeof(path), data_dir, SNAP_FILE)) < 0)
        return r;
    if (snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", data_dir, SNAP_FILE, (long)getpid()) >=
        (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    hdr_fill(&h, vid, stored_at, conf);
    r = fd_write(&fd, &h, sizeof(h));
    if (r == 0)
        r = kpi_model_write(m, fd_write, &fd);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

kpi_snapshot_t *
kpi_snapshot_open(const char *data_dir, uint64_t vid, psy_time_t stored_at,
                  const psy_agg_conf_t *conf)
{
    char path[PSY_PATH_MAX];
    snap_hdr_t want;
    struct stat stt;
    kpi_snapshot_t *s;
    int fd, err;

    if (!data_dir || !conf || conf->ncenters > PSY_CENTERS_MAX) {
        errno = EINVAL;
        return NULL;
    }
    if ((err = path_of(path, sizeof(path), data_dir, SNAP_FILE)) < 0) {
        errno = -err;
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &stt) < 0 || (size_t)stt.st_size < sizeof(snap_hdr_t)) {
        close(fd);
        errno = EBADMSG;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return NULL;
    }
    s->len = (size_t)stt.st_size;
    s->map = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (s->map == MAP_FAILED) {
        free(s);
        return NULL;
    }
    hdr_fill(&want, vid, stored_at, conf);
    if (memcmp(s->map, &want, sizeof(want)) != 0) {
        err = ((const snap_hdr_t *)s->map)->magic == SNAP_MAGIC ? ESTALE : EBADMSG;
        goto fail;
    }
    s->model = kpi_model_from_buffer((const char *)s->map + sizeof(snap_hdr_t),
                                     s->len - sizeof(snap_hdr_t));
    if (!s->model) {
        err = EBADMSG;
        goto fail;
    }
    return s;
fail:
    munmap(s->map, s->len);
    free(s);
    errno = err;
    return NULL;
}

const kpi_model_t *
kpi_snapshot_model(const kpi_snapshot_t *s)
{
    return s ? s->model : NULL;
}

void
kpi_snapshot_destroy(kpi_snapshot_t **sp)
{
    kpi_snapshot_t *s = sp ? *sp : NULL;

    if (!s)
        return;
    kpi_model_destroy(&s->model);
    munmap(s->map, s->len);
    free(s);
    *sp = NULL;
}

void
kpi_snapshot_publish(void *ctx, const agg_model_t *m)
{
    kpi_snapshot_mark_t *mark = ctx;
    int r;

    if (mark->saved && mark->vid == m->vid && mark->stored_at == m->stored_at)
        return;
    r = kpi_snapshot_save(m->conf->data_dir, m->vid, m->stored_at, m->conf, m->kpi);
    if (r < 0) {
        psy_warn("the KPI model cache was not written: %s", strerror(-r));
        return;
    }
    mark->saved = true;
    mark->vid = m->vid;
    mark->stored_at = m->stored_at;
}

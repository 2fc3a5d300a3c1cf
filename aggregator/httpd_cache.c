/* httpd_cache: rendered answers per data generation. See httpd_cache.h. */
#include "httpd_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An entry and its reference count in one allocation. */
typedef struct {
    atomic_size_t refs;
    httpd_cache_entry_t pub;
    char *body;
} httpd_cache_box_t;

/* One key: its answer, and whether a caller is computing a new one. */
typedef struct httpd_cache_slot {
    struct httpd_cache_slot *prev, *next; /* most recently used first */
    char *key;
    httpd_cache_box_t *cur; /* the answer held, or NULL */
    uint64_t cur_stamp, cur_soft;
    int64_t made_at;
    bool computing; /* a caller owns a miss of (key, computing_stamp) */
    uint64_t computing_stamp;
} httpd_cache_slot_t;

struct httpd_cache {
    pthread_mutex_t lock;
    pthread_cond_t done; /* a computation ended */
    httpd_cache_slot_t *head, *tail;
    size_t nslots, max_entries;
    size_t bytes, max_bytes;
    uint64_t generation; /* the newest stored */
    uint64_t hits, misses, waits, evictions;
};

static httpd_cache_box_t *
httpd_cache_box_of(const httpd_cache_entry_t *e)
{
    return (httpd_cache_box_t *)((char *)(uintptr_t)e - offsetof(httpd_cache_box_t, pub));
}

const httpd_cache_entry_t *
httpd_cache_entry_ref(const httpd_cache_entry_t *e)
{
    if (e)
        atomic_fetch_add(&httpd_cache_box_of(e)->refs, 1);
    return e;
}

void
httpd_cache_entry_unref(const httpd_cache_entry_t **ep)
{
    if (!ep || !*ep)
        return;
    httpd_cache_box_t *b = httpd_cache_box_of(*ep);
    if (atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b->body);
        free(b);
    }
    *ep = NULL;
}

void
httpd_cache_etag(const void *p, size_t len, char ret[24])
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    snprintf(ret, 24, "\"%016llx\"", (unsigned long long)h);
}

httpd_cache_t *
httpd_cache_new(size_t max_entries, size_t max_bytes)
{
    httpd_cache_t *c;

    if (max_entries == 0) {
        errno = EINVAL;
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->done, NULL);
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    return c;
}

static void
httpd_cache_drop_answer(httpd_cache_t *c, httpd_cache_slot_t *s)
{
    const httpd_cache_entry_t *e;

    if (!s->cur)
        return;
    c->bytes -= s->cur->pub.len;
    e = &s->cur->pub;
    s->cur = NULL;
    httpd_cache_entry_unref(&e);
}

static void
httpd_cache_unlink(httpd_cache_t *c, httpd_cache_slot_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        c->tail = s->prev;
    s->prev = s->next = NULL;
}

static void
httpd_cache_push_front(httpd_cache_t *c, httpd_cache_slot_t *s)
{
    s->prev = NULL;
    s->next = c->head;
    if (c->head)
        c->head->prev = s;
    c->head = s;
    if (!c->tail)
        c->tail = s;
}

/* Removes slot s and its answer. Not for a slot being computed: its owner will look for it. */
static void
httpd_cache_remove(httpd_cache_t *c, httpd_cache_slot_t *s)
{
    httpd_cache_drop_answer(c, s);
    httpd_cache_unlink(c, s);
    c->nslots--;
    free(s->key);
    free(s);
}

void
httpd_cache_destroy(httpd_cache_t **cp)
{
    httpd_cache_t *c = cp ? *cp : NULL;

    if (!c)
        return;
    while (c->head)
        httpd_cache_remove(c, c->head);
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->lock);
    free(c);
    *cp = NULL;
}

static httpd_cache_slot_t *
httpd_cache_find(httpd_cache_t *c, const char *key)
{
    for (httpd_cache_slot_t *s = c->head; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

/* Evicts least recently used slots, never one being computed nor `keep`, until within bounds. */
static void
httpd_cache_trim(httpd_cache_t *c, const httpd_cache_slot_t *keep)
{
    httpd_cache_slot_t *s = c->tail;

    while (s && (c->nslots > c->max_entries || c->bytes > c->max_bytes)) {
        httpd_cache_slot_t *prev = s->prev;
        if (s != keep && !s->computing) {
            if (s->cur)
                c->evictions++;
            httpd_cache_remove(c, s);
        }
        s = prev;
    }
}

httpd_cache_result_t
httpd_cache_get(httpd_cache_t *c, const char *key, uint64_t stamp, uint64_t soft, int64_t now_us,
                int64_t ttl_us, const httpd_cache_entry_t **ret_entry)
{
    httpd_cache_slot_t *s;
    httpd_cache_result_t r;

    *ret_entry = NULL;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        s = httpd_cache_find(c, key);
        if (s && s->cur && s->cur_stamp == stamp) {
            bool fresh = now_us - s->made_at < ttl_us && s->cur_soft == soft;
            if (fresh || s->computing) {
                /* Fresh, or being refreshed by another caller: the same generation's bytes. */
                *ret_entry = httpd_cache_entry_ref(&s->cur->pub);
                c->hits++;
                r = HTTPD_CACHE_HIT;
                break;
            }
        } else if (s && s->computing) {
            /* Someone computes this key (this stamp or another): wait, then look again. */
            c->waits++;
            pthread_cond_wait(&c->done, &c->lock);
            continue;
        }
        if (!s) {
            s = calloc(1, sizeof(*s));
            if (s && !(s->key = strdup(key))) {
                free(s);
                s = NULL;
            }
            if (!s) {
                /* No memory for the bookkeeping: compute without it. */
                c->misses++;
                r = HTTPD_CACHE_MISS;
                break;
            }
            httpd_cache_push_front(c, s);
            c->nslots++;
            httpd_cache_trim(c, s);
        }
        s->computing = true;
        s->computing_stamp = stamp;
        c->misses++;
        r = HTTPD_CACHE_MISS;
        if (s->cur && s->cur_stamp == stamp) {
            /* Due for a refresh: the caller serves these bytes meanwhile. */
            *ret_entry = httpd_cache_entry_ref(&s->cur->pub);
            r = HTTPD_CACHE_REFRESH;
        }
        break;
    }
    if (s && s->prev) {
        httpd_cache_unlink(c, s);
        httpd_cache_push_front(c, s);
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* Ends the computation of (key, stamp), if that is the one under way, and wakes the waiters. */
static httpd_cache_slot_t *
httpd_cache_end(httpd_cache_t *c, const char *key, uint64_t stamp)
{
    httpd_cache_slot_t *s = httpd_cache_find(c, key);

    if (s && s->computing && s->computing_stamp == stamp) {
        s->computing = false;
        pthread_cond_broadcast(&c->done);
    }
    return s;
}

int
httpd_cache_put(httpd_cache_t *c, const char *key, uint64_t stamp, uint64_t soft,
                uint64_t generation, int64_t now_us, int status, const char *type, char *body,
                size_t len, const httpd_cache_entry_t **ret_entry)
{
    httpd_cache_box_t *b = calloc(1, sizeof(*b));
    httpd_cache_slot_t *s;

    *ret_entry = NULL;
    if (!b) {
        free(body);
        httpd_cache_abandon(c, key, stamp);
        return -ENOMEM;
    }
    atomic_init(&b->refs, 1);
    b->body = body;
    b->pub.status = status;
    b->pub.type = type;
    b->pub.body = body ? body : "";
    b->pub.len = body ? len : 0;
    b->pub.generation = generation;
    httpd_cache_etag(b->pub.body, b->pub.len, b->pub.etag);
    *ret_entry = &b->pub;

    pthread_mutex_lock(&c->lock);
    s = httpd_cache_end(c, key, stamp);
    /* An answer larger than half the budget would push everything else out: not kept. */
    if (s && b->pub.len <= c->max_bytes / 2) {
        httpd_cache_drop_answer(c, s);
        s->cur = httpd_cache_box_of(httpd_cache_entry_ref(&b->pub));
        s->cur_stamp = stamp;
        s->cur_soft = soft;
        s->made_at = now_us;
        c->bytes += b->pub.len;
        if (generation > c->generation) {
            /* A new generation: nothing of the older ones can be served again. */
            c->generation = generation;
            for (httpd_cache_slot_t *o = c->head, *next; o; o = next) {
                next = o->next;
                if (o != s && o->cur && o->cur->pub.generation < generation) {
                    if (o->computing)
                        httpd_cache_drop_answer(c, o);
                    else
                        httpd_cache_remove(c, o);
                }
            }
        }
        httpd_cache_trim(c, s);
    } else if (s && !s->cur && !s->computing) {
        httpd_cache_remove(c, s);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void
httpd_cache_abandon(httpd_cache_t *c, const char *key, uint64_t stamp)
{
    httpd_cache_slot_t *s;

    pthread_mutex_lock(&c->lock);
    s = httpd_cache_end(c, key, stamp);
    if (s && !s->cur && !s->computing)
        httpd_cache_remove(c, s);
    pthread_mutex_unlock(&c->lock);
}

void
httpd_cache_stats(httpd_cache_t *c, httpd_cache_stats_t *ret)
{
    pthread_mutex_lock(&c->lock);
    ret->hits = c->hits;
    ret->misses = c->misses;
    ret->waits = c->waits;
    ret->evictions = c->evictions;
    ret->entries = 0;
    for (httpd_cache_slot_t *s = c->head; s; s = s->next)
        ret->entries += s->cur != NULL;
    ret->bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}

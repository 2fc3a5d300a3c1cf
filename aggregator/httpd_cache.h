/*
 * httpd_cache: rendered answers of the HTTP server (pages, graphs), kept
 * per data generation so that a warm request costs no KPI work and no
 * drawing.
 *
 * An entry is the bytes of one answer (body, content type, ETag) under a
 * key (the path and query) and two hashes the caller computes of what the
 * answer was made from. The stamp covers what must never be served stale:
 * the model's generation and build, the configuration, the month, the RRD
 * file. The soft stamp covers what may lag by one computation: the alert
 * engine's state, which itself is only evaluated every few seconds. A
 * lookup hits only an entry of the same key and stamp; an entry whose stamp
 * no longer matches is never served.
 *
 * Concurrent misses of one key and stamp compute once: the first caller
 * gets HTTPD_CACHE_MISS and must answer with httpd_cache_put() or
 * httpd_cache_abandon(); the others wait for it and then hit. An entry of
 * the right stamp whose soft stamp changed, or that has outlived the
 * caller's time to live, is refreshed the same way, except that while one
 * caller refreshes it the others are served the old bytes (the data is the
 * same generation's; only the alerts or the clock moved).
 *
 * Memory is bounded: at most max_entries entries and max_bytes of bodies,
 * the least recently used going first; storing an entry of a newer
 * generation drops every entry of older generations at once.
 *
 * Thread-safe: one mutex, held only to look up and link entries, never
 * while computing. Entries are reference-counted and immutable, so their
 * bytes can be handed to libmicrohttpd without a copy.
 */
#ifndef PSYMON_HTTPD_CACHE_H
#define PSYMON_HTTPD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct httpd_cache httpd_cache_t;

/* One cached answer. Plain data: read it, never change it. */
typedef struct {
    int status;
    const char *type; /* a static string */
    const char *body;
    size_t len;
    char etag[24]; /* "\"" + 16 hex digits of a hash of the body + "\"" */
    uint64_t generation;
} httpd_cache_entry_t;

typedef enum {
    HTTPD_CACHE_HIT,  /* *ret_entry holds the answer; release it with httpd_cache_entry_unref */
    HTTPD_CACHE_MISS, /* compute it, then httpd_cache_put or httpd_cache_abandon */
    /*
     * *ret_entry holds the answer of the same stamp, due for a refresh (the
     * soft stamp or the time to live): serve it, and compute the new one
     * (best not on the requester's time), then put or abandon.
     */
    HTTPD_CACHE_REFRESH,
} httpd_cache_result_t;

typedef struct {
    uint64_t hits, misses, waits, evictions;
    size_t entries, bytes;
} httpd_cache_stats_t;

/* NULL with errno set on failure. Caller owns the result and must destroy it. */
httpd_cache_t *httpd_cache_new(size_t max_entries, size_t max_bytes);
/* Frees every entry not still referenced (those go with their last reference). Accepts NULL. */
void httpd_cache_destroy(httpd_cache_t **c);

/*
 * Looks key up for stamp and soft at the monotonic instant now_us. A hit of
 * the same soft stamp younger than ttl_us, or one of the same stamp being
 * refreshed by another caller, is returned with a reference taken. On a
 * miss or a refresh the caller owns the computation of (key, stamp) until
 * it calls put or abandon; a caller finding a computation of the key under
 * way with no bytes of its stamp to serve waits for it. Returns
 * HTTPD_CACHE_HIT, HTTPD_CACHE_MISS or HTTPD_CACHE_REFRESH.
 */
httpd_cache_result_t httpd_cache_get(httpd_cache_t *c, const char *key, uint64_t stamp,
                                     uint64_t soft, int64_t now_us, int64_t ttl_us,
                                     const httpd_cache_entry_t **ret_entry);

/*
 * Stores the answer to a miss of (key, stamp) and wakes its waiters. Takes
 * ownership of body (malloc'ed) in every case. The entry is returned with
 * a reference taken for the caller in *ret_entry; it is kept in the cache
 * only when it fits the bounds. Returns 0 or -ENOMEM (body freed, waiters
 * woken to compute on their own).
 */
int httpd_cache_put(httpd_cache_t *c, const char *key, uint64_t stamp, uint64_t soft,
                    uint64_t generation, int64_t now_us, int status, const char *type, char *body,
                    size_t len, const httpd_cache_entry_t **ret_entry);

/* Gives up a miss of (key, stamp) without storing anything (an error), waking its waiters. */
void httpd_cache_abandon(httpd_cache_t *c, const char *key, uint64_t stamp);

/* Takes another reference to e. */
const httpd_cache_entry_t *httpd_cache_entry_ref(const httpd_cache_entry_t *e);
/* Drops a reference and NULLs *e; the last one frees it. Accepts NULL. */
void httpd_cache_entry_unref(const httpd_cache_entry_t **e);

/* Counters since httpd_cache_new, and what is held now. */
void httpd_cache_stats(httpd_cache_t *c, httpd_cache_stats_t *ret);

/* The strong ETag of len bytes at p, as httpd_cache_entry_t.etag holds it. */
void httpd_cache_etag(const void *p, size_t len, char ret[24]);

#endif

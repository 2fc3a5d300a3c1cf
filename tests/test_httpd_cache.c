/*
 * httpd_cache: hits return the very bytes stored; another stamp or an
 * expired entry is computed again; a newer generation drops the older
 * ones; the bounds hold; concurrent misses of one key compute once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpd_cache.h"

#define SEC INT64_C(1000000)
#define TTL (60 * SEC)

/* Misses key, then stores `text` for it; returns the stored entry (a reference). */
static const httpd_cache_entry_t *
fill(httpd_cache_t *c, const char *key, uint64_t stamp, uint64_t gen, int64_t now, const char *text)
{
    const httpd_cache_entry_t *e = NULL;

    assert_int_equal(httpd_cache_get(c, key, stamp, 0, now, TTL, &e), HTTPD_CACHE_MISS);
    assert_null(e);
    assert_int_equal(httpd_cache_put(c, key, stamp, 0, gen, now, 200, "text/plain", strdup(text),
                                     strlen(text), &e),
                     0);
    assert_non_null(e);
    return e;
}

static void
test_hit_same_bytes(void **state)
{
    httpd_cache_t *c = httpd_cache_new(8, 1 << 20);
    const httpd_cache_entry_t *a, *b = NULL;
    httpd_cache_stats_t st;
    char etag[24];

    (void)state;
    assert_non_null(c);
    a = fill(c, "/", 1, 1, 0, "page one");
    assert_int_equal(httpd_cache_get(c, "/", 1, 0, 10 * SEC, TTL, &b), HTTPD_CACHE_HIT);
    /* The same entry: the same bytes at the same address, nothing recomputed. */
    assert_ptr_equal(a, b);
    assert_int_equal(b->len, 8);
    assert_memory_equal(b->body, "page one", 8);
    assert_int_equal(b->status, 200);
    assert_string_equal(b->type, "text/plain");
    httpd_cache_etag("page one", 8, etag);
    assert_string_equal(b->etag, etag);
    assert_int_equal(strlen(etag), 18);
    httpd_cache_entry_unref(&b);
    assert_null(b);
    /* Other keys are other entries. */
    assert_int_equal(httpd_cache_get(c, "/?lang=en", 1, 0, 10 * SEC, TTL, &b), HTTPD_CACHE_MISS);
    httpd_cache_abandon(c, "/?lang=en", 1);
    httpd_cache_stats(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 8);
    /* An entry outlives the cache while referenced. */
    httpd_cache_destroy(&c);
    assert_null(c);
    assert_memory_equal(a->body, "page one", 8);
    httpd_cache_entry_unref(&a);
    httpd_cache_destroy(NULL);
    httpd_cache_entry_unref(NULL);
}

static void
test_stamp_and_generation(void **state)
{
    httpd_cache_t *c = httpd_cache_new(8, 1 << 20);
    const httpd_cache_entry_t *e, *g = NULL;
    httpd_cache_stats_t st;

    (void)state;
    e = fill(c, "/", 100, 1, 0, "gen 1");
    httpd_cache_entry_unref(&e);
    e = fill(c, "/kpi/x", 200, 1, 0, "kpi gen 1");
    httpd_cache_entry_unref(&e);
    /* Another stamp (new data, another configuration): never the old bytes. */
    assert_int_equal(httpd_cache_get(c, "/", 101, 0, SEC, TTL, &g), HTTPD_CACHE_MISS);
    assert_null(g);
    assert_int_equal(
        httpd_cache_put(c, "/", 101, 0, 2, SEC, 200, "text/plain", strdup("gen 2"), 5, &e), 0);
    httpd_cache_entry_unref(&e);
    /* Storing generation 2 dropped everything of generation 1, /kpi/x too. */
    httpd_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 5);
    assert_int_equal(httpd_cache_get(c, "/", 101, 0, SEC, TTL, &g), HTTPD_CACHE_HIT);
    assert_memory_equal(g->body, "gen 2", 5);
    assert_int_equal(g->generation, 2);
    httpd_cache_entry_unref(&g);
    /* The old stamp is not served either. */
    assert_int_equal(httpd_cache_get(c, "/", 100, 0, SEC, TTL, &g), HTTPD_CACHE_MISS);
    httpd_cache_abandon(c, "/", 100);
    /* Abandoning left the stored answer in place. */
    assert_int_equal(httpd_cache_get(c, "/", 101, 0, SEC, TTL, &g), HTTPD_CACHE_HIT);
    httpd_cache_entry_unref(&g);
    httpd_cache_destroy(&c);
}

static void
test_ttl(void **state)
{
    httpd_cache_t *c = httpd_cache_new(8, 1 << 20);
    const httpd_cache_entry_t *e, *g = NULL;

    (void)state;
    e = fill(c, "/", 1, 1, 0, "early");
    httpd_cache_entry_unref(&e);
    /* Past its time to live: this caller refreshes it, serving the old bytes meanwhile ... */
    assert_int_equal(httpd_cache_get(c, "/", 1, 0, TTL + 1, TTL, &g), HTTPD_CACHE_REFRESH);
    assert_non_null(g);
    assert_memory_equal(g->body, "early", 5);
    httpd_cache_entry_unref(&g);
    /* ... while others are served the old bytes of the same stamp, without waiting. */
    assert_int_equal(httpd_cache_get(c, "/", 1, 0, TTL + 2, TTL, &g), HTTPD_CACHE_HIT);
    assert_memory_equal(g->body, "early", 5);
    httpd_cache_entry_unref(&g);
    assert_int_equal(
        httpd_cache_put(c, "/", 1, 0, 1, TTL + 3, 200, "text/plain", strdup("later"), 5, &e), 0);
    httpd_cache_entry_unref(&e);
    assert_int_equal(httpd_cache_get(c, "/", 1, 0, TTL + 4, TTL, &g), HTTPD_CACHE_HIT);
    assert_memory_equal(g->body, "later", 5);
    httpd_cache_entry_unref(&g);
    httpd_cache_destroy(&c);
}

/* A new soft stamp (the alerts moved): one caller computes, the others keep the old bytes. */
static void
test_soft_stamp(void **state)
{
    httpd_cache_t *c = httpd_cache_new(8, 1 << 20);
    const httpd_cache_entry_t *e, *g = NULL;

    (void)state;
    e = fill(c, "/alerts", 5, 1, 0, "alerts A");
    httpd_cache_entry_unref(&e);
    assert_int_equal(httpd_cache_get(c, "/alerts", 5, 0, SEC, TTL, &g), HTTPD_CACHE_HIT);
    httpd_cache_entry_unref(&g);
    assert_int_equal(httpd_cache_get(c, "/alerts", 5, 9, SEC, TTL, &g), HTTPD_CACHE_REFRESH);
    assert_memory_equal(g->body, "alerts A", 8);
    httpd_cache_entry_unref(&g);
    assert_int_equal(httpd_cache_get(c, "/alerts", 5, 9, SEC, TTL, &g), HTTPD_CACHE_HIT);
    assert_memory_equal(g->body, "alerts A", 8);
    httpd_cache_entry_unref(&g);
    assert_int_equal(httpd_cache_put(c, "/alerts", 5, 9, 1, 2 * SEC, 200, "text/html",
                                     strdup("alerts B"), 8, &e),
                     0);
    httpd_cache_entry_unref(&e);
    assert_int_equal(httpd_cache_get(c, "/alerts", 5, 9, 3 * SEC, TTL, &g), HTTPD_CACHE_HIT);
    assert_memory_equal(g->body, "alerts B", 8);
    httpd_cache_entry_unref(&g);
    /* The hard stamp still rules: another one is never served the old bytes. */
    assert_int_equal(httpd_cache_get(c, "/alerts", 6, 9, 3 * SEC, TTL, &g), HTTPD_CACHE_MISS);
    assert_null(g);
    httpd_cache_abandon(c, "/alerts", 6);
    httpd_cache_destroy(&c);
}

static void
test_bounds(void **state)
{
    httpd_cache_t *c = httpd_cache_new(4, 100);
    const httpd_cache_entry_t *e, *g = NULL;
    httpd_cache_stats_t st;
    char key[16], body[41];

    (void)state;
    memset(body, 'x', 40);
    body[40] = '\0';
    /* Entry bound: 10 keys of 10 bytes, at most 4 kept, the least recently used go. */
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "/k%d", i);
        e = fill(c, key, 1, 1, 0, "0123456789");
        httpd_cache_entry_unref(&e);
        /* /k0 is used again and again: it stays. */
        assert_int_equal(httpd_cache_get(c, "/k0", 1, 0, 0, TTL, &g), HTTPD_CACHE_HIT);
        httpd_cache_entry_unref(&g);
        httpd_cache_stats(c, &st);
        assert_true(st.entries <= 4);
        assert_true(st.bytes <= 100);
    }
    assert_int_equal(httpd_cache_get(c, "/k9", 1, 0, 0, TTL, &g), HTTPD_CACHE_HIT);
    httpd_cache_entry_unref(&g);
    assert_int_equal(httpd_cache_get(c, "/k1", 1, 0, 0, TTL, &g), HTTPD_CACHE_MISS);
    httpd_cache_abandon(c, "/k1", 1);
    /* Byte bound: three bodies of 40 bytes do not fit in 100. */
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "/b%d", i);
        e = fill(c, key, 1, 1, 0, body);
        httpd_cache_entry_unref(&e);
        httpd_cache_stats(c, &st);
        assert_true(st.bytes <= 100);
    }
    httpd_cache_stats(c, &st);
    assert_true(st.evictions > 0);
    /* A body over half the budget is served to its caller but not kept. */
    {
        char *big = malloc(60);
        assert_non_null(big);
        memset(big, 'y', 60);
        assert_int_equal(httpd_cache_get(c, "/big", 1, 0, 0, TTL, &g), HTTPD_CACHE_MISS);
        assert_int_equal(httpd_cache_put(c, "/big", 1, 0, 1, 0, 200, "text/plain", big, 60, &e), 0);
        assert_int_equal(e->len, 60);
        httpd_cache_entry_unref(&e);
        assert_int_equal(httpd_cache_get(c, "/big", 1, 0, 0, TTL, &g), HTTPD_CACHE_MISS);
        httpd_cache_abandon(c, "/big", 1);
    }
    httpd_cache_destroy(&c);
}

/* Threads asking for one key at once: one computes, the others wait and get its bytes. */
typedef struct {
    httpd_cache_t *c;
    pthread_mutex_t lock;
    int computed;
    const httpd_cache_entry_t *got[8];
} flight_t;

typedef struct {
    flight_t *f;
    int i;
} flight_arg_t;

static void *
flight_main(void *p)
{
    flight_arg_t *a = p;
    flight_t *f = a->f;
    const httpd_cache_entry_t *e = NULL;

    if (httpd_cache_get(f->c, "/", 7, 0, 0, TTL, &e) == HTTPD_CACHE_MISS) {
        pthread_mutex_lock(&f->lock);
        f->computed++;
        pthread_mutex_unlock(&f->lock);
        usleep(100 * 1000); /* a slow page: the others arrive meanwhile */
        if (httpd_cache_put(f->c, "/", 7, 0, 1, 0, 200, "text/html", strdup("slow page"), 9, &e) <
            0)
            e = NULL;
    }
    f->got[a->i] = e;
    return NULL;
}

static void
test_single_flight(void **state)
{
    flight_t f = {.c = httpd_cache_new(8, 1 << 20)};
    flight_arg_t args[8];
    pthread_t t[8];
    httpd_cache_stats_t st;

    (void)state;
    pthread_mutex_init(&f.lock, NULL);
    for (int i = 0; i < 8; i++) {
        args[i] = (flight_arg_t){&f, i};
        assert_int_equal(pthread_create(&t[i], NULL, flight_main, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(f.computed, 1);
    for (int i = 0; i < 8; i++) {
        assert_non_null(f.got[i]);
        assert_ptr_equal(f.got[i], f.got[0]);
    }
    for (int i = 0; i < 8; i++)
        httpd_cache_entry_unref(&f.got[i]);
    httpd_cache_stats(f.c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 7);
    pthread_mutex_destroy(&f.lock);
    httpd_cache_destroy(&f.c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_same_bytes),
        cmocka_unit_test(test_stamp_and_generation),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_soft_stamp),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_single_flight),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * agg: the state the aggregator's threads share, and the only code that
 * touches its configuration pointer, so that every access holds the lock.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"

/*
 * The configuration and its reference count in one allocation, so that a
 * reader holds a plain `const psy_agg_conf_t *` and gives it back by the
 * same pointer.
 */
struct agg_conf_ref {
    atomic_size_t refs;
    psy_agg_conf_t *conf;
};

/* Readers find their reference from the configuration's address: it is kept just before it. */
typedef struct {
    agg_conf_ref_t ref;
    psy_agg_conf_t conf;
} agg_conf_box_t;

static agg_conf_box_t *
agg_box_of(const psy_agg_conf_t *c)
{
    return (agg_conf_box_t *)((char *)(uintptr_t)c - offsetof(agg_conf_box_t, conf));
}

/* Moves conf into a box with one reference. */
static agg_conf_ref_t *
agg_box_new(psy_agg_conf_t *conf)
{
    agg_conf_box_t *b = malloc(sizeof(*b));

    if (!b)
        return NULL;
    memcpy(&b->conf, conf, sizeof(*conf));
    free(conf);
    atomic_init(&b->ref.refs, 1);
    b->ref.conf = &b->conf;
    return &b->ref;
}

int
agg_init(agg_t *agg, psy_agg_conf_t *conf, const char *conf_path)
{
    int r;

    if (!agg || !conf)
        return -EINVAL;
    memset(agg, 0, sizeof *agg);
    r = pthread_mutex_init(&agg->lock, NULL);
    if (r != 0)
        return -r;
    agg->conf_ref = agg_box_new(conf);
    if (!agg->conf_ref) {
        pthread_mutex_destroy(&agg->lock);
        return -ENOMEM;
    }
    agg->conf = agg->conf_ref->conf;
    if (conf_path)
        snprintf(agg->conf_path, sizeof agg->conf_path, "%s", conf_path);
    atomic_init(&agg->ready, false);
    atomic_init(&agg->generation, 0);
    return 0;
}

void
agg_fini(agg_t *agg)
{
    if (!agg)
        return;
    agg_conf_put(&agg->conf);
    agg->conf_ref = NULL;
    pthread_mutex_destroy(&agg->lock);
}

const psy_agg_conf_t *
agg_conf_get(agg_t *agg)
{
    const psy_agg_conf_t *c;

    pthread_mutex_lock(&agg->lock);
    atomic_fetch_add(&agg->conf_ref->refs, 1);
    c = agg->conf_ref->conf;
    pthread_mutex_unlock(&agg->lock);
    return c;
}

const psy_agg_conf_t *
agg_conf_ref(const psy_agg_conf_t *c)
{
    if (c)
        atomic_fetch_add(&agg_box_of(c)->ref.refs, 1);
    return c;
}

void
agg_conf_put(const psy_agg_conf_t **c)
{
    if (!c || !*c)
        return;
    agg_conf_box_t *b = agg_box_of(*c);
    if (atomic_fetch_sub(&b->ref.refs, 1) == 1)
        free(b);
    *c = NULL;
}

void
agg_conf_replace(agg_t *agg, psy_agg_conf_t *conf)
{
    agg_conf_ref_t *n = agg_box_new(conf);
    const psy_agg_conf_t *old;

    if (!n) {
        free(conf); /* out of memory: the running configuration stays */
        return;
    }
    pthread_mutex_lock(&agg->lock);
    old = agg->conf;
    agg->conf_ref = n;
    agg->conf = n->conf;
    pthread_mutex_unlock(&agg->lock);
    agg_conf_put(&old);
}

void
agg_data_changed(agg_t *agg)
{
    atomic_fetch_add(&agg->generation, 1);
    if (agg->on_change)
        agg->on_change(agg->on_change_ctx);
}

bool
agg_key_allowed(agg_t *agg, const char *center, const char *key)
{
    const psy_center_conf_t *c;
    bool ok = false;

    pthread_mutex_lock(&agg->lock);
    c = psy_agg_conf_center(agg->conf, center);
    for (size_t i = 0; c && i < c->nkeys && i < 2; i++)
        if (strcmp(c->keys[i], key) == 0)
            ok = true;
    pthread_mutex_unlock(&agg->lock);
    return ok;
}

bool
agg_center_by_key(agg_t *agg, const char *key, char ret[PSY_CENTER_MAX + 1])
{
    const psy_center_conf_t *c;
    bool ok = false;

    pthread_mutex_lock(&agg->lock);
    c = psy_agg_conf_center_by_key(agg->conf, key);
    if (c) {
        snprintf(ret, PSY_CENTER_MAX + 1, "%s", c->id);
        ok = true;
    }
    pthread_mutex_unlock(&agg->lock);
    return ok;
}

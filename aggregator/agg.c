/*
 * agg: the state the aggregator's threads share, and the only code that
 * touches its configuration pointer, so that every access holds the lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"

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
    agg->conf = conf;
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
    free(agg->conf);
    agg->conf = NULL;
    pthread_mutex_destroy(&agg->lock);
}

void
agg_conf_snapshot(agg_t *agg, psy_agg_conf_t *ret)
{
    pthread_mutex_lock(&agg->lock);
    memcpy(ret, agg->conf, sizeof *ret);
    pthread_mutex_unlock(&agg->lock);
}

void
agg_conf_replace(agg_t *agg, psy_agg_conf_t *conf)
{
    psy_agg_conf_t *old;

    pthread_mutex_lock(&agg->lock);
    old = agg->conf;
    agg->conf = conf;
    pthread_mutex_unlock(&agg->lock);
    free(old);
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

/*
 * notify: outbox delivery and Alertmanager sync (notify.h).
 *
 * HTTP goes through libcurl (Debian's libcurl4-openssl-dev): timeouts,
 * redirects refused, proxies from the environment, TLS for https
 * receivers; a hand-written HTTP client would get these wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alert_store.h"
#include "notify.h"
#include "psymon/log.h"
#include "psymon/psymon.h"

extern char **environ;

struct notify {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, woken;
    alert_store_t *store;
    /* Under lock: what the configuration says. */
    size_t nam;
    char am[PSY_NOTIFY_MAX][PSY_URL_MAX + 1];
    char external_url[PSY_URL_MAX + 1];
    atomic_uint_fast64_t sent[NOTIFY_CHANNELS], failed[NOTIFY_CHANNELS];
};

static size_t
discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* POSTs body as JSON to url; 0 on a 2xx answer. */
static int
http_post(const char *url, const char *body, char *err, size_t err_size)
{
    struct curl_slist *h = NULL;
    long code = 0;
    CURLcode rc;
    CURL *c = curl_easy_init();

    if (!c) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)NOTIFY_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)NOTIFY_HTTP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "psymon/" PSYMON_VERSION);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(err, err_size, "%s", curl_easy_strerror(rc));
        return -EIO;
    }
    if (code < 200 || code > 299) {
        snprintf(err, err_size, "HTTP %ld", code);
        return -EPROTO;
    }
    return 0;
}

static int
webhook_deliver(const char *target, const char *payload, char *err, size_t err_size)
{
    return http_post(target, payload, err, err_size);
}

static int
am_deliver(const char *target, const char *payload, char *err, size_t err_size)
{
    char url[PSY_URL_MAX + 32];
    size_t len = strlen(target);

    snprintf(url, sizeof url, "%.*s/api/v2/alerts",
             (int)(len && target[len - 1] == '/' ? len - 1 : len), target);
    return http_post(url, payload, err, err_size);
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs target with payload on its standard input; exit 0 within the timeout is delivery. */
static int
exec_deliver(const char *target, const char *payload, char *err, size_t err_size)
{
    posix_spawn_file_actions_t fa;
    char *argv[] = {(char *)target, NULL};
    int fds[2], status = 0, r;
    size_t len = strlen(payload), off = 0;
    int64_t deadline = mono_ms() + NOTIFY_EXEC_TIMEOUT_MS;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        return -errno;
    }
    /*
     * The program starts as from a shell: no signal blocked (the aggregator
     * blocks SIGTERM, SIGINT and SIGHUP in every thread for its signalfd)
     * and SIGPIPE back to its default (the aggregator ignores it).
     */
    posix_spawnattr_t at;
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGHUP);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dflt);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    r = posix_spawn(&pid, target, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[0]);
    if (r != 0) {
        close(fds[1]);
        snprintf(err, err_size, "cannot run %s: %s", target, strerror(r));
        return -r;
    }
    /*
     * The program may not read at all: write without blocking, within the
     * deadline. One that exits or closes its input first gives EPIPE, and
     * with it a SIGPIPE to this thread, which would end a process that does
     * not ignore it (the aggregator does; a test or another caller may not):
     * it is blocked while writing and taken back if the write raised it.
     */
    sigset_t pipe_sig, old_mask, pending;
    bool epipe = false, was_pending;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_sig, &old_mask);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    while (off < len && mono_ms() < deadline) {
        struct pollfd p = {.fd = fds[1], .events = POLLOUT};
        ssize_t w;
        if (poll(&p, 1, 100) <= 0)
            continue;
        w = write(fds[1], payload + off, len - off);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            epipe = errno == EPIPE;
            break; /* it closed its input: its exit status decides */
        }
        if (w > 0)
            off += (size_t)w;
    }
    if (epipe && !was_pending) {
        const struct timespec now = {0, 0};
        while (sigtimedwait(&pipe_sig, NULL, &now) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    close(fds[1]);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(err, err_size, "waitpid: %s", strerror(errno));
            return -ECHILD;
        }
        if (mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(err, err_size, "%s did not exit within %d s", target,
                     NOTIFY_EXEC_TIMEOUT_MS / 1000);
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, err_size, "%s exited with %d", target,
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return -EPROTO;
    }
    return 0;
}

static const notify_channel_t channels[NOTIFY_CHANNELS] = {
    {"webhook", webhook_deliver},
    {"alertmanager", am_deliver},
    {"exec", exec_deliver},
};

const notify_channel_t *
notify_channel(const char *name)
{
    for (size_t i = 0; i < NOTIFY_CHANNELS; i++)
        if (strcmp(channels[i].name, name) == 0)
            return &channels[i];
    return NULL;
}

static size_t
channel_index(const notify_channel_t *c)
{
    return (size_t)(c - channels);
}

psy_time_t
notify_retry_at(psy_time_t created_at, int attempts, psy_time_t now)
{
    int64_t delay = NOTIFY_RETRY_FIRST_S;

    if (now - created_at >= NOTIFY_GIVE_UP)
        return PSY_TIME_NONE;
    for (int k = 0; k < attempts && delay < NOTIFY_RETRY_MAX_S; k++)
        delay *= 2;
    return now + (delay < NOTIFY_RETRY_MAX_S ? delay : NOTIFY_RETRY_MAX_S) * PSY_USEC;
}

/* One round over the due outbox rows. */
static void
deliver_due(notify_t *n)
{
    alert_outbox_t *rows = NULL;
    size_t nrows = 0;
    psy_time_t now = psy_time_now();
    int r = alert_store_outbox_due(n->store, now, NOTIFY_BATCH, &rows, &nrows);

    if (r < 0) {
        psy_err("alerts: cannot read the outbox: %s", strerror(-r));
        return;
    }
    for (size_t i = 0; i < nrows; i++) {
        alert_outbox_t *o = &rows[i];
        const notify_channel_t *c = notify_channel(o->channel);
        char err[256] = "unknown channel";

        r = c ? c->deliver(o->target, o->payload, err, sizeof err) : -EINVAL;
        now = psy_time_now();
        if (r == 0) {
            atomic_fetch_add(&n->sent[channel_index(c)], 1);
            r = alert_store_outbox_done(n->store, o->id, now);
            if (r < 0)
                psy_err("alerts: notification %lld delivered but not marked (it may be sent "
                        "again): %s",
                        (long long)o->id, strerror(-r));
            continue;
        }
        if (c)
            atomic_fetch_add(&n->failed[channel_index(c)], 1);
        psy_time_t next = c ? notify_retry_at(o->created_at, o->attempts, now) : PSY_TIME_NONE;
        if (next == PSY_TIME_NONE) {
            psy_err("alerts: giving up the %s notice of alert %s to %s %s after %d attempts: %s",
                    o->status, o->fingerprint, o->channel, o->target, o->attempts + 1, err);
            alert_store_outbox_give_up(n->store, o->id, now, err);
        } else {
            psy_warn("alerts: %s %s: %s; trying again in %lld s", o->channel, o->target, err,
                     (long long)((next - now) / PSY_USEC));
            alert_store_outbox_retry(n->store, o->id, next, err);
        }
    }
    alert_outbox_free(rows, nrows);
}

/* Tells every Alertmanager what fires now and what resolved lately. */
static void
am_sync(notify_t *n)
{
    char am[PSY_NOTIFY_MAX][PSY_URL_MAX + 1], ext[PSY_URL_MAX + 1];
    alert_t *alerts = NULL;
    size_t nam, nalerts = 0, count = 0;
    char *body;
    int r;

    pthread_mutex_lock(&n->lock);
    nam = n->nam;
    memcpy(am, n->am, sizeof am);
    memcpy(ext, n->external_url, sizeof ext);
    pthread_mutex_unlock(&n->lock);
    if (nam == 0)
        return;
    r = alert_store_load(n->store, &alerts, &nalerts);
    if (r < 0) {
        psy_err("alerts: cannot read the alerts: %s", strerror(-r));
        return;
    }
    body = alert_am_payload(alerts, nalerts, psy_time_now(), ext, &count);
    free(alerts);
    if (!body || count == 0) {
        free(body);
        return;
    }
    for (size_t i = 0; i < nam; i++) {
        char err[256];
        if (am_deliver(am[i], body, err, sizeof err) == 0) {
            atomic_fetch_add(&n->sent[1], 1);
        } else {
            atomic_fetch_add(&n->failed[1], 1);
            psy_warn("alerts: Alertmanager %s: %s", am[i], err);
        }
    }
    free(body);
}

static void *
run(void *arg)
{
    notify_t *n = arg;
    int64_t last_am = 0;

    for (;;) {
        bool woken;
        pthread_mutex_lock(&n->lock);
        if (!n->stop && !n->woken) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&n->cond, &n->lock, &ts);
        }
        woken = n->woken;
        n->woken = false;
        if (n->stop) {
            pthread_mutex_unlock(&n->lock);
            break;
        }
        pthread_mutex_unlock(&n->lock);

        deliver_due(n);
        if (woken || mono_ms() - last_am >= NOTIFY_AM_RESEND_S * 1000) {
            am_sync(n);
            last_am = mono_ms();
        }
    }
    return NULL;
}

void
notify_reload(notify_t *n, const psy_agg_conf_t *conf)
{
    pthread_mutex_lock(&n->lock);
    n->nam = conf->notify.nalertmanager;
    for (size_t i = 0; i < n->nam && i < PSY_NOTIFY_MAX; i++)
        snprintf(n->am[i], sizeof n->am[i], "%s", conf->notify.alertmanager[i]);
    snprintf(n->external_url, sizeof n->external_url, "%s", conf->external_url);
    pthread_mutex_unlock(&n->lock);
}

notify_t *
notify_new(const char *data_dir, const psy_agg_conf_t *conf)
{
    notify_t *n = calloc(1, sizeof *n);
    int r;

    if (!n)
        return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(n);
        errno = ENOMEM;
        return NULL;
    }
    n->store = alert_store_new(data_dir);
    if (!n->store) {
        r = errno;
        free(n);
        errno = r;
        return NULL;
    }
    pthread_mutex_init(&n->lock, NULL);
    pthread_cond_init(&n->cond, NULL);
    notify_reload(n, conf);
    r = pthread_create(&n->thread, NULL, run, n);
    if (r != 0) {
        alert_store_destroy(&n->store);
        pthread_mutex_destroy(&n->lock);
        pthread_cond_destroy(&n->cond);
        free(n);
        errno = r;
        return NULL;
    }
    return n;
}

void
notify_destroy(notify_t **np)
{
    notify_t *n;

    if (!np || !*np)
        return;
    n = *np;
    pthread_mutex_lock(&n->lock);
    n->stop = true;
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->lock);
    pthread_join(n->thread, NULL);
    alert_store_destroy(&n->store);
    pthread_mutex_destroy(&n->lock);
    pthread_cond_destroy(&n->cond);
    free(n);
    *np = NULL;
}

void
notify_wake(notify_t *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    n->woken = true;
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->lock);
}

void
notify_stats(notify_t *n, alert_channel_stats_t ret[NOTIFY_CHANNELS])
{
    for (size_t i = 0; i < NOTIFY_CHANNELS; i++) {
        ret[i].channel = channels[i].name;
        ret[i].sent = n ? atomic_load(&n->sent[i]) : 0;
        ret[i].failed = n ? atomic_load(&n->failed[i]) : 0;
    }
}

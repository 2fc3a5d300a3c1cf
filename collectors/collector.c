/*
 * collector: the loop of psymon-collector. See collector.h.
 */
#include "collector.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "inbox.h"
#include "requeue.h"
#include "psymon/keys.h"
#include "psymon/log.h"
#include "psymon/time.h"
#include "sender.h"
#include "spool.h"

#define SCAN_INTERVAL     (2 * PSY_USEC)    /* inbox scan when idle */
#define CLEAN_INTERVAL    (3600 * PSY_USEC) /* done/ cleanup */
#define RESTART_RETRY     (60 * PSY_USEC)   /* starting afresh, after it failed */
#define REQUEUE_PENDING   "requeue-pending" /* in state_dir: done/ is being put back */
#define FULL_LOG_INTERVAL (300 * PSY_USEC)  /* "spool full" repeated at most this often */
#define DISK_RETRY        (10 * PSY_USEC)   /* a full disk: try the inbox again after this */
#define TRIM_AGAIN        (2 * PSY_USEC)    /* idle: memory given back once more after this */
#define POLL_MS           1000

struct collector {
    char conf_path[PSY_PATH_MAX];
    psy_coll_conf_t conf;
    uint8_t pseudo_key[PSY_PSEUDO_KEYLEN];
    char secret[41], public[41];

    void *zctx;
    spool_t *spool;
    inbox_t *inbox;
    sender_t *sender;

    bool spool_full;
    psy_time_t full_logged;
    bool disk_full;            /* the last spool write failed with ENOSPC or EDQUOT */
    psy_time_t disk_retry;     /* when to try taking inbox files again */
    psy_time_t disk_logged;    /* "disk full" repeated at most every FULL_LOG_INTERVAL */
    psy_time_t restart_failed; /* when starting afresh last failed; 0 when it did not */
};

/* Loads both key files of conf, logging a clear reason on failure. */
static int
load_keys(const psy_coll_conf_t *conf, uint8_t ret_pseudo[PSY_PSEUDO_KEYLEN], char ret_secret[41],
          char ret_public[41])
{
    char secret[41], public[41];
    uint8_t pseudo[PSY_PSEUDO_KEYLEN];
    int r = psy_keys_load_curve(conf->secret_key_file, secret, public);
    if (r < 0) {
        if (r == -EPERM)
            psy_err("%s: key file is readable by others; refusing to use it (chmod 600)",
                    conf->secret_key_file);
        else
            psy_err("%s: cannot load the CURVE secret key: %s", conf->secret_key_file,
                    r == -EINVAL ? "the file does not hold a key" : strerror(-r));
        return r;
    }
    r = psy_keys_load_pseudonym(conf->pseudonym_key_file, pseudo);
    if (r < 0) {
        if (r == -EPERM)
            psy_err("%s: key file is readable by others; refusing to use it (chmod 600)",
                    conf->pseudonym_key_file);
        else
            psy_err("%s: cannot load the pseudonym key: %s", conf->pseudonym_key_file,
                    r == -EINVAL ? "the file does not hold 64 hex digits" : strerror(-r));
        sodium_memzero(secret, sizeof secret);
        return r;
    }
    memcpy(ret_pseudo, pseudo, sizeof pseudo);
    memcpy(ret_secret, secret, sizeof secret);
    memcpy(ret_public, public, sizeof public);
    sodium_memzero(pseudo, sizeof pseudo);
    sodium_memzero(secret, sizeof secret);
    return 0;
}

static sender_t *
make_sender(void *zctx, const psy_coll_conf_t *conf, const char secret[41], const char public[41])
{
    sender_conf_t sc = {0};
    snprintf(sc.endpoint, sizeof sc.endpoint, "%s", conf->aggregator);
    memcpy(sc.server_key, conf->aggregator_public_key, 41);
    memcpy(sc.secret_key, secret, 41);
    memcpy(sc.public_key, public, 41);
    sender_t *s = sender_new(zctx, &sc);
    int e = errno;
    sodium_memzero(&sc, sizeof sc);
    if (!s)
        psy_err("cannot set up the connection to %s: %s", conf->aggregator, zmq_strerror(e));
    errno = e;
    return s;
}

static int after_damage(collector_t *c);
static void pending_path(const collector_t *c, char *buf, size_t size);
static void requeue_done(collector_t *c);

/*
 * Opens the spool and tells the operator what recovery found. `reopen`:
 * after a write failed on a full disk, when what is cut is the group that
 * failed, not damage.
 */
static spool_t *
open_spool(const char *state_dir, bool reopen, bool quiet, bool *ret_lost)
{
    spool_recovery_t info;
    spool_t *s = spool_open(state_dir, &info);
    *ret_lost = false;
    if (!s) {
        psy_err("%s: cannot open the spool: %s", state_dir,
                errno == EXDEV ? "it holds segments of another epoch, or lost its epoch file"
                               : strerror(errno));
        return NULL;
    }
    char hex[2 * PSY_EPOCH_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, spool_epoch(s), PSY_EPOCH_LEN);
    if (info.created)
        psy_notice("%s: new spool, epoch %s", state_dir, hex);
    if (info.new_epoch) {
        char old[2 * PSY_EPOCH_LEN + 1];
        sodium_bin2hex(old, sizeof old, info.old_epoch, PSY_EPOCH_LEN);
        if (info.gap_records > 0)
            psy_err("%s: %" PRIu64 " unacknowledged records of epoch %s were lost to damage in "
                    "the middle of the spool",
                    state_dir, info.gap_records, old);
        else
            psy_err("%s: damage in the spool cut committed records of epoch %s (%" PRIu64
                    " of them stored at the aggregator)",
                    state_dir, old, info.acked_cut);
        *ret_lost = true;
    }
    if (info.cut_bytes > 0 && reopen && !quiet)
        psy_notice("%s: cut the %" PRIu64 " bytes of the group that failed; its records are "
                   "read from the inbox again",
                   state_dir, info.cut_bytes);
    else if (info.cut_bytes > 0 && !reopen)
        psy_warn("%s: cut %" PRIu64 " bytes of torn or damaged spool data in %u segment(s)",
                 state_dir, info.cut_bytes, info.cut_segments);
    if (!quiet)
        psy_info("spool: epoch %s, last sequence %" PRIu64 ", acknowledged %" PRIu64 ", %" PRIu64
                 " bytes",
                 hex, spool_last_seq(s), spool_acked(s), spool_bytes(s));
    return s;
}

collector_t *
collector_new(const char *conf_path, const psy_coll_conf_t *conf)
{
    collector_t *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    int e = 0;
    snprintf(c->conf_path, sizeof c->conf_path, "%s", conf_path);
    c->conf = *conf;
    int r = load_keys(conf, c->pseudo_key, c->secret, c->public);
    if (r < 0) {
        e = -r;
        goto fail;
    }
    if (mkdir(conf->state_dir, 0700) < 0 && errno != EEXIST) {
        e = errno;
        psy_err("%s: cannot create the state folder: %s", conf->state_dir, strerror(e));
        goto fail;
    }
    bool lost;
    c->spool = open_spool(conf->state_dir, false, false, &lost);
    if (!c->spool) {
        e = errno;
        goto fail;
    }
    c->inbox = inbox_new(conf->inbox, conf->state_dir, conf->done_days, c->pseudo_key);
    if (!c->inbox) {
        e = errno;
        psy_err("%s: cannot set up done/ and rejected.ndjson: %s", conf->state_dir, strerror(e));
        goto fail;
    }
    c->zctx = zmq_ctx_new();
    if (!c->zctx) {
        e = errno;
        psy_err("cannot create a ZeroMQ context: %s", zmq_strerror(e));
        goto fail;
    }
    c->sender = make_sender(c->zctx, conf, c->secret, c->public);
    if (!c->sender) {
        e = errno;
        goto fail;
    }
    if (lost && after_damage(c) < 0) {
        e = EIO;
        goto fail;
    }
    char pending[PSY_PATH_MAX + 32];
    pending_path(c, pending, sizeof pending);
    if (access(pending, F_OK) == 0) {
        psy_notice("%s: finishing putting done/ back into the inbox, which a stop interrupted",
                   conf->state_dir);
        requeue_done(c);
    }
    return c;
fail:
    collector_destroy(&c);
    errno = e ? e : EIO;
    return NULL;
}

void
collector_destroy(collector_t **cp)
{
    if (!cp || !*cp)
        return;
    collector_t *c = *cp;
    sender_destroy(&c->sender);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    inbox_destroy(&c->inbox);
    spool_destroy(&c->spool);
    sodium_memzero(c->pseudo_key, sizeof c->pseudo_key);
    sodium_memzero(c->secret, sizeof c->secret);
    free(c);
    *cp = NULL;
}

/*
 * Re-reads the configuration file. Anything wrong with it leaves the
 * running configuration untouched. The state folder cannot move under a
 * running spool; a change of it waits for a restart.
 */
static void
reload(collector_t *c)
{
    psy_coll_conf_t *n = malloc(sizeof *n);
    if (!n) {
        psy_err("reload: out of memory; keeping the old configuration");
        return;
    }
    char err[512];
    int r = psy_coll_conf_load(c->conf_path, n, err, sizeof err);
    if (r < 0) {
        psy_err("reload: %s; keeping the old configuration", err);
        free(n);
        return;
    }
    uint8_t pseudo[PSY_PSEUDO_KEYLEN];
    char secret[41], public[41];
    if (load_keys(n, pseudo, secret, public) < 0) {
        psy_err("reload: keeping the old configuration");
        free(n);
        return;
    }
    if (strcmp(n->state_dir, c->conf.state_dir) != 0) {
        psy_warn("reload: state_dir changed to %s; it takes effect at the next start",
                 n->state_dir);
        snprintf(n->state_dir, sizeof n->state_dir, "%s", c->conf.state_dir);
    }
    if (strcmp(n->aggregator, c->conf.aggregator) != 0 ||
        strcmp(n->aggregator_public_key, c->conf.aggregator_public_key) != 0 ||
        strcmp(secret, c->secret) != 0) {
        sender_t *s = make_sender(c->zctx, n, secret, public);
        if (!s) {
            psy_err("reload: keeping the old configuration");
            sodium_memzero(secret, sizeof secret);
            sodium_memzero(pseudo, sizeof pseudo);
            free(n);
            return;
        }
        sender_destroy(&c->sender);
        c->sender = s;
        sender_set_spool_full(s, c->spool_full);
        psy_notice("reload: connecting to %s", n->aggregator);
    }
    r = inbox_configure(c->inbox, n->inbox, n->done_days, pseudo);
    if (r < 0)
        psy_err("reload: inbox %s: %s", n->inbox, strerror(-r));
    memcpy(c->pseudo_key, pseudo, sizeof pseudo);
    memcpy(c->secret, secret, sizeof secret);
    memcpy(c->public, public, sizeof public);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(pseudo, sizeof pseudo);
    c->conf = *n;
    free(n);
    psy_notice("reload: configuration re-read from %s", c->conf_path);
}

/*
 * The spool failed (a write or fsync error, or damage found while
 * reading). Reopening it recovers the last committed state; the inbox
 * file being read is read again from its mark and the sender resends.
 */
static int
recover_spool(collector_t *c, int err, psy_time_t now)
{
    bool quiet = false, full = err == -ENOSPC || err == -EDQUOT;
    if (full) {
        /* Retried every DISK_RETRY; said loudly once, then every FULL_LOG_INTERVAL. */
        quiet = c->disk_logged != 0 && now - c->disk_logged < FULL_LOG_INTERVAL;
        if (!quiet) {
            psy_err("%s: disk full (%s) while writing the spool: not taking inbox files (they "
                    "wait in the inbox, nothing is lost); trying again every %d s",
                    c->conf.state_dir, strerror(-err), (int)(DISK_RETRY / PSY_USEC));
            c->disk_logged = now;
        }
    } else {
        psy_err("spool failed: %s; reopening it", strerror(-err));
    }
    spool_destroy(&c->spool);
    bool lost;
    c->spool = open_spool(c->conf.state_dir, full, quiet, &lost);
    if (!c->spool)
        return -EIO;
    inbox_reset(c->inbox);
    sender_reset(c->sender);
    if (lost && after_damage(c) < 0)
        return -EIO;
    return 0;
}

/* One file of done/ put back: a failure is logged, and the watchdog pinged. */
static void
requeue_progress(const requeue_file_t *f, void *userdata)
{
    (void)userdata;
    if (f->error < 0)
        psy_err("done/%s: cannot put it back into the inbox: %s: %s", f->name, f->what,
                strerror(-f->error));
    sd_notify(0, "WATCHDOG=1");
}

static void
pending_path(const collector_t *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s/" REQUEUE_PENDING, c->conf.state_dir);
}

/*
 * Puts every file of done/ back into the inbox, then removes the intent
 * file that restart_from_done() wrote before emptying the spool: a crash
 * in between leaves it, and the next start finishes the job (files put
 * back twice are read twice; the aggregator skips what it holds).
 */
static void
requeue_done(collector_t *c)
{
    char done[PSY_PATH_MAX + 8], pending[PSY_PATH_MAX + 32];
    snprintf(done, sizeof done, "%s/done", c->conf.state_dir);
    requeue_totals_t t = {0};
    int r = requeue_dir(done, c->conf.inbox, REQUEUE_SINCE_ALL, false, requeue_progress, NULL, &t);
    if (r < 0 || t.failed > 0)
        psy_err("%s: cannot put every file of done/ back into the inbox (%s); run psymon requeue",
                c->conf.state_dir, r < 0 ? strerror(-r) : "see the lines above");
    psy_notice("new spool epoch: reading the %zu files of done/ (%" PRIu64
               " bytes) again; the aggregator stores only what it lost",
               t.files, t.bytes);
    pending_path(c, pending, sizeof pending);
    if (unlink(pending) < 0 && errno != ENOENT)
        psy_warn("%s: cannot remove: %s", pending, strerror(errno));
}

/* Writes the intent file durably; 0 or -errno. */
static int
write_pending(const collector_t *c)
{
    char pending[PSY_PATH_MAX + 32];
    pending_path(c, pending, sizeof pending);
    int fd = open(pending, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    int dfd = open(c->conf.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r == 0 && dfd >= 0 && fsync(dfd) < 0)
        r = -errno;
    if (dfd >= 0)
        close(dfd);
    return r;
}

/*
 * The aggregator lost records this spool no longer holds (it was restored
 * from a backup), or holds numbers this spool gave again (the state folder
 * went back in time), or damage cost the spool records: sending what the
 * spool still holds would put newer records before the lost older ones, a
 * correction before what it corrects. So the collector starts an empty
 * epoch and reads every file of done/ again, in name order, and the file
 * it was reading from its start; the aggregator skips what it holds (the
 * same origin, or equal to the current version) and stores the rest in the
 * order it was first read. With done_days = 0 there is nothing to read
 * again, and the unacknowledged records are carried into the new epoch
 * instead. A restart that failed is tried again at most once a minute.
 */
static int
restart_from_done(collector_t *c, psy_time_t now)
{
    if (c->restart_failed != 0 && now - c->restart_failed < RESTART_RETRY)
        return 0;
    bool keep = c->conf.done_days == 0;
    if (!keep) {
        int w = write_pending(c);
        if (w < 0) {
            psy_err("%s: cannot write " REQUEUE_PENDING ": %s; keeping the spool's records instead "
                    "of reading done/ again",
                    c->conf.state_dir, strerror(-w));
            keep = true;
        }
    }
    int r = spool_restart(&c->spool, keep);
    if (r < 0) {
        c->restart_failed = now;
        if (!keep) { /* the old spool is intact: done/ must not be read again into it */
            char pending[PSY_PATH_MAX + 32];
            pending_path(c, pending, sizeof pending);
            unlink(pending);
        }
        return r; /* recover_spool() reopens the old spool */
    }
    c->restart_failed = 0;
    if (keep)
        psy_err("new spool epoch with the unacknowledged records the spool still held; what the "
                "aggregator lost beyond them %s",
                c->conf.done_days == 0 ? "cannot be read again (done_days = 0)"
                                       : "comes back only with psymon requeue");
    else
        requeue_done(c);
    inbox_reset(c->inbox);
    sender_reset(c->sender);
    return 0;
}

/*
 * Damage cost the spool records (spool_open() healed what it could under a
 * new epoch). The records after the damage are in it, but sending them
 * before the lost ones would store newer before older; with done/ kept,
 * the collector starts afresh from it instead, as after a restore.
 */
static int
after_damage(collector_t *c)
{
    if (c->conf.done_days == 0) {
        psy_err("done_days = 0: read files are not kept, so the records lost to damage cannot be "
                "read again; the records after them were kept in the new epoch");
        return 0;
    }
    int r = restart_from_done(c, psy_time_now());
    if (r == 0)
        return 0;
    psy_err("%s: cannot start afresh from done/: %s; going on with what the spool kept, run "
            "psymon requeue",
            c->conf.state_dir, strerror(-r));
    bool lost;
    spool_destroy(&c->spool);
    c->spool = open_spool(c->conf.state_dir, false, false, &lost);
    return c->spool ? 0 : -EIO;
}

/* Updates spool_full from the spool's size and the cap; logs changes (rate-limited). */
static void
check_full(collector_t *c, psy_time_t now)
{
    uint64_t cap = (uint64_t)c->conf.spool_max_mb * 1024 * 1024;
    uint64_t bytes = spool_bytes(c->spool);
    bool full = bytes >= cap;
    if (full && (!c->spool_full || now - c->full_logged >= FULL_LOG_INTERVAL)) {
        psy_warn("spool full (%" PRIu64 " bytes, cap spool_max_mb = %ld): not taking inbox "
                 "files until the aggregator acknowledges",
                 bytes, c->conf.spool_max_mb);
        c->full_logged = now;
    } else if (!full && c->spool_full) {
        psy_notice("spool below its cap again: taking inbox files");
    }
    c->spool_full = full;
    sender_set_spool_full(c->sender, full || c->disk_full);
}

/*
 * A full disk behaves like the spool cap: the group being written is cut
 * off by reopening the spool (its file stays in the inbox, and is re-read
 * from its mark), and no inbox file is taken until DISK_RETRY has passed.
 * Heartbeats report spool_full meanwhile.
 */
static void
note_spool_error(collector_t *c, int err, psy_time_t now)
{
    if (err != -ENOSPC && err != -EDQUOT)
        return;
    c->disk_full = true;
    c->disk_retry = now + DISK_RETRY;
    sender_set_spool_full(c->sender, true);
}

int
collector_run(collector_t *c, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload_flag)
{
    uint64_t wd_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
    psy_time_t next_scan = 0, next_clean = 0, next_wd = 0, trim_again = 0;
    bool busy = false, was_active = false;
    int ret = 0;

    sd_notify(0, "READY=1");
    psy_notice("running: inbox %s, state %s, aggregator %s", c->conf.inbox, c->conf.state_dir,
               c->conf.aggregator);
    while (!*stop) {
        psy_time_t now = psy_time_now();
        if (*reload_flag) {
            *reload_flag = 0;
            reload(c);
            next_scan = 0;
        }

        check_full(c, now);
        busy = false;
        bool disk_wait = c->disk_full && now < c->disk_retry;
        if (!c->spool_full && !disk_wait && now >= next_scan) {
            int r = inbox_step(c->inbox, c->spool, now, INBOX_GROUP);
            if (r < 0) {
                note_spool_error(c, r, now);
                if ((ret = recover_spool(c, r, now)) < 0)
                    break;
            } else if (c->disk_full) {
                c->disk_full = false;
                c->disk_logged = 0;
                psy_notice("%s: the spool can be written again: taking inbox files",
                           c->conf.state_dir);
            }
            if (r == 1) {
                busy = true;
                sender_set_inbox_read(c->sender, now);
            } else {
                next_scan = now + SCAN_INTERVAL;
            }
        }

        int r = sender_tick(c->sender, c->spool, now);
        if (r < 0)
            note_spool_error(c, r, now);
        if (r < 0 && (ret = recover_spool(c, r, now)) < 0)
            break;

        /*
         * Work done (the inbox ran dry and the sender caught up or lost its
         * aggregator): give the buffers back, so an idle collector stays
         * small for the years it waits.
         */
        bool active = busy || sender_holds_records(c->sender);
        if (was_active && !active) {
            spool_shrink(c->spool);
            malloc_trim(0);
            /* libzmq frees the last batches once its I/O thread has sent them. */
            trim_again = now + TRIM_AGAIN;
        }
        if (!active && trim_again && now >= trim_again) {
            malloc_trim(0);
            trim_again = 0;
        }
        was_active = active;

        /* A file leaves done/ only once everything spooled is acknowledged: until then it may be
         * read again. */
        if (now >= next_clean && spool_acked(c->spool) == spool_last_seq(c->spool)) {
            int n = inbox_clean_done(c->inbox, now);
            if (n > 0)
                psy_info("done/: deleted %d file(s) older than %d days", n, c->conf.done_days);
            else if (n < 0)
                psy_warn("done/: cannot clean: %s", strerror(-n));
            next_clean = now + CLEAN_INTERVAL;
        }

        if (watchdog && now >= next_wd) {
            sd_notify(0, "WATCHDOG=1");
            next_wd = now + (psy_time_t)wd_usec / 2;
        }

        zmq_pollitem_t item = {.socket = sender_socket(c->sender), .events = ZMQ_POLLIN};
        int n = zmq_poll(&item, 1, busy ? 0 : POLL_MS);
        if (n < 0 && errno != EINTR) {
            psy_err("poll failed: %s", zmq_strerror(errno));
            ret = -errno;
            break;
        }
        if (n > 0 && (item.revents & ZMQ_POLLIN)) {
            r = sender_on_readable(c->sender, c->spool);
            if (r == -ESTALE)
                r = restart_from_done(c, now);
            if (r < 0)
                note_spool_error(c, r, now);
            if (r < 0 && (ret = recover_spool(c, r, now)) < 0)
                break;
        }
        if (busy)
            next_scan = 0; /* keep reading the current file next turn */
    }
    sd_notify(0, "STOPPING=1");
    if (ret == 0)
        psy_notice("stopped: last sequence %" PRIu64 ", acknowledged %" PRIu64,
                   spool_last_seq(c->spool), spool_acked(c->spool));
    return ret;
}

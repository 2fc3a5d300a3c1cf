/*
 * The collector loop meeting a full disk (issue 3): "near the cap, the
 * collector stops taking new inbox files (they wait in the inbox, nothing
 * lost) and says so loudly in its log and heartbeat. A full disk behaves
 * the same."
 *
 * The real loop (collector_new, collector_run, collector_destroy) runs in
 * this thread against a real state folder and inbox. Link-time wraps
 * (tests/collector.cmake) give it a full disk and a fast clock:
 *
 *   write, fsync, fdatasync
 *                  fail with ENOSPC (or EDQUOT) on regular files of the
 *                  state folder while the test says the disk is full;
 *   psy_time_now   a fake clock, one second further at every turn, so that
 *                  DISK_RETRY passes without sleeping;
 *   zmq_poll       called once per turn by the loop: the test's hook. It
 *                  reads what reached the test's aggregator, moves the
 *                  scenario on, advances the clock, and stops the loop;
 *   psy_log        every log line, kept with the fake time it was logged at;
 *   sender_set_spool_full
 *                  the flag the loop hands the sender, turn by turn.
 *
 * The aggregator is a CURVE ROUTER in this process with the aggregator's
 * key pair and no ZAP handler (libzmq then lets every client key in); it
 * never acknowledges, so the spool keeps every record for the final check.
 * Heartbeats are decoded with psy_codec_decode and their spool_full and
 * last_seq checked against the disk's state at their clock.
 *
 * Every scenario checks: while full, the waiting files stay in the inbox
 * and nothing more reaches done/; the loop keeps turning but touches the
 * disk only every DISK_RETRY; heartbeats say spool_full and count only
 * committed records; the error is logged once; after the disk frees, the
 * notice "can be written again" is logged, every file is in done/ and the
 * spool, read back after collector_destroy, holds every record exactly
 * once and in order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "collector.h"
#include "inbox.h"
#include "psymon/codec.h"
#include "psymon/keys.h"
#include "psymon/log.h"
#include "psymon/time.h"
#include "sender.h"
#include "spool.h"

#define DISK_RETRY_S 10   /* collectors/collector.c: DISK_RETRY */
#define LOG_REPEAT_S 300  /* collectors/collector.c: FULL_LOG_INTERVAL */
#define FULL_SPAN_S  45   /* fake seconds the disk stays full after the first failure */
#define MAX_TURNS    5000 /* a bound, so a broken loop fails the test instead of hanging it */
#define REAL_POLL_MS 5    /* real wait per turn, so libzmq's I/O thread gets to connect */
#define HB_MAX       2048
#define LOG_MAX      4096
#define FAULT_MAX    256
#define FILES_MAX    4

/* ---- the full disk: write and fsync ---- */

enum { FAULT_WRITE, FAULT_FSYNC };

static struct {
    char state[PSY_PATH_MAX + 1]; /* realpath of the state folder, with a trailing '/' */
    char segdir[PSY_PATH_MAX + 8];
    int kind;
    int err; /* ENOSPC or EDQUOT */
    bool on;
    int arm_after;  /* > 0: the disk fills after this many more successful segment fsyncs */
    int arm_writes; /* > 0: the disk fills after this many more successful segment writes */
    psy_time_t at[FAULT_MAX]; /* the fake time of every failed operation */
    size_t n;
    size_t other; /* of them, on files of the state folder other than spool segments */
} disk;

static psy_time_t fake_now;

ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

/* 1: a segment of the spool, 2: another regular file of the state folder, 0: anything else. */
static int
classify(int fd)
{
    char link[64], path[PSY_PATH_MAX + 1];
    struct stat st;

    if (!disk.state[0] || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    if (strncmp(path, disk.segdir, strlen(disk.segdir)) == 0)
        return 1;
    return strncmp(path, disk.state, strlen(disk.state)) == 0 ? 2 : 0;
}

static bool
fault(int fd, int kind)
{
    if (!disk.on || disk.kind != kind)
        return false;
    int c = classify(fd);
    if (c == 0)
        return false;
    if (disk.n < FAULT_MAX)
        disk.at[disk.n++] = fake_now;
    disk.other += c == 2;
    errno = disk.err;
    return true;
}

ssize_t
__wrap_write(int fd, const void *buf, size_t len)
{
    if (fault(fd, FAULT_WRITE))
        return -1;
    ssize_t r = __real_write(fd, buf, len);
    if (r >= 0 && disk.arm_writes > 0 && classify(fd) == 1 && --disk.arm_writes == 0)
        disk.on = true;
    return r;
}

int
__wrap_fsync(int fd)
{
    if (fault(fd, FAULT_FSYNC))
        return -1;
    int r = __real_fsync(fd);
    if (r == 0 && disk.arm_after > 0 && classify(fd) == 1 && --disk.arm_after == 0)
        disk.on = true;
    return r;
}

/* rejected.ndjson is synced with fdatasync: on a full disk it fails like fsync. */
int
__wrap_fdatasync(int fd)
{
    if (fault(fd, FAULT_FSYNC))
        return -1;
    return __real_fdatasync(fd);
}

/* ---- the clock and the log ---- */

psy_time_t __real_psy_time_now(void);
psy_time_t __wrap_psy_time_now(void);

psy_time_t
__wrap_psy_time_now(void)
{
    return fake_now;
}

typedef struct {
    int level;
    psy_time_t at;
    char text[512];
} logline_t;

static logline_t logs[LOG_MAX];
static size_t nlogs;

void __wrap_psy_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void
__wrap_psy_log(int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (nlogs < LOG_MAX) {
        logs[nlogs].level = level;
        logs[nlogs].at = fake_now;
        snprintf(logs[nlogs].text, sizeof logs[nlogs].text, "%s", line);
        nlogs++;
    }
    if (level <= PSY_LOG_NOTICE)
        fprintf(stderr, "[log %d] %s\n", level, line);
}

/*
 * The spool_full flag the loop hands the sender, as it stands at the end
 * of each turn's own work: what any heartbeat of that turn reports.
 */
typedef struct {
    psy_time_t at;
    bool full;
} flag_t;

static flag_t flags[MAX_TURNS + 16];
static size_t nflags;

void __real_sender_set_spool_full(sender_t *s, bool full);
void __wrap_sender_set_spool_full(sender_t *s, bool full);

void
__wrap_sender_set_spool_full(sender_t *s, bool full)
{
    if (nflags > 0 && flags[nflags - 1].at == fake_now)
        flags[nflags - 1].full = full;
    else if (nflags < sizeof flags / sizeof flags[0])
        flags[nflags++] = (flag_t){.at = fake_now, .full = full};
    __real_sender_set_spool_full(s, full);
}

/* ---- a scenario and its run ---- */

typedef struct {
    const char *name; /* inbox file name */
    int first, count; /* records R-first .. R-(first + count - 1) */
    int reject_after; /* > 0: a record the reader rejects follows this many records */
} infile_t;

typedef struct {
    int kind;                  /* FAULT_WRITE or FAULT_FSYNC */
    int err;                   /* what they fail with */
    int arm_after;             /* successful segment fsyncs before the disk fills; 0: at once */
    int arm_writes;            /* or: successful segment writes before it fills */
    infile_t files[FILES_MAX]; /* in name order */
    size_t nfiles;
    /* While full: */
    uint64_t spooled_full;  /* records committed to the spool */
    uint64_t rejected_full; /* rejections committed with them */
    size_t waiting_full;    /* inbox files that must still be in the inbox */
    size_t done_full;       /* files already in done/ */
    bool rejects_hit_disk;  /* the full disk also fails rejected.ndjson */
} scenario_t;

typedef struct {
    psy_time_t clock;
    bool spool_full;
    uint64_t last_seq;
    uint64_t rejected;
} hb_t;

enum { PHASE_CONNECT, PHASE_FILLING, PHASE_FULL, PHASE_FREE, PHASE_STOPPED };

static struct {
    const scenario_t *sc;
    char dir[64], inbox[PSY_PATH_MAX], state[PSY_PATH_MAX];
    collector_t *c;
    void *zctx, *router;
    volatile sig_atomic_t stop, reload;
    int phase;
    long turns, turns_full;
    bool timed_out;
    psy_time_t t_free;
    hb_t hbs[HB_MAX];
    size_t nhbs;
    size_t bad_msgs;
    /* Snapshot at the end of the full phase. */
    size_t inbox_full, done_full;
} run;

static void
write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Writes an inbox file as an export would: under a hidden name, then renamed into place. */
static void
stage_file(const infile_t *f)
{
    size_t cap = (size_t)(f->count + 1) * 200, len = 0;
    char *text = malloc(cap);
    char tmp[PSY_PATH_MAX + 64], path[PSY_PATH_MAX + 64];

    assert_non_null(text);
    for (int i = 0; i < f->count; i++) {
        int n = snprintf(text + len, cap - len,
                         "{\"type\":\"admission\",\"id\":\"R-%d\",\"time\":\"2024-03-01T10:00:00"
                         "+01:00\",\"patient\":\"070465-1331\",\"mode\":\"acute\"}\n",
                         f->first + i);
        assert_true(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
        if (i + 1 == f->reject_after) { /* month 13 */
            n = snprintf(
                text + len, cap - len,
                "{\"type\":\"admission\",\"id\":\"BAD-%d\",\"time\":\"2024-13-01T00:00:00Z\","
                "\"patient\":\"070465-1331\",\"mode\":\"acute\"}\n",
                f->first + i);
            assert_true(n > 0 && (size_t)n < cap - len);
            len += (size_t)n;
        }
    }
    snprintf(tmp, sizeof tmp, "%s/.%s", run.inbox, f->name);
    snprintf(path, sizeof path, "%s/%s", run.inbox, f->name);
    write_text(tmp, text, len);
    assert_int_equal(rename(tmp, path), 0);
    free(text);
}

/* Data files (not hidden) in a folder. */
static size_t
count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static uint64_t
count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    uint64_t n = 0;
    int ch;

    if (!f)
        return 0;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static bool
file_in(const char *dir, const char *name)
{
    char path[3 * PSY_PATH_MAX];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Receives everything that reached the aggregator, keeping the heartbeats. */
static void
drain_router(void)
{
    for (;;) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, run.router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        bool more = zmq_msg_more(&id);
        zmq_msg_close(&id);
        if (!more) {
            run.bad_msgs++;
            continue;
        }
        zmq_msg_init(&body);
        if (zmq_msg_recv(&body, run.router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&body);
            run.bad_msgs++;
            return;
        }
        psy_msg_t m;
        if (psy_codec_decode(zmq_msg_data(&body), zmq_msg_size(&body), &m) < 0) {
            run.bad_msgs++;
        } else {
            if (m.kind == PSY_MSG_HEARTBEAT && run.nhbs < HB_MAX)
                run.hbs[run.nhbs++] = (hb_t){.clock = m.u.heartbeat.clock,
                                             .spool_full = m.u.heartbeat.spool_full,
                                             .last_seq = m.u.heartbeat.last_seq,
                                             .rejected = m.u.heartbeat.rejected};
            psy_msg_clear(&m);
        }
        while (zmq_msg_more(&body)) { /* nothing sends more than one frame; drop the rest */
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&body, run.router, ZMQ_DONTWAIT) < 0)
                break;
            run.bad_msgs++;
        }
        zmq_msg_close(&body);
    }
}

static size_t
heartbeats_since(psy_time_t t)
{
    size_t n = 0;

    for (size_t i = 0; i < run.nhbs; i++)
        n += run.hbs[i].clock >= t;
    return n;
}

/* The first log line holding `needle` at or after `t`, or NULL. */
static const logline_t *
log_find(const char *needle, psy_time_t t)
{
    for (size_t i = 0; i < nlogs; i++)
        if (logs[i].at >= t && strstr(logs[i].text, needle))
            return &logs[i];
    return NULL;
}

/* Moves the scenario on; called at every turn of the loop, before its wait. */
static void
scenario_step(void)
{
    const scenario_t *sc = run.sc;

    switch (run.phase) {
    case PHASE_CONNECT:
        /* A heartbeat arrived: the connection is up, the disk is about to fill. */
        if (run.nhbs > 0) {
            disk.kind = sc->kind;
            disk.err = sc->err;
            disk.arm_after = sc->arm_after;
            disk.arm_writes = sc->arm_writes;
            disk.on = sc->arm_after == 0 && sc->arm_writes == 0;
            for (size_t i = 0; i < sc->nfiles; i++)
                stage_file(&sc->files[i]);
            run.phase = PHASE_FILLING;
        }
        break;
    case PHASE_FILLING:
        if (disk.n > 0)
            run.phase = PHASE_FULL;
        break;
    case PHASE_FULL:
        run.turns_full++;
        /* Long enough for several retries and heartbeats (5 s apart); then the disk frees. */
        if (fake_now - disk.at[0] >= FULL_SPAN_S * PSY_USEC && heartbeats_since(disk.at[0]) >= 3) {
            run.inbox_full = count_files(run.inbox);
            char done[PSY_PATH_MAX + 8];
            snprintf(done, sizeof done, "%s/done", run.state);
            run.done_full = count_files(done);
            disk.on = false;
            run.t_free = fake_now;
            run.phase = PHASE_FREE;
        }
        break;
    case PHASE_FREE: {
        const logline_t *notice = log_find("can be written again", run.t_free);
        if (count_files(run.inbox) == 0 && notice) {
            /* Stop once a heartbeat sent after the notice's turn arrived. */
            for (size_t i = 0; i < run.nhbs; i++)
                if (run.hbs[i].clock > notice->at) {
                    run.phase = PHASE_STOPPED;
                    run.stop = 1;
                }
        }
        break;
    }
    default:
        break;
    }
    if (++run.turns >= MAX_TURNS && !run.stop) {
        run.timed_out = true;
        run.stop = 1;
    }
}

int __real_zmq_poll(zmq_pollitem_t *items, int nitems, long timeout);
int __wrap_zmq_poll(zmq_pollitem_t *items, int nitems, long timeout);

/* The loop's wait, once per turn: the test's hook. */
int
__wrap_zmq_poll(zmq_pollitem_t *items, int nitems, long timeout)
{
    drain_router();
    scenario_step();
    fake_now += PSY_USEC;
    return __real_zmq_poll(items, nitems,
                           timeout < 0 || timeout > REAL_POLL_MS ? REAL_POLL_MS : timeout);
}

/* ---- the test body ---- */

/* Reads the spool back: records must be R-1 .. R-total, record R-n at sequence n, once each. */
static void
check_spool(uint64_t total)
{
    spool_t *s = spool_open(run.state, NULL);
    psy_record_t rec;
    uint64_t seq, n = 0;
    int r;

    assert_non_null(s);
    assert_int_equal(spool_last_seq(s), total);
    assert_int_equal(spool_acked(s), 0);
    assert_int_equal(spool_rewind(s), 0);
    while ((r = spool_next(s, &rec, &seq)) == 1) {
        char want[32];
        n++;
        snprintf(want, sizeof want, "R-%" PRIu64, n);
        assert_int_equal(seq, n);
        assert_string_equal(rec.id, want);
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, total);
    spool_destroy(&s);
}

static void
run_scenario(const scenario_t *sc)
{
    char path[2 * PSY_PATH_MAX], server_sec[41], server_pub[41], client_sec[41], client_pub[41];
    char endpoint[128], real[PATH_MAX];
    size_t elen = sizeof endpoint;
    psy_coll_conf_t conf = {0};
    char rejected[PSY_PATH_MAX + 32];
    uint64_t total = 0, rejects = 0;
    int one = 1;

    memset(&run, 0, sizeof run);
    memset(&disk, 0, sizeof disk);
    nlogs = 0;
    nflags = 0;
    run.sc = sc;
    fake_now = __real_psy_time_now();
    assert_int_equal(sodium_init() >= 0, 1);
    psy_log_init("test_collector", PSY_LOG_DEBUG);
    snprintf(run.dir, sizeof run.dir, "/tmp/test_collector.XXXXXX");
    assert_non_null(mkdtemp(run.dir));

    /* Keys, as psymon keygen writes them. */
    assert_int_equal(psy_keys_generate_curve(run.dir, "aggregator"), 0);
    assert_int_equal(psy_keys_generate_curve(run.dir, "pc-a"), 0);
    snprintf(path, sizeof path, "%s/aggregator.key", run.dir);
    assert_int_equal(psy_keys_load_curve(path, server_sec, server_pub), 0);
    snprintf(path, sizeof path, "%s/pc-a.key", run.dir);
    assert_int_equal(psy_keys_load_curve(path, client_sec, client_pub), 0);
    snprintf(path, sizeof path, "%s/pseudonym.key", run.dir);
    assert_int_equal(psy_keys_generate_pseudonym(path), 0);

    /* The aggregator: a CURVE server that only listens. */
    run.zctx = zmq_ctx_new();
    assert_non_null(run.zctx);
    run.router = zmq_socket(run.zctx, ZMQ_ROUTER);
    assert_non_null(run.router);
    assert_int_equal(zmq_setsockopt(run.router, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(run.router, ZMQ_CURVE_SECRETKEY, server_sec, 40), 0);
    assert_int_equal(zmq_bind(run.router, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(run.router, ZMQ_LAST_ENDPOINT, endpoint, &elen), 0);

    strcpy(conf.center, "pc-a");
    snprintf(conf.aggregator, sizeof conf.aggregator, "%s", endpoint);
    strcpy(conf.aggregator_public_key, server_pub);
    snprintf(conf.secret_key_file, sizeof conf.secret_key_file, "%s/pc-a.key", run.dir);
    snprintf(conf.pseudonym_key_file, sizeof conf.pseudonym_key_file, "%s/pseudonym.key", run.dir);
    snprintf(conf.inbox, sizeof conf.inbox, "%s/inbox", run.dir);
    snprintf(conf.state_dir, sizeof conf.state_dir, "%s/state", run.dir);
    conf.done_days = 30;
    conf.spool_max_mb = 64; /* far above what is spooled: only the disk is full */
    assert_int_equal(mkdir(conf.inbox, 0700), 0);
    assert_int_equal(mkdir(conf.state_dir, 0700), 0);
    snprintf(run.inbox, sizeof run.inbox, "%s", conf.inbox);
    snprintf(run.state, sizeof run.state, "%s", conf.state_dir);
    snprintf(rejected, sizeof rejected, "%s/rejected.ndjson", conf.state_dir);
    assert_non_null(realpath(conf.state_dir, real));
    snprintf(disk.state, sizeof disk.state, "%s/", real);
    snprintf(disk.segdir, sizeof disk.segdir, "%s/spool/", real);
    for (size_t i = 0; i < sc->nfiles; i++) {
        total += (uint64_t)sc->files[i].count;
        rejects += sc->files[i].reject_after > 0;
    }

    snprintf(path, sizeof path, "%s/collector.conf", run.dir);
    run.c = collector_new(path, &conf);
    assert_non_null(run.c);
    int rc = collector_run(run.c, &run.stop, &run.reload);
    collector_destroy(&run.c);
    bool was_on = disk.on;
    disk.on = false;
    disk.state[0] = '\0';

    assert_int_equal(rc, 0);
    assert_false(run.timed_out);
    assert_false(was_on);
    assert_int_equal(run.phase, PHASE_STOPPED);
    assert_int_equal(run.bad_msgs, 0);
    psy_time_t t0 = disk.at[0];

    /* While full: the files wait in the inbox, only what was committed before is in done/. */
    assert_int_equal(run.inbox_full, sc->waiting_full);
    assert_int_equal(run.done_full, sc->done_full);

    /*
     * No spinning: the loop kept turning (one fake second per turn) but went
     * back to the disk only every DISK_RETRY. A retry fails once (write) or
     * twice (the commit's fsync, then the fsync after cutting the group off),
     * all at one instant.
     */
    assert_true(run.turns_full >= FULL_SPAN_S);
    size_t attempts = 1;
    for (size_t i = 1; i < disk.n; i++) {
        if (disk.at[i] == disk.at[i - 1])
            continue;
        assert_true(disk.at[i] - disk.at[i - 1] >= DISK_RETRY_S * PSY_USEC);
        attempts++;
    }
    assert_true(disk.n < FAULT_MAX);
    assert_true(attempts >= FULL_SPAN_S / DISK_RETRY_S);
    assert_true(attempts <= (size_t)((run.t_free - t0) / (DISK_RETRY_S * PSY_USEC)) + 1);
    assert_int_equal(disk.other > 0, sc->rejects_hit_disk);

    /* The log: said loudly once (repeats are FULL_LOG_INTERVAL apart), then the all-clear. */
    size_t full_lines = 0;
    for (size_t i = 0; i < nlogs; i++) {
        if (strstr(logs[i].text, "disk full")) {
            full_lines++;
            assert_int_equal(logs[i].level, PSY_LOG_ERR);
            assert_true(logs[i].at == t0);
            assert_non_null(strstr(logs[i].text, "nothing is lost"));
        }
    }
    assert_int_equal(full_lines, (size_t)(run.t_free - t0) / (LOG_REPEAT_S * PSY_USEC) + 1);
    const logline_t *notice = log_find("can be written again", 0);
    assert_non_null(notice);
    assert_true(notice->level <= PSY_LOG_NOTICE);
    assert_true(notice->at >= run.t_free);
    assert_true(notice->at >= disk.at[disk.n - 1] + DISK_RETRY_S * PSY_USEC);
    assert_null(log_find("can be written again", notice->at + 1));
    assert_null(log_find("spool failed", 0)); /* ENOSPC is not reported as damage */

    /*
     * Heartbeats: spool_full from the failure until the turn that wrote
     * again (that turn's own heartbeat may still say full), clear after;
     * while full the spool holds exactly what was committed before.
     */
    size_t before = 0, during = 0, after = 0;
    for (size_t i = 0; i < run.nhbs; i++) {
        const hb_t *h = &run.hbs[i];
        if (h->clock < t0) {
            assert_false(h->spool_full);
            before++;
        } else if (h->clock < notice->at) {
            assert_true(h->spool_full);
            assert_int_equal(h->last_seq, sc->spooled_full);
            assert_int_equal(h->rejected, sc->rejected_full);
            during++;
        } else if (h->clock > notice->at) {
            assert_false(h->spool_full);
            after++;
        }
    }
    assert_true(before >= 1);
    assert_true(during >= 3);
    assert_true(after >= 1);
    /*
     * The same, turn by turn: full from the very turn that failed (so even
     * a heartbeat sent right after the failure says so) until the turn that
     * wrote again; clear from the next turn on.
     */
    size_t full_turns = 0;
    for (size_t i = 0; i < nflags; i++) {
        if (flags[i].at < t0) {
            assert_false(flags[i].full);
        } else if (flags[i].at <= notice->at) {
            assert_true(flags[i].full);
            full_turns++;
        } else {
            assert_false(flags[i].full);
        }
    }
    assert_true(full_turns >= FULL_SPAN_S);
    assert_true(nflags > 0 && flags[nflags - 1].at > notice->at);
    assert_int_equal(run.hbs[run.nhbs - 1].last_seq, total);
    assert_int_equal(run.hbs[run.nhbs - 1].rejected, rejects);

    /* Afterwards: every file in done/, every record in the spool once, in order. */
    snprintf(path, sizeof path, "%s/done", run.state);
    assert_int_equal(count_files(run.inbox), 0);
    assert_int_equal(count_files(path), sc->nfiles);
    for (size_t i = 0; i < sc->nfiles; i++)
        assert_true(file_in(path, sc->files[i].name));
    check_spool(total);

    /* Each rejection is one line of rejected.ndjson, however often the disk refused it. */
    assert_int_equal(count_lines(rejected), rejects);
}

/* Cleans up after a scenario, also one that failed half-way. */
static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    disk.on = false;
    disk.state[0] = '\0';
    collector_destroy(&run.c);
    if (run.router)
        zmq_close(run.router);
    if (run.zctx)
        zmq_ctx_term(run.zctx);
    run.router = run.zctx = NULL;
    if (run.dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", run.dir);
        if (system(cmd) != 0)
            return -1;
        run.dir[0] = '\0';
    }
    return 0;
}

/*
 * Writes fail: the first file is spooled and moved to done/, then the disk
 * fills; the next two wait in the inbox until it frees.
 */
static void
test_write_enospc(void **state)
{
    static const scenario_t sc = {
        .kind = FAULT_WRITE,
        .err = ENOSPC,
        .arm_after = 1,
        .files = {{"a.ndjson", 1, 5, .reject_after = 2}, {"b.ndjson", 6, 7}, {"c.ndjson", 13, 3}},
        .nfiles = 3,
        .spooled_full = 5,
        .rejected_full = 1,
        .waiting_full = 2,
        .done_full = 1,
    };
    (void)state;
    run_scenario(&sc);
}

/*
 * The fsync that commits a group fails in the middle of a file: its first
 * group (INBOX_GROUP records) is committed, the second group's writes
 * succeed but its fsync does not. That group must not count: the file
 * waits in the inbox, heartbeats report only the first group, and once
 * the disk frees the file is read on from its mark, each record once.
 */
static void
test_fsync_enospc_mid_file(void **state)
{
    static const scenario_t sc = {
        .kind = FAULT_FSYNC,
        .err = ENOSPC,
        .arm_after = 1,
        .files = {{"big.ndjson", 1, INBOX_GROUP + 700, .reject_after = 100},
                  {"next.ndjson", INBOX_GROUP + 701, 4}},
        .nfiles = 2,
        .spooled_full = INBOX_GROUP - 1, /* the group's 5000 items hold a rejection */
        .rejected_full = 1,
        .waiting_full = 2,
        .done_full = 0,
    };
    (void)state;
    run_scenario(&sc);
}

/* A quota (EDQUOT) counts as a full disk too; here it is full before any file is read. */
static void
test_write_edquot_from_start(void **state)
{
    static const scenario_t sc = {
        .kind = FAULT_WRITE,
        .err = EDQUOT,
        .arm_after = 0,
        .files = {{"only.ndjson", 1, 9}},
        .nfiles = 1,
        .spooled_full = 0,
        .waiting_full = 1,
        .done_full = 0,
    };
    (void)state;
    run_scenario(&sc);
}

/*
 * The disk fills in the middle of a group's writes: a large group is
 * flushed to its segment in pieces before its commit, the first piece
 * fits, the next does not. Nothing of that group may count.
 */
static void
test_write_enospc_mid_group(void **state)
{
    static const scenario_t sc = {
        .kind = FAULT_WRITE,
        .err = ENOSPC,
        .arm_writes = 1,
        .files = {{"large.ndjson", 1, 3000}},
        .nfiles = 1,
        .spooled_full = 0,
        .waiting_full = 1,
        .done_full = 0,
    };
    (void)state;
    run_scenario(&sc);
}

/*
 * A group with a rejected record: its line goes to rejected.ndjson before
 * the group is committed. The disk refuses that line's fdatasync, the
 * group fails, and the file is read again at every retry.
 */
static void
test_rejection_on_full_disk(void **state)
{
    static const scenario_t sc = {
        .kind = FAULT_FSYNC,
        .err = ENOSPC,
        .arm_after = 0,
        .files = {{"rej.ndjson", 1, 5, .reject_after = 2}},
        .nfiles = 1,
        .spooled_full = 0,
        .waiting_full = 1,
        .done_full = 0,
        .rejects_hit_disk = true,
    };
    (void)state;
    run_scenario(&sc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_write_enospc, teardown),
        cmocka_unit_test_teardown(test_fsync_enospc_mid_file, teardown),
        cmocka_unit_test_teardown(test_write_edquot_from_start, teardown),
        cmocka_unit_test_teardown(test_write_enospc_mid_group, teardown),
        cmocka_unit_test_teardown(test_rejection_on_full_disk, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

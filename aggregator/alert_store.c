/*
 * alert_store: alert tables in the aggregator's SQLite database
 * (alert_store.h).
 *
 * Tables:
 *   alert_state       one row per listed alert: fingerprint, state and the
 *                     whole alert_t as JSON (alert_to_stored).
 *   alert_silences    id, matchers ("a=b,c=d"), starts_at, ends_at, author,
 *                     comment, created_at.
 *   alert_acks        fingerprint, author, comment, at: an acknowledgement
 *                     holds for the firing that began before `at`.
 *   alert_outbox      one row per notification and receiver: delivered
 *                     (done_at), given up (gave_up_at) or waiting (next_at).
 *   alert_collectors  per center, what the worker remembers between
 *                     evaluations (backlog and when it last shrank,
 *                     rejected and when it last rose).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "alert_format.h"
#include "alert_store.h"
#include "sql_errno.h"

#define AS_FILE    "psymon.db"
#define AS_BUSY_MS 10000

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS alert_state ("
    " fingerprint TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, data TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alert_silences ("
    " id TEXT PRIMARY KEY NOT NULL, matchers TEXT NOT NULL, starts_at INTEGER NOT NULL,"
    " ends_at INTEGER NOT NULL, author TEXT NOT NULL, comment TEXT NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alert_acks ("
    " id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, author TEXT NOT NULL,"
    " comment TEXT NOT NULL, at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alert_acks_fp ON alert_acks(fingerprint, at);"
    "CREATE TABLE IF NOT EXISTS alert_outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, target TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_at INTEGER NOT NULL, done_at INTEGER, gave_up_at INTEGER, last_error TEXT);"
    "CREATE INDEX IF NOT EXISTS alert_outbox_open ON alert_outbox(channel, target, id)"
    " WHERE done_at IS NULL AND gave_up_at IS NULL;"
    "CREATE TABLE IF NOT EXISTS alert_collectors ("
    " center TEXT PRIMARY KEY NOT NULL, backlog INTEGER NOT NULL, backlog_since INTEGER,"
    " rejected INTEGER NOT NULL, rejected_rose_at INTEGER);";

struct alert_store {
    sqlite3 *db;
};

/* As every store (sql_errno.h), and a constraint is a duplicate: an id already there. */
static int
astore_errno(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT ? -EEXIST : sql_errno(rc);
}

alert_store_t *
alert_store_new(const char *data_dir)
{
    char path[PSY_PATH_MAX];
    alert_store_t *s;
    int rc;

    if (!data_dir || snprintf(path, sizeof path, "%s/%s", data_dir, AS_FILE) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, AS_BUSY_MS);
    /* As the records: WAL beside the ingest writer, FULL so that a COMMIT is on disk. */
    rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", NULL, NULL,
                      NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
    }
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    return s;

fail:
    rc = -astore_errno(rc);
    alert_store_destroy(&s);
    errno = rc;
    return NULL;
}

void
alert_store_destroy(alert_store_t **sp)
{
    if (!sp || !*sp)
        return;
    sqlite3_close_v2((*sp)->db);
    free(*sp);
    *sp = NULL;
}

/* Grows *arr (of elem-sized items) to hold n + 1. */
static int
grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    void *p;

    if (n < *cap)
        return 0;
    *cap = *cap ? *cap * 2 : 16;
    p = realloc(*arr, *cap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    return 0;
}

static psy_time_t
col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? PSY_TIME_NONE : sqlite3_column_int64(st, i);
}

static void
col_str(sqlite3_stmt *st, int i, char *buf, size_t size)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    snprintf(buf, size, "%s", t ? t : "");
}

static void
bind_time(sqlite3_stmt *st, int i, psy_time_t t)
{
    if (t == PSY_TIME_NONE)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, t);
}

/* Runs one statement with no rows; an SQLite error as -errno. */
static int
exec_one(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : astore_errno(rc);
}

int
alert_store_load(alert_store_t *s, alert_t **ret, size_t *ret_n)
{
    sqlite3_stmt *st = NULL;
    alert_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    rc = sqlite3_prepare_v2(s->db, "SELECT data FROM alert_state ORDER BY rowid", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if ((r = grow((void **)&arr, &cap, n, sizeof *arr)) < 0)
            break;
        /* A row we cannot read is skipped: its alert starts again from its condition. */
        if (t && alert_from_stored(t, &arr[n]) == 0)
            n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = astore_errno(rc);
    sqlite3_finalize(st);
    if (r < 0) {
        free(arr);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

int
alert_store_commit(alert_store_t *s, const alert_t *alerts, size_t n,
                   const alert_collector_mem_t *mem, size_t nmem, const alert_outbox_t *rows,
                   size_t nrows, psy_time_t now)
{
    sqlite3_stmt *ins = NULL, *col = NULL, *out = NULL;
    int rc, r = 0;

    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    rc = sqlite3_exec(s->db, "DELETE FROM alert_state", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO alert_state (fingerprint, state, data) VALUES (?,?,?)",
                                -1, &ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT OR REPLACE INTO alert_collectors (center, backlog,"
                                " backlog_since, rejected, rejected_rose_at) VALUES (?,?,?,?,?)",
                                -1, &col, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO alert_outbox (channel, target, fingerprint, status,"
                                " payload, created_at, next_at) VALUES (?,?,?,?,?,?,?)",
                                -1, &out, NULL);
    if (rc != SQLITE_OK) {
        r = astore_errno(rc);
        goto out;
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        char *data = alert_to_stored(&alerts[i]);
        if (!data) {
            r = -ENOMEM;
            break;
        }
        sqlite3_bind_text(ins, 1, alerts[i].fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, alert_state_name(alerts[i].state), -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, data, -1, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        free(data);
        if (rc != SQLITE_DONE)
            r = astore_errno(rc);
    }
    for (size_t i = 0; i < nmem && r == 0; i++) {
        sqlite3_bind_text(col, 1, mem[i].center, -1, SQLITE_STATIC);
        sqlite3_bind_int64(col, 2, (sqlite3_int64)mem[i].backlog);
        bind_time(col, 3, mem[i].backlog_since);
        sqlite3_bind_int64(col, 4, (sqlite3_int64)mem[i].rejected);
        bind_time(col, 5, mem[i].rejected_rose_at);
        rc = sqlite3_step(col);
        sqlite3_reset(col);
        if (rc != SQLITE_DONE)
            r = astore_errno(rc);
    }
    for (size_t i = 0; i < nrows && r == 0; i++) {
        sqlite3_bind_text(out, 1, rows[i].channel, -1, SQLITE_STATIC);
        sqlite3_bind_text(out, 2, rows[i].target, -1, SQLITE_STATIC);
        sqlite3_bind_text(out, 3, rows[i].fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_text(out, 4, rows[i].status, -1, SQLITE_STATIC);
        sqlite3_bind_text(out, 5, rows[i].payload, -1, SQLITE_STATIC);
        sqlite3_bind_int64(out, 6, now);
        sqlite3_bind_int64(out, 7, now);
        rc = sqlite3_step(out);
        sqlite3_reset(out);
        if (rc != SQLITE_DONE)
            r = astore_errno(rc);
    }
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(col);
    sqlite3_finalize(out);
    if (r == 0) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            r = astore_errno(rc);
    }
    if (r < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

int
alert_store_collectors(alert_store_t *s, alert_collector_mem_t **ret, size_t *ret_n)
{
    sqlite3_stmt *st = NULL;
    alert_collector_mem_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT center, backlog, backlog_since, rejected, rejected_rose_at"
                            " FROM alert_collectors",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r = grow((void **)&arr, &cap, n, sizeof *arr)) < 0)
            break;
        alert_collector_mem_t *m = &arr[n++];
        col_str(st, 0, m->center, sizeof m->center);
        m->backlog = (uint64_t)sqlite3_column_int64(st, 1);
        m->backlog_since = col_time(st, 2);
        m->rejected = (uint64_t)sqlite3_column_int64(st, 3);
        m->rejected_rose_at = col_time(st, 4);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = astore_errno(rc);
    sqlite3_finalize(st);
    if (r < 0) {
        free(arr);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

void
alert_outbox_free(alert_outbox_t *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i].payload);
    free(rows);
}

int
alert_store_outbox_due(alert_store_t *s, psy_time_t now, size_t max, alert_outbox_t **ret,
                       size_t *ret_n)
{
    sqlite3_stmt *st = NULL;
    alert_outbox_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    rc = sqlite3_prepare_v2(
        s->db,
        "SELECT o.id, o.channel, o.target, o.fingerprint, o.status, o.payload, o.attempts,"
        " o.created_at, o.next_at FROM alert_outbox o"
        " WHERE o.done_at IS NULL AND o.gave_up_at IS NULL AND o.next_at <= ?1"
        " AND o.id = (SELECT min(p.id) FROM alert_outbox p WHERE p.channel = o.channel"
        "  AND p.target = o.target AND p.done_at IS NULL AND p.gave_up_at IS NULL)"
        " ORDER BY o.id LIMIT ?2",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r = grow((void **)&arr, &cap, n, sizeof *arr)) < 0)
            break;
        alert_outbox_t *o = &arr[n];
        memset(o, 0, sizeof *o);
        o->id = sqlite3_column_int64(st, 0);
        col_str(st, 1, o->channel, sizeof o->channel);
        col_str(st, 2, o->target, sizeof o->target);
        col_str(st, 3, o->fingerprint, sizeof o->fingerprint);
        col_str(st, 4, o->status, sizeof o->status);
        o->payload = strdup((const char *)sqlite3_column_text(st, 5));
        if (!o->payload) {
            r = -ENOMEM;
            break;
        }
        o->attempts = sqlite3_column_int(st, 6);
        o->created_at = sqlite3_column_int64(st, 7);
        o->next_at = sqlite3_column_int64(st, 8);
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = astore_errno(rc);
    sqlite3_finalize(st);
    if (r < 0) {
        alert_outbox_free(arr, n);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

int
alert_store_outbox_pending(alert_store_t *s, uint64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT count(*) FROM alert_outbox"
                                " WHERE done_at IS NULL AND gave_up_at IS NULL",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : astore_errno(rc);
}

int
alert_store_outbox_done(alert_store_t *s, int64_t id, psy_time_t now)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "UPDATE alert_outbox SET done_at = ?2, attempts = attempts + 1"
                                " WHERE id = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    return exec_one(st);
}

int
alert_store_outbox_retry(alert_store_t *s, int64_t id, psy_time_t next_at, const char *error)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "UPDATE alert_outbox SET next_at = ?2, attempts = attempts + 1,"
                                " last_error = ?3 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, next_at);
    sqlite3_bind_text(st, 3, error ? error : "", -1, SQLITE_STATIC);
    return exec_one(st);
}

int
alert_store_outbox_give_up(alert_store_t *s, int64_t id, psy_time_t now, const char *error)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "UPDATE alert_outbox SET gave_up_at = ?2, attempts = attempts + 1,"
                                " last_error = ?3 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, error ? error : "", -1, SQLITE_STATIC);
    return exec_one(st);
}

/* "a=b,c=d" of a silence's matchers. */
static void
matchers_text(const alert_silence_t *sil, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sil->nmatchers && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s=%s", i ? "," : "",
                                sil->matchers[i].name, sil->matchers[i].value);
}

int
alert_store_silence_add(alert_store_t *s, const alert_silence_t *sil)
{
    char m[ALERT_MATCHERS_MAX * (PSY_NAME_MAX + 40)];
    sqlite3_stmt *st = NULL;
    int rc;

    matchers_text(sil, m, sizeof m);
    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO alert_silences (id, matchers, starts_at, ends_at, author,"
                            " comment, created_at) VALUES (?,?,?,?,?,?,?)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_text(st, 1, sil->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sil->starts_at);
    sqlite3_bind_int64(st, 4, sil->ends_at);
    sqlite3_bind_text(st, 5, sil->author, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, sil->comment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, sil->starts_at);
    return exec_one(st);
}

int
alert_store_silence_expire(alert_store_t *s, const char *id, psy_time_t now)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "UPDATE alert_silences SET ends_at = ?2 WHERE id = ?1"
                                " AND ends_at > ?2",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return astore_errno(rc);
    return sqlite3_changes(s->db) == 1 ? 0 : -ENOENT;
}

int
alert_store_silences(alert_store_t *s, psy_time_t since, alert_silence_t **ret, size_t *ret_n)
{
    sqlite3_stmt *st = NULL;
    alert_silence_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, matchers, starts_at, ends_at, author, comment"
                            " FROM alert_silences WHERE ends_at > ?1 ORDER BY starts_at, id"
                            " LIMIT 256", /* ALERT_SILENCES_MAX */
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_int64(st, 1, since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char m[ALERT_MATCHERS_MAX * (PSY_NAME_MAX + 40)];
        if ((r = grow((void **)&arr, &cap, n, sizeof *arr)) < 0)
            break;
        alert_silence_t *x = &arr[n];
        memset(x, 0, sizeof *x);
        col_str(st, 0, x->id, sizeof x->id);
        col_str(st, 1, m, sizeof m);
        x->starts_at = sqlite3_column_int64(st, 2);
        x->ends_at = sqlite3_column_int64(st, 3);
        col_str(st, 4, x->author, sizeof x->author);
        col_str(st, 5, x->comment, sizeof x->comment);
        if (alert_matchers_parse(m, x) == 0)
            n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = astore_errno(rc);
    sqlite3_finalize(st);
    if (r < 0) {
        free(arr);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

int
alert_store_ack_add(alert_store_t *s, const alert_ack_t *ack)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO alert_acks (fingerprint, author, comment, at)"
                                " VALUES (?,?,?,?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    sqlite3_bind_text(st, 1, ack->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ack->author, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ack->comment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ack->at);
    return exec_one(st);
}

int
alert_store_prune(alert_store_t *s, psy_time_t before)
{
    static const char *const sql[] = {
        "DELETE FROM alert_outbox WHERE done_at < ?1 OR gave_up_at < ?1",
        "DELETE FROM alert_silences WHERE ends_at < ?1",
        "DELETE FROM alert_acks WHERE at < ?1"
        " AND fingerprint NOT IN (SELECT fingerprint FROM alert_state)",
    };
    int n = 0, rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    for (size_t i = 0; rc == SQLITE_OK && i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL);
        if (rc != SQLITE_OK)
            break;
        sqlite3_bind_int64(st, 1, before);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE) {
            n += sqlite3_changes(s->db);
            rc = SQLITE_OK;
        }
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return astore_errno(rc);
    }
    return n;
}

int
alert_store_acks(alert_store_t *s, alert_ack_t **ret, size_t *ret_n)
{
    sqlite3_stmt *st = NULL;
    alert_ack_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    /*
     * The latest acknowledgement of each alert the store holds, however old:
     * one holds until its alert resolves, and IntrusiveOffTrajectory can
     * fire for months. (SQLite takes the bare columns from the row of max.)
     */
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT fingerprint, author, comment, max(at) FROM alert_acks"
                            " WHERE fingerprint IN (SELECT fingerprint FROM alert_state)"
                            " GROUP BY fingerprint",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return astore_errno(rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r = grow((void **)&arr, &cap, n, sizeof *arr)) < 0)
            break;
        alert_ack_t *a = &arr[n++];
        col_str(st, 0, a->fingerprint, sizeof a->fingerprint);
        col_str(st, 1, a->author, sizeof a->author);
        col_str(st, 2, a->comment, sizeof a->comment);
        a->at = sqlite3_column_int64(st, 3);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = astore_errno(rc);
    sqlite3_finalize(st);
    if (r < 0) {
        free(arr);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

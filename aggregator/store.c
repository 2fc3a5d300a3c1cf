/*
 * store: the aggregator's SQLite database (data_dir/psymon.db).
 *
 * Tables (schema 3):
 *   centers   one row per center: cid (the small integer every other table
 *             keys by), its name, last_seen, the number of distinct record
 *             ids and the latest heartbeat.
 *   seqs      per (cid, epoch): eid and the highest contiguous sequence
 *             stored.
 *   versions  append-only: every version of every record, once, as the
 *             packed record (below) with its (cid, id), the (eid, seq) it
 *             came under, stored_at (aggregator clock, µs, never
 *             decreasing), its origin (where the collector read it, NULL
 *             when the collector did not say) and prev, the vid of the
 *             version it replaced (NULL for the first). Its rowid (vid) is
 *             the order in which versions were appended, which is the
 *             collectors' read order, and stored_at grows with it.
 *   current   (cid, id) -> vid of the latest version and whether it is a
 *             void; a narrow table, so that the one seek per record it
 *             costs touches few pages.
 *
 * Per new record the ingest thread runs two statements: an insert into
 * `current` that does nothing when the id is known, and the append of its
 * version at the end of `versions`. A known id costs one lookup more.
 *
 * Schemas 1 (no origins) and 2 (each version as seventeen columns plus the
 * packed record, `current` holding the packed record again, text keys)
 * are migrated by the first writer that opens them, in one transaction, so
 * an upgraded aggregator keeps its data. Readers read all three.
 *
 * The connection runs in WAL mode with synchronous=FULL, so a COMMIT that
 * returned is on disk before the ingest loop acknowledges it; readers (the
 * HTTP thread, the command line) open their own connections and do not
 * block the writer. A writer's WAL is checkpointed by a thread of its own
 * (with its own connection) rather than inside the ingest thread's
 * COMMIT; the writer checkpoints by itself only when that thread falls far
 * behind, so the WAL stays bounded.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sql_errno.h"
#include "store.h"

#define STORE_FILE      "psymon.db"
#define STORE_SCHEMA    3 /* 3: integer keys, each version stored once; 2: versions.origin */
#define STORE_SCHEMA_V1 1
#define STORE_BUSY_MS   10000
#define STORE_MMAP_SIZE "1073741824"
/* WAL pages after a commit that wake the checkpoint thread (SQLite's own default). */
#define CKPT_PAGES 1000
/* WAL pages after which the writer checkpoints itself: the thread is not keeping up. */
#define CKPT_PAGES_HARD 65536
/* A WAL file left larger than this is truncated when it is reset. */
#define WAL_SIZE_LIMIT "67108864"
/* Center ids a loader maps at most (a conf holds far fewer centers). */
#define CID_MAP_MAX 4096

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS centers ("
    " cid INTEGER PRIMARY KEY, center TEXT NOT NULL UNIQUE, last_seen INTEGER,"
    " records INTEGER NOT NULL DEFAULT 0,"
    " hb_at INTEGER, hb_epoch BLOB, hb_last_seq INTEGER, hb_backlog INTEGER,"
    " hb_spool_bytes INTEGER, hb_rejected INTEGER, hb_spool_full INTEGER,"
    " hb_clock_offset INTEGER, hb_version TEXT);"
    "CREATE TABLE IF NOT EXISTS seqs ("
    " eid INTEGER PRIMARY KEY, cid INTEGER NOT NULL, epoch BLOB NOT NULL,"
    " acked INTEGER NOT NULL, UNIQUE (cid, epoch));"
    "CREATE TABLE IF NOT EXISTS versions ("
    " vid INTEGER PRIMARY KEY, cid INTEGER NOT NULL, id TEXT NOT NULL, eid INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, stored_at INTEGER NOT NULL, rec BLOB NOT NULL, origin BLOB,"
    " prev INTEGER);"
    "CREATE TABLE IF NOT EXISTS current ("
    " cid INTEGER NOT NULL, id TEXT NOT NULL, vid INTEGER NOT NULL, void INTEGER NOT NULL,"
    " PRIMARY KEY (cid, id)) WITHOUT ROWID;";

/*
 * Schema 2 to 3 (after schema 1 got its origin column), inside the
 * writer's opening transaction. prev is found through schema 2's index on
 * (center, id), which goes with the old table.
 */
static const char migrate_v2_sql[] =
    "ALTER TABLE versions RENAME TO old_versions;"
    "ALTER TABLE current RENAME TO old_current;"
    "ALTER TABLE seqs RENAME TO old_seqs;"
    "ALTER TABLE centers RENAME TO old_centers;"
    "CREATE TABLE centers ("
    " cid INTEGER PRIMARY KEY, center TEXT NOT NULL UNIQUE, last_seen INTEGER,"
    " records INTEGER NOT NULL DEFAULT 0,"
    " hb_at INTEGER, hb_epoch BLOB, hb_last_seq INTEGER, hb_backlog INTEGER,"
    " hb_spool_bytes INTEGER, hb_rejected INTEGER, hb_spool_full INTEGER,"
    " hb_clock_offset INTEGER, hb_version TEXT);"
    "CREATE TABLE seqs ("
    " eid INTEGER PRIMARY KEY, cid INTEGER NOT NULL, epoch BLOB NOT NULL,"
    " acked INTEGER NOT NULL, UNIQUE (cid, epoch));"
    "CREATE TABLE versions ("
    " vid INTEGER PRIMARY KEY, cid INTEGER NOT NULL, id TEXT NOT NULL, eid INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, stored_at INTEGER NOT NULL, rec BLOB NOT NULL, origin BLOB,"
    " prev INTEGER);"
    "CREATE TABLE current ("
    " cid INTEGER NOT NULL, id TEXT NOT NULL, vid INTEGER NOT NULL, void INTEGER NOT NULL,"
    " PRIMARY KEY (cid, id)) WITHOUT ROWID;"
    "INSERT INTO centers (center, last_seen, records, hb_at, hb_epoch, hb_last_seq, hb_backlog,"
    " hb_spool_bytes, hb_rejected, hb_spool_full, hb_clock_offset, hb_version)"
    " SELECT center, last_seen, records, hb_at, hb_epoch, hb_last_seq, hb_backlog,"
    " hb_spool_bytes, hb_rejected, hb_spool_full, hb_clock_offset, hb_version"
    " FROM old_centers ORDER BY center;"
    "INSERT OR IGNORE INTO centers (center) SELECT center FROM old_seqs;"
    "INSERT OR IGNORE INTO centers (center) SELECT DISTINCT center FROM old_versions;"
    "INSERT INTO seqs (cid, epoch, acked) SELECT c.cid, s.epoch, s.acked"
    " FROM old_seqs s JOIN centers c ON c.center = s.center;"
    "INSERT OR IGNORE INTO seqs (cid, epoch, acked) SELECT DISTINCT c.cid, v.epoch, 0"
    " FROM old_versions v JOIN centers c ON c.center = v.center;"
    "INSERT INTO versions (vid, cid, id, eid, seq, stored_at, rec, origin, prev)"
    " SELECT v.vid, c.cid, v.id, e.eid, v.seq, v.stored_at, v.rec, v.origin,"
    " (SELECT max(p.vid) FROM old_versions p WHERE p.center = v.center AND p.id = v.id"
    "  AND p.vid < v.vid)"
    " FROM old_versions v JOIN centers c ON c.center = v.center"
    " JOIN seqs e ON e.cid = c.cid AND e.epoch = v.epoch ORDER BY v.vid;"
    "INSERT INTO current (cid, id, vid, void) SELECT c.cid, o.id, o.vid, o.void"
    " FROM old_current o JOIN centers c ON c.center = o.center;"
    "DROP TABLE old_versions;"
    "DROP TABLE old_current;"
    "DROP TABLE old_seqs;"
    "DROP TABLE old_centers;";

enum {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_ACKED_GET,
    ST_CENTER,
    ST_HB,
    ST_LOAD_CUR,
    ST_LOAD_AT,
    /* Schema 3 only (writers, and readers of a migrated database). */
    ST_CID_PUT,
    ST_CID_GET,
    ST_CIDS,
    ST_EPOCH_GET,
    ST_EPOCH_PUT,
    ST_EPOCH_SET,
    ST_MAX_VID,
    ST_CUR_NEW,
    ST_CUR_GET,
    ST_CUR_SET,
    ST_VER_INS,
    ST_VER_GET,
    ST_SEEN,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ACKED_GET] = "SELECT s.acked FROM seqs s JOIN centers c ON c.cid = s.cid"
                     " WHERE c.center = ?1 AND s.epoch = ?2",
    [ST_CENTER] =
        "SELECT last_seen, hb_epoch, hb_last_seq, hb_rejected, hb_spool_full,"
        " hb_clock_offset, hb_version, records, hb_spool_bytes FROM centers WHERE center = ?1",
    [ST_HB] = "INSERT INTO centers (center, last_seen, hb_at, hb_epoch, hb_last_seq, hb_backlog,"
              " hb_spool_bytes, hb_rejected, hb_spool_full, hb_clock_offset, hb_version,"
              " hb_inbox_read) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
              " ON CONFLICT (center) DO UPDATE SET last_seen = excluded.last_seen,"
              " hb_at = excluded.hb_at, hb_epoch = excluded.hb_epoch,"
              " hb_last_seq = excluded.hb_last_seq, hb_backlog = excluded.hb_backlog,"
              " hb_spool_bytes = excluded.hb_spool_bytes, hb_rejected = excluded.hb_rejected,"
              " hb_spool_full = excluded.hb_spool_full,"
              " hb_clock_offset = excluded.hb_clock_offset, hb_version = excluded.hb_version,"
              " hb_inbox_read = coalesce(excluded.hb_inbox_read, hb_inbox_read)",
    /* One seek per row into `versions`, by rowid; rows come grouped by cid. */
    [ST_LOAD_CUR] = "SELECT c.cid, c.id, v.rec FROM current c JOIN versions v ON v.vid = c.vid"
                    " WHERE c.void = 0",
    [ST_LOAD_AT] = "SELECT cid, id, rec FROM versions WHERE stored_at <= ?1"
                   " ORDER BY cid, id, vid",
    [ST_CID_PUT] = "INSERT INTO centers (center) VALUES (?1) ON CONFLICT (center) DO NOTHING",
    [ST_CID_GET] = "SELECT cid FROM centers WHERE center = ?1",
    [ST_CIDS] = "SELECT cid, center FROM centers",
    [ST_EPOCH_GET] = "SELECT eid, acked FROM seqs WHERE cid = ?1 AND epoch = ?2",
    [ST_EPOCH_PUT] = "INSERT INTO seqs (cid, epoch, acked) VALUES (?1, ?2, 0)",
    [ST_EPOCH_SET] = "UPDATE seqs SET acked = ?2 WHERE eid = ?1",
    [ST_MAX_VID] = "SELECT max(vid) FROM versions",
    [ST_CUR_NEW] = "INSERT INTO current (cid, id, vid, void) VALUES (?1, ?2, ?3, ?4)"
                   " ON CONFLICT DO NOTHING",
    [ST_CUR_GET] = "SELECT c.vid, v.rec FROM current c JOIN versions v ON v.vid = c.vid"
                   " WHERE c.cid = ?1 AND c.id = ?2",
    [ST_CUR_SET] = "UPDATE current SET vid = ?3, void = ?4 WHERE cid = ?1 AND id = ?2",
    [ST_VER_INS] = "INSERT INTO versions (vid, cid, id, eid, seq, stored_at, rec, origin, prev)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_VER_GET] = "SELECT prev, origin, rec FROM versions WHERE vid = ?1",
    [ST_SEEN] = "UPDATE centers SET last_seen = ?2, records = records + ?3 WHERE cid = ?1",
};

/* What a reader of schema 1 or 2 runs instead: the same columns, keyed by center name. */
static const char *const stmt_sql_v2[ST__COUNT] = {
    [ST_ACKED_GET] = "SELECT acked FROM seqs WHERE center = ?1 AND epoch = ?2",
    [ST_LOAD_CUR] = "SELECT center, id, rec FROM current WHERE void = 0",
    [ST_LOAD_AT] = "SELECT center, id, rec FROM versions WHERE stored_at <= ?1"
                   " ORDER BY center, id, vid",
};

/* The checkpoint thread of a writer. */
typedef struct {
    sqlite3 *db; /* its own connection */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool started, due, stop;
} ckpt_t;

/* Center ids of a schema-3 database mapped to indexes in a conf. */
typedef struct {
    int64_t cid;
    int idx;
} cid_map_t;

struct store {
    sqlite3 *db;
    bool readonly;
    int schema;
    sqlite3_stmt *st[ST__COUNT];
    psy_time_t last_stored_at; /* stored_at never decreases, even if the clock does */
    ckpt_t ckpt;
    cid_map_t *cids; /* during a load */
    size_t ncids;
};

/* Resets a statement for its next use; its result was already looked at. */
static void
st_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
static int
st_exec(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    st_done(st);
    return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

/* The database's PRAGMA user_version into *ret; an SQLite result code. */
static int
user_version(sqlite3 *db, int *ret)
{
    sqlite3_stmt *v = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(v);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int(v, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(v);
    return rc;
}

/* 1 when the query returns a row, 0 when not, or an SQLite error code (negated). */
static int
sql_exists(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return -rc;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : -rc;
}

/*
 * Brings the database to STORE_SCHEMA inside the caller's transaction: a
 * new one gets the tables; schema 1 first gets the origin column of schema
 * 2 (NULL in every existing row: those versions were stored without an
 * origin), and schema 2 is copied into the tables of schema 3. A newer
 * schema is left alone for the version check to refuse. Returns an SQLite
 * result code.
 */
static int
migrate(sqlite3 *db)
{
    int version = -1, rc, has;

    rc = user_version(db, &version);
    if (rc != SQLITE_OK || version >= STORE_SCHEMA)
        return rc;
    has = sql_exists(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'versions'");
    if (has < 0)
        return -has;
    if (has) {
        has = sql_exists(db, "SELECT 1 FROM pragma_table_info('versions') WHERE name = 'origin'");
        if (has < 0)
            return -has;
        if (!has) {
            rc = sqlite3_exec(db, "ALTER TABLE versions ADD COLUMN origin BLOB", NULL, NULL, NULL);
            if (rc != SQLITE_OK)
                return rc;
        }
        rc = sqlite3_exec(db, migrate_v2_sql, NULL, NULL, NULL);
    } else {
        rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK)
        return rc;
    return sqlite3_exec(db, "PRAGMA user_version = 3", NULL, NULL, NULL);
}

/*
 * The checkpoint thread: copies the WAL into the database whenever the
 * writer's commit hook says it grew past CKPT_PAGES. PASSIVE never waits
 * for readers or the writer, so the ingest thread is never held up by it;
 * the WAL starts over at the next write after a checkpoint that copied
 * everything.
 */
static void *
ckpt_main(void *arg)
{
    ckpt_t *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->due && !c->stop)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stop)
            break;
        c->due = false;
        pthread_mutex_unlock(&c->lock);
        (void)sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/*
 * Called by SQLite in the writer's thread after each commit, with the WAL's
 * size in pages. Wakes the checkpoint thread; checkpoints inline only when
 * the WAL grew far beyond what the thread should let it (it cannot keep
 * up, or it failed to start), so that the WAL stays bounded either way.
 */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    store_t *s = arg;

    if (pages >= CKPT_PAGES_HARD || (!s->ckpt.started && pages >= CKPT_PAGES)) {
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&s->ckpt.lock);
        s->ckpt.due = true;
        pthread_cond_signal(&s->ckpt.wake);
        pthread_mutex_unlock(&s->ckpt.lock);
    }
    return SQLITE_OK;
}

/* Starts the checkpoint thread; without it the writer checkpoints inline as SQLite would. */
static void
ckpt_start(store_t *s, const char *path)
{
    ckpt_t *c = &s->ckpt;
    sigset_t all, old;

    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    sqlite3_wal_hook(s->db, wal_hook, s); /* replaces SQLite's automatic checkpoint */
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close_v2(c->db);
        c->db = NULL;
        return;
    }
    sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
    /* Signals are the daemon's business: the thread starts with every one blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    c->started = pthread_create(&c->thread, NULL, ckpt_main, c) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!c->started) {
        sqlite3_close_v2(c->db);
        c->db = NULL;
    }
}

static void
ckpt_stop(store_t *s)
{
    ckpt_t *c = &s->ckpt;

    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        c->started = false;
        /* The writer's connection, closed last, checkpoints what is left. */
        sqlite3_close_v2(c->db);
        c->db = NULL;
    }
    if (!s->readonly) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
    }
}

/*
 * Gives the centers table its hb_inbox_read column (the heartbeat's
 * inbox_read, alerts.md ExportStale) when a database from before it lacks
 * it. Readers do without: store_status reports 0 then.
 */
static int
add_inbox_read(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT 1 FROM pragma_table_info('centers') WHERE name = 'hb_inbox_read'", -1, &st,
        NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return SQLITE_OK;
    if (rc != SQLITE_DONE)
        return rc;
    return sqlite3_exec(db, "ALTER TABLE centers ADD COLUMN hb_inbox_read INTEGER", NULL, NULL,
                        NULL);
}

store_t *
store_new(const char *data_dir, bool readonly)
{
    char path[PSY_PATH_MAX];
    store_t *s;
    int rc, flags;

    if (!data_dir ||
        snprintf(path, sizeof path, "%s/%s", data_dir, STORE_FILE) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->readonly = true; /* until the checkpoint thread's lock exists (store_destroy) */
    flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    /* Loading every record reads the whole database: map it rather than copy it. */
    sqlite3_exec(s->db, "PRAGMA mmap_size = " STORE_MMAP_SIZE, NULL, NULL, NULL);

    if (!readonly) {
        /* WAL lets readers run beside the writer; FULL makes every COMMIT durable. */
        rc = sqlite3_exec(s->db,
                          "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                          " PRAGMA journal_size_limit = " WAL_SIZE_LIMIT ";",
                          NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        rc = migrate(s->db);
        if (rc == SQLITE_OK)
            rc = add_inbox_read(s->db);
        if (rc != SQLITE_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
    }

    /*
     * A database written by a newer psymon is not ours to interpret. A
     * reader also takes schemas 1 and 2 (not yet opened by an upgraded
     * aggregator): what it reads is the same.
     */
    rc = user_version(s->db, &s->schema);
    if (rc != SQLITE_OK)
        goto fail;
    if (s->schema != STORE_SCHEMA &&
        !(readonly && s->schema >= STORE_SCHEMA_V1 && s->schema < STORE_SCHEMA)) {
        int e = s->schema == 0 ? ENOENT : EPROTO;
        store_destroy(&s);
        errno = e;
        return NULL;
    }

    for (int i = 0; i < ST__COUNT; i++) {
        const char *sql = stmt_sql[i];
        /* A reader writes no heartbeat; an old database may lack a column it names. */
        if (readonly && i == ST_HB)
            continue;
        if (s->schema < STORE_SCHEMA) {
            if (i >= ST_CID_PUT)
                continue; /* a reader of an old schema only reads */
            if (stmt_sql_v2[i])
                sql = stmt_sql_v2[i];
        } else if (readonly && i >= ST_CID_PUT && i != ST_CIDS) {
            continue;
        }
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            goto fail;
    }

    if (!readonly) {
        sqlite3_stmt *m = NULL;
        rc = sqlite3_prepare_v2(s->db, "SELECT max(stored_at) FROM versions", -1, &m, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        s->last_stored_at = PSY_TIME_NONE;
        if (sqlite3_step(m) == SQLITE_ROW && sqlite3_column_type(m, 0) != SQLITE_NULL)
            s->last_stored_at = sqlite3_column_int64(m, 0);
        sqlite3_finalize(m);
        s->readonly = false;
        ckpt_start(s, path);
    }
    return s;

fail:
    rc = -sql_errno(rc);
    store_destroy(&s);
    errno = rc;
    return NULL;
}

void
store_destroy(store_t **sp)
{
    store_t *s;

    if (!sp || !*sp)
        return;
    s = *sp;
    ckpt_stop(s);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    free(s);
    *sp = NULL;
}

/* Copies a text column into buf (size bytes with the NUL); -EIO when it does not fit. */
static int
col_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);

    if (!t) {
        buf[0] = '\0';
        return 0;
    }
    if (n >= size)
        return -EIO;
    memcpy(buf, t, n);
    buf[n] = '\0';
    return 0;
}

/*
 * The `current` table holds each record packed in one BLOB: reading
 * seventeen columns per row made loading two million records take seconds,
 * one BLOB and a memcpy-like unpack takes a fraction. The layout is fixed
 * little-endian, so a database moves between machines:
 *   u8 format (1), u8 type, u8 flags (1 void, 2 has_patient, 4 voluntary),
 *   u8 mode, legal, outcome, coercion, role, consult,
 *   i64 time, i64 end, i16 age, i16 minutes, [32 patient],
 *   then ward, contact, referral each as u8 length + bytes.
 * The id is the row's key and is not repeated.
 */
#define PACK_FORMAT 1
#define PACK_MAX    (9 + 8 + 8 + 2 + 2 + PSY_PSEUDONYM_LEN + 3 + PSY_WARD_MAX + 2 * PSY_ID_MAX)

static uint8_t *
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *
put_str(uint8_t *p, const char *str, size_t max)
{
    size_t n = strnlen(str, max);

    *p++ = (uint8_t)n;
    memcpy(p, str, n);
    return p + n;
}

/* Packs r into buf (PACK_MAX bytes); returns the length. */
static size_t
pack_record(const psy_record_t *r, uint8_t buf[PACK_MAX])
{
    uint8_t *p = buf;

    *p++ = PACK_FORMAT;
    *p++ = (uint8_t)r->type;
    *p++ = (uint8_t)((r->is_void ? 1 : 0) | (r->has_patient ? 2 : 0) | (r->voluntary ? 4 : 0));
    *p++ = (uint8_t)r->mode;
    *p++ = (uint8_t)r->legal;
    *p++ = (uint8_t)r->outcome;
    *p++ = (uint8_t)r->coercion;
    *p++ = (uint8_t)r->role;
    *p++ = (uint8_t)r->consult;
    p = put_u64(p, (uint64_t)r->time);
    p = put_u64(p, (uint64_t)r->end);
    *p++ = (uint8_t)((uint16_t)r->age & 0xff);
    *p++ = (uint8_t)((uint16_t)r->age >> 8);
    *p++ = (uint8_t)((uint16_t)r->minutes & 0xff);
    *p++ = (uint8_t)((uint16_t)r->minutes >> 8);
    if (r->has_patient) {
        memcpy(p, r->patient, PSY_PSEUDONYM_LEN);
        p += PSY_PSEUDONYM_LEN;
    }
    p = put_str(p, r->ward, PSY_WARD_MAX);
    p = put_str(p, r->contact, PSY_ID_MAX);
    p = put_str(p, r->referral, PSY_ID_MAX);
    return (size_t)(p - buf);
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Reads a u8-length string of at most max bytes; NULL when it does not fit. */
static const uint8_t *
get_str(const uint8_t *p, const uint8_t *end, char *dst, size_t max)
{
    size_t n;

    if (p >= end || (n = *p++) > max || (size_t)(end - p) < n)
        return NULL;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return p + n;
}

/* Unpacks a BLOB written by pack_record into *r (id untouched); -EIO when it is damaged. */
static int
unpack_record(const uint8_t *p, size_t len, psy_record_t *r)
{
    const uint8_t *end = p + len;

    if (len < 31 || p[0] != PACK_FORMAT || p[1] >= PSY_REC__COUNT || p[3] >= PSY_MODE__COUNT ||
        p[4] >= PSY_LEGAL__COUNT || p[5] >= PSY_OUTCOME__COUNT || p[6] >= PSY_COERCION__COUNT ||
        p[7] >= PSY_ROLE__COUNT || p[8] >= PSY_CONSULT__COUNT)
        return -EIO;
    r->type = (psy_rec_type_t)p[1];
    r->is_void = p[2] & 1;
    r->has_patient = (p[2] & 2) != 0;
    r->voluntary = (p[2] & 4) != 0;
    r->mode = (psy_mode_t)p[3];
    r->legal = (psy_legal_t)p[4];
    r->outcome = (psy_outcome_t)p[5];
    r->coercion = (psy_coercion_t)p[6];
    r->role = (psy_role_t)p[7];
    r->consult = (psy_consult_t)p[8];
    r->time = (psy_time_t)get_u64(p + 9);
    r->end = (psy_time_t)get_u64(p + 17);
    r->age = (int16_t)(uint16_t)(p[25] | (p[26] << 8));
    r->minutes = (int16_t)(uint16_t)(p[27] | (p[28] << 8));
    p += 29;
    if (r->has_patient) {
        if ((size_t)(end - p) < PSY_PSEUDONYM_LEN)
            return -EIO;
        memcpy(r->patient, p, PSY_PSEUDONYM_LEN);
        p += PSY_PSEUDONYM_LEN;
    } else {
        memset(r->patient, 0, PSY_PSEUDONYM_LEN);
    }
    if (!(p = get_str(p, end, r->ward, PSY_WARD_MAX)) ||
        !(p = get_str(p, end, r->contact, PSY_ID_MAX)) ||
        !(p = get_str(p, end, r->referral, PSY_ID_MAX)) || p != end)
        return -EIO;
    return 0;
}

/* The packed record of column col into *r; -EIO when absent or damaged. */
static int
col_packed(sqlite3_stmt *st, int col, psy_record_t *r)
{
    const void *b = sqlite3_column_blob(st, col);

    if (!b)
        return -EIO;
    return unpack_record(b, (size_t)sqlite3_column_bytes(st, col), r);
}

/* The highest contiguous sequence of (center, epoch), inside or outside a transaction. */
static int
acked_get(store_t *s, const char *center, const uint8_t epoch[PSY_EPOCH_LEN], uint64_t *ret)
{
    sqlite3_stmt *st = s->st[ST_ACKED_GET];
    int rc;

    sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, epoch, PSY_EPOCH_LEN, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(st, 0);
        *ret = v > 0 ? (uint64_t)v : 0;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        *ret = 0;
        rc = 0;
    } else {
        rc = sql_errno(rc);
    }
    st_done(st);
    return rc;
}

int
store_acked(store_t *s, const char *center, const uint8_t epoch[PSY_EPOCH_LEN], uint64_t *ret_acked)
{
    uint64_t v = 0;
    int r;

    if (!s || !center || !epoch || !ret_acked)
        return -EINVAL;
    r = acked_get(s, center, epoch, &v);
    if (r == 0)
        *ret_acked = v;
    return r;
}

/* Binds (cid, id) to parameters 1 and 2 of st. */
static int
bind_key(sqlite3_stmt *st, int64_t cid, const char *id)
{
    return sqlite3_bind_int64(st, 1, cid) || sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC) ? -EIO
                                                                                             : 0;
}

/*
 * True (1) when a version in the chain ending at `vid` (the current one is
 * compared by the caller) was read from r's origin with r's content
 * (packed): r is a replay of what is stored, e.g. a file read again after
 * the aggregator was restored. 0 when not, or -errno. The chain holds the
 * versions of one id, oldest last.
 */
static int
same_origin_stored(store_t *s, int64_t vid, const psy_record_t *r, const uint8_t *packed,
                   size_t packed_len)
{
    sqlite3_stmt *st = s->st[ST_VER_GET];

    while (vid > 0) {
        const void *origin, *rec;
        int rc;

        sqlite3_bind_int64(st, 1, vid);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            st_done(st);
            return rc == SQLITE_DONE ? -EIO : sql_errno(rc); /* a broken chain is damage */
        }
        origin = sqlite3_column_blob(st, 1);
        rec = sqlite3_column_blob(st, 2);
        if (origin && sqlite3_column_bytes(st, 1) == PSY_ORIGIN_LEN &&
            memcmp(origin, r->origin, PSY_ORIGIN_LEN) == 0 && rec &&
            (size_t)sqlite3_column_bytes(st, 2) == packed_len &&
            memcmp(rec, packed, packed_len) == 0) {
            st_done(st);
            return 1;
        }
        vid = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 0);
        st_done(st);
    }
    return 0;
}

/* What one batch's transaction works with. */
typedef struct {
    int64_t cid, eid;
    int64_t next_vid;
    psy_time_t stored_at;
} apply_ctx_t;

/* Appends the version `vid` of r, which replaces `prev` (0: none). */
static int
version_insert(store_t *s, const apply_ctx_t *a, uint64_t seq, const psy_record_t *r,
               const uint8_t *packed, size_t packed_len, int64_t prev)
{
    sqlite3_stmt *st = s->st[ST_VER_INS];

    if (sqlite3_bind_int64(st, 1, a->next_vid) || sqlite3_bind_int64(st, 2, a->cid) ||
        sqlite3_bind_text(st, 3, r->id, -1, SQLITE_STATIC) || sqlite3_bind_int64(st, 4, a->eid) ||
        sqlite3_bind_int64(st, 5, (sqlite3_int64)seq) || sqlite3_bind_int64(st, 6, a->stored_at) ||
        sqlite3_bind_blob(st, 7, packed, (int)packed_len, SQLITE_STATIC) ||
        (r->has_origin ? sqlite3_bind_blob(st, 8, r->origin, PSY_ORIGIN_LEN, SQLITE_STATIC)
                       : sqlite3_bind_null(st, 8)) ||
        (prev > 0 ? sqlite3_bind_int64(st, 9, prev) : sqlite3_bind_null(st, 9))) {
        st_done(st);
        return -EIO;
    }
    return st_exec(st);
}

/*
 * Appends one record version unless (a) it equals the current version of
 * its (center, id): a plain resend, or a full export repeating a record;
 * or (b) it carries an origin and the center holds a version of this id
 * with the same origin and content: a replay of a registration already
 * stored, which must not bring an older version back on top of its
 * correction. Anything else is appended (aggregator.md, "Duplicates,
 * corrections and replays"): a correction, a void, or a bring-back read
 * from another place. Sets *ret_appended accordingly, and *ret_new_id when
 * the center had no record with this id before.
 *
 * A new id, the common case, costs an insert into `current` that claims
 * the id (doing nothing when it is known) and the append of its version.
 */
static int
apply_record(store_t *s, apply_ctx_t *a, uint64_t seq, const psy_record_t *r, bool *ret_appended,
             bool *ret_new_id)
{
    sqlite3_stmt *st = s->st[ST_CUR_NEW];
    uint8_t packed[PACK_MAX];
    size_t packed_len = pack_record(r, packed);
    psy_record_t cur;
    int64_t cur_vid;
    int rc;

    if (bind_key(st, a->cid, r->id) < 0 || sqlite3_bind_int64(st, 3, a->next_vid) ||
        sqlite3_bind_int(st, 4, r->is_void)) {
        st_done(st);
        return -EIO;
    }
    rc = st_exec(st);
    if (rc < 0)
        return rc;
    *ret_new_id = sqlite3_changes(s->db) == 1;
    if (*ret_new_id) {
        rc = version_insert(s, a, seq, r, packed, packed_len, 0);
        if (rc < 0)
            return rc;
        a->next_vid++;
        *ret_appended = true;
        return 0;
    }

    st = s->st[ST_CUR_GET];
    if (bind_key(st, a->cid, r->id) < 0) {
        st_done(st);
        return -EIO;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        st_done(st);
        return rc == SQLITE_DONE ? -EIO : sql_errno(rc); /* current names a missing version */
    }
    cur_vid = sqlite3_column_int64(st, 0);
    psy_record_init(&cur);
    memcpy(cur.id, r->id, sizeof cur.id);
    rc = col_packed(st, 1, &cur); /* damage is an error, never compared as "different" */
    st_done(st);
    if (rc < 0)
        return rc;
    if (psy_record_equal(&cur, r)) {
        *ret_appended = false;
        return 0;
    }
    if (r->has_origin) {
        rc = same_origin_stored(s, cur_vid, r, packed, packed_len);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            *ret_appended = false;
            return 0;
        }
    }
    rc = version_insert(s, a, seq, r, packed, packed_len, cur_vid);
    if (rc < 0)
        return rc;
    st = s->st[ST_CUR_SET];
    if (bind_key(st, a->cid, r->id) < 0 || sqlite3_bind_int64(st, 3, a->next_vid) ||
        sqlite3_bind_int(st, 4, r->is_void)) {
        st_done(st);
        return -EIO;
    }
    rc = st_exec(st);
    if (rc < 0)
        return rc;
    a->next_vid++;
    *ret_appended = true;
    return 0;
}

/* A single integer (or NULL: *ret = dflt) from a statement with its parameters bound. */
static int
st_int64(sqlite3_stmt *st, int64_t dflt, int64_t *ret)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_type(st, 0) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    } else if (rc == SQLITE_DONE) {
        *ret = dflt;
    }
    st_done(st);
    return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

/* The cid of `center`, giving it one when it has none (inside the transaction). */
static int
center_cid(store_t *s, const char *center, int64_t *ret)
{
    int r;

    sqlite3_bind_text(s->st[ST_CID_PUT], 1, center, -1, SQLITE_STATIC);
    r = st_exec(s->st[ST_CID_PUT]);
    if (r < 0)
        return r;
    sqlite3_bind_text(s->st[ST_CID_GET], 1, center, -1, SQLITE_STATIC);
    r = st_int64(s->st[ST_CID_GET], -1, ret);
    return r == 0 && *ret < 0 ? -EIO : r;
}

/* The eid and highest stored sequence of (cid, epoch); eid 0 when the epoch is new. */
static int
epoch_get(store_t *s, int64_t cid, const uint8_t epoch[PSY_EPOCH_LEN], int64_t *ret_eid,
          uint64_t *ret_acked)
{
    sqlite3_stmt *st = s->st[ST_EPOCH_GET];
    int rc;

    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_blob(st, 2, epoch, PSY_EPOCH_LEN, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *ret_eid = 0;
    *ret_acked = 0;
    if (rc == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(st, 1);
        *ret_eid = sqlite3_column_int64(st, 0);
        *ret_acked = v > 0 ? (uint64_t)v : 0;
        rc = SQLITE_DONE;
    }
    st_done(st);
    return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

/* Checks a batch's sequence numbers before any transaction. */
static int
batch_check(const psy_batch_t *b)
{
    /* Sequences live in SQLite's signed 64-bit integers. */
    if (b->first_seq < 1 || b->count < 1 || b->count > PSY_BATCH_MAX ||
        b->first_seq > (uint64_t)INT64_MAX - b->count)
        return -EINVAL;
    return 0;
}

/*
 * Applies one batch inside the caller's write transaction; on failure the
 * caller rolls the whole transaction back.
 */
static int
apply_batch(store_t *s, const char *center, const psy_batch_t *b, psy_time_t now,
            psy_time_t stored_at, store_apply_result_t *ret)
{
    store_apply_result_t res = {0};
    apply_ctx_t a = {0};
    uint64_t highest, last, i0, new_ids = 0;
    int r;

    last = b->first_seq + b->count - 1;
    a.stored_at = stored_at;
    r = center_cid(s, center, &a.cid);
    if (r == 0)
        r = epoch_get(s, a.cid, b->epoch, &a.eid, &highest);
    if (r < 0)
        return r;

    if (b->first_seq > highest + 1) {
        res.gap = true;
        res.acked = highest;
    } else {
        i0 = highest >= b->first_seq ? highest - b->first_seq + 1 : 0;
        res.duplicate = i0 < b->count ? i0 : b->count;
        if (i0 < b->count && a.eid == 0) {
            sqlite3_bind_int64(s->st[ST_EPOCH_PUT], 1, a.cid);
            sqlite3_bind_blob(s->st[ST_EPOCH_PUT], 2, b->epoch, PSY_EPOCH_LEN, SQLITE_STATIC);
            r = st_exec(s->st[ST_EPOCH_PUT]);
            if (r < 0)
                return r;
            a.eid = sqlite3_last_insert_rowid(s->db);
        }
        if (i0 < b->count) {
            /* The one writer appends: the next vid is known, so `current` can be claimed first. */
            r = st_int64(s->st[ST_MAX_VID], 0, &a.next_vid);
            if (r < 0)
                return r;
            a.next_vid++;
        }
        for (uint64_t i = i0; i < b->count; i++) {
            bool appended, new_id;
            r = apply_record(s, &a, b->first_seq + i, &b->records[i], &appended, &new_id);
            if (r < 0)
                return r;
            new_ids += new_id;
            if (appended)
                res.appended++;
            else
                res.duplicate++;
        }
        if (last > highest) {
            sqlite3_stmt *st = s->st[ST_EPOCH_SET];
            sqlite3_bind_int64(st, 1, a.eid);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)last);
            r = st_exec(st);
            if (r < 0)
                return r;
            highest = last;
        }
        res.acked = highest;
    }
    sqlite3_bind_int64(s->st[ST_SEEN], 1, a.cid);
    sqlite3_bind_int64(s->st[ST_SEEN], 2, now);
    sqlite3_bind_int64(s->st[ST_SEEN], 3, (sqlite3_int64)new_ids);
    r = st_exec(s->st[ST_SEEN]);
    if (r < 0)
        return r;
    *ret = res;
    return 0;
}

int
store_apply(store_t *s, const char *center, const psy_batch_t *b, psy_time_t now,
            store_apply_result_t *ret)
{
    store_apply_result_t res;
    int r;

    if (!ret)
        return -EINVAL;
    r = store_apply_many(s, 1, &center, &b, now, &res);
    if (r == 0)
        *ret = res;
    return r;
}

int
store_apply_many(store_t *s, size_t n, const char *const *centers,
                 const psy_batch_t *const *batches, psy_time_t now, store_apply_result_t *ret)
{
    psy_time_t stored_at;
    bool appended = false;
    int r;

    if (!s || n < 1 || !centers || !batches || !ret)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!centers[i] || !batches[i] || (batches[i]->count > 0 && !batches[i]->records))
            return -EINVAL;
    if (s->readonly)
        return -EROFS;
    for (size_t i = 0; i < n; i++) {
        r = batch_check(batches[i]);
        if (r < 0)
            return r;
    }
    stored_at = now > s->last_stored_at ? now : s->last_stored_at;

    r = st_exec(s->st[ST_BEGIN]);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        store_apply_result_t res;
        r = apply_batch(s, centers[i], batches[i], now, stored_at, &res);
        if (r < 0)
            goto rollback;
        ret[i] = res;
        appended |= res.appended > 0;
    }
    r = st_exec(s->st[ST_COMMIT]);
    if (r < 0)
        goto rollback;
    if (appended)
        s->last_stored_at = stored_at;
    return 0;

rollback:
    (void)st_exec(s->st[ST_ROLLBACK]);
    return r;
}

int
store_apply_batch(store_t *s, const char *center, const psy_batch_t *b, psy_time_t now,
                  uint64_t *ret_acked)
{
    store_apply_result_t res;
    int r;

    if (!ret_acked)
        return -EINVAL;
    r = store_apply(s, center, b, now, &res);
    if (r == 0)
        *ret_acked = res.acked;
    return r;
}

static sqlite3_int64
u64_to_sql(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

int
store_heartbeat(store_t *s, const char *center, const psy_heartbeat_t *hb, psy_time_t now)
{
    sqlite3_stmt *st;
    psy_time_t offset, inbox_read;

    if (!s || !center || !hb)
        return -EINVAL;
    if (s->readonly)
        return -EROFS;
    /* A clock wildly off (or forged) must not overflow the subtraction. */
    if (__builtin_sub_overflow(hb->clock, now, &offset))
        offset = hb->clock < now ? INT64_MIN + 1 : INT64_MAX;

    st = s->st[ST_HB];
    sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_blob(st, 3, hb->epoch, PSY_EPOCH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, u64_to_sql(hb->last_seq));
    sqlite3_bind_int64(st, 5, u64_to_sql(hb->backlog));
    sqlite3_bind_int64(st, 6, u64_to_sql(hb->spool_bytes));
    sqlite3_bind_int64(st, 7, u64_to_sql(hb->rejected));
    sqlite3_bind_int(st, 8, hb->spool_full);
    sqlite3_bind_int64(st, 9, offset);
    sqlite3_bind_text(st, 10, hb->version, -1, SQLITE_STATIC);
    /*
     * In the aggregator's clock, as last_seen. Absent (0) when the collector
     * read no file since it started: the time stored before stays, or a
     * restart would end ExportStale while the export is still dead.
     */
    if (hb->inbox_read != 0 && !__builtin_sub_overflow(hb->inbox_read, offset, &inbox_read))
        sqlite3_bind_int64(st, 11, inbox_read);
    else
        sqlite3_bind_null(st, 11);
    /* Outside an explicit transaction, the statement commits (durably) by itself. */
    return st_exec(st);
}

int
store_status(store_t *s, const char *center, store_status_t *ret)
{
    store_status_t out = {0};
    sqlite3_stmt *st;
    uint8_t epoch[PSY_EPOCH_LEN];
    bool have_hb = false;
    uint64_t last_seq = 0, acked = 0;
    int rc, r = 0;

    if (!s || !center || !ret)
        return -EINVAL;
    out.last_seen = PSY_TIME_NONE;

    /* One read transaction, so the counts agree with each other. */
    r = st_exec(s->st[ST_BEGIN_READ]);
    if (r < 0)
        return r;

    st = s->st[ST_CENTER];
    sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            out.last_seen = sqlite3_column_int64(st, 0);
        /* Kept by store_apply: counting `current` would scan a million rows per call. */
        out.records = (uint64_t)sqlite3_column_int64(st, 7);
        if (sqlite3_column_type(st, 1) == SQLITE_BLOB &&
            sqlite3_column_bytes(st, 1) == PSY_EPOCH_LEN) {
            have_hb = true;
            memcpy(epoch, sqlite3_column_blob(st, 1), PSY_EPOCH_LEN);
            last_seq = (uint64_t)sqlite3_column_int64(st, 2);
            out.rejected = (uint64_t)sqlite3_column_int64(st, 3);
            out.spool_full = sqlite3_column_int(st, 4) != 0;
            out.clock_offset = sqlite3_column_int64(st, 5);
            out.spool_bytes = (uint64_t)sqlite3_column_int64(st, 8);
            if (col_text(st, 6, out.version, sizeof out.version) < 0)
                r = -EIO;
        }
    } else if (rc != SQLITE_DONE) {
        r = sql_errno(rc);
    }
    st_done(st);
    if (r < 0)
        goto out;

    if (have_hb) {
        /* A separate statement: a reader may open a database from before the column. */
        sqlite3_stmt *ir = NULL;
        if (sqlite3_prepare_v2(s->db, "SELECT hb_inbox_read FROM centers WHERE center = ?1", -1,
                               &ir, NULL) == SQLITE_OK) {
            sqlite3_bind_text(ir, 1, center, -1, SQLITE_STATIC);
            if (sqlite3_step(ir) == SQLITE_ROW && sqlite3_column_type(ir, 0) != SQLITE_NULL)
                out.inbox_read = sqlite3_column_int64(ir, 0);
        }
        sqlite3_finalize(ir);

        /* What the collector had spooled, less what we have stored of that spool since. */
        r = acked_get(s, center, epoch, &acked);
        if (r < 0)
            goto out;
        out.backlog = last_seq > acked ? last_seq - acked : 0;
    }

out:
    (void)st_exec(s->st[ST_COMMIT]);
    if (r == 0)
        *ret = out;
    return r;
}

/* Grows v to hold at least `need` items. */
static int
records_reserve(kpi_records_t *v, size_t need)
{
    kpi_record_t *items;
    size_t cap;

    if (need <= v->cap)
        return 0;
    cap = v->cap ? v->cap : 1024;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof *items)
            return -ENOMEM;
        cap *= 2;
    }
    items = realloc(v->items, cap * sizeof *items);
    if (!items)
        return -ENOMEM;
    v->items = items;
    v->cap = cap;
    return 0;
}

/*
 * The index in conf->centers of the center in column 0 (a cid of schema 3,
 * mapped by store_load, or a name of schemas 1 and 2), or -1. Rows come
 * grouped by center, so the previous answer is nearly always right.
 */
static int
center_index(const store_t *s, sqlite3_stmt *st, const psy_agg_conf_t *conf, char *last,
             size_t last_size, int *last_idx)
{
    const char *c;

    if (sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        int64_t cid = sqlite3_column_int64(st, 0);
        for (size_t i = 0; i < s->ncids; i++)
            if (s->cids[i].cid == cid)
                return s->cids[i].idx;
        return -1;
    }
    c = (const char *)sqlite3_column_text(st, 0);
    if (!c)
        return -1;
    if (strcmp(c, last) == 0)
        return *last_idx;
    snprintf(last, last_size, "%s", c);
    *last_idx = -1;
    for (size_t i = 0; i < conf->ncenters && i <= UINT16_MAX; i++)
        if (strcmp(conf->centers[i].id, c) == 0)
            *last_idx = (int)i;
    return *last_idx;
}

/* Maps the cids of the configured centers (schema 3), for center_index. */
static int
map_cids(store_t *s, const psy_agg_conf_t *conf)
{
    sqlite3_stmt *st = s->st[ST_CIDS];
    int rc, r = 0;

    s->ncids = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 1);
        int idx = -1;
        for (size_t i = 0; c && i < conf->ncenters && i <= UINT16_MAX; i++)
            if (strcmp(conf->centers[i].id, c) == 0)
                idx = (int)i;
        if (idx < 0)
            continue;
        if (s->ncids >= CID_MAP_MAX) {
            r = -E2BIG;
            break;
        }
        if (!s->cids) {
            s->cids = malloc(CID_MAP_MAX * sizeof *s->cids);
            if (!s->cids) {
                r = -ENOMEM;
                break;
            }
        }
        s->cids[s->ncids++] = (cid_map_t){.cid = sqlite3_column_int64(st, 0), .idx = idx};
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_errno(rc);
    st_done(st);
    return r;
}

/* Everything current, from the `current` table. */
static int
load_current(store_t *s, const psy_agg_conf_t *conf, kpi_records_t *v)
{
    sqlite3_stmt *st = s->st[ST_LOAD_CUR];
    char last[PSY_CENTER_MAX + 2] = "";
    int last_idx = -1, rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int idx = center_index(s, st, conf, last, sizeof last, &last_idx);
        kpi_record_t *k;
        if (idx < 0)
            continue;
        r = records_reserve(v, v->count + 1);
        if (r < 0)
            break;
        k = &v->items[v->count];
        k->center = (uint16_t)idx;
        r = col_text(st, 1, k->rec.id, sizeof k->rec.id);
        if (r == 0)
            r = col_packed(st, 2, &k->rec);
        if (r < 0)
            break;
        v->count++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_errno(rc);
    st_done(st);
    return r;
}

/*
 * The versions stored by known_at: rows come ordered by (center, id, vid),
 * so the last row of each (center, id) group is its version at that time.
 */
static int
load_at(store_t *s, const psy_agg_conf_t *conf, psy_time_t known_at, kpi_records_t *v)
{
    sqlite3_stmt *st = s->st[ST_LOAD_AT];
    char last[PSY_CENTER_MAX + 2] = "";
    int last_idx = -1, rc, r = 0;
    bool pending = false; /* v->items[v->count] holds the group's latest so far */
    int pending_idx = -1;

    sqlite3_bind_int64(st, 1, known_at);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int idx = center_index(s, st, conf, last, sizeof last, &last_idx);
        const char *id = (const char *)sqlite3_column_text(st, 1);
        kpi_record_t *k;

        if (pending && (idx != pending_idx || !id || strcmp(id, v->items[v->count].rec.id) != 0)) {
            /* A new (center, id): the previous group's last version stands. */
            if (!v->items[v->count].rec.is_void)
                v->count++;
            pending = false;
        }
        if (idx < 0)
            continue;
        r = records_reserve(v, v->count + 1);
        if (r < 0)
            break;
        k = &v->items[v->count];
        k->center = (uint16_t)idx;
        r = col_text(st, 1, k->rec.id, sizeof k->rec.id);
        if (r == 0)
            r = col_packed(st, 2, &k->rec);
        if (r < 0)
            break;
        pending = true;
        pending_idx = idx;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_errno(rc);
    if (r == 0 && pending && !v->items[v->count].rec.is_void)
        v->count++;
    st_done(st);
    return r;
}

int
store_generation(store_t *s, uint64_t *ret_vid, psy_time_t *ret_stored_at)
{
    sqlite3_stmt *st = NULL;
    uint64_t vid = 0;
    psy_time_t at = PSY_TIME_NONE;
    int rc;

    if (!s || !ret_vid || !ret_stored_at)
        return -EINVAL;
    rc = sqlite3_prepare_v2(s->db, "SELECT vid, stored_at FROM versions ORDER BY vid DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_errno(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        vid = (uint64_t)sqlite3_column_int64(st, 0);
        at = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sql_errno(rc);
    *ret_vid = vid;
    *ret_stored_at = at;
    return 0;
}

int
store_load(store_t *s, const psy_agg_conf_t *conf, psy_time_t known_at, kpi_records_t *ret)
{
    kpi_records_t v = {0};
    int r;

    if (!s || !conf || !ret)
        return -EINVAL;
    /* One read transaction: a consistent snapshot even while ingest writes. */
    r = st_exec(s->st[ST_BEGIN_READ]);
    if (r < 0)
        return r;
    if (s->schema >= STORE_SCHEMA)
        r = map_cids(s, conf);
    if (r == 0 && known_at == PSY_TIME_NONE)
        r = load_current(s, conf, &v);
    else if (r == 0)
        r = load_at(s, conf, known_at, &v);
    (void)st_exec(s->st[ST_COMMIT]);
    free(s->cids);
    s->cids = NULL;
    s->ncids = 0;
    if (r < 0) {
        free(v.items);
        return r;
    }
    *ret = v;
    return 0;
}

/*
 * store: the aggregator's SQLite database (data_dir/psymon.db).
 *
 * Tables:
 *   versions  append-only: every version of every record, with the center,
 *             the (epoch, seq) it came under, stored_at (aggregator
 *             clock, µs, never decreasing) and its origin (where the
 *             collector read it, NULL when the collector did not say). Its
 *             rowid is the order in which versions were appended, which is
 *             the collectors' read order.
 *   current   the latest version of each (center, id), kept up to date on
 *             every append, so that loading "now" is one sequential scan.
 *   seqs      the highest contiguous sequence stored per (center, epoch).
 *   centers   per center: last_seen, the number of distinct record ids and
 *             the latest heartbeat.
 *
 * Schema 1 had no origin column; a writer adds it (schema 2) when it opens
 * such a database, so an upgraded aggregator keeps its data, and a reader
 * reads either.
 *
 * The connection runs in WAL mode with synchronous=FULL, so a COMMIT that
 * returned is on disk before the ingest loop acknowledges it; readers (the
 * HTTP thread, the command line) open their own connections and do not
 * block the writer.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"

#define STORE_FILE      "psymon.db"
#define STORE_SCHEMA    2 /* 2: versions.origin */
#define STORE_SCHEMA_V1 1
#define STORE_BUSY_MS   10000
#define STORE_MMAP_SIZE "1073741824"

/* The columns of a psy_record_t, in the order bind_record uses (kept for reading by hand). */
#define REC_COLS                                                                                   \
    "type, void, time, patient, ward, contact, referral, mode, legal, outcome, coercion, end_t, "  \
    "voluntary, role, consult, age, minutes"
#define REC_NCOLS  17
#define REC_PARAMS "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"

#define REC_COLDEFS                                                                                \
    "type INTEGER NOT NULL, void INTEGER NOT NULL, time INTEGER NOT NULL, patient BLOB, "          \
    "ward TEXT NOT NULL, contact TEXT NOT NULL, referral TEXT NOT NULL, mode INTEGER NOT NULL, "   \
    "legal INTEGER NOT NULL, outcome INTEGER NOT NULL, coercion INTEGER NOT NULL, "                \
    "end_t INTEGER NOT NULL, voluntary INTEGER NOT NULL, role INTEGER NOT NULL, "                  \
    "consult INTEGER NOT NULL, age INTEGER NOT NULL, minutes INTEGER NOT NULL"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS versions ("
    " vid INTEGER PRIMARY KEY, center TEXT NOT NULL, id TEXT NOT NULL,"
    " epoch BLOB NOT NULL, seq INTEGER NOT NULL, stored_at INTEGER NOT NULL, " REC_COLDEFS ","
    " rec BLOB NOT NULL, origin BLOB);"
    "CREATE INDEX IF NOT EXISTS versions_key ON versions(center, id);"
    "CREATE TABLE IF NOT EXISTS current ("
    " center TEXT NOT NULL, id TEXT NOT NULL, vid INTEGER NOT NULL, void INTEGER NOT NULL,"
    " rec BLOB NOT NULL,"
    " PRIMARY KEY (center, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS seqs ("
    " center TEXT NOT NULL, epoch BLOB NOT NULL, acked INTEGER NOT NULL,"
    " PRIMARY KEY (center, epoch)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS centers ("
    " center TEXT PRIMARY KEY NOT NULL, last_seen INTEGER, records INTEGER NOT NULL DEFAULT 0,"
    " hb_at INTEGER, hb_epoch BLOB, hb_last_seq INTEGER, hb_backlog INTEGER,"
    " hb_spool_bytes INTEGER, hb_rejected INTEGER, hb_spool_full INTEGER,"
    " hb_clock_offset INTEGER, hb_version TEXT, hb_inbox_read INTEGER);";

enum {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_ACKED_GET,
    ST_ACKED_SET,
    ST_CUR_GET,
    ST_VER_INS,
    ST_VER_SAME_ORIGIN,
    ST_CUR_PUT,
    ST_SEEN,
    ST_HB,
    ST_CENTER,
    ST_LOAD_CUR,
    ST_LOAD_AT,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ACKED_GET] = "SELECT acked FROM seqs WHERE center = ?1 AND epoch = ?2",
    [ST_ACKED_SET] = "INSERT INTO seqs (center, epoch, acked) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT (center, epoch) DO UPDATE SET acked = excluded.acked",
    [ST_CUR_GET] = "SELECT rec FROM current WHERE center = ?1 AND id = ?2",
    [ST_VER_INS] = "INSERT INTO versions (center, id, epoch, seq, stored_at, " REC_COLS
                   ", rec, origin) VALUES (?,?,?,?,?," REC_PARAMS ",?,?)",
    /* Runs on the versions_key index: only the versions of one (center, id) are looked at. */
    [ST_VER_SAME_ORIGIN] = "SELECT 1 FROM versions WHERE center = ?1 AND id = ?2"
                           " AND origin = ?3 AND rec = ?4 LIMIT 1",
    [ST_CUR_PUT] = "INSERT OR REPLACE INTO current (center, id, vid, void, rec)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SEEN] = "INSERT INTO centers (center, last_seen, records) VALUES (?1, ?2, ?3)"
                " ON CONFLICT (center) DO UPDATE SET last_seen = excluded.last_seen,"
                " records = records + excluded.records",
    [ST_HB] = "INSERT INTO centers (center, last_seen, hb_at, hb_epoch, hb_last_seq, hb_backlog,"
              " hb_spool_bytes, hb_rejected, hb_spool_full, hb_clock_offset, hb_version,"
              " hb_inbox_read) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
              " ON CONFLICT (center) DO UPDATE SET last_seen = excluded.last_seen,"
              " hb_at = excluded.hb_at, hb_epoch = excluded.hb_epoch,"
              " hb_last_seq = excluded.hb_last_seq, hb_backlog = excluded.hb_backlog,"
              " hb_spool_bytes = excluded.hb_spool_bytes, hb_rejected = excluded.hb_rejected,"
              " hb_spool_full = excluded.hb_spool_full,"
              " hb_clock_offset = excluded.hb_clock_offset, hb_version = excluded.hb_version,"
              " hb_inbox_read = excluded.hb_inbox_read",
    [ST_CENTER] = "SELECT last_seen, hb_epoch, hb_last_seq, hb_rejected, hb_spool_full,"
                  " hb_clock_offset, hb_version, records FROM centers WHERE center = ?1",
    [ST_LOAD_CUR] = "SELECT center, id, rec FROM current WHERE void = 0",
    [ST_LOAD_AT] = "SELECT center, id, rec FROM versions WHERE stored_at <= ?1"
                   " ORDER BY center, id, vid",
};

struct store {
    sqlite3 *db;
    bool readonly;
    sqlite3_stmt *st[ST__COUNT];
    psy_time_t last_stored_at; /* stored_at never decreases, even if the clock does */
};

/* Maps an SQLite result code to the errno store's callers see. */
static int
sql_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return -EROFS;
    case SQLITE_FULL:
        return -ENOSPC; /* "No space left on device" in the log, not an I/O error */
    default:
        return -EIO;
    }
}

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

/*
 * Brings a database created just now (user_version 0) or by a psymon
 * before origins (1) to STORE_SCHEMA, inside the caller's transaction: the
 * versions table gets its origin column when it lacks one (NULL in every
 * existing row: those versions were stored without an origin). A newer
 * schema is left alone for the version check to refuse.
 */
static int
migrate(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool has_origin = false;
    int version = -1, rc;

    rc = user_version(db, &version);
    if (rc != SQLITE_OK || version > STORE_SCHEMA_V1)
        return rc;
    rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('versions') WHERE name = 'origin'",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    has_origin = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rc;
    if (!has_origin) {
        rc = sqlite3_exec(db, "ALTER TABLE versions ADD COLUMN origin BLOB", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL);
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
    s->readonly = readonly;
    flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    /* Loading every record is a scan of the whole `current` table: map it rather than copy it. */
    sqlite3_exec(s->db, "PRAGMA mmap_size = " STORE_MMAP_SIZE, NULL, NULL, NULL);

    if (!readonly) {
        /* WAL lets readers run beside the writer; FULL makes every COMMIT durable. */
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", NULL,
                          NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
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
     * reader also takes schema 1 (not yet opened by an upgraded aggregator):
     * what it reads is the same.
     */
    {
        int version = -1;
        rc = user_version(s->db, &version);
        if (rc != SQLITE_OK)
            goto fail;
        if (version != STORE_SCHEMA && !(readonly && version == STORE_SCHEMA_V1)) {
            store_destroy(&s);
            errno = version == 0 ? ENOENT : EPROTO;
            return NULL;
        }
    }

    for (int i = 0; i < ST__COUNT; i++) {
        /* A reader may open a schema-1 database, which has no origin: it never writes. */
        if (readonly && (i == ST_VER_INS || i == ST_VER_SAME_ORIGIN))
            continue;
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
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
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    free(s);
    *sp = NULL;
}

/* Binds the REC_NCOLS columns of r from parameter `first` on. */
static int
bind_record(sqlite3_stmt *st, int first, const psy_record_t *r)
{
    int i = first, rc = 0;

    rc |= sqlite3_bind_int(st, i++, r->type);
    rc |= sqlite3_bind_int(st, i++, r->is_void);
    rc |= sqlite3_bind_int64(st, i++, r->time);
    if (r->has_patient)
        rc |= sqlite3_bind_blob(st, i++, r->patient, PSY_PSEUDONYM_LEN, SQLITE_STATIC);
    else
        rc |= sqlite3_bind_null(st, i++);
    rc |= sqlite3_bind_text(st, i++, r->ward, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, i++, r->contact, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, i++, r->referral, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int(st, i++, r->mode);
    rc |= sqlite3_bind_int(st, i++, r->legal);
    rc |= sqlite3_bind_int(st, i++, r->outcome);
    rc |= sqlite3_bind_int(st, i++, r->coercion);
    rc |= sqlite3_bind_int64(st, i++, r->end);
    rc |= sqlite3_bind_int(st, i++, r->voluntary);
    rc |= sqlite3_bind_int(st, i++, r->role);
    rc |= sqlite3_bind_int(st, i++, r->consult);
    rc |= sqlite3_bind_int(st, i++, r->age);
    rc |= sqlite3_bind_int(st, i++, r->minutes);
    return rc == SQLITE_OK ? 0 : -EIO;
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

/*
 * True (1) when the center holds a version of r's id read from r's origin
 * with r's content (packed): r is a replay of what is stored, e.g. a file
 * read again after the aggregator was restored. 0 when not, or -errno.
 */
static int
same_origin_stored(store_t *s, const char *center, const psy_record_t *r, const uint8_t *packed,
                   size_t packed_len)
{
    sqlite3_stmt *st = s->st[ST_VER_SAME_ORIGIN];
    int rc;

    if (sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC) ||
        sqlite3_bind_blob(st, 3, r->origin, PSY_ORIGIN_LEN, SQLITE_STATIC) ||
        sqlite3_bind_blob(st, 4, packed, (int)packed_len, SQLITE_STATIC)) {
        st_done(st);
        return -EIO;
    }
    rc = sqlite3_step(st);
    st_done(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : sql_errno(rc);
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
 */
static int
apply_record(store_t *s, const char *center, const uint8_t epoch[PSY_EPOCH_LEN], uint64_t seq,
             psy_time_t stored_at, const psy_record_t *r, bool *ret_appended, bool *ret_new_id)
{
    sqlite3_stmt *st = s->st[ST_CUR_GET];
    psy_record_t cur;
    uint8_t packed[PACK_MAX];
    size_t packed_len;
    sqlite3_int64 vid;
    int rc;

    sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *ret_new_id = rc != SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        psy_record_init(&cur);
        memcpy(cur.id, r->id, sizeof cur.id);
        rc = col_packed(st, 0, &cur);
        st_done(st);
        if (rc < 0)
            return rc;
        if (psy_record_equal(&cur, r)) {
            *ret_appended = false;
            return 0;
        }
    } else {
        st_done(st);
        if (rc != SQLITE_DONE)
            return sql_errno(rc);
    }

    packed_len = pack_record(r, packed);
    /* Only a known id can have been stored from this origin before. */
    if (!*ret_new_id && r->has_origin) {
        rc = same_origin_stored(s, center, r, packed, packed_len);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            *ret_appended = false;
            return 0;
        }
    }
    st = s->st[ST_VER_INS];
    if (sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC) ||
        sqlite3_bind_blob(st, 3, epoch, PSY_EPOCH_LEN, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 4, (sqlite3_int64)seq) || sqlite3_bind_int64(st, 5, stored_at) ||
        bind_record(st, 6, r) < 0 ||
        sqlite3_bind_blob(st, 6 + REC_NCOLS, packed, (int)packed_len, SQLITE_STATIC) ||
        (r->has_origin
             ? sqlite3_bind_blob(st, 7 + REC_NCOLS, r->origin, PSY_ORIGIN_LEN, SQLITE_STATIC)
             : sqlite3_bind_null(st, 7 + REC_NCOLS))) {
        st_done(st);
        return -EIO;
    }
    rc = st_exec(st);
    if (rc < 0)
        return rc;
    vid = sqlite3_last_insert_rowid(s->db);

    st = s->st[ST_CUR_PUT];
    if (sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC) || sqlite3_bind_int64(st, 3, vid) ||
        sqlite3_bind_int(st, 4, r->is_void) ||
        sqlite3_bind_blob(st, 5, packed, (int)packed_len, SQLITE_STATIC)) {
        st_done(st);
        return -EIO;
    }
    rc = st_exec(st);
    if (rc < 0)
        return rc;
    *ret_appended = true;
    return 0;
}

/* Records the receipt of a batch and counts the record ids it added. */
static int
seen(store_t *s, const char *center, psy_time_t now, uint64_t new_ids)
{
    sqlite3_stmt *st = s->st[ST_SEEN];

    sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)new_ids);
    return st_exec(st);
}

int
store_apply(store_t *s, const char *center, const psy_batch_t *b, psy_time_t now,
            store_apply_result_t *ret)
{
    store_apply_result_t res = {0};
    psy_time_t stored_at;
    uint64_t highest, last, i0, new_ids = 0;
    int r;

    if (!s || !center || !b || !ret || (b->count > 0 && !b->records))
        return -EINVAL;
    if (s->readonly)
        return -EROFS;
    /* Sequences live in SQLite's signed 64-bit integers. */
    if (b->first_seq < 1 || b->count < 1 || b->count > PSY_BATCH_MAX ||
        b->first_seq > (uint64_t)INT64_MAX - b->count)
        return -EINVAL;
    last = b->first_seq + b->count - 1;
    stored_at = now > s->last_stored_at ? now : s->last_stored_at;

    r = st_exec(s->st[ST_BEGIN]);
    if (r < 0)
        return r;
    r = acked_get(s, center, b->epoch, &highest);
    if (r < 0)
        goto rollback;

    if (b->first_seq > highest + 1) {
        res.gap = true;
        res.acked = highest;
    } else {
        i0 = highest >= b->first_seq ? highest - b->first_seq + 1 : 0;
        res.duplicate = i0 < b->count ? i0 : b->count;
        for (uint64_t i = i0; i < b->count; i++) {
            bool appended, new_id;
            r = apply_record(s, center, b->epoch, b->first_seq + i, stored_at, &b->records[i],
                             &appended, &new_id);
            if (r < 0)
                goto rollback;
            new_ids += new_id;
            if (appended)
                res.appended++;
            else
                res.duplicate++;
        }
        if (last > highest) {
            sqlite3_stmt *st = s->st[ST_ACKED_SET];
            sqlite3_bind_text(st, 1, center, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, b->epoch, PSY_EPOCH_LEN, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, (sqlite3_int64)last);
            r = st_exec(st);
            if (r < 0)
                goto rollback;
            highest = last;
        }
        res.acked = highest;
    }
    r = seen(s, center, now, new_ids);
    if (r < 0)
        goto rollback;
    r = st_exec(s->st[ST_COMMIT]);
    if (r < 0)
        goto rollback;
    if (res.appended > 0)
        s->last_stored_at = stored_at;
    *ret = res;
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
    /* In the aggregator's clock, as last_seen; absent (0) when the collector read no file yet. */
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
 * The index in conf->centers of the center named in column 0, or -1. Rows
 * come grouped by center, so the previous answer is nearly always right.
 */
static int
center_index(sqlite3_stmt *st, const psy_agg_conf_t *conf, char *last, size_t last_size,
             int *last_idx)
{
    const char *c = (const char *)sqlite3_column_text(st, 0);

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

/* Everything current, from the `current` table. */
static int
load_current(store_t *s, const psy_agg_conf_t *conf, kpi_records_t *v)
{
    sqlite3_stmt *st = s->st[ST_LOAD_CUR];
    char last[PSY_CENTER_MAX + 2] = "";
    int last_idx = -1, rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int idx = center_index(st, conf, last, sizeof last, &last_idx);
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
        int idx = center_index(st, conf, last, sizeof last, &last_idx);
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
    if (known_at == PSY_TIME_NONE)
        r = load_current(s, conf, &v);
    else
        r = load_at(s, conf, known_at, &v);
    (void)st_exec(s->st[ST_COMMIT]);
    if (r < 0) {
        free(v.items);
        return r;
    }
    *ret = v;
    return 0;
}

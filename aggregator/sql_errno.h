/*
 * sql_errno: one mapping of SQLite result codes to negative errno values
 * for the aggregator's stores (store.c, alert_store.c), so that a full disk
 * or a read-only database reads the same in every log line.
 */
#ifndef PSYMON_SQL_ERRNO_H
#define PSYMON_SQL_ERRNO_H

#include <errno.h>
#include <sqlite3.h>

/*
 * The negative errno of SQLite result code rc (extended codes too):
 * NOMEM -ENOMEM, CANTOPEN -ENOENT, READONLY and PERM -EROFS, FULL -ENOSPC
 * ("No space left on device" in the log, not an I/O error), anything else
 * -EIO. A caller to whom a constraint means "already there" looks at
 * SQLITE_CONSTRAINT itself first.
 */
static inline int
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
        return -ENOSPC;
    default:
        return -EIO;
    }
}

#endif

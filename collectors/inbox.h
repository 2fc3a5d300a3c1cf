/*
 * inbox: takes the export files of the inbox folder into the spool.
 *
 * Files are taken one at a time in the order of their names (strcmp). Names
 * beginning with '.' or ending in ".tmp" are files still being written and
 * are never read; of the rest, only ".ndjson" and ".csv" are read, and any
 * other name is logged once and left where it is.
 *
 * A file is read in groups of records: each group's accepted records and a
 * mark (file identity, items done, total rejected) go into the spool and are
 * made durable by one fsync. Rejected records become one JSON line each in
 * state_dir/rejected.ndjson (file, line, id, reason: never a field value).
 * Once the whole file is in the spool it moves to state_dir/done/ (a suffix
 * is added when the name is taken there), or is deleted at once when
 * done_days is 0. A file half read when the collector died is read again
 * from the start, and the items the spool's mark says are done are skipped,
 * so no record is spooled twice. A crash between writing a rejection and
 * the group's fsync can repeat that rejection's line, never lose it (a
 * group that fails without a crash, on a full disk, takes its lines back);
 * the rejected count lives in the mark and is exact.
 *
 * This is daemon code: it logs what an operator must know.
 */
#ifndef PSYMON_COLLECTOR_INBOX_H
#define PSYMON_COLLECTOR_INBOX_H

#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/time.h"
#include "spool.h"

#define INBOX_GROUP     5000   /* records per fsync when a file is large */
#define INBOX_SKIP_STEP 100000 /* items of a file read again skipped per inbox_step() */

typedef struct inbox inbox_t;

/*
 * Creates the inbox reader for `inbox_dir`, keeping done/ and
 * rejected.ndjson in `state_dir` (done/ is created). `key` is the
 * pseudonymisation key, copied. Returns NULL with errno set. Caller owns
 * the inbox and must destroy it.
 */
inbox_t *inbox_new(const char *inbox_dir, const char *state_dir, int done_days,
                   const uint8_t key[PSY_PSEUDO_KEYLEN]);

/* Closes the current file and NULLs *in. Accepts NULL. */
void inbox_destroy(inbox_t **in);

/*
 * Takes a new configuration (SIGHUP): inbox folder, done_days and key. The
 * file being read, if any, is dropped and will be read again (skipping
 * what is done). Files that failed to open are retried. Returns 0 or
 * -ENAMETOOLONG.
 */
int inbox_configure(inbox_t *in, const char *inbox_dir, int done_days,
                    const uint8_t key[PSY_PSEUDO_KEYLEN]);

/*
 * Does one step: opens the next file when none is open, then reads at most
 * `max_items` items of it into `spool` and commits them. Returns 1 when it
 * did something (call again soon), 0 when the inbox holds nothing to read,
 * or a negative errno when the spool failed (the caller reopens the spool
 * and calls inbox_reset()).
 */
int inbox_step(inbox_t *in, spool_t *spool, psy_time_t now, size_t max_items);

/* Forgets the file being read; it will be read again from its mark. */
void inbox_reset(inbox_t *in);

/*
 * Deletes the files in done/ that were moved there more than done_days days
 * before `now`. Returns how many were deleted, or a negative errno.
 */
int inbox_clean_done(inbox_t *in, psy_time_t now);

#endif

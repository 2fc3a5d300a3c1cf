/*
 * requeue: puts the collector's done/ files back into its inbox so that
 * the collector reads them again: `psymon requeue` after the aggregator was
 * restored from a backup (operations.md, section 5), and the collector
 * itself when the aggregator turns out to have lost records its spool no
 * longer holds (collector.md).
 *
 * A file is copied, not renamed: the collector recognises the last file it
 * read by its spool mark (name, device, inode, size, mtime, ctime), and a
 * renamed original would differ only in its ctime, which a coarse clock
 * tick can leave equal; a copy is a new inode that it always reads in full.
 * A copy also works when the inbox and done/ lie on different file systems. The copy is written
 * under a name the inbox ignores (".requeue-XXXXXX.tmp"), given the original's owner, mode and
 * modification time, fsynced, and renamed into place without replacing any
 * file there; then the original is removed from done/, so that done/ does
 * not grow with each requeue (the collector moves the copy back once read).
 */
#ifndef PSYMON_COLLECTOR_REQUEUE_H
#define PSYMON_COLLECTOR_REQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQUEUE_SINCE_ALL INT64_MIN /* requeue_dir(): no --since */

/* What became of one file of done/. */
typedef struct {
    const char *name;       /* in done/ */
    const char *inbox_name; /* its name in the inbox; "" when none was found */
    uint64_t size;          /* bytes */
    int error;              /* 0, or the negative errno that kept it from the inbox */
    const char *what;       /* on error: the step that failed, e.g. "copy" */
} requeue_file_t;

typedef struct {
    size_t files;   /* put back (or, in a dry run, that would be) */
    uint64_t bytes; /* their size */
    size_t failed;  /* files that could not be put back */
} requeue_totals_t;

typedef void (*requeue_report_fn)(const requeue_file_t *f, void *userdata);

/*
 * Puts the regular ".ndjson" and ".csv" files of `done_dir` whose status
 * change time (the time they were moved to done/, which the collector's
 * cleaning of done/ also uses) is at or after `since` (seconds since the
 * epoch, or REQUEUE_SINCE_ALL) back into `inbox_dir`, in name order. An
 * inbox name already taken is never replaced: the copy gets "x.1.csv",
 * "x.2.csv", ... instead. With `dry_run` nothing changes. `report`, when
 * not NULL, is called once per file. Returns 0 with *ret_totals set (a file
 * that failed is counted there, and the others are still done), or a
 * negative errno when done_dir cannot be read, *ret_totals untouched.
 */
int requeue_dir(const char *done_dir, const char *inbox_dir, int64_t since, bool dry_run,
                requeue_report_fn report, void *userdata, requeue_totals_t *ret_totals);

/*
 * Parses "YYYY-MM-DD" (local midnight) or "YYYY-MM-DDTHH:MM[:SS]" (local
 * time) into seconds since the epoch. Returns 0 or -EINVAL.
 */
int requeue_parse_since(const char *s, int64_t *ret);

#endif

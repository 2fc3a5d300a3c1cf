/*
 * reader: streams the records of one inbox file (records.md), validated,
 * with the patient already pseudonymised.
 *
 * The encoding follows the file name's ending (.ndjson or .csv). The file
 * is read in bounded pieces, never whole: memory use does not depend on the
 * file's size. A record that breaks a rule of records.md comes back as a
 * rejection carrying its line number, its id when that id is valid, and a
 * reason that never holds a field value (it may be a CPR number).
 */
#ifndef PSYMON_READER_H
#define PSYMON_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "psymon/limits.h"
#include "psymon/record.h"
#include "psymon/time.h"

typedef struct reader reader_t;

typedef struct {
    bool rejected;
    long line;               /* 1-based line where the record starts */
    psy_record_t rec;        /* when !rejected */
    char id[PSY_ID_MAX + 1]; /* when rejected: the record's id if valid, else "" */
    char reason[160];        /* when rejected: why, without any field value */
} reader_item_t;

/*
 * Opens `path` for reading. Patients are pseudonymised under `key`; `now`
 * is the instant the file is read (a record more than 24 h after it is
 * rejected). Returns NULL with errno set (EINVAL for an ending that is
 * neither .ndjson nor .csv). Caller owns the reader and must destroy it.
 */
reader_t *reader_new(const char *path, const uint8_t key[PSY_PSEUDO_KEYLEN], psy_time_t now);

/*
 * As reader_new, but reads the open stream f; `name` only chooses the
 * encoding by its ending. On success the reader owns f and closes it in
 * reader_destroy(); on failure (NULL, errno set) the caller still owns f.
 * For tests and fuzz targets (fmemopen).
 */
reader_t *reader_new_stream(FILE *f, const char *name, const uint8_t key[PSY_PSEUDO_KEYLEN],
                            psy_time_t now);

/*
 * Reads the next record into *ret. Returns 1 when *ret holds a record or a
 * rejection, 0 at the end of the file, or a negative errno on an I/O error.
 */
int reader_next(reader_t *r, reader_item_t *ret);

/* Closes the file and NULLs *r. Accepts NULL. */
void reader_destroy(reader_t **r);

#endif

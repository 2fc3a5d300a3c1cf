/*
 * formats: the two encodings of an inbox file (records.md, "Files"), each
 * turning one line or row, already cut out by the reader, into a record or
 * a rejection. Internal to the collector.
 */
#ifndef PSYMON_FORMATS_H
#define PSYMON_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/record.h"
#include "validate.h"

/*
 * Decodes one NDJSON line (no newline) and validates it. Returns 1 with
 * *ret_rec filled, 0 for a blank line (to be skipped), or -EINVAL with err
 * filled.
 */
int ndjson_record(const char *line, size_t len, const uint8_t key[PSY_PSEUDO_KEYLEN],
                  psy_time_t now, psy_record_t *ret_rec, validate_error_t *err);

/* The columns of a CSV file: for each, the field it names, or -1 when none. */
typedef struct {
    int ncols;
    signed char field[PSY_CSV_FIELDS];
} csv_header_t;

/*
 * Reads a header row (without its line break; cut in place, so row must be
 * writable and hold a byte past len). Returns 0 with *ret filled, or
 * -EINVAL with err filled.
 */
int csv_header(char *row, size_t len, csv_header_t *ret, validate_error_t *err);

/*
 * Decodes one data row under header h and validates it. row is cut in
 * place as for csv_header(). Returns 1 with *ret_rec filled or -EINVAL
 * with err filled.
 */
int csv_record(const csv_header_t *h, char *row, size_t len, const uint8_t key[PSY_PSEUDO_KEYLEN],
               psy_time_t now, psy_record_t *ret_rec, validate_error_t *err);

#endif

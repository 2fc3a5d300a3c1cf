/*
 * csv: RFC 4180 rows (records.md). The reader has already cut out one row,
 * embedded line breaks included; here it is split into cells in place, the
 * quotes undone, and each cell given to the field its column names.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "formats.h"

typedef struct {
    char *s[PSY_CSV_FIELDS];
    size_t len[PSY_CSV_FIELDS];
    int n; /* cells in the row, also those beyond PSY_CSV_FIELDS */
} cells_t;

enum { CELL_START, CELL_PLAIN, CELL_QUOTED, CELL_QUOTE_IN_QUOTED };

/*
 * Splits row[0..len) into cells, writing each cell's unquoted bytes over
 * the row (they never take more room than the quoted form) and ending each
 * with a NUL, so row needs one byte past len. A quote inside an unquoted
 * cell, text after a closing quote, and a quote left open are errors.
 */
static int
split(char *row, size_t len, cells_t *ret, validate_error_t *err)
{
    size_t w = 0, start = 0;
    int state = CELL_START;
    bool bad = false;

    ret->n = 0;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len;
        char c = end ? ',' : row[i];

        if (!end && state == CELL_QUOTED) {
            if (c == '"')
                state = CELL_QUOTE_IN_QUOTED;
            else
                row[w++] = c;
            continue;
        }
        if (c == ',') {
            if (state == CELL_QUOTED) {
                validate_reject(err, "unterminated quoted field");
                return -EINVAL;
            }
            if (ret->n < PSY_CSV_FIELDS) {
                ret->s[ret->n] = row + start;
                ret->len[ret->n] = w - start;
            }
            ret->n++;
            row[w++] = '\0';
            start = w;
            state = CELL_START;
            continue;
        }
        switch (state) {
        case CELL_START:
            if (c == '"') {
                state = CELL_QUOTED;
            } else {
                row[w++] = c;
                state = CELL_PLAIN;
            }
            break;
        case CELL_PLAIN:
            if (c == '"')
                bad = true;
            row[w++] = c;
            break;
        case CELL_QUOTE_IN_QUOTED:
            if (c == '"') {
                row[w++] = c;
                state = CELL_QUOTED;
            } else {
                bad = true;
                row[w++] = c;
                state = CELL_PLAIN;
            }
            break;
        }
    }
    if (bad) {
        validate_reject(err, "malformed quotes in CSV row");
        return -EINVAL;
    }
    return 0;
}

int
csv_header(char *row, size_t len, csv_header_t *ret, validate_error_t *err)
{
    cells_t c;
    csv_header_t h;
    bool seen[VALIDATE_F__COUNT] = {false};
    int r;

    err->id[0] = '\0';
    r = split(row, len, &c, err);
    if (r < 0)
        return r;
    if (c.n > PSY_CSV_FIELDS) {
        validate_reject(err, "CSV header has more than 256 columns");
        return -EINVAL;
    }
    h.ncols = c.n;
    for (int i = 0; i < c.n; i++) {
        int f = validate_field_lookup(c.s[i], c.len[i]);

        if (f >= 0 && seen[f]) {
            snprintf(err->reason, sizeof(err->reason), "CSV header names column '%s' twice",
                     validate_field_name((validate_field_t)f));
            return -EINVAL;
        }
        if (f >= 0)
            seen[f] = true;
        h.field[i] = (signed char)f;
    }
    *ret = h;
    return 0;
}

/* An integer cell is digits only; values past LLONG_MAX saturate (and fail the range check). */
static bool
parse_digits(const char *s, size_t len, long long *ret)
{
    long long v = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (LLONG_MAX - 9) / 10)
            v = LLONG_MAX;
        else
            v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return true;
}

/* Gives a cell its kind: booleans are true or false, integers digits, all else a string. */
static void
value_of(validate_field_t f, const char *s, size_t len, validate_value_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (len == 0)
        return;
    ret->kind = VALIDATE_STR;
    ret->s = s;
    ret->len = len;
    if (validate_field_is_bool(f)) {
        if (len == 4 && memcmp(s, "true", 4) == 0) {
            ret->kind = VALIDATE_BOOL;
            ret->b = true;
        } else if (len == 5 && memcmp(s, "false", 5) == 0) {
            ret->kind = VALIDATE_BOOL;
            ret->b = false;
        }
    } else if (validate_field_is_int(f) && parse_digits(s, len, &ret->i)) {
        ret->kind = VALIDATE_INT;
    }
}

int
csv_record(const csv_header_t *h, char *row, size_t len, const uint8_t key[PSY_PSEUDO_KEYLEN],
           psy_time_t now, psy_record_t *ret_rec, validate_error_t *err)
{
    validate_input_t in;
    cells_t c;
    int r;

    err->id[0] = '\0';
    r = split(row, len, &c, err);
    if (r < 0)
        return r;
    if (c.n != h->ncols) {
        validate_reject(err, c.n < h->ncols ? "row has fewer cells than the header"
                                            : "row has more cells than the header");
        return -EINVAL;
    }
    validate_input_init(&in);
    for (int i = 0; i < c.n; i++)
        if (h->field[i] >= 0)
            value_of((validate_field_t)h->field[i], c.s[i], c.len[i], &in.v[h->field[i]]);
    r = validate_record(&in, key, now, ret_rec, err);
    return r < 0 ? r : 1;
}

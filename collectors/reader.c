/*
 * reader: cuts an inbox file into lines (NDJSON) or rows (CSV) and hands
 * each to its format (see reader.h).
 *
 * Memory is two fixed buffers: the bytes read from the file and the row
 * being assembled, each about PSY_LINE_MAX. A longer row is skipped to its
 * end without being kept, and reported as one rejection, so that reading
 * goes on at the row after it.
 */
#include "reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "formats.h"

#define READ_CHUNK (64 * 1024)
#define ROW_CAP    (PSY_LINE_MAX + 2) /* a full line, its CR, a NUL */

/* A rejection is copied from validate_error_t into reader_item_t whole. */
_Static_assert(sizeof(((reader_item_t *)0)->reason) == sizeof(((validate_error_t *)0)->reason),
               "reason buffers differ");
_Static_assert(sizeof(((reader_item_t *)0)->id) == sizeof(((validate_error_t *)0)->id),
               "id buffers differ");

typedef enum { FORMAT_NDJSON, FORMAT_CSV } format_t;

struct reader {
    FILE *f;
    format_t format;
    uint8_t key[PSY_PSEUDO_KEYLEN];
    psy_time_t now;

    char *in; /* bytes read and not yet consumed: in[pos..end) */
    size_t pos, end;
    bool eof;

    char *row; /* the row being assembled */
    size_t row_len;
    bool overflow;
    long next_line; /* line number of the next byte in `in` */
    bool first_row;

    bool have_header; /* CSV: a header row was read */
    bool header_ok;
    csv_header_t header;
};

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

reader_t *
reader_new_stream(FILE *f, const char *name, const uint8_t key[PSY_PSEUDO_KEYLEN], psy_time_t now)
{
    reader_t *r;
    format_t format;

    if (!f || !name || !key) {
        errno = EINVAL;
        return NULL;
    }
    if (has_suffix(name, ".ndjson")) {
        format = FORMAT_NDJSON;
    } else if (has_suffix(name, ".csv")) {
        format = FORMAT_CSV;
    } else {
        errno = EINVAL;
        return NULL;
    }
    if (sodium_init() < 0) {
        errno = ENOMEM;
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->in = malloc(READ_CHUNK);
    r->row = malloc(ROW_CAP);
    if (!r->in || !r->row) {
        free(r->in);
        free(r->row);
        free(r);
        errno = ENOMEM;
        return NULL;
    }
    r->f = f;
    r->format = format;
    memcpy(r->key, key, sizeof(r->key));
    r->now = now;
    r->next_line = 1;
    r->first_row = true;
    return r;
}

reader_t *
reader_new(const char *path, const uint8_t key[PSY_PSEUDO_KEYLEN], psy_time_t now)
{
    reader_t *r;
    FILE *f;
    int saved;

    if (!path || !key || (!has_suffix(path, ".ndjson") && !has_suffix(path, ".csv"))) {
        errno = EINVAL;
        return NULL;
    }
    f = fopen(path, "re");
    if (!f)
        return NULL;
    /* Our own buffer is the only one: the clear identifiers should not linger in a second. */
    setvbuf(f, NULL, _IONBF, 0);
    r = reader_new_stream(f, path, key, now);
    if (!r) {
        saved = errno;
        fclose(f);
        errno = saved;
    }
    return r;
}

void
reader_destroy(reader_t **rp)
{
    reader_t *r;

    if (!rp || !*rp)
        return;
    r = *rp;
    if (r->f)
        fclose(r->f);
    sodium_memzero(r->in, READ_CHUNK);
    sodium_memzero(r->row, ROW_CAP);
    sodium_memzero(r->key, sizeof(r->key));
    free(r->in);
    free(r->row);
    free(r);
    *rp = NULL;
}

/* Refills `in` once it is used up. Returns 1 with bytes to read, 0 at the end, or -errno. */
static int
fill(reader_t *r)
{
    size_t n;

    if (r->pos < r->end)
        return 1;
    if (r->eof)
        return 0;
    n = fread(r->in, 1, READ_CHUNK, r->f);
    r->pos = 0;
    r->end = n;
    if (n == 0) {
        if (ferror(r->f))
            return errno > 0 ? -errno : -EIO;
        r->eof = true;
        return 0;
    }
    return 1;
}

/*
 * Skips a UTF-8 byte-order mark at the start of the file, before any row
 * is cut, so that it neither counts towards a line's length nor hides a
 * quote at the start of a CSV header. Returns 0 or -errno.
 */
static int
skip_bom(reader_t *r)
{
    while (r->end < 3 && !r->eof) {
        size_t n = fread(r->in + r->end, 1, READ_CHUNK - r->end, r->f);

        if (n == 0) {
            if (ferror(r->f))
                return errno > 0 ? -errno : -EIO;
            r->eof = true;
        }
        r->end += n;
    }
    if (r->end >= 3 && memcmp(r->in, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
    return 0;
}

/* Appends in[from..to) to the row, or marks it overflowing once it outgrows PSY_LINE_MAX + CR. */
static void
append(reader_t *r, size_t from, size_t to)
{
    size_t n = to - from;

    if (r->overflow)
        return;
    if (n > ROW_CAP - 1 - r->row_len) {
        r->overflow = true;
        return;
    }
    memcpy(r->row + r->row_len, r->in + from, n);
    r->row_len += n;
}

/*
 * Where a CSV scan stands. A quote opens a quoted cell only at the start
 * of a cell, as in csv.c, so a stray quote inside a cell (rejected there)
 * cannot swallow the rows after it.
 */
enum { SCAN_START, SCAN_PLAIN, SCAN_QUOTED, SCAN_QUOTE_IN_QUOTED };

/* Returns the index of the newline ending the CSV row in in[pos..end), or end. */
static size_t
scan_csv(reader_t *r, int *state)
{
    for (size_t i = r->pos; i < r->end; i++) {
        char c = r->in[i];

        switch (*state) {
        case SCAN_QUOTED:
            if (c == '"')
                *state = SCAN_QUOTE_IN_QUOTED;
            else if (c == '\n')
                r->next_line++;
            continue;
        case SCAN_QUOTE_IN_QUOTED:
            if (c == '"') {
                *state = SCAN_QUOTED;
                continue;
            }
            break;
        case SCAN_START:
            if (c == '"') {
                *state = SCAN_QUOTED;
                continue;
            }
            break;
        default:
            break;
        }
        if (c == '\n')
            return i;
        *state = c == ',' ? SCAN_START : SCAN_PLAIN;
    }
    return r->end;
}

/*
 * Consumes in[pos..end) up to the end of the current row, if it lies
 * there, appending to the row. Returns true when the row ended. An NDJSON
 * row ends at a newline; a CSV row at a newline outside a quoted cell.
 */
static bool
scan(reader_t *r, int *state)
{
    size_t stop = r->end;

    if (r->format == FORMAT_NDJSON) {
        const char *nl = memchr(r->in + r->pos, '\n', r->end - r->pos);

        if (nl)
            stop = (size_t)(nl - r->in);
    } else {
        stop = scan_csv(r, state);
    }
    append(r, r->pos, stop);
    if (stop == r->end) {
        r->pos = stop;
        return false;
    }
    r->pos = stop + 1;
    r->next_line++;
    return true;
}

/*
 * Assembles the next row in r->row (without its line break, NUL-ended)
 * and returns 1, or 0 at the end of the file, or -errno. *ret_line is the
 * line the row starts on. A final row without a line break still counts.
 */
static int
next_row(reader_t *r, long *ret_line)
{
    bool any = false;
    int k, state = SCAN_START;

    if (r->first_row) {
        k = skip_bom(r);
        if (k < 0)
            return k;
        r->first_row = false;
    }
    r->row_len = 0;
    r->overflow = false;
    *ret_line = r->next_line;
    for (;;) {
        k = fill(r);
        if (k < 0)
            return k;
        if (k == 0) {
            if (!any)
                return 0;
            break;
        }
        any = true;
        if (scan(r, &state))
            break;
    }
    if (!r->overflow && r->row_len > 0 && r->row[r->row_len - 1] == '\r')
        r->row_len--;
    if (r->row_len > PSY_LINE_MAX)
        r->overflow = true;
    r->row[r->row_len] = '\0';
    return 1;
}

static void
reject(reader_item_t *ret, long line, const validate_error_t *err)
{
    ret->rejected = true;
    ret->line = line;
    memcpy(ret->id, err->id, sizeof(ret->id));
    memcpy(ret->reason, err->reason, sizeof(ret->reason));
}

/*
 * Decodes the row just assembled. Returns 1 with *ret filled, or 0 when
 * the row holds no record (a blank line, a CSV header).
 */
static int
decode_row(reader_t *r, long line, reader_item_t *ret)
{
    validate_error_t err = {.id = "", .reason = ""};
    psy_record_t rec;
    int k;

    if (r->overflow && r->format == FORMAT_CSV && !r->have_header) {
        /* The next row must not be taken for the header. */
        r->have_header = true;
        validate_reject(&err, "CSV header longer than 65536 bytes");
        reject(ret, line, &err);
        return 1;
    }
    if (r->overflow) {
        validate_reject(&err, r->format == FORMAT_CSV ? "row longer than 65536 bytes"
                                                      : "line longer than 65536 bytes");
        reject(ret, line, &err);
        return 1;
    }
    /* Blank lines are skipped in CSV too: an empty row could never be a record. */
    if (r->format == FORMAT_CSV && r->row_len == 0)
        return 0;
    if (!validate_utf8(r->row, r->row_len)) {
        if (r->format == FORMAT_CSV && !r->have_header) {
            r->have_header = true;
            validate_reject(&err, "invalid UTF-8 in CSV header");
        } else {
            validate_reject(&err, "invalid UTF-8");
        }
        reject(ret, line, &err);
        return 1;
    }
    if (r->format == FORMAT_NDJSON) {
        k = ndjson_record(r->row, r->row_len, r->key, r->now, &rec, &err);
    } else if (!r->have_header) {
        r->have_header = true;
        k = csv_header(r->row, r->row_len, &r->header, &err);
        if (k == 0) {
            r->header_ok = true;
            return 0;
        }
    } else if (!r->header_ok) {
        validate_reject(&err, "no valid CSV header");
        k = -EINVAL;
    } else {
        k = csv_record(&r->header, r->row, r->row_len, r->key, r->now, &rec, &err);
    }
    if (k == 0)
        return 0;
    if (k < 0) {
        reject(ret, line, &err);
        return 1;
    }
    ret->rejected = false;
    ret->line = line;
    ret->rec = rec;
    ret->id[0] = '\0';
    ret->reason[0] = '\0';
    return 1;
}

int
reader_next(reader_t *r, reader_item_t *ret)
{
    long line;
    int k;

    if (!r || !ret)
        return -EINVAL;
    for (;;) {
        k = next_row(r, &line);
        if (k <= 0)
            return k;
        k = decode_row(r, line, ret);
        /* The row may hold a clear identifier; it is of no use any more. */
        sodium_memzero(r->row, r->row_len);
        if (k > 0)
            return 1;
    }
}

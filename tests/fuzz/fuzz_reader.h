/*
 * The body of the reader's fuzz targets (fuzz_csv.c, fuzz_ndjson.c): one
 * inbox file, named so that its extension picks the encoding, read to its
 * end. Every item must be a record or a rejection; the reader must neither
 * crash nor fail with an I/O error on memory it was handed.
 */
#ifndef PSYMON_TESTS_FUZZ_READER_H
#define PSYMON_TESTS_FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "reader.h"

static int
fuzz_reader(const uint8_t *data, size_t size, const char *name)
{
    static const uint8_t key[PSY_PSEUDO_KEYLEN] = {1, 2, 3};
    reader_item_t item;
    reader_t *r;
    FILE *f;
    int k;

    /* fmemopen refuses an empty buffer; an empty file has nothing to read anyway. */
    if (size == 0)
        return 0;
    f = fmemopen((void *)data, size, "r");
    if (!f)
        return 0;
    /* A fixed "now": 2024-06-01T00:00:00Z. */
    r = reader_new_stream(f, name, key, INT64_C(1717200000) * PSY_USEC);
    if (!r) {
        fclose(f);
        return 0;
    }
    while ((k = reader_next(r, &item)) == 1) {
        if (item.rejected) {
            if (item.reason[0] == '\0' || item.line < 1)
                abort();
        } else if (item.rec.type <= PSY_REC_NONE || item.rec.type >= PSY_REC__COUNT) {
            abort();
        }
    }
    if (k < 0)
        abort();
    reader_destroy(&r);
    return 0;
}

#endif

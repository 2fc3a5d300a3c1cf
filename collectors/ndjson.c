/* ndjson: one JSON object per line (records.md), decoded by jansson. */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "formats.h"

static bool
is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/*
 * Maps a JSON value to what the validator understands. null and "" mean
 * absent (records.md); numbers with a fraction or exponent are no
 * integers, so they, arrays and objects are "other".
 */
static void
value_of(const json_t *j, validate_value_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    switch (json_typeof(j)) {
    case JSON_STRING:
        if (json_string_length(j) > 0) {
            ret->kind = VALIDATE_STR;
            ret->s = json_string_value(j);
            ret->len = json_string_length(j);
        }
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        ret->kind = VALIDATE_BOOL;
        ret->b = json_is_true(j);
        break;
    case JSON_INTEGER:
        ret->kind = VALIDATE_INT;
        ret->i = json_integer_value(j);
        break;
    case JSON_NULL:
        break;
    default:
        ret->kind = VALIDATE_OTHER;
        break;
    }
}

int
ndjson_record(const char *line, size_t len, const uint8_t key[PSY_PSEUDO_KEYLEN], psy_time_t now,
              psy_record_t *ret_rec, validate_error_t *err)
{
    validate_input_t in;
    json_error_t jerr;
    json_t *root, *val;
    const char *name;
    int r;

    if (is_blank(line, len))
        return 0;
    err->id[0] = '\0';
    /* jansson's own messages may quote the input, so only fixed texts go out. */
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        switch (json_error_code(&jerr)) {
        case json_error_duplicate_key:
            validate_reject(err, "duplicate key");
            break;
        case json_error_invalid_utf8:
            validate_reject(err, "invalid UTF-8");
            break;
        default:
            validate_reject(err, "invalid JSON");
            break;
        }
        return -EINVAL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        validate_reject(err, "line is not a JSON object");
        return -EINVAL;
    }
    validate_input_init(&in);
    json_object_foreach(root, name, val)
    {
        int f = validate_field_lookup(name, strlen(name));

        if (f >= 0)
            value_of(val, &in.v[f]);
    }
    r = validate_record(&in, key, now, ret_rec, err);
    json_decref(root);
    return r < 0 ? r : 1;
}

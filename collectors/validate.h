/*
 * validate: the rules of records.md, shared by the NDJSON and CSV readers.
 *
 * A reader turns one line or row into a validate_input_t: for each field
 * that records.md names, its value as the encoding gave it (a string, a
 * boolean, an integer, something else, or nothing). validate_record()
 * then applies every rule and yields a psy_record_t with the patient
 * already pseudonymised, or a rejection whose reason names fields but never
 * holds a value.
 *
 * Pure: no clock, no files, no logging. Fields that records.md does not
 * name never reach this module; fields of another type are ignored here.
 */
#ifndef PSYMON_VALIDATE_H
#define PSYMON_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/record.h"
#include "psymon/time.h"

/* Every field that records.md names. */
typedef enum {
    VALIDATE_F_TYPE = 0,
    VALIDATE_F_ID,
    VALIDATE_F_TIME,
    VALIDATE_F_PATIENT,
    VALIDATE_F_WARD,
    VALIDATE_F_VOID,
    VALIDATE_F_ADMISSION,
    VALIDATE_F_MODE,
    VALIDATE_F_LEGAL,
    VALIDATE_F_AGE,
    VALIDATE_F_OUTCOME,
    VALIDATE_F_KIND,
    VALIDATE_F_END,
    VALIDATE_F_VOLUNTARY,
    VALIDATE_F_ROLE,
    VALIDATE_F_MINUTES,
    VALIDATE_F_REFERRAL,
    VALIDATE_F__COUNT
} validate_field_t;

/* What an encoding made of a value. ABSENT covers JSON null and "". */
typedef enum {
    VALIDATE_ABSENT = 0,
    VALIDATE_STR,   /* s[0..len), NUL-terminated at s[len] */
    VALIDATE_BOOL,  /* b */
    VALIDATE_INT,   /* i; an encoding saturates what does not fit */
    VALIDATE_OTHER, /* of no type a field can have (a JSON real, array, object) */
} validate_kind_t;

typedef struct {
    validate_kind_t kind;
    const char *s;
    size_t len;
    bool b;
    long long i;
} validate_value_t;

typedef struct {
    validate_value_t v[VALIDATE_F__COUNT];
} validate_input_t;

/* Why a record was rejected; id is its id when that id is valid, else "". */
typedef struct {
    char id[PSY_ID_MAX + 1];
    char reason[160];
} validate_error_t;

/* The field called name[0..len), or -1 when records.md names no such field. */
int validate_field_lookup(const char *name, size_t len);

/* The name of a field as records.md writes it ("admission"). */
const char *validate_field_name(validate_field_t f);

/* True for fields whose values are booleans (void, voluntary). */
bool validate_field_is_bool(validate_field_t f);

/* True for fields whose values are integers (age, minutes). */
bool validate_field_is_int(validate_field_t f);

/* Sets every value of in to absent. */
void validate_input_init(validate_input_t *in);

/*
 * Applies records.md to in. `now` is the instant the file is read: a
 * `time` more than PSY_FUTURE_SKEW_S after it is rejected. The patient is
 * pseudonymised under key, after a missing age was derived from it.
 * Returns 0 with *ret_rec filled, or -EINVAL with *err filled and *ret_rec
 * untouched.
 */
int validate_record(const validate_input_t *in, const uint8_t key[PSY_PSEUDO_KEYLEN],
                    psy_time_t now, psy_record_t *ret_rec, validate_error_t *err);

/*
 * Fills err with a rejection that concerns the line or row itself
 * ("invalid UTF-8"), before any field could be read. `reason` must hold no
 * field value.
 */
void validate_reject(validate_error_t *err, const char *reason);

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool validate_utf8(const char *s, size_t len);

#endif

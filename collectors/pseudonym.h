/*
 * pseudonym: the patient identifier's way out of the clear (records.md,
 * "Privacy").
 *
 * A patient identifier becomes the HMAC-SHA-256, under the region's 32-byte
 * key, of its normalised form, so that one patient links across centers and
 * nobody without the key can go back. A CPR number is normalised first (the
 * dash of DDMMYY-SSSS is removed) and, being the only place the age is
 * written, yields an age before it disappears.
 *
 * Pure functions: no clock, no files. Copies of the clear identifier made
 * here are wiped before returning.
 */
#ifndef PSYMON_PSEUDONYM_H
#define PSYMON_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/time.h"

/*
 * Writes the normalised form of the identifier id[0..len) to ret (at least
 * len bytes, no NUL added) and returns its length: `DDMMYY-SSSS` (six
 * digits, a dash, four digits) loses its dash, anything else is copied as
 * it is.
 */
size_t pseudonym_normalise(const char *id, size_t len, char *ret);

/*
 * Reads the birth date of a CPR number (normalised or not). The century
 * comes from the seventh digit by the Danish rule. Returns 0, or -EINVAL
 * when id is not ten digits (after normalisation) holding a real date;
 * the ret_* are untouched then.
 */
int pseudonym_cpr_birth(const char *id, size_t len, int *ret_y, int *ret_m, int *ret_d);

/*
 * The age in whole years, at the civil date of `at` in the installed zone
 * (psy_civil_date), of the patient whose CPR number is id. Returns the age,
 * -EINVAL when id is no CPR number with a valid date, or -ERANGE when the
 * birth date lies after `at`.
 */
int pseudonym_age(const char *id, size_t len, psy_time_t at);

/*
 * Writes the pseudonym of the identifier id[0..len) to out: HMAC-SHA-256
 * under key of the identifier's normalised bytes.
 */
void pseudonym_make(const uint8_t key[PSY_PSEUDO_KEYLEN], const char *id, size_t len,
                    uint8_t out[PSY_PSEUDONYM_LEN]);

#endif

/*
 * Key files: CURVE key pairs (Z85) and the pseudonymisation key (hex).
 *
 * A secret key file must not be readable by group or others; loading one
 * that is fails with -EPERM, so a daemon refuses to start on it.
 */
#ifndef PSYMON_KEYS_H
#define PSYMON_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"

/* Writes NAME.key (Z85 secret, mode 0600) and NAME.pub (Z85 public) in dir. */
int psy_keys_generate_curve(const char *dir, const char *name);
/* Writes a new random pseudonym key (64 hex digits, mode 0600) to path. */
int psy_keys_generate_pseudonym(const char *path);

/*
 * Reads a CURVE secret key file. On success ret_secret and ret_public hold
 * 40 Z85 characters plus NUL. Returns 0, -EPERM when the file is readable
 * by others, -EINVAL when it does not hold a key, or the errno of open/read.
 */
int psy_keys_load_curve(const char *path, char ret_secret[41], char ret_public[41]);
/* Reads a pseudonym key file. Errors as psy_keys_load_curve. */
int psy_keys_load_pseudonym(const char *path, uint8_t ret_key[PSY_PSEUDO_KEYLEN]);

/* True when `z85` is a well-formed 40-character Z85 CURVE key. */
int psy_keys_z85_valid(const char *z85);

#endif

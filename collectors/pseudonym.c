/* pseudonym: keyed pseudonyms and CPR ages (see pseudonym.h). */
#include "pseudonym.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#define CPR_LEN 10

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* True for a CPR number written with its dash: DDMMYY-SSSS. */
static bool
is_dashed_cpr(const char *id, size_t len)
{
    return len == CPR_LEN + 1 && id[6] == '-' && all_digits(id, 6) && all_digits(id + 7, 4);
}

size_t
pseudonym_normalise(const char *id, size_t len, char *ret)
{
    if (is_dashed_cpr(id, len)) {
        memcpy(ret, id, 6);
        memcpy(ret + 6, id + 7, 4);
        return CPR_LEN;
    }
    memcpy(ret, id, len);
    return len;
}

static bool
is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/*
 * The century of a CPR number follows from its seventh digit and the
 * two-digit year, as the CPR office assigns them: 0-3 were issued to people
 * born 1900-1999; 4 and 9 to people born 1937-2036; 5-8 to people born
 * 1858-2057.
 */
static int
cpr_century(int digit7, int yy)
{
    if (digit7 <= 3)
        return 1900;
    if (digit7 == 4 || digit7 == 9)
        return yy <= 36 ? 2000 : 1900;
    return yy <= 57 ? 2000 : 1800;
}

int
pseudonym_cpr_birth(const char *id, size_t len, int *ret_y, int *ret_m, int *ret_d)
{
    char n[PSY_PATIENT_MAX + 1];
    int y, m, d;

    if (len != CPR_LEN && len != CPR_LEN + 1)
        return -EINVAL;
    len = pseudonym_normalise(id, len, n);
    if (len != CPR_LEN || !all_digits(n, len)) {
        sodium_memzero(n, sizeof(n));
        return -EINVAL;
    }
    d = (n[0] - '0') * 10 + (n[1] - '0');
    m = (n[2] - '0') * 10 + (n[3] - '0');
    y = (n[4] - '0') * 10 + (n[5] - '0');
    y += cpr_century(n[6] - '0', y);
    sodium_memzero(n, sizeof(n));
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -EINVAL;
    *ret_y = y;
    *ret_m = m;
    *ret_d = d;
    return 0;
}

int
pseudonym_age(const char *id, size_t len, psy_time_t at)
{
    int by, bm, bd, y, m, d, age, r;

    r = pseudonym_cpr_birth(id, len, &by, &bm, &bd);
    if (r < 0)
        return r;
    psy_civil_date(at, &y, &m, &d);
    /* A birthday on 29 February is reached on 1 March in common years. */
    age = y - by;
    if (m < bm || (m == bm && d < bd))
        age--;
    return age < 0 ? -ERANGE : age;
}

void
pseudonym_make(const uint8_t key[PSY_PSEUDO_KEYLEN], const char *id, size_t len,
               uint8_t out[PSY_PSEUDONYM_LEN])
{
    crypto_auth_hmacsha256_state st;
    char n[CPR_LEN];

    crypto_auth_hmacsha256_init(&st, key, PSY_PSEUDO_KEYLEN);
    if (is_dashed_cpr(id, len)) {
        size_t nlen = pseudonym_normalise(id, len, n);

        crypto_auth_hmacsha256_update(&st, (const unsigned char *)n, nlen);
        sodium_memzero(n, sizeof(n));
    } else {
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, len);
    }
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/*
 * The INI configuration files of interfaces.md, parsed with inih.
 *
 * Each file is described by one table of keys, as systemd's
 * timesyncd-gperf.gperf describes timesyncd.conf: a row names the section
 * kind, the key, the function that parses its value and the offset of the
 * field it fills in the section's struct, plus the parser's arguments
 * (limits, a list's count, the words of a choice). inih hands us (section,
 * key, value); the handler finds the section's struct and the key's row,
 * and the row's parser stores the value.
 *
 * We count lines in our own reader so that every error names file, line
 * and key. Every key is checked: an unknown key or section is an error, as
 * is a key given twice. Checks that concern more than one key (a month
 * range, a rule's required keys, a center named in a rule) run when the
 * whole file is read, and name the line of the key they blame, which the
 * list of keys seen remembers.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psymon/config.h"
#include "psymon/keys.h"
#include "psymon/record.h"
#include "psymon/time.h"

/* Distinct (section, key) pairs remembered for duplicate checks: enough for
 * every center, the region and their population years at the limits, and
 * for every key of every [goal] and [alert] section. */
#define SEEN_MAX                                                                                   \
    ((PSY_CENTERS_MAX + 4) * (PSY_POP_YEARS_MAX + 8) + (PSY_GOALS_MAX + PSY_ALERTS_MAX + 2) * 16)

typedef enum {
    SEC_AGGREGATOR,
    SEC_CENTER,
    SEC_REGION,
    SEC_TARGET,
    SEC_GOAL,
    SEC_ALERT,
    SEC_NOTIFY,
    SEC_COLLECTOR,
} section_kind_t;

typedef struct parser parser_t;
typedef struct conf_key conf_key_t;

/*
 * Parses `value` of `key` (as the file spells it, which matters for prefix
 * keys) into the field at base + k->offset. Returns false after fail().
 */
typedef bool (*conf_parser_t)(parser_t *p, const conf_key_t *k, const char *key, const char *value,
                              void *base);

/* One row of a file's table of keys. */
struct conf_key {
    section_kind_t section;
    const char *name; /* ending in '.', it matches every key it begins: population.YYYY */
    conf_parser_t parse;
    size_t offset;            /* of the field in the section's struct */
    size_t size;              /* of that field */
    size_t aux;               /* a second field: a list's size_t count, a YYYY-MM's month */
    long min, max;            /* of a number, of a duration in seconds, of a list's length */
    const char *const *words; /* the values of a choice, stored as min + their index */
};

/* A section's kind as the header spells it; a named one is "[kind NAME]". */
typedef struct {
    const char *name;
    section_kind_t kind;
    bool named;
} section_def_t;

/* One configuration file: its sections, its keys, and what to do with them. */
typedef struct {
    const section_def_t *sections;
    size_t nsections;
    const conf_key_t *keys;
    size_t nkeys;
    /* The struct that the keys of a section fill (name NULL for an unnamed
     * section), made on first use; NULL after fail(). */
    void *(*section)(parser_t *p, section_kind_t kind, const char *name);
    /* Checks that need the whole file; false after fail(). */
    bool (*check)(parser_t *p);
} conf_file_t;

typedef struct {
    char *name; /* "section\nkey", the section spelt canonically */
    int line;
} seen_t;

struct parser {
    const conf_file_t *file;
    const char *path;
    char dir[PSY_PATH_MAX]; /* the file's folder, for relative paths */
    FILE *f;
    int line;
    bool line_too_long;
    /* The last section header in full: inih keeps only 49 bytes of it, too
     * few for [goal consultations:social_physician:network_meeting]. */
    char section[PSY_NAME_MAX + 32];
    bool section_too_long;
    int section_line;
    char *err;
    size_t err_size;
    bool failed;
    size_t nseen;
    seen_t *seen; /* SEEN_MAX of them */
    void *conf;
};

static void __attribute__((format(printf, 2, 3))) fail(parser_t *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (p->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->line > 0)
        snprintf(p->err, p->err_size, "%s:%d: %s", p->path, p->line, msg);
    else
        snprintf(p->err, p->err_size, "%s: %s", p->path, msg);
    p->failed = true;
}

/* inih keeps a truncated copy of a section's name; we keep the header's line and its full name. */
static void
remember_section(parser_t *p, const char *s)
{
    if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    while (isspace((unsigned char)*s))
        s++;
    const char *end = strchr(s, ']');
    if (*s != '[' || !end)
        return; /* not a header, or one inih refuses as a syntax error */
    size_t len = (size_t)(end - s - 1);
    p->section_too_long = len >= sizeof(p->section);
    if (p->section_too_long)
        len = sizeof(p->section) - 1;
    memcpy(p->section, s + 1, len);
    p->section[len] = '\0';
    p->section_line = p->line;
}

/* fgets that counts lines, notices a line longer than inih's buffer and remembers headers. */
static char *
reader(char *str, int num, void *stream)
{
    parser_t *p = stream;
    char *r = fgets(str, num, p->f);

    if (!r)
        return NULL;
    p->line++;
    size_t len = strlen(str);
    if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(p->f))
        p->line_too_long = true;
    remember_section(p, str);
    return r;
}

/* Remembers section+key and its line; false when it was seen before. */
static bool
first_time(parser_t *p, const char *section, const char *key)
{
    char buf[PSY_NAME_MAX + 128];

    snprintf(buf, sizeof(buf), "%s\n%s", section, key);
    for (size_t i = 0; i < p->nseen; i++)
        if (strcmp(p->seen[i].name, buf) == 0)
            return false;
    /* A key we cannot remember could come back unnoticed: refuse the file. */
    if (p->nseen == SEEN_MAX || !(p->seen[p->nseen].name = strdup(buf))) {
        fail(p, "key '%s': too many keys", key);
        return false;
    }
    p->seen[p->nseen++].line = p->line;
    return true;
}

/* The line where `key` was set in `section` (spelt canonically), or 0 when it was not. */
static int
line_of(const parser_t *p, const char *section, const char *key)
{
    size_t len = strlen(section);

    for (size_t i = 0; i < p->nseen; i++) {
        const char *s = p->seen[i].name;
        if (strncmp(s, section, len) == 0 && s[len] == '\n' && strcmp(s + len + 1, key) == 0)
            return p->seen[i].line;
    }
    return 0;
}

/* The field a row fills, and its second field. */
static void *
field(const conf_key_t *k, void *base)
{
    return (char *)base + k->offset;
}

static void *
aux_field(const conf_key_t *k, void *base)
{
    return (char *)base + k->aux;
}

static bool
copy_str(parser_t *p, const char *key, const char *value, char *dst, size_t size)
{
    size_t len = strlen(value);

    if (len == 0 || len >= size) {
        fail(p, "key '%s': value must be 1-%zu bytes", key, size - 1);
        return false;
    }
    memcpy(dst, value, len + 1);
    return true;
}

static bool
parse_long_value(parser_t *p, const char *key, const char *value, long min, long max, long *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max) {
        fail(p, "key '%s': expected a whole number from %ld to %ld", key, min, max);
        return false;
    }
    *ret = v;
    return true;
}

/* Splits a comma-separated value in place: the next item without its white space, or NULL. */
static char *
next_item(char **cursor)
{
    char *item = *cursor;

    if (!item)
        return NULL;
    char *comma = strchr(item, ',');
    if (comma) {
        *comma = '\0';
        *cursor = comma + 1;
    } else {
        *cursor = NULL;
    }
    while (*item == ' ' || *item == '\t')
        item++;
    size_t len = strlen(item);
    while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
        item[--len] = '\0';
    return item;
}

/* An http:// or https:// URL with a host, and no white space or control characters. */
static bool
url_valid(const char *s)
{
    const char *rest;

    if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else
        return false;
    if (!*rest || *rest == '/')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

/* 1-64 bytes of a-z 0-9 _ : (kpis.md's names; which ones exist only the aggregator knows). */
static bool
kpi_name_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > PSY_KPI_NAME_MAX)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_:") == len;
}

/* An alertname: 1-128 bytes of A-Z a-z 0-9 _, like a Prometheus rule's. */
static bool
alert_name_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > PSY_NAME_MAX)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

/* A duration in seconds the way an operator writes it: "90s", "15m", "4h", "2d". */
static void
format_seconds(long s, char *buf, size_t size)
{
    if (s > 0 && s % 86400 == 0)
        snprintf(buf, size, "%ldd", s / 86400);
    else if (s > 0 && s % 3600 == 0)
        snprintf(buf, size, "%ldh", s / 3600);
    else if (s > 0 && s % 60 == 0)
        snprintf(buf, size, "%ldm", s / 60);
    else
        snprintf(buf, size, "%lds", s);
}

/* The parsers of the tables' rows. */

static bool
parse_string(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    return copy_str(p, key, value, field(k, base), k->size);
}

/* A path, made absolute against the file's folder so that a daemon may chdir and reload. */
static bool
parse_path(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    int n;

    if (!*value) {
        fail(p, "key '%s': empty path", key);
        return false;
    }
    if (value[0] == '/')
        n = snprintf(field(k, base), k->size, "%s", value);
    else
        n = snprintf(field(k, base), k->size, "%s/%s", p->dir, value);
    if (n < 0 || (size_t)n >= k->size) {
        fail(p, "key '%s': path too long", key);
        return false;
    }
    return true;
}

static bool
parse_timezone(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    if (!parse_string(p, k, key, value, base))
        return false;
    if (!psy_tz_exists(value)) {
        fail(p, "key '%s': unknown time zone", key);
        return false;
    }
    return true;
}

static bool
parse_url(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    if (!url_valid(value)) {
        fail(p, "key '%s': expected a URL starting with http:// or https://", key);
        return false;
    }
    return parse_string(p, k, key, value, base);
}

/* Comma-separated URLs into char[k->max][k->size / k->max], their count at aux. */
static bool
parse_urls(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    char buf[PSY_PATH_MAX + 256], *cursor = buf, *url;
    size_t n = 0, each = k->size / (size_t)k->max;

    snprintf(buf, sizeof(buf), "%s", value);
    while ((url = next_item(&cursor))) {
        if (!url_valid(url)) {
            fail(p,
                 "key '%s': expected URLs starting with http:// or https://, separated by commas",
                 key);
            return false;
        }
        if (n == (size_t)k->max || strlen(url) >= each) {
            fail(p, "key '%s': at most %ld URLs of at most %zu bytes", key, k->max, each - 1);
            return false;
        }
        memcpy((char *)field(k, base) + n * each, url, strlen(url) + 1);
        n++;
    }
    *(size_t *)aux_field(k, base) = n;
    return true;
}

static bool
parse_int(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    long v;

    if (!parse_long_value(p, key, value, k->min, k->max, &v))
        return false;
    *(int *)field(k, base) = (int)v;
    return true;
}

static bool
parse_long(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    return parse_long_value(p, key, value, k->min, k->max, field(k, base));
}

static bool
parse_pct(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    char *end;
    double v = strtod(value, &end);

    if (end == value || *end || !(v >= 0 && v <= 100)) {
        fail(p, "key '%s': expected a percentage from 0 to 100", key);
        return false;
    }
    *(double *)field(k, base) = v;
    return true;
}

static bool
parse_number(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    char *end;
    double v = strtod(value, &end);

    if (end == value || *end || !isfinite(v)) {
        fail(p, "key '%s': expected a number", key);
        return false;
    }
    *(double *)field(k, base) = v;
    return true;
}

/* Years separated by commas into int[], their count at aux. A year given twice cannot be meant. */
static bool
parse_years(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    char buf[256], *save = NULL;
    int *years = field(k, base);
    size_t n = 0, max = k->size / sizeof(int);
    long y;

    snprintf(buf, sizeof(buf), "%s", value);
    for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        if (n == max) {
            fail(p, "key '%s': at most %zu years", key, max);
            return false;
        }
        if (!parse_long_value(p, key, t, 1900, 9999, &y))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (years[i] == y) {
                fail(p, "key '%s': year %ld given twice", key, y);
                return false;
            }
        }
        years[n++] = (int)y;
    }
    if (n == 0) {
        fail(p, "key '%s': expected years separated by commas", key);
        return false;
    }
    *(size_t *)aux_field(k, base) = n;
    return true;
}

/* "YYYY-MM": the year into the field, the month into aux. */
static bool
parse_month(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    int y, m, n = 0;

    if (strlen(value) != 7 || sscanf(value, "%4d-%2d%n", &y, &m, &n) != 2 || n != 7 || m < 1 ||
        m > 12 || y < 1900 || y > 9999) {
        fail(p, "key '%s': expected YYYY-MM", key);
        return false;
    }
    *(int *)field(k, base) = y;
    *(int *)aux_field(k, base) = m;
    return true;
}

/* population.YYYY = N, into a psy_populations_t kept sorted by year. */
static bool
parse_population(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    psy_populations_t *pop = field(k, base);
    const char *y = key + strlen(k->name);
    long year, n;

    if (strlen(y) != 4) {
        fail(p, "key '%s': expected population.YYYY", key);
        return false;
    }
    if (!parse_long_value(p, key, y, 1900, 9999, &year))
        return false;
    if (!parse_long_value(p, key, value, 0, 1000000000L, &n))
        return false;
    /* Rates per 100,000 divide by it: leaving the year out is what one means. */
    if (n == 0) {
        fail(p, "key '%s': a population of 0 cannot be meant; leave the year out", key);
        return false;
    }
    if (pop->count >= PSY_POP_YEARS_MAX) {
        fail(p, "key '%s': too many population years", key);
        return false;
    }
    size_t i = pop->count;
    while (i > 0 && pop->years[i - 1].year > year) {
        pop->years[i] = pop->years[i - 1];
        i--;
    }
    pop->years[i].year = (int)year;
    pop->years[i].population = n;
    pop->count++;
    return true;
}

/* One or two Z85 keys separated by a comma into char[2][41], their count at aux. */
static bool
parse_public_keys(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    char buf[128], *cursor = buf, *tok;
    char(*keys)[41] = field(k, base);
    size_t n = 0;

    if (strlen(value) >= sizeof(buf)) {
        fail(p, "key '%s': expected one or two Z85 keys separated by a comma", key);
        return false;
    }
    snprintf(buf, sizeof(buf), "%s", value);
    /* An empty value is a center shut out: its section stays, with no key. */
    if (!*value)
        cursor = NULL;
    while ((tok = next_item(&cursor))) {
        if (n == 2 || !psy_keys_z85_valid(tok)) {
            fail(p, "key '%s': expected one or two 40-character Z85 keys separated by a comma",
                 key);
            return false;
        }
        memcpy(keys[n++], tok, 41);
    }
    *(size_t *)aux_field(k, base) = n;
    return true;
}

static bool
parse_z85(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    if (!psy_keys_z85_valid(value)) {
        fail(p, "key '%s': expected a 40-character Z85 key", key);
        return false;
    }
    memcpy(field(k, base), value, 41);
    return true;
}

static bool
parse_center_id(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    if (!parse_string(p, k, key, value, base))
        return false;
    if (!psy_center_valid(value)) {
        fail(p, "key '%s': a center id is 1-32 bytes of a-z 0-9 -", key);
        return false;
    }
    return true;
}

static bool
parse_kpi_name(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    if (!kpi_name_valid(value)) {
        fail(p, "key '%s': a KPI name is 1-%d bytes of a-z 0-9 _ :", key, PSY_KPI_NAME_MAX);
        return false;
    }
    return parse_string(p, k, key, value, base);
}

static bool
bool_value(parser_t *p, const char *key, const char *value, bool *ret)
{
    static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
            *ret = strcmp(value, yes[i]) == 0;
            return true;
        }
    }
    fail(p, "key '%s': expected true or false (yes/no, 1/0)", key);
    return false;
}

static bool
parse_bool(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    return bool_value(p, key, value, field(k, base));
}

/* A boolean into an int that holds -1 until it is given. */
static bool
parse_tristate(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    bool b;

    if (!bool_value(p, key, value, &b))
        return false;
    *(int *)field(k, base) = b ? 1 : 0;
    return true;
}

/* A duration into int64_t microseconds, from k->min to k->max seconds. */
static bool
parse_duration(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    int64_t us;
    char lo[32], hi[32];

    if (psy_duration_parse(value, &us) == 0 && us >= k->min * PSY_USEC && us <= k->max * PSY_USEC) {
        *(int64_t *)field(k, base) = us;
        return true;
    }
    format_seconds(k->min, lo, sizeof(lo));
    format_seconds(k->max, hi, sizeof(hi));
    fail(p, "key '%s': expected a duration from %s to %s, a whole number and s, m, h or d", key, lo,
         hi);
    return false;
}

/* The index of `value` in a NULL-terminated list of words, or -1. */
static int
word_index(const char *const *words, const char *value)
{
    for (int i = 0; words[i]; i++)
        if (strcmp(value, words[i]) == 0)
            return i;
    return -1;
}

static bool
fail_words(parser_t *p, const char *key, const char *const *words)
{
    char list[128] = "";

    for (int i = 0; words[i]; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", words[i]);
    fail(p, "key '%s': expected one of %s", key, list);
    return false;
}

/* One of k->words, stored as k->min plus its index in an int (or an enum of int's size). */
static bool
parse_choice(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    int i = word_index(k->words, value);

    if (i < 0)
        return fail_words(p, key, k->words);
    i += (int)k->min;
    memcpy(field(k, base), &i, sizeof(i));
    return true;
}

/* One of k->words, stored as the word. */
static bool
parse_word(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    if (word_index(k->words, value) < 0)
        return fail_words(p, key, k->words);
    return parse_string(p, k, key, value, base);
}

/* kind = threshold; the only kind of rule one may define. */
static bool
parse_kind(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    if (strcmp(value, "threshold") != 0) {
        fail(p, "key '%s': the only kind is threshold", key);
        return false;
    }
    *(bool *)field(k, base) = true;
    return true;
}

/*
 * centers = all, region, or center ids separated by commas, stored without
 * white space ("pc-a,pc-b"). Whether the centers exist is checked when the
 * whole file is read, since their sections may come later.
 */
static bool
parse_centers(parser_t *p, const conf_key_t *k, const char *key, const char *value, void *base)
{
    char buf[PSY_PATH_MAX + 256], *cursor = buf, *id;
    char *dst = field(k, base);
    size_t len = 0;

    if (strcmp(value, "all") == 0 || strcmp(value, "region") == 0)
        return parse_string(p, k, key, value, base);
    snprintf(buf, sizeof(buf), "%s", value);
    while ((id = next_item(&cursor))) {
        if (!psy_center_valid(id) || strcmp(id, "all") == 0 || strcmp(id, "region") == 0) {
            fail(p, "key '%s': expected all, region, or center ids separated by commas", key);
            return false;
        }
        if (len + strlen(id) + 1 >= k->size) {
            fail(p, "key '%s': more than %zu bytes of center ids", key, k->size - 1);
            return false;
        }
        len += (size_t)snprintf(dst + len, k->size - len, "%s%s", len ? "," : "", id);
    }
    return true;
}

/* The tables. */

#define ROW(sec, key, fn, type, member)                                                            \
    .section = (sec), .name = (key), .parse = (fn), .offset = offsetof(type, member),              \
    .size = sizeof(((type *)0)->member)
#define AGG(sec, key, fn, member) ROW(sec, key, fn, psy_agg_conf_t, member)
#define CENTER(key, fn, member)   ROW(SEC_CENTER, key, fn, psy_center_conf_t, member)
#define GOAL(key, fn, member)     ROW(SEC_GOAL, key, fn, psy_goal_conf_t, member)
#define ALERT(key, fn, member)    ROW(SEC_ALERT, key, fn, psy_alert_conf_t, member)
#define COLL(key, fn, member)     ROW(SEC_COLLECTOR, key, fn, psy_coll_conf_t, member)

/* Durations of rules and notifications: up to ten years, which no one means literally. */
#define DURATION_MAX (3650L * 86400)

_Static_assert(sizeof(psy_alert_op_t) == sizeof(int), "parse_choice stores an int");

static const char *const severities[] = {"critical", "warning", "info", NULL};
static const char *const periods[] = {"month", "quarter", "year", "r12", NULL}; /* kpi.h order */
static const char *const ops[] = {">", ">=", "<", "<=", NULL};                  /* from GT */

static const section_def_t agg_sections[] = {
    {"aggregator", SEC_AGGREGATOR, false},
    {"center", SEC_CENTER, true},
    {"region", SEC_REGION, false},
    {"target", SEC_TARGET, false},
    {"goal", SEC_GOAL, true},
    {"alert", SEC_ALERT, true},
    {"notify", SEC_NOTIFY, false},
};

static const conf_key_t agg_keys[] = {
    {AGG(SEC_AGGREGATOR, "listen", parse_string, listen)},
    {AGG(SEC_AGGREGATOR, "secret_key_file", parse_path, secret_key_file)},
    {AGG(SEC_AGGREGATOR, "data_dir", parse_path, data_dir)},
    {AGG(SEC_AGGREGATOR, "http_listen", parse_string, http_listen)},
    {AGG(SEC_AGGREGATOR, "timezone", parse_timezone, timezone)},
    {AGG(SEC_AGGREGATOR, "external_url", parse_url, external_url)},

    {CENTER("name", parse_string, name)},
    {CENTER("public_key", parse_public_keys, keys), .aux = offsetof(psy_center_conf_t, nkeys)},
    {CENTER("population.", parse_population, population)},

    {AGG(SEC_REGION, "name", parse_string, region_name)},
    {AGG(SEC_REGION, "population.", parse_population, region_population)},

    {AGG(SEC_TARGET, "intrusive_reduction_pct", parse_pct, target_pct)},
    {AGG(SEC_TARGET, "baseline_years", parse_years, baseline_years),
     .aux = offsetof(psy_agg_conf_t, nbaseline)},
    {AGG(SEC_TARGET, "first_month", parse_month, first_year),
     .aux = offsetof(psy_agg_conf_t, first_month)},
    {AGG(SEC_TARGET, "last_month", parse_month, last_year),
     .aux = offsetof(psy_agg_conf_t, last_month)},

    {GOAL("target", parse_number, target)},

    {ALERT("enabled", parse_tristate, enabled)},
    {ALERT("for", parse_duration, for_us), .max = DURATION_MAX},
    {ALERT("keep_firing_for", parse_duration, keep_firing_for_us), .max = DURATION_MAX},
    {ALERT("severity", parse_word, severity), .words = severities},
    {ALERT("kind", parse_kind, threshold)},
    {ALERT("kpi", parse_kpi_name, kpi)},
    {ALERT("period", parse_choice, period), .words = periods},
    {ALERT("op", parse_choice, op), .min = PSY_ALERT_OP_GT, .words = ops},
    {ALERT("value", parse_number, value)},
    {ALERT("centers", parse_centers, centers)},
    {ALERT("summary", parse_string, summary)},

    {AGG(SEC_NOTIFY, "webhook", parse_urls, notify.webhook),
     .aux = offsetof(psy_agg_conf_t, notify.nwebhook), .max = PSY_NOTIFY_MAX},
    {AGG(SEC_NOTIFY, "alertmanager", parse_urls, notify.alertmanager),
     .aux = offsetof(psy_agg_conf_t, notify.nalertmanager), .max = PSY_NOTIFY_MAX},
    {AGG(SEC_NOTIFY, "exec", parse_path, notify.exec)},
    /* At least a minute: a repeat every few seconds would be a flood, not a reminder. */
    {AGG(SEC_NOTIFY, "repeat_interval", parse_duration, notify.repeat_interval_us), .min = 60,
     .max = DURATION_MAX},
    {AGG(SEC_NOTIFY, "send_resolved", parse_bool, notify.send_resolved)},
};

static const section_def_t coll_sections[] = {
    {"collector", SEC_COLLECTOR, false},
};

static const conf_key_t coll_keys[] = {
    {COLL("center", parse_center_id, center)},
    {COLL("aggregator", parse_string, aggregator)},
    {COLL("aggregator_public_key", parse_z85, aggregator_public_key)},
    {COLL("secret_key_file", parse_path, secret_key_file)},
    {COLL("pseudonym_key_file", parse_path, pseudonym_key_file)},
    {COLL("inbox", parse_path, inbox)},
    {COLL("state_dir", parse_path, state_dir)},
    {COLL("done_days", parse_int, done_days), .min = 0, .max = 36500},
    {COLL("spool_max_mb", parse_long, spool_max_mb), .min = 1, .max = 1024L * 1024},
};

/* The row of `key` in a section of `kind`, or NULL. */
static const conf_key_t *
find_key(const conf_file_t *file, section_kind_t kind, const char *key)
{
    for (size_t i = 0; i < file->nkeys; i++) {
        const conf_key_t *k = &file->keys[i];
        size_t len = strlen(k->name);
        if (k->section != kind)
            continue;
        if (k->name[len - 1] == '.' ? strncmp(key, k->name, len) == 0 : strcmp(key, k->name) == 0)
            return k;
    }
    return NULL;
}

/* Finds or makes the center `id`; "[center x]" twice is one center. */
static psy_center_conf_t *
center_section(parser_t *p, psy_agg_conf_t *c, const char *id)
{
    for (size_t i = 0; i < c->ncenters; i++)
        if (strcmp(c->centers[i].id, id) == 0)
            return &c->centers[i];
    if (!psy_center_valid(id)) {
        fail(p, "section [%s]: a center id is 1-32 bytes of a-z 0-9 -", p->section);
        return NULL;
    }
    if (c->ncenters >= PSY_CENTERS_MAX) {
        fail(p, "section [%s]: more than %d centers", p->section, PSY_CENTERS_MAX);
        return NULL;
    }
    psy_center_conf_t *cc = &c->centers[c->ncenters++];
    memset(cc, 0, sizeof(*cc));
    snprintf(cc->id, sizeof(cc->id), "%s", id);
    snprintf(cc->name, sizeof(cc->name), "%s", id);
    return cc;
}

static psy_goal_conf_t *
goal_section(parser_t *p, psy_agg_conf_t *c, const char *kpi)
{
    for (size_t i = 0; i < c->ngoals; i++)
        if (strcmp(c->goals[i].kpi, kpi) == 0)
            return &c->goals[i];
    if (!kpi_name_valid(kpi)) {
        fail(p, "section [%s]: a KPI name is 1-%d bytes of a-z 0-9 _ :", p->section,
             PSY_KPI_NAME_MAX);
        return NULL;
    }
    if (c->ngoals >= PSY_GOALS_MAX) {
        fail(p, "section [%s]: more than %d goals", p->section, PSY_GOALS_MAX);
        return NULL;
    }
    psy_goal_conf_t *g = &c->goals[c->ngoals++];
    memset(g, 0, sizeof(*g));
    snprintf(g->kpi, sizeof(g->kpi), "%s", kpi);
    g->line = p->section_line;
    return g;
}

static psy_alert_conf_t *
alert_section(parser_t *p, psy_agg_conf_t *c, const char *name)
{
    for (size_t i = 0; i < c->nalerts; i++)
        if (strcmp(c->alerts[i].name, name) == 0)
            return &c->alerts[i];
    if (!alert_name_valid(name)) {
        fail(p, "section [%s]: an alert name is 1-%d bytes of A-Z a-z 0-9 _", p->section,
             PSY_NAME_MAX);
        return NULL;
    }
    if (c->nalerts >= PSY_ALERTS_MAX) {
        fail(p, "section [%s]: more than %d alerts", p->section, PSY_ALERTS_MAX);
        return NULL;
    }
    psy_alert_conf_t *a = &c->alerts[c->nalerts++];
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->line = p->section_line;
    a->enabled = -1;
    a->for_us = -1;
    a->keep_firing_for_us = -1;
    return a;
}

static void *
agg_section(parser_t *p, section_kind_t kind, const char *name)
{
    psy_agg_conf_t *c = p->conf;

    switch (kind) {
    case SEC_CENTER:
        return center_section(p, c, name);
    case SEC_GOAL:
        return goal_section(p, c, name);
    case SEC_ALERT:
        return alert_section(p, c, name);
    default:
        return c;
    }
}

static void *
coll_section(parser_t *p, section_kind_t kind, const char *name)
{
    (void)kind;
    (void)name;
    return p->conf;
}

/* Fails naming `line` (0: no line) as if the parser stood there. */
static bool __attribute__((format(printf, 3, 4)))
fail_at(parser_t *p, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->line = line;
    fail(p, "%s", msg);
    return false;
}

/* A month range that is empty, or a baseline year after it ends, cannot be meant. */
static bool
check_target(parser_t *p, const psy_agg_conf_t *c)
{
    int first = c->first_year * 12 + c->first_month, last = c->last_year * 12 + c->last_month;
    int last_line = line_of(p, "target", "last_month");

    if (last < first) {
        /* Blame last_month when it was given, else the first_month that passed the default. */
        if (last_line)
            return fail_at(p, last_line,
                           "key 'last_month': %04d-%02d is before first_month %04d-%02d",
                           c->last_year, c->last_month, c->first_year, c->first_month);
        return fail_at(p, line_of(p, "target", "first_month"),
                       "key 'first_month': %04d-%02d is after last_month %04d-%02d", c->first_year,
                       c->first_month, c->last_year, c->last_month);
    }
    for (size_t i = 0; i < c->nbaseline; i++) {
        if (c->baseline_years[i] <= c->last_year)
            continue;
        int line = line_of(p, "target", "baseline_years");
        if (line)
            return fail_at(p, line, "key 'baseline_years': %d is after last_month %04d-%02d",
                           c->baseline_years[i], c->last_year, c->last_month);
        return fail_at(p, last_line, "key 'last_month': %04d-%02d is before baseline year %d",
                       c->last_year, c->last_month, c->baseline_years[i]);
    }
    return true;
}

/* Every id of a rule's centers names a [center] of the file. */
static bool
check_alert_centers(parser_t *p, const psy_agg_conf_t *c, const psy_alert_conf_t *a,
                    const char *section)
{
    char buf[sizeof(a->centers)], *cursor = buf, *id;

    if (strcmp(a->centers, "all") == 0 || strcmp(a->centers, "region") == 0)
        return true;
    snprintf(buf, sizeof(buf), "%s", a->centers);
    while ((id = next_item(&cursor)))
        if (!psy_agg_conf_center(c, id))
            return fail_at(p, line_of(p, section, "centers"),
                           "key 'centers' in [%s]: there is no [center %s]", section, id);
    return true;
}

/*
 * A rule of one's own needs a KPI, a comparison and a value; a section that
 * tunes a built-in rule may not give them. Fills in a rule's defaults.
 */
static bool
check_alert(parser_t *p, const psy_agg_conf_t *c, psy_alert_conf_t *a)
{
    static const char *const rule_keys[] = {"kpi", "period", "op", "value", "centers", "summary"};
    char section[PSY_NAME_MAX + 16];

    snprintf(section, sizeof(section), "alert %s", a->name);
    if (!a->threshold) {
        for (size_t i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++) {
            int line = line_of(p, section, rule_keys[i]);
            if (line)
                return fail_at(p, line,
                               "key '%s' in [%s]: only a rule with kind = threshold takes it",
                               rule_keys[i], section);
        }
        return true;
    }
    const char *missing = !a->kpi[0]                      ? "kpi"
                          : !a->op                        ? "op"
                          : !line_of(p, section, "value") ? "value"
                                                          : NULL;
    if (missing)
        return fail_at(p, a->line, "section [%s]: key '%s' is required with kind = threshold",
                       section, missing);
    if (!a->centers[0])
        snprintf(a->centers, sizeof(a->centers), "all");
    if (!a->severity[0])
        snprintf(a->severity, sizeof(a->severity), "warning");
    return check_alert_centers(p, c, a, section);
}

static bool
agg_check(parser_t *p)
{
    psy_agg_conf_t *c = p->conf;

    const char *missing = !c->listen[0]            ? "listen"
                          : !c->secret_key_file[0] ? "secret_key_file"
                          : !c->data_dir[0]        ? "data_dir"
                                                   : NULL;
    if (missing)
        return fail_at(p, 0, "key '%s' in [aggregator] is required", missing);
    if (!check_target(p, c))
        return false;
    for (size_t i = 0; i < c->nalerts; i++)
        if (!check_alert(p, c, &c->alerts[i]))
            return false;

    /* Links are built by appending a path: the address always ends in '/'. */
    size_t len = strlen(c->external_url);
    if (len == 0) {
        snprintf(c->external_url, sizeof(c->external_url), "http://%s/", c->http_listen);
    } else if (c->external_url[len - 1] != '/') {
        if (len + 1 >= sizeof(c->external_url))
            return fail_at(p, line_of(p, "aggregator", "external_url"),
                           "key 'external_url': value must be 1-%zu bytes",
                           sizeof(c->external_url) - 2);
        memcpy(c->external_url + len, "/", 2);
    }
    return true;
}

static bool
coll_check(parser_t *p)
{
    psy_coll_conf_t *c = p->conf;

    const char *missing = !c->center[0]                  ? "center"
                          : !c->aggregator[0]            ? "aggregator"
                          : !c->aggregator_public_key[0] ? "aggregator_public_key"
                          : !c->secret_key_file[0]       ? "secret_key_file"
                          : !c->pseudonym_key_file[0]    ? "pseudonym_key_file"
                          : !c->inbox[0]                 ? "inbox"
                          : !c->state_dir[0]             ? "state_dir"
                                                         : NULL;
    if (missing)
        return fail_at(p, 0, "key '%s' in [collector] is required", missing);
    return true;
}

static const conf_file_t agg_file = {
    agg_sections, sizeof(agg_sections) / sizeof(agg_sections[0]),
    agg_keys,     sizeof(agg_keys) / sizeof(agg_keys[0]),
    agg_section,  agg_check,
};

static const conf_file_t coll_file = {
    coll_sections, sizeof(coll_sections) / sizeof(coll_sections[0]),
    coll_keys,     sizeof(coll_keys) / sizeof(coll_keys[0]),
    coll_section,  coll_check,
};

/*
 * inih's callback for every key: finds the section's kind and struct and
 * the key's row, refuses a key given twice, and lets the row parse the
 * value. The section comes from our reader, which keeps it in full.
 */
static int
handler(void *user, const char *inih_section, const char *key, const char *value)
{
    parser_t *p = user;
    const char *section = p->section;
    const section_def_t *def = NULL;
    (void)inih_section;

    if (p->failed)
        return 0;
    if (p->line_too_long) {
        fail(p, "line too long");
        return 0;
    }
    if (p->section_too_long) {
        fail(p, "section [%.32s...]: name too long", section);
        return 0;
    }
    /* "[kind NAME]": "[center x]" and "[center  x]" are one center. */
    size_t kind_len = strcspn(section, " \t");
    const char *name = section + kind_len + strspn(section + kind_len, " \t");
    for (size_t i = 0; i < p->file->nsections; i++) {
        const section_def_t *d = &p->file->sections[i];
        if (strlen(d->name) == kind_len && strncmp(section, d->name, kind_len) == 0 &&
            d->named == (*name != '\0'))
            def = d;
    }
    if (!def) {
        fail(p, "unknown section [%s]", section);
        return 0;
    }
    char canon[sizeof(p->section)];
    snprintf(canon, sizeof(canon), "%s%s%s", def->name, def->named ? " " : "", name);
    if (!first_time(p, canon, key)) {
        fail(p, "key '%s' given twice in [%s]", key, section);
        return 0;
    }

    void *base = p->file->section(p, def->kind, def->named ? name : NULL);
    if (!base)
        return 0;
    const conf_key_t *k = find_key(p->file, def->kind, key);
    if (!k) {
        fail(p, "unknown key '%s' in [%s]", key, section);
        return 0;
    }
    return k->parse(p, k, key, value, base) ? 1 : 0;
}

/* Runs inih over path into conf as `file` describes it; the parser's error message when it fails.
 */
static int
parse_file(const char *path, const conf_file_t *file, void *conf, char *err, size_t err_size)
{
    parser_t p = {.file = file, .path = path, .err = err, .err_size = err_size, .conf = conf};
    int r;

    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(p.dir, sizeof(p.dir), ".");
    else if (slash == path)
        snprintf(p.dir, sizeof(p.dir), "/");
    else
        snprintf(p.dir, sizeof(p.dir), "%.*s", (int)(slash - path), path);
    /* Make relative paths absolute, so a daemon may chdir and SIGHUP may reload. */
    if (p.dir[0] != '/') {
        char cwd[PSY_PATH_MAX], tmp[2 * PSY_PATH_MAX + 2];
        if (!getcwd(cwd, sizeof(cwd)))
            return -errno;
        snprintf(tmp, sizeof(tmp), "%s/%s", cwd, p.dir);
        if (strlen(tmp) >= sizeof(p.dir)) {
            snprintf(err, err_size, "%s: path too long", path);
            return -ENAMETOOLONG;
        }
        memcpy(p.dir, tmp, strlen(tmp) + 1);
    }

    p.seen = calloc(SEEN_MAX, sizeof(*p.seen));
    if (!p.seen) {
        snprintf(err, err_size, "%s: out of memory", path);
        return -ENOMEM;
    }
    p.f = fopen(path, "re");
    if (!p.f) {
        r = -errno;
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        free(p.seen);
        return r;
    }
    /* Debian's inih takes its options at run time. '#' is a Z85 character, so
     * only ';' starts a comment after a value, and continuation lines would
     * make an indented comment part of a key. */
    ini_allow_multiline = false;
    ini_allow_inline_comments = true;
    ini_use_stack = false;
    ini_allow_realloc = false;
    /* With a heap buffer and no realloc, inih reads lines of ini_initial_alloc
     * bytes (200 by default), not ini_max_line: set both, or a long path or a
     * list of URLs would be "too long". */
    ini_max_line = PSY_PATH_MAX + 256;
    ini_initial_alloc = ini_max_line;
    ini_stop_on_first_error = true;
    r = ini_parse_stream(reader, &p, handler, &p);
    fclose(p.f);

    if (p.failed) {
        r = -EINVAL;
    } else if (r == -2) {
        snprintf(err, err_size, "%s: out of memory", path);
        r = -ENOMEM;
    } else if (r != 0) {
        p.line = r;
        fail(&p, "syntax error: expected [section] or key = value");
        r = -EINVAL;
    } else if (p.line_too_long) {
        fail(&p, "line too long");
        r = -EINVAL;
    } else if (!file->check(&p)) {
        r = -EINVAL;
    }
    for (size_t i = 0; i < p.nseen; i++)
        free(p.seen[i].name);
    free(p.seen);
    return r;
}

int
psy_agg_conf_load(const char *path, psy_agg_conf_t *ret, char *err, size_t err_size)
{
    psy_agg_conf_t *c = ret;

    memset(c, 0, sizeof(*c));
    snprintf(c->http_listen, sizeof(c->http_listen), "127.0.0.1:8470");
    snprintf(c->timezone, sizeof(c->timezone), "Europe/Copenhagen");
    snprintf(c->region_name, sizeof(c->region_name), "region");
    c->target_pct = 30;
    c->nbaseline = 3;
    c->baseline_years[0] = 2021;
    c->baseline_years[1] = 2022;
    c->baseline_years[2] = 2023;
    c->first_year = 2024;
    c->first_month = 1;
    c->last_year = 2030;
    c->last_month = 12;
    c->notify.repeat_interval_us = 24 * PSY_HOUR;
    c->notify.send_resolved = true;

    return parse_file(path, &agg_file, c, err, err_size);
}

int
psy_coll_conf_load(const char *path, psy_coll_conf_t *ret, char *err, size_t err_size)
{
    psy_coll_conf_t *c = ret;

    memset(c, 0, sizeof(*c));
    c->done_days = 30;
    c->spool_max_mb = 1024;

    return parse_file(path, &coll_file, c, err, err_size);
}

const psy_center_conf_t *
psy_agg_conf_center_by_key(const psy_agg_conf_t *c, const char *z85_public_key)
{
    for (size_t i = 0; i < c->ncenters; i++)
        for (size_t k = 0; k < c->centers[i].nkeys; k++)
            if (strcmp(c->centers[i].keys[k], z85_public_key) == 0)
                return &c->centers[i];
    return NULL;
}

const psy_center_conf_t *
psy_agg_conf_center(const psy_agg_conf_t *c, const char *id)
{
    for (size_t i = 0; i < c->ncenters; i++)
        if (strcmp(c->centers[i].id, id) == 0)
            return &c->centers[i];
    return NULL;
}

long
psy_population_for(const psy_populations_t *p, int year)
{
    long best = 0;

    if (p->count == 0)
        return 0;
    /* Sorted by year: the last one not after `year`, else the first (nearest later). */
    for (size_t i = 0; i < p->count; i++) {
        if (p->years[i].year > year)
            return i == 0 ? p->years[0].population : best;
        best = p->years[i].population;
    }
    return best;
}

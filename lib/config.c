/*
 * The INI configuration files of interfaces.md, parsed with inih.
 *
 * inih hands us (section, key, value); we count lines in our own reader so
 * that every error names file, line and key. Every key is checked: an
 * unknown key or section is an error, as is a key given twice.
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
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
 * every center, the region and their population years at the limits. */
#define SEEN_MAX ((PSY_CENTERS_MAX + 4) * (PSY_POP_YEARS_MAX + 8))

typedef struct {
    const char *path;
    char dir[PSY_PATH_MAX]; /* the file's folder, for relative paths */
    FILE *f;
    int line;
    bool line_too_long;
    char *err;
    size_t err_size;
    bool failed;
    size_t nseen;
    char *seen[SEEN_MAX];
    void *conf;
} parser_t;

static void __attribute__((format(printf, 2, 3))) fail(parser_t *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (p->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->err_size, "%s:%d: %s", p->path, p->line, msg);
    p->failed = true;
}

/* fgets that counts lines and notices a line longer than inih's buffer. */
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
    return r;
}

/* Remembers section+key; false when it was seen before. */
static bool
first_time(parser_t *p, const char *section, const char *key)
{
    char buf[600];

    snprintf(buf, sizeof(buf), "%s\n%s", section, key);
    for (size_t i = 0; i < p->nseen; i++)
        if (strcmp(p->seen[i], buf) == 0)
            return false;
    /* A key we cannot remember could come back unnoticed: refuse the file. */
    if (p->nseen == SEEN_MAX || !(p->seen[p->nseen] = strdup(buf))) {
        fail(p, "key '%s': too many keys", key);
        return false;
    }
    p->nseen++;
    return true;
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
copy_path(parser_t *p, const char *key, const char *value, char *dst, size_t size)
{
    int n;

    if (!*value) {
        fail(p, "key '%s': empty path", key);
        return false;
    }
    if (value[0] == '/')
        n = snprintf(dst, size, "%s", value);
    else
        n = snprintf(dst, size, "%s/%s", p->dir, value);
    if (n < 0 || (size_t)n >= size) {
        fail(p, "key '%s': path too long", key);
        return false;
    }
    return true;
}

static bool
parse_long(parser_t *p, const char *key, const char *value, long min, long max, long *ret)
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

/* "YYYY-MM" */
static bool
parse_month(parser_t *p, const char *key, const char *value, int *ret_y, int *ret_m)
{
    int y, m, n = 0;

    if (strlen(value) != 7 || sscanf(value, "%4d-%2d%n", &y, &m, &n) != 2 || n != 7 || m < 1 ||
        m > 12 || y < 1900 || y > 9999) {
        fail(p, "key '%s': expected YYYY-MM", key);
        return false;
    }
    *ret_y = y;
    *ret_m = m;
    return true;
}

/* population.YYYY = N, into a list kept sorted by year. */
static bool
parse_population(parser_t *p, const char *key, const char *value, psy_populations_t *pop)
{
    long year, n;
    const char *y = key + strlen("population.");

    if (strlen(y) != 4) {
        fail(p, "key '%s': expected population.YYYY", key);
        return false;
    }
    if (!parse_long(p, key, y, 1900, 9999, &year))
        return false;
    if (!parse_long(p, key, value, 0, 1000000000L, &n))
        return false;
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

static bool
is_population_key(const char *key)
{
    return strncmp(key, "population.", strlen("population.")) == 0;
}

static bool
parse_keys(parser_t *p, const char *key, const char *value, psy_center_conf_t *c)
{
    char buf[128];
    char *save = NULL;

    c->nkeys = 0;
    if (strlen(value) >= sizeof(buf)) {
        fail(p, "key '%s': expected one or two Z85 keys separated by a comma", key);
        return false;
    }
    snprintf(buf, sizeof(buf), "%s", value);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (c->nkeys == 2 || !psy_keys_z85_valid(tok)) {
            fail(p, "key '%s': expected one or two 40-character Z85 keys separated by a comma",
                 key);
            return false;
        }
        memcpy(c->keys[c->nkeys++], tok, 41);
    }
    return true;
}

static psy_center_conf_t *
center_section(parser_t *p, psy_agg_conf_t *c, const char *section)
{
    const char *id = section + strlen("center");

    while (*id == ' ' || *id == '\t')
        id++;
    for (size_t i = 0; i < c->ncenters; i++)
        if (strcmp(c->centers[i].id, id) == 0)
            return &c->centers[i];
    if (!psy_center_valid(id)) {
        fail(p, "section [%s]: a center id is 1-32 bytes of a-z 0-9 -", section);
        return NULL;
    }
    if (c->ncenters >= PSY_CENTERS_MAX) {
        fail(p, "section [%s]: more than %d centers", section, PSY_CENTERS_MAX);
        return NULL;
    }
    psy_center_conf_t *cc = &c->centers[c->ncenters++];
    memset(cc, 0, sizeof(*cc));
    snprintf(cc->id, sizeof(cc->id), "%s", id);
    snprintf(cc->name, sizeof(cc->name), "%s", id);
    return cc;
}

static int
agg_handler(void *user, const char *section, const char *key, const char *value)
{
    parser_t *p = user;
    psy_agg_conf_t *c = p->conf;
    bool ok = true;

    if (p->failed)
        return 0;
    if (p->line_too_long) {
        fail(p, "line too long");
        return 0;
    }
    /* "[center x]" and "[center  x]" are one center: remember its keys by id. */
    const char *canon = section;
    char center_buf[64];
    if (strncmp(section, "center", 6) == 0 && (section[6] == ' ' || section[6] == '\t')) {
        const char *id = section + 6;
        while (*id == ' ' || *id == '\t')
            id++;
        snprintf(center_buf, sizeof(center_buf), "center %s", id);
        canon = center_buf;
    }
    if (!first_time(p, canon, key)) {
        if (!p->failed)
            fail(p, "key '%s' given twice in [%s]", key, section);
        return 0;
    }

    if (strcmp(section, "aggregator") == 0) {
        if (strcmp(key, "listen") == 0)
            ok = copy_str(p, key, value, c->listen, sizeof(c->listen));
        else if (strcmp(key, "secret_key_file") == 0)
            ok = copy_path(p, key, value, c->secret_key_file, sizeof(c->secret_key_file));
        else if (strcmp(key, "data_dir") == 0)
            ok = copy_path(p, key, value, c->data_dir, sizeof(c->data_dir));
        else if (strcmp(key, "http_listen") == 0)
            ok = copy_str(p, key, value, c->http_listen, sizeof(c->http_listen));
        else if (strcmp(key, "timezone") == 0) {
            ok = copy_str(p, key, value, c->timezone, sizeof(c->timezone));
            if (ok && !psy_tz_exists(value)) {
                fail(p, "key '%s': unknown time zone", key);
                ok = false;
            }
        } else {
            fail(p, "unknown key '%s' in [%s]", key, section);
            ok = false;
        }
    } else if (strncmp(section, "center", 6) == 0 && (section[6] == ' ' || section[6] == '\t')) {
        psy_center_conf_t *cc = center_section(p, c, section);
        if (!cc)
            return 0;
        if (strcmp(key, "name") == 0)
            ok = copy_str(p, key, value, cc->name, sizeof(cc->name));
        else if (strcmp(key, "public_key") == 0)
            ok = parse_keys(p, key, value, cc);
        else if (is_population_key(key))
            ok = parse_population(p, key, value, &cc->population);
        else {
            fail(p, "unknown key '%s' in [%s]", key, section);
            ok = false;
        }
    } else if (strcmp(section, "region") == 0) {
        if (strcmp(key, "name") == 0)
            ok = copy_str(p, key, value, c->region_name, sizeof(c->region_name));
        else if (is_population_key(key))
            ok = parse_population(p, key, value, &c->region_population);
        else {
            fail(p, "unknown key '%s' in [%s]", key, section);
            ok = false;
        }
    } else if (strcmp(section, "target") == 0) {
        if (strcmp(key, "intrusive_reduction_pct") == 0) {
            char *end;
            double v = strtod(value, &end);
            if (end == value || *end || !(v >= 0 && v <= 100)) {
                fail(p, "key '%s': expected a percentage from 0 to 100", key);
                ok = false;
            } else {
                c->target_pct = v;
            }
        } else if (strcmp(key, "baseline_years") == 0) {
            char buf[256], *save = NULL;
            long y;
            snprintf(buf, sizeof(buf), "%s", value);
            c->nbaseline = 0;
            for (char *t = strtok_r(buf, ", \t", &save); ok && t;
                 t = strtok_r(NULL, ", \t", &save)) {
                if (c->nbaseline == PSY_BASELINE_MAX) {
                    fail(p, "key '%s': at most %d years", key, PSY_BASELINE_MAX);
                    ok = false;
                } else if ((ok = parse_long(p, key, t, 1900, 9999, &y))) {
                    c->baseline_years[c->nbaseline++] = (int)y;
                }
            }
            if (ok && c->nbaseline == 0) {
                fail(p, "key '%s': expected years separated by commas", key);
                ok = false;
            }
        } else if (strcmp(key, "first_month") == 0) {
            ok = parse_month(p, key, value, &c->first_year, &c->first_month);
        } else if (strcmp(key, "last_month") == 0) {
            ok = parse_month(p, key, value, &c->last_year, &c->last_month);
        } else {
            fail(p, "unknown key '%s' in [%s]", key, section);
            ok = false;
        }
    } else {
        fail(p, "unknown section [%s]", section);
        ok = false;
    }
    return ok ? 1 : 0;
}

static int
coll_handler(void *user, const char *section, const char *key, const char *value)
{
    parser_t *p = user;
    psy_coll_conf_t *c = p->conf;
    bool ok = true;
    long v;

    if (p->failed)
        return 0;
    if (p->line_too_long) {
        fail(p, "line too long");
        return 0;
    }
    if (strcmp(section, "collector") != 0) {
        fail(p, "unknown section [%s]", section);
        return 0;
    }
    if (!first_time(p, section, key)) {
        if (!p->failed)
            fail(p, "key '%s' given twice in [%s]", key, section);
        return 0;
    }
    if (strcmp(key, "center") == 0) {
        ok = copy_str(p, key, value, c->center, sizeof(c->center));
        if (ok && !psy_center_valid(value)) {
            fail(p, "key '%s': a center id is 1-32 bytes of a-z 0-9 -", key);
            ok = false;
        }
    } else if (strcmp(key, "aggregator") == 0) {
        ok = copy_str(p, key, value, c->aggregator, sizeof(c->aggregator));
    } else if (strcmp(key, "aggregator_public_key") == 0) {
        if (!psy_keys_z85_valid(value)) {
            fail(p, "key '%s': expected a 40-character Z85 key", key);
            ok = false;
        } else {
            memcpy(c->aggregator_public_key, value, 41);
        }
    } else if (strcmp(key, "secret_key_file") == 0) {
        ok = copy_path(p, key, value, c->secret_key_file, sizeof(c->secret_key_file));
    } else if (strcmp(key, "pseudonym_key_file") == 0) {
        ok = copy_path(p, key, value, c->pseudonym_key_file, sizeof(c->pseudonym_key_file));
    } else if (strcmp(key, "inbox") == 0) {
        ok = copy_path(p, key, value, c->inbox, sizeof(c->inbox));
    } else if (strcmp(key, "state_dir") == 0) {
        ok = copy_path(p, key, value, c->state_dir, sizeof(c->state_dir));
    } else if (strcmp(key, "done_days") == 0) {
        if ((ok = parse_long(p, key, value, 0, 36500, &v)))
            c->done_days = (int)v;
    } else if (strcmp(key, "spool_max_mb") == 0) {
        if ((ok = parse_long(p, key, value, 1, 1024L * 1024, &v)))
            c->spool_max_mb = v;
    } else {
        fail(p, "unknown key '%s' in [%s]", key, section);
        ok = false;
    }
    return ok ? 1 : 0;
}

/* Runs inih over path with `handler`; the parser's error message when it fails. */
static int
parse_file(const char *path, ini_handler handler, void *conf, char *err, size_t err_size)
{
    parser_t p = {.path = path, .err = err, .err_size = err_size, .conf = conf};
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

    p.f = fopen(path, "re");
    if (!p.f) {
        r = -errno;
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return r;
    }
    /* Debian's inih takes its options at run time. '#' is a Z85 character, so
     * only ';' starts a comment after a value, and continuation lines would
     * make an indented comment part of a key. */
    ini_allow_multiline = false;
    ini_allow_inline_comments = true;
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_max_line = PSY_PATH_MAX + 256;
    ini_stop_on_first_error = true;
    r = ini_parse_stream(reader, &p, handler, &p);
    fclose(p.f);
    for (size_t i = 0; i < p.nseen; i++)
        free(p.seen[i]);

    if (p.failed)
        return -EINVAL;
    if (r == -2) {
        snprintf(err, err_size, "%s: out of memory", path);
        return -ENOMEM;
    }
    if (r != 0) {
        p.line = r;
        fail(&p, "syntax error: expected [section] or key = value");
        return -EINVAL;
    }
    if (p.line_too_long) {
        fail(&p, "line too long");
        return -EINVAL;
    }
    return 0;
}

int
psy_agg_conf_load(const char *path, psy_agg_conf_t *ret, char *err, size_t err_size)
{
    psy_agg_conf_t *c = ret;
    int r;

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

    r = parse_file(path, agg_handler, c, err, err_size);
    if (r < 0)
        return r;

    const char *missing = !c->listen[0]            ? "listen"
                          : !c->secret_key_file[0] ? "secret_key_file"
                          : !c->data_dir[0]        ? "data_dir"
                                                   : NULL;
    if (missing) {
        snprintf(err, err_size, "%s: key '%s' in [aggregator] is required", path, missing);
        return -EINVAL;
    }
    if (c->last_year * 12 + c->last_month < c->first_year * 12 + c->first_month) {
        snprintf(err, err_size, "%s: key 'last_month' in [target] is before 'first_month'", path);
        return -EINVAL;
    }
    return 0;
}

int
psy_coll_conf_load(const char *path, psy_coll_conf_t *ret, char *err, size_t err_size)
{
    psy_coll_conf_t *c = ret;
    int r;

    memset(c, 0, sizeof(*c));
    c->done_days = 30;
    c->spool_max_mb = 1024;

    r = parse_file(path, coll_handler, c, err, err_size);
    if (r < 0)
        return r;

    const char *missing = !c->center[0]                  ? "center"
                          : !c->aggregator[0]            ? "aggregator"
                          : !c->aggregator_public_key[0] ? "aggregator_public_key"
                          : !c->secret_key_file[0]       ? "secret_key_file"
                          : !c->pseudonym_key_file[0]    ? "pseudonym_key_file"
                          : !c->inbox[0]                 ? "inbox"
                          : !c->state_dir[0]             ? "state_dir"
                                                         : NULL;
    if (missing) {
        snprintf(err, err_size, "%s: key '%s' in [collector] is required", path, missing);
        return -EINVAL;
    }
    return 0;
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

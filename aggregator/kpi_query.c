/*
 * Parsing of the KPI options shared by the command line and the HTTP API.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpi_query.h"

static bool
given(const char *s)
{
    return s && *s;
}

bool
kpi_query_month(const char *s, int *ret_y, int *ret_m)
{
    int y, m;

    if (strlen(s) != 7 || s[4] != '-')
        return false;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return false;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    if (y < 1 || m < 1 || m > 12)
        return false;
    *ret_y = y;
    *ret_m = m;
    return true;
}

static int
parse_kind(const char *s, kpi_period_kind_t *ret)
{
    static const struct {
        const char *name;
        kpi_period_kind_t kind;
    } kinds[] = {
        {"month", KPI_MONTH}, {"quarter", KPI_QUARTER}, {"year", KPI_YEAR}, {"r12", KPI_R12}};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(s, kinds[i].name) == 0) {
            *ret = kinds[i].kind;
            return 0;
        }
    return -EINVAL;
}

/* The next comma-separated token of *s: its start and length; *s moves past it. */
static const char *
next_token(const char **s, size_t *ret_len)
{
    const char *t = *s;
    size_t n = strcspn(t, ",");

    *ret_len = n;
    *s = t[n] ? t + n + 1 : t + n;
    return t;
}

/* Appends to err (bounded, NUL-terminated) what fits of the formatted text. */
static void __attribute__((format(printf, 3, 4)))
err_append(char *err, size_t err_size, const char *fmt, ...)
{
    size_t used = strnlen(err, err_size);
    va_list ap;

    if (used + 1 >= err_size)
        return;
    va_start(ap, fmt);
    vsnprintf(err + used, err_size - used, fmt, ap);
    va_end(ap);
}

/* The names a user may give to --center, after an unknown one: they are few. */
static void
hint_centers(const psy_agg_conf_t *conf, char *err, size_t err_size)
{
    err_append(err, err_size, "; one of");
    for (size_t i = 0; i < conf->ncenters; i++)
        err_append(err, err_size, " %s,", conf->centers[i].id);
    err_append(err, err_size, " region or all");
}

/* Edit distance of a and b, both shorter than 128 bytes. */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[128];

    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/*
 * After an unknown KPI: the KPIs of a family when name is one
 * ("coercion_episodes" -> coercion_episodes:belt, ...), else the nearest
 * name when it is near, else where the list is.
 */
static void
hint_kpi(const char *name, char *err, size_t err_size)
{
    size_t len = strlen(name), best_d = SIZE_MAX, nfamily = 0;
    const char *best = NULL;

    for (size_t i = 0; i < kpi_count(); i++) {
        const char *k = kpi_name(i);
        if (strncmp(k, name, len) == 0 && k[len] == ':') {
            err_append(err, err_size, "%s %s", nfamily++ ? "," : "; one of", k);
            continue;
        }
        if (strlen(k) < 128) {
            size_t d = edit_distance(name, k);
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
    }
    if (nfamily > 0)
        return;
    if (best && best_d <= 2 + len / 4)
        err_append(err, err_size, "; did you mean '%s'?", best);
    else
        err_append(err, err_size, "; the KPIs are those of docs/kpis.md");
}

int
kpi_query_levels(const psy_agg_conf_t *conf, const char *center, int **ret, size_t *ret_n,
                 char *err, size_t err_size)
{
    size_t cap = conf->ncenters + 1, n = 0;
    int *v = malloc(cap * sizeof(*v));
    const char *s = given(center) ? center : "all";

    if (!v)
        return -ENOMEM;
    while (*s) {
        size_t len;
        const char *t = next_token(&s, &len);
        size_t add = 1;

        if (len == 3 && memcmp(t, "all", 3) == 0)
            add = conf->ncenters + 1;
        if (n + add > cap) {
            int *nv;

            cap = (n + add) * 2;
            if (cap > 4 * (PSY_CENTERS_MAX + 1)) {
                snprintf(err, err_size, "--center names too many centers");
                free(v);
                return -EINVAL;
            }
            nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                return -ENOMEM;
            }
            v = nv;
        }
        if (len == 3 && memcmp(t, "all", 3) == 0) {
            for (size_t i = 0; i < conf->ncenters; i++)
                v[n++] = (int)i;
            v[n++] = KPI_LEVEL_REGION;
            continue;
        }
        if (len == 6 && memcmp(t, "region", 6) == 0) {
            v[n++] = KPI_LEVEL_REGION;
            continue;
        }
        size_t i;
        for (i = 0; i < conf->ncenters; i++)
            if (strlen(conf->centers[i].id) == len && memcmp(conf->centers[i].id, t, len) == 0)
                break;
        if (i == conf->ncenters) {
            snprintf(err, err_size, "unknown center '%.*s'", (int)(len > 64 ? 64 : len), t);
            hint_centers(conf, err, err_size);
            free(v);
            return -EINVAL;
        }
        v[n++] = (int)i;
    }
    if (n == 0) {
        snprintf(err, err_size, "--center names no center");
        free(v);
        return -EINVAL;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int
kpi_query_kpis(const char *kpis, int **ret, size_t *ret_n, char *err, size_t err_size)
{
    size_t max = 4 * kpi_count(), n = 0;
    int *v = malloc(max * sizeof(*v));
    const char *s = kpis;

    if (!v)
        return -ENOMEM;
    if (!given(kpis)) {
        for (size_t i = 0; i < kpi_count(); i++)
            v[n++] = (int)i;
        *ret = v;
        *ret_n = n;
        return 0;
    }
    while (*s) {
        size_t len;
        const char *t = next_token(&s, &len);
        char name[128];
        int k;

        if (n == max) {
            snprintf(err, err_size, "--kpi names too many KPIs");
            free(v);
            return -EINVAL;
        }
        if (len == 0 || len >= sizeof(name)) {
            snprintf(err, err_size, "unknown KPI '%.*s'", (int)(len > 64 ? 64 : len), t);
            free(v);
            return -EINVAL;
        }
        memcpy(name, t, len);
        name[len] = '\0';
        k = kpi_find(name);
        if (k < 0) {
            snprintf(err, err_size, "unknown KPI '%s'", name);
            hint_kpi(name, err, err_size);
            free(v);
            return -EINVAL;
        }
        v[n++] = k;
    }
    if (n == 0) {
        snprintf(err, err_size, "--kpi names no KPI");
        free(v);
        return -EINVAL;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int
kpi_query_build(const psy_agg_conf_t *conf, const char *period, const char *from, const char *to,
                const char *center, const char *kpis, const char *as_of, psy_time_t now,
                kpi_query_t *ret, char *err, size_t err_size)
{
    kpi_period_kind_t kind;
    int fy, fm, ty, tm, r;
    psy_time_t t = now;
    kpi_period_t *periods = NULL;
    size_t nperiods = 0, nlevels = 0, nkpis = 0;
    int *levels = NULL, *kidx = NULL;

    if (err_size)
        err[0] = '\0';
    if (!given(period)) {
        snprintf(err, err_size, "--period is required (month, quarter, year or r12)");
        return -EINVAL;
    }
    if (parse_kind(period, &kind) < 0) {
        snprintf(err, err_size, "--period must be month, quarter, year or r12");
        return -EINVAL;
    }
    if (!given(from)) {
        snprintf(err, err_size, "--from is required (YYYY-MM)");
        return -EINVAL;
    }
    if (!kpi_query_month(from, &fy, &fm)) {
        snprintf(err, err_size, "--from must be YYYY-MM");
        return -EINVAL;
    }
    if (!given(to)) {
        ty = fy;
        tm = fm;
    } else if (!kpi_query_month(to, &ty, &tm)) {
        snprintf(err, err_size, "--to must be YYYY-MM");
        return -EINVAL;
    }
    if (ty * 12 + tm < fy * 12 + fm) {
        snprintf(err, err_size, "--to is before --from");
        return -EINVAL;
    }
    if (given(as_of) && psy_time_parse(as_of, strlen(as_of), &t) < 0) {
        snprintf(err, err_size, "--as-of must be an RFC 3339 time, e.g. 2024-03-01T00:00:00Z");
        return -EINVAL;
    }
    r = kpi_period_list(kind, fy, fm, ty, tm, &periods, &nperiods);
    if (r == -EINVAL) {
        snprintf(err, err_size, "--from .. --to spans more than %d periods", PSY_HTTP_PERIODS_MAX);
        return r;
    }
    if (r < 0)
        return r;
    r = kpi_query_levels(conf, center, &levels, &nlevels, err, err_size);
    if (r < 0)
        goto fail;
    r = kpi_query_kpis(kpis, &kidx, &nkpis, err, err_size);
    if (r < 0)
        goto fail;
    ret->conf = conf;
    ret->as_of = t;
    ret->nperiods = nperiods;
    ret->periods = periods;
    ret->nlevels = nlevels;
    ret->levels = levels;
    ret->nkpis = nkpis;
    ret->kpis = kidx;
    return 0;
fail:
    free(periods);
    free(levels);
    free(kidx);
    return r;
}

void
kpi_query_free(kpi_query_t *q)
{
    if (!q)
        return;
    free((void *)q->periods);
    free((void *)q->levels);
    free((void *)q->kpis);
    memset(q, 0, sizeof(*q));
}

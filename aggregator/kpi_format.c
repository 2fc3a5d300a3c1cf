/*
 * Printing KPI rows. The one place that decides how a number looks, so that
 * the command line, the API and the tests agree to the last decimal.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpi_format.h"

int
kpi_format_parse(const char *s, kpi_format_t *ret)
{
    if (!s)
        return -EINVAL;
    if (strcmp(s, "csv") == 0)
        *ret = KPI_FORMAT_CSV;
    else if (strcmp(s, "json") == 0)
        *ret = KPI_FORMAT_JSON;
    else if (strcmp(s, "table") == 0)
        *ret = KPI_FORMAT_TABLE;
    else
        return -EINVAL;
    return 0;
}

const char *
kpi_format_level(const psy_agg_conf_t *conf, int level)
{
    if (level == KPI_LEVEL_REGION)
        return "region";
    if (!conf || level < 0 || (size_t)level >= conf->ncenters)
        return "?";
    return conf->centers[level].id;
}

void
kpi_format_num_text(const kpi_num_t *n, char *buf, size_t size)
{
    if (!n->set || !isfinite(n->v))
        buf[0] = '\0';
    else if (n->integer)
        snprintf(buf, size, "%lld", (long long)llround(n->v));
    else
        snprintf(buf, size, "%.4f", fabs(n->v) < 0.00005 ? 0.0 : n->v);
}

static int
finish(FILE *f)
{
    if (fflush(f) != 0 || ferror(f))
        return -EIO;
    return 0;
}

int
kpi_format_csv(FILE *f, const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n)
{
    fputs("period,center,kpi,value,numerator,denominator,provisional\n", f);
    for (size_t i = 0; i < n; i++) {
        char per[16], v[48], nu[48], d[48];
        const kpi_row_t *r = &rows[i];

        kpi_period_name(&r->period, per, sizeof(per));
        kpi_format_num_text(&r->value, v, sizeof(v));
        kpi_format_num_text(&r->numerator, nu, sizeof(nu));
        kpi_format_num_text(&r->denominator, d, sizeof(d));
        fprintf(f, "%s,%s,%s,%s,%s,%s,%d\n", per, kpi_format_level(conf, r->level),
                kpi_name((size_t)r->kpi) ? kpi_name((size_t)r->kpi) : "?", v, nu, d,
                r->provisional ? 1 : 0);
    }
    return finish(f);
}

json_t *
kpi_format_num_json(const kpi_num_t *n)
{
    if (!n->set || !isfinite(n->v))
        return json_null();
    if (n->integer)
        return json_integer((json_int_t)llround(n->v));
    /* Round first: the printed value is the 4-decimal one, not the full double. */
    double v = round(n->v * 10000.0) / 10000.0;
    return json_real(v == 0 ? 0.0 : v);
}

json_t *
kpi_format_json_rows(const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n)
{
    json_t *root = json_object(), *arr = json_array();

    if (!root || !arr || json_object_set_new(root, "rows", arr) < 0) {
        json_decref(root);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const kpi_row_t *r = &rows[i];
        char per[16];
        const char *name = kpi_name((size_t)r->kpi);
        json_t *o;

        kpi_period_name(&r->period, per, sizeof(per));
        o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:b}", "period", per, "center",
                      kpi_format_level(conf, r->level), "kpi", name ? name : "?", "value",
                      kpi_format_num_json(&r->value), "numerator",
                      kpi_format_num_json(&r->numerator), "denominator",
                      kpi_format_num_json(&r->denominator), "provisional", r->provisional);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

int
kpi_format_json(FILE *f, const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n)
{
    json_t *root = kpi_format_json_rows(conf, rows, n);
    int r;

    if (!root)
        return -ENOMEM;
    r = json_dumpf(root, f, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (r < 0)
        return -EIO;
    fputc('\n', f);
    return finish(f);
}

int
kpi_format_table(FILE *f, const psy_agg_conf_t *conf, const kpi_row_t *rows, size_t n)
{
    static const char *const head[7] = {"period",    "center",      "kpi",        "value",
                                        "numerator", "denominator", "provisional"};
    int w[7];
    char cell[7][128];

    for (int c = 0; c < 7; c++)
        w[c] = (int)strlen(head[c]);
    /* Two passes: widths first, then the aligned lines. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            fprintf(f, "%-*s  %-*s  %-*s  %*s  %*s  %*s  %s\n", w[0], head[0], w[1], head[1], w[2],
                    head[2], w[3], head[3], w[4], head[4], w[5], head[5], head[6]);
        }
        for (size_t i = 0; i < n; i++) {
            const kpi_row_t *r = &rows[i];
            const char *name = kpi_name((size_t)r->kpi);

            kpi_period_name(&r->period, cell[0], sizeof(cell[0]));
            snprintf(cell[1], sizeof(cell[1]), "%s", kpi_format_level(conf, r->level));
            snprintf(cell[2], sizeof(cell[2]), "%s", name ? name : "?");
            kpi_format_num_text(&r->value, cell[3], sizeof(cell[3]));
            kpi_format_num_text(&r->numerator, cell[4], sizeof(cell[4]));
            kpi_format_num_text(&r->denominator, cell[5], sizeof(cell[5]));
            snprintf(cell[6], sizeof(cell[6]), "%s", r->provisional ? "yes" : "");
            if (pass == 0) {
                for (int c = 0; c < 7; c++)
                    if ((int)strlen(cell[c]) > w[c])
                        w[c] = (int)strlen(cell[c]);
                continue;
            }
            fprintf(f, "%-*s  %-*s  %-*s  %*s  %*s  %*s  %s\n", w[0], cell[0], w[1], cell[1], w[2],
                    cell[2], w[3], cell[3], w[4], cell[4], w[5], cell[5], cell[6]);
        }
    }
    return finish(f);
}

int
kpi_format_write(FILE *f, kpi_format_t fmt, const psy_agg_conf_t *conf, const kpi_row_t *rows,
                 size_t n)
{
    switch (fmt) {
    case KPI_FORMAT_CSV:
        return kpi_format_csv(f, conf, rows, n);
    case KPI_FORMAT_JSON:
        return kpi_format_json(f, conf, rows, n);
    case KPI_FORMAT_TABLE:
        return kpi_format_table(f, conf, rows, n);
    }
    return -EINVAL;
}

/*
 * Printing SPC series. Numbers go through kpi_format's one rule for how a
 * number looks, so a value here reads exactly as in `psymon kpi`.
 */
#include <errno.h>
#include <string.h>

#include "spc_format.h"

static int
spc_format_finish(FILE *f)
{
    if (fflush(f) != 0 || ferror(f))
        return -EIO;
    return 0;
}

/* The printed text of every per-series column, shared by CSV and the table. */
typedef struct {
    char n_useful[24], longest[48], lmax[48], cross[48], cmin[48];
} spc_format_summary_t;

static void
spc_format_summary(const spc_series_t *s, spc_format_summary_t *t)
{
    snprintf(t->n_useful, sizeof(t->n_useful), "%zu", s->summary.n_useful);
    kpi_format_num_text(&s->summary.longest_run, t->longest, sizeof(t->longest));
    kpi_format_num_text(&s->summary.longest_run_max, t->lmax, sizeof(t->lmax));
    kpi_format_num_text(&s->summary.crossings, t->cross, sizeof(t->cross));
    kpi_format_num_text(&s->summary.crossings_min, t->cmin, sizeof(t->cmin));
}

int
spc_format_csv(FILE *f, const psy_agg_conf_t *conf, const spc_query_result_t *res)
{
    fputs("period,center,kpi,chart,value,numerator,denominator,provisional,baseline,cl,lcl,ucl,"
          "sigma_signal,runs_signal,n_useful,longest_run,longest_run_max,crossings,crossings_min,"
          "variation,assessment,assurance,target\n",
          f);
    for (size_t i = 0; res && i < res->nseries; i++) {
        const spc_series_t *s = &res->series[i];
        spc_format_summary_t t;

        spc_format_summary(s, &t);
        for (size_t j = s->first; j < s->npoints; j++) {
            const spc_row_t *p = &s->points[j];
            char per[16], v[48], nu[48], d[48], cl[48], lcl[48], ucl[48], tg[48];

            kpi_period_name(&p->period, per, sizeof(per));
            kpi_format_num_text(&p->value, v, sizeof(v));
            kpi_format_num_text(&p->numerator, nu, sizeof(nu));
            kpi_format_num_text(&p->denominator, d, sizeof(d));
            kpi_format_num_text(&p->spc.cl, cl, sizeof(cl));
            kpi_format_num_text(&p->spc.lcl, lcl, sizeof(lcl));
            kpi_format_num_text(&p->spc.ucl, ucl, sizeof(ucl));
            kpi_format_num_text(&p->target, tg, sizeof(tg));
            fprintf(f, "%s,%s,%s,%s,%s,%s,%s,%d,%d,%s,%s,%s,%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s\n",
                    per, kpi_format_level(conf, s->level), kpi_name((size_t)s->kpi),
                    spc_chart_name(s->chart), v, nu, d, p->provisional, p->spc.baseline, cl, lcl,
                    ucl, p->spc.sigma_signal, s->summary.runs_signal, t.n_useful, t.longest, t.lmax,
                    t.cross, t.cmin, spc_variation_name(s->summary.variation),
                    spc_assessment_name(s->summary.assessment),
                    spc_assurance_name(s->summary.assurance), tg);
        }
    }
    return spc_format_finish(f);
}

/* A word, or null when it is empty. */
static json_t *
spc_format_word(const char *w)
{
    return w && *w ? json_string(w) : json_null();
}

static json_t *
spc_format_series_json(const psy_agg_conf_t *conf, const spc_series_t *s)
{
    const spc_summary_t *m = &s->summary;
    json_t *pts = json_array();
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "center",
                          kpi_format_level(conf, s->level), "kpi", kpi_name((size_t)s->kpi),
                          "chart", spc_chart_name(s->chart), "n_useful", (json_int_t)m->n_useful,
                          "longest_run", kpi_format_num_json(&m->longest_run), "longest_run_max",
                          kpi_format_num_json(&m->longest_run_max), "crossings",
                          kpi_format_num_json(&m->crossings), "crossings_min",
                          kpi_format_num_json(&m->crossings_min), "runs_signal", m->runs_signal,
                          "variation", spc_format_word(spc_variation_name(m->variation)),
                          "assessment", spc_format_word(spc_assessment_name(m->assessment)),
                          "assurance", spc_format_word(spc_assurance_name(m->assurance)));

    if (!o || !pts || json_object_set_new(o, "points", pts) < 0) {
        json_decref(o);
        return NULL;
    }
    for (size_t j = s->first; j < s->npoints; j++) {
        const spc_row_t *p = &s->points[j];
        char per[16];
        json_t *e;

        kpi_period_name(&p->period, per, sizeof(per));
        e = json_pack(
            "{s:s, s:o, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:b, s:o}", "period", per, "value",
            kpi_format_num_json(&p->value), "numerator", kpi_format_num_json(&p->numerator),
            "denominator", kpi_format_num_json(&p->denominator), "provisional", p->provisional,
            "baseline", p->spc.baseline, "cl", kpi_format_num_json(&p->spc.cl), "lcl",
            kpi_format_num_json(&p->spc.lcl), "ucl", kpi_format_num_json(&p->spc.ucl),
            "sigma_signal", p->spc.sigma_signal, "target", kpi_format_num_json(&p->target));
        if (!e || json_array_append_new(pts, e) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *
spc_format_json_series(const psy_agg_conf_t *conf, const spc_query_result_t *res)
{
    json_t *root = json_object(), *arr = json_array();

    if (!root || !arr || json_object_set_new(root, "series", arr) < 0) {
        json_decref(root);
        return NULL;
    }
    for (size_t i = 0; res && i < res->nseries; i++) {
        json_t *o = spc_format_series_json(conf, &res->series[i]);

        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

int
spc_format_json(FILE *f, const psy_agg_conf_t *conf, const spc_query_result_t *res)
{
    json_t *root = spc_format_json_series(conf, res);
    int r;

    if (!root)
        return -ENOMEM;
    r = json_dumpf(root, f, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (r < 0)
        return -EIO;
    fputc('\n', f);
    return spc_format_finish(f);
}

#define SPC_TABLE_COLS 10

/*
 * One block per series: a line saying what the series says (its words and
 * runs analysis), then its months in aligned columns, signals marked.
 */
int
spc_format_table(FILE *f, const psy_agg_conf_t *conf, const spc_query_result_t *res)
{
    static const char *const head[SPC_TABLE_COLS] = {
        "period", "value", "numerator", "denominator", "cl", "lcl", "ucl", "target", "", ""};

    for (size_t i = 0; res && i < res->nseries; i++) {
        const spc_series_t *s = &res->series[i];
        const spc_summary_t *m = &s->summary;
        spc_format_summary_t t;
        int w[SPC_TABLE_COLS];
        char cell[SPC_TABLE_COLS][48];

        spc_format_summary(s, &t);
        if (i > 0)
            fputc('\n', f);
        fprintf(f, "%s  %s  (%s chart)\n", kpi_format_level(conf, s->level),
                kpi_name((size_t)s->kpi), spc_chart_name(s->chart));
        if (s->npoints == 0) {
            fprintf(f, "  no records at this level\n");
            continue;
        }
        fprintf(f,
                "  variation %s, assessment %s, assurance %s; runs: %s useful, longest %s "
                "(max %s), crossings %s (min %s)%s\n",
                *spc_variation_name(m->variation) ? spc_variation_name(m->variation) : "-",
                *spc_assessment_name(m->assessment) ? spc_assessment_name(m->assessment) : "-",
                *spc_assurance_name(m->assurance) ? spc_assurance_name(m->assurance) : "-",
                t.n_useful, *t.longest ? t.longest : "-", *t.lmax ? t.lmax : "-",
                *t.cross ? t.cross : "-", *t.cmin ? t.cmin : "-",
                m->runs_signal ? ": RUNS SIGNAL" : "");
        for (int c = 0; c < SPC_TABLE_COLS; c++)
            w[c] = (int)strlen(head[c]);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1)
                fprintf(f, "  %-*s  %*s  %*s  %*s  %*s  %*s  %*s  %*s\n", w[0], head[0], w[1],
                        head[1], w[2], head[2], w[3], head[3], w[4], head[4], w[5], head[5], w[6],
                        head[6], w[7], head[7]);
            for (size_t j = s->first; j < s->npoints; j++) {
                const spc_row_t *p = &s->points[j];

                kpi_period_name(&p->period, cell[0], sizeof(cell[0]));
                kpi_format_num_text(&p->value, cell[1], sizeof(cell[1]));
                kpi_format_num_text(&p->numerator, cell[2], sizeof(cell[2]));
                kpi_format_num_text(&p->denominator, cell[3], sizeof(cell[3]));
                kpi_format_num_text(&p->spc.cl, cell[4], sizeof(cell[4]));
                kpi_format_num_text(&p->spc.lcl, cell[5], sizeof(cell[5]));
                kpi_format_num_text(&p->spc.ucl, cell[6], sizeof(cell[6]));
                kpi_format_num_text(&p->target, cell[7], sizeof(cell[7]));
                snprintf(cell[8], sizeof(cell[8]), "%s%s%s", p->spc.baseline ? "baseline" : "",
                         p->spc.baseline && p->provisional ? " " : "",
                         p->provisional ? "provisional" : "");
                snprintf(cell[9], sizeof(cell[9]), "%s", p->spc.sigma_signal ? "SIGNAL" : "");
                if (pass == 0) {
                    for (int c = 0; c < SPC_TABLE_COLS; c++)
                        if ((int)strlen(cell[c]) > w[c])
                            w[c] = (int)strlen(cell[c]);
                    continue;
                }
                fprintf(f, "  %-*s  %*s  %*s  %*s  %*s  %*s  %*s  %*s  %-*s  %s\n", w[0], cell[0],
                        w[1], cell[1], w[2], cell[2], w[3], cell[3], w[4], cell[4], w[5], cell[5],
                        w[6], cell[6], w[7], cell[7], w[8], cell[8], cell[9]);
            }
        }
    }
    return spc_format_finish(f);
}

int
spc_format_write(FILE *f, kpi_format_t fmt, const psy_agg_conf_t *conf,
                 const spc_query_result_t *res)
{
    switch (fmt) {
    case KPI_FORMAT_CSV:
        return spc_format_csv(f, conf, res);
    case KPI_FORMAT_JSON:
        return spc_format_json(f, conf, res);
    case KPI_FORMAT_TABLE:
        return spc_format_table(f, conf, res);
    }
    return -EINVAL;
}

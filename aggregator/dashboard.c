/* dashboard: the management page. See dashboard.h. */
#include "dashboard.h"

#include <errno.h>
#include <string.h>

#include "psymon/time.h"

static const char dashboard_css[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:72em}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    "th{background:#f0f0f0}.prov{color:#999;font-style:italic}"
    ".bad{color:#b00}.good{color:#070}.warn{background:#fee}"
    "img{max-width:100%;height:auto;display:block}"
    ".note{color:#555;font-size:.9em}";

/* The numbers a manager reads first, with their column headings. */
static const struct {
    const char *kpi;
    const char *label;
} dashboard_keys[] = {
    {"admissions", "Indlæggelser"},
    {"patients", "Patienter"},
    {"intrusive_episodes", "Indgribende tvang (episoder)"},
    {"intrusive_per_100k", "Indgribende tvang pr. 100.000"},
    {"intrusive_baseline_per_100k", "Baseline pr. 100.000"},
    {"intrusive_reduction", "Reduktion %"},
    {"intrusive_target_reduction", "Mål %"},
    {"intrusive_on_track", "På sporet"},
    {"belt_median_hours", "Bælte, median timer"},
    {"readmission_rate_30d", "Genindlagt 30 dage %"},
    {"self_discharge_share", "Selvudskrevet %"},
    {"wait_within_60d_share", "Behandling inden 60 dage %"},
};

static void
dashboard_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* Whole numbers as such; other numbers rounded to one decimal for reading. */
static void
dashboard_num(FILE *f, const kpi_num_t *n)
{
    if (!n->set)
        fputs("–", f);
    else if (n->integer)
        fprintf(f, "%.0f", n->v);
    else
        fprintf(f, "%.1f", n->v);
}

static void
dashboard_cell(FILE *f, const kpi_row_t *row)
{
    if (!row) {
        fputs("<td>–</td>", f);
        return;
    }
    if (strcmp(kpi_name((size_t)row->kpi), "intrusive_on_track") == 0 && row->value.set) {
        fputs(row->value.v != 0 ? "<td class=\"good\">ja</td>" : "<td class=\"bad\">nej</td>", f);
        return;
    }
    fputs(row->provisional ? "<td class=\"prov\" title=\"foreløbig\">" : "<td>", f);
    dashboard_num(f, &row->value);
    if (row->provisional)
        fputs(" (foreløbig)", f);
    fputs("</td>", f);
}

static const kpi_row_t *
dashboard_row(const dashboard_t *d, size_t level, int kpi)
{
    size_t k = kpi_count();
    size_t i;

    if (!d->rows || kpi < 0)
        return NULL;
    i = level * k + (size_t)kpi;
    return i < d->nrows ? &d->rows[i] : NULL;
}

/* Level 0 is the region, level i + 1 center i. */
static const char *
dashboard_level_name(const dashboard_t *d, size_t level)
{
    const psy_agg_conf_t *c = d->conf;

    if (level == 0)
        return c->region_name[0] ? c->region_name : "Region";
    return c->centers[level - 1].name[0] ? c->centers[level - 1].name : c->centers[level - 1].id;
}

static const char *
dashboard_level_id(const dashboard_t *d, size_t level)
{
    return level == 0 ? "region" : d->conf->centers[level - 1].id;
}

static void
dashboard_status(FILE *f, const dashboard_t *d)
{
    const psy_agg_conf_t *c = d->conf;

    fputs("<h2>Dataleverancer</h2>\n<table><tr><th>Center</th><th>Registreringer</th>"
          "<th>Afviste</th><th>Ikke modtaget endnu</th><th>Sidst hørt fra</th></tr>\n",
          f);
    for (size_t i = 0; i < c->ncenters; i++) {
        const store_status_t *s = d->status ? &d->status[i] : NULL;
        char seen[32] = "aldrig";
        bool stale;

        if (s && s->last_seen != PSY_TIME_NONE)
            psy_time_format(s->last_seen, seen, sizeof(seen));
        /* A collector sends a heartbeat every minute; an hour of silence needs a look. */
        stale = s && (s->last_seen == PSY_TIME_NONE || d->now - s->last_seen > PSY_HOUR);
        fprintf(f, "<tr%s><td>", stale ? " class=\"warn\"" : "");
        dashboard_escape(f, dashboard_level_name(d, i + 1));
        if (s)
            fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%s%s</td></tr>\n",
                    (unsigned long long)s->records, (unsigned long long)s->rejected,
                    (unsigned long long)s->backlog, seen, s->spool_full ? " (spool fuld)" : "");
        else
            fputs("</td><td colspan=\"4\">ukendt</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

int
dashboard_write(FILE *f, const dashboard_t *d)
{
    const psy_agg_conf_t *c = d->conf;
    size_t nlevels = c->ncenters + 1;
    char period[16], now[32];

    kpi_period_name(&d->period, period, sizeof(period));
    psy_time_format(d->now - d->now % PSY_USEC, now, sizeof(now));
    fputs("<!DOCTYPE html>\n<html lang=\"da\"><head><meta charset=\"utf-8\">"
          "<meta http-equiv=\"refresh\" content=\"300\">"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
          "<title>psymon: tvang og genindlæggelser</title><style>",
          f);
    fputs(dashboard_css, f);
    fputs("</style></head><body>\n<h1>", f);
    dashboard_escape(f, dashboard_level_name(d, 0));
    fputs(": tvang og genindlæggelser</h1>\n", f);
    fprintf(f, "<p class=\"note\">Opgjort %s (UTC) for de seneste 12 måneder, %s.%s</p>\n", now,
            period, d->ready ? "" : " <b class=\"bad\">Aggregatoren er ikke klar.</b>");

    fputs("<h2>Nøgletal</h2>\n", f);
    if (!d->rows) {
        fputs("<p class=\"bad\">Nøgletallene kan ikke beregnes lige nu.</p>\n", f);
    } else {
        fputs("<table><tr><th>Niveau</th>", f);
        for (size_t k = 0; k < sizeof(dashboard_keys) / sizeof(dashboard_keys[0]); k++)
            fprintf(f, "<th>%s</th>", dashboard_keys[k].label);
        fputs("</tr>\n", f);
        for (size_t l = 0; l < nlevels; l++) {
            fputs("<tr><td>", f);
            dashboard_escape(f, dashboard_level_name(d, l));
            fputs("</td>", f);
            for (size_t k = 0; k < sizeof(dashboard_keys) / sizeof(dashboard_keys[0]); k++)
                dashboard_cell(f, dashboard_row(d, l, kpi_find(dashboard_keys[k].kpi)));
            fputs("</tr>\n", f);
        }
        fputs("</table>\n<p class=\"note\">Grå og kursiv: foreløbig (en senere indlæggelse kan "
              "endnu ændre tallet). Mål: indgribende tvang (bælte, fastholdelse, beroligende "
              "medicin) pr. 100.000 borgere ned med den konfigurerede procent i forhold til "
              "baseline.</p>\n",
              f);
    }

    dashboard_status(f, d);

    for (size_t l = 0; l < nlevels; l++) {
        const char *id = dashboard_level_id(d, l);

        fputs("<h2>", f);
        dashboard_escape(f, dashboard_level_name(d, l));
        fputs("</h2>\n", f);
        fprintf(f, "<img src=\"/graph/%s.png\" alt=\"tvang pr. dag\" width=\"737\">\n", id);
        fprintf(f,
                "<img src=\"/graph/%s.png?what=rate\" alt=\"indgribende tvang pr. 100.000, "
                "12 måneder, mod baseline og målsti\" width=\"737\">\n",
                id);
        fprintf(f,
                "<img src=\"/graph/%s.png?what=readmission&amp;days=365\" alt=\"genindlæggelser "
                "inden for "
                "30 dage, de seneste foreløbige\" width=\"737\">\n",
                id);
        fprintf(f,
                "<p class=\"note\"><a href=\"/graph/%s.png?what=activity\">Indlæggelser og "
                "udskrivelser</a> · <a href=\"/graph/%s.png?what=beds\">Belagte senge</a> · "
                "<a href=\"/api/v1/kpi?period=month&amp;from=%d-01&amp;"
                "to=%d-%02d&amp;center=%s\">alle KPI'er pr. måned (JSON)</a></p>\n",
                id, id, d->period.year, d->period.year, d->period.month, id);
        if (!d->rows)
            continue;
        fputs("<details><summary>Alle KPI'er, seneste 12 måneder</summary><table>"
              "<tr><th>KPI</th><th>Værdi</th></tr>\n",
              f);
        for (size_t k = 0; k < kpi_count(); k++) {
            fprintf(f, "<tr><td>%s</td>", kpi_name(k));
            dashboard_cell(f, dashboard_row(d, l, (int)k));
            fputs("</tr>\n", f);
        }
        fputs("</table></details>\n", f);
    }
    fputs("<p class=\"note\">Graferne viser antal registreringer pr. døgn (UTC) som 30 dages "
          "glidende gennemsnit, og indgribende tvang pr. 100.000 for de 12 måneder til hver "
          "måneds udgang (fra KPI-beregningen). Genindlæggelser vises lysere som foreløbige, "
          "indtil 30 dage og 12 timer efter udskrivningen. Tallene i tabellerne kommer fra "
          "KPI-beregningen. "
          "<a href=\"/api/v1/status\">status</a> · <a href=\"/metrics\">metrics</a></p>\n"
          "</body></html>\n",
          f);
    return ferror(f) ? -EIO : 0;
}

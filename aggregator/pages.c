/* pages: the dashboard's pages. See pages.h. */
#include "pages.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const pages_headline[PAGES_HEADLINE_N] = {
    "intrusive_per_100k",    "intrusive_episodes",   "intrusive_per_1000_bed_days",
    "belt_over_48h",         "readmission_rate_30d", "self_discharge_share",
    "wait_within_60d_share", "referrals_overdue",    "consultations",
};

/* Counts from 1 to this are printed "<5" in the printed report (docs/dashboard.md). */
#define PAGES_SMALL_COUNT 4

/* Split in pieces: C11 only promises string literals of 4095 bytes. */
static const char *const pages_css[] = {
    ":root{--ink:#1d1d1d;--muted:#555;--line:#c8c8c8;--good:#0b6e2a;--bad:#b3261e;"
    "--inc:#7a4f00;--imp:#1f5fa8;--con:#d06000;--neu:#6a3d9a}"
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "color:var(--ink);line-height:1.45;font-size:16px}"
    "header{background:#173a5e;color:#fff;padding:.5em 1em}"
    "header a{color:#fff;margin-right:1em;text-decoration:none;display:inline-block;"
    "padding:.2em 0}header a:hover,header a[aria-current]{text-decoration:underline}"
    "header .lang{float:right}"
    "main{max-width:84em;margin:0 auto;padding:1em}"
    "h1{font-size:1.6em;margin:.3em 0}h2{font-size:1.25em;margin-top:1.6em}"
    "h3{font-size:1.05em;margin:.4em 0}"
    ".note{color:var(--muted);font-size:.9em}"
    ".wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border-bottom:1px solid var(--line);padding:.35em .5em;vertical-align:top;"
    "text-align:right}"
    "th{background:#f2f4f7;font-weight:600;font-size:.9em}"
    "th:first-child,td:first-child{text-align:left}"
    "td.fig .v{font-size:1.1em;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.fig .unit{color:var(--muted);font-size:.8em;white-space:nowrap}"
    ".icons.na{font-size:.75em;color:var(--muted)}"
    "table.overview .tag.inc .tt,table.overview .tag.prov .tt{display:none}"
    /* The icons' words are in the legend below the table and in each icon's title: without
     * them the overview's ten columns fit a laptop's screen. */
    "table.overview .icon-label{display:none}"
    "abbr{text-decoration:none}table.overview{font-size:.95em}"
    "table.overview tbody th{position:sticky;left:0;z-index:1}"
    ".tag{display:inline-block;font-size:.75em;padding:0 .35em;border-radius:.3em;"
    "border:1px solid currentColor;margin-left:.25em;white-space:nowrap}"
    "[data-state=incomplete] .v{color:var(--inc)}"
    "[data-state=incomplete]{background:#fff6e0}"
    "[data-state=provisional] .v{color:var(--muted);font-style:italic}"
    "[data-state=good]{background:#e8f5ec}[data-state=bad]{background:#fdecea}"
    ".tag.inc{color:var(--inc)}.tag.prov{color:var(--muted)}"
    ".tag.good{color:var(--good)}.tag.bad{color:var(--bad)}"
    ".icons{display:block;margin-top:.2em;white-space:nowrap}"
    ".icon{display:inline-flex;align-items:center;gap:.2em;margin-right:.35em;font-size:.72em;"
    "color:var(--muted)}.icon svg{width:22px;height:22px}"
    ".icon .ring{fill:#fff;stroke:#888;stroke-width:2}"
    ".icon .glyph{fill:none;stroke:#555;stroke-width:2.4;stroke-linecap:round;"
    "stroke-linejoin:round}.icon .glyph-text{font:bold 13px sans-serif;fill:#555}"
    ".var-improvement .ring{stroke:var(--imp);fill:#e3eefb}"
    ".var-improvement .glyph{stroke:var(--imp)}.var-improvement .glyph-text{fill:var(--imp)}"
    ".var-concern .ring{stroke:var(--con);fill:#fdeedd}"
    ".var-concern .glyph{stroke:var(--con)}.var-concern .glyph-text{fill:var(--con)}"
    ".var-neutral .ring{stroke:var(--neu);fill:#efe7f6}"
    ".var-neutral .glyph{stroke:var(--neu)}.var-neutral .glyph-text{fill:var(--neu)}"
    ".ass-pass .ring{stroke:var(--imp);fill:#e3eefb}.ass-pass .glyph{stroke:var(--imp)}"
    ".ass-fail .ring{stroke:var(--con);fill:#fdeedd}.ass-fail .glyph{stroke:var(--con)}",
    "svg.spc,svg.rate{width:100%;max-width:60em;height:auto;display:block;font-family:sans-serif}"
    "svg text{font-size:11px;fill:#333}svg.small text{font-size:10px}"
    "svg .grid{stroke:#e4e4e4}svg .base,svg .yearline{stroke:#999}"
    "svg .yearline{stroke-dasharray:2 3}"
    "svg .baseline{fill:#eaf1fb}svg .baseline-label{fill:#1f5fa8}"
    "svg .incomplete{fill:#fff2d6}svg .inc-label{fill:var(--inc)}"
    "svg .line{fill:none;stroke:#1d1d1d;stroke-width:1.6}"
    "svg .cl{fill:none;stroke:#444;stroke-width:1.2}"
    "svg .cl.runs{stroke:#c0281c;stroke-width:2;stroke-dasharray:7 4}"
    "svg .cl-label{fill:#444}svg .runs-label{fill:#c0281c;font-weight:bold}"
    "svg .limit-label{fill:#666}"
    "svg .limit{fill:none;stroke:#888;stroke-dasharray:4 3}"
    "svg .target{fill:none;stroke:var(--good);stroke-width:1.6;stroke-dasharray:10 4}"
    "svg .target-label{fill:var(--good)}"
    "svg .baseline-line{stroke:#1f5fa8;stroke-dasharray:6 4}"
    "svg .trajectory{fill:none;stroke:var(--good);stroke-width:2;stroke-dasharray:10 4}"
    "svg .pt circle{fill:#1d1d1d}svg .pt.sig path{fill:var(--con);stroke:#7a3500}"
    "svg .pt.prov circle,svg .pt.prov path{fill:#fff;stroke:#1d1d1d;stroke-width:1.5}"
    "svg .pt.inc rect{fill:#fff;stroke:var(--inc);stroke-width:1.5}"
    "svg .prov-label{fill:var(--muted);font-style:italic}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(20em,1fr));gap:1em}"
    "img.daily{max-width:100%;height:auto;display:block;margin:.5em 0}"
    "figure{margin:0}figcaption{margin-bottom:.2em}.multiple figcaption{font-weight:600}"
    ".kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(34em,1fr));gap:0 2em}"
    ".banner{padding:.5em .8em;border-left:.35em solid var(--inc);background:#fff6e0;"
    "margin:.6em 0}.banner.ok{border-color:var(--good);background:#e8f5ec}"
    "dl.legend{display:grid;grid-template-columns:auto 1fr;gap:.3em 1em;font-size:.9em}"
    "dl.legend dt{white-space:nowrap}dl.legend dd{margin:0}"
    ".cover{margin-bottom:2em}",
    "table.alerts th,table.alerts td{text-align:left}table.alerts td.summary{max-width:34em}"
    "table.alerts td:last-child{white-space:nowrap}"
    ".ast,.sev{white-space:nowrap}.ast b{display:inline-block;width:1.1em}"
    ".ast-firing{color:var(--bad);font-weight:600}.ast-pending{color:var(--inc)}"
    ".ast-acknowledged,.ast-silenced,.ast-inhibited,.ast-resolved{color:var(--muted)}"
    ".sev-critical{color:var(--bad);font-weight:600}.sev-warning{color:var(--con)}"
    "tr.alert[data-state=resolved] td{color:var(--muted)}",
    "@media (max-width:40em){body{font-size:15px}main{padding:.5em}"
    "header a{margin-right:.6em}header .lang{float:none}"
    "th,td{padding:.3em}.icon .icon-label,.tag .tt{display:none}.kpis{display:block}"
    "td.complete .w{display:none}table.overview tbody th{font-size:.85em;max-width:8em}}"
    "@media print{@page{size:A4;margin:16mm 14mm}body{font-size:10.5pt}"
    "header,.noprint,.csv{display:none}main{max-width:none;padding:0}"
    "section.center{break-before:page;page-break-before:always}"
    "figure,table,svg{break-inside:avoid;page-break-inside:avoid}"
    "[data-state]{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "a{color:inherit;text-decoration:none}.wrap{overflow:visible}"
    "td.fig .v{font-size:1em}.icon svg{width:14px;height:14px}"
    "table.overview{width:100%;font-size:7.5pt;table-layout:fixed}"
    "table.overview th,table.overview td{padding:.2em .25em;overflow-wrap:break-word}"
    "table.overview th{font-size:6.5pt}table.overview th:first-child{width:13%}"
    "table.overview .tag .tt,table.overview .icon-label{display:none}"
    ".kpis{display:block}h2{font-size:13pt}}",
};

/* ---- Completeness ------------------------------------------------------------------------ */

static long
pages_mi(int y, int m)
{
    return (long)y * 12 + (m - 1);
}

static uint64_t
pages_records_at(const pages_center_data_t *c, long mi)
{
    long i = mi - pages_mi(c->from_year, c->from_month);

    if (!c->records || i < 0 || (size_t)i >= c->nmonths)
        return 0;
    return c->records[i];
}

bool
pages_complete(const pages_center_data_t *c, int year, int month, int nmonths, psy_time_t as_of)
{
    int ay, am, ad;
    long first = pages_mi(year, month), last = first + nmonths - 1, now;
    psy_time_t end;

    if (!c || nmonths < 1)
        return false;
    psy_civil_date(as_of, &ay, &am, &ad);
    now = pages_mi(ay, am);
    if (first > now)
        return false;
    if (last > now)
        last = now;
    for (long m = first; m <= last; m++)
        if (pages_records_at(c, m) == 0)
            return false;
    /* A silent collector makes the period incomplete if it fell silent while the period ran. */
    end = psy_civil_start(year, month + nmonths, 1);
    if (c->silent_since != PSY_TIME_NONE && c->silent_since < end)
        return false;
    return true;
}

/* The first month with records, or -1. */
static long
pages_first_month(const pages_center_data_t *c)
{
    for (size_t i = 0; c->records && i < c->nmonths; i++)
        if (c->records[i] > 0)
            return pages_mi(c->from_year, c->from_month) + (long)i;
    return -1;
}

bool
pages_complete_region(const pages_center_data_t *centers, size_t n, int year, int month,
                      int nmonths, psy_time_t as_of)
{
    long start = pages_mi(year, month);
    bool any = false;

    for (size_t i = 0; i < n; i++) {
        long first = pages_first_month(&centers[i]);
        if (first < 0 || first > start)
            continue;
        any = true;
        if (!pages_complete(&centers[i], year, month, nmonths, as_of))
            return false;
    }
    /* A region without a center that had data by then has nothing complete to show. */
    return any;
}

/* ---- Alerts ------------------------------------------------------------------------------ */

/* What a reader needs to know first about an alert (pages.h). */
static const char *
pages_alert_state(const alert_t *a)
{
    if (a->state == ALERT_RESOLVED)
        return "resolved";
    if (a->state == ALERT_PENDING)
        return "pending";
    if (a->acked)
        return "acknowledged";
    if (a->nsilenced)
        return "silenced";
    if (a->inhibited)
        return "inhibited";
    return "firing";
}

static int
pages_rank(const char *const *words, size_t n, const char *w)
{
    for (size_t i = 0; w && i < n; i++)
        if (strcmp(words[i], w) == 0)
            return (int)i;
    return (int)n;
}

static int
pages_alert_cmp(const void *pa, const void *pb)
{
    static const char *const states[] = {"firing",   "pending",   "acknowledged",
                                         "silenced", "inhibited", "resolved"};
    static const char *const sev[] = {"critical", "warning", "info"};
    const pages_alert_t *a = pa, *b = pb;
    int d = pages_rank(states, 6, a->state) - pages_rank(states, 6, b->state);
    psy_time_t ta, tb;

    if (d == 0)
        d = pages_rank(sev, 3, a->severity) - pages_rank(sev, 3, b->severity);
    if (d != 0)
        return d;
    /* Newest first: the latest resolution, else the latest start. */
    ta = a->resolved_at != PSY_TIME_NONE ? a->resolved_at : a->active_at;
    tb = b->resolved_at != PSY_TIME_NONE ? b->resolved_at : b->active_at;
    if (ta != tb)
        return ta > tb ? -1 : 1;
    return strcmp(a->fingerprint, b->fingerprint);
}

size_t
pages_alerts_from(const alert_t *alerts, size_t n, psy_time_t now, pages_alert_t *ret)
{
    size_t k = 0;

    for (size_t i = 0; alerts && ret && i < n; i++) {
        const alert_t *a = &alerts[i];
        pages_alert_t *p;

        if (a->state == ALERT_INACTIVE)
            continue;
        if (a->state == ALERT_RESOLVED &&
            (a->resolved_at == PSY_TIME_NONE || now - a->resolved_at > ALERT_RESOLVED_KEEP))
            continue;
        p = &ret[k++];
        *p = (pages_alert_t){
            .state = pages_alert_state(a),
            .alertname = a->labels.alertname,
            .center = a->labels.center,
            .kpi = a->labels.kpi,
            .severity = a->labels.severity,
            .summary = a->ann.summary,
            .summary_en = a->ann.summary_en[0] ? a->ann.summary_en : a->ann.summary,
            .period = a->ann.period,
            .value = a->ann.value,
            .active_at = a->active_since,
            .firing_since = a->firing_since,
            .resolved_at = a->state == ALERT_RESOLVED ? a->resolved_at : PSY_TIME_NONE,
            .fingerprint = a->fingerprint,
        };
        if (a->acked && a->state == ALERT_FIRING) {
            p->ack_author = a->ack.author;
            p->ack_comment = a->ack.comment;
        }
    }
    if (k > 1)
        qsort(ret, k, sizeof(*ret), pages_alert_cmp);
    return k;
}

void
pages_silent_since(const alert_t *alerts, size_t n, const psy_agg_conf_t *conf,
                   pages_center_data_t *cdata)
{
    for (size_t c = 0; conf && cdata && c < conf->ncenters; c++) {
        cdata[c].silent_since = PSY_TIME_NONE;
        for (size_t i = 0; alerts && i < n; i++) {
            const alert_t *a = &alerts[i];
            if (a->state != ALERT_FIRING || strcmp(a->labels.center, conf->centers[c].id) != 0 ||
                (strcmp(a->labels.alertname, "CollectorSilent") != 0 &&
                 strcmp(a->labels.alertname, "ExportStale") != 0))
                continue;
            if (cdata[c].silent_since == PSY_TIME_NONE || a->active_since < cdata[c].silent_since)
                cdata[c].silent_since = a->active_since;
        }
    }
}

const char *
pages_state(bool incomplete, bool provisional, pages_judgement_t j)
{
    if (incomplete)
        return "incomplete";
    if (provisional)
        return "provisional";
    return j == PAGES_GOOD ? "good" : j == PAGES_BAD ? "bad" : "neutral";
}

int
pages_headline_index(const char *kpi)
{
    for (int i = 0; kpi && i < PAGES_HEADLINE_N; i++)
        if (strcmp(pages_headline[i], kpi) == 0)
            return i;
    return -1;
}

/* ---- Requests ---------------------------------------------------------------------------- */

static bool
pages_valid_arg(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > PSY_KPI_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              *s == ':'))
            return false;
    return true;
}

int
pages_parse(const char *path, const char *lang, const char *format, pages_request_t *ret)
{
    pages_request_t r = {0};

    if (!path)
        return -ENOENT;
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "html") != 0)
        return -EINVAL;
    if (lang && strcmp(lang, "da") != 0 && strcmp(lang, "en") != 0)
        return -EINVAL;
    r.lang = l10n_parse(lang);
    r.csv = format && strcmp(format, "csv") == 0;
    if (strcmp(path, "/") == 0) {
        r.kind = PAGES_OVERVIEW;
    } else if (strcmp(path, "/alerts") == 0) {
        r.kind = PAGES_ALERTS;
    } else if (strcmp(path, "/collectors") == 0) {
        r.kind = PAGES_COLLECTORS;
    } else if (strncmp(path, "/center/", 8) == 0 || strncmp(path, "/kpi/", 5) == 0) {
        const char *arg = path + (path[1] == 'c' ? 8 : 5);
        if (!pages_valid_arg(arg))
            return -ENOENT;
        r.kind = path[1] == 'c' ? PAGES_CENTER : PAGES_KPI;
        snprintf(r.arg, sizeof(r.arg), "%s", arg);
    } else if (strncmp(path, "/report/", 8) == 0) {
        const char *m = path + 8;
        if (strlen(m) != 7 || m[4] != '-' || strspn(m, "0123456789") != 4 ||
            strspn(m + 5, "0123456789") != 2)
            return -EINVAL;
        r.year = atoi(m);
        r.month = atoi(m + 5);
        if (r.year < 2000 || r.year > 2100 || r.month < 1 || r.month > 12)
            return -EINVAL;
        r.kind = PAGES_REPORT;
    } else {
        return -ENOENT;
    }
    *ret = r;
    return 0;
}

/* ---- Writing helpers --------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const pages_input_t *in;
    l10n_lang_t lang;
    bool report; /* the printed report: small counts suppressed */
} pages_ctx_t;

#define ESC(s) svg_escape(x->f, (s))

static const char *
pages_level_name(const pages_ctx_t *x, const pages_level_t *l)
{
    if (l->name && *l->name)
        return l->name;
    return l->is_region ? TR(x->lang, "Regionen", "The region") : l->id;
}

/* A link to one of our pages, in the page's language. */
static void
pages_href(const pages_ctx_t *x, const char *path, const char *query)
{
    fputs(" href=\"", x->f);
    ESC(path);
    if (x->lang == L10N_EN)
        fputs(query ? "?lang=en&amp;" : "?lang=en", x->f);
    else if (query)
        fputc('?', x->f);
    if (query)
        ESC(query);
    fputc('"', x->f);
}

static void
pages_kpi_name(const pages_ctx_t *x, const char *kpi)
{
    char buf[160];
    const char *n = l10n_kpi(x->lang, kpi, buf, sizeof(buf));

    ESC(n ? n : kpi);
}

static int
pages_decimals(const char *kpi)
{
    return strcmp(kpi, "intrusive_per_1000_bed_days") == 0 ? 2 : 1;
}

/* The headline KPIs that are counts (spc.md's c charts): whole numbers on their axes. */
static bool
pages_is_count(const char *kpi)
{
    return strcmp(kpi, "intrusive_episodes") == 0 || strcmp(kpi, "belt_over_48h") == 0 ||
           strcmp(kpi, "referrals_overdue") == 0 || strcmp(kpi, "consultations") == 0;
}

static void
pages_value(const pages_ctx_t *x, const pages_figure_t *g)
{
    char num[48];

    if (!g->set) {
        fputs("–", x->f);
        return;
    }
    if (g->integer && x->report && g->value >= 1 && g->value <= PAGES_SMALL_COUNT) {
        fputs("&lt;5", x->f);
        return;
    }
    l10n_number(x->lang, g->value, g->integer ? 0 : pages_decimals(g->kpi), num, sizeof(num));
    fputs(num, x->f);
}

static void
pages_head(const pages_ctx_t *x, const char *title, const char *current)
{
    static const struct {
        const char *path, *da, *en;
    } nav[] = {
        {"/", "Overblik", "Overview"},
        {"/center/region", "Regionen", "Region"},
        {"/alerts", "Alarmer", "Alerts"},
        {"/collectors", "Dataleverancer", "Data deliveries"},
    };
    char rep[32];

    fprintf(x->f,
            "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<link rel=\"icon\" href=\"data:,\"><title>",
            l10n_code(x->lang));
    ESC(title);
    fputs(" · psymon</title><style>", x->f);
    for (size_t i = 0; i < sizeof(pages_css) / sizeof(pages_css[0]); i++)
        fputs(pages_css[i], x->f);
    fputs("</style></head><body>\n<header><nav>", x->f);
    for (size_t i = 0; i < sizeof(nav) / sizeof(nav[0]); i++) {
        fputs("<a", x->f);
        pages_href(x, nav[i].path, NULL);
        if (current && strcmp(current, nav[i].path) == 0)
            fputs(" aria-current=\"page\"", x->f);
        fprintf(x->f, ">%s</a>", TR(x->lang, nav[i].da, nav[i].en));
    }
    snprintf(rep, sizeof(rep), "/report/%04d-%02d", x->in->year, x->in->month);
    fputs("<a", x->f);
    pages_href(x, rep, NULL);
    fprintf(x->f, ">%s</a>", TR(x->lang, "Månedsrapport", "Monthly report"));
    /* The other language, same page. */
    fprintf(x->f, "<a class=\"lang\" href=\"?lang=%s\" hreflang=\"%s\" lang=\"%s\">%s</a>",
            x->lang == L10N_EN ? "da" : "en", x->lang == L10N_EN ? "da" : "en",
            x->lang == L10N_EN ? "da" : "en", x->lang == L10N_EN ? "Dansk" : "English");
    fputs("</nav></header>\n<main>\n", x->f);
}

static int
pages_foot(const pages_ctx_t *x)
{
    char when[48];

    l10n_datetime(x->lang, x->in->now, when, sizeof(when));
    fprintf(x->f, "<p class=\"note\">%s %s. ", TR(x->lang, "Opgjort", "Computed"), when);
    if (!x->in->ready)
        fputs(TR(x->lang, "Aggregatoren er ikke klar endnu. ", "The aggregator is not ready yet. "),
              x->f);
    fputs("<span class=\"noprint\"><a href=\"/api/v1/status\">status (JSON)</a> · "
          "<a href=\"/metrics\">metrics</a></span></p>\n</main></body></html>\n",
          x->f);
    return ferror(x->f) ? -EIO : 0;
}

static void
pages_csv_link(const pages_ctx_t *x, const char *path)
{
    fputs("<p class=\"csv noprint\"><a", x->f);
    pages_href(x, path, "format=csv");
    fprintf(x->f, " download>%s</a></p>\n",
            TR(x->lang, "Hent tabellen som CSV", "Download the table as CSV"));
}

static void
pages_month_words(const pages_ctx_t *x, char *buf, size_t size)
{
    l10n_month_year(x->lang, x->in->year, x->in->month, buf, size);
}

/*
 * A state tag: a symbol that carries the meaning without colour, and its
 * word, which narrow screens and print leave to the legend.
 */
static void
pages_tag(const pages_ctx_t *x, const char *cls, const char *sym, const char *word)
{
    fprintf(x->f,
            "<span class=\"tag %s\" title=\"%s\"><b>%s</b><span class=\"tt\"> %s</span></span>",
            cls, word, sym, word);
}

/* A figure cell with its data attributes, state tags and SPC icons. */
static void
pages_figure_cell(const pages_ctx_t *x, const pages_level_t *l, const pages_figure_t *g, bool icons)
{
    const char *state;
    const char *unit;

    if (!g->kpi) {
        fputs("<td>–</td>", x->f);
        return;
    }
    state = pages_state(g->incomplete, g->provisional, g->judgement);
    fputs("<td class=\"fig\" data-center=\"", x->f);
    ESC(l->id);
    fputs("\" data-kpi=\"", x->f);
    ESC(g->kpi);
    fputs("\" data-period=\"", x->f);
    ESC(g->period);
    fprintf(x->f, "\" data-state=\"%s\"><span class=\"v\">", state);
    pages_value(x, g);
    fputs("</span>", x->f);
    unit = l10n_kpi_unit(x->lang, g->kpi);
    if (g->set && *unit)
        fprintf(x->f, " <span class=\"unit\">%s</span>", unit);
    if (g->incomplete)
        pages_tag(x, "inc", "⚠", TR(x->lang, "ufuldstændig", "incomplete"));
    else if (g->provisional)
        pages_tag(x, "prov", "*", TR(x->lang, "foreløbig", "provisional"));
    if (g->on_track >= 0 && strcmp(g->kpi, "intrusive_per_100k") == 0) {
        /* Never "on track" for incomplete data: the figure would only look good. */
        if (g->incomplete)
            pages_tag(x, "inc", "?",
                      TR(x->lang, "målsti: kan ikke vurderes", "trajectory: cannot tell"));
        else if (g->on_track == 1)
            pages_tag(x, "good", "✓", TR(x->lang, "på sporet", "on track"));
        else
            pages_tag(x, "bad", "✗", TR(x->lang, "ikke på sporet", "off track"));
    }
    if (icons && strcmp(g->kpi, "intrusive_per_100k") != 0) {
        bool none = g->incomplete || (!g->variation[0] && !g->assurance[0]);
        if (none) {
            /* One short mark instead of two empty icons: nothing to say about variation. */
            fprintf(x->f, "<span class=\"icons na\" title=\"%s\">SPC –</span>",
                    g->incomplete ? TR(x->lang, "SPC vurderes ikke for ufuldstændige data",
                                       "No SPC judgement on incomplete data")
                                  : l10n_spc_word(x->lang, ""));
        } else {
            fputs("<span class=\"icons\">", x->f);
            svg_icon_variation(x->f, x->lang, g->variation, g->assessment);
            svg_icon_assurance(x->f, x->lang, g->assurance);
            fputs("</span>", x->f);
        }
    }
    fputs("</td>", x->f);
}

static void
pages_complete_cell(const pages_ctx_t *x, const pages_level_t *l)
{
    fprintf(x->f, "<td class=\"complete\" data-center=\"");
    ESC(l->id);
    const char *word = l->complete ? TR(x->lang, "komplette", "complete")
                                   : TR(x->lang, "ufuldstændige", "incomplete");
    /* On a phone the word goes (the symbol stays, the word is its title). */
    fprintf(x->f, "\" data-complete=\"%s\" title=\"%s\">%s<span class=\"w\"> %s</span></td>",
            l->complete ? "true" : "false", word, l->complete ? "✓" : "⚠", word);
}

/* The overview table: a row per level, a column per headline KPI. */
static void
pages_overview_table(const pages_ctx_t *x, bool icons)
{
    const pages_input_t *in = x->in;

    fputs("<div class=\"wrap\"><table class=\"overview\"><thead><tr><th>", x->f);
    fputs(TR(x->lang, "Niveau", "Level"), x->f);
    fprintf(x->f, "</th><th>%s</th>", TR(x->lang, "Data", "Data"));
    for (int k = 0; k < PAGES_HEADLINE_N; k++) {
        char path[96];
        fputs("<th>", x->f);
        if (k > 0 && !x->report) {
            snprintf(path, sizeof(path), "/kpi/%s", pages_headline[k]);
            fputs("<a", x->f);
            pages_href(x, path, NULL);
            fputs(">", x->f);
        }
        {
            char kn[160];
            const char *full = l10n_kpi(x->lang, pages_headline[k], kn, sizeof(kn));
            const char *sh = l10n_kpi_short(x->lang, pages_headline[k]);
            fputs("<abbr title=\"", x->f);
            ESC(full ? full : pages_headline[k]);
            fputs("\">", x->f);
            ESC(sh ? sh : full ? full : pages_headline[k]);
            fputs("</abbr>", x->f);
        }
        if (k > 0 && !x->report)
            fputs("</a>", x->f);
        fprintf(x->f, "<br><span class=\"note\">%s</span></th>",
                k == 0 ? TR(x->lang, "12 måneder", "12 months") : TR(x->lang, "måned", "month"));
    }
    fputs("</tr></thead><tbody>\n", x->f);
    for (size_t i = 0; i < in->nlevels; i++) {
        const pages_level_t *l = &in->levels[i];
        char path[64];

        fputs("<tr><th scope=\"row\">", x->f);
        snprintf(path, sizeof(path), "/center/%s", l->id);
        if (!x->report) {
            fputs("<a", x->f);
            pages_href(x, path, NULL);
            fputs(">", x->f);
        }
        ESC(pages_level_name(x, l));
        fputs(x->report ? "</th>" : "</a></th>", x->f);
        pages_complete_cell(x, l);
        for (int k = 0; k < PAGES_HEADLINE_N; k++)
            pages_figure_cell(x, l, &l->headline[k], icons);
        fputs("</tr>\n", x->f);
    }
    fputs("</tbody></table></div>\n", x->f);
}

static void
pages_legend(const pages_ctx_t *x)
{
    fprintf(x->f, "<h2>%s</h2><dl class=\"legend\">",
            TR(x->lang, "Sådan læses siden", "How to read this page"));
    fputs("<dt>", x->f);
    svg_icon_variation(x->f, x->lang, "common", "common");
    fprintf(
        x->f, "</dt><dd>%s</dd><dt>",
        TR(x->lang,
           "Almindelig variation: seneste måned ligger inden for det, processen plejer at give.",
           "Common cause variation: the latest month is within what the process usually gives."));
    svg_icon_variation(x->f, x->lang, "low", "improvement");
    fprintf(x->f, "</dt><dd>%s</dd><dt>",
            TR(x->lang,
               "Særlig variation i den gode retning (H = høj, L = lav): en reel forbedring.",
               "Special cause variation in the good direction (H = high, L = low): a real "
               "improvement."));
    svg_icon_variation(x->f, x->lang, "high", "concern");
    fprintf(x->f, "</dt><dd>%s</dd><dt>",
            TR(x->lang, "Særlig variation i den dårlige retning: en reel forværring.",
               "Special cause variation in the bad direction: a real deterioration."));
    svg_icon_assurance(x->f, x->lang, "pass");
    fputs(" ", x->f);
    svg_icon_assurance(x->f, x->lang, "fail");
    fputs(" ", x->f);
    svg_icon_assurance(x->f, x->lang, "hit_and_miss");
    fprintf(x->f, "</dt><dd>%s</dd>",
            TR(x->lang,
               "Målsikkerhed: processen når målet hver måned, ingen måned, eller nogle måneder.",
               "Assurance: the process meets its target every month, never, or some months."));
    fputs("<dt>", x->f);
    pages_tag(x, "inc", "⚠", TR(x->lang, "ufuldstændig", "incomplete"));
    fprintf(x->f, "</dt><dd>%s</dd>",
            TR(x->lang,
               "Der mangler data for en måned i perioden, eller centerets dataleverance er "
               "stoppet: tallet er ikke et resultat og vises aldrig som godt.",
               "A month of the period has no data, or the center's deliveries stopped: the "
               "figure is not a result and is never shown as good."));
    fputs("<dt>", x->f);
    pages_tag(x, "prov", "*", TR(x->lang, "foreløbig", "provisional"));
    fprintf(x->f, "</dt><dd>%s</dd>",
            TR(x->lang,
               "Tallet kan endnu ændre sig (en genindlæggelse inden for 30 dage, eller en "
               "måned der ikke er slut).",
               "The figure can still change (a readmission within 30 days, or a month not yet "
               "over)."));
    fputs("<dt>", x->f);
    pages_tag(x, "good", "✓", TR(x->lang, "på sporet", "on track"));
    fputs(" ", x->f);
    pages_tag(x, "bad", "✗", TR(x->lang, "ikke på sporet", "off track"));
    fprintf(x->f, "</dt><dd>%s</dd></dl>\n",
            TR(x->lang,
               "Indgribende tvang pr. 100.000 borgere de seneste 12 måneder er under (✓) eller "
               "over (✗) målstien mod 2030.",
               "Intrusive coercion per 100,000 citizens over the last 12 months is below (✓) or "
               "above (✗) the trajectory to 2030."));
}

static void
pages_banner_spc(const pages_ctx_t *x)
{
    if (!x->in->spc_available)
        fprintf(x->f, "<p class=\"banner\">%s</p>\n",
                TR(x->lang,
                   "SPC-beregningen (centerlinje, kontrolgrænser, signaler) er ikke tilgængelig "
                   "endnu: graferne viser kun månedernes værdier, og ikonerne siger \"ikke "
                   "beregnet\".",
                   "The SPC computation (centre line, limits, signals) is not available yet: "
                   "charts show the monthly values only and the icons say \"not available\"."));
}

/*
 * The overview's line about alerts: how many fire now, and how many of
 * them are critical, with a link to the list. Silenced, acknowledged and
 * inhibited alerts fire too; pending and resolved ones are left out.
 */
static void
pages_alert_summary(const pages_ctx_t *x)
{
    size_t firing = 0, critical = 0;

    if (!x->in->alerts_available)
        return;
    for (size_t i = 0; i < x->in->nalerts; i++) {
        const pages_alert_t *a = &x->in->alerts[i];
        if (!a->state || strcmp(a->state, "pending") == 0 || strcmp(a->state, "resolved") == 0)
            continue;
        firing++;
        critical += a->severity && strcmp(a->severity, "critical") == 0;
    }
    if (firing == 0) {
        fprintf(x->f, "<p class=\"banner ok alerts-summary\" data-firing=\"0\">✓ %s</p>\n",
                TR(x->lang, "Ingen aktive alarmer.", "No alerts firing."));
        return;
    }
    fprintf(x->f, "<p class=\"banner alerts-summary\" data-firing=\"%zu\">⚠ <a", firing);
    pages_href(x, "/alerts", NULL);
    if (firing == 1)
        fprintf(x->f, ">%s</a>", TR(x->lang, "1 aktiv alarm", "1 alert firing"));
    else
        fprintf(x->f, ">%zu %s</a>", firing, TR(x->lang, "aktive alarmer", "alerts firing"));
    if (critical)
        fprintf(x->f, ", %s %zu %s", TR(x->lang, "heraf", "of which"), critical,
                TR(x->lang, critical == 1 ? "kritisk" : "kritiske", "critical"));
    fputs(".</p>\n", x->f);
}

static int
pages_overview(const pages_ctx_t *x)
{
    char month[32], title[160];

    pages_month_words(x, month, sizeof(month));
    snprintf(title, sizeof(title), "%s", TR(x->lang, "Overblik", "Overview"));
    pages_head(x, title, "/");
    fprintf(x->f, "<h1>%s: ", TR(x->lang, "Overblik", "Overview"));
    ESC(x->in->nlevels ? pages_level_name(x, &x->in->levels[0]) : "");
    fprintf(x->f, "</h1>\n<p>%s <b>%s</b>. %s</p>\n",
            TR(x->lang, "Seneste hele måned:", "Latest complete month:"), month,
            TR(x->lang,
               "Indgribende tvang pr. 100.000 gælder de seneste 12 måneder; de øvrige tal "
               "måneden.",
               "Intrusive coercion per 100,000 covers the last 12 months; the other figures "
               "the month."));
    pages_banner_spc(x);
    pages_alert_summary(x);
    pages_overview_table(x, true);
    pages_csv_link(x, "/");
    pages_legend(x);
    return pages_foot(x);
}

static const pages_level_t *
pages_find_level(const pages_input_t *in, const char *id)
{
    for (size_t i = 0; i < in->nlevels; i++)
        if (strcmp(in->levels[i].id, id) == 0)
            return &in->levels[i];
    return NULL;
}

static void
pages_r12(const pages_ctx_t *x, const pages_level_t *l, const char *idp)
{
    const psy_agg_conf_t *c = x->in->conf;
    char title[256], blabel[32] = "";
    svg_r12_t r = {
        .title = title,
        .lang = x->lang,
        .points = l->r12,
        .npoints = l->nr12,
        .has_baseline = l->has_baseline,
        .baseline = l->baseline,
        .target_pct = c ? c->target_pct : 30,
        .first_year = c ? c->first_year : 2024,
        .first_month = c ? c->first_month : 1,
        .last_year = c ? c->last_year : 2030,
        .last_month = c ? c->last_month : 12,
        .id = idp,
    };

    if (c && c->nbaseline > 0) {
        snprintf(blabel, sizeof(blabel), "%d–%d", c->baseline_years[0],
                 c->baseline_years[c->nbaseline - 1]);
        r.baseline_label = blabel;
    }
    snprintf(title, sizeof(title), "%s, %s",
             TR(x->lang, "Indgribende tvang pr. 100.000 borgere, 12 måneder",
                "Intrusive coercion per 100,000 citizens, 12 months"),
             pages_level_name(x, l));
    fputs("<figure>", x->f);
    svg_r12_chart(x->f, &r);
    fprintf(x->f, "<figcaption class=\"note\">%s</figcaption></figure>\n",
            TR(x->lang,
               "Streg: de seneste 12 måneder ved hver måneds udgang. Stiplet blå: baseline. "
               "Stiplet grøn: målstien til målet. Skraveret: ufuldstændige data, ikke tegnet.",
               "Line: the twelve months to the end of each month. Dashed blue: the baseline. "
               "Dashed green: the trajectory to the target. Shaded: incomplete data, not drawn."));
}

static void
pages_spc(const pages_ctx_t *x, const pages_level_t *l, int k, bool small, double lo, double hi,
          const char *idp)
{
    const pages_series_t *s = &l->series[k];
    char title[256], kn[160];
    const char *n = l10n_kpi(x->lang, pages_headline[k], kn, sizeof(kn));
    const char *unit = l10n_kpi_unit(x->lang, pages_headline[k]);
    svg_spc_t c = {
        .title = title,
        .unit = unit,
        .lang = x->lang,
        .decimals = pages_is_count(pages_headline[k]) ? 0 : pages_decimals(pages_headline[k]),
        .points = s->points,
        .npoints = s->points ? s->npoints : 0,
        .runs_signal = s->runs_signal,
        .ymin = lo,
        .ymax = hi,
        .small = small,
        .id = idp,
    };

    snprintf(title, sizeof(title), "%s, %s", n ? n : pages_headline[k], pages_level_name(x, l));
    svg_spc_chart(x->f, &c);
}

/* A level's display name from its id (a center id or "region"). */
static const char *
pages_level_name_of(const pages_ctx_t *x, const char *id)
{
    const pages_level_t *l = id ? pages_find_level(x->in, id) : NULL;

    return l ? pages_level_name(x, l) : id ? id : "";
}

/* Whether an alert is about a collector (alerts.md's operational rules), not a KPI. */
static bool
pages_alert_operational(const pages_alert_t *a)
{
    static const char *const ops[] = {"CollectorSilent", "ExportStale",     "BacklogStuck",
                                      "SpoolFull",       "RecordsRejected", "ClockSkew"};

    for (size_t i = 0; a->alertname && i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(a->alertname, ops[i]) == 0)
            return true;
    return false;
}

/*
 * The chart an alert is about, on our own pages: a collector's row on
 * /collectors, the target chart or a headline KPI's chart on the level's
 * page, else the level's table of every KPI.
 */
static void
pages_alert_href(const pages_ctx_t *x, const pages_alert_t *a)
{
    char path[96];
    const char *anchor = "all";
    char kbuf[PSY_KPI_NAME_MAX + 8];

    if (pages_alert_operational(a) || !a->center || !*a->center) {
        fputs(" href=\"/collectors", x->f);
        if (x->lang == L10N_EN)
            fputs("?lang=en", x->f);
        if (a->center && *a->center) {
            fputs("#c-", x->f);
            ESC(a->center);
        }
        fputc('"', x->f);
        return;
    }
    if ((a->alertname && strcmp(a->alertname, "IntrusiveOffTrajectory") == 0) ||
        (a->kpi && (strcmp(a->kpi, "intrusive_per_100k") == 0 ||
                    strncmp(a->kpi, "intrusive_reduction", 19) == 0 ||
                    strcmp(a->kpi, "intrusive_on_track") == 0))) {
        anchor = "target";
    } else if (a->kpi && pages_headline_index(a->kpi) > 0) {
        snprintf(kbuf, sizeof(kbuf), "kpi-%s", a->kpi);
        anchor = kbuf;
    }
    snprintf(path, sizeof(path), "/center/%s", a->center);
    fputs(" href=\"", x->f);
    ESC(path);
    if (x->lang == L10N_EN)
        fputs("?lang=en", x->f);
    fputc('#', x->f);
    ESC(anchor);
    fputc('"', x->f);
}

/* A state or severity as a symbol and a word: colour is never the only signal. */
static void
pages_alert_state_cell(const pages_ctx_t *x, const pages_alert_t *a)
{
    static const struct {
        const char *state, *sym;
    } syms[] = {{"firing", "●"},   {"pending", "◌"},   {"acknowledged", "✓"},
                {"silenced", "⊘"}, {"inhibited", "↓"}, {"resolved", "✔"}};
    const char *sym = "?", *word = l10n_alert_state(x->lang, a->state);

    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
        if (a->state && strcmp(a->state, syms[i].state) == 0)
            sym = syms[i].sym;
    fprintf(x->f, "<td><span class=\"ast ast-%s\"><b>%s</b> ", a->state ? a->state : "", sym);
    ESC(word ? word : a->state);
    fputs("</span></td>", x->f);
}

static void
pages_alert_severity_cell(const pages_ctx_t *x, const pages_alert_t *a)
{
    const char *word = l10n_severity(x->lang, a->severity);
    const char *sym = !a->severity                           ? ""
                      : strcmp(a->severity, "critical") == 0 ? "‼ "
                      : strcmp(a->severity, "warning") == 0  ? "! "
                                                             : "";

    fputs("<td><span class=\"sev sev-", x->f);
    ESC(a->severity ? a->severity : "");
    fprintf(x->f, "\">%s", sym);
    ESC(word ? word : a->severity ? a->severity : "");
    fputs("</span></td>", x->f);
}

/*
 * The alerts of one level (center id or "region"), or every alert (center
 * NULL), as a table whose rows carry data-alertname, data-center,
 * data-severity, data-state and data-fingerprint.
 */
static void
pages_alert_rows(const pages_ctx_t *x, const char *center)
{
    size_t shown = 0;

    if (!x->in->alerts_available) {
        fprintf(
            x->f, "<p class=\"note\">%s</p>\n",
            TR(x->lang, "Alarmerne er ikke tilgængelige endnu.", "Alerts are not available yet."));
        return;
    }
    for (size_t i = 0; i < x->in->nalerts; i++) {
        const pages_alert_t *a = &x->in->alerts[i];
        const char *title = l10n_alertname(x->lang, a->alertname);
        char when[48];

        if (center && (!a->center || strcmp(a->center, center) != 0))
            continue;
        if (shown++ == 0)
            fprintf(x->f,
                    "<div class=\"wrap\"><table class=\"alerts\"><thead><tr><th>%s</th>"
                    "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                    "</tr></thead><tbody>\n",
                    TR(x->lang, "Tilstand", "State"), TR(x->lang, "Alarm", "Alert"),
                    TR(x->lang, "Niveau", "Level"), TR(x->lang, "Alvor", "Severity"),
                    TR(x->lang, "Beskrivelse", "Summary"), TR(x->lang, "Siden", "Since"),
                    TR(x->lang, "Se mere", "More"));
        fputs("<tr class=\"alert\" data-alertname=\"", x->f);
        ESC(a->alertname);
        fputs("\" data-center=\"", x->f);
        ESC(a->center);
        fputs("\" data-severity=\"", x->f);
        ESC(a->severity);
        fputs("\" data-state=\"", x->f);
        ESC(a->state);
        fputs("\" data-fingerprint=\"", x->f);
        ESC(a->fingerprint);
        fputs("\">", x->f);
        pages_alert_state_cell(x, a);
        fputs("<td>", x->f);
        ESC(title ? title : a->alertname);
        if (title) {
            fputs("<br><span class=\"note\">", x->f);
            ESC(a->alertname);
            fputs("</span>", x->f);
        }
        fputs("</td><td>", x->f);
        ESC(pages_level_name_of(x, a->center));
        fputs("</td>", x->f);
        pages_alert_severity_cell(x, a);
        fputs("<td class=\"summary\">", x->f);
        ESC(x->lang == L10N_EN && a->summary_en && *a->summary_en ? a->summary_en : a->summary);
        if (a->ack_author && *a->ack_author) {
            fprintf(x->f, "<br><span class=\"note\">%s ",
                    TR(x->lang, "Kvitteret af", "Acknowledged by"));
            ESC(a->ack_author);
            if (a->ack_comment && *a->ack_comment) {
                fputs(": ", x->f);
                ESC(a->ack_comment);
            }
            fputs("</span>", x->f);
        }
        fputs("</td><td>", x->f);
        l10n_datetime(x->lang, a->firing_since != PSY_TIME_NONE ? a->firing_since : a->active_at,
                      when, sizeof(when));
        fputs(when, x->f);
        if (a->resolved_at != PSY_TIME_NONE) {
            l10n_datetime(x->lang, a->resolved_at, when, sizeof(when));
            fprintf(x->f, "<br><span class=\"note\">%s %s</span>",
                    TR(x->lang, "afsluttet", "resolved"), when);
        }
        fputs("</td><td><a", x->f);
        pages_alert_href(x, a);
        fprintf(x->f, ">%s</a></td></tr>\n",
                pages_alert_operational(a) ? TR(x->lang, "Se leverancen", "See the deliveries")
                                           : TR(x->lang, "Se grafen", "See the chart"));
    }
    if (shown)
        fputs("</tbody></table></div>\n", x->f);
    else
        fprintf(x->f, "<p>%s</p>\n", TR(x->lang, "Ingen alarmer.", "No alerts."));
}

static void
pages_all_table(const pages_ctx_t *x, const pages_level_t *l)
{
    char month[32];

    pages_month_words(x, month, sizeof(month));
    fprintf(x->f, "<h2 id=\"all\">%s, %s</h2>\n", TR(x->lang, "Alle nøgletal", "All KPIs"), month);
    if (!l->all || l->nall == 0) {
        fprintf(x->f, "<p class=\"note\">%s</p>\n",
                TR(x->lang, "Nøgletallene kan ikke beregnes lige nu.",
                   "The KPIs cannot be computed right now."));
        return;
    }
    fprintf(x->f,
            "<div class=\"wrap\"><table class=\"all\"><thead><tr><th>%s</th><th>%s</th>"
            "</tr></thead><tbody>\n",
            TR(x->lang, "Nøgletal", "KPI"), TR(x->lang, "Værdi", "Value"));
    for (size_t i = 0; i < l->nall; i++) {
        /* A KPI without a section of its own is found here (alert links: #kpi-NAME). */
        if (l->all[i].kpi && pages_headline_index(l->all[i].kpi) < 0) {
            fputs("<tr id=\"kpi-", x->f);
            ESC(l->all[i].kpi);
            fputs("\"><td>", x->f);
        } else {
            fputs("<tr><td>", x->f);
        }
        pages_kpi_name(x, l->all[i].kpi);
        fputs("</td>", x->f);
        pages_figure_cell(x, l, &l->all[i], false);
        fputs("</tr>\n", x->f);
    }
    fputs("</tbody></table></div>\n", x->f);
}

static void
pages_completeness_banner(const pages_ctx_t *x, const pages_level_t *l)
{
    char month[32];

    pages_month_words(x, month, sizeof(month));
    if (l->complete)
        fprintf(x->f, "<p class=\"banner ok\" data-complete=\"true\">✓ %s %s %s.</p>\n",
                TR(x->lang, "Data for", "The data for"), month,
                TR(x->lang, "er komplette", "are complete"));
    else
        fprintf(x->f, "<p class=\"banner\" data-complete=\"false\">⚠ %s %s %s</p>\n",
                TR(x->lang, "Data for", "The data for"), month,
                TR(x->lang,
                   "er ufuldstændige: en måned mangler data, eller leverancen er stoppet. "
                   "Tallene er ikke resultater.",
                   "are incomplete: a month has no data, or deliveries stopped. The figures "
                   "are not results."));
}

static int
pages_center(const pages_ctx_t *x, const pages_level_t *l)
{
    char path[64], idp[32];

    pages_head(x, pages_level_name(x, l), l->is_region ? "/center/region" : NULL);
    fputs("<h1>", x->f);
    ESC(pages_level_name(x, l));
    fputs("</h1>\n", x->f);
    pages_completeness_banner(x, l);
    pages_banner_spc(x);
    fputs("<div class=\"wrap\"><table class=\"overview\"><thead><tr>", x->f);
    for (int k = 0; k < PAGES_HEADLINE_N; k++) {
        fputs("<th>", x->f);
        pages_kpi_name(x, pages_headline[k]);
        fputs("</th>", x->f);
    }
    fputs("</tr></thead><tbody><tr>", x->f);
    for (int k = 0; k < PAGES_HEADLINE_N; k++)
        pages_figure_cell(x, l, &l->headline[k], true);
    fputs("</tr></tbody></table></div>\n", x->f);

    fprintf(x->f, "<h2 id=\"target\">%s</h2>\n",
            TR(x->lang, "Målet for indgribende tvang", "The target for intrusive coercion"));
    pages_r12(x, l, "r12");
    fputs("<div class=\"kpis\">\n", x->f);
    for (int k = 1; k < PAGES_HEADLINE_N; k++) {
        fprintf(x->f, "<section class=\"kpi\" id=\"kpi-%s\"><h2>", pages_headline[k]);
        pages_kpi_name(x, pages_headline[k]);
        fputs("</h2>\n", x->f);
        fputs("<p class=\"icons\">", x->f);
        svg_icon_variation(x->f, x->lang, l->headline[k].incomplete ? "" : l->headline[k].variation,
                           l->headline[k].assessment);
        svg_icon_assurance(x->f, x->lang,
                           l->headline[k].incomplete ? "" : l->headline[k].assurance);
        snprintf(path, sizeof(path), "/kpi/%s", pages_headline[k]);
        fputs(" <a", x->f);
        pages_href(x, path, NULL);
        fprintf(x->f, ">%s</a></p>\n",
                TR(x->lang, "Sammenlign med de andre centre", "Compare with the other centers"));
        snprintf(idp, sizeof(idp), "s%d", k);
        pages_spc(x, l, k, false, 0, 0, idp);
        fputs("</section>\n", x->f);
    }
    fputs("</div>\n", x->f);
    if (x->in->daily_graphs) {
        fprintf(x->f, "<h2>%s</h2>\n<p class=\"note\">%s</p>\n",
                TR(x->lang, "Dag for dag", "Day by day"),
                TR(x->lang,
                   "Hver dag: antallet de seneste 30 dage. Tidsaksen viser år, måned/år eller "
                   "dag/måned.",
                   "Each day: the number in the 30 days up to it. The time axis shows years, "
                   "month/year or day/month."));
        fputs("<img class=\"daily\" src=\"/graph/", x->f);
        ESC(l->id);
        fprintf(x->f, ".png\" alt=\"%s\" loading=\"lazy\">\n",
                TR(x->lang,
                   "Tvang, antal de seneste 30 dage, med baseline og målsti for indgribende tvang",
                   "Coercion, number in the last 30 days, with the baseline and the trajectory "
                   "for intrusive coercion"));
        fputs("<img class=\"daily\" src=\"/graph/", x->f);
        ESC(l->id);
        fprintf(x->f, ".png?what=activity\" alt=\"%s\" loading=\"lazy\">\n",
                TR(x->lang, "Indlæggelser og udskrivelser, antal de seneste 30 dage",
                   "Admissions and discharges, number in the last 30 days"));
    }
    fprintf(x->f, "<h2 id=\"alerts\">%s</h2>\n", TR(x->lang, "Alarmer", "Alerts"));
    pages_alert_rows(x, l->id);
    pages_all_table(x, l);
    snprintf(path, sizeof(path), "/center/%s", l->id);
    pages_csv_link(x, path);
    return pages_foot(x);
}

static int
pages_kpi(const pages_ctx_t *x, int k)
{
    const pages_input_t *in = x->in;
    double lo = 0, hi = 0;
    bool any = false;
    char path[96], idp[32];

    /* One scale for every center, so that the sizes compare at a glance. */
    for (size_t i = 1; i < in->nlevels; i++) {
        const pages_series_t *s = &in->levels[i].series[k];
        svg_spc_t c = {.points = s->points, .npoints = s->points ? s->npoints : 0};
        double a, b;
        if (svg_spc_range(&c, &a, &b)) {
            lo = any && lo < a ? lo : a;
            hi = any && hi > b ? hi : b;
            any = true;
        }
    }
    {
        char kn[160];
        const char *n = l10n_kpi(x->lang, pages_headline[k], kn, sizeof(kn));
        pages_head(x, n ? n : pages_headline[k], NULL);
        fputs("<h1>", x->f);
        ESC(n ? n : pages_headline[k]);
        fputs("</h1>\n", x->f);
    }
    pages_banner_spc(x);
    if (in->nlevels > 0) {
        const pages_level_t *r = &in->levels[0];
        fputs("<h2>", x->f);
        ESC(pages_level_name(x, r));
        fputs("</h2><p class=\"icons\">", x->f);
        svg_icon_variation(x->f, x->lang, r->headline[k].incomplete ? "" : r->headline[k].variation,
                           r->headline[k].assessment);
        svg_icon_assurance(x->f, x->lang,
                           r->headline[k].incomplete ? "" : r->headline[k].assurance);
        fputs("</p>\n", x->f);
        pages_spc(x, r, k, false, 0, 0, "reg");
    }
    fprintf(x->f, "<h2>%s</h2>\n<p class=\"note\">%s</p>\n<div class=\"grid\">\n",
            TR(x->lang, "Centrene", "The centers"),
            TR(x->lang, "Alle centre på samme skala.", "Every center on the same scale."));
    for (size_t i = 1; i < in->nlevels; i++) {
        const pages_level_t *l = &in->levels[i];
        fputs("<figure class=\"multiple\" data-center=\"", x->f);
        ESC(l->id);
        fputs("\"><figcaption><a", x->f);
        snprintf(path, sizeof(path), "/center/%s", l->id);
        pages_href(x, path, NULL);
        fputs(">", x->f);
        ESC(pages_level_name(x, l));
        fputs("</a> ", x->f);
        svg_icon_variation(x->f, x->lang, l->headline[k].incomplete ? "" : l->headline[k].variation,
                           l->headline[k].assessment);
        fputs("</figcaption>", x->f);
        snprintf(idp, sizeof(idp), "m%zu", i);
        pages_spc(x, l, k, true, any ? lo : 0, any ? hi : 0, idp);
        fputs("</figure>\n", x->f);
    }
    fputs("</div>\n", x->f);
    snprintf(path, sizeof(path), "/kpi/%s", pages_headline[k]);
    pages_csv_link(x, path);
    return pages_foot(x);
}

static int
pages_alerts(const pages_ctx_t *x)
{
    pages_head(x, TR(x->lang, "Alarmer", "Alerts"), "/alerts");
    fprintf(x->f, "<h1>%s</h1>\n<p>%s</p>\n", TR(x->lang, "Alarmer", "Alerts"),
            TR(x->lang,
               "Ventende, aktive, dæmpede og kvitterede alarmer, og dem der er afsluttet de "
               "seneste 7 dage.",
               "Pending, firing, silenced and acknowledged alerts, and those resolved in the "
               "last 7 days."));
    pages_alert_rows(x, NULL);
    pages_csv_link(x, "/alerts");
    return pages_foot(x);
}

static void
pages_offset(const pages_ctx_t *x, psy_time_t off)
{
    char num[48];

    l10n_number(x->lang, (double)off / (double)PSY_USEC, 1, num, sizeof(num));
    fprintf(x->f, "%s s", num);
}

static int
pages_collectors(const pages_ctx_t *x)
{
    const pages_input_t *in = x->in;

    pages_head(x, TR(x->lang, "Dataleverancer", "Data deliveries"), "/collectors");
    fprintf(x->f, "<h1>%s</h1>\n<p>%s</p>\n", TR(x->lang, "Dataleverancer", "Data deliveries"),
            TR(x->lang,
               "Kommer hvert centers data frem? En opsamler melder sig hvert minut; en time "
               "uden livstegn kræver et blik.",
               "Is every center's data arriving? A collector reports every minute; an hour "
               "of silence needs a look."));
    fprintf(x->f,
            "<div class=\"wrap\"><table class=\"collectors\"><thead><tr><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
            "<th>%s</th></tr></thead><tbody>\n",
            TR(x->lang, "Center", "Center"), TR(x->lang, "Sidst hørt fra", "Last heard from"),
            TR(x->lang, "Data denne måned", "Data this month"),
            TR(x->lang, "Registreringer", "Records"), TR(x->lang, "Ikke modtaget", "Backlog"),
            TR(x->lang, "Afviste", "Rejected"), TR(x->lang, "Spool fuld", "Spool full"),
            TR(x->lang, "Urafvigelse", "Clock offset"), TR(x->lang, "Version", "Version"),
            TR(x->lang, "Sidste fil læst", "Last file read"));
    for (size_t i = 0; i < in->ncollectors; i++) {
        const pages_collector_t *c = &in->collectors[i];
        char seen[48], file[48], num[48];
        bool stale =
            !c->known || c->last_seen == PSY_TIME_NONE || in->now - c->last_seen > PSY_HOUR;

        fputs("<tr id=\"c-", x->f);
        ESC(c->id);
        fputs("\" data-center=\"", x->f);
        ESC(c->id);
        fprintf(x->f, "\" data-state=\"%s\"><th scope=\"row\">", stale ? "bad" : "good");
        ESC(c->name && *c->name ? c->name : c->id);
        if (!c->known) {
            fprintf(x->f, "</th><td colspan=\"9\">%s</td></tr>\n",
                    TR(x->lang, "ukendt", "unknown"));
            continue;
        }
        l10n_datetime(x->lang, c->last_seen, seen, sizeof(seen));
        l10n_datetime(x->lang, c->last_file_at, file, sizeof(file));
        fprintf(x->f, "</th><td>%s%s</td><td>%s</td>", stale ? "⚠ " : "", seen,
                c->complete ? TR(x->lang, "✓ komplette", "✓ complete")
                            : TR(x->lang, "⚠ ufuldstændige", "⚠ incomplete"));
        l10n_number(x->lang, (double)c->records, 0, num, sizeof(num));
        fprintf(x->f, "<td>%s</td>", num);
        l10n_number(x->lang, (double)c->backlog, 0, num, sizeof(num));
        fprintf(x->f, "<td>%s</td>", num);
        l10n_number(x->lang, (double)c->rejected, 0, num, sizeof(num));
        fprintf(x->f, "<td>%s</td><td>%s</td><td>", num,
                c->spool_full ? TR(x->lang, "⚠ ja", "⚠ yes") : TR(x->lang, "nej", "no"));
        if (c->version && *c->version)
            pages_offset(x, c->clock_offset);
        else
            fputs("–", x->f);
        fputs("</td><td>", x->f);
        ESC(c->version && *c->version ? c->version : "–");
        fprintf(x->f, "</td><td>%s</td></tr>\n",
                c->last_file_at == PSY_TIME_NONE ? TR(x->lang, "ikke oplyst", "not reported")
                                                 : file);
    }
    fputs("</tbody></table></div>\n", x->f);
    pages_csv_link(x, "/collectors");
    return pages_foot(x);
}

static int
pages_report(const pages_ctx_t *x)
{
    const pages_input_t *in = x->in;
    char month[32], title[128];

    pages_month_words(x, month, sizeof(month));
    snprintf(title, sizeof(title), "%s %s", TR(x->lang, "Månedsrapport", "Monthly report"), month);
    pages_head(x, title, NULL);
    fputs("<section class=\"cover\"><h1>", x->f);
    ESC(title);
    fputs("</h1><p>", x->f);
    ESC(in->nlevels ? pages_level_name(x, &in->levels[0]) : "");
    fprintf(x->f, ": %s</p>\n",
            TR(x->lang, "tvang, genindlæggelser, ventetid og sociale indsatser i psykiatrien",
               "coercion, readmissions, waiting times and social work in psychiatry"));
    fprintf(x->f, "<p class=\"note\">%s</p>\n",
            TR(x->lang,
               "Antal på 1 til 4 vises som \"&lt;5\", så ingen enkeltperson kan genkendes i den "
               "trykte rapport. Tal markeret ufuldstændige er ikke resultater.",
               "Counts of 1 to 4 are shown as \"&lt;5\" so that no individual can be "
               "recognised in the printed report. Figures marked incomplete are not results."));
    pages_overview_table(x, true);
    fputs("</section>\n", x->f);
    if (in->nlevels > 0) {
        fprintf(x->f, "<section class=\"center\"><h2>%s</h2>\n",
                TR(x->lang, "Målet for indgribende tvang", "The target for intrusive coercion"));
        pages_r12(x, &in->levels[0], "rr");
        pages_legend(x);
        fputs("</section>\n", x->f);
    }
    for (size_t i = 1; i < in->nlevels; i++) {
        const pages_level_t *l = &in->levels[i];
        char idp[32];

        fputs("<section class=\"center\" data-center=\"", x->f);
        ESC(l->id);
        fputs("\"><h2>", x->f);
        ESC(pages_level_name(x, l));
        fputs("</h2>\n", x->f);
        pages_completeness_banner(x, l);
        snprintf(idp, sizeof(idp), "rr%zu", i);
        pages_r12(x, l, idp);
        fputs("<div class=\"wrap\"><table><tbody>", x->f);
        for (int k = 0; k < PAGES_HEADLINE_N; k++) {
            fputs("<tr><th scope=\"row\">", x->f);
            pages_kpi_name(x, pages_headline[k]);
            fputs("</th>", x->f);
            pages_figure_cell(x, l, &l->headline[k], true);
            fputs("</tr>", x->f);
        }
        fputs("</tbody></table></div>\n", x->f);
        fputs("<h3>", x->f);
        pages_kpi_name(x, pages_headline[1]);
        fputs("</h3>\n", x->f);
        snprintf(idp, sizeof(idp), "re%zu", i);
        pages_spc(x, l, 1, false, 0, 0, idp);
        fputs("</section>\n", x->f);
    }
    return pages_foot(x);
}

/* ---- CSV --------------------------------------------------------------------------------- */

static void
pages_csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
pages_csv_num(FILE *f, bool set, bool integer, double v)
{
    if (!set || !isfinite(v))
        return;
    if (integer)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.4f", v);
}

static void
pages_csv_figure(const pages_ctx_t *x, const pages_level_t *l, const pages_figure_t *g)
{
    char kn[160];
    const char *n = l10n_kpi(x->lang, g->kpi, kn, sizeof(kn));

    fprintf(x->f, "%s,", l->id);
    pages_csv_field(x->f, pages_level_name(x, l));
    fprintf(x->f, ",%s,", g->kpi);
    pages_csv_field(x->f, n ? n : g->kpi);
    fprintf(x->f, ",%s,", g->period);
    if (x->report && g->integer && g->set && g->value >= 1 && g->value <= PAGES_SMALL_COUNT)
        fputs("<5", x->f);
    else
        pages_csv_num(x->f, g->set, g->integer, g->value);
    fprintf(x->f, ",%d,%s,%s,%s,%s\n", g->provisional ? 1 : 0,
            pages_state(g->incomplete, g->provisional, g->judgement), g->variation, g->assessment,
            g->assurance);
}

static const char pages_csv_head[] =
    "center,center_name,kpi,kpi_name,period,value,provisional,state,variation,assessment,"
    "assurance\n";

static int
pages_csv(const pages_ctx_t *x, const pages_request_t *req, const pages_level_t *l, int k)
{
    const pages_input_t *in = x->in;
    FILE *f = x->f;

    switch (req->kind) {
    case PAGES_OVERVIEW:
    case PAGES_REPORT:
        fputs(pages_csv_head, f);
        for (size_t i = 0; i < in->nlevels; i++)
            for (int h = 0; h < PAGES_HEADLINE_N; h++)
                if (in->levels[i].headline[h].kpi)
                    pages_csv_figure(x, &in->levels[i], &in->levels[i].headline[h]);
        break;
    case PAGES_CENTER:
        fputs(pages_csv_head, f);
        for (size_t i = 0; i < l->nall; i++)
            pages_csv_figure(x, l, &l->all[i]);
        break;
    case PAGES_KPI:
        fputs("center,kpi,period,value,provisional,incomplete,baseline,cl,lcl,ucl,sigma_signal,"
              "runs_signal,target\n",
              f);
        for (size_t i = 0; i < in->nlevels; i++) {
            const pages_series_t *s = &in->levels[i].series[k];
            for (size_t j = 0; s->points && j < s->npoints; j++) {
                const svg_spc_point_t *p = &s->points[j];
                fprintf(f, "%s,%s,%04d-%02d,", in->levels[i].id, pages_headline[k], p->year,
                        p->month);
                pages_csv_num(f, p->has_y, false, p->y);
                fprintf(f, ",%d,%d,%d,", p->provisional, p->incomplete, p->baseline);
                pages_csv_num(f, p->has_cl, false, p->cl);
                fputc(',', f);
                pages_csv_num(f, p->has_lcl, false, p->lcl);
                fputc(',', f);
                pages_csv_num(f, p->has_ucl, false, p->ucl);
                fprintf(f, ",%d,%d,", p->sigma_signal, s->runs_signal);
                pages_csv_num(f, p->has_target, false, p->target);
                fputc('\n', f);
            }
        }
        break;
    case PAGES_ALERTS:
        fputs("state,alertname,center,kpi,severity,summary,period,value,active_at,firing_since,"
              "resolved_at,acknowledged_by,fingerprint\n",
              f);
        for (size_t i = 0; in->alerts_available && i < in->nalerts; i++) {
            const pages_alert_t *a = &in->alerts[i];
            char act[32] = "", fir[32] = "", res[32] = "";
            if (a->active_at != PSY_TIME_NONE)
                psy_time_format(a->active_at, act, sizeof(act));
            if (a->firing_since != PSY_TIME_NONE)
                psy_time_format(a->firing_since, fir, sizeof(fir));
            if (a->resolved_at != PSY_TIME_NONE)
                psy_time_format(a->resolved_at, res, sizeof(res));
            fprintf(f, "%s,%s,%s,%s,%s,", a->state ? a->state : "",
                    a->alertname ? a->alertname : "", a->center ? a->center : "",
                    a->kpi ? a->kpi : "", a->severity ? a->severity : "");
            pages_csv_field(f, x->lang == L10N_EN && a->summary_en ? a->summary_en : a->summary);
            fputc(',', f);
            pages_csv_field(f, a->period);
            fputc(',', f);
            pages_csv_field(f, a->value);
            fprintf(f, ",%s,%s,%s,", act, fir, res);
            pages_csv_field(f, a->ack_author);
            fprintf(f, ",%s\n", a->fingerprint ? a->fingerprint : "");
        }
        break;
    case PAGES_COLLECTORS:
        fputs("center,center_name,last_seen,records,backlog,rejected,spool_full,"
              "clock_offset_seconds,version,last_file_at,complete\n",
              f);
        for (size_t i = 0; i < in->ncollectors; i++) {
            const pages_collector_t *c = &in->collectors[i];
            char seen[32] = "", file[32] = "";
            fprintf(f, "%s,", c->id);
            pages_csv_field(f, c->name);
            if (!c->known) {
                fputs(",,,,,,,,,\n", f);
                continue;
            }
            if (c->last_seen != PSY_TIME_NONE)
                psy_time_format(c->last_seen, seen, sizeof(seen));
            if (c->last_file_at != PSY_TIME_NONE)
                psy_time_format(c->last_file_at, file, sizeof(file));
            fprintf(f, ",%s,%llu,%llu,%llu,%d,", seen, (unsigned long long)c->records,
                    (unsigned long long)c->backlog, (unsigned long long)c->rejected,
                    c->spool_full ? 1 : 0);
            if (c->version && *c->version)
                fprintf(f, "%.3f", (double)c->clock_offset / (double)PSY_USEC);
            fputc(',', f);
            pages_csv_field(f, c->version);
            fprintf(f, ",%s,%d\n", file, c->complete ? 1 : 0);
        }
        break;
    }
    return ferror(f) ? -EIO : 0;
}

int
pages_write(FILE *f, const pages_input_t *in, const pages_request_t *req)
{
    pages_ctx_t x = {.f = f, .in = in, .lang = req->lang, .report = req->kind == PAGES_REPORT};
    const pages_level_t *l = NULL;
    int k = -1;

    if (!f || !in || !req)
        return -EINVAL;
    if (req->kind == PAGES_CENTER) {
        l = pages_find_level(in, req->arg);
        if (!l)
            return -ENOENT;
    } else if (req->kind == PAGES_KPI) {
        k = pages_headline_index(req->arg);
        /* intrusive_per_100k has no monthly series; its chart is the rate chart. */
        if (k <= 0)
            return -ENOENT;
    }
    if (req->csv)
        return pages_csv(&x, req, l, k);
    switch (req->kind) {
    case PAGES_OVERVIEW:
        return pages_overview(&x);
    case PAGES_CENTER:
        return pages_center(&x, l);
    case PAGES_KPI:
        return pages_kpi(&x, k);
    case PAGES_ALERTS:
        return pages_alerts(&x);
    case PAGES_COLLECTORS:
        return pages_collectors(&x);
    case PAGES_REPORT:
        return pages_report(&x);
    }
    return -ENOENT;
}

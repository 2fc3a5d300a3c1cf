/*
 * l10n: the dashboard's two languages, Danish (the default) and English.
 *
 * Numbers with the language's decimal mark and thousands separator
 * (Danish 1.234,5; English 1,234.5), month names, local dates and times in
 * the configured zone (psy_tz_set), and the human name of every KPI of
 * kpis.md and of every word the SPC core prints (spc.md), so that a page
 * never shows an identifier such as coercion_episodes:belt.
 *
 * Pure functions over tables: no allocation, no locale, no global state
 * beyond the zone the process installed.
 */
#ifndef PSYMON_L10N_H
#define PSYMON_L10N_H

#include <stdbool.h>
#include <stddef.h>

#include "psymon/time.h"

typedef enum { L10N_DA = 0, L10N_EN = 1 } l10n_lang_t;

/* Picks one of two literals by language: TR(lang, "Overblik", "Overview"). */
#define TR(lang, da, en) ((lang) == L10N_EN ? (en) : (da))

/* "en" gives English; anything else (NULL, "", "da", unknown) Danish. */
l10n_lang_t l10n_parse(const char *s);
/* "da" or "en", for <html lang>. */
const char *l10n_code(l10n_lang_t lang);

/*
 * Writes v rounded to `decimals` (0-6) decimals with the language's
 * decimal mark and a thousands separator in the integer part; "–" for NaN
 * or an infinity. A negative number that rounds to zero prints without a
 * sign. buf should hold 48 bytes; the output is truncated to size.
 */
void l10n_number(l10n_lang_t lang, double v, int decimals, char *buf, size_t size);

/* "januar" .. "december" / "January" .. "December"; "?" outside 1-12. */
const char *l10n_month(l10n_lang_t lang, int month);
/* "jan." .. "dec." / "Jan" .. "Dec"; "?" outside 1-12. */
const char *l10n_month_short(l10n_lang_t lang, int month);
/* A month as a heading: "marts 2024" / "March 2024". buf needs 32 bytes. */
void l10n_month_year(l10n_lang_t lang, int year, int month, char *buf, size_t size);
/*
 * An instant as a reader's local date and time in the installed zone, to
 * the minute: "5. december 2026 kl. 10:04" / "5 December 2026, 10:04";
 * "aldrig" / "never" for PSY_TIME_NONE. buf needs 48 bytes.
 */
void l10n_datetime(l10n_lang_t lang, psy_time_t t, char *buf, size_t size);

/*
 * The name of KPI `kpi` (an identifier of kpis.md, with its ":kind" or
 * ":role:kind" parts) in `lang`, written to buf (128 bytes are enough).
 * Returns buf, or NULL (buf untouched) when the identifier is unknown.
 */
const char *l10n_kpi(l10n_lang_t lang, const char *kpi, char *buf, size_t size);
/*
 * A short column heading for the headline KPIs of dashboard.md ("Bælte over
 * 48 t"), for dense tables that give the full name as its title; NULL for
 * other KPIs.
 */
const char *l10n_kpi_short(l10n_lang_t lang, const char *kpi);
/* The unit a KPI is read in ("pr. 100.000 borgere", "%", "episoder"), "" when none. */
const char *l10n_kpi_unit(l10n_lang_t lang, const char *kpi);
/*
 * A name in the middle of a phrase: "Handleplan" -> "handleplan", "Ægte" ->
 * "ægte" (ASCII and the Danish Æ Ø Å). An acronym ("SPC") stays as it is.
 */
void l10n_lower_first(char *s);
/* A coercion kind of records.md ("belt": "Bæltefiksering"); NULL when unknown. */
const char *l10n_coercion_kind(l10n_lang_t lang, const char *kind);
/* A consultation role or kind of records.md; NULL when unknown. */
const char *l10n_consult_role(l10n_lang_t lang, const char *role);
const char *l10n_consult_kind(l10n_lang_t lang, const char *kind);

/*
 * A word of spc.md's variation, assessment and assurance columns ("high",
 * "low", "common", "improvement", "concern", "neutral", "pass", "fail",
 * "hit_and_miss") as a reader says it; "" and NULL give the text for
 * "not available". NULL when the word is unknown.
 */
const char *l10n_spc_word(l10n_lang_t lang, const char *word);

/* A built-in alertname of alerts.md as a reader names it ("Tvang over målstien"); NULL when
 * unknown. */
const char *l10n_alertname(l10n_lang_t lang, const char *name);
/*
 * An alert's state on the pages (pending, firing, silenced, acknowledged,
 * inhibited, resolved) in words ("aktiv", "kvitteret"); NULL when unknown.
 */
const char *l10n_alert_state(l10n_lang_t lang, const char *state);
/* critical, warning, info in words ("kritisk"); NULL when unknown. */
const char *l10n_severity(l10n_lang_t lang, const char *severity);

#endif

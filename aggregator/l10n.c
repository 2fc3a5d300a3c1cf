/* l10n: Danish and English for the dashboard. See l10n.h. */
#include "l10n.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *id;
    const char *da;
    const char *en;
} l10n_pair_t;

static const char *const l10n_months[2][12] = {
    {"januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober",
     "november", "december"},
    {"January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"},
};

static const char *const l10n_months_short[2][12] = {
    {"jan.", "feb.", "mar.", "apr.", "maj", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.", "dec."},
    {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
};

/* The KPIs of kpis.md that are not composed of a prefix and a kind. */
static const l10n_pair_t l10n_kpis[] = {
    {"admissions", "Indlæggelser", "Admissions"},
    {"discharges", "Udskrivelser", "Discharges"},
    {"bed_days", "Sengedage", "Bed days"},
    {"patients", "Patienter", "Patients"},
    {"involuntary_admissions", "Tvangsindlæggelser", "Involuntary admissions"},
    {"involuntary_admission_share", "Andel tvangsindlæggelser", "Share of admissions involuntary"},
    {"intrusive_episodes", "Indgribende tvang, episoder", "Intrusive coercion, episodes"},
    {"intrusive_persons", "Personer med indgribende tvang", "Persons with intrusive coercion"},
    {"coerced_persons", "Personer med tvang", "Persons subject to coercion"},
    {"belt_share_of_patients", "Andel patienter bæltefikseret", "Share of patients belt-fixed"},
    {"belt_median_hours", "Bæltefiksering, median varighed", "Belt fixation, median duration"},
    {"belt_over_48h", "Bæltefikseringer over 48 timer", "Belt fixations over 48 hours"},
    {"intrusive_per_1000_bed_days", "Indgribende tvang pr. 1.000 sengedage",
     "Intrusive coercion per 1,000 bed days"},
    {"intrusive_per_100k", "Indgribende tvang pr. 100.000 borgere",
     "Intrusive coercion per 100,000 citizens"},
    {"intrusive_baseline_per_100k", "Baseline pr. 100.000 borgere",
     "Baseline per 100,000 citizens"},
    {"intrusive_reduction", "Reduktion i forhold til baseline", "Reduction from baseline"},
    {"intrusive_target_reduction", "Målsti: reduktion", "Trajectory: reduction"},
    {"intrusive_on_track", "På sporet mod målet", "On track for the target"},
    {"intrusive_target_episodes", "Episoder tilladt på målstien",
     "Episodes allowed on the trajectory"},
    {"readmission_rate_30d", "Genindlæggelser inden for 30 dage", "Readmissions within 30 days"},
    {"readmission_rate_7d", "Genindlæggelser inden for 7 dage", "Readmissions within 7 days"},
    {"median_days_to_readmission", "Dage til genindlæggelse, median",
     "Days to readmission, median"},
    {"self_discharge_share", "Andel selvudskrivninger", "Share of self-discharges"},
    {"consultations", "Konsultationer", "Consultations"},
    {"consulted_patients", "Patienter med konsultation", "Patients consulted"},
    {"treatment_starts", "Behandlingsstarter", "Treatment starts"},
    {"wait_within_60d_share", "Behandling startet inden for 60 dage",
     "Treatment started within 60 days"},
    {"wait_median_days", "Ventetid, median", "Waiting time, median"},
    {"referrals_overdue", "Henvisninger over 60 dage uden behandling",
     "Referrals over 60 days without treatment"},
    {"records", "Registreringer", "Records"},
    {"records_inconsistent", "Inkonsistente registreringer", "Inconsistent records"},
};

static const l10n_pair_t l10n_kpis_short[] = {
    {"intrusive_per_100k", "Tvang pr. 100.000", "Coercion per 100,000"},
    {"intrusive_episodes", "Tvang, episoder", "Coercion, episodes"},
    {"intrusive_per_1000_bed_days", "Tvang pr. 1.000 sengedage", "Coercion per 1,000 bed days"},
    {"belt_over_48h", "Bælte over 48 t", "Belts over 48 h"},
    {"readmission_rate_30d", "Genindlagt inden 30 dage", "Readmitted within 30 days"},
    {"self_discharge_share", "Selvudskrevne", "Self-discharged"},
    {"wait_within_60d_share", "Behandlet inden 60 dage", "Treated within 60 days"},
    {"referrals_overdue", "Venter over 60 dage", "Waiting over 60 days"},
    {"consultations", "Sociale konsultationer", "Social consultations"},
};

/* Coercion kinds of records.md: the measure, then its episodes as a plural heading. */
static const struct {
    const char *id;
    const char *da, *en;
    const char *da_episodes, *en_episodes;
} l10n_kinds[] = {
    {"belt", "Bæltefiksering", "Belt fixation", "Bæltefikseringer", "Belt fixations"},
    {"physical_restraint", "Fysisk fastholdelse", "Physical restraint", "Fysiske fastholdelser",
     "Physical restraints"},
    {"sedative_medication", "Beroligende medicin givet med magt", "Sedative medication by force",
     "Beroligende medicin givet med magt", "Sedative medication by force"},
    {"straps", "Remme", "Straps", "Remme", "Straps"},
    {"gloves", "Handsker", "Gloves", "Handsker", "Gloves"},
    {"forced_medication", "Tvangsmedicinering", "Forced medication", "Tvangsmedicineringer",
     "Forced medications"},
    {"forced_ect", "ECT med tvang", "Forced ECT", "ECT med tvang", "Forced ECT"},
    {"forced_feeding", "Tvangsernæring", "Forced feeding", "Tvangsernæring", "Forced feeding"},
    {"forced_somatic_treatment", "Tvangsbehandling af legemlig lidelse",
     "Forced treatment of a physical illness", "Tvangsbehandling af legemlig lidelse",
     "Forced treatment of a physical illness"},
    {"involuntary_detention", "Tvangstilbageholdelse", "Involuntary detention",
     "Tvangstilbageholdelser", "Involuntary detentions"},
    {"personal_shielding", "Personlig skærmning over 24 timer", "Personal shielding over 24 hours",
     "Personlig skærmning over 24 timer", "Personal shielding over 24 hours"},
    {"door_locking", "Aflåsning af dør", "Door locking", "Aflåsning af dør", "Door locking"},
    {"compulsory_follow_up", "Tvungen opfølgning", "Compulsory follow-up", "Tvungen opfølgning",
     "Compulsory follow-up"},
    {"other", "Anden tvang", "Other coercion", "Anden tvang", "Other coercion"},
};

static const l10n_pair_t l10n_roles[] = {
    {"social_nurse", "Socialsygeplejerske", "Social nurse"},
    {"social_physician", "Socialoverlæge", "Social chief physician"},
    {"other", "Anden faggruppe", "Other staff"},
};

static const l10n_pair_t l10n_consult_kinds[] = {
    {"supervision", "Supervision", "Supervision"},
    {"action_plan", "Handleplan", "Action plan"},
    {"substance_history", "Misbrugsanamnese", "Substance use history"},
    {"network_meeting", "Netværksmøde", "Network meeting"},
    {"follow_home", "Følge hjem", "Accompanying home"},
    {"other", "Andet", "Other"},
};

static const l10n_pair_t l10n_spc_words[] = {
    {"high", "Særlig variation, høj", "Special cause variation, high"},
    {"low", "Særlig variation, lav", "Special cause variation, low"},
    {"common", "Almindelig variation", "Common cause variation"},
    {"improvement", "Forbedring", "Improvement"},
    {"concern", "Bekymring", "Concern"},
    {"neutral", "Særlig variation", "Special cause variation"},
    {"pass", "Når målet hver måned", "Meets the target every month"},
    {"fail", "Når ikke målet", "Misses the target every month"},
    {"hit_and_miss", "Når målet nogle måneder", "Hit and miss"},
    {"", "Ikke beregnet", "Not available"},
};

static const char *
l10n_lookup(const l10n_pair_t *t, size_t n, l10n_lang_t lang, const char *id, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].id) == len && strncmp(t[i].id, id, len) == 0)
            return TR(lang, t[i].da, t[i].en);
    return NULL;
}

/* The built-in rules of alerts.md, as a manager names them (the words of docs/alerts.md). */
static const l10n_pair_t l10n_alertnames[] = {
    {"IntrusiveOffTrajectory", "Ikke på sporet mod målet for indgribende tvang",
     "Off the trajectory for intrusive coercion"},
    {"SpcConcern", "En reel ændring i den forkerte retning",
     "A real change in the wrong direction"},
    {"TargetAssuranceFail", "Målet nås ikke i nogen måned", "The target is missed every month"},
    {"BeltOver48h", "Bæltefiksering over 48 timer", "Belt fixation over 48 hours"},
    {"ReferralsOverdue", "Børn og unge har ventet over 60 dage",
     "Children have waited over 60 days"},
    {"CollectorSilent", "Ingen data fra centrets opsamler", "No data from the center's collector"},
    {"ExportStale", "Ingen nye eksportfiler", "No new export files"},
    {"BacklogStuck", "Registreringer sidder fast hos opsamleren", "Records stuck at the collector"},
    {"SpoolFull", "Opsamlerens lager er fuldt", "The collector's spool is full"},
    {"RecordsRejected", "Registreringer afvist", "Records rejected"},
    {"ClockSkew", "Opsamlerens ur går forkert", "The collector's clock is off"},
};

static const l10n_pair_t l10n_alert_states[] = {
    {"pending", "afventer", "pending"},       {"firing", "aktiv", "firing"},
    {"silenced", "dæmpet", "silenced"},       {"acknowledged", "kvitteret", "acknowledged"},
    {"inhibited", "undertrykt", "inhibited"}, {"resolved", "afsluttet", "resolved"},
};

static const l10n_pair_t l10n_severities[] = {
    {"critical", "kritisk", "critical"},
    {"warning", "advarsel", "warning"},
    {"info", "information", "info"},
};

#define L10N_LOOKUP(t, lang, id, len) l10n_lookup(t, sizeof(t) / sizeof(t[0]), lang, id, len)

l10n_lang_t
l10n_parse(const char *s)
{
    return s && strcmp(s, "en") == 0 ? L10N_EN : L10N_DA;
}

const char *
l10n_code(l10n_lang_t lang)
{
    return TR(lang, "da", "en");
}

void
l10n_number(l10n_lang_t lang, double v, int decimals, char *buf, size_t size)
{
    char digits[64], out[96];
    const char *dot;
    size_t ilen, o = 0;
    char sep = lang == L10N_EN ? ',' : '.';
    char mark = lang == L10N_EN ? '.' : ',';

    if (size == 0)
        return;
    if (!isfinite(v) || fabs(v) >= 1e15) {
        snprintf(buf, size, "–");
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 6)
        decimals = 6;
    snprintf(digits, sizeof(digits), "%.*f", decimals, fabs(v));
    /* A sign only when something non-zero is printed: "-0,0" reads as a value below zero. */
    if (v < 0 && strspn(digits, "0.") != strlen(digits))
        out[o++] = '-';
    dot = strchr(digits, '.');
    ilen = dot ? (size_t)(dot - digits) : strlen(digits);
    for (size_t i = 0; i < ilen; i++) {
        if (i > 0 && (ilen - i) % 3 == 0)
            out[o++] = sep;
        out[o++] = digits[i];
    }
    if (dot) {
        out[o++] = mark;
        for (const char *p = dot + 1; *p; p++)
            out[o++] = *p;
    }
    out[o] = '\0';
    snprintf(buf, size, "%s", out);
}

const char *
l10n_month(l10n_lang_t lang, int month)
{
    return month >= 1 && month <= 12 ? l10n_months[lang == L10N_EN][month - 1] : "?";
}

const char *
l10n_month_short(l10n_lang_t lang, int month)
{
    return month >= 1 && month <= 12 ? l10n_months_short[lang == L10N_EN][month - 1] : "?";
}

void
l10n_month_year(l10n_lang_t lang, int year, int month, char *buf, size_t size)
{
    snprintf(buf, size, "%s %d", l10n_month(lang, month), year);
}

void
l10n_datetime(l10n_lang_t lang, psy_time_t t, char *buf, size_t size)
{
    struct tm tm;
    time_t tt;

    if (t == PSY_TIME_NONE) {
        snprintf(buf, size, "%s", TR(lang, "aldrig", "never"));
        return;
    }
    /* Floor, so that an instant a microsecond before a minute shows that minute. */
    tt = (time_t)(t >= 0 ? t / PSY_USEC : -((-t + PSY_USEC - 1) / PSY_USEC));
    localtime_r(&tt, &tm);
    if (lang == L10N_EN)
        snprintf(buf, size, "%d %s %d, %02d:%02d", tm.tm_mday, l10n_month(lang, tm.tm_mon + 1),
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    else
        snprintf(buf, size, "%d. %s %d kl. %02d:%02d", tm.tm_mday, l10n_month(lang, tm.tm_mon + 1),
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}

static int
l10n_kind_index(const char *kind, size_t len)
{
    for (size_t i = 0; i < sizeof(l10n_kinds) / sizeof(l10n_kinds[0]); i++)
        if (strlen(l10n_kinds[i].id) == len && strncmp(l10n_kinds[i].id, kind, len) == 0)
            return (int)i;
    return -1;
}

const char *
l10n_coercion_kind(l10n_lang_t lang, const char *kind)
{
    int i = kind ? l10n_kind_index(kind, strlen(kind)) : -1;

    return i < 0 ? NULL : TR(lang, l10n_kinds[i].da, l10n_kinds[i].en);
}

const char *
l10n_consult_role(l10n_lang_t lang, const char *role)
{
    return role ? L10N_LOOKUP(l10n_roles, lang, role, strlen(role)) : NULL;
}

const char *
l10n_consult_kind(l10n_lang_t lang, const char *kind)
{
    return kind ? L10N_LOOKUP(l10n_consult_kinds, lang, kind, strlen(kind)) : NULL;
}

void
l10n_lower_first(char *s)
{
    if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
        s[0] = (char)tolower((unsigned char)s[0]);
    else if ((unsigned char)s[0] == 0xC3 &&
             ((unsigned char)s[1] == 0x86 || (unsigned char)s[1] == 0x98 ||
              (unsigned char)s[1] == 0x85))
        s[1] = (char)((unsigned char)s[1] + 0x20); /* Æ Ø Å -> æ ø å */
}

const char *
l10n_kpi(l10n_lang_t lang, const char *kpi, char *buf, size_t size)
{
    const char *name, *colon;

    if (!kpi || size == 0)
        return NULL;
    colon = strchr(kpi, ':');
    if (!colon) {
        name = L10N_LOOKUP(l10n_kpis, lang, kpi, strlen(kpi));
        if (!name)
            return NULL;
        snprintf(buf, size, "%s", name);
        return buf;
    }
    if (strncmp(kpi, "coercion_episodes:", 18) == 0 || strncmp(kpi, "coercion_persons:", 17) == 0) {
        int i = l10n_kind_index(colon + 1, strlen(colon + 1));
        if (i < 0)
            return NULL;
        if (kpi[9] == 'e')
            snprintf(buf, size, "%s",
                     TR(lang, l10n_kinds[i].da_episodes, l10n_kinds[i].en_episodes));
        else
            snprintf(buf, size, "%s, %s", TR(lang, l10n_kinds[i].da, l10n_kinds[i].en),
                     TR(lang, "personer", "persons"));
        return buf;
    }
    if (strncmp(kpi, "consultations:", 14) == 0) {
        const char *role = colon + 1, *kc = strchr(role, ':');
        const char *r, *k;
        char kind[64], rl[64];

        if (!kc)
            return NULL;
        r = L10N_LOOKUP(l10n_roles, lang, role, (size_t)(kc - role));
        k = L10N_LOOKUP(l10n_consult_kinds, lang, kc + 1, strlen(kc + 1));
        if (!r || !k)
            return NULL;
        snprintf(kind, sizeof(kind), "%s", k);
        snprintf(rl, sizeof(rl), "%s", r);
        l10n_lower_first(kind);
        l10n_lower_first(rl);
        snprintf(buf, size, "%s, %s: %s", TR(lang, "Konsultationer", "Consultations"), rl, kind);
        return buf;
    }
    return NULL;
}

const char *
l10n_kpi_short(l10n_lang_t lang, const char *kpi)
{
    return kpi ? L10N_LOOKUP(l10n_kpis_short, lang, kpi, strlen(kpi)) : NULL;
}

const char *
l10n_kpi_unit(l10n_lang_t lang, const char *kpi)
{
    size_t len;

    if (!kpi)
        return "";
    len = strlen(kpi);
    if (strcmp(kpi, "intrusive_per_100k") == 0 || strcmp(kpi, "intrusive_baseline_per_100k") == 0)
        return TR(lang, "pr. 100.000 borgere", "per 100,000 citizens");
    if (strcmp(kpi, "intrusive_per_1000_bed_days") == 0)
        return TR(lang, "pr. 1.000 sengedage", "per 1,000 bed days");
    if ((len > 6 && strcmp(kpi + len - 6, "_share") == 0) ||
        strcmp(kpi, "belt_share_of_patients") == 0 || strncmp(kpi, "readmission_rate_", 17) == 0 ||
        strcmp(kpi, "intrusive_reduction") == 0 || strcmp(kpi, "intrusive_target_reduction") == 0)
        return "%";
    if (strcmp(kpi, "belt_median_hours") == 0)
        return TR(lang, "timer", "hours");
    if (strcmp(kpi, "wait_median_days") == 0 || strcmp(kpi, "median_days_to_readmission") == 0 ||
        strcmp(kpi, "bed_days") == 0)
        return TR(lang, "dage", "days");
    return "";
}

const char *
l10n_spc_word(l10n_lang_t lang, const char *word)
{
    if (!word)
        word = "";
    return L10N_LOOKUP(l10n_spc_words, lang, word, strlen(word));
}

const char *
l10n_alertname(l10n_lang_t lang, const char *name)
{
    return name ? L10N_LOOKUP(l10n_alertnames, lang, name, strlen(name)) : NULL;
}

const char *
l10n_alert_state(l10n_lang_t lang, const char *state)
{
    return state ? L10N_LOOKUP(l10n_alert_states, lang, state, strlen(state)) : NULL;
}

const char *
l10n_severity(l10n_lang_t lang, const char *severity)
{
    return severity ? L10N_LOOKUP(l10n_severities, lang, severity, strlen(severity)) : NULL;
}

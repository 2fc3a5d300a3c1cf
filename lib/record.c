/*
 * psy_record_t helpers: initialisation, comparison, and the names of
 * records.md for every enumeration.
 */
#include <string.h>

#include "psymon/record.h"

void
psy_record_init(psy_record_t *r)
{
    memset(r, 0, sizeof(*r));
    r->time = PSY_TIME_NONE;
    r->end = PSY_TIME_NONE;
    r->age = -1;
    r->minutes = -1;
}

bool
psy_record_equal(const psy_record_t *a, const psy_record_t *b)
{
    return a->type == b->type && a->is_void == b->is_void && a->time == b->time &&
           strcmp(a->id, b->id) == 0 && a->has_patient == b->has_patient &&
           (!a->has_patient || memcmp(a->patient, b->patient, PSY_PSEUDONYM_LEN) == 0) &&
           strcmp(a->ward, b->ward) == 0 && strcmp(a->contact, b->contact) == 0 &&
           strcmp(a->referral, b->referral) == 0 && a->mode == b->mode && a->legal == b->legal &&
           a->outcome == b->outcome && a->coercion == b->coercion && a->end == b->end &&
           a->voluntary == b->voluntary && a->role == b->role && a->consult == b->consult &&
           a->age == b->age && a->minutes == b->minutes;
}

/* Each table is indexed by the enum value; index 0 (absent) has no name. */
static const char *const type_names[PSY_REC__COUNT] = {
    NULL, "admission", "discharge", "coercion", "consultation", "referral", "treatment_start",
};
static const char *const mode_names[PSY_MODE__COUNT] = {NULL, "acute", "planned"};
static const char *const legal_names[PSY_LEGAL__COUNT] = {NULL, "voluntary", "involuntary_red",
                                                          "involuntary_yellow"};
static const char *const outcome_names[PSY_OUTCOME__COUNT] = {NULL, "regular", "self_discharge",
                                                              "transfer", "death"};
static const char *const coercion_names[PSY_COERCION__COUNT] = {
    NULL,
    "belt",
    "physical_restraint",
    "sedative_medication",
    "straps",
    "gloves",
    "forced_medication",
    "forced_ect",
    "forced_feeding",
    "forced_somatic_treatment",
    "involuntary_detention",
    "personal_shielding",
    "door_locking",
    "compulsory_follow_up",
    "other",
};
static const char *const role_names[PSY_ROLE__COUNT] = {NULL, "social_nurse", "social_physician",
                                                        "other"};
static const char *const consult_names[PSY_CONSULT__COUNT] = {
    NULL,          "supervision", "action_plan", "substance_history", "network_meeting",
    "follow_home", "other",
};

static const char *
name_of(const char *const *names, int count, int v)
{
    return v > 0 && v < count ? names[v] : NULL;
}

static int
parse_of(const char *const *names, int count, const char *s)
{
    if (!s)
        return 0;
    for (int i = 1; i < count; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return 0;
}

#define NAMES(fn, type, table, count)                                                              \
    const char *psy_##fn##_name(type v)                                                            \
    {                                                                                              \
        return name_of(table, count, (int)v);                                                      \
    }                                                                                              \
    type psy_##fn##_parse(const char *s)                                                           \
    {                                                                                              \
        return (type)parse_of(table, count, s);                                                    \
    }

NAMES(rec_type, psy_rec_type_t, type_names, PSY_REC__COUNT)
NAMES(mode, psy_mode_t, mode_names, PSY_MODE__COUNT)
NAMES(legal, psy_legal_t, legal_names, PSY_LEGAL__COUNT)
NAMES(outcome, psy_outcome_t, outcome_names, PSY_OUTCOME__COUNT)
NAMES(coercion, psy_coercion_t, coercion_names, PSY_COERCION__COUNT)
NAMES(role, psy_role_t, role_names, PSY_ROLE__COUNT)
NAMES(consult, psy_consult_t, consult_names, PSY_CONSULT__COUNT)

bool
psy_coercion_is_intrusive(psy_coercion_t v)
{
    return v == PSY_COERCION_BELT || v == PSY_COERCION_PHYSICAL_RESTRAINT ||
           v == PSY_COERCION_SEDATIVE_MEDICATION;
}

static bool
charset_valid(const char *s, size_t len, size_t max, const char *extra, bool upper)
{
    if (len < 1 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (upper && c >= 'A' && c <= 'Z'))
            continue;
        if (c == '\0' || !strchr(extra, c))
            return false;
    }
    return true;
}

bool
psy_id_valid(const char *s, size_t len)
{
    return charset_valid(s, len, PSY_ID_MAX, "._:-", true);
}

bool
psy_ward_valid(const char *s, size_t len)
{
    return charset_valid(s, len, PSY_WARD_MAX, "._-", true);
}

bool
psy_center_valid(const char *s)
{
    return s && charset_valid(s, strlen(s), PSY_CENTER_MAX, "-", false);
}

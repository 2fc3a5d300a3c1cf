/* validate: the rules of records.md (see validate.h). */
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pseudonym.h"

static const char *const field_names[VALIDATE_F__COUNT] = {
    [VALIDATE_F_TYPE] = "type",
    [VALIDATE_F_ID] = "id",
    [VALIDATE_F_TIME] = "time",
    [VALIDATE_F_PATIENT] = "patient",
    [VALIDATE_F_WARD] = "ward",
    [VALIDATE_F_VOID] = "void",
    [VALIDATE_F_ADMISSION] = "admission",
    [VALIDATE_F_MODE] = "mode",
    [VALIDATE_F_LEGAL] = "legal",
    [VALIDATE_F_AGE] = "age",
    [VALIDATE_F_OUTCOME] = "outcome",
    [VALIDATE_F_KIND] = "kind",
    [VALIDATE_F_END] = "end",
    [VALIDATE_F_VOLUNTARY] = "voluntary",
    [VALIDATE_F_ROLE] = "role",
    [VALIDATE_F_MINUTES] = "minutes",
    [VALIDATE_F_REFERRAL] = "referral",
};

int
validate_field_lookup(const char *name, size_t len)
{
    for (int f = 0; f < VALIDATE_F__COUNT; f++)
        if (strlen(field_names[f]) == len && memcmp(field_names[f], name, len) == 0)
            return f;
    return -1;
}

const char *
validate_field_name(validate_field_t f)
{
    return f < VALIDATE_F__COUNT ? field_names[f] : NULL;
}

bool
validate_field_is_bool(validate_field_t f)
{
    return f == VALIDATE_F_VOID || f == VALIDATE_F_VOLUNTARY;
}

bool
validate_field_is_int(validate_field_t f)
{
    return f == VALIDATE_F_AGE || f == VALIDATE_F_MINUTES;
}

void
validate_input_init(validate_input_t *in)
{
    memset(in, 0, sizeof(*in));
}

void
validate_reject(validate_error_t *err, const char *reason)
{
    snprintf(err->reason, sizeof(err->reason), "%s", reason);
}

/* Rejects with a reason naming field f: fmt holds one %s for its name. */
static int
reject_field(validate_error_t *err, const char *fmt, validate_field_t f)
{
    /* The format is always one of the literals below; never a value. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(err->reason, sizeof(err->reason), fmt, field_names[f]);
#pragma GCC diagnostic pop
    return -EINVAL;
}

/*
 * Reads a string field. Returns 1 when present (*ret_s, *ret_len set), 0
 * when absent and not required, or -EINVAL with err filled.
 */
static int
get_str(const validate_input_t *in, validate_field_t f, bool required, const char **ret_s,
        size_t *ret_len, validate_error_t *err)
{
    const validate_value_t *v = &in->v[f];

    if (v->kind == VALIDATE_ABSENT)
        return required ? reject_field(err, "missing required field '%s'", f) : 0;
    if (v->kind != VALIDATE_STR)
        return reject_field(err, "field '%s' is not a string", f);
    if (memchr(v->s, '\0', v->len))
        return reject_field(err, "field '%s' holds a NUL byte", f);
    *ret_s = v->s;
    *ret_len = v->len;
    return 1;
}

/* Reads a boolean field: 1 present, 0 absent, -EINVAL. */
static int
get_bool(const validate_input_t *in, validate_field_t f, bool *ret, validate_error_t *err)
{
    const validate_value_t *v = &in->v[f];

    if (v->kind == VALIDATE_ABSENT)
        return 0;
    if (v->kind != VALIDATE_BOOL)
        return reject_field(err, "field '%s' is not a boolean", f);
    *ret = v->b;
    return 1;
}

/* Reads an integer field within [0, max]: 1 present, 0 absent, -EINVAL. */
static int
get_int(const validate_input_t *in, validate_field_t f, long long max, int *ret,
        validate_error_t *err)
{
    const validate_value_t *v = &in->v[f];

    if (v->kind == VALIDATE_ABSENT)
        return 0;
    if (v->kind != VALIDATE_INT)
        return reject_field(err, "field '%s' is not an integer", f);
    if (v->i < 0 || v->i > max)
        return reject_field(err, "field '%s' is out of range", f);
    *ret = (int)v->i;
    return 1;
}

/* Reads an id-like field (id, admission, referral) into ret (PSY_ID_MAX + 1 bytes). */
static int
get_id(const validate_input_t *in, validate_field_t f, bool required, char *ret,
       validate_error_t *err)
{
    const char *s;
    size_t len;
    int r = get_str(in, f, required, &s, &len, err);

    if (r <= 0)
        return r;
    if (len > PSY_ID_MAX)
        return reject_field(err, "field '%s' is longer than 64 bytes", f);
    if (!psy_id_valid(s, len))
        return reject_field(err, "field '%s' holds a character outside A-Z a-z 0-9 . _ : -", f);
    memcpy(ret, s, len);
    ret[len] = '\0';
    return 1;
}

/* Reads an RFC 3339 time field. */
static int
get_time(const validate_input_t *in, validate_field_t f, bool required, psy_time_t *ret,
         validate_error_t *err)
{
    const char *s;
    size_t len;
    int r = get_str(in, f, required, &s, &len, err);

    if (r <= 0)
        return r;
    if (psy_time_parse(s, len, ret) < 0)
        return reject_field(err, "field '%s' is not an RFC 3339 time", f);
    return 1;
}

/*
 * Reads an enumerated field through one of the psy_*_parse functions,
 * which return 0 for a name they do not know.
 */
static int
get_enum(const validate_input_t *in, validate_field_t f, bool required, int (*parse)(const char *),
         int *ret, validate_error_t *err)
{
    const char *s;
    size_t len;
    int r = get_str(in, f, required, &s, &len, err);

    if (r <= 0)
        return r;
    r = parse(s);
    if (r <= 0)
        return reject_field(err, "field '%s' has an unknown value", f);
    *ret = r;
    return 1;
}

/* The psy_*_parse functions return their own enum types; these adapt them to get_enum. */
static int
parse_mode(const char *s)
{
    return (int)psy_mode_parse(s);
}

static int
parse_legal(const char *s)
{
    return (int)psy_legal_parse(s);
}

static int
parse_outcome(const char *s)
{
    return (int)psy_outcome_parse(s);
}

static int
parse_coercion(const char *s)
{
    return (int)psy_coercion_parse(s);
}

static int
parse_role(const char *s)
{
    return (int)psy_role_parse(s);
}

static int
parse_consult(const char *s)
{
    return (int)psy_consult_parse(s);
}

/* The fields of an admission: contact id (defaulting to id), mode, legal, age. */
static int
admission_fields(const validate_input_t *in, psy_record_t *rec, validate_error_t *err)
{
    int r, v = 0;

    r = get_id(in, VALIDATE_F_ADMISSION, false, rec->contact, err);
    if (r < 0)
        return r;
    if (r == 0)
        memcpy(rec->contact, rec->id, sizeof(rec->contact));
    r = get_enum(in, VALIDATE_F_MODE, true, parse_mode, &v, err);
    if (r < 0)
        return r;
    rec->mode = (psy_mode_t)v;
    r = get_enum(in, VALIDATE_F_LEGAL, false, parse_legal, &v, err);
    if (r < 0)
        return r;
    rec->legal = r ? (psy_legal_t)v : PSY_LEGAL_VOLUNTARY;
    r = get_int(in, VALIDATE_F_AGE, PSY_AGE_MAX, &rec->age, err);
    return r < 0 ? r : 0;
}

static int
discharge_fields(const validate_input_t *in, psy_record_t *rec, validate_error_t *err)
{
    int r, v = 0;

    r = get_id(in, VALIDATE_F_ADMISSION, true, rec->contact, err);
    if (r < 0)
        return r;
    r = get_enum(in, VALIDATE_F_OUTCOME, false, parse_outcome, &v, err);
    if (r < 0)
        return r;
    rec->outcome = r ? (psy_outcome_t)v : PSY_OUTCOME_REGULAR;
    return 0;
}

static int
coercion_fields(const validate_input_t *in, psy_record_t *rec, validate_error_t *err)
{
    int r, v = 0;

    r = get_enum(in, VALIDATE_F_KIND, true, parse_coercion, &v, err);
    if (r < 0)
        return r;
    rec->coercion = (psy_coercion_t)v;
    r = get_id(in, VALIDATE_F_ADMISSION, false, rec->contact, err);
    if (r < 0)
        return r;
    r = get_time(in, VALIDATE_F_END, false, &rec->end, err);
    if (r < 0)
        return r;
    if (r > 0 && rec->end < rec->time)
        return reject_field(err, "field '%s' is before 'time'", VALIDATE_F_END);
    r = get_bool(in, VALIDATE_F_VOLUNTARY, &rec->voluntary, err);
    if (r < 0)
        return r;
    if (rec->voluntary && rec->coercion != PSY_COERCION_BELT)
        return reject_field(err, "field '%s' is true on a kind other than belt",
                            VALIDATE_F_VOLUNTARY);
    return 0;
}

static int
consultation_fields(const validate_input_t *in, psy_record_t *rec, validate_error_t *err)
{
    int r, v = 0;

    r = get_enum(in, VALIDATE_F_ROLE, true, parse_role, &v, err);
    if (r < 0)
        return r;
    rec->role = (psy_role_t)v;
    r = get_enum(in, VALIDATE_F_KIND, true, parse_consult, &v, err);
    if (r < 0)
        return r;
    rec->consult = (psy_consult_t)v;
    r = get_int(in, VALIDATE_F_MINUTES, PSY_MINUTES_MAX, &rec->minutes, err);
    return r < 0 ? r : 0;
}

static int
referral_fields(const validate_input_t *in, psy_record_t *rec, validate_error_t *err)
{
    int r = get_int(in, VALIDATE_F_AGE, PSY_AGE_MAX, &rec->age, err);

    return r < 0 ? r : 0;
}

static int
treatment_start_fields(const validate_input_t *in, psy_record_t *rec, validate_error_t *err)
{
    int r = get_id(in, VALIDATE_F_REFERRAL, true, rec->referral, err);

    return r < 0 ? r : 0;
}

/*
 * The patient: required except on a consultation, 1-64 bytes. A missing
 * age of an admission or referral is derived from a CPR number here,
 * before the identifier is replaced by its pseudonym.
 */
static int
patient_field(const validate_input_t *in, const uint8_t key[PSY_PSEUDO_KEYLEN], psy_record_t *rec,
              validate_error_t *err)
{
    const char *s;
    size_t len;
    int r, age;

    r = get_str(in, VALIDATE_F_PATIENT, rec->type != PSY_REC_CONSULTATION, &s, &len, err);
    if (r <= 0)
        return r;
    if (len > PSY_PATIENT_MAX)
        return reject_field(err, "field '%s' is longer than 64 bytes", VALIDATE_F_PATIENT);
    if (rec->age < 0 && (rec->type == PSY_REC_ADMISSION || rec->type == PSY_REC_REFERRAL)) {
        age = pseudonym_age(s, len, rec->time);
        if (age >= 0 && age <= PSY_AGE_MAX)
            rec->age = age;
    }
    pseudonym_make(key, s, len, rec->patient);
    rec->has_patient = true;
    return 0;
}

static int
ward_field(const validate_input_t *in, psy_record_t *rec, validate_error_t *err)
{
    const char *s;
    size_t len;
    int r = get_str(in, VALIDATE_F_WARD, false, &s, &len, err);

    if (r <= 0)
        return r;
    if (len > PSY_WARD_MAX)
        return reject_field(err, "field '%s' is longer than 32 bytes", VALIDATE_F_WARD);
    if (!psy_ward_valid(s, len))
        return reject_field(err, "field '%s' holds a character outside A-Z a-z 0-9 . _ -",
                            VALIDATE_F_WARD);
    memcpy(rec->ward, s, len);
    rec->ward[len] = '\0';
    return 0;
}

/*
 * The common fields first (type, id, time, void), because a void record
 * needs nothing more and carries nothing more; then the type's own fields,
 * the ward and, last, the patient, whose pseudonym needs the final age
 * decision.
 */
static int
validate_into(const validate_input_t *in, const uint8_t key[PSY_PSEUDO_KEYLEN], psy_time_t now,
              psy_record_t *rec, validate_error_t *err)
{
    const char *s;
    size_t len;
    int r;

    /* The id goes into the rejection whenever it is valid, whatever else is wrong. */
    r = get_id(in, VALIDATE_F_ID, true, rec->id, err);
    if (r < 0)
        return r;
    memcpy(err->id, rec->id, sizeof(err->id));

    r = get_str(in, VALIDATE_F_TYPE, true, &s, &len, err);
    if (r < 0)
        return r;
    rec->type = psy_rec_type_parse(s);
    if (rec->type <= PSY_REC_NONE || rec->type >= PSY_REC__COUNT) {
        validate_reject(err, "unknown type");
        return -EINVAL;
    }

    r = get_time(in, VALIDATE_F_TIME, true, &rec->time, err);
    if (r < 0)
        return r;
    if (now <= INT64_MAX - PSY_FUTURE_SKEW_S * PSY_USEC &&
        rec->time > now + PSY_FUTURE_SKEW_S * PSY_USEC)
        return reject_field(err, "field '%s' lies more than 24 h in the future", VALIDATE_F_TIME);

    r = get_bool(in, VALIDATE_F_VOID, &rec->is_void, err);
    if (r < 0)
        return r;
    if (rec->is_void)
        return 0;

    switch (rec->type) {
    case PSY_REC_ADMISSION:
        r = admission_fields(in, rec, err);
        break;
    case PSY_REC_DISCHARGE:
        r = discharge_fields(in, rec, err);
        break;
    case PSY_REC_COERCION:
        r = coercion_fields(in, rec, err);
        break;
    case PSY_REC_CONSULTATION:
        r = consultation_fields(in, rec, err);
        break;
    case PSY_REC_REFERRAL:
        r = referral_fields(in, rec, err);
        break;
    case PSY_REC_TREATMENT_START:
        r = treatment_start_fields(in, rec, err);
        break;
    default:
        validate_reject(err, "unknown type");
        return -EINVAL;
    }
    if (r < 0)
        return r;
    r = ward_field(in, rec, err);
    if (r < 0)
        return r;
    return patient_field(in, key, rec, err);
}

int
validate_record(const validate_input_t *in, const uint8_t key[PSY_PSEUDO_KEYLEN], psy_time_t now,
                psy_record_t *ret_rec, validate_error_t *err)
{
    psy_record_t rec;
    int r;

    err->id[0] = '\0';
    err->reason[0] = '\0';
    psy_record_init(&rec);
    r = validate_into(in, key, now, &rec, err);
    if (r < 0)
        return r;
    *ret_rec = rec;
    return 0;
}

/*
 * RFC 3629: the shortest form only, no UTF-16 surrogates, nothing above
 * U+10FFFF. jansson checks JSON text itself; CSV rows have no such guard.
 */
bool
validate_utf8(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return false;
        i += n + 1;
    }
    return true;
}

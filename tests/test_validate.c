/*
 * Tests of collectors/validate.c: every rule of records.md, table-driven,
 * on values as an encoding hands them over (string, boolean, integer,
 * other). The encodings themselves are tested in test_reader.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pseudonym.h"
#include "validate.h"

static const uint8_t key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

#define NOW_S "2024-06-01T00:00:00Z"

typedef struct {
    const char *name;
    validate_kind_t kind;
    const char *s;
    long long i;
} fv_t;

#define S(n, v)                                                                                    \
    {                                                                                              \
        n, VALIDATE_STR, v, 0                                                                      \
    }
#define B(n, v)                                                                                    \
    {                                                                                              \
        n, VALIDATE_BOOL, NULL, v                                                                  \
    }
#define I(n, v)                                                                                    \
    {                                                                                              \
        n, VALIDATE_INT, NULL, v                                                                   \
    }
#define O(n)                                                                                       \
    {                                                                                              \
        n, VALIDATE_OTHER, NULL, 0                                                                 \
    }

#define MAXF 16

typedef struct {
    const char *what;
    fv_t f[MAXF];
    const char *reason; /* NULL: accepted */
} case_t;

#define ID64 "A123456789B123456789C123456789D123456789E123456789F123456789GHIJ"
#define ID65 ID64 "K"
#define P64  "p123456789p123456789p123456789p123456789p123456789p123456789pppp"
#define P65  P64 "q"

#define ADM  S("type", "admission"), S("id", "A-1001"), S("time", "2024-03-01T14:05:00+01:00")
#define ADMP ADM, S("patient", "010190-1234")
#define DIS                                                                                        \
    S("type", "discharge"), S("id", "D-1"), S("time", "2024-03-09T10:00:00+01:00"),                \
        S("patient", "010190-1234")
#define COE                                                                                        \
    S("type", "coercion"), S("id", "C-77"), S("time", "2024-03-01T16:00:00+01:00"),                \
        S("patient", "010190-1234")
#define CON S("type", "consultation"), S("id", "K-1"), S("time", "2024-03-02T10:00:00Z")
#define REF                                                                                        \
    S("type", "referral"), S("id", "R-1"), S("time", "2024-03-02T10:00:00Z"),                      \
        S("patient", "0101901234")
#define TRS                                                                                        \
    S("type", "treatment_start"), S("id", "T-1"), S("time", "2024-03-02T10:00:00Z"),               \
        S("patient", "0101901234")

static const case_t cases[] = {
    /* Fields of every record. */
    {"minimal admission", {ADMP, S("mode", "acute")}, NULL},
    {"type missing",
     {S("id", "A-1"), S("time", "2024-03-01T14:05:00Z"), S("patient", "x"), S("mode", "acute")},
     "missing required field 'type'"},
    {"type not a string",
     {I("type", 1), S("id", "A-1"), S("time", "2024-03-01T14:05:00Z")},
     "field 'type' is not a string"},
    {"type unknown",
     {S("type", "transfer"), S("id", "A-1"), S("time", "2024-03-01T14:05:00Z")},
     "unknown type"},
    {"type wrong case",
     {S("type", "Admission"), S("id", "A-1"), S("time", "2024-03-01T14:05:00Z")},
     "unknown type"},
    {"id missing",
     {S("type", "admission"), S("time", "2024-03-01T14:05:00Z"), S("patient", "x"),
      S("mode", "acute")},
     "missing required field 'id'"},
    {"id not a string",
     {S("type", "admission"), I("id", 5), S("time", "2024-03-01T14:05:00Z")},
     "field 'id' is not a string"},
    {"id of 64 bytes",
     {S("type", "admission"), S("id", ID64), S("time", "2024-03-01T14:05:00Z"), S("patient", "x"),
      S("mode", "acute")},
     NULL},
    {"id of 65 bytes",
     {S("type", "admission"), S("id", ID65), S("time", "2024-03-01T14:05:00Z"), S("patient", "x"),
      S("mode", "acute")},
     "field 'id' is longer than 64"},
    {"id all allowed characters",
     {S("type", "admission"), S("id", "aZ09._:-"), S("time", "2024-03-01T14:05:00Z"),
      S("patient", "x"), S("mode", "acute")},
     NULL},
    {"id with a space",
     {S("type", "admission"), S("id", "A 1"), S("time", "2024-03-01T14:05:00Z"), S("patient", "x"),
      S("mode", "acute")},
     "field 'id' holds a character"},
    {"id with a slash",
     {S("type", "admission"), S("id", "A/1"), S("time", "2024-03-01T14:05:00Z"), S("patient", "x"),
      S("mode", "acute")},
     "field 'id' holds a character"},
    {"id with non-ASCII",
     {S("type", "admission"), S("id", "\xc3\xa6"), S("time", "2024-03-01T14:05:00Z"),
      S("patient", "x"), S("mode", "acute")},
     "field 'id' holds a character"},
    {"time missing",
     {S("type", "admission"), S("id", "A-1"), S("patient", "x"), S("mode", "acute")},
     "missing required field 'time'"},
    {"time without offset",
     {S("type", "admission"), S("id", "A-1"), S("time", "2024-03-01T14:05:00"), S("patient", "x"),
      S("mode", "acute")},
     "field 'time' is not an RFC 3339 time"},
    {"time with a space",
     {S("type", "admission"), S("id", "A-1"), S("time", "2024-03-01 14:05:00Z"), S("patient", "x"),
      S("mode", "acute")},
     "field 'time' is not an RFC 3339 time"},
    {"time lower-case t z, fraction",
     {S("type", "admission"), S("id", "A-1"), S("time", "2024-03-01t14:05:00.25z"),
      S("patient", "x"), S("mode", "acute")},
     NULL},
    {"time leap second",
     {S("type", "admission"), S("id", "A-1"), S("time", "2016-12-31T23:59:60Z"), S("patient", "x"),
      S("mode", "acute")},
     "field 'time' is not an RFC 3339 time"},
    {"time not a string",
     {S("type", "admission"), S("id", "A-1"), I("time", 1700000000), S("patient", "x"),
      S("mode", "acute")},
     "field 'time' is not a string"},
    {"time 24 h ahead",
     {S("type", "admission"), S("id", "A-1"), S("time", "2024-06-02T00:00:00Z"), S("patient", "x"),
      S("mode", "acute")},
     NULL},
    {"time 24 h and 1 s ahead",
     {S("type", "admission"), S("id", "A-1"), S("time", "2024-06-02T00:00:01Z"), S("patient", "x"),
      S("mode", "acute")},
     "field 'time' lies more than 24 h"},
    {"time long past",
     {S("type", "admission"), S("id", "A-1"), S("time", "2001-01-01T00:00:00Z"), S("patient", "x"),
      S("mode", "acute")},
     NULL},
    {"patient missing", {ADM, S("mode", "acute")}, "missing required field 'patient'"},
    {"patient of 64 bytes", {ADM, S("patient", P64), S("mode", "acute")}, NULL},
    {"patient of 65 bytes",
     {ADM, S("patient", P65), S("mode", "acute")},
     "field 'patient' is longer than 64"},
    {"patient not a string",
     {ADM, I("patient", 101901234), S("mode", "acute")},
     "field 'patient' is not a string"},
    {"ward ok", {ADMP, S("mode", "acute"), S("ward", "M1.a_b-2")}, NULL},
    {"ward of 32 bytes",
     {ADMP, S("mode", "acute"), S("ward", "W1234567890123456789012345678901")},
     NULL},
    {"ward of 33 bytes",
     {ADMP, S("mode", "acute"), S("ward", "W12345678901234567890123456789012")},
     "field 'ward' is longer than 32"},
    {"ward with a colon",
     {ADMP, S("mode", "acute"), S("ward", "M:1")},
     "field 'ward' holds a character"},
    {"void not a boolean",
     {ADMP, S("mode", "acute"), S("void", "true")},
     "field 'void' is not a boolean"},
    {"void as integer", {ADMP, S("mode", "acute"), I("void", 1)}, "field 'void' is not a boolean"},
    {"void true needs nothing else", {ADM, B("void", 1)}, NULL},
    {"void true, other fields not checked",
     {ADM, B("void", 1), S("mode", "bogus"), I("age", 400), S("ward", "!!"), S("patient", P65)},
     NULL},
    {"void true still needs a valid time",
     {S("type", "admission"), S("id", "A-1"), S("time", "yesterday"), B("void", 1)},
     "field 'time' is not an RFC 3339 time"},
    {"void true still needs a known type",
     {S("type", "bogus"), S("id", "A-1"), S("time", "2024-03-01T14:05:00Z"), B("void", 1)},
     "unknown type"},
    {"void false is a normal record", {ADMP, B("void", 0)}, "missing required field 'mode'"},
    {"unknown field ignored", {ADMP, S("mode", "acute"), O("note")}, NULL},

    /* Admission. */
    {"mode missing", {ADMP}, "missing required field 'mode'"},
    {"mode unknown", {ADMP, S("mode", "urgent")}, "field 'mode' has an unknown value"},
    {"mode planned", {ADMP, S("mode", "planned")}, NULL},
    {"legal unknown",
     {ADMP, S("mode", "acute"), S("legal", "involuntary")},
     "field 'legal' has an unknown value"},
    {"legal not a string",
     {ADMP, S("mode", "acute"), B("legal", 1)},
     "field 'legal' is not a string"},
    {"admission contact invalid",
     {ADMP, S("mode", "acute"), S("admission", "A 1")},
     "field 'admission' holds a character"},
    {"admission contact too long",
     {ADMP, S("mode", "acute"), S("admission", ID65)},
     "field 'admission' is longer than 64"},
    {"age 0", {ADMP, S("mode", "acute"), I("age", 0)}, NULL},
    {"age 130", {ADMP, S("mode", "acute"), I("age", 130)}, NULL},
    {"age 131", {ADMP, S("mode", "acute"), I("age", 131)}, "field 'age' is out of range"},
    {"age -1", {ADMP, S("mode", "acute"), I("age", -1)}, "field 'age' is out of range"},
    {"age huge",
     {ADMP, S("mode", "acute"), I("age", 9223372036854775807LL)},
     "field 'age' is out of range"},
    {"age as string", {ADMP, S("mode", "acute"), S("age", "5")}, "field 'age' is not an integer"},
    {"age as real", {ADMP, S("mode", "acute"), O("age")}, "field 'age' is not an integer"},
    {"fields of other types ignored",
     {ADMP, S("mode", "acute"), S("kind", "nonsense"), S("minutes", "x"), O("end"),
      S("outcome", "??"), S("voluntary", "maybe"), S("referral", "a b")},
     NULL},

    /* Discharge. */
    {"discharge", {DIS, S("admission", "A-1001")}, NULL},
    {"discharge without admission", {DIS}, "missing required field 'admission'"},
    {"discharge admission invalid",
     {DIS, S("admission", "A#1")},
     "field 'admission' holds a character"},
    {"discharge outcome unknown",
     {DIS, S("admission", "A-1"), S("outcome", "escaped")},
     "field 'outcome' has an unknown value"},
    {"discharge ignores mode", {DIS, S("admission", "A-1"), S("mode", "bogus")}, NULL},

    /* Coercion. */
    {"coercion", {COE, S("kind", "belt")}, NULL},
    {"coercion kind missing", {COE}, "missing required field 'kind'"},
    {"coercion kind unknown", {COE, S("kind", "cuffs")}, "field 'kind' has an unknown value"},
    {"coercion kind of a consultation",
     {COE, S("kind", "supervision")},
     "field 'kind' has an unknown value"},
    {"coercion admission invalid",
     {COE, S("kind", "belt"), S("admission", "A 1")},
     "field 'admission' holds a character"},
    {"coercion end before time",
     {COE, S("kind", "belt"), S("end", "2024-03-01T15:59:59+01:00")},
     "field 'end' is before 'time'"},
    {"coercion end equal to time",
     {COE, S("kind", "belt"), S("end", "2024-03-01T15:00:00Z")},
     NULL},
    {"coercion end malformed",
     {COE, S("kind", "belt"), S("end", "2024-03-01T19:30")},
     "field 'end' is not an RFC 3339 time"},
    {"voluntary belt", {COE, S("kind", "belt"), B("voluntary", 1)}, NULL},
    {"voluntary false on gloves", {COE, S("kind", "gloves"), B("voluntary", 0)}, NULL},
    {"voluntary true on gloves",
     {COE, S("kind", "gloves"), B("voluntary", 1)},
     "field 'voluntary' is true on a kind other than belt"},
    {"voluntary not a boolean",
     {COE, S("kind", "belt"), S("voluntary", "yes")},
     "field 'voluntary' is not a boolean"},
    {"coercion patient missing",
     {S("type", "coercion"), S("id", "C-1"), S("time", "2024-03-01T16:00:00Z"), S("kind", "belt")},
     "missing required field 'patient'"},

    /* Consultation. */
    {"consultation without patient",
     {CON, S("role", "social_nurse"), S("kind", "supervision")},
     NULL},
    {"consultation with patient",
     {CON, S("patient", "x"), S("role", "other"), S("kind", "other")},
     NULL},
    {"consultation patient too long",
     {CON, S("patient", P65), S("role", "other"), S("kind", "other")},
     "field 'patient' is longer than 64"},
    {"consultation role missing", {CON, S("kind", "supervision")}, "missing required field 'role'"},
    {"consultation role unknown",
     {CON, S("role", "nurse"), S("kind", "supervision")},
     "field 'role' has an unknown value"},
    {"consultation kind missing", {CON, S("role", "other")}, "missing required field 'kind'"},
    {"consultation kind of a coercion",
     {CON, S("role", "other"), S("kind", "belt")},
     "field 'kind' has an unknown value"},
    {"minutes 1440", {CON, S("role", "other"), S("kind", "other"), I("minutes", 1440)}, NULL},
    {"minutes 1441",
     {CON, S("role", "other"), S("kind", "other"), I("minutes", 1441)},
     "field 'minutes' is out of range"},
    {"minutes as string",
     {CON, S("role", "other"), S("kind", "other"), S("minutes", "30")},
     "field 'minutes' is not an integer"},

    /* Referral and treatment start. */
    {"referral", {REF}, NULL},
    {"referral without patient",
     {S("type", "referral"), S("id", "R-1"), S("time", "2024-03-02T10:00:00Z")},
     "missing required field 'patient'"},
    {"referral age 131", {REF, I("age", 131)}, "field 'age' is out of range"},
    {"treatment_start", {TRS, S("referral", "R-1")}, NULL},
    {"treatment_start without referral", {TRS}, "missing required field 'referral'"},
    {"treatment_start referral invalid",
     {TRS, S("referral", "R 1")},
     "field 'referral' holds a character"},
    {"treatment_start referral too long",
     {TRS, S("referral", ID65)},
     "field 'referral' is longer than 64"},
};

static void
build(const fv_t *f, validate_input_t *in)
{
    validate_input_init(in);
    for (int k = 0; k < MAXF && f[k].name; k++) {
        int idx = validate_field_lookup(f[k].name, strlen(f[k].name));

        if (idx < 0)
            continue; /* an unknown field: the reader never passes one on */
        in->v[idx].kind = f[k].kind;
        in->v[idx].s = f[k].s;
        in->v[idx].len = f[k].s ? strlen(f[k].s) : 0;
        in->v[idx].b = f[k].i != 0;
        in->v[idx].i = f[k].i;
    }
}

static psy_time_t
at(const char *s)
{
    psy_time_t t = 0;

    assert_int_equal(psy_time_parse(s, strlen(s), &t), 0);
    return t;
}

static int
run(const fv_t *f, psy_record_t *rec, validate_error_t *err)
{
    validate_input_t in;

    build(f, &in);
    return validate_record(&in, key, at(NOW_S), rec, err);
}

static void
test_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        psy_record_t rec;
        validate_error_t err;
        int r;

        memset(&rec, 0x5a, sizeof(rec));
        r = run(cases[c].f, &rec, &err);
        if (cases[c].reason == NULL) {
            if (r != 0)
                fail_msg("case '%s' rejected: %s", cases[c].what, err.reason);
            continue;
        }
        if (r != -EINVAL)
            fail_msg("case '%s' accepted, wanted '%s'", cases[c].what, cases[c].reason);
        if (strstr(err.reason, cases[c].reason) != err.reason)
            fail_msg("case '%s': reason '%s', wanted '%s'", cases[c].what, err.reason,
                     cases[c].reason);
        /* The record is untouched on failure. */
        assert_int_equal(((unsigned char *)&rec)[0], 0x5a);
        /* No value ever reaches the reason. */
        for (int k = 0; k < MAXF && cases[c].f[k].name; k++) {
            const char *s = cases[c].f[k].s;

            if (s && strlen(s) >= 3 && strcmp(s, cases[c].f[k].name) != 0 &&
                strcmp(s, "admission") != 0 && strstr(err.reason, s))
                fail_msg("case '%s': reason '%s' holds a value", cases[c].what, err.reason);
        }
    }
}

static void
test_error_id(void **state)
{
    psy_record_t rec;
    validate_error_t err;
    const fv_t valid_id[MAXF] = {ADMP, S("mode", "urgent")};
    const fv_t bad_id[MAXF] = {S("type", "admission"), S("id", "A 1"),
                               S("time", "2024-03-01T14:05:00Z"), S("mode", "urgent")};
    const fv_t no_id[MAXF] = {S("type", "admission"), S("time", "2024-03-01T14:05:00Z")};
    const fv_t bad_type[MAXF] = {S("type", "x"), S("id", "Q-9"), S("time", "2024-03-01T14:05:00Z")};

    (void)state;
    assert_int_equal(run(valid_id, &rec, &err), -EINVAL);
    assert_string_equal(err.id, "A-1001");
    assert_int_equal(run(bad_id, &rec, &err), -EINVAL);
    assert_string_equal(err.id, "");
    assert_int_equal(run(no_id, &rec, &err), -EINVAL);
    assert_string_equal(err.id, "");
    assert_int_equal(run(bad_type, &rec, &err), -EINVAL);
    assert_string_equal(err.id, "Q-9");
}

static void
test_admission_defaults(void **state)
{
    psy_record_t rec;
    validate_error_t err;
    const fv_t f[MAXF] = {ADMP, S("mode", "acute"), S("ward", "M1")};
    uint8_t p[32];

    (void)state;
    assert_int_equal(run(f, &rec, &err), 0);
    assert_int_equal(rec.type, PSY_REC_ADMISSION);
    assert_false(rec.is_void);
    assert_string_equal(rec.id, "A-1001");
    assert_true(rec.time == at("2024-03-01T13:05:00Z"));
    assert_string_equal(rec.contact, "A-1001"); /* defaults to id */
    assert_int_equal(rec.mode, PSY_MODE_ACUTE);
    assert_int_equal(rec.legal, PSY_LEGAL_VOLUNTARY); /* default */
    assert_string_equal(rec.ward, "M1");
    assert_int_equal(rec.age, 34); /* from the CPR number: born 1990-01-01 */
    assert_true(rec.has_patient);
    pseudonym_make(key, "0101901234", 10, p);
    assert_memory_equal(rec.patient, p, 32);
    /* Fields of other types stay absent. */
    assert_int_equal(rec.outcome, PSY_OUTCOME_NONE);
    assert_int_equal(rec.coercion, PSY_COERCION_NONE);
    assert_true(rec.end == PSY_TIME_NONE);
    assert_int_equal(rec.minutes, -1);
    assert_string_equal(rec.referral, "");
}

static void
test_admission_given(void **state)
{
    psy_record_t rec;
    validate_error_t err;
    const fv_t f[MAXF] = {ADMP, S("mode", "planned"), S("legal", "involuntary_red"),
                          S("admission", "K:77"), I("age", 41)};
    const fv_t yellow[MAXF] = {ADMP, S("mode", "acute"), S("legal", "involuntary_yellow")};

    (void)state;
    assert_int_equal(run(f, &rec, &err), 0);
    assert_string_equal(rec.contact, "K:77");
    assert_int_equal(rec.mode, PSY_MODE_PLANNED);
    assert_int_equal(rec.legal, PSY_LEGAL_INVOLUNTARY_RED);
    assert_int_equal(rec.age, 41); /* given wins over the CPR number */
    assert_int_equal(run(yellow, &rec, &err), 0);
    assert_int_equal(rec.legal, PSY_LEGAL_INVOLUNTARY_YELLOW);
}

static void
test_age_derivation(void **state)
{
    psy_record_t rec;
    validate_error_t err;
    const fv_t bad_date[MAXF] = {ADM, S("patient", "3102901234"), S("mode", "acute")};
    const fv_t not_cpr[MAXF] = {ADM, S("patient", "EPJ-4711"), S("mode", "acute")};
    const fv_t born_after[MAXF] = {ADM, S("patient", "0101304234"), S("mode", "acute")};
    const fv_t too_old[MAXF] = {ADM, S("patient", "0101605234"), S("mode", "acute")};
    const fv_t referral[MAXF] = {REF};
    const fv_t discharge[MAXF] = {DIS, S("admission", "A-1")};

    (void)state;
    /* An invalid date is no rejection: the age stays absent. */
    assert_int_equal(run(bad_date, &rec, &err), 0);
    assert_int_equal(rec.age, -1);
    assert_true(rec.has_patient);
    assert_int_equal(run(not_cpr, &rec, &err), 0);
    assert_int_equal(rec.age, -1);
    assert_int_equal(run(born_after, &rec, &err), 0); /* born 2030 */
    assert_int_equal(rec.age, -1);
    assert_int_equal(run(too_old, &rec, &err), 0); /* born 1860: 164 is out of range */
    assert_int_equal(rec.age, -1);
    assert_int_equal(run(referral, &rec, &err), 0);
    assert_int_equal(rec.type, PSY_REC_REFERRAL);
    assert_int_equal(rec.age, 34);
    /* Only admissions and referrals have an age. */
    assert_int_equal(run(discharge, &rec, &err), 0);
    assert_int_equal(rec.age, -1);
}

static void
test_void_carries_nothing(void **state)
{
    psy_record_t rec, want;
    validate_error_t err;
    const fv_t f[MAXF] = {ADMP,        B("void", 1),         S("mode", "acute"), S("ward", "M1"),
                          I("age", 3), S("admission", "X-1")};

    (void)state;
    assert_int_equal(run(f, &rec, &err), 0);
    psy_record_init(&want);
    want.type = PSY_REC_ADMISSION;
    want.is_void = true;
    want.time = at("2024-03-01T13:05:00Z");
    strcpy(want.id, "A-1001");
    assert_memory_equal(&rec, &want, sizeof(rec));
}

static void
test_other_types(void **state)
{
    psy_record_t rec;
    validate_error_t err;
    const fv_t dis[MAXF] = {DIS, S("admission", "A-1001")};
    const fv_t dis2[MAXF] = {DIS, S("admission", "A-1001"), S("outcome", "self_discharge")};
    const fv_t coe[MAXF] = {COE, S("kind", "belt"), S("admission", "A-1001"),
                            S("end", "2024-03-01T19:30:00+01:00"), B("voluntary", 1)};
    const fv_t coe2[MAXF] = {COE, S("kind", "compulsory_follow_up")};
    const fv_t con[MAXF] = {CON, S("role", "social_physician"), S("kind", "network_meeting"),
                            I("minutes", 45)};
    const fv_t trs[MAXF] = {TRS, S("referral", "R-1")};

    (void)state;
    assert_int_equal(run(dis, &rec, &err), 0);
    assert_string_equal(rec.contact, "A-1001");
    assert_int_equal(rec.outcome, PSY_OUTCOME_REGULAR);
    assert_int_equal(run(dis2, &rec, &err), 0);
    assert_int_equal(rec.outcome, PSY_OUTCOME_SELF_DISCHARGE);
    assert_int_equal(run(coe, &rec, &err), 0);
    assert_int_equal(rec.coercion, PSY_COERCION_BELT);
    assert_string_equal(rec.contact, "A-1001");
    assert_true(rec.end == at("2024-03-01T18:30:00Z"));
    assert_true(rec.voluntary);
    assert_int_equal(run(coe2, &rec, &err), 0);
    assert_int_equal(rec.coercion, PSY_COERCION_COMPULSORY_FOLLOW_UP);
    assert_string_equal(rec.contact, "");
    assert_true(rec.end == PSY_TIME_NONE);
    assert_false(rec.voluntary);
    assert_int_equal(run(con, &rec, &err), 0);
    assert_int_equal(rec.role, PSY_ROLE_SOCIAL_PHYSICIAN);
    assert_int_equal(rec.consult, PSY_CONSULT_NETWORK_MEETING);
    assert_int_equal(rec.minutes, 45);
    assert_false(rec.has_patient);
    assert_int_equal(run(trs, &rec, &err), 0);
    assert_string_equal(rec.referral, "R-1");
    assert_int_equal(rec.type, PSY_REC_TREATMENT_START);
}

static void
test_nul_in_value(void **state)
{
    validate_input_t in;
    psy_record_t rec;
    validate_error_t err;
    const fv_t f[MAXF] = {ADMP, S("mode", "acute")};
    static const char mode[] = "acute\0x";

    (void)state;
    build(f, &in);
    in.v[VALIDATE_F_MODE].s = mode;
    in.v[VALIDATE_F_MODE].len = sizeof(mode) - 1;
    assert_int_equal(validate_record(&in, key, at(NOW_S), &rec, &err), -EINVAL);
    assert_string_equal(err.reason, "field 'mode' holds a NUL byte");
}

static void
test_utf8(void **state)
{
    (void)state;
    assert_true(validate_utf8("", 0));
    assert_true(validate_utf8("abc", 3));
    assert_true(validate_utf8("\xc3\xa6\xc3\xb8\xc3\xa5", 6)); /* æøå */
    assert_true(validate_utf8("\xe2\x82\xac", 3));             /* € */
    assert_true(validate_utf8("\xf0\x9f\x98\x80", 4));         /* U+1F600 */
    assert_true(validate_utf8("\xf4\x8f\xbf\xbf", 4));         /* U+10FFFF */
    assert_false(validate_utf8("\xff", 1));
    assert_false(validate_utf8("\xc3", 1));             /* truncated */
    assert_false(validate_utf8("\xe2\x82", 2));         /* truncated */
    assert_false(validate_utf8("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(validate_utf8("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(validate_utf8("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(validate_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(validate_utf8("\x80", 1));             /* lone continuation */
    assert_false(validate_utf8("a\xc3(", 3));           /* bad continuation */
}

static void
test_lookup(void **state)
{
    (void)state;
    assert_int_equal(validate_field_lookup("type", 4), VALIDATE_F_TYPE);
    assert_int_equal(validate_field_lookup("referral", 8), VALIDATE_F_REFERRAL);
    assert_int_equal(validate_field_lookup("Type", 4), -1);
    assert_int_equal(validate_field_lookup("typ", 3), -1);
    assert_int_equal(validate_field_lookup("types", 5), -1);
    for (int f = 0; f < VALIDATE_F__COUNT; f++) {
        const char *n = validate_field_name((validate_field_t)f);

        assert_int_equal(validate_field_lookup(n, strlen(n)), f);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_error_id),
        cmocka_unit_test(test_admission_defaults),
        cmocka_unit_test(test_admission_given),
        cmocka_unit_test(test_age_derivation),
        cmocka_unit_test(test_void_carries_nothing),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_nul_in_value),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_lookup),
    };

    assert_int_equal(psy_tz_set("UTC"), 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

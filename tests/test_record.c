/*
 * record: the names of records.md for every enumeration, the charset and
 * length rules of id, ward and center id, and field-by-field equality.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "psymon/record.h"

typedef const char *(*name_fn)(int);
typedef int (*parse_fn)(const char *);

/* Every name of records.md, in the order of the enumeration (value 1 first). */
static const char *const type_names[] = {"admission",    "discharge", "coercion",
                                         "consultation", "referral",  "treatment_start"};
static const char *const mode_names[] = {"acute", "planned"};
static const char *const legal_names[] = {"voluntary", "involuntary_red", "involuntary_yellow"};
static const char *const outcome_names[] = {"regular", "self_discharge", "transfer", "death"};
static const char *const coercion_names[] = {"belt",
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
                                             "other"};
static const char *const role_names[] = {"social_nurse", "social_physician", "other"};
static const char *const consult_names[] = {"supervision",     "action_plan", "substance_history",
                                            "network_meeting", "follow_home", "other"};

/* The enum-typed functions called through int-typed wrappers, one table row each. */
#define WRAP(fn, type)                                                                             \
    static const char *fn##_name_i(int v)                                                          \
    {                                                                                              \
        return psy_##fn##_name((type)v);                                                           \
    }                                                                                              \
    static int fn##_parse_i(const char *s)                                                         \
    {                                                                                              \
        return (int)psy_##fn##_parse(s);                                                           \
    }
WRAP(rec_type, psy_rec_type_t)
WRAP(mode, psy_mode_t)
WRAP(legal, psy_legal_t)
WRAP(outcome, psy_outcome_t)
WRAP(coercion, psy_coercion_t)
WRAP(role, psy_role_t)
WRAP(consult, psy_consult_t)

typedef struct {
    const char *what;
    name_fn name;
    parse_fn parse;
    int count; /* the __COUNT member */
    const char *const *names;
    size_t nnames;
} enum_case_t;

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const enum_case_t enums[] = {
    {"type", rec_type_name_i, rec_type_parse_i, PSY_REC__COUNT, type_names, N(type_names)},
    {"mode", mode_name_i, mode_parse_i, PSY_MODE__COUNT, mode_names, N(mode_names)},
    {"legal", legal_name_i, legal_parse_i, PSY_LEGAL__COUNT, legal_names, N(legal_names)},
    {"outcome", outcome_name_i, outcome_parse_i, PSY_OUTCOME__COUNT, outcome_names,
     N(outcome_names)},
    {"coercion", coercion_name_i, coercion_parse_i, PSY_COERCION__COUNT, coercion_names,
     N(coercion_names)},
    {"role", role_name_i, role_parse_i, PSY_ROLE__COUNT, role_names, N(role_names)},
    {"consult", consult_name_i, consult_parse_i, PSY_CONSULT__COUNT, consult_names,
     N(consult_names)},
};

/* name(v) is records.md's name, parse(name(v)) == v, for every value of every enum. */
static void
test_enum_names(void **state)
{
    (void)state;

    for (size_t e = 0; e < N(enums); e++) {
        const enum_case_t *c = &enums[e];
        if ((size_t)c->count != c->nnames + 1)
            fail_msg("%s: %d values, records.md names %zu", c->what, c->count - 1, c->nnames);
        for (int v = 1; v < c->count; v++) {
            const char *name = c->name(v);
            if (!name || strcmp(name, c->names[v - 1]) != 0)
                fail_msg("%s %d: name '%s', want '%s'", c->what, v, name ? name : "(null)",
                         c->names[v - 1]);
            if (c->parse(name) != v)
                fail_msg("%s: parse('%s') = %d, want %d", c->what, name, c->parse(name), v);
        }
        /* Out of range has no name; 0 means absent. */
        assert_null(c->name(0));
        assert_null(c->name(c->count));
        assert_null(c->name(c->count + 100));
        assert_null(c->name(-1));
        /* Anything else parses to the NONE member. */
        assert_int_equal(c->parse(NULL), 0);
        assert_int_equal(c->parse(""), 0);
        assert_int_equal(c->parse("nonsense"), 0);
        char upper[64];
        snprintf(upper, sizeof upper, "%s", c->names[0]);
        upper[0] = (char)(upper[0] - 'a' + 'A');
        assert_int_equal(c->parse(upper), 0); /* names are case-sensitive */
        char longer[80];
        snprintf(longer, sizeof longer, "%s ", c->names[0]);
        assert_int_equal(c->parse(longer), 0);
        snprintf(longer, sizeof longer, "%.*s", (int)strlen(c->names[0]) - 1, c->names[0]);
        assert_int_equal(c->parse(longer), 0); /* no prefix match */
    }
}

static void
test_intrusive(void **state)
{
    (void)state;

    for (int v = 0; v < PSY_COERCION__COUNT + 2; v++) {
        bool want = v == PSY_COERCION_BELT || v == PSY_COERCION_PHYSICAL_RESTRAINT ||
                    v == PSY_COERCION_SEDATIVE_MEDICATION;
        assert_int_equal(psy_coercion_is_intrusive((psy_coercion_t)v), want);
    }
}

static bool
id_ok(const char *s)
{
    return psy_id_valid(s, strlen(s));
}

static bool
ward_ok(const char *s)
{
    return psy_ward_valid(s, strlen(s));
}

/* Every byte value: which ones an id, a ward and a center id may hold. */
static void
test_charsets(void **state)
{
    (void)state;

    for (int c = 1; c < 256; c++) {
        char s[2] = {(char)c, 0};
        bool alnum_lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        bool alnum = alnum_lower || (c >= 'A' && c <= 'Z');
        bool id = alnum || c == '.' || c == '_' || c == ':' || c == '-';
        bool ward = alnum || c == '.' || c == '_' || c == '-';
        bool center = alnum_lower || c == '-';
        if (psy_id_valid(s, 1) != id)
            fail_msg("id: byte 0x%02x", c);
        if (psy_ward_valid(s, 1) != ward)
            fail_msg("ward: byte 0x%02x", c);
        if (psy_center_valid(s) != center)
            fail_msg("center: byte 0x%02x", c);
        /* The same byte in the middle of an otherwise good value. */
        char m[4] = {'a', (char)c, 'b', 0};
        assert_int_equal(psy_id_valid(m, 3), id);
        assert_int_equal(psy_ward_valid(m, 3), ward);
        assert_int_equal(psy_center_valid(m), center);
    }
    /* A NUL inside the given length is not part of any charset. */
    assert_false(psy_id_valid("ab\0c", 4));
    assert_false(psy_ward_valid("ab\0c", 4));
    assert_true(id_ok("A-1001"));
    assert_true(id_ok("x.y_z:1-2"));
    assert_true(ward_ok("M1"));
    assert_true(ward_ok("Afsnit.M-1_b"));
    assert_false(ward_ok("M:1"));
    assert_true(psy_center_valid("pc-amager"));
    assert_false(psy_center_valid("PC-Amager"));
    assert_false(psy_center_valid("pc_amager"));
    assert_false(psy_center_valid("pc amager"));
    assert_false(psy_center_valid("pc.amager"));
    assert_false(psy_center_valid(NULL));
    assert_false(id_ok("æøå"));
    assert_false(id_ok("A 1"));
}

/* Lengths: 1-64 for ids, 1-32 for wards and center ids. */
static void
test_lengths(void **state)
{
    char buf[80];
    (void)state;

    for (size_t n = 0; n < sizeof buf - 1; n++) {
        memset(buf, 'a', n);
        buf[n] = '\0';
        assert_int_equal(psy_id_valid(buf, n), n >= 1 && n <= 64);
        assert_int_equal(psy_ward_valid(buf, n), n >= 1 && n <= 32);
        assert_int_equal(psy_center_valid(buf), n >= 1 && n <= 32);
    }
    /* The length argument counts, not the NUL. */
    memset(buf, 'a', 70);
    buf[70] = '\0';
    assert_true(psy_id_valid(buf, 64));
    assert_false(psy_id_valid(buf, 65));
    assert_true(psy_ward_valid(buf, 32));
    assert_false(psy_ward_valid(buf, 33));
    assert_false(psy_id_valid("", 0));
    assert_false(psy_ward_valid("", 0));
    assert_false(psy_center_valid(""));
}

static void
full_record(psy_record_t *r)
{
    psy_record_init(r);
    r->type = PSY_REC_COERCION;
    r->time = 1000;
    snprintf(r->id, sizeof r->id, "C-77");
    r->has_patient = true;
    memset(r->patient, 0x5a, sizeof r->patient);
    snprintf(r->ward, sizeof r->ward, "M1");
    snprintf(r->contact, sizeof r->contact, "A-1001");
    r->coercion = PSY_COERCION_BELT;
    r->end = 2000;
}

/* Each field alone makes two records differ. */
static void
test_equal(void **state)
{
    psy_record_t a, b;
    (void)state;

    psy_record_init(&a);
    assert_int_equal(a.time, PSY_TIME_NONE);
    assert_int_equal(a.end, PSY_TIME_NONE);
    assert_int_equal(a.age, -1);
    assert_int_equal(a.minutes, -1);
    assert_int_equal(a.type, PSY_REC_NONE);
    assert_false(a.has_patient);
    assert_string_equal(a.id, "");

    full_record(&a);
    full_record(&b);
    assert_true(psy_record_equal(&a, &b));
    assert_true(psy_record_equal(&a, &a));

#define DIFFER(stmt)                                                                               \
    do {                                                                                           \
        full_record(&b);                                                                           \
        stmt;                                                                                      \
        if (psy_record_equal(&a, &b) || psy_record_equal(&b, &a))                                  \
            fail_msg("equal although " #stmt);                                                     \
    } while (0)
    DIFFER(b.type = PSY_REC_ADMISSION);
    DIFFER(b.is_void = true);
    DIFFER(b.time++);
    DIFFER(b.id[0] = 'D');
    DIFFER(strcat(b.id, "x"));
    DIFFER(b.has_patient = false);
    DIFFER(b.patient[31] ^= 1);
    DIFFER(b.patient[0] ^= 0x80);
    DIFFER(b.ward[0] = '\0');
    DIFFER(b.contact[1] = '_');
    DIFFER(strcpy(b.referral, "R-1"));
    DIFFER(b.mode = PSY_MODE_ACUTE);
    DIFFER(b.legal = PSY_LEGAL_VOLUNTARY);
    DIFFER(b.outcome = PSY_OUTCOME_REGULAR);
    DIFFER(b.coercion = PSY_COERCION_STRAPS);
    DIFFER(b.end = PSY_TIME_NONE);
    DIFFER(b.voluntary = true);
    DIFFER(b.role = PSY_ROLE_OTHER);
    DIFFER(b.consult = PSY_CONSULT_OTHER);
    DIFFER(b.age = 0);
    DIFFER(b.minutes = 0);
#undef DIFFER

    /* Bytes after a string's NUL are not part of it. */
    full_record(&b);
    b.ward[5] = 'q';
    assert_true(psy_record_equal(&a, &b));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_names), cmocka_unit_test(test_intrusive),
        cmocka_unit_test(test_charsets),   cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_equal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * keys: CURVE key pairs and the pseudonym key, written and read in a
 * temporary folder. Secret files are 0600 and refused when others may read
 * them; an existing key file is never overwritten.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "psymon/keys.h"

typedef struct {
    char dir[PATH_MAX];
    char path[PATH_MAX + 64];
} fx_t;

static int
setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_keys.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    umask(022);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *f = *state;
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static const char *
path_of(fx_t *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

/* The whole content of a small file, NUL-terminated. */
static size_t
slurp(const char *path, char *buf, size_t size)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return n;
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static mode_t
mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void
test_curve_generate_load(void **state)
{
    fx_t *f = *state;
    char sec[41], pub[41], file_pub[128], file_sec[128], derived[41];

    assert_int_equal(psy_keys_generate_curve(f->dir, "agg"), 0);
    assert_int_equal(mode_of(path_of(f, "agg.key")), 0600);
    assert_int_equal(slurp(f->path, file_sec, sizeof file_sec), 41);
    assert_int_equal(mode_of(path_of(f, "agg.pub")), 0644);
    /* The .pub file is the Z85 public key on one line. */
    assert_int_equal(slurp(f->path, file_pub, sizeof file_pub), 41);
    assert_int_equal(file_pub[40], '\n');
    file_pub[40] = '\0';
    assert_true(psy_keys_z85_valid(file_pub));

    memset(sec, 'x', sizeof sec);
    assert_int_equal(psy_keys_load_curve(path_of(f, "agg.key"), sec, pub), 0);
    assert_int_equal(strlen(sec), 40);
    assert_int_equal(strlen(pub), 40);
    assert_memory_equal(sec, file_sec, 40);
    /* .pub is the public key of .key, as libzmq derives it. */
    assert_string_equal(pub, file_pub);
    assert_int_equal(zmq_curve_public(derived, sec), 0);
    assert_string_equal(derived, pub);

    /* A second pair is another key. */
    char sec2[41], pub2[41];
    assert_int_equal(psy_keys_generate_curve(f->dir, "col"), 0);
    assert_int_equal(psy_keys_load_curve(path_of(f, "col.key"), sec2, pub2), 0);
    assert_string_not_equal(sec, sec2);
    assert_string_not_equal(pub, pub2);
}

/* Secret files that group or others may read or write are refused. */
static void
test_curve_permissions(void **state)
{
    fx_t *f = *state;
    char sec[41] = "untouched", pub[41] = "untouched";
    static const mode_t bad[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0777};

    assert_int_equal(psy_keys_generate_curve(f->dir, "c"), 0);
    path_of(f, "c.key");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(f->path, bad[i]), 0);
        if (psy_keys_load_curve(f->path, sec, pub) != -EPERM)
            fail_msg("mode %o accepted", (unsigned)bad[i]);
        assert_string_equal(sec, "untouched");
        assert_string_equal(pub, "untouched");
    }
    assert_int_equal(chmod(f->path, 0400), 0);
    assert_int_equal(psy_keys_load_curve(f->path, sec, pub), 0);
    assert_int_equal(chmod(f->path, 0600), 0);
    assert_int_equal(psy_keys_load_curve(f->path, sec, pub), 0);

    assert_int_equal(psy_keys_load_curve(path_of(f, "nope.key"), sec, pub), -ENOENT);
}

static void
test_curve_bad_files(void **state)
{
    fx_t *f = *state;
    char sec[41], pub[41], zsec[41], zpub[41], text[128];
    static const char *const bad[] = {
        "",
        "\n",
        "short\n",
        "0123456789012345678901234567890123456789x\n", /* 41 characters */
        "012345678901234567890123456789012345678\n",   /* 39 */
        "01234567890123456789 1234567890123456789\n",  /* a space is not Z85 */
        "0123456789012345678901234567890123456\"89\n",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path_of(f, "bad.key"), bad[i], 0600);
        if (psy_keys_load_curve(f->path, sec, pub) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
    /* A key without a newline, and with CRLF, is still the key. */
    assert_int_equal(zmq_curve_keypair(zpub, zsec), 0);
    write_text(path_of(f, "ok.key"), zsec, 0600);
    assert_int_equal(psy_keys_load_curve(f->path, sec, pub), 0);
    assert_string_equal(pub, zpub);
    snprintf(text, sizeof text, "%s\r\n", zsec);
    write_text(f->path, text, 0600);
    assert_int_equal(psy_keys_load_curve(f->path, sec, pub), 0);
    assert_string_equal(sec, zsec);

    /* A folder is not a key file. */
    mkdir(path_of(f, "dir.key"), 0700);
    assert_true(psy_keys_load_curve(f->path, sec, pub) < 0);
}

/* Nothing is ever overwritten, and a failed generation leaves no half pair. */
static void
test_curve_no_overwrite(void **state)
{
    fx_t *f = *state;
    char before[128], after[128];

    assert_int_equal(psy_keys_generate_curve(f->dir, "k"), 0);
    slurp(path_of(f, "k.key"), before, sizeof before);
    assert_int_equal(psy_keys_generate_curve(f->dir, "k"), -EEXIST);
    slurp(path_of(f, "k.key"), after, sizeof after);
    assert_string_equal(before, after);

    /* Only the .pub exists: it is kept, and no secret is left beside it. */
    write_text(path_of(f, "p.pub"), "old public key\n", 0644);
    assert_int_equal(psy_keys_generate_curve(f->dir, "p"), -EEXIST);
    slurp(path_of(f, "p.pub"), after, sizeof after);
    assert_string_equal(after, "old public key\n");
    assert_int_equal(access(path_of(f, "p.key"), F_OK), -1);

    /* Only the .key exists. */
    write_text(path_of(f, "s.key"), "old secret\n", 0600);
    assert_int_equal(psy_keys_generate_curve(f->dir, "s"), -EEXIST);
    slurp(path_of(f, "s.key"), after, sizeof after);
    assert_string_equal(after, "old secret\n");
    assert_int_equal(access(path_of(f, "s.pub"), F_OK), -1);

    /* A folder that does not exist. */
    assert_int_equal(psy_keys_generate_curve(path_of(f, "no/such"), "x"), -ENOENT);
}

static void
test_pseudonym(void **state)
{
    fx_t *f = *state;
    uint8_t key[PSY_PSEUDO_KEYLEN], key2[PSY_PSEUDO_KEYLEN];
    char text[256], hex[2 * PSY_PSEUDO_KEYLEN + 1];

    assert_int_equal(psy_keys_generate_pseudonym(path_of(f, "pseudonym.key")), 0);
    assert_int_equal(mode_of(f->path), 0600);
    assert_int_equal(slurp(f->path, text, sizeof text), 65);
    assert_int_equal(text[64], '\n');
    assert_int_equal(strspn(text, "0123456789abcdefABCDEF"), 64);
    assert_int_equal(psy_keys_load_pseudonym(f->path, key), 0);
    for (int i = 0; i < PSY_PSEUDO_KEYLEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    assert_memory_equal(hex, text, 64);

    /* Never overwritten. */
    assert_int_equal(psy_keys_generate_pseudonym(f->path), -EEXIST);
    assert_int_equal(psy_keys_load_pseudonym(f->path, key2), 0);
    assert_memory_equal(key, key2, sizeof key);

    /* Two keys differ. */
    assert_int_equal(psy_keys_generate_pseudonym(path_of(f, "other.key")), 0);
    assert_int_equal(psy_keys_load_pseudonym(f->path, key2), 0);
    assert_memory_not_equal(key, key2, sizeof key);

    /* Readable by others: refused. */
    assert_int_equal(chmod(f->path, 0644), 0);
    memset(key2, 0x77, sizeof key2);
    assert_int_equal(psy_keys_load_pseudonym(f->path, key2), -EPERM);
    for (int i = 0; i < PSY_PSEUDO_KEYLEN; i++)
        assert_int_equal(key2[i], 0x77);

    /* A key written by hand, upper case and without a newline. */
    write_text(path_of(f, "hand.key"),
               "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f", 0600);
    assert_int_equal(psy_keys_load_pseudonym(f->path, key), 0);
    for (int i = 0; i < PSY_PSEUDO_KEYLEN; i++)
        assert_int_equal(key[i], i);

    assert_int_equal(psy_keys_load_pseudonym(path_of(f, "none.key"), key), -ENOENT);
}

static void
test_pseudonym_bad_hex(void **state)
{
    fx_t *f = *state;
    uint8_t key[PSY_PSEUDO_KEYLEN];
    static const char *const bad[] = {
        "",
        "\n",
        "00",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n",     /* 31 bytes */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n", /* 33 */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",   /* not hex */
        "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1\n",
        "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        " 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \n",
        "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14:15\n",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path_of(f, "bad.key"), bad[i], 0600);
        memset(key, 0x77, sizeof key);
        if (psy_keys_load_pseudonym(f->path, key) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        for (int k = 0; k < PSY_PSEUDO_KEYLEN; k++)
            assert_int_equal(key[k], 0x77);
    }
}

static void
test_z85_valid(void **state)
{
    char pub[41], sec[41], buf[48];
    (void)state;

    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    assert_true(psy_keys_z85_valid(pub));
    assert_true(psy_keys_z85_valid(sec));
    assert_false(psy_keys_z85_valid(NULL));
    assert_false(psy_keys_z85_valid(""));
    snprintf(buf, sizeof buf, "%s ", pub);
    assert_false(psy_keys_z85_valid(buf));
    snprintf(buf, sizeof buf, "%.39s", pub);
    assert_false(psy_keys_z85_valid(buf));
    snprintf(buf, sizeof buf, "%.39s;", pub); /* ';' is not Z85 */
    assert_false(psy_keys_z85_valid(buf));
    snprintf(buf, sizeof buf, "%.39s,", pub);
    assert_false(psy_keys_z85_valid(buf));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_curve_generate_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_no_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pseudonym, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pseudonym_bad_hex, setup, teardown),
        cmocka_unit_test(test_z85_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Key files. CURVE keys are kept in Z85, as libzmq prints them; the
 * pseudonym key as 64 hexadecimal digits (records.md). Secret files are
 * created 0600 and refused when group or others may read them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "psymon/keys.h"

int
psy_keys_z85_valid(const char *z85)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";
    uint8_t raw[32];

    if (!z85 || strlen(z85) != 40 || strspn(z85, alphabet) != 40)
        return 0;
    return zmq_z85_decode(raw, z85) != NULL;
}

/* Writes `text` to path with `mode`, replacing nothing: O_EXCL keeps an existing key safe. */
static int
write_new_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int r = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        unlink(path);
    return r;
}

int
psy_keys_generate_curve(const char *dir, const char *name)
{
    char pub[41], sec[41], path[PSY_PATH_MAX], pub_path[PSY_PATH_MAX], line[64];
    int r;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s.key", dir, name) >= sizeof(path) ||
        (size_t)snprintf(pub_path, sizeof(pub_path), "%s/%s.pub", dir, name) >= sizeof(pub_path))
        return -ENAMETOOLONG;
    if (zmq_curve_keypair(pub, sec) != 0)
        return -errno;
    snprintf(line, sizeof(line), "%s\n", sec);
    r = write_new_file(path, line, 0600);
    sodium_memzero(sec, sizeof(sec));
    sodium_memzero(line, sizeof(line));
    if (r < 0)
        return r;
    snprintf(line, sizeof(line), "%s\n", pub);
    r = write_new_file(pub_path, line, 0644);
    /* Never leave a secret key beside a public key that is not its own. */
    if (r < 0)
        unlink(path);
    return r;
}

int
psy_keys_generate_pseudonym(const char *path)
{
    uint8_t key[PSY_PSEUDO_KEYLEN];
    char hex[2 * PSY_PSEUDO_KEYLEN + 2];
    int r;

    randombytes_buf(key, sizeof(key));
    sodium_bin2hex(hex, sizeof(hex) - 1, key, sizeof(key));
    strcat(hex, "\n");
    r = write_new_file(path, hex, 0600);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(hex, sizeof(hex));
    return r;
}

/* Reads the first line of a secret file into buf, refusing one others may read. */
static int
read_secret_line(const char *path, char *buf, size_t size)
{
    struct stat st;
    int r = 0;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        r = -EPERM;
        goto out;
    }
    ssize_t n = read(fd, buf, size - 1);
    if (n < 0) {
        r = -errno;
        goto out;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
out:
    close(fd);
    return r;
}

int
psy_keys_load_curve(const char *path, char ret_secret[41], char ret_public[41])
{
    char buf[128];
    char pub[41];
    int r = read_secret_line(path, buf, sizeof(buf));

    if (r < 0)
        return r;
    if (!psy_keys_z85_valid(buf) || zmq_curve_public(pub, buf) != 0) {
        sodium_memzero(buf, sizeof(buf));
        return -EINVAL;
    }
    memcpy(ret_secret, buf, 41);
    memcpy(ret_public, pub, 41);
    sodium_memzero(buf, sizeof(buf));
    return 0;
}

int
psy_keys_load_pseudonym(const char *path, uint8_t ret_key[PSY_PSEUDO_KEYLEN])
{
    char buf[256];
    uint8_t key[PSY_PSEUDO_KEYLEN];
    size_t len = 0;
    const char *end;
    int r = read_secret_line(path, buf, sizeof(buf));

    if (r < 0)
        return r;
    if (strlen(buf) != 2 * PSY_PSEUDO_KEYLEN ||
        sodium_hex2bin(key, sizeof(key), buf, strlen(buf), NULL, &len, &end) != 0 ||
        len != PSY_PSEUDO_KEYLEN || *end)
        r = -EINVAL;
    else
        memcpy(ret_key, key, PSY_PSEUDO_KEYLEN);
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(key, sizeof(key));
    return r;
}

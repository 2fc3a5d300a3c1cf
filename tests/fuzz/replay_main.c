/*
 * Replays saved fuzz inputs under any compiler: every file of each folder
 * named on the command line goes through LLVMFuzzerTestOneInput once, in
 * name order. The first folder (the corpus) must exist and hold at least
 * one file, so that an empty or misplaced corpus cannot pass unnoticed;
 * later folders (regressions) may be absent.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX (4 * 1024 * 1024) /* larger saved inputs are a mistake, not a test */

static int
by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Runs one file; 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (!f)
        return -1;
    buf = malloc(INPUT_MAX);
    if (!buf) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, INPUT_MAX, f);
    if (ferror(f) || !feof(f)) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* An exact-size copy, so that a sanitizer sees any read past the input. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

/* Replays every regular file in dir; the count, or -1 on an error. */
static long
replay_dir(const char *dir, int required)
{
    struct dirent **names;
    long count = 0;
    int n = scandir(dir, &names, NULL, by_name);

    if (n < 0) {
        if (!required && errno == ENOENT)
            return 0;
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) < 0) {
                fprintf(stderr, "replay: %s: cannot read\n", path);
                count = -1;
            } else if (count >= 0) {
                count++;
            }
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [REGRESSION_DIR...]\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        long n = replay_dir(argv[i], i == 1);
        if (n < 0)
            return 1;
        if (i == 1 && n == 0) {
            fprintf(stderr, "replay: %s holds no inputs\n", argv[i]);
            return 1;
        }
        printf("replay: %s: %ld inputs\n", argv[i], n);
    }
    return 0;
}

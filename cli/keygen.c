/* psymon keygen NAME | psymon keygen --pseudonym FILE */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "psymon/keys.h"

static void
usage(FILE *out)
{
    fprintf(out, "Usage: psymon keygen NAME\n"
                 "       psymon keygen --pseudonym FILE\n\n"
                 "The first form writes NAME.key (the CURVE secret key, mode 0600) and NAME.pub\n"
                 "(the Z85 public key on one line) in the current folder. The second writes a\n"
                 "new random pseudonymisation key (64 hex digits, mode 0600) to FILE.\n"
                 "Existing files are never overwritten.\n");
}

int
cmd_keygen(int argc, char **argv)
{
    int r;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--pseudonym") == 0) {
        r = psy_keys_generate_pseudonym(argv[2]);
        if (r < 0) {
            cli_error("%s: %s", argv[2], strerror(-r));
            return 1;
        }
        /* On stderr: scripts write keygen's standard output into configuration files. */
        fprintf(stderr, "psymon keygen: wrote %s (pseudonymisation key, mode 0600)\n", argv[2]);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--pseudonym") == 0) {
        cli_error("--pseudonym needs a FILE (see --help)");
        return 2;
    }
    if (argc != 2) {
        cli_error(argc < 2 ? "a NAME is required (see --help)"
                           : "one NAME, or --pseudonym FILE (see --help)");
        return 2;
    }
    if (argv[1][0] == '-') {
        cli_error("unknown option '%s' (see --help)", argv[1]);
        return 2;
    }
    if (!argv[1][0] || strchr(argv[1], '/')) {
        cli_error("NAME '%s' must be a file name in the current folder, without '/'", argv[1]);
        return 2;
    }
    r = psy_keys_generate_curve(".", argv[1]);
    if (r < 0) {
        cli_error("%s.key/.pub: %s", argv[1], strerror(-r));
        return 1;
    }
    fprintf(stderr, "psymon keygen: wrote %s.key (secret key, mode 0600) and %s.pub (public key)\n",
            argv[1], argv[1]);
    return 0;
}

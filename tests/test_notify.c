/*
 * notify: the channel back-ends against real receivers: a python3 HTTP
 * server recording every body (2xx is delivery, 500 is not, a closed port
 * fails fast), and exec programs (payload on stdin; exit 0 is delivery).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

static const char receiver_py[] =
    "import http.server,sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_POST(self):\n"
    "        b=self.rfile.read(int(self.headers['Content-Length']))\n"
    "        open(sys.argv[1],'ab').write(self.path.encode()+b' '+b+b'\\n')\n"
    "        self.send_response(500 if self.path=='/fail' else 200); self.end_headers()\n"
    "    def log_message(self,*a): pass\n"
    "s=http.server.HTTPServer(('127.0.0.1',0),H)\n"
    "print(s.server_address[1],flush=True)\n"
    "s.serve_forever()\n";

static char dir[64], rec[128];
static pid_t server;
static int port;

static int
setup(void **state)
{
    char script[128];
    int fds[2];
    FILE *f;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_notify.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(script, sizeof script, "%s/recv.py", dir);
    snprintf(rec, sizeof rec, "%s/bodies", dir);
    f = fopen(script, "w");
    fputs(receiver_py, f);
    fclose(f);
    if (pipe(fds) < 0)
        return -1;
    pid_t parent = getpid();
    server = fork();
    if (server == 0) {
        /* Dies with this test: a test that crashed must not leave a server
         * holding ctest's output open (ctest would wait for its timeout). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1); /* the test died before prctl */
        dup2(fds[1], 1);
        execlp("python3", "python3", script, rec, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (fscanf(f, "%d", &port) != 1)
        return -1;
    fclose(f);
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];
    (void)state;
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_webhook(void **state)
{
    const notify_channel_t *c = notify_channel("webhook");
    char url[128], err[256], line[256];
    FILE *f;

    (void)state;
    assert_non_null(c);
    assert_null(notify_channel("carrier-pigeon"));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    assert_int_equal(c->deliver(url, "{\"n\":1}", err, sizeof err), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/fail", port);
    assert_int_equal(c->deliver(url, "{\"n\":2}", err, sizeof err), -EPROTO);
    assert_string_equal(err, "HTTP 500");
    /* Nobody listens on port 1: fails at once, no hang. */
    assert_int_equal(c->deliver("http://127.0.0.1:1/hook", "{}", err, sizeof err), -EIO);

    f = fopen(rec, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "/hook {\"n\":1}\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "/fail {\"n\":2}\n");
    assert_null(fgets(line, sizeof line, f));
    fclose(f);

    /* Alertmanager's channel posts to /api/v2/alerts under the configured URL. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    assert_int_equal(notify_channel("alertmanager")->deliver(url, "[]", err, sizeof err), 0);
    f = fopen(rec, "r");
    while (fgets(line, sizeof line, f))
        ;
    fclose(f);
    assert_string_equal(line, "/api/v2/alerts []\n");
}

static void
write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0700), 0);
}

static void
test_exec(void **state)
{
    const notify_channel_t *c = notify_channel("exec");
    char ok[128], bad[128], out[128], body[320], err[256], got[64] = "";
    FILE *f;

    (void)state;
    snprintf(ok, sizeof ok, "%s/ok.sh", dir);
    snprintf(bad, sizeof bad, "%s/bad.sh", dir);
    snprintf(out, sizeof out, "%s/stdin", dir);
    snprintf(body, sizeof body, "cat > %s", out);
    write_script(ok, body);
    write_script(bad, "exit 3");
    assert_int_equal(c->deliver(ok, "{\"version\":\"4\"}", err, sizeof err), 0);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof got, f));
    fclose(f);
    assert_string_equal(got, "{\"version\":\"4\"}");
    assert_int_equal(c->deliver(bad, "{}", err, sizeof err), -EPROTO);
    assert_non_null(strstr(err, "exited with 3"));
    /*
     * A program that exits without reading a payload larger than a pipe
     * holds: the write meets EPIPE. This process does not ignore SIGPIPE
     * (the aggregator does), so it is still alive here only if deliver
     * kept the signal from it.
     */
    size_t big_len = 1 << 20;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, ' ', big_len);
    big[big_len] = '\0';
    assert_int_equal(c->deliver(bad, big, err, sizeof err), -EPROTO);
    assert_non_null(strstr(err, "exited with 3"));
    free(big);

    /*
     * The program starts with no signal blocked and SIGPIPE at its default,
     * though the aggregator blocks SIGTERM (for its signalfd) and ignores
     * SIGPIPE: done here too, and restored after.
     */
    char sigs[128], line[128];
    unsigned long long blk = 1, ign = 1;
    sigset_t term, old;
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_pipe;
    snprintf(sigs, sizeof sigs, "%s/sigs", dir);
    snprintf(body, sizeof body, "cat >/dev/null; grep -E '^Sig(Blk|Ign)' /proc/$$/status > %s",
             sigs);
    write_script(ok, body);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    sigaction(SIGPIPE, &ignore, &old_pipe);
    assert_int_equal(c->deliver(ok, "{}", err, sizeof err), 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    f = fopen(sigs, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "SigBlk:", 7) == 0)
            blk = strtoull(line + 7, NULL, 16);
        if (strncmp(line, "SigIgn:", 7) == 0)
            ign = strtoull(line + 7, NULL, 16);
    }
    fclose(f);
    assert_int_equal(blk, 0);
    assert_int_equal(ign & (1ULL << (SIGPIPE - 1)), 0);
    assert_true(c->deliver("/nonexistent/program", "{}", err, sizeof err) < 0);
}

/* The retry schedule: 5 s doubling to 10 minutes, given up 24 hours after the notice was made. */
static void
test_retry_schedule(void **state)
{
    const psy_time_t t0 = INT64_C(1764547200) * PSY_USEC;
    const int64_t want_s[] = {5, 10, 20, 40, 80, 160, 320, 600, 600, 600};

    (void)state;
    for (int k = 0; k < 10; k++)
        assert_true(notify_retry_at(t0, k, t0 + PSY_HOUR) == t0 + PSY_HOUR + want_s[k] * PSY_USEC);
    assert_true(notify_retry_at(t0, 1000, t0 + PSY_HOUR) == t0 + PSY_HOUR + 600 * PSY_USEC);
    /* Just before a day: once more; at a day: given up. */
    assert_true(notify_retry_at(t0, 150, t0 + PSY_DAY - 1) == t0 + PSY_DAY - 1 + 600 * PSY_USEC);
    assert_true(notify_retry_at(t0, 150, t0 + PSY_DAY) == PSY_TIME_NONE);
    assert_true(notify_retry_at(t0, 0, t0 + 2 * PSY_DAY) == PSY_TIME_NONE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_retry_schedule),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * alert_store: alerts round-trip through the store; a transition and its
 * outbox rows commit together; delivered rows are never due again; the
 * outbox gives each receiver its oldest row first; silences and
 * acknowledgements as the command line writes them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alert_format.h"
#include "alert_store.h"

#define T0 (INT64_C(1764547200) * PSY_USEC)

static char dir[64];

static void
cleanup(void)
{
    char path[128];
    const char *f[] = {"psymon.db", "psymon.db-wal", "psymon.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, f[i]);
        unlink(path);
    }
    rmdir(dir);
}

static alert_t
sample(void)
{
    alert_t a = {0};
    strcpy(a.labels.alertname, "CollectorSilent");
    strcpy(a.labels.center, "pc-a");
    strcpy(a.labels.severity, "critical");
    strcpy(a.labels.region, "Region Test");
    alert_fingerprint(&a.labels, a.fingerprint);
    strcpy(a.ann.summary, "PC A: ingen data fra centrets opsamler i 16 minutter");
    strcpy(a.ann.summary_en, "PC A: nothing for 16 minutes");
    a.state = ALERT_FIRING;
    a.active_since = T0;
    a.firing_since = T0 + 15 * 60 * PSY_USEC;
    a.keep_since = PSY_TIME_NONE;
    a.resolved_at = PSY_TIME_NONE;
    a.last_notified = a.firing_since;
    a.notified = true;
    return a;
}

static void
test_round_trip_and_outbox(void **state)
{
    alert_store_t *s;
    alert_t a = sample(), *back = NULL;
    alert_outbox_t rows[3] = {0}, *due = NULL;
    size_t n = 0, ndue = 0;
    uint64_t pending = 0;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_alert_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    s = alert_store_new(dir);
    assert_non_null(s);

    for (int i = 0; i < 3; i++) {
        strcpy(rows[i].channel, "webhook");
        strcpy(rows[i].target, i < 2 ? "http://a/hook" : "http://b/hook");
        memcpy(rows[i].fingerprint, a.fingerprint, 17);
        strcpy(rows[i].status, i == 1 ? "resolved" : "firing");
        rows[i].payload = i == 1 ? "{\"n\":2}" : i == 0 ? "{\"n\":1}" : "{\"n\":3}";
    }
    alert_collector_mem_t mem = {"pc-a", 10, T0, 3, T0 - PSY_HOUR};
    assert_int_equal(alert_store_commit(s, &a, 1, &mem, 1, rows, 3, T0), 0);
    alert_store_destroy(&s);

    /* A new connection (a restart) sees everything the commit stored. */
    s = alert_store_new(dir);
    assert_non_null(s);
    assert_int_equal(alert_store_load(s, &back, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(back[0].fingerprint, a.fingerprint);
    assert_int_equal(back[0].state, ALERT_FIRING);
    assert_true(back[0].active_since == T0);
    assert_true(back[0].firing_since == a.firing_since);
    assert_true(back[0].last_notified == a.last_notified);
    assert_true(back[0].notified);
    assert_true(back[0].keep_since == PSY_TIME_NONE);
    assert_string_equal(back[0].ann.summary, a.ann.summary);
    assert_string_equal(back[0].labels.region, "Region Test");
    free(back);

    alert_collector_mem_t *m = NULL;
    assert_int_equal(alert_store_collectors(s, &m, &n), 0);
    assert_int_equal(n, 1);
    assert_true(m[0].rejected_rose_at == T0 - PSY_HOUR);
    free(m);

    /* Per receiver, the oldest row first: a's first row and b's only row. */
    assert_int_equal(alert_store_outbox_pending(s, &pending), 0);
    assert_int_equal(pending, 3);
    assert_int_equal(alert_store_outbox_due(s, T0, 10, &due, &ndue), 0);
    assert_int_equal(ndue, 2);
    assert_string_equal(due[0].payload, "{\"n\":1}");
    assert_string_equal(due[1].payload, "{\"n\":3}");
    int64_t first = due[0].id, third = due[1].id;
    alert_outbox_free(due, ndue);

    /* a fails: retried later; its second row waits behind it. b is delivered. */
    assert_int_equal(alert_store_outbox_retry(s, first, T0 + 5 * PSY_USEC, "HTTP 500"), 0);
    assert_int_equal(alert_store_outbox_done(s, third, T0), 0);
    assert_int_equal(alert_store_outbox_due(s, T0 + PSY_USEC, 10, &due, &ndue), 0);
    assert_int_equal(ndue, 0);
    alert_outbox_free(due, ndue);
    assert_int_equal(alert_store_outbox_due(s, T0 + 5 * PSY_USEC, 10, &due, &ndue), 0);
    assert_int_equal(ndue, 1);
    assert_true(due[0].id == first);
    assert_int_equal(due[0].attempts, 1);
    alert_outbox_free(due, ndue);
    assert_int_equal(alert_store_outbox_done(s, first, T0 + 5 * PSY_USEC), 0);
    assert_int_equal(alert_store_outbox_due(s, T0 + 6 * PSY_USEC, 10, &due, &ndue), 0);
    assert_int_equal(ndue, 1);
    assert_string_equal(due[0].payload, "{\"n\":2}");
    assert_int_equal(alert_store_outbox_give_up(s, due[0].id, T0 + PSY_DAY, "gone"), 0);
    alert_outbox_free(due, ndue);
    assert_int_equal(alert_store_outbox_pending(s, &pending), 0);
    assert_int_equal(pending, 0);
    alert_store_destroy(&s);
    cleanup();
}

static void
test_silences_and_acks(void **state)
{
    alert_store_t *s;
    alert_silence_t sil = {0}, *list = NULL;
    alert_ack_t ack = {0}, *acks = NULL;
    size_t n = 0;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_alert_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    s = alert_store_new(dir);
    assert_non_null(s);
    strcpy(sil.id, "s1");
    assert_int_equal(alert_matchers_parse("center=pc-a,alertname=SpoolFull", &sil), 0);
    sil.starts_at = T0;
    sil.ends_at = T0 + PSY_HOUR;
    strcpy(sil.author, "Hanne");
    strcpy(sil.comment, "planlagt nedetid");
    assert_int_equal(alert_store_silence_add(s, &sil), 0);
    assert_int_equal(alert_store_silence_add(s, &sil), -EEXIST);
    assert_int_equal(alert_store_silences(s, T0, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].nmatchers, 2);
    assert_string_equal(list[0].matchers[1].value, "SpoolFull");
    assert_string_equal(list[0].comment, "planlagt nedetid");
    free(list);
    assert_int_equal(alert_store_silence_expire(s, "s1", T0 + 60 * PSY_USEC), 0);
    assert_int_equal(alert_store_silence_expire(s, "s1", T0 + 120 * PSY_USEC), -ENOENT);
    assert_int_equal(alert_store_silence_expire(s, "nope", T0), -ENOENT);
    assert_int_equal(alert_store_silences(s, T0 + 61 * PSY_USEC, &list, &n), 0);
    assert_int_equal(n, 0);
    free(list);

    /* The latest acknowledgement of each stored alert, however old it is. */
    alert_t a = sample();
    assert_int_equal(alert_store_commit(s, &a, 1, NULL, 0, NULL, 0, T0), 0);
    strcpy(ack.fingerprint, a.fingerprint);
    strcpy(ack.author, "Ole");
    strcpy(ack.comment, "set");
    ack.at = T0;
    assert_int_equal(alert_store_ack_add(s, &ack), 0);
    strcpy(ack.author, "Kari");
    ack.at = T0 + PSY_HOUR;
    assert_int_equal(alert_store_ack_add(s, &ack), 0);
    strcpy(ack.fingerprint, "fedcba9876543210"); /* no such alert */
    assert_int_equal(alert_store_ack_add(s, &ack), 0);
    assert_int_equal(alert_store_acks(s, &acks, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(acks[0].fingerprint, a.fingerprint);
    assert_string_equal(acks[0].author, "Kari");
    assert_true(acks[0].at == T0 + PSY_HOUR);
    free(acks);

    /* Pruning keeps what is newer, and every acknowledgement of a stored alert. */
    alert_outbox_t rows[3] = {{.channel = "webhook", .target = "http://a/", .status = "firing"},
                              {.channel = "webhook", .target = "http://a/", .status = "firing"},
                              {.channel = "webhook", .target = "http://a/", .status = "firing"}};
    alert_outbox_t *due = NULL;
    uint64_t pending = 0;
    for (int i = 0; i < 3; i++) {
        memcpy(rows[i].fingerprint, a.fingerprint, sizeof rows[i].fingerprint);
        rows[i].payload = "{}";
    }
    assert_int_equal(alert_store_commit(s, &a, 1, NULL, 0, rows, 3, T0), 0);
    assert_int_equal(alert_store_outbox_due(s, T0, 10, &due, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(alert_store_outbox_done(s, due[0].id, T0), 0);
    alert_outbox_free(due, n);
    assert_int_equal(alert_store_outbox_due(s, T0, 10, &due, &n), 0);
    assert_int_equal(alert_store_outbox_give_up(s, due[0].id, T0 + 2 * PSY_DAY, "gone"), 0);
    alert_outbox_free(due, n);
    /* Before T0 + 1 day: the delivered row, the silence that ended, the orphan acknowledgement. */
    assert_int_equal(alert_store_prune(s, T0 + PSY_DAY), 3);
    assert_int_equal(alert_store_prune(s, T0 + PSY_DAY), 0);
    assert_int_equal(alert_store_outbox_pending(s, &pending), 0);
    assert_int_equal(pending, 1); /* the undelivered row is never pruned */
    assert_int_equal(alert_store_prune(s, T0 + 3 * PSY_DAY), 1); /* the given-up row */
    assert_int_equal(alert_store_acks(s, &acks, &n), 0);
    assert_int_equal(n, 1); /* the stored alert's, however old */
    free(acks);
    assert_int_equal(alert_store_prune(s, INT64_MAX), 0);
    assert_int_equal(alert_store_outbox_pending(s, &pending), 0);
    assert_int_equal(pending, 1);
    alert_store_destroy(&s);
    cleanup();
}

/* The webhook payload: version 4, one alert, Alertmanager's fields. */
static void
test_payload(void **state)
{
    alert_t a = sample();
    char *p;
    json_t *j, *al;

    (void)state;
    p = alert_webhook_payload(&a, ALERT_NOTICE_FIRING, "http://dash/");
    assert_non_null(p);
    j = json_loads(p, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "4");
    assert_string_equal(json_string_value(json_object_get(j, "groupKey")), a.fingerprint);
    assert_int_equal(json_integer_value(json_object_get(j, "truncatedAlerts")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "firing");
    assert_string_equal(json_string_value(json_object_get(j, "receiver")), "psymon");
    assert_string_equal(json_string_value(json_object_get(j, "externalURL")), "http://dash/");
    assert_non_null(json_object_get(j, "groupLabels"));
    assert_non_null(json_object_get(j, "commonLabels"));
    assert_non_null(json_object_get(j, "commonAnnotations"));
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 1);
    al = json_array_get(json_object_get(j, "alerts"), 0);
    assert_string_equal(json_string_value(json_object_get(al, "endsAt")), "0001-01-01T00:00:00Z");
    /* When it fired (as Prometheus sends FiredAt), not when it became pending (T0). */
    assert_string_equal(json_string_value(json_object_get(al, "startsAt")), "2025-12-01T00:15:00Z");
    assert_string_equal(json_string_value(json_object_get(al, "generatorURL")),
                        "http://dash/alerts");
    assert_string_equal(json_string_value(json_object_get(al, "fingerprint")), a.fingerprint);
    assert_string_equal(json_string_value(json_object_get(json_object_get(al, "labels"), "center")),
                        "pc-a");
    json_decref(j);
    free(p);

    a.state = ALERT_RESOLVED;
    a.resolved_at = T0 + PSY_HOUR;
    p = alert_webhook_payload(&a, ALERT_NOTICE_RESOLVED, "http://dash/");
    j = json_loads(p, 0, NULL);
    al = json_array_get(json_object_get(j, "alerts"), 0);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "resolved");
    assert_string_equal(json_string_value(json_object_get(al, "endsAt")), "2025-12-01T01:00:00Z");
    json_decref(j);
    free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_outbox),
        cmocka_unit_test(test_silences_and_acks),
        cmocka_unit_test(test_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

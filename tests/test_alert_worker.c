/* alert_worker_store_due: when an evaluation's alerts are committed to the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alert_worker.h"

#define T0 (INT64_C(1764547200) * PSY_USEC)

static alert_t
firing(const char *summary)
{
    alert_t a;

    memset(&a, 0, sizeof a);
    strcpy(a.fingerprint, "0123456789abcdef");
    strcpy(a.labels.alertname, "CollectorSilent");
    strcpy(a.labels.center, "pc-a");
    a.state = ALERT_FIRING;
    a.active_since = a.firing_since = a.last_notified = T0;
    a.keep_since = a.resolved_at = PSY_TIME_NONE;
    a.notified = true;
    snprintf(a.ann.summary, sizeof a.ann.summary, "%s", summary);
    return a;
}

static void
test_store_due(void **state)
{
    alert_t prev = firing("A: ingen data i 16 minutter"), next = prev;
    bool unstored = false;

    (void)state;
    /* Nothing changed: no commit, however long ago the last one was. */
    assert_false(alert_worker_store_due(&next, 1, &prev, 1, false, T0 + PSY_DAY, T0, &unstored));
    /* New notices or collector memory: always. */
    assert_true(alert_worker_store_due(&next, 1, &prev, 1, true, T0 + 1, T0, &unstored));

    /* Only the summary moved on: stored once a minute has passed since the last commit. */
    snprintf(next.ann.summary, sizeof next.ann.summary, "A: ingen data i 17 minutter");
    assert_false(
        alert_worker_store_due(&next, 1, &prev, 1, false, T0 + 59 * PSY_USEC, T0, &unstored));
    assert_true(unstored);
    /*
     * The worker keeps the newer text as the previous evaluation: the next
     * round sees no change, yet the text is still not stored. It is, once the
     * minute has passed.
     */
    prev = next;
    assert_false(
        alert_worker_store_due(&next, 1, &prev, 1, false, T0 + 59 * PSY_USEC, T0, &unstored));
    assert_true(
        alert_worker_store_due(&next, 1, &prev, 1, false, T0 + 60 * PSY_USEC, T0, &unstored));
    assert_false(unstored);
    assert_false(alert_worker_store_due(&next, 1, &prev, 1, false, T0 + PSY_DAY, T0, &unstored));
    snprintf(next.ann.value, sizeof next.ann.value, "41");
    assert_true(
        alert_worker_store_due(&next, 1, &prev, 1, false, T0 + 61 * PSY_USEC, T0, &unstored));

    /* A state that changed: at once, with or without annotations changed too. */
    next = prev;
    next.state = ALERT_RESOLVED;
    next.resolved_at = T0 + PSY_USEC;
    assert_true(alert_worker_store_due(&next, 1, &prev, 1, false, T0 + PSY_USEC, T0, &unstored));
    next = prev;
    next.acked = true;
    assert_true(alert_worker_store_due(&next, 1, &prev, 1, false, T0 + PSY_USEC, T0, &unstored));
    /* An alert more or fewer. */
    assert_true(alert_worker_store_due(&next, 0, &prev, 1, false, T0 + PSY_USEC, T0, &unstored));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_due),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

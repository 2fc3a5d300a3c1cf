/* status: the per-center status JSON. See status.h. */
#include "status.h"

#include <errno.h>

#include "ingest.h"
#include "psymon/time.h"

json_t *
status_json(store_t *s, const psy_agg_conf_t *conf)
{
    json_t *root, *arr;

    if (!s || !conf) {
        errno = EINVAL;
        return NULL;
    }
    arr = json_array();
    root = json_pack("{s:o}", "centers", arr);
    if (!root) {
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < conf->ncenters; i++) {
        store_status_t st;
        json_t *seen, *obj;
        int r = store_status(s, conf->centers[i].id, &st);

        if (r < 0) {
            json_decref(root);
            errno = -r;
            return NULL;
        }
        if (st.last_seen == PSY_TIME_NONE) {
            seen = json_null();
        } else {
            char buf[32];
            psy_time_format(st.last_seen, buf, sizeof(buf));
            seen = json_string(buf);
        }
        /* JSON integers are signed 64-bit in jansson; counts never come near 2^63. */
        obj = json_pack("{s:s,s:I,s:I,s:I,s:o}", "center", conf->centers[i].id, "records",
                        (json_int_t)st.records, "rejected", (json_int_t)st.rejected, "backlog",
                        (json_int_t)st.backlog, "last_seen", seen);
        /* What the collector last reported; a clock off by more than INGEST_CLOCK_SKEW_MAX is
         * flagged. */
        if (obj) {
            bool hb = st.version[0] != '\0';
            psy_time_t off = st.clock_offset;
            json_object_set_new(obj, "spool_bytes",
                                hb ? json_integer((json_int_t)st.spool_bytes) : json_null());
            json_object_set_new(obj, "spool_full", json_boolean(hb && st.spool_full));
            json_object_set_new(obj, "version", hb ? json_string(st.version) : json_null());
            json_object_set_new(obj, "clock_offset_s",
                                hb ? json_integer((json_int_t)(off / PSY_USEC)) : json_null());
            json_object_set_new(
                obj, "clock_off",
                json_boolean(hb && (off > INGEST_CLOCK_SKEW_MAX || off < -INGEST_CLOCK_SKEW_MAX)));
        }
        if (!obj || json_array_append_new(arr, obj) != 0) {
            json_decref(root);
            errno = ENOMEM;
            return NULL;
        }
    }
    return root;
}

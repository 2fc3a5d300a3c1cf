#!/usr/bin/env bash
# Who may deliver, with real processes on loopback:
# - key files readable by others stop both daemons, for every key kind;
# - a listed collector configured with another center's id writes nothing
#   into that center (the center comes from the key);
# - a key removed from the configuration and SIGHUP shut its collector out
#   on the connection it already has: a new inbox file is not stored and
#   /metrics counts the denied messages; put back, the records arrive.
source "$(dirname "$0")/lib.sh"

ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
for k in aggregator pc-a pc-b; do keygen "$k"; done
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"

# agg_conf PC_A_KEY: pc-a's public_key line may be empty (revoked).
agg_conf() {
    write_aggregator_conf
    add_center pc-a "Center A" "$1" 2024=100000
    add_center pc-b "Center B" "$(pubkey pc-b)" 2024=50000
}
agg_conf "$(pubkey pc-a)"
write_collector_conf pc-a pc-a pc-a
# pc-b's own key, but configured with pc-a's center id.
write_collector_conf liar pc-a pc-b

# --- key files readable by others: both daemons refuse to start ---
# refuses LOGNAME COMMAND...: the command exits non-zero within 20 s and says why.
refuses() {
    local log=$E2E_DIR/$1.log
    shift
    local rc=0
    timeout 20 "$@" >"$log" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$* started (rc $rc) with a readable key file"
    grep -qi "readable by" "$log" || fail "$*: no clear message: $(cat "$log")"
}
for mode in 0644 0640 0604; do
    chmod "$mode" "$E2E_DIR/aggregator.key"
    refuses refuse-agg "$AGGREGATOR" -c "$E2E_DIR/aggregator.conf"
    chmod 0600 "$E2E_DIR/aggregator.key"
    chmod "$mode" "$E2E_DIR/pc-a.key"
    refuses refuse-coll-curve "$COLLECTOR" -c "$E2E_DIR/pc-a.conf"
    chmod 0600 "$E2E_DIR/pc-a.key"
    chmod "$mode" "$E2E_DIR/pseudonym.key"
    refuses refuse-coll-pseudo "$COLLECTOR" -c "$E2E_DIR/pc-a.conf"
    chmod 0600 "$E2E_DIR/pseudonym.key"
done
[ ! -e "$E2E_DIR/data/psymon.db" ] || fail "the refusing aggregator created a store"
pass "readable key files refused by the aggregator (CURVE) and the collector (CURVE, pseudonym)"

# --- a center id claimed in the collector's configuration counts for nothing ---
cat >"$E2E_DIR/pc-a/inbox/a1.ndjson" <<'DATA'
{"type":"admission","id":"A1","time":"2024-03-01T10:00:00+01:00","patient":"070465-1331","mode":"acute"}
{"type":"admission","id":"A2","time":"2024-03-02T10:00:00+01:00","patient":"1203871452","mode":"acute"}
DATA
cat >"$E2E_DIR/liar/inbox/x1.ndjson" <<'DATA'
{"type":"admission","id":"A1","time":"2024-03-09T10:00:00+01:00","patient":"311299-0017","mode":"planned"}
{"type":"admission","id":"X2","time":"2024-03-09T11:00:00+01:00","patient":"311299-0017","mode":"planned"}
{"type":"admission","id":"X3","time":"2024-03-09T12:00:00+01:00","patient":"311299-0017","mode":"planned"}
DATA
start_aggregator
start_collector pc-a
start_collector liar
first() {
    [ "$(center_field pc-a records)" = 2 ] && [ "$(center_field pc-b records)" = 3 ] &&
        [ "$(center_field pc-a backlog)" = 0 ] && [ "$(center_field pc-b backlog)" = 0 ]
}
wait_for 60 "both collectors delivered" first
kpi() {
    "$PSYMON" kpi -c "$E2E_DIR/aggregator.conf" --period month --from 2024-03 --kpi admissions \
        --center pc-a,pc-b --as-of 2024-06-01T00:00:00Z --format csv
}
out=$(kpi)
grep -qFx "2024-03,pc-a,admissions,2,2,,0" <<<"$out" || fail "pc-a changed by the liar:"$'\n'"$out"
grep -qFx "2024-03,pc-b,admissions,3,3,,0" <<<"$out" || fail "liar's records not under pc-b:"$'\n'"$out"
pass "a collector claiming pc-a with pc-b's key wrote only into pc-b (A1 of pc-a untouched)"

# --- revocation on the open connection ---
metric() {
    curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
agg_conf ""
kill -HUP "$AGG_PID"
wait_for 20 "the reload" grep -q "configuration reloaded" "$E2E_DIR/aggregator.log"
denied0=$(metric psymon_msgs_denied_total)
auth0=$(metric psymon_auth_denied_total)
cat >"$E2E_DIR/pc-a/inbox/a2.ndjson" <<'DATA'
{"type":"admission","id":"A3","time":"2024-03-20T10:00:00+01:00","patient":"0101034568","mode":"acute"}
DATA
wait_for 30 "pc-a to spool its new file" test -f "$E2E_DIR/pc-a/state/done/a2.ndjson"
more_denied() { [ "$(metric psymon_msgs_denied_total)" -gt "$denied0" ]; }
wait_for 30 "denied messages counted" more_denied
# A batch goes out at once and a heartbeat every 5 s: after 7 s both were dropped.
sleep 7
[ "$(center_field pc-a records)" = 2 ] || fail "the revoked key delivered a record"
[ "$(metric psymon_auth_denied_total)" = "$auth0" ] ||
    fail "the collector reconnected: this did not test the open connection"
grep -q "no longer allowed" "$E2E_DIR/aggregator.log" || fail "no log line about the revoked key"
pass "revoked key delivers nothing on its open connection; $(metric psymon_msgs_denied_total) denied messages counted"
out=$(kpi)
grep -qFx "2024-03,pc-b,admissions,3,3,,0" <<<"$out" || fail "pc-b affected by the revocation"

# Put back: the collector resends what was never acknowledged.
agg_conf "$(pubkey pc-a)"
kill -HUP "$AGG_PID"
back() { [ "$(center_field pc-a records)" = 3 ] && [ "$(center_field pc-a backlog)" = 0 ]; }
wait_for 90 "pc-a's record after the key was restored" back
pass "restored key: the held-back record arrives"

for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${E2E_PIDS[@]}"; do wait "$pid" || fail "a daemon exited non-zero on SIGTERM"; done
E2E_PIDS=()
echo "authz: all checks passed"

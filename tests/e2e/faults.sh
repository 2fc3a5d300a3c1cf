#!/usr/bin/env bash
# Delivery under faults (issue 3): about 30,000 simulated records through two
# collectors while the aggregator is killed -9 several times, one collector
# is killed -9 in the middle of its inbox, and the aggregator is away for a
# while (long enough for one collector to reach its spool cap). Afterwards
# every record id is stored exactly once, the append-only versions table
# holds exactly what a fault-free run stores, and `psymon kpi` gives the same
# rows as a second, fresh aggregator fed the same files without faults.
# Under the sanitizers (PSY_SANITIZE=ON) the record count is scaled down.
source "$(dirname "$0")/lib.sh"

CENTERS=(pc-amager pc-ballerup)
if [ "${PSY_SANITIZE:-OFF}" = ON ]; then
    SIM_FROM=2023-01-01 SIM_TO=2024-12-31 YEARS="2023 2024" AWAY_S=12
else
    SIM_FROM=2022-01-01 SIM_TO=2024-06-30 YEARS="2022 2023 2024" AWAY_S=15
fi
AS_OF=2025-01-01T00:00:00Z

for k in aggregator ref-aggregator "${CENTERS[@]}"; do keygen "$k"; done
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"
"$PSYMON" simulate --out "$E2E_DIR/sim" --from "$SIM_FROM" --to "$SIM_TO" --seed 3 \
    --center pc-amager --center pc-ballerup >/dev/null
total=$(cat "$E2E_DIR"/sim/*/* | grep -vc '^type,' || true)
echo "simulated $total records"

# aggregator_conf NAME KEY ZMQ HTTP: $E2E_DIR/NAME.conf with its own data folder
aggregator_conf() {
    cat >"$E2E_DIR/$1.conf" <<CONF
[aggregator]
listen = tcp://127.0.0.1:$3
secret_key_file = $2.key
data_dir = $1-data
http_listen = 127.0.0.1:$4
timezone = Europe/Copenhagen

[center pc-amager]
name = Center Amager
public_key = $(pubkey pc-amager)
population.2022 = 202500
population.2023 = 204000
population.2024 = 205500

[center pc-ballerup]
name = Center Ballerup
public_key = $(pubkey pc-ballerup)
population.2022 = 340500
population.2023 = 343000
population.2024 = 345500
CONF
}

# collector_conf NAME CENTER ZMQ SERVERKEY [EXTRA]: like write_collector_conf, any port
collector_conf() {
    mkdir -p "$E2E_DIR/$1/inbox" "$E2E_DIR/$1/state"
    cat >"$E2E_DIR/$1.conf" <<CONF
[collector]
center = $2
aggregator = tcp://127.0.0.1:$3
aggregator_public_key = $(pubkey "$4")
secret_key_file = $2.key
pseudonym_key_file = pseudonym.key
inbox = $1/inbox
state_dir = $1/state
done_days = 30
${5:-}
CONF
}

# drop NAME CENTER FILE...: moves files into an inbox the way an export job does
drop() {
    local name=$1 center=$2
    shift 2
    for f in "$@"; do
        cp "$E2E_DIR/sim/$center/$f" "$E2E_DIR/$name/inbox/.$f.tmp"
        mv "$E2E_DIR/$name/inbox/.$f.tmp" "$E2E_DIR/$name/inbox/$f"
    done
}

# delivered CONF CENTER N: the aggregator of CONF holds N records of CENTER, backlog 0
delivered() {
    "$PSYMON" status -c "$E2E_DIR/$1" --json 2>/dev/null | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin)["centers"] if x["center"] == sys.argv[1]]
sys.exit(0 if c and c[0]["records"] == int(sys.argv[2]) and c[0]["backlog"] == 0 else 1)' "$2" "$3"
}

# inbox_empty NAME
inbox_empty() { [ -z "$(find "$E2E_DIR/$1/inbox" -type f)" ]; }

start_agg() { # CONF: starts an aggregator, sets AGG_PID
    "$AGGREGATOR" -c "$E2E_DIR/$1.conf" >>"$E2E_DIR/$1.log" 2>&1 &
    AGG_PID=$!
    E2E_PIDS+=("$AGG_PID")
}

# A daemon gets a few seconds to stop on SIGTERM (a timeout, not a speed test).
stop_within() { # PID SECONDS
    local pid=$1 limit=$2
    kill -TERM "$pid"
    local end=$((SECONDS + limit))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $end ] || fail "pid $pid still running ${limit}s after SIGTERM"
        sleep 0.1
    done
    wait "$pid" || fail "pid $pid exited non-zero after SIGTERM"
}

mapfile -t FILES < <(ls "$E2E_DIR/sim/pc-amager")
n=${#FILES[@]}
third=$((n / 3))

# ---- the faulty run ----
ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
aggregator_conf aggregator aggregator "$ZMQ_PORT" "$HTTP_PORT"
collector_conf a pc-amager "$ZMQ_PORT" aggregator
# A small cap, so that the aggregator's absence fills Ballerup's spool.
collector_conf b pc-ballerup "$ZMQ_PORT" aggregator "spool_max_mb = 1"

drop a pc-amager "${FILES[@]:0:third}"
drop b pc-ballerup "${FILES[@]:0:third}"
start_agg aggregator
start_collector a
start_collector b

# The aggregator is killed -9 three times while batches arrive.
for i in 1 2 3; do
    sleep 1.5
    kill -KILL "$AGG_PID" 2>/dev/null || fail "the aggregator died on its own (aggregator.log)"
    wait "$AGG_PID" 2>/dev/null || true
    drop a pc-amager "${FILES[third + i - 1]}"
    drop b pc-ballerup "${FILES[third + i - 1]}"
    start_agg aggregator
done
pass "aggregator killed -9 three times"

# Collector A is killed -9 while it reads new files, then restarted.
drop a pc-amager "${FILES[@]:third+3:2}"
sleep 0.3
kill -KILL "$PID_a" 2>/dev/null || fail "collector a died on its own (a.log)"
wait "$PID_a" 2>/dev/null || true
start_collector a
pass "collector a killed -9 and restarted"

# The aggregator goes away for a while; the rest of the files arrive meanwhile.
sleep 1
kill -KILL "$AGG_PID" 2>/dev/null || fail "the aggregator died on its own (aggregator.log)"
wait "$AGG_PID" 2>/dev/null || true
drop a pc-amager "${FILES[@]:third+5}"
drop b pc-ballerup "${FILES[@]:third+3}"
sleep "$AWAY_S"
grep -q "spool full" "$E2E_DIR/b.log" || fail "collector b never reported its spool cap"
inbox_empty b && fail "collector b took every file although its spool was at its cap"
pass "aggregator away ${AWAY_S}s: collector b stopped at its spool cap, files wait in its inbox"
start_agg aggregator
FAULT_AGG_PID=$AGG_PID
wait_for 30 "aggregator healthy" healthy

# ---- the reference run: a fresh aggregator, no faults ----
REF_ZMQ=$(free_port)
REF_HTTP=$(free_port)
aggregator_conf ref ref-aggregator "$REF_ZMQ" "$REF_HTTP"
collector_conf ra pc-amager "$REF_ZMQ" ref-aggregator
collector_conf rb pc-ballerup "$REF_ZMQ" ref-aggregator
drop ra pc-amager "${FILES[@]}"
drop rb pc-ballerup "${FILES[@]}"
start_agg ref
REF_PID=$AGG_PID
start_collector ra
start_collector rb

# Both runs are complete when the backlog is 0 and the inboxes are empty and
# the record counts agree with the reference.
ref_count() { # CENTER
    sqlite3 "$E2E_DIR/ref-data/psymon.db" "SELECT count(*) FROM current k JOIN centers n USING (cid) WHERE n.center = '$1'"
}
settled() {
    inbox_empty a && inbox_empty b && inbox_empty ra && inbox_empty rb || return 1
    local c
    for c in "${CENTERS[@]}"; do
        local want
        want=$(ref_count "$c")
        delivered ref.conf "$c" "$want" && delivered aggregator.conf "$c" "$want" || return 1
    done
}
wait_for 300 "both runs delivered" settled
pass "faulty and reference runs delivered ($(ref_count pc-amager) + $(ref_count pc-ballerup) ids)"

# What the collectors reported is visible: version, clock (in step here), spool not full.
# spool_full comes from the last heartbeat (every 5 s), so it may lag the backlog.
heartbeat_fields() {
    "$PSYMON" status -c "$E2E_DIR/aggregator.conf" --json | python3 -c '
import json, sys
for c in json.load(sys.stdin)["centers"]:
    assert c["version"] and c["clock_off"] is False and abs(c["clock_offset_s"]) <= 120, c
    assert c["spool_full"] is False and c["backlog"] == 0, c' 2>"$E2E_DIR/heartbeat.log"
}
wait_for 30 "psymon status --json: version, clock in step, spool not full" heartbeat_fields
pass "status shows each collector's version, clock offset and spool state"

# Stop everything with SIGTERM: each daemon drains and exits within 10 s.
for pid in "$PID_a" "$PID_b" "$PID_ra" "$PID_rb" "$FAULT_AGG_PID" "$REF_PID"; do
    stop_within "$pid" 10
done
E2E_PIDS=()
pass "SIGTERM: every daemon exited cleanly within 10 s"

# ---- exactly once ----
DB="$E2E_DIR/aggregator-data/psymon.db"
REF_DB="$E2E_DIR/ref-data/psymon.db"
dups=$(sqlite3 "$DB" "SELECT count(*) FROM (SELECT cid, id FROM current GROUP BY cid, id HAVING count(*) > 1)")
[ "$dups" = 0 ] || fail "$dups ids stored more than once"
# Every version the fault-free run stored, in the same order per id, and no other.
dump_versions() {
    sqlite3 "$1" "SELECT n.center, v.id, hex(v.rec) FROM versions v JOIN centers n USING (cid) ORDER BY n.center, v.id, v.vid" | md5sum
}
[ "$(dump_versions "$DB")" = "$(dump_versions "$REF_DB")" ] ||
    fail "the versions table differs from the fault-free run's (a record doubled or lost)"
dump_current() { sqlite3 "$1" "SELECT n.center, k.id, k.void, hex(v.rec) FROM current k JOIN centers n USING (cid) JOIN versions v ON v.vid = k.vid ORDER BY n.center, k.id" | md5sum; }
[ "$(dump_current "$DB")" = "$(dump_current "$REF_DB")" ] ||
    fail "the current records differ from the fault-free run's"
ids=$(sqlite3 "$DB" "SELECT count(*) FROM current")
[ "$ids" -gt 0 ] && [ "$ids" = "$(sqlite3 "$REF_DB" "SELECT count(*) FROM current")" ] ||
    fail "$ids ids stored, the fault-free run stored $(sqlite3 "$REF_DB" "SELECT count(*) FROM current")"
pass "every id stored exactly once ($ids ids of $total records), versions identical to the fault-free run"

# ---- the same KPIs ----
first_year=${YEARS%% *}
last_year=${YEARS##* }
kpi() {
    "$PSYMON" kpi -c "$E2E_DIR/$1.conf" --period year --from "$first_year-01" --to "$last_year-12" \
        --center all --as-of "$AS_OF" --format csv
}
got=$(kpi aggregator)
want=$(kpi ref)
[ "$(wc -l <<<"$want")" -gt 10 ] || fail "the reference KPIs are nearly empty: $want"
grep -q ",region,records," <<<"$want" || fail "no region records row: $want"
[ "$got" = "$want" ] || fail "KPIs differ from the fault-free run:"$'\n'"$(diff <(echo "$want") <(echo "$got") | head -20)"
pass "psymon kpi (every KPI, every year, every center and the region) equals the fault-free run's"
echo "faults: all checks passed"

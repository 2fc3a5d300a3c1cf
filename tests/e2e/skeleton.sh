#!/usr/bin/env bash
# End to end on loopback: generated keys, an aggregator and two collectors,
# inbox files in; `psymon kpi` and `psymon status` agree with what was
# dropped, and a collector with an unlisted key delivers nothing.
source "$(dirname "$0")/lib.sh"

ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
for k in aggregator pc-a pc-b intruder; do keygen "$k"; done
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"

cat >"$E2E_DIR/aggregator.conf" <<CONF
[aggregator]
listen = tcp://127.0.0.1:$ZMQ_PORT
secret_key_file = aggregator.key
data_dir = data
http_listen = 127.0.0.1:$HTTP_PORT
timezone = Europe/Copenhagen

[center pc-a]
name = Center A
public_key = $(pubkey pc-a)
population.2024 = 100000

[center pc-b]
name = Center B
public_key = $(pubkey pc-b)   ; a comment after a value
population.2024 = 50000
CONF
write_collector_conf pc-a pc-a pc-a
write_collector_conf pc-b pc-b pc-b
# Claims to be pc-a, with a key the aggregator does not list.
write_collector_conf intruder pc-a intruder

cat >"$E2E_DIR/pc-a/inbox/2024-03-01.ndjson" <<'DATA'
{"type":"admission","id":"A1","time":"2024-03-01T10:00:00+01:00","patient":"010190-1234","mode":"acute","ward":"M1"}
{"type":"coercion","id":"C1","time":"2024-03-01T16:00:00+01:00","end":"2024-03-01T19:30:00+01:00","patient":"010190-1234","admission":"A1","kind":"belt"}
{"type":"coercion","id":"C2","time":"2024-03-02T10:00:00+01:00","patient":"010190-1234","admission":"A1","kind":"physical_restraint"}
{"type":"coercion","id":"C3","time":"2024-03-02T12:00:00+01:00","patient":"010190-1234","kind":"belt","voluntary":true}
{"type":"coercion","id":"C4","time":"2024-03-03T12:00:00+01:00","patient":"010190-1234","kind":"sedative_medication"}

{"type":"admission","id":"BAD1","time":"2024-13-01T00:00:00Z","patient":"0101901234","mode":"acute"}
{"type":"discharge","id":"D1","time":"2024-03-05T10:00:00+01:00","patient":"0101901234","admission":"A1"}
{"type":"admission","id":"A2","time":"2024-04-02T08:00:00+02:00","patient":"020285-4321","mode":"planned","legal":"involuntary_red"}
DATA
# A later file corrects C2 and voids C4.
cat >"$E2E_DIR/pc-a/inbox/2024-03-02.ndjson" <<'DATA'
{"type":"coercion","id":"C4","time":"2024-03-03T12:00:00+01:00","void":true}
{"type":"coercion","id":"C2","time":"2024-03-02T10:00:00+01:00","patient":"010190-1234","admission":"A1","kind":"straps"}
DATA
# Written the way an export job does: under a .tmp name, then renamed.
cat >"$E2E_DIR/pc-b/inbox/2024-03.csv.tmp" <<'DATA'
type,id,time,patient,mode,admission,kind,end,outcome,extra
admission,B1,2024-03-05T12:00:00+01:00,0101901234,acute,,,,,x
discharge,B1D,2024-03-10T10:00:00+01:00,0101901234,,B1,,,regular,"a, ""quoted"" cell"
coercion,B2,2024-03-06T09:00:00+01:00,0101901234,,B1,belt,2024-03-06T20:00:00+01:00,,
DATA
mv "$E2E_DIR/pc-b/inbox/2024-03.csv.tmp" "$E2E_DIR/pc-b/inbox/2024-03.csv"
cat >"$E2E_DIR/intruder/inbox/2024-03.ndjson" <<'DATA'
{"type":"admission","id":"X1","time":"2024-03-07T10:00:00+01:00","patient":"0101901234","mode":"acute"}
DATA

start_aggregator
start_collector pc-a
start_collector pc-b
start_collector intruder

delivered() {
    [ "$(center_field pc-a records)" = 7 ] && [ "$(center_field pc-b records)" = 3 ] &&
        [ "$(center_field pc-a backlog)" = 0 ] && [ "$(center_field pc-b backlog)" = 0 ] &&
        [ "$(center_field pc-a rejected)" = 1 ]
}
wait_for 60 "both collectors delivered" delivered
pass "records and backlog as dropped"
[ -z "$(find "$E2E_DIR/pc-a/inbox" "$E2E_DIR/pc-b/inbox" -type f)" ] || fail "inbox files left behind"
[ -f "$E2E_DIR/pc-a/state/done/2024-03-01.ndjson" ] || fail "no done/ copy of a read file"
grep -q '"BAD1"' "$E2E_DIR/pc-a/state/rejected.ndjson" || fail "rejected.ndjson lacks BAD1"
grep -q '0101901234\|010190-1234' "$E2E_DIR/pc-a/state/rejected.ndjson" &&
    fail "rejected.ndjson holds a CPR number"
pass "inbox emptied, done/ and rejected.ndjson written"

# Give the intruder every chance to get in, then check it did not.
sleep 3
kpi=$("$PSYMON" kpi -c "$E2E_DIR/aggregator.conf" --period month --from 2024-03 --to 2024-04 \
    --kpi admissions,discharges,records,coercion_episodes:belt,coercion_episodes:straps,coercion_episodes:physical_restraint,coercion_episodes:sedative_medication \
    --as-of 2024-06-01T00:00:00Z --format csv)
expect() { grep -qFx "$1" <<<"$kpi" || fail "kpi lacks row '$1'"$'\n'"$kpi"; }
expect "period,center,kpi,value,numerator,denominator,provisional"
expect "2024-03,pc-a,admissions,1,1,,0"
expect "2024-03,pc-a,discharges,1,1,,0"
expect "2024-03,pc-a,records,5,5,,0"
expect "2024-03,pc-a,coercion_episodes:belt,1,1,,0"
expect "2024-03,pc-a,coercion_episodes:straps,1,1,,0"
expect "2024-03,pc-a,coercion_episodes:physical_restraint,0,0,,0"
expect "2024-03,pc-a,coercion_episodes:sedative_medication,0,0,,0"
expect "2024-04,pc-a,admissions,1,1,,0"
expect "2024-04,pc-a,records,1,1,,0"
expect "2024-03,pc-b,admissions,1,1,,0"
expect "2024-03,pc-b,discharges,1,1,,0"
expect "2024-03,pc-b,records,3,3,,0"
expect "2024-03,pc-b,coercion_episodes:belt,1,1,,0"
expect "2024-03,region,admissions,2,2,,0"
expect "2024-03,region,coercion_episodes:belt,2,2,,0"
expect "2024-03,region,records,8,8,,0"
rows=$(($(wc -l <<<"$kpi") - 1))
[ "$rows" = $((2 * 3 * 7)) ] || fail "expected 42 rows (2 months x 3 levels x 7 KPIs), got $rows"
pass "psymon kpi agrees with the files (intruder's X1 not counted)"

# The HTTP API gives the same rows and the same status.
api=$(curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/kpi?period=month&from=2024-03&to=2024-03&center=region&kpi=admissions&as_of=2024-06-01T00:00:00Z")
python3 -c 'import json,sys; r=json.loads(sys.argv[1])["rows"]; assert r==[{"period":"2024-03","center":"region","kpi":"admissions","value":2,"numerator":2,"denominator":None,"provisional":False}], r' "$api" ||
    fail "/api/v1/kpi: $api"
curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/status" | python3 -c 'import json,sys; c={x["center"]:x for x in json.load(sys.stdin)["centers"]}; assert c["pc-a"]["records"]==7 and c["pc-b"]["records"]==3 and c["pc-a"]["last_seen"], c' ||
    fail "/api/v1/status"
curl -fsS -o "$E2E_DIR/graph.png" "http://127.0.0.1:$HTTP_PORT/graph/pc-a.png" || fail "no graph for pc-a"
[ "$(head -c 4 "$E2E_DIR/graph.png" | od -An -tx1 | tr -d ' ')" = 89504e47 ] || fail "graph is not a PNG"
pass "HTTP API and graph"

# SIGTERM stops everything cleanly.
for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${E2E_PIDS[@]}"; do
    wait "$pid" || fail "a daemon exited non-zero on SIGTERM"
done
E2E_PIDS=()
pass "clean stop on SIGTERM"
echo "skeleton: all checks passed"

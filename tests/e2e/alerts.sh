#!/usr/bin/env bash
# Alerts with real receivers: Debian's prometheus-alertmanager on loopback
# and a python3 webhook receiver that records every payload it accepts.
# A collector stops: CollectorSilent fires (for = 3s; the engine still waits
# out two missed heartbeats, 10 s, so a late one flaps nothing); a silence holds the
# notice back until it is expired; the webhook gets exactly one v4 payload,
# also after a kill -9 of the aggregator; Alertmanager shows the alert with
# psymon's labels and fingerprint; a receiver that fails for a while gets
# the resolution once it recovers, once.
source "$(dirname "$0")/lib.sh"
command -v prometheus-alertmanager >/dev/null || fail "prometheus-alertmanager is not installed"

ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
HOOK_PORT=$(free_port)
AM_PORT=$(free_port)
for k in aggregator pc-a; do keygen "$k"; done
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"

# The webhook receiver: 500 while $E2E_DIR/hook.fail exists, else 200 and the body recorded.
cat >"$E2E_DIR/hook.py" <<'PY'
import http.server, os, sys
d = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        b = self.rfile.read(int(self.headers['Content-Length']))
        if os.path.exists(d + '/hook.fail'):
            self.send_response(500); self.end_headers(); return
        with open(d + '/hook.bodies', 'ab') as f:
            f.write(b + b'\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PY
touch "$E2E_DIR/hook.bodies"
python3 "$E2E_DIR/hook.py" "$HOOK_PORT" "$E2E_DIR" >"$E2E_DIR/hook.log" 2>&1 &
E2E_PIDS+=("$!")

cat >"$E2E_DIR/am.yml" <<'YML'
route:
  receiver: 'null'
receivers:
  - name: 'null'
YML
prometheus-alertmanager --config.file="$E2E_DIR/am.yml" --storage.path="$E2E_DIR/am" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$E2E_DIR/am.log" 2>&1 &
E2E_PIDS+=("$!")

write_aggregator_conf
cat >>"$E2E_DIR/aggregator.conf" <<CONF

[alert CollectorSilent]
for = 3s

[notify]
webhook = http://127.0.0.1:$HOOK_PORT/hook
alertmanager = http://127.0.0.1:$AM_PORT
CONF
add_center pc-a "Psykiatrisk Center A" "$(pubkey pc-a)" 2024=100000
write_collector_conf pc-a pc-a pc-a

start_aggregator
start_collector pc-a
seen() { [ "$(center_field pc-a last_seen)" != "None" ]; }
wait_for 30 "pc-a seen" seen

alerts_json() { "$PSYMON" alerts -c "$E2E_DIR/aggregator.conf" --json --all; }
# alert_field NAME CENTER FIELD
alert_field() {
    alerts_json | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["alerts"] if x["labels"]["alertname"] == sys.argv[1] and x["labels"]["center"] == sys.argv[2]]
print(json.dumps(a[0][sys.argv[3]]) if a else "none")' "$1" "$2" "$3"
}
payloads() { wc -l <"$E2E_DIR/hook.bodies"; }

# 1. A silence holds the collector's stop back.
SIL=$("$PSYMON" silence add -c "$E2E_DIR/aggregator.conf" --match center=pc-a --duration 1h \
    --author e2e --comment "planned stop")
"$PSYMON" silence list -c "$E2E_DIR/aggregator.conf" | grep -q "$SIL" || fail "silence not listed"
kill -TERM "$PID_pc_a"
firing() { [ "$(alert_field CollectorSilent pc-a state)" = '"firing"' ]; }
wait_for 30 "CollectorSilent firing" firing
[ "$(alert_field CollectorSilent pc-a silenced_by)" = "[\"$SIL\"]" ] || fail "not silenced by $SIL"
"$PSYMON" alerts -c "$E2E_DIR/aggregator.conf" >"$E2E_DIR/alerts.txt"
grep -Eq '^firing +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +[0-9a-f]{16} +CollectorSilent +pc-a ' \
    "$E2E_DIR/alerts.txt" || fail "psymon alerts: no firing row with its time: $(cat "$E2E_DIR/alerts.txt")"
grep -q "silenced by $SIL" "$E2E_DIR/alerts.txt" || fail "psymon alerts does not name the silence"
sleep 6
[ "$(payloads)" -eq 0 ] || fail "a silenced alert was notified"
pass "a silence holds a collector's stop back"

# 2. The silence ends: exactly one firing payload, Alertmanager's v4 shape.
"$PSYMON" silence expire "$SIL" -c "$E2E_DIR/aggregator.conf"
got_one() { [ "$(payloads)" -ge 1 ]; }
wait_for 20 "the firing webhook" got_one
FP=$(alert_field CollectorSilent pc-a fingerprint | tr -d '"')
python3 - "$E2E_DIR/hook.bodies" "$FP" <<'PY' || fail "webhook payload shape"
import json, sys
p = json.loads(open(sys.argv[1]).readline())
assert p["version"] == "4" and p["groupKey"] == sys.argv[2] and p["truncatedAlerts"] == 0, p
assert p["status"] == "firing" and p["receiver"] == "psymon", p
for k in ("groupLabels", "commonLabels", "commonAnnotations", "externalURL"):
    assert k in p, k
assert len(p["alerts"]) == 1
a = p["alerts"][0]
assert set(a) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}, a
assert a["endsAt"] == "0001-01-01T00:00:00Z" and a["fingerprint"] == sys.argv[2]
assert a["labels"] == {"alertname": "CollectorSilent", "center": "pc-a", "severity": "critical",
                       "region": a["labels"]["region"]}, a["labels"]
assert "Psykiatrisk Center A" in a["annotations"]["summary"]
PY
pass "the webhook got the firing alert as Alertmanager's v4 payload"

# 3. Alertmanager shows it with psymon's labels and fingerprint.
in_am() {
    curl -fsS "http://127.0.0.1:$AM_PORT/api/v2/alerts?active=true" | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin) if x["labels"].get("alertname") == "CollectorSilent"]
sys.exit(0 if a and a[0]["fingerprint"] == sys.argv[1] and a[0]["labels"]["center"] == "pc-a" else 1)' "$FP"
}
wait_for 30 "the alert in Alertmanager" in_am
pass "Alertmanager holds the alert with the same fingerprint"

# 3b. /metrics and /api/v1/alerts say what the command line says.
metrics() { curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics"; }
metric() { metrics | sed -n "s/^$1 //p"; }
metrics | grep -qx 'psymon_alert{alertname="CollectorSilent",center="pc-a",severity="critical",region="[^"]*",state="firing"} 1' ||
    fail "no firing psymon_alert for CollectorSilent on /metrics"
[ "$(metric 'psymon_notifications_sent_total{channel="webhook"}')" -ge 1 ] ||
    fail "webhook notifications sent: $(metric 'psymon_notifications_sent_total{channel="webhook"}')"
curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/alerts" >"$E2E_DIR/api.json"
alerts_json >"$E2E_DIR/cli.json"
python3 - "$E2E_DIR/api.json" "$E2E_DIR/cli.json" "$FP" <<'PY' || fail "/api/v1/alerts differs from psymon alerts"
import json, sys
api, cli = (json.load(open(f))["alerts"] for f in sys.argv[1:3])
key = lambda a: (a["fingerprint"], a["state"], json.dumps(a["labels"], sort_keys=True))
assert sorted(map(key, api)) == sorted(map(key, cli)), (api, cli)
assert any(a["fingerprint"] == sys.argv[3] and a["state"] == "firing" for a in api), api
PY
pass "/metrics and /api/v1/alerts show the firing alert"

# 4. kill -9 of the aggregator: no duplicate after the restart.
kill -KILL "$AGG_PID"
wait "$AGG_PID" 2>/dev/null || true
start_aggregator
sleep 12
[ "$(payloads)" -eq 1 ] || fail "$(payloads) payloads after kill -9 (want 1)"
pass "no duplicate notification after kill -9"

# 5. The receiver fails for a while; the resolution arrives once it recovers.
touch "$E2E_DIR/hook.fail"
start_collector pc-a
resolved() { [ "$(alert_field CollectorSilent pc-a state)" = '"resolved"' ]; }
wait_for 30 "CollectorSilent resolved" resolved
sleep 8
[ "$(payloads)" -eq 1 ] || fail "delivered while the receiver failed"
[ "$(metric 'psymon_notifications_failed_total{channel="webhook"}')" -ge 1 ] ||
    fail "the failed deliveries are not counted on /metrics"
rm -f "$E2E_DIR/hook.fail"
got_two() { [ "$(payloads)" -ge 2 ]; }
wait_for 60 "the resolved webhook" got_two
sleep 3
[ "$(payloads)" -eq 2 ] || fail "$(payloads) payloads (want 2)"
sed -n 2p "$E2E_DIR/hook.bodies" | python3 -c '
import json, sys
p = json.loads(sys.stdin.read())
assert p["status"] == "resolved" and p["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z", p' ||
    fail "resolved payload"
pass "a receiver that failed for a while got the resolution once"

# 6. Alertmanager sees it resolved (no longer active).
not_active() { ! in_am; }
wait_for 90 "the alert resolved in Alertmanager" not_active
pass "Alertmanager shows the alert resolved"

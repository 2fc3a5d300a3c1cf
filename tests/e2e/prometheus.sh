#!/usr/bin/env bash
# /metrics as a Prometheus target, with the real Prometheus (Debian 2.42):
# - `promtool check metrics` has nothing to say about the /metrics of an
#   aggregator holding records and collector heartbeats;
# - a regional Prometheus scrapes two aggregators (two regions, two [region]
#   names) and its HTTP API returns psymon's series with the right labels;
# - a national Prometheus federates the regional one's aggregate series via
#   /federate with match[] and holds both regions' KPIs, but not the
#   aggregator-internal ingest counters it did not ask for.
# Every server runs on loopback, on a free port, with its state in the test's
# temporary folder, and is stopped by its pid (lib.sh).
source "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || fail "prometheus is not installed (ops/install-deps.sh)"
command -v promtool >/dev/null || fail "promtool is not installed (ops/install-deps.sh)"

"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key" >/dev/null
# Last month is the KPI windows' month and ends the r12 window: put the records there.
LAST=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
YEAR=${LAST%-*}

# region DIR "REGION NAME" CENTER: keys, an aggregator with one center and its
# collector in $E2E_DIR/DIR, four records in the inbox; both started.
region() {
    local dir=$E2E_DIR/$1 name=$2 center=$3 zmq http
    zmq=$(free_port)
    http=$(free_port)
    mkdir -p "$dir/inbox" "$dir/state"
    (cd "$dir" && "$PSYMON" keygen aggregator >/dev/null && "$PSYMON" keygen "$center" >/dev/null)
    cp "$E2E_DIR/pseudonym.key" "$dir/"
    cat >"$dir/aggregator.conf" <<CONF
[aggregator]
listen = tcp://127.0.0.1:$zmq
secret_key_file = aggregator.key
data_dir = data
http_listen = 127.0.0.1:$http
timezone = Europe/Copenhagen

[region]
name = $name

[center $center]
name = Center $center
public_key = $(cat "$dir/$center.pub")
population.$YEAR = 100000
CONF
    cat >"$dir/collector.conf" <<CONF
[collector]
center = $center
aggregator = tcp://127.0.0.1:$zmq
aggregator_public_key = $(cat "$dir/aggregator.pub")
secret_key_file = $center.key
pseudonym_key_file = pseudonym.key
inbox = inbox
state_dir = state
CONF
    cat >"$dir/inbox/export.ndjson" <<DATA
{"type":"admission","id":"A1","time":"${LAST}-10T10:00:00Z","patient":"010190-1234","mode":"acute"}
{"type":"coercion","id":"C1","time":"${LAST}-10T16:00:00Z","end":"${LAST}-10T19:30:00Z","patient":"010190-1234","admission":"A1","kind":"belt"}
{"type":"discharge","id":"D1","time":"${LAST}-14T10:00:00Z","patient":"010190-1234","admission":"A1"}
{"type":"consultation","id":"K1","time":"${LAST}-12T09:00:00Z","patient":"010190-1234","role":"social_nurse","kind":"action_plan"}
DATA
    "$AGGREGATOR" -c "$dir/aggregator.conf" >>"$E2E_DIR/$1-aggregator.log" 2>&1 &
    E2E_PIDS+=("$!")
    "$COLLECTOR" -c "$dir/collector.conf" >>"$E2E_DIR/$1-collector.log" 2>&1 &
    E2E_PIDS+=("$!")
    eval "HTTP_$1=$http"
}

region ra "Region Hovedstaden" pc-amager
region rb "Region Sjælland" pc-roskilde

up() { curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; }
wait_for 30 "aggregator ra healthy" up "$HTTP_ra"
wait_for 30 "aggregator rb healthy" up "$HTTP_rb"

# delivered DIR CENTER: all four records stored and a heartbeat received.
delivered() {
    "$PSYMON" status -c "$E2E_DIR/$1/aggregator.conf" --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["centers"][0]
sys.exit(0 if c["records"] == 4 and c["backlog"] == 0 and c["version"] else 1)'
}
wait_for 60 "region ra delivered" delivered ra
wait_for 60 "region rb delivered" delivered rb

# psymon status shows what the collector last reported (docs/operations.md).
st=$("$PSYMON" status -c "$E2E_DIR/ra/aggregator.conf")
head -n 1 <<<"$st" | grep -Eq '^center +records +rejected +backlog +version +spool +full +clock +last seen$' ||
    fail "psymon status header: $st"
grep -Eq '^pc-amager +4 +0 +0 +[0-9][^ ]* +[0-9.]+ (B|KiB|MiB) +no +[-+][0-9]+s +[0-9]+s ago$' <<<"$st" ||
    fail "psymon status row: $st"
"$PSYMON" status -c "$E2E_DIR/ra/aggregator.conf" --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["centers"][0]
assert c["spool_bytes"] > 0 and c["spool_full"] is False and isinstance(c["clock_offset_s"], int), c
assert set(c) >= {"center", "records", "rejected", "backlog", "last_seen"}, c' ||
    fail "psymon status --json lacks the collector's report"
pass "psymon status: version, spool, full, clock offset, last seen"

metrics() { curl -fsS "http://127.0.0.1:$1/metrics"; }
has_kpi() { metrics "$1" | grep -q "^psymon_kpi{window=\"month\",center=\"region\",kpi=\"admissions\"} 1.0000$"; }
wait_for 30 "the month's KPIs in /metrics" has_kpi "$HTTP_ra"
pass "records delivered, KPIs of $LAST in /metrics"

# promtool reads the exposition on stdin, prints every lint problem and
# exits non-zero on any; its silence is required too.
metrics "$HTTP_ra" >"$E2E_DIR/metrics.txt"
out=$(promtool check metrics <"$E2E_DIR/metrics.txt" 2>&1) ||
    fail "promtool check metrics complains:"$'\n'"$out"
[ -z "$out" ] || fail "promtool check metrics says:"$'\n'"$out"
pass "promtool check metrics is silent"

# The series people alert on, with stable labels: no period label anywhere.
for want in \
    'psymon_kpi{window="r12",center="pc-amager",kpi="coercion_episodes:belt"} 1.0000' \
    'psymon_kpi{window="month",center="pc-amager",kpi="consultations:social_nurse:action_plan"} 1.0000' \
    'psymon_kpi{window="r12",center="region",kpi="intrusive_target_reduction"} ' \
    'psymon_center_records{center="pc-amager"} 4' \
    'psymon_center_spool_full{center="pc-amager"} 0' \
    'psymon_center_spool_bytes{center="pc-amager"} ' \
    'psymon_center_clock_offset_seconds{center="pc-amager"} ' \
    'psymon_collector_info{center="pc-amager",version="' \
    'psymon_region_info{name="Region Hovedstaden"} 1' \
    'psymon_kpi_window_end_timestamp_seconds{window="month"} ' \
    '# TYPE psymon_records_stored_total counter'; do
    grep -qF -- "$want" "$E2E_DIR/metrics.txt" || fail "/metrics lacks: $want"
done
grep -q 'period=' "$E2E_DIR/metrics.txt" && fail "/metrics still has a period label"
pass "/metrics has the KPI, spool and collector series with stable labels"

# prom NAME CONFIG: starts a Prometheus on a free port with its storage in
# $E2E_DIR/NAME; sets PORT_NAME once it answers /-/ready.
prom() {
    local port
    port=$(free_port)
    printf '%s\n' "$2" >"$E2E_DIR/$1.yml"
    promtool check config "$E2E_DIR/$1.yml" >/dev/null || fail "$1.yml is not a valid configuration"
    prometheus --config.file="$E2E_DIR/$1.yml" --storage.tsdb.path="$E2E_DIR/$1-data" \
        --web.listen-address="127.0.0.1:$port" >>"$E2E_DIR/$1.log" 2>&1 &
    E2E_PIDS+=("$!")
    eval "PORT_$1=$port"
    wait_for 60 "$1 ready" curl -fsS "http://127.0.0.1:$port/-/ready" -o /dev/null
}

prom regional "global:
  scrape_interval: 1s
scrape_configs:
  - job_name: psymon
    static_configs:
      - targets: ['127.0.0.1:$HTTP_ra']
        labels: {region: hovedstaden}
      - targets: ['127.0.0.1:$HTTP_rb']
        labels: {region: sjaelland}"

# query PORT PROMQL: the result vector of an instant query as sorted
# "label=value,... value" lines, without the instance label (a random port).
query() {
    curl -fsS "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
for s in d["data"]["result"]:
    m = s["metric"]
    print(",".join("%s=%s" % (k, m[k]) for k in sorted(m) if k != "instance"), s["value"][1])' |
        sort
}

# sees PORT PROMQL EXPECTED: the query's lines equal EXPECTED. The last
# answer stays in last-query.log, which a failed run prints.
sees() {
    query "$1" "$2" >"$E2E_DIR/last-query.log" || return 1
    [ "$(cat "$E2E_DIR/last-query.log")" = "$3" ]
}

q='psymon_kpi{kpi="admissions",center="region",window="month"}'
want="__name__=psymon_kpi,center=region,job=psymon,kpi=admissions,region=hovedstaden,window=month 1
__name__=psymon_kpi,center=region,job=psymon,kpi=admissions,region=sjaelland,window=month 1"
wait_for 60 "the regional Prometheus to scrape both aggregators" sees "$PORT_regional" "$q" "$want"
pass "regional Prometheus: psymon_kpi of both aggregators"
sees "$PORT_regional" 'psymon_center_records' \
    "__name__=psymon_center_records,center=pc-amager,job=psymon,region=hovedstaden 4
__name__=psymon_center_records,center=pc-roskilde,job=psymon,region=sjaelland 4" ||
    fail "psymon_center_records: $(query "$PORT_regional" psymon_center_records)"
sees "$PORT_regional" 'up{job="psymon"} == 1' \
    "__name__=up,job=psymon,region=hovedstaden 1
__name__=up,job=psymon,region=sjaelland 1" ||
    fail "a scrape failed: $(query "$PORT_regional" up)"
pass "regional Prometheus: psymon_center_records and up for both regions"

# The national tier asks only for aggregate KPIs and the collectors' health.
prom national "global:
  scrape_interval: 1s
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]':
        - '{job=\"psymon\",__name__=~\"psymon_kpi|psymon_kpi_window_.*\"}'
        - '{job=\"psymon\",__name__=~\"psymon_center_.*|psymon_region_info\"}'
    static_configs:
      - targets: ['127.0.0.1:$PORT_regional']"

q='psymon_kpi{kpi="coercion_episodes:belt",center="region",window="r12"}'
want="__name__=psymon_kpi,center=region,job=psymon,kpi=coercion_episodes:belt,region=hovedstaden,window=r12 1
__name__=psymon_kpi,center=region,job=psymon,kpi=coercion_episodes:belt,region=sjaelland,window=r12 1"
wait_for 60 "the national Prometheus to federate both regions" sees "$PORT_national" "$q" "$want"
pass "national Prometheus: both regions' psymon_kpi through /federate"
sees "$PORT_national" 'count by (region) (psymon_region_info)' "region=hovedstaden 1
region=sjaelland 1" || fail "psymon_region_info: $(query "$PORT_national" psymon_region_info)"
[ -z "$(query "$PORT_national" 'psymon_records_stored_total')" ] ||
    fail "the national Prometheus holds series match[] did not ask for"
pass "national Prometheus: only the matched series"

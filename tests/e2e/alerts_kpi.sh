#!/usr/bin/env bash
# The KPI alert rules through the real pipeline: `psymon simulate` writes
# 2021-01-01 until now for three centers, collectors and an aggregator on
# loopback carry it, the model worker builds the model and the alert worker
# evaluates it (no table of facts anywhere):
#   - pc-glostrup deteriorates: its intrusive coercion doubles from four
#     months before the current one (--deteriorate pc-glostrup:M:2). SpcConcern
#     fires for it on intrusive_per_1000_bed_days with psymon's labels, a
#     Danish summary naming the center, the last complete month and the upper
#     control limit, and the value psymon kpi gives for that month;
#     IntrusiveOffTrajectory fires for it too.
#   - pc-koebenhavn does not deteriorate (its coercion falls, as the
#     region's): no SpcConcern on the intrusive KPIs, no IntrusiveOffTrajectory.
#   - pc-amager deteriorates a hundredfold, but only in the current month,
#     which is provisional: its point is beyond the upper limit on the chart
#     (sigma_signal 1, provisional 1), and no alert fires on it.
#   - a threshold rule of one's own (admissions of the last complete quarter,
#     pc-koebenhavn only) fires with the quarter and value psymon kpi prints.
source "$(dirname "$0")/lib.sh"

ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
CENTERS=(pc-glostrup pc-koebenhavn pc-amager)
SEED=20261205

# Months as the aggregator's zone sees them.
month_of() { TZ=Europe/Copenhagen date -d "$1" +%Y-%m; }
CUR=$(month_of "$(TZ=Europe/Copenhagen date +%Y-%m-15)")
LAST=$(month_of "$CUR-15 -1 month")
WORSE=$(month_of "$CUR-15 -4 months")
echo "current month $CUR, last complete month $LAST, pc-glostrup doubles from $WORSE"

# The centers and populations come from the simulator's own table.
keygen aggregator
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"
write_aggregator_conf
printf '\n[region]\nname = Region Hovedstaden\n' >>"$E2E_DIR/aggregator.conf"
while IFS=$'\t' read -r -a f; do
    for c in "${CENTERS[@]}"; do
        [ "${f[0]}" = "$c" ] || continue
        keygen "$c"
        pops=()
        for i in 0 1 2 3 4 5; do pops+=("$((2021 + i))=${f[$((2 + i))]}"); done
        add_center "$c" "${f[1]}" "$(pubkey "$c")" "${pops[@]}"
    done
done < <("$PSYMON" simulate --centers | tail -n +2)
cat >>"$E2E_DIR/aggregator.conf" <<CONF

[target]
intrusive_reduction_pct = 30
baseline_years = 2021,2022,2023
first_month = 2024-01
last_month = 2030-12

[alert KoebenhavnAdmissions]
kind = threshold
kpi = admissions
period = quarter
op = >=
value = 1
centers = pc-koebenhavn
severity = info
CONF

args=()
for c in "${CENTERS[@]}"; do args+=(--center "$c"); done
"$PSYMON" simulate --out "$E2E_DIR/sim" --from 2021-01-01 --to now --seed $SEED "${args[@]}" \
    --deteriorate "pc-glostrup:$WORSE:2" --deteriorate "pc-amager:$CUR:100" \
    >"$E2E_DIR/simulate.log" || fail "psymon simulate failed"
for c in "${CENTERS[@]}"; do
    write_collector_conf "$c" "$c" "$c"
    mv "$E2E_DIR/sim/$c"/* "$E2E_DIR/$c/inbox/"
done

start_aggregator
for c in "${CENTERS[@]}"; do start_collector "$c"; done

# Delivered: every inbox empty, nothing waiting at a collector.
delivered() {
    local c
    for c in "${CENTERS[@]}"; do
        [ -z "$(ls -A "$E2E_DIR/$c/inbox")" ] || return 1
    done
    status_json | python3 -c '
import json, sys
cs = json.load(sys.stdin)["centers"]
sys.exit(0 if len(cs) == 3 and all(c["backlog"] == 0 and c["records"] > 0 for c in cs) else 1)'
}
poll() {
    "$@" && return 0
    sleep 2
    return 1
}
wait_for 420 "the three centers' history delivered" poll delivered
pass "the history of three centers delivered"

alerts_json() { "$PSYMON" alerts -c "$E2E_DIR/aggregator.conf" --json; }
spc_concern() {
    alerts_json | python3 -c '
import json, sys
sys.exit(0 if any(a["labels"]["alertname"] == "SpcConcern" and a["labels"]["center"] == "pc-glostrup"
                  and a["state"] == "firing" for a in json.load(sys.stdin)["alerts"]) else 1)'
}
wait_for 180 "SpcConcern for pc-glostrup" poll spc_concern
# The last commits' model and its evaluation: a build waits 1 s for more
# commits, then the alert worker evaluates at once. Give it ample time.
sleep 15
alerts_json >"$E2E_DIR/alerts.json"
python3 - "$E2E_DIR/alerts.json" <<'PY'
import json, sys
for a in json.load(open(sys.argv[1]))["alerts"]:
    l = a["labels"]
    print(f'  {a["state"]:8} {l["alertname"]:24} {l["center"]:14} {l.get("kpi", ""):28} {a["annotations"]["summary"]}')
PY

# The chart and the month's KPI row, as psymon spc and psymon kpi print them (from the store).
"$PSYMON" spc -c "$E2E_DIR/aggregator.conf" --kpi intrusive_per_1000_bed_days,intrusive_episodes \
    --center all --to "$CUR" --format csv >"$E2E_DIR/spc.csv" || fail "psymon spc failed"
"$PSYMON" kpi -c "$E2E_DIR/aggregator.conf" --period month --from "$LAST" --to "$LAST" \
    --center pc-glostrup --kpi intrusive_per_1000_bed_days --format csv >"$E2E_DIR/kpi.csv" ||
    fail "psymon kpi failed"

# The first month of the quarter before the current one.
PQ=$(python3 -c 'import sys; y, m = map(int, sys.argv[1].split("-")); q = (m - 1) // 3 * 3 + 1 - 3
print(f"{y - 1}-{q + 12:02d}" if q < 1 else f"{y}-{q:02d}")' "$CUR")
"$PSYMON" kpi -c "$E2E_DIR/aggregator.conf" --period quarter --from "$PQ" --to "$PQ" \
    --center pc-koebenhavn --kpi admissions --format csv >"$E2E_DIR/quarter.csv" ||
    fail "psymon kpi --period quarter failed"

python3 - "$E2E_DIR" "$LAST" "$CUR" <<'PY' || fail "the KPI alerts are not what the data say"
import csv, json, sys
d, last, cur = sys.argv[1:4]
months_da = ["januar", "februar", "marts", "april", "maj", "juni", "juli", "august",
             "september", "oktober", "november", "december"]
alerts = json.load(open(d + "/alerts.json"))["alerts"]
spc = list(csv.DictReader(open(d + "/spc.csv")))
kpi = list(csv.DictReader(open(d + "/kpi.csv")))
bad = 0
def check(ok, what):
    global bad
    print(("ok: " if ok else "FAIL: ") + what)
    bad += not ok
def find(name, center, kpi=None):
    return [a for a in alerts if a["labels"]["alertname"] == name and a["labels"]["center"] == center
            and (kpi is None or a["labels"].get("kpi") == kpi)]
def row(center, k, period):
    r = [x for x in spc if x["center"] == center and x["kpi"] == k and x["period"] == period]
    return r[0] if r else None

# 1. pc-glostrup: SpcConcern on intrusive_per_1000_bed_days, about the last complete month.
a = find("SpcConcern", "pc-glostrup", "intrusive_per_1000_bed_days")
check(len(a) == 1 and a[0]["state"] == "firing", "SpcConcern fires for pc-glostrup intrusive_per_1000_bed_days")
if a:
    a = a[0]
    l, an = a["labels"], a["annotations"]
    check(l == {"alertname": "SpcConcern", "center": "pc-glostrup", "severity": "warning",
                "kpi": "intrusive_per_1000_bed_days", "region": "Region Hovedstaden"},
          f"its labels: {l}")
    check(an["period"] == last, f"its period {an['period']} is the last complete month {last}")
    y, m = last.split("-")
    want = f"Psykiatrisk Center Glostrup: "
    s = an["summary"]
    check(s.startswith(want) and f"episoder med indgribende tvang pr. 1000 sengedage i {months_da[int(m) - 1]} {y}" in s
          and "over den øvre kontrolgrænse" in s, f"its Danish summary: {s}")
    r = row("pc-glostrup", "intrusive_per_1000_bed_days", last)
    k = [x for x in kpi if x["period"] == last]
    check(r is not None and r["provisional"] == "0" and r["assessment"] == "concern"
          and float(r["value"]) > float(r["ucl"]),
          f"psymon spc agrees: {last} value {r and r['value']} above ucl {r and r['ucl']}, assessment {r and r['assessment']}")
    check(bool(k) and abs(float(an["value"]) - float(k[0]["value"])) < 0.051,
          f"its value {an['value']} is psymon kpi's {k and k[0]['value']}")
    check(a["annotations"]["dashboard"].endswith("center/pc-glostrup#kpi-intrusive_per_1000_bed_days"),
          f"its dashboard link {an['dashboard']}")
check(len(find("IntrusiveOffTrajectory", "pc-glostrup")) == 1, "IntrusiveOffTrajectory fires for pc-glostrup")

# 2. pc-koebenhavn: nothing about intrusive coercion.
for k in ("intrusive_per_1000_bed_days", "intrusive_episodes"):
    check(not find("SpcConcern", "pc-koebenhavn", k), f"no SpcConcern for pc-koebenhavn {k}")
    r = row("pc-koebenhavn", k, last)
    check(r is not None and r["assessment"] != "concern", f"psymon spc: pc-koebenhavn {k} assessment {r and r['assessment']}")
check(not find("IntrusiveOffTrajectory", "pc-koebenhavn"), "no IntrusiveOffTrajectory for pc-koebenhavn")

# 3. pc-amager: a provisional month beyond the limit fires nothing.
for k in ("intrusive_per_1000_bed_days", "intrusive_episodes"):
    r = row("pc-amager", k, cur)
    check(r is not None and r["provisional"] == "1", f"pc-amager {k} {cur} is provisional")
    if r is not None and r["sigma_signal"] == "1":
        print(f"ok: pc-amager {k} {cur}: value {r['value']} beyond ucl {r['ucl']} (sigma_signal 1)")
    else:
        # Only in the first hours of a month can a hundredfold rate still lie within the limits.
        print(f"note: pc-amager {k} {cur} is not yet beyond its limit ({r and r['value']} / {r and r['ucl']}); "
              "the check below cannot fail this time")
    check(not find("SpcConcern", "pc-amager", k), f"no SpcConcern for pc-amager {k}")
    check(all(x["assessment"] != "concern" for x in spc if x["center"] == "pc-amager" and x["kpi"] == k),
          f"psymon spc: pc-amager {k} is no concern")
# 4. The threshold rule: the last complete quarter, pc-koebenhavn only.
q = list(csv.DictReader(open(d + "/quarter.csv")))
a = find("KoebenhavnAdmissions", "pc-koebenhavn")
check(len(a) == 1 and len(q) == 1 and a[0]["state"] == "firing"
      and a[0]["labels"].get("kpi") == "admissions" and a[0]["labels"]["severity"] == "info"
      and a[0]["annotations"]["period"] == q[0]["period"] and a[0]["annotations"]["value"] == q[0]["value"],
      f"KoebenhavnAdmissions fires for {q and q[0]['period']} with psymon kpi's {q and q[0]['value']}: "
      f"{a and (a[0]['annotations']['period'], a[0]['annotations']['value'])}")
check(not find("KoebenhavnAdmissions", "pc-glostrup") and not find("KoebenhavnAdmissions", "region"),
      "KoebenhavnAdmissions fires for no other level")
sys.exit(1 if bad else 0)
PY
# Every alert's dashboard link opens its chart: the page answers and holds the anchor.
python3 - "$E2E_DIR/alerts.json" >"$E2E_DIR/links" <<'PY'
import json, sys
for a in json.load(open(sys.argv[1]))["alerts"]:
    print(a["annotations"]["dashboard"])
PY
[ -s "$E2E_DIR/links" ] || fail "no alert has a dashboard link"
while read -r link; do
    url=${link%%#*} anchor=${link#*#}
    [ "$anchor" != "$link" ] || fail "the link $link names no place on its page"
    case $url in http*) ;; *) url="http://127.0.0.1:$HTTP_PORT$url" ;; esac
    curl -fsS "$url" >"$E2E_DIR/page.html" || fail "$link: the page does not answer"
    grep -q "id=\"$anchor\"" "$E2E_DIR/page.html" || fail "$link: the page has no id=\"$anchor\""
done <"$E2E_DIR/links"
pass "SpcConcern fires for the deteriorating center only, and never on a provisional month"

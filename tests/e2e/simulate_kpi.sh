#!/usr/bin/env bash
# The simulated region through the real pipeline (clarifications.md,
# "Walking skeleton"): `psymon simulate` writes 2021-2025 (2021-2022 under the sanitizers) for the eight
# centers, eight collectors and an aggregator on loopback carry it, and
# `psymon kpi` must then show, per year and for the region, about 10,500
# admitted persons (+-15 %), a 30-day readmission rate of 18-28 %, belt
# fixations falling year on year, and a median belt duration of 6-14 h.
source "$(dirname "$0")/lib.sh"

SEED=20260101
# Under the sanitizers every daemon runs several times slower: two years
# still check every rule (the belt trend once), in a fraction of the time.
LAST_YEAR=2025
if [ "${PSY_SANITIZE:-OFF}" = ON ]; then
    LAST_YEAR=2022
fi
NYEARS=$((LAST_YEAR - 2020))
ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)

# The centers and populations come from the simulator's own table.
mapfile -t CENTER_LINES < <("$PSYMON" simulate --centers | tail -n +2)
CENTERS=()
keygen aggregator
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"
{
    cat <<CONF
[aggregator]
listen = tcp://127.0.0.1:$ZMQ_PORT
secret_key_file = aggregator.key
data_dir = data
http_listen = 127.0.0.1:$HTTP_PORT
timezone = Europe/Copenhagen
CONF
    for line in "${CENTER_LINES[@]}"; do
        IFS=$'\t' read -r -a f <<<"$line"
        if [ "${f[0]}" = region ]; then
            printf '\n[region]\nname = %s\n' "${f[1]}"
        else
            keygen "${f[0]}"
            CENTERS+=("${f[0]}")
            printf '\n[center %s]\nname = %s\npublic_key = %s\n' "${f[0]}" "${f[1]}" "$(pubkey "${f[0]}")"
        fi
        for i in 0 1 2 3 4 5; do
            printf 'population.%d = %s\n' $((2021 + i)) "${f[$((2 + i))]}"
        done
    done
} >"$E2E_DIR/aggregator.conf"
[ ${#CENTERS[@]} = 8 ] || fail "psymon simulate --centers lists ${#CENTERS[@]} centers, not 8"

# Generate, and count what the aggregator must end up holding: distinct ids
# of the valid records, and the deliberately bad ones.
"$PSYMON" simulate --out "$E2E_DIR/sim" --from 2021-01-01 --to $LAST_YEAR-12-31 --seed $SEED \
    >"$E2E_DIR/simulate.log" || fail "psymon simulate failed"
declare -A WANT_RECORDS WANT_REJECTED
for c in "${CENTERS[@]}"; do
    read -r WANT_RECORDS[$c] WANT_REJECTED[$c] < <(python3 - "$E2E_DIR/sim/$c" <<'PY'
import csv, json, os, sys
d = sys.argv[1]
ids, bad = set(), 0
for fn in sorted(os.listdir(d)):
    p = os.path.join(d, fn)
    if fn.endswith(".ndjson"):
        rows = [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]
    else:
        rows = list(csv.DictReader(open(p, newline="", encoding="utf-8")))
    for r in rows:
        if r["id"].startswith("BAD-"):
            bad += 1
        else:
            ids.add(r["id"])
print(len(ids), bad)
PY
    )
    write_collector_conf "$c" "$c" "$c"
    mv "$E2E_DIR/sim/$c"/* "$E2E_DIR/$c/inbox/"
done
echo "generated: $(tail -n 8 "$E2E_DIR/simulate.log" | awk '{s += $4} END {print s}') records"

start_aggregator
for c in "${CENTERS[@]}"; do start_collector "$c"; done

# Done when every inbox is empty and the aggregator holds exactly what was
# generated, with no backlog.
delivered() {
    local c json
    for c in "${CENTERS[@]}"; do
        [ -z "$(ls -A "$E2E_DIR/$c/inbox")" ] || return 1
    done
    json=$(status_json) || return 1
    python3 - "$json" "${CENTERS[@]}" <<PY
import json, sys
want = {$(for c in "${CENTERS[@]}"; do printf '"%s": (%s, %s), ' "$c" "${WANT_RECORDS[$c]}" "${WANT_REJECTED[$c]}"; done)}
got = {x["center"]: x for x in json.loads(sys.argv[1])["centers"]}
ok = all(c in got and got[c]["backlog"] == 0 and got[c]["records"] == want[c][0]
         and got[c]["rejected"] == want[c][1] for c in sys.argv[2:])
sys.exit(0 if ok else 1)
PY
}
poll_delivered() {
    delivered && return 0
    sleep 2
    return 1
}
end=$((SECONDS + 420))
until poll_delivered; do
    if [ $SECONDS -ge $end ]; then
        echo "status: $(status_json)" >&2
        for c in "${CENTERS[@]}"; do
            echo "$c: want records ${WANT_RECORDS[$c]} rejected ${WANT_REJECTED[$c]}; inbox $(ls "$E2E_DIR/$c/inbox" | wc -l) files" >&2
        done
        fail "the pipeline did not deliver the simulated region within 420 s"
    fi
done
pass "every center delivered: records and rejected counts equal what was generated, backlog 0"

for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${E2E_PIDS[@]}"; do wait "$pid" || fail "a daemon exited non-zero on SIGTERM"; done
E2E_PIDS=()

kpi=$("$PSYMON" kpi -c "$E2E_DIR/aggregator.conf" --period year --from 2021-01 --to $LAST_YEAR-12 \
    --center region --kpi patients,readmission_rate_30d,coercion_episodes:belt,belt_median_hours \
    --format csv --as-of 2026-06-01T00:00:00Z) || fail "psymon kpi failed"
echo "$kpi"
[ "$(head -n 1 <<<"$kpi")" = "period,center,kpi,value,numerator,denominator,provisional" ] ||
    fail "unexpected CSV header"
[ "$(tail -n +2 <<<"$kpi" | wc -l)" = $((NYEARS * 4)) ] ||
    fail "expected $((NYEARS * 4)) rows ($NYEARS years x 4 KPIs)"

value() { awk -F, -v p="$1" -v k="$2" '$1 == p && $2 == "region" && $3 == k {print $4}' <<<"$kpi"; }
# in_range X LO HI: LO <= X <= HI, X a number
in_range() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN {exit !(x != "" && x + 0 == x && x >= lo && x <= hi)}'; }

failures=0
check() {
    if "$@"; then echo "ok: ${CHECK_WHAT}"; else
        echo "FAIL: ${CHECK_WHAT}" >&2
        failures=$((failures + 1))
    fi
}
prev_belt=""
for y in $(seq 2021 $LAST_YEAR); do
    patients=$(value "$y" patients)
    readm=$(value "$y" readmission_rate_30d)
    belt=$(value "$y" coercion_episodes:belt)
    median=$(value "$y" belt_median_hours)
    CHECK_WHAT="$y patients $patients within 10500 +-15 % [8925, 12075]"
    check in_range "$patients" 8925 12075
    CHECK_WHAT="$y readmission_rate_30d $readm in [18, 28]"
    check in_range "$readm" 18 28
    CHECK_WHAT="$y belt_median_hours $median in [6, 14]"
    check in_range "$median" 6 14
    if [ -n "$prev_belt" ]; then
        CHECK_WHAT="$y coercion_episodes:belt $belt < $((y - 1))'s $prev_belt"
        check in_range "$belt" 0 $((prev_belt - 1))
    else
        CHECK_WHAT="$y coercion_episodes:belt $belt is a count above 0"
        check in_range "$belt" 1 1000000
    fi
    prev_belt=$belt
done
[ $failures = 0 ] || fail "$failures check(s) failed"
echo "simulate_kpi: all checks passed"

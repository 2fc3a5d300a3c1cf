#!/usr/bin/env bash
# The dashboard in a real browser (dashboard.md; clarifications.md: Debian's
# chromium, headless). Three simulated centers carry their history from 2021
# through an aggregator; one of them (pc-bornholm) stopped delivering data
# three months ago. Then every page must load in chromium with lang="da",
# reference only same-origin resources that all load, carry the data-
# attributes of dashboard.md, show the stopped center as incomplete (never
# good), work in English with ?lang=en, and the monthly report must print
# to a PDF of several A4 pages. pc-bornholm's collector is then stopped: its
# CollectorSilent alert (for = 20s here, so that a heartbeat late on a
# loaded machine fires nothing) must show on /alerts, on the center's page
# and in the overview's count, and an acknowledgement must show within one
# evaluation. Screenshots of every page are written to
# $PSY_BUILD_DIR/artifacts/screenshots/ for CI to keep.
source "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null || fail "chromium is not installed (ops/install-deps.sh installs it)"
command -v pdfinfo >/dev/null || fail "pdfinfo is not installed (poppler-utils)"

SHOTS="$PSY_BUILD_DIR/artifacts/screenshots"
mkdir -p "$SHOTS"
ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
BASE="http://127.0.0.1:$HTTP_PORT"
TODAY=$(date -u +%F)
# The stopped center's last day: the end of the month three months before this one.
STOPPED_TO=$(python3 -c 'import datetime as d; t=d.date.today().replace(day=1)
for _ in range(3): t=(t-d.timedelta(days=1)).replace(day=1)
print((t-d.timedelta(days=1)).isoformat())')
# The month the pages speak of: the last complete one.
LAST_MONTH=$(python3 -c 'import datetime as d; t=d.date.today().replace(day=1)-d.timedelta(days=1); print(t.strftime("%Y-%m"))')
CENTERS=(pc-amager buc pc-bornholm)

keygen aggregator
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"
write_aggregator_conf
printf '\n[region]\nname = Region Hovedstaden\n\n[alert CollectorSilent]\nfor = 20s\n' \
    >>"$E2E_DIR/aggregator.conf"
mapfile -t CENTER_LINES < <("$PSYMON" simulate --centers | tail -n +2)
for line in "${CENTER_LINES[@]}"; do
    IFS=$'\t' read -r -a f <<<"$line"
    case " ${CENTERS[*]} " in *" ${f[0]} "*) ;; *) continue ;; esac
    keygen "${f[0]}"
    add_center "${f[0]}" "${f[1]}" "$(pubkey "${f[0]}")" 2021="${f[2]}" 2022="${f[3]}" \
        2023="${f[4]}" 2024="${f[5]}" 2025="${f[6]}" 2026="${f[7]}"
done

"$PSYMON" simulate --out "$E2E_DIR/sim" --center pc-amager --center buc --seed 11 --to "$TODAY" \
    >"$E2E_DIR/simulate.log" || fail "psymon simulate failed"
"$PSYMON" simulate --out "$E2E_DIR/sim" --center pc-bornholm --seed 11 --to "$STOPPED_TO" \
    >>"$E2E_DIR/simulate.log" || fail "psymon simulate failed"
for c in "${CENTERS[@]}"; do
    write_collector_conf "$c" "$c" "$c"
    mv "$E2E_DIR/sim/$c"/* "$E2E_DIR/$c/inbox/"
done
start_aggregator
for c in "${CENTERS[@]}"; do start_collector "$c"; done

delivered() {
    local c
    for c in "${CENTERS[@]}"; do
        [ -z "$(ls -A "$E2E_DIR/$c/inbox")" ] || return 1
        [ "$(center_field "$c" backlog 2>/dev/null)" = 0 ] || return 1
    done
}
wait_for 400 "the simulated centers to be delivered" delivered
pass "three centers delivered (pc-bornholm's data stop at $STOPPED_TO)"

# The stopped center's collector stops too: CollectorSilent fires for it.
alerts_json() { "$PSYMON" alerts -c "$E2E_DIR/aggregator.conf" --json --all; }
# alert_field NAME CENTER FIELD: a field of the alert, as JSON; "none" when absent.
alert_field() {
    alerts_json | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["alerts"] if x["labels"]["alertname"] == sys.argv[1] and x["labels"]["center"] == sys.argv[2]]
print(json.dumps(a[0][sys.argv[3]]) if a else "none")' "$1" "$2" "$3"
}
kill -TERM "$PID_pc_bornholm"
silent_firing() { [ "$(alert_field CollectorSilent pc-bornholm state)" = '"firing"' ]; }
wait_for 90 "CollectorSilent firing for pc-bornholm" silent_firing
pass "pc-bornholm's collector stopped: CollectorSilent fires"

# chromium PAGE [ARGS...]: runs headless Chromium on BASE/PAGE with its own profile.
browse() {
    local url=$BASE$1
    shift
    timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --hide-scrollbars \
        --user-data-dir="$E2E_DIR/chromium" "$@" "$url" 2>>"$E2E_DIR/chromium.log"
}

# check_dom NAME PAGE LANG: loads PAGE, checks its language and that every
# resource it names is same-origin and loads; leaves the DOM in NAME.html.
check_dom() {
    local name=$1 page=$2 lang=$3 dom="$E2E_DIR/$1.html"
    browse "$page" --dump-dom >"$dom" || fail "$page: chromium could not load it"
    grep -q "<html lang=\"$lang\">" "$dom" || fail "$page: no <html lang=\"$lang\">"
    python3 - "$dom" "$BASE" "$page" <<'PY' || fail "$page: a resource is not same-origin or fails"
import re, sys, urllib.request, html
dom, base, page = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(dom, encoding="utf-8").read()
bad = []
for attr, url in re.findall(r'\s(src|href)="([^"]*)"', text):
    url = html.unescape(url)
    if url.startswith("data:") or url.startswith("#"):
        continue
    if re.match(r"^[a-z]+:", url) or url.startswith("//"):
        if attr == "src" or not url.startswith(base):
            bad.append(url)
        continue
    if attr == "src":  # everything the browser fetches must load
        full = base + url if url.startswith("/") else base + page.split("?")[0] + url
        try:
            with urllib.request.urlopen(full, timeout=30) as r:
                if r.status != 200:
                    bad.append(f"{url}: {r.status}")
        except Exception as e:
            bad.append(f"{url}: {e}")
if "<script" in text:
    bad.append("a <script> element")
for b in bad:
    print(f"{page}: {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
    # The stylesheet is inline, icons and charts are inline SVG: nothing else to fetch.
    pass "$page loads in chromium, lang=$lang, only same-origin resources that load"
}

shot() {
    browse "$2" --screenshot="$SHOTS/$1.png" --window-size="${3:-1280,2000}" >/dev/null ||
        fail "$2: no screenshot"
    [ -s "$SHOTS/$1.png" ] || fail "$2: empty screenshot"
}

# alert_row DOM NAME CENTER STATE: the DOM has an alert row with these data attributes.
alert_row() {
    python3 - "$@" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
name, center, state = sys.argv[2:5]
rows = re.findall(r'<tr class="alert" data-alertname="([^"]+)" data-center="([^"]+)" '
                  r'data-severity="([^"]+)" data-state="([^"]+)" data-fingerprint="([0-9a-f]{16})">'
                  r'(.*?)</tr>', text, re.S)
ok = [r for r in rows if r[0] == name and r[1] == center and r[3] == state]
if not ok:
    print(f"no {name} {center} {state} row among {[(r[0], r[1], r[3]) for r in rows]}", file=sys.stderr)
    sys.exit(1)
sys.exit(0)
PY
}

# Every page, in Danish, loads.
check_dom overview / da
check_dom region /center/region da
check_dom amager /center/pc-amager da
check_dom bornholm /center/pc-bornholm da
check_dom kpi /kpi/intrusive_episodes da
check_dom kpi_readm /kpi/readmission_rate_30d da
check_dom alerts /alerts da
check_dom collectors /collectors da
check_dom report "/report/$LAST_MONTH" da
check_dom overview_en "/?lang=en" en
check_dom center_en "/center/buc?lang=en" en
check_dom alerts_en "/alerts?lang=en" en

# The alert, as the browser sees it: on /alerts, in Danish, with its data attributes.
alert_row "$E2E_DIR/alerts.html" CollectorSilent pc-bornholm firing ||
    fail "/alerts: no firing CollectorSilent row for pc-bornholm"
python3 - "$E2E_DIR/alerts.html" "$E2E_DIR/alerts_en.html" <<'PY' || fail "/alerts: words, links or language wrong"
import re, sys
da = open(sys.argv[1], encoding="utf-8").read()
en = open(sys.argv[2], encoding="utf-8").read()
row = re.search(r'<tr class="alert" data-alertname="CollectorSilent" data-center="pc-bornholm".*?</tr>', da, re.S).group(0)
errors = []
for want in ["data-severity=\"critical\"", "aktiv", "Ingen data fra centrets opsamler", "kritisk",
             "Psykiatrisk Center Bornholm", 'href="/collectors#c-pc-bornholm"', " kl. "]:
    if want not in row:
        errors.append(f"Danish row lacks {want!r}: {row}")
row_en = re.search(r'<tr class="alert" data-alertname="CollectorSilent" data-center="pc-bornholm".*?</tr>', en, re.S).group(0)
for want in ["firing", "No data from the center's collector", "critical", 'href="/collectors?lang=en#c-pc-bornholm"']:
    if want not in row_en:
        errors.append(f"English row lacks {want!r}: {row_en}")
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
alert_row "$E2E_DIR/bornholm.html" CollectorSilent pc-bornholm firing ||
    fail "pc-bornholm's page does not list its alert"
if grep -q 'data-alertname="CollectorSilent" data-center="pc-bornholm"' "$E2E_DIR/amager.html"; then
    fail "pc-amager's page lists pc-bornholm's alert"
fi
grep -Eq 'class="banner alerts-summary" data-firing="[1-9]' "$E2E_DIR/overview.html" ||
    fail "the overview does not count the firing alert"
pass "/alerts, the center's page and the overview show the CollectorSilent alert (da and en)"

# An acknowledgement shows on the page within one evaluation.
FP=$(alert_field CollectorSilent pc-bornholm fingerprint | tr -d '"')
"$PSYMON" alerts ack "$FP" -c "$E2E_DIR/aggregator.conf" --author "Driften" \
    --comment "Opsamleren flyttes til ny server" >/dev/null || fail "psymon alerts ack failed"
acked_on_page() {
    browse /alerts --dump-dom >"$E2E_DIR/alerts_ack.html" &&
        alert_row "$E2E_DIR/alerts_ack.html" CollectorSilent pc-bornholm acknowledged 2>/dev/null
}
wait_for 60 "the acknowledgement on /alerts" acked_on_page
grep -q 'Kvitteret af Driften: Opsamleren flyttes til ny server' "$E2E_DIR/alerts_ack.html" ||
    fail "/alerts does not say who acknowledged"
"$PSYMON" alerts -c "$E2E_DIR/aggregator.conf" |
    grep -Eq '^ +acknowledged by Driften at [0-9T:-]+Z: Opsamleren flyttes til ny server$' ||
    fail "psymon alerts does not say who acknowledged"
pass "the acknowledged alert shows as acknowledged, with who and why"

# The overview: a figure per level and headline KPI, with the attributes of dashboard.md.
python3 - "$E2E_DIR/overview.html" "$LAST_MONTH" <<'PY' || fail "overview: figures or states are wrong"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
month = sys.argv[2]
cells = re.findall(r'<td class="fig" data-center="([^"]+)" data-kpi="([^"]+)" '
                   r'data-period="([^"]+)" data-state="([^"]+)"', text)
headline = ["intrusive_per_100k", "intrusive_episodes", "intrusive_per_1000_bed_days",
            "belt_over_48h", "readmission_rate_30d", "self_discharge_share",
            "wait_within_60d_share", "referrals_overdue", "consultations"]
errors = []
for level in ["region", "pc-amager", "buc", "pc-bornholm"]:
    for k in headline:
        got = [c for c in cells if c[0] == level and c[1] == k]
        want_period = ("r12:" if k == "intrusive_per_100k" else "") + month
        if len(got) != 1 or got[0][2] != want_period:
            errors.append(f"{level} {k}: {got}")
            continue
        state = got[0][3]
        if state not in ("incomplete", "provisional", "good", "bad", "neutral"):
            errors.append(f"{level} {k}: state {state}")
        # The stopped center, and with it the region, is incomplete: never good.
        if level in ("pc-bornholm", "region") and state != "incomplete":
            errors.append(f"{level} {k}: {state}, want incomplete")
        if level in ("pc-amager", "buc") and state == "incomplete":
            errors.append(f"{level} {k}: incomplete, but its data are complete")
if 'Bæltefikseringer over 48 timer' not in text or "belt_over_48h<" in text:
    errors.append("KPI names are not Danish")
if not re.search(r'data-center="pc-bornholm" data-complete="false"', text):
    errors.append("pc-bornholm not marked incomplete in the data column")
if not re.search(r'data-center="pc-amager" data-complete="true"', text):
    errors.append("pc-amager not marked complete")
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
pass "overview: 4 levels x 9 headline figures with data-center/kpi/period/state; the stopped center and the region are incomplete"

grep -q 'data-complete="false"' "$E2E_DIR/bornholm.html" || fail "pc-bornholm's page does not say its data are incomplete"
grep -q 'ufuldstændige' "$E2E_DIR/bornholm.html" || fail "pc-bornholm's page has no Danish incompleteness note"
grep -q 'data-complete="true"' "$E2E_DIR/amager.html" || fail "pc-amager's page does not say its data are complete"
grep -q 'class="pt' "$E2E_DIR/amager.html" || fail "pc-amager's page has no chart points"
grep -q 'class="rate"' "$E2E_DIR/amager.html" || fail "pc-amager's page has no r12 rate chart"
[ "$(grep -o '<figure class="multiple"' "$E2E_DIR/kpi.html" | wc -l)" = 3 ] ||
    fail "/kpi/intrusive_episodes: not one small multiple per center"
pass "center pages state completeness; the KPI page has one chart per center"

grep -q 'Overview' "$E2E_DIR/overview_en.html" || fail "?lang=en: no English heading"
grep -q 'Belt fixations over 48 hours' "$E2E_DIR/overview_en.html" || fail "?lang=en: KPI names not English"
pass "?lang=en gives the pages in English"

# CSV of every table.
for page in / /center/region /center/buc /kpi/intrusive_episodes /alerts /collectors "/report/$LAST_MONTH"; do
    sep='?'
    case $page in *\?*) sep='&' ;; esac
    hdr=$(curl -fsS -D - -o "$E2E_DIR/page.csv" "$BASE$page${sep}format=csv") || fail "$page: no CSV"
    grep -qi '^content-type: text/csv' <<<"$hdr" || fail "$page: CSV has the wrong type"
    head -n 1 "$E2E_DIR/page.csv" | grep -q '^[a-z_]*,[a-z_,]*$' || fail "$page: CSV has no header"
    [ "$(wc -l <"$E2E_DIR/page.csv")" -ge 2 ] || fail "$page: CSV has no rows"
done
pass "every page's table downloads as CSV"
curl -fsS "$BASE/alerts?format=csv" | grep -q '^acknowledged,CollectorSilent,pc-bornholm,,critical,' ||
    fail "/alerts CSV: no acknowledged CollectorSilent row for pc-bornholm"

# The report prints to a PDF of several A4 pages.
browse "/report/$LAST_MONTH" --print-to-pdf="$SHOTS/report-$LAST_MONTH.pdf" --no-pdf-header-footer \
    >/dev/null || fail "the report does not print"
info=$(pdfinfo "$SHOTS/report-$LAST_MONTH.pdf") || fail "pdfinfo cannot read the report"
pages=$(awk '/^Pages:/ {print $2}' <<<"$info")
[ "${pages:-0}" -ge 4 ] || fail "the report printed to $pages page(s), want at least 4"
grep -Eq '^Page size: +59[0-9](\.[0-9]+)? x 84[0-9]' <<<"$info" || fail "the report is not A4: $(grep 'Page size' <<<"$info")"
pass "the report prints to $pages A4 pages"

# Screenshots of every page, and the overview on a phone.
shot overview /
shot overview-en "/?lang=en"
shot center-region /center/region 1280,4200
shot center-amager /center/pc-amager 1280,4200
shot center-bornholm /center/pc-bornholm 1280,2000
shot kpi-intrusive_episodes /kpi/intrusive_episodes 1280,2000
shot alerts /alerts 1280,1300
shot alerts-en "/alerts?lang=en" 1280,1300
shot collectors /collectors 1280,900
shot report "/report/$LAST_MONTH" 1280,3000
shot overview-phone / 390,1600
# The daily librrd graphs, as the center pages show them.
# buc has the longest name (titles must fit); shorter spans label days and months.
for g in pc-amager:coercion pc-amager:activity pc-amager:beds pc-amager:readmission \
    pc-amager:rate region:coercion region:rate buc:activity buc:coercion:60 buc:activity:300; do
    IFS=: read -r c what days <<<"$g"
    png="$SHOTS/graph-$c-$what${days:+-${days}d}.png"
    curl -fsS -o "$png" "$BASE/graph/$c.png?what=$what${days:+&days=$days}" ||
        fail "/graph/$c.png?what=$what${days:+&days=$days} does not load"
    [ "$(head -c 4 "$png" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "$png is not a PNG"
done
pass "screenshots in $SHOTS"
echo "dashboard: all checks passed"

#!/usr/bin/env bash
# The systemd units in ops/systemd are valid and hardened: `systemd-analyze
# verify` accepts them without a single warning, and the offline security
# analysis rates each at most 2.0 ("OK"). systemd does not run in CI, so each
# unit is copied into a temporary folder with ExecStart pointing at the
# freshly built daemon (verify checks that ExecStart exists). Also checks
# the settings issue 3 asks for, so that none is dropped by accident.
source "$(dirname "$0")/lib.sh"

: "${PSY_SOURCE_DIR:?set PSY_SOURCE_DIR to the source folder}"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed"

for unit in psymon-collector psymon-aggregator; do
    src="$PSY_SOURCE_DIR/ops/systemd/$unit.service"
    [ -f "$src" ] || fail "$src is missing"
    case $unit in
    psymon-collector) bin=$COLLECTOR ;;
    psymon-aggregator) bin=$AGGREGATOR ;;
    esac
    [ -x "$bin" ] || fail "$bin is not built"
    grep -q "^ExecStart=/usr/sbin/$unit " "$src" || fail "$unit: ExecStart is not /usr/sbin/$unit"
    sed "s#^ExecStart=/usr/sbin/$unit #ExecStart=$bin #" "$src" >"$E2E_DIR/$unit.service"

    out=$(cd "$E2E_DIR" && systemd-analyze verify --man=no "./$unit.service" 2>&1) ||
        fail "$unit: systemd-analyze verify failed:"$'\n'"$out"
    [ -z "$out" ] || fail "$unit: systemd-analyze verify warns:"$'\n'"$out"
    pass "$unit: systemd-analyze verify is silent"

    for want in Type=notify WatchdogSec= Restart=always User=psymon ProtectSystem=strict \
        ReadWritePaths= StateDirectory= NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes \
        PrivateDevices=yes RestrictAddressFamilies= CapabilityBoundingSet= SystemCallFilter=; do
        case $want in
        ReadWritePaths=) [ $unit = psymon-aggregator ] && continue ;; # StateDirectory suffices
        esac
        grep -q "^$want" "$src" || fail "$unit: no $want"
    done
    pass "$unit: notify, watchdog, restart, unprivileged user and hardening present"

    sec=$(systemd-analyze security --offline=yes --threshold=20 "$E2E_DIR/$unit.service" 2>&1) ||
        fail "$unit: exposure above 2.0:"$'\n'"$(tail -n 3 <<<"$sec")"
    pass "$unit: $(grep -o 'Overall exposure level.*' <<<"$sec")"
done

# The daemons really speak sd_notify: READY=1 at start, WATCHDOG=1 when
# WATCHDOG_USEC asks for it, STOPPING=1 on SIGTERM. A Python datagram socket
# plays systemd.
ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
keygen aggregator
keygen pc-a
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"
write_aggregator_conf
add_center pc-a "Center A" "$(pubkey pc-a)" 2024=100000
write_collector_conf pc-a pc-a pc-a

# notify_check NAME CMD...: runs CMD under a fake NOTIFY_SOCKET, SIGTERMs it
# once READY=1 and WATCHDOG=1 came, and checks STOPPING=1 and exit 0.
notify_check() {
    local name=$1
    shift
    python3 - "$E2E_DIR/$name.notify" "$E2E_DIR/$name.log" "$@" <<'PY' || fail "$name: sd_notify"
import os, signal, socket, subprocess, sys, time
path, log, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(1.0)
env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="2000000")
with open(log, "ab") as lf:
    p = subprocess.Popen(cmd, env=env, stdout=lf, stderr=lf)
    seen, deadline = set(), time.time() + 60
    while time.time() < deadline and not {"READY=1", "WATCHDOG=1"} <= seen:
        try:
            seen.update(s.recv(4096).decode().split("\n"))
        except socket.timeout:
            if p.poll() is not None:
                break
    if not {"READY=1", "WATCHDOG=1"} <= seen:
        p.kill()
        sys.exit("no READY=1 and WATCHDOG=1 within 60 s: %s" % sorted(seen))
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=20)  # a timeout, not a speed test
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("still running 20 s after SIGTERM")
    try:
        while True:
            seen.update(s.recv(4096).decode().split("\n"))
    except socket.timeout:
        pass
    if "STOPPING=1" not in seen or rc != 0:
        sys.exit("exit %d, messages %s" % (rc, sorted(seen)))
PY
    pass "$name: READY=1, WATCHDOG=1, and STOPPING=1 with exit 0 on SIGTERM"
}
notify_check aggregator "$AGGREGATOR" -c "$E2E_DIR/aggregator.conf"
notify_check collector "$COLLECTOR" -c "$E2E_DIR/pc-a.conf"
echo "units: all checks passed"

#!/usr/bin/env bash
# Installs the Debian 12 packages psymon needs to build, test and run, and
# to build and check its Debian package (ops/package-check.sh).
# Idempotent and quiet when everything is present. Needs root (or sudo).
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format git
    libzmq3-dev libsodium-dev protobuf-c-compiler libprotobuf-c-dev
    librrd-dev rrdtool libsqlite3-dev sqlite3 libmicrohttpd-dev libjansson-dev
    libinih-dev libsystemd-dev libcmocka-dev libdeflate-dev zlib1g-dev libcurl4-openssl-dev
    prometheus-alertmanager
    tzdata ca-certificates curl procps util-linux iproute2 python3 systemd
    debhelper dpkg-dev fakeroot lintian man-db groff-base bash-completion
    prometheus
    chromium poppler-utils fonts-dejavu-core
)
# chromium, poppler-utils (pdfinfo) and a font: tests/e2e/dashboard.sh loads,
# screenshots and prints the dashboard in a real headless browser.

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null

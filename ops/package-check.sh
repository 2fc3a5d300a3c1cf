#!/usr/bin/env bash
# Builds psymon's Debian package from this tree and checks it:
#
#   1. dpkg-buildpackage -b (DEB_BUILD_OPTIONS=nocheck: ops/test.sh runs the
#      tests) in a copy of the tree, so that the checkout stays clean;
#   2. lintian: any error fails (overrides, with reasons, in debian/);
#   3. dpkg-deb -x into a temporary root: every expected file is there with
#      its mode, the installed programs answer --version, the units name
#      installed programs and pass `systemd-analyze verify`, sysusers.d and
#      tmpfiles.d make the user and the folders with their owners and modes
#      (systemd-sysusers/-tmpfiles --root), every man page renders through
#      `man -l` without a single warning;
#   4. with --install (as root; CI does this): dpkg -i on this machine, the
#      maintainer scripts' work checked (user, folders, units installed but
#      not enabled, programs on their paths), then dpkg --purge.
#
# Also `cmake --install` gives the tree: DESTDIR=… from the package's build
# folder, and --prefix from an ordinary build folder given with --cmake-build.
#
# Usage: ops/package-check.sh [--install] [--cmake-build BUILD-DIR]
# PSY_PKG_KEEP=1 keeps the temporary folder (the .deb, logs) and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."

install_mode=0
cmake_build=
while [ $# -gt 0 ]; do
    a=$1
    shift
    case $a in
    --install) install_mode=1 ;;
    --cmake-build)
        cmake_build=$(realpath "${1:?--cmake-build needs a folder}")
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "package-check: unknown argument $a" >&2
        exit 2
        ;;
    esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/psymon-pkg.XXXXXX")
installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        dpkg --purge psymon >/dev/null 2>&1 || true
    fi
    if [ "${PSY_PKG_KEEP:-0}" = 1 ]; then
        echo "package-check: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
pass() { echo "ok: $*"; }
die() {
    echo "FAIL: $*" >&2
    exit 1
}

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg --print-architecture)
jobs=$(nproc)

# Every file the package must hold. Man pages and long docs are compressed
# by dh_compress: a path ending in .gz? may be there with or without it.
expected_files=(
    usr/bin/psymon
    usr/sbin/psymon-collector
    usr/sbin/psymon-aggregator
    lib/systemd/system/psymon-collector.service
    lib/systemd/system/psymon-aggregator.service
    usr/lib/sysusers.d/psymon.conf
    usr/lib/tmpfiles.d/psymon.conf
    usr/share/bash-completion/completions/psymon
    usr/share/man/man1/psymon.1.gz
    usr/share/man/man5/psymon.conf.5.gz
    usr/share/man/man8/psymon-collector.8.gz
    usr/share/man/man8/psymon-aggregator.8.gz
    usr/share/doc/psymon/copyright
    usr/share/doc/psymon/changelog.gz
    usr/share/doc/psymon/README.md.gz?
    usr/share/doc/psymon/operations.md.gz?
    usr/share/doc/psymon/aggregator.md.gz?
    usr/share/doc/psymon/collector.md.gz?
    usr/share/doc/psymon/security.md.gz?
    usr/share/doc/psymon/kpis.md.gz?
    usr/share/doc/psymon/examples/aggregator.conf
    usr/share/doc/psymon/examples/collector.conf
)
# (path, mode) of the files whose mode matters.
expected_modes=(
    usr/bin/psymon 755
    usr/sbin/psymon-collector 755
    usr/sbin/psymon-aggregator 755
    lib/systemd/system/psymon-collector.service 644
    lib/systemd/system/psymon-aggregator.service 644
)
# (path, mode, user, group) that sysusers.d and tmpfiles.d must give.
expected_dirs=(
    /etc/psymon 750 root psymon
    /var/lib/psymon 700 psymon psymon
    /var/lib/psymon-collector 700 psymon psymon
    /var/spool/psymon 755 root root
    /var/spool/psymon/inbox 2770 psymon psymon-export
)

# check_files ROOT: every expected file under ROOT.
check_files() {
    local root=$1 f base n=0
    for f in "${expected_files[@]}"; do
        case $f in
        *.gz\?)
            base=${f%.gz?}
            [ -f "$root/$base" ] || [ -f "$root/$base.gz" ] || fail "$base(.gz) is not in the package"
            ;;
        *) [ -f "$root/$f" ] || fail "/$f is not in the package" ;;
        esac
        n=$((n + 1))
    done
    local i
    for ((i = 0; i < ${#expected_modes[@]}; i += 2)); do
        f=${expected_modes[i]}
        [ -e "$root/$f" ] || continue
        [ "$(stat -c %a "$root/$f")" = "${expected_modes[i + 1]}" ] ||
            fail "/$f has mode $(stat -c %a "$root/$f"), not ${expected_modes[i + 1]}"
    done
    # Nothing in /etc but what tmpfiles.d makes: no live configuration, no keys.
    if [ -d "$root/etc" ]; then
        fail "the package ships files in /etc: $(cd "$root" && find etc -type f | tr '\n' ' ')"
    fi
    pass "$n expected files present, modes right, nothing shipped in /etc"
}

# check_versions PREFIX: the installed programs run and print the version.
check_versions() {
    local prefix=$1 p out
    for p in usr/bin/psymon usr/sbin/psymon-collector usr/sbin/psymon-aggregator; do
        out=$("$prefix/$p" --version 2>&1) || fail "$prefix/$p --version exits $?: $out"
        [ "$out" = "$(basename "$p") ${version%%-*}" ] ||
            fail "$prefix/$p --version prints '$out', not '$(basename "$p") ${version%%-*}'"
    done
    pass "$prefix/usr/bin/psymon --version: $("$prefix/usr/bin/psymon" --version)"
}

# check_dirs ROOT PASSWD GROUP: owners and modes of the folders, ids looked
# up in the given passwd and group files.
check_dirs() {
    local root=$1 passwd=$2 group=$3 i d want_u want_g uid gid
    grep -q '^psymon:' "$passwd" || fail "no user psymon in $passwd"
    grep -q '^psymon-export:' "$group" || fail "no group psymon-export in $group"
    grep '^psymon:' "$passwd" | grep -q ':/usr/sbin/nologin$' || fail "psymon can log in"
    for ((i = 0; i < ${#expected_dirs[@]}; i += 4)); do
        d=$root${expected_dirs[i]}
        if [ ! -d "$d" ]; then
            fail "${expected_dirs[i]} was not made"
            continue
        fi
        # root is 0 everywhere; sysusers.d does not list it in a fresh root.
        want_u=$(awk -F: -v n="${expected_dirs[i + 2]}" 'n == "root" { print 0; exit }
            $1 == n { print $3 }' "$passwd")
        want_g=$(awk -F: -v n="${expected_dirs[i + 3]}" 'n == "root" { print 0; exit }
            $1 == n { print $3 }' "$group")
        uid=$(stat -c %u "$d")
        gid=$(stat -c %g "$d")
        [ "$(stat -c %a "$d")" = "${expected_dirs[i + 1]}" ] &&
            [ "$uid" = "$want_u" ] && [ "$gid" = "$want_g" ] ||
            fail "${expected_dirs[i]}: mode $(stat -c %a "$d") uid $uid gid $gid, want" \
                "${expected_dirs[i + 1]} ${expected_dirs[i + 2]}($want_u):${expected_dirs[i + 3]}($want_g)"
    done
    pass "user psymon, group psymon-export, $((${#expected_dirs[@]} / 4)) folders with the owners and modes of tmpfiles.d"
}

# check_man ROOT: every man page renders without a warning.
check_man() {
    local root=$1 page out n=0
    command -v man >/dev/null || die "man is not installed (man-db)"
    while IFS= read -r page; do
        out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null) ||
            fail "man -l $page exits $?"
        [ -z "$out" ] || fail "man -l ${page#"$root"} warns:"$'\n'"$out"
        LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q '^NAME' ||
            fail "man -l ${page#"$root"} renders no NAME section"
        n=$((n + 1))
    done < <(find "$root/usr/share/man" -type f -name '*.gz' | sort)
    [ "$n" = 4 ] || fail "$n man pages, not 4"
    pass "$n man pages render with man --warnings -l and print nothing on stderr"
}

echo "== package: dpkg-buildpackage"
src=$work/src/psymon-${version%%-*}
mkdir -p "$src"
# The tree as it is, without what git ignores (build folders) or lost files.
if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude='./build*' -cf - . | tar -xf - -C "$src"
fi
start=$SECONDS
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" dpkg-buildpackage -us -uc -b) \
    >"$work/dpkg-buildpackage.log" 2>&1 ||
    die "dpkg-buildpackage failed:"$'\n'"$(tail -n 40 "$work/dpkg-buildpackage.log")"
deb=$work/src/psymon_${version}_${arch}.deb
changes=$work/src/psymon_${version}_${arch}.changes
[ -f "$deb" ] || die "no $deb"
pass "dpkg-buildpackage -b in $((SECONDS - start)) s: $(basename "$deb") ($(stat -c %s "$deb") bytes)"

echo "== package: cmake --install"
# DESTDIR into the package's own build folder (configured as debian/rules
# does), and --prefix into an ordinary build when one is given.
obj=$(find "$src" -maxdepth 1 -type d -name 'obj-*' | head -n 1)
[ -n "$obj" ] || die "no obj-* build folder in $src"
DESTDIR=$work/destdir cmake --install "$obj" >"$work/cmake-install.log" 2>&1 ||
    die "DESTDIR=… cmake --install failed: $(tail -n 20 "$work/cmake-install.log")"
for f in usr/bin/psymon usr/sbin/psymon-collector usr/sbin/psymon-aggregator \
    lib/systemd/system/psymon-collector.service usr/lib/sysusers.d/psymon.conf \
    usr/lib/tmpfiles.d/psymon.conf usr/share/man/man5/psymon.conf.5 \
    usr/share/bash-completion/completions/psymon usr/share/doc/psymon/examples/collector.conf; do
    [ -f "$work/destdir/$f" ] || fail "DESTDIR=… cmake --install: /$f missing"
done
pass "DESTDIR=… cmake --install gives the tree ($(find "$work/destdir" -type f | wc -l) files)"
if [ -n "$cmake_build" ]; then
    cmake --install "$cmake_build" --prefix "$work/prefix" >"$work/cmake-prefix.log" 2>&1 ||
        die "cmake --install $cmake_build --prefix failed: $(tail -n 20 "$work/cmake-prefix.log")"
    configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$cmake_build/CMakeCache.txt")
    for f in bin/psymon sbin/psymon-collector sbin/psymon-aggregator \
        lib/systemd/system/psymon-aggregator.service lib/sysusers.d/psymon.conf \
        lib/tmpfiles.d/psymon.conf share/man/man1/psymon.1 share/man/man8/psymon-aggregator.8 \
        share/bash-completion/completions/psymon share/doc/psymon/examples/aggregator.conf; do
        [ -f "$work/prefix/$f" ] || fail "cmake --install --prefix: $f missing"
    done
    grep -q "^ExecStart=$configured/sbin/psymon-aggregator " \
        "$work/prefix/lib/systemd/system/psymon-aggregator.service" ||
        fail "cmake --install --prefix: the unit does not name $configured/sbin/psymon-aggregator"
    "$work/prefix/bin/psymon" --version >/dev/null || fail "cmake --install --prefix: psymon does not run"
    pass "cmake --install $cmake_build --prefix … gives the tree; its units name the configured prefix $configured"
fi

echo "== package: lintian"
command -v lintian >/dev/null || die "lintian is not installed"
start=$SECONDS
set +e
lintian --fail-on error --display-info "$changes" >"$work/lintian.log" 2>&1
rc=$?
set -e
grep -v '^N: \|running with root privileges' "$work/lintian.log" | sed 's/^/    /' || true
summary=$(grep -oE '^[EWIPOX]: [^ ]+: [^ ]+' "$work/lintian.log" | awk '{print $1}' | sort |
    uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep = ", "}' || true)
[ $rc = 0 ] || fail "lintian reports errors (exit $rc)"
pass "lintian in $((SECONDS - start)) s, no errors (tags by level: ${summary:-none})"

echo "== package: contents (dpkg-deb -x)"
root=$work/root
dpkg-deb -x "$deb" "$root"
check_files "$root"
check_versions "$root"

# The units name the installed programs and the configuration folder, and
# systemd accepts them. verify wants ExecStart to exist on this machine, so
# the copies checked here point into the extracted root.
for u in psymon-collector psymon-aggregator; do
    unit=$root/lib/systemd/system/$u.service
    grep -q "^ExecStart=/usr/sbin/$u -c /etc/psymon/${u#psymon-}.conf$" "$unit" ||
        fail "$u.service: ExecStart is not /usr/sbin/$u -c /etc/psymon/${u#psymon-}.conf"
    for want in Type=notify WatchdogSec= User=psymon ProtectSystem=strict NoNewPrivileges=yes \
        StateDirectory= CapabilityBoundingSet= SystemCallFilter=; do
        grep -q "^$want" "$unit" || fail "$u.service: lost $want"
    done
    if command -v systemd-analyze >/dev/null; then
        mkdir -p "$work/verify"
        sed "s#^ExecStart=/usr/sbin/$u #ExecStart=$root/usr/sbin/$u #" "$unit" >"$work/verify/$u.service"
        out=$(cd "$work/verify" && systemd-analyze verify --man=no "./$u.service" 2>&1) ||
            fail "$u.service: systemd-analyze verify failed:"$'\n'"$out"
        [ -z "$out" ] || fail "$u.service: systemd-analyze verify warns:"$'\n'"$out"
    fi
done
pass "units name /usr/sbin and /etc/psymon, keep their hardening, and systemd-analyze verify is silent"

mkdir -p "$root/etc"
systemd-sysusers --root="$root" >/dev/null 2>&1 || fail "systemd-sysusers --root failed"
systemd-tmpfiles --create --root="$root" >/dev/null 2>&1 || fail "systemd-tmpfiles --create --root failed"
check_dirs "$root" "$root/etc/passwd" "$root/etc/group"
check_man "$root"
# The completion loads and knows the subcommands.
out=$(bash -c 'source "$1"; COMP_WORDS=(psymon s); COMP_CWORD=1; _psymon; echo "${COMPREPLY[*]}"' \
    _ "$root/usr/share/bash-completion/completions/psymon")
[ "$out" = "status spc silence simulate" ] || fail "bash completion of 'psymon s' gives '$out'"
pass "bash completion loads and completes subcommands"

if [ "$install_mode" = 1 ] &&
    dpkg-query -W -f='${Status}' psymon 2>/dev/null | grep -q 'install ok installed'; then
    # A machine that runs psymon from its package: leave it alone.
    echo "skipped: dpkg -i (psymon is installed on this machine; not touching it)"
elif [ "$install_mode" = 1 ]; then
    echo "== package: dpkg -i on this machine"
    [ "$(id -u)" = 0 ] || die "--install needs root"
    installed=1
    dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || die "dpkg -i failed:"$'\n'"$(cat "$work/dpkg-i.log")"
    # dpkg's path-exclude (Debian's container images drop /usr/share/man and
    # most of /usr/share/doc) may leave out documentation: the contents were
    # checked above; here what dpkg -i and the maintainer scripts did.
    for f in usr/bin/psymon usr/sbin/psymon-collector usr/sbin/psymon-aggregator \
        lib/systemd/system/psymon-collector.service lib/systemd/system/psymon-aggregator.service \
        usr/lib/sysusers.d/psymon.conf usr/lib/tmpfiles.d/psymon.conf \
        usr/share/bash-completion/completions/psymon; do
        [ -f "/$f" ] || fail "dpkg -i: /$f is not installed"
    done
    [ "$(command -v psymon)" = /usr/bin/psymon ] || fail "psymon on PATH is $(command -v psymon)"
    check_versions ""
    getent passwd psymon | grep -q ':/usr/sbin/nologin$' || fail "dpkg -i made no user psymon"
    getent passwd psymon >"$work/passwd"
    getent group psymon psymon-export >"$work/group"
    check_dirs "" "$work/passwd" "$work/group"
    man_opt=--man=no
    [ -f /usr/share/man/man8/psymon-collector.8.gz ] && man_opt=--man=yes
    out=$(systemd-analyze verify "$man_opt" /lib/systemd/system/psymon-collector.service \
        /lib/systemd/system/psymon-aggregator.service 2>&1) ||
        fail "systemd-analyze verify of the installed units failed:"$'\n'"$out"
    [ -z "$out" ] || fail "systemd-analyze verify of the installed units warns:"$'\n'"$out"
    for u in psymon-collector psymon-aggregator; do
        state=$(systemctl is-enabled "$u.service" 2>/dev/null || true)
        [ "$state" = disabled ] || fail "$u.service is '$state' after installation, not disabled"
    done
    pass "dpkg -i: programs on their paths, user and folders made, units verified ($man_opt) and disabled"
    dpkg --purge psymon >"$work/dpkg-purge.log" 2>&1 || fail "dpkg --purge failed: $(cat "$work/dpkg-purge.log")"
    installed=0
    [ ! -e /usr/bin/psymon ] && [ ! -e /lib/systemd/system/psymon-collector.service ] ||
        fail "dpkg --purge left files behind"
    pass "dpkg --purge removes the programs and units (state folders and the user stay)"
fi

if [ "$failures" -gt 0 ]; then
    echo "package-check: $failures check(s) failed" >&2
    exit 1
fi
echo "package-check: all checks passed"

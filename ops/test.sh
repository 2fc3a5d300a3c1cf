#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks the
# formatting, runs every libFuzzer target for PSY_FUZZ_SECONDS (default 60),
# builds with -Werror and runs every test, builds and checks the Debian
# package (ops/package-check.sh), then builds again under
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the tests again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install-deps.sh

echo "== clang-format"
mapfile -t sources < <(git ls-files -- '*.c' '*.h' | grep -v '^tests/fuzz/corpus/')
clang-format --dry-run --Werror "${sources[@]}"

jobs=$(nproc)

echo "== fuzzing"
./ops/fuzz.sh

echo "== build (-Werror)"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPSY_WERROR=ON >/dev/null
cmake --build build-test -j"$jobs"
echo "== tests"
(cd build-test && ctest --output-on-failure -j"$jobs")

echo "== Debian package"
# Builds the .deb, runs lintian, checks its contents, units and man pages;
# as root (CI) also installs it on this machine and purges it again.
if [ "$(id -u)" -eq 0 ]; then
    ./ops/package-check.sh --install --cmake-build build-test
else
    ./ops/package-check.sh --cmake-build build-test
fi

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPSY_WERROR=ON -DPSY_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan + UBSan"
(cd build-asan && ctest --output-on-failure -j"$jobs")

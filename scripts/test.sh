#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build czk with ASan+UBSan (the dev preset) and run every test: unit tests,
# fuzz-corpus replay, and the integration and differential tests against real
# processes (czk-server, Apache ZooKeeper 3.8, kazoo, the C client, zkCli.sh).
# The release build too: `integration.release` runs a few of those tests on
# the binary users run (mimalloc, -O2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
cmake --preset dev -DCZK_WERROR=ON >/dev/null
cmake --build --preset dev -j"$(nproc)"
cmake --preset release -DCZK_WERROR=ON >/dev/null
cmake --build --preset release -j"$(nproc)" --target czk-server czk-logdump
ctest --preset dev "$@"

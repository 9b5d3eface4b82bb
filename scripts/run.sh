#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build czk (release) and start a standalone server. Without arguments it uses
# the embedded default config: clientPort 2181, dataDir ./data, tickTime 2000.
# Any argument is passed on: scripts/run.sh path/to/zoo.cfg
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
exec build-release/czk-server "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails if a tracked C file is not formatted as .clang-format says (STYLE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tests tools -name '*.[ch]')
clang-format --dry-run --Werror $files

#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# czk-sim replays bit for bit: one seed, run twice as separate processes with
# every step traced, must print the same bytes.
set -eu
sim=$1
a=$("$sim" --seed 7 --members 5 --verbose | sha256sum)
b=$("$sim" --seed 7 --members 5 --verbose | sha256sum)
lines=$("$sim" --seed 7 --members 5 --verbose | wc -l)
echo "czk-sim --seed 7 --members 5 --verbose: $lines lines, sha256 ${a%% *}"
[ "$lines" -gt 1000 ] || { echo "too few steps traced"; exit 1; }
[ "$a" = "$b" ] || { echo "two runs of one seed differ: $a vs $b"; exit 1; }

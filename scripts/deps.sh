#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what czk needs on Debian 12 when it is missing.
#   scripts/deps.sh build   compiler, CMake, libuv, OpenSSL, zlib, mimalloc
#   scripts/deps.sh run     the above + netcat (the README's four-letter-word example)
#   scripts/deps.sh test    the above + Apache ZooKeeper 3.8, its C client, a JDK (javac
#                           for the tests that use Apache's classes as an oracle),
#                           kazoo and pytest (the test oracle and clients)
set -euo pipefail
want=(build-essential cmake pkg-config libuv1-dev libssl-dev zlib1g-dev libmimalloc-dev)
case "${1:-build}" in
  run|test) want+=(netcat-openbsd) ;;
esac
if [ "${1:-build}" = test ]; then
  want+=(zookeeper zookeeper-bin libzookeeper-mt-dev python3-kazoo python3-pytest clang clang-format git
         default-jdk-headless)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Run Apache ZooKeeper 3.8 (Debian packages) as the reference server, on
# 127.0.0.1 only, with the same zoo.cfg the integration tests use.
#
#   scripts/apache-zk.sh start DIR [PORT] [key=value ...]   background; prints 127.0.0.1:PORT
#   scripts/apache-zk.sh run   DIR [PORT] [key=value ...]   foreground (Ctrl-C stops it)
#   scripts/apache-zk.sh stop  DIR                          SIGTERM the pid in DIR/pid (SIGKILL after 5 s)
#   scripts/apache-zk.sh status DIR                         srvr output, or exit 1
#
# DIR holds zoo.cfg, data/, zookeeper.log and pid.  Extra key=value pairs are
# appended to zoo.cfg (e.g. maxClientCnxns=10 4lw.commands.whitelist=srvr).
# The same zoo.cfg can be given to czk: build/czk-server DIR/zoo.cfg
set -euo pipefail

CLASSPATH_ZK="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
JAVA="${CZK_JAVA:-java}"

usage() { sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

srvr() { # port
    local out
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'srvr' >&3
    out=$(timeout 3 cat <&3 2>/dev/null || true)
    exec 3<&- 3>&-
    printf '%s' "$out"
    [[ "$out" == *"Mode:"* ]]
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

prepare() { # dir port extra...
    local dir=$1 port=$2
    shift 2
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    local defaults=("tickTime=2000" "dataDir=$dir/data" "clientPort=$port"
                    "clientPortAddress=127.0.0.1" "admin.enableServer=false"
                    "4lw.commands.whitelist=*" "maxClientCnxns=60")
    {
        for kv in "${defaults[@]}"; do
            local key=${kv%%=*} overridden=0
            for x in "$@"; do [[ "${x%%=*}" == "$key" ]] && overridden=1; done
            [[ $overridden == 1 ]] || echo "$kv"
        done
        for kv in "$@"; do echo "$kv"; done
    } >"$dir/zoo.cfg"
    cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$dir/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
EOF
    CMD=("$JAVA" -Xmx512m -Djava.net.preferIPv4Stack=true
         "-Dlog4j.configuration=file:$dir/log4j.properties"
         -cp "$CLASSPATH_ZK" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg")
    DIR=$dir
}

cmd=${1:-}
[[ -n "$cmd" && -n "${2:-}" ]] || usage
dir=$2
case "$cmd" in
start | run)
    shift 2
    if [[ $# -gt 0 && "$1" != *=* ]]; then
        port=$1
        shift
    else
        port=$(free_port)
    fi
    prepare "$dir" "$port" "$@"
    if [[ "$cmd" == run ]]; then
        exec "${CMD[@]}"
    fi
    "${CMD[@]}" >"$DIR/stdout.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$DIR/pid"
    for _ in $(seq 1 600); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "apache-zk: server exited; see $DIR/zookeeper.log" >&2
            exit 1
        fi
        if srvr "$port" >/dev/null 2>&1; then
            echo "127.0.0.1:$port"
            exit 0
        fi
        sleep 0.1
    done
    echo "apache-zk: no answer to srvr on port $port after 60 s" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
stop)
    [[ -f "$dir/pid" ]] || { echo "apache-zk: no $dir/pid" >&2; exit 1; }
    pid=$(cat "$dir/pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$dir/pid"
    ;;
status)
    port=$(sed -n 's/^clientPort=//p' "$dir/zoo.cfg")
    srvr "$port" 2>/dev/null && echo
    ;;
*)
    usage
    ;;
esac

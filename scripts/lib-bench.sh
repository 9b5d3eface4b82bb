# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2154  # the callers set here, bench_name, tmp... (below)
# lib-bench.sh — shell code shared by the side-by-side benchmarks (bench.sh,
# bench-ensemble.sh, bench-snapsync.sh, bench-snapshot.sh); sourced, not run.
# The caller sets `here` (the source tree) and `bench_name` (log prefix), and
# keeps every process it starts in the array `pids` (stopped by PID by
# bench_stop_all); `python` is /usr/bin/python3 (kazoo's) unless it is set.

bench_log() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
log() { bench_log "$@"; }

python=${python:-$(command -v /usr/bin/python3 || command -v python3)}

zk_jar=/usr/share/java/zookeeper.jar
zk_classpath="/etc/zookeeper/conf:$zk_jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"

# Builds the release tree's czk-benchmark, plus czk-server unless $1 is "apache".
bench_build() { # build_dir [only]
    bench_log "building release in $1"
    cmake -S "$here" -B "$1" -DCMAKE_BUILD_TYPE=Release >/dev/null
    local targets=(--target czk-benchmark)
    [[ "${2:-}" == apache ]] || targets+=(--target czk-server)
    cmake --build "$1" -j2 "${targets[@]}"
}

# Exits 2 unless --only's value is empty, czk or apache.
bench_check_only() { # only
    case "$1" in
    "" | czk | apache) ;;
    *) bench_log "--only czk|apache"; exit 2 ;;
    esac
}

# Exits 2 unless an option's value is a whole number.
bench_check_number() { # option value
    [[ $2 =~ ^[0-9]+$ ]] || { bench_log "$1: not a number: $2"; exit 2; }
}

# The kinds to run, in this order, into the array `kinds`: czk then apache,
# or the one --only names.
bench_kinds() { # only
    kinds=()
    [[ "$1" == apache ]] || kinds+=(czk)
    [[ "$1" == czk ]] || kinds+=(apache)
}

# Builds the release tree when BUILD is 1, then sets `benchmark` and
# `czk_server` ($CZK_BENCHMARK and $CZK_SERVER, else BUILD_DIR's) and exits 2
# when one the run needs is missing; installs Apache's package unless --only czk.
bench_binaries() { # build_dir build only
    if [[ $2 -eq 1 ]]; then bench_build "$1" "$3"; fi
    benchmark=${CZK_BENCHMARK:-$1/czk-benchmark}
    czk_server=${CZK_SERVER:-$1/czk-server}
    [[ -x "$benchmark" ]] || { bench_log "missing $benchmark"; exit 2; }
    if [[ "$3" != apache && ! -x "$czk_server" ]]; then
        bench_log "missing $czk_server"
        exit 2
    fi
    if [[ "$3" != czk ]]; then bench_need_apache; fi
}

# Installs the Debian zookeeper package when its jar is missing.
bench_need_apache() {
    if [[ ! -f "$zk_jar" ]]; then
        bench_log "installing the Debian zookeeper package"
        apt-get update -qq && apt-get install -y -qq zookeeper >/dev/null
    fi
}

# Starts Apache ZooKeeper 3.8 on zoo.cfg in the background, its log4j output
# in DIR (zookeeper.log) and stdout/stderr appended to DIR/server.log. The
# caller takes the PID from $! right after. HEAP: -Xmx value (default 1g).
bench_start_apache() { # dir cfg [heap]
    java "-Xmx${3:-1g}" -Dzookeeper.log.dir="$1" -Dzookeeper.root.logger=INFO,ROLLINGFILE \
        -cp "$zk_classpath" org.apache.zookeeper.server.quorum.QuorumPeerMain "$2" \
        >>"$1/server.log" 2>&1 &
}

# SIGTERM every PID in `pids`, SIGKILL after 5 s, reap.
bench_stop_all() {
    local p
    for p in ${pids[@]+"${pids[@]}"}; do
        kill "$p" 2>/dev/null || true
    done
    for p in ${pids[@]+"${pids[@]}"}; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
}

# A new temporary dir in `tmp` ($BENCH_TMP or /tmp, /PREFIX.XXXXXX: BENCH_TMP=/dev/shm
# puts the members' data dirs on tmpfs), `pids` emptied, and the
# traps: on exit every PID in `pids` is stopped and `tmp` removed, unless the
# run failed or the caller's `keep` is 1 (then its path is logged).
bench_start_tmp() { # prefix
    tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/$1.XXXXXX")
    pids=()
    trap bench_on_exit EXIT
    trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317  # run by the EXIT trap
bench_on_exit() {
    local rc=$?
    bench_stop_all
    if [[ $rc -ne 0 || ${keep:-0} -eq 1 ]]; then
        bench_log "logs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
    exit $rc
}

# SIGTERM one PID, SIGKILL after 10 s, reap; drops it from `pids`.
bench_stop_pid() { # pid
    local p=$1 q rest=()
    kill "$p" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    for q in ${pids[@]+"${pids[@]}"}; do
        [[ $q == "$p" ]] || rest+=("$q")
    done
    pids=(${rest[@]+"${rest[@]}"})
}

free_ports() { # n: n distinct free ports on 127.0.0.1
    "$python" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

free_port() { free_ports 1; }

four_letter() { # port word
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf $2 >&3 && cat <&3" 2>/dev/null || true
}
srvr() { four_letter "$1" srvr; }
mode_of() { # port -> leader|follower|standalone|... or empty
    srvr "$1" | sed -n 's/^Mode: //p'
}

# ---- ensembles: 3 voters, and observers ----
# The caller declares the associative arrays cport qport eport pid (keyed
# key+sid, e.g. czk2), and sets tmp, tick_ms, czk_server, the array
# cfg_extra (more zoo.cfg lines) and apache_heap (-Xmx of each Apache member).
# Member sid of ensemble KEY lives in $tmp/KEY/s<sid>: zoo.cfg, data/, server.log.
# An ensemble is named by a key (its members' dir is $tmp/KEY; czk's keys
# begin with "czk"): three voters, sids 1-3, and ens_obs[KEY] observers
# after them (sids 4...; default none).
declare -A ens_obs
ens_sids() { # key -> every sid, voters first
    seq 1 $((3 + ${ens_obs[$1]:-0}))
}

ens_ports() { # key
    local k=$1 sid i ports
    read -r -a ports <<<"$(free_ports $((3 * (3 + ${ens_obs[$k]:-0}))))"
    for sid in $(ens_sids "$k"); do
        i=$(((sid - 1) * 3))
        cport[$k$sid]=${ports[$i]}
        qport[$k$sid]=${ports[$((i + 1))]}
        eport[$k$sid]=${ports[$((i + 2))]}
    done
}

# One zoo.cfg shape for both kinds (as tests/integration/ensemble.py writes it).
ens_write_member() { # key sid
    local k=$1 sid=$2 dir="$tmp/$1/s$2" s
    mkdir -p "$dir/data"
    echo "$sid" >"$dir/data/myid"
    {
        echo "tickTime=$tick_ms"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$dir/data"
        echo "clientPort=${cport[$k$sid]}"
        echo "clientPortAddress=127.0.0.1"
        echo "maxClientCnxns=0"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=srvr,stat,mntr,ruok"
        echo "forceSync=yes"
        [[ $sid -le 3 ]] || echo "peerType=observer"
        for s in $(ens_sids "$k"); do
            if [[ $s -le 3 ]]; then
                echo "server.$s=127.0.0.1:${qport[$k$s]}:${eport[$k$s]}"
            else
                echo "server.$s=127.0.0.1:${qport[$k$s]}:${eport[$k$s]}:observer"
            fi
        done
        for s in ${cfg_extra[@]+"${cfg_extra[@]}"}; do
            echo "$s"
        done
    } >"$dir/zoo.cfg"
}

ens_start_member() { # key sid
    local k=$1 sid=$2 dir="$tmp/$1/s$2"
    if [[ $k == czk* ]]; then
        "$czk_server" "$dir/zoo.cfg" >>"$dir/server.log" 2>&1 &
    else
        bench_start_apache "$dir" "$dir/zoo.cfg" "${apache_heap:-1g}"
    fi
    pid[$k$sid]=$!
    pids+=("${pid[$k$sid]}")
}

# Until one member is leader, the two other voters followers and every
# observer an observer (srvr's Mode:).
ens_wait() { # key
    local k=$1 sid m leaders followers observers modes
    for _ in $(seq 600); do
        leaders=0 followers=0 observers=0 modes=""
        for sid in $(ens_sids "$k"); do
            if ! kill -0 "${pid[$k$sid]}" 2>/dev/null; then
                bench_log "$k member $sid exited; its log:"
                tail -n 30 "$tmp/$k/s$sid/server.log" >&2 || true
                return 1
            fi
            m=$(mode_of "${cport[$k$sid]}")
            modes+=" $sid:${m:--}"
            [[ $m == leader ]] && leaders=$((leaders + 1))
            [[ $m == follower ]] && followers=$((followers + 1))
            [[ $m == observer ]] && observers=$((observers + 1))
        done
        if [[ $leaders -eq 1 && $followers -eq 2 && $observers -eq ${ens_obs[$k]:-0} ]]; then
            return 0
        fi
        sleep 0.1
    done
    bench_log "$k: no leader, two followers and ${ens_obs[$k]:-0} observers within 60 s" \
        "(modes:$modes)"
    return 1
}

ens_leader_of() { # key -> sid
    local sid
    for sid in 1 2 3; do
        if [[ $(mode_of "${cport[$1$sid]}") == leader ]]; then
            echo "$sid"
            return 0
        fi
    done
    return 1
}

# "<prefix><ARRAY[KEY sid]>,..." for every member of KEY.
ens_list() { # key array prefix
    local -n values=$2
    local sid out=""
    for sid in $(ens_sids "$1"); do
        out+="${out:+,}$3${values[$1$sid]}"
    done
    echo "$out"
}
ens_servers() { ens_list "$1" cport 127.0.0.1:; } # key -> "127.0.0.1:p1,127.0.0.1:p2,..."
ens_pids() { ens_list "$1" pid ""; }              # key -> "pid1,pid2,..."

# Stops every member by PID.
ens_stop() { # key
    local sid
    for sid in $(ens_sids "$1"); do
        bench_stop_pid "${pid[$1$sid]}"
    done
}

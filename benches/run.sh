#!/usr/bin/env bash
# Runs every eddy/libuv benchmark pair alternately and prints one table of
# medians with the eddy advantage (>1.0: eddy is better, whatever the
# metric's direction). `make bench` builds the programs and calls this.
#
#   benches/run.sh [BIN_DIR]      (default build/benches)
#
# Environment (defaults in brackets):
#   RUNS [5]         runs per program for the short pairs
#   ECHO_RUNS [9]    runs per program for each TCP echo configuration
#   HTTP_RUNS [5]    runs per program for HTTP
#   LONG_RUNS [3]    runs per program for idle connections, multi-loop
#   ECHO_SECS [2]    seconds per echo run
#   WRK_DURATION [10s]
#   WAKEUP_ROUND_TRIPS [50000]   see docs/performance.md for why not 1,000,000
#   IDLE_CONNECTIONS [10000]
#   UDP_RUNS [5]     runs per program for the UDP echo pair
#   STORM_RUNS [5]   runs per program for the connection storm
#   CG_SMALL [10000] CG_BIG [30000]   the two run lengths (messages,
#                    requests) of the callgrind column: instructions per
#                    message are (Ir(big) - Ir(small)) / (big - small)
#   ONLY [all]       a space-separated subset of: timers wakeup callbacks
#                    callgrind echo bulk http udp storm idle multiloop
#                    (ONLY=callgrind: just the instruction counts, ~2 min)
#   SERVER_CPU [1] CLIENT_CPU [0]
#
# Raw results: $OUT/results.tsv; the table: $OUT/table.md (OUT defaults
# to build/bench).
set -uo pipefail

B=${1:-build/benches}
OUT=${OUT:-build/bench}
RUNS=${RUNS:-5}
LONG_RUNS=${LONG_RUNS:-3}
ECHO_RUNS=${ECHO_RUNS:-9}
HTTP_RUNS=${HTTP_RUNS:-5}
UDP_RUNS=${UDP_RUNS:-5}
STORM_RUNS=${STORM_RUNS:-5}
CG_SMALL=${CG_SMALL:-10000}
CG_BIG=${CG_BIG:-30000}
ECHO_SECS=${ECHO_SECS:-2}
WRK_DURATION=${WRK_DURATION:-10s}
WAKEUP_ROUND_TRIPS=${WAKEUP_ROUND_TRIPS:-50000}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
ONLY=${ONLY:-all}
SCPU=${SERVER_CPU:-1}
CCPU=${CLIENT_CPU:-0}

mkdir -p "$OUT"
RES=$OUT/results.tsv
: >"$RES"
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# Other work on the machine shows up in every figure: say how busy it was.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)

log() { printf '%s\n' "$*" >&2; }
want() { [ "$ONLY" = all ] || [[ " $ONLY " == *" $1 "* ]]; }
# kv KEY LINE: the value of KEY=value in LINE.
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
# rec BENCH METRIC LIB VALUE: one result of round $i (a round runs both
# programs of a pair back to back).
rec() { [ -n "$4" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${i:-1}" >>"$RES"; }
# The order of the pair alternates from run to run.
order() { if (( $1 % 2 )); then echo "eddy uv"; else echo "uv eddy"; fi; }

# Server ports stay below the ephemeral range, so no client socket of an
# earlier run (the idle test opens 10,000) can hold one.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
PORT_LOW=$((EPHEMERAL_LOW > 12000 ? EPHEMERAL_LOW - 10000 : 2000))
PORT=$((PORT_LOW + RANDOM % 8000))
next_port() { PORT=$((PORT + 1)); [ $PORT -lt $((EPHEMERAL_LOW - 1)) ] || PORT=$PORT_LOW; }
# Every server prints one line once it listens; waiting for that line
# (rather than probing the port) keeps stray connections out of the
# measurement (a bulk source would start streaming to a probe).
wait_ready() {
    for _ in $(seq 200); do
        grep -q "127.0.0.1:$PORT" "$TMP/server.out" && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.02
    done
    log "server did not start: $(cat "$TMP/server.out")"
    return 1
}
# start_server CPUS CMD...: runs CMD with a fresh port ($PORT) appended,
# sets SPID.
start_server() {
    local cpus=$1
    shift
    next_port
    : >"$TMP/server.out"
    if [ "$cpus" = all ]; then
        "$@" "$PORT" >"$TMP/server.out" 2>&1 &
    else
        taskset -c "$cpus" "$@" "$PORT" >"$TMP/server.out" 2>&1 &
    fi
    SPID=$!
    PIDS+=("$SPID")
    wait_ready
}
stop_server() {
    kill -INT "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
}
# CPU time of a process in nanoseconds: the scheduler's run time of each of
# its threads (/proc/PID/task/*/schedstat, first field), summed. Exact to
# the nanosecond, where /proc/PID/stat's utime+stime count 10 ms ticks.
# (%.0f: mawk's %d stops at 2^31, 2.1 s.)
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

eddy_server() { # name of the eddy program of a server pair
    case $1 in
    echo) echo "$B/echo_server_eddy" ;;
    udp) echo "$B/udp_echo_eddy" ;;
    http) echo "$B/http_hello_eddy" ;;
    bulk) echo "$B/bulk_eddy" ;;
    esac
}
uv_server() {
    case $1 in
    echo) echo "$B/echo_uv" ;;
    udp) echo "$B/udp_echo_uv" ;;
    http) echo "$B/http_uv" ;;
    bulk) echo "$B/bulk_uv" ;;
    esac
}
# floor: the UDP server with no library (udp_floor.c), the least an echo
# server can do; it has no other kind.
server_of() {
    case $1 in
    eddy) eddy_server "$2" ;;
    floor) echo "$B/udp_floor" ;;
    *) uv_server "$2" ;;
    esac
}
# serve LIB KIND CLIENT ARGS...: starts LIB's KIND server on SERVER_CPU and
# runs CLIENT PORT ARGS... on CLIENT_CPU against it; sets LINE to the
# client's output and US_PER to the server's CPU µs per unit, the unit
# being the client's count named by UNIT (returns 1 on failure).
serve() {
    local lib=$1 kind=$2 client=$3 c0
    shift 3
    LINE= US_PER=
    start_server "$SCPU" "$(server_of "$lib" "$kind")" || return 1
    c0=$(cpu_ns "$SPID")
    LINE=$(taskset -c "$CCPU" "$client" "$PORT" "$@") || LINE=
    US_PER=$(awk -v c=$(($(cpu_ns "$SPID") - c0)) -v m="$(kv "$UNIT" "$LINE")" 'BEGIN { if (m > 0) printf "%.2f", c / 1e3 / m }')
    stop_server
    [ -n "$LINE" ] || { log "${client##*/} failed against $lib"; return 1; }
}

# ---- timers -------------------------------------------------------------------
if want timers; then
    log "== timers: 1,000,000 timers, deadlines 1..1000 ms ($RUNS runs each)"
    for i in $(seq "$RUNS"); do
        for lib in $(order "$i"); do
            line=$(taskset -c "$SCPU" "$B/timers_$lib") || { log "timers_$lib failed"; continue; }
            log "  $lib: $line"
            rec timers sched_ms "$lib" "$(kv sched_ms "$line")"
            rec timers run_cpu_ms "$lib" "$(kv run_cpu_ms "$line")"
            rec timers total_cpu_ms "$lib" "$(kv total_cpu_ms "$line")"
            rec timers maxrss_mib "$lib" "$(awk -v k="$(kv maxrss_kib "$line")" 'BEGIN { printf "%.1f", k / 1024 }')"
        done
    done
fi

# ---- cross-thread wake-ups ------------------------------------------------------
if want wakeup; then
    log "== wake-ups: $WAKEUP_ROUND_TRIPS round trips between two threads on CPUs 0 and 1 ($RUNS runs each)"
    for i in $(seq "$RUNS"); do
        for lib in $(order "$i"); do
            line=$("$B/wakeup_$lib" "$WAKEUP_ROUND_TRIPS" 0 1) || { log "wakeup_$lib failed"; continue; }
            log "  $lib: $line"
            rec wakeup round_trips_per_sec "$lib" "$(kv round_trips_per_sec "$line")"
            rec wakeup cpu_us_per_round_trip "$lib" "$(kv cpu_us_per_round_trip "$line")"
        done
    done
fi

# ---- chained callbacks ----------------------------------------------------------
if want callbacks; then
    log "== callbacks: 10,000,000 chained callbacks ($RUNS runs each)"
    for i in $(seq "$RUNS"); do
        for lib in $(order "$i"); do
            line=$(taskset -c "$SCPU" "$B/callbacks_$lib") || { log "callbacks_$lib failed"; continue; }
            log "  $lib: $line"
            rec callbacks callbacks_per_sec "$lib" "$(kv callbacks_per_sec "$line")"
        done
    done
fi
if want callbacks || want callgrind; then
    if command -v valgrind >/dev/null 2>&1; then
        log "== callbacks under callgrind: instructions per callback, (Ir(1,000,000) - Ir(1)) / 999,999"
        i=1
        for lib in eddy uv; do
            ir() {
                valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" "$B/callbacks_$lib" "$1" 2>&1 >/dev/null |
                    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
            }
            big=$(ir 1000000)
            small=$(ir 1)
            if [ -n "$big" ] && [ -n "$small" ]; then
                per=$(awk -v b="$big" -v s="$small" 'BEGIN { printf "%.1f", (b - s) / 999999 }')
                log "  $lib: Ir(1M)=$big Ir(1)=$small per callback=$per"
                rec callbacks instructions_per_callback "$lib" "$per"
            fi
        done
    else
        log "valgrind not installed: no instruction counts"
    fi
fi

# ---- instructions per message on the server paths (callgrind) -------------------
# User-space instructions of the server (callgrind does not see the
# kernel) for CG_SMALL and CG_BIG messages (requests) in two runs of the
# server; the difference divided by the difference in messages drops
# start-up and shutdown. Deterministic up to how the kernel splits a
# message into reads, unlike every timed figure here.
if want callgrind; then
    if command -v valgrind >/dev/null 2>&1; then
        log "== instructions per message or request on the servers: (Ir($CG_BIG) - Ir($CG_SMALL)) / $((CG_BIG - CG_SMALL)), callgrind"
        # cg_ir SERVER CLIENT ARGS...: sets IR to the server's instruction
        # count for one run of CLIENT PORT ARGS... against it.
        cg_ir() {
            local server=$1
            shift
            IR=
            next_port
            : >"$TMP/server.out"
            valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" "$server" "$PORT" >"$TMP/server.out" 2>&1 &
            SPID=$!
            PIDS+=("$SPID")
            for _ in $(seq 1000); do
                grep -q "127.0.0.1:$PORT" "$TMP/server.out" && break
                kill -0 "$SPID" 2>/dev/null || break
                sleep 0.02
            done
            local client=$1
            shift
            "$client" "$PORT" "$@" >/dev/null || log "$client failed against $server under callgrind"
            stop_server
            IR=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$TMP/server.out")
        }
        i=1
        for cfg in "echo_1x1k echo 1 1024" "echo_100x1k echo 100 1024" "echo_1x64k echo 1 65536" "http http 100 0"; do
            set -- $cfg
            name=$1 kind=$2 conns=$3 size=$4
            for lib in eddy uv; do
                server=$(server_of "$lib" "$kind")
                small= big=
                for count in "$CG_SMALL" "$CG_BIG"; do
                    if [ "$kind" = http ]; then
                        cg_ir "$server" "$B/http_load" "$conns" "$count"
                    else
                        cg_ir "$server" "$B/echo_load" "$conns" "$size" 120 "$count"
                    fi
                    if [ "$count" = "$CG_SMALL" ]; then small=$IR; else big=$IR; fi
                done
                if [ -n "$small" ] && [ -n "$big" ]; then
                    per=$(awk -v b="$big" -v s="$small" -v n=$((CG_BIG - CG_SMALL)) 'BEGIN { printf "%.1f", (b - s) / n }')
                    log "  $name $lib: Ir($CG_BIG)=$big Ir($CG_SMALL)=$small per message=$per"
                    rec "$name" instructions_per_msg "$lib" "$per"
                fi
            done
        done
    else
        log "valgrind not installed: no instruction counts"
    fi
fi

# ---- TCP echo ping-pong ------------------------------------------------------------
if want echo; then
    for cfg in "1 1024" "100 1024" "1 65536" "100 65536"; do
        set -- $cfg
        conns=$1 size=$2
        name="echo_${conns}x$((size / 1024))k"
        log "== $name: echo_load $conns connections, $size-byte messages, ${ECHO_SECS}s ($ECHO_RUNS runs each)"
        for i in $(seq "$ECHO_RUNS"); do
            for lib in $(order "$i"); do
                start_server "$SCPU" "$(server_of "$lib" echo)" || continue
                c0=$(cpu_ns "$SPID")
                line=$(taskset -c "$CCPU" "$B/echo_load" "$PORT" "$conns" "$size" "$ECHO_SECS") || line=
                c1=$(cpu_ns "$SPID")
                stop_server
                [ -n "$line" ] || { log "echo_load failed against $lib"; continue; }
                msgs=$(kv messages "$line")
                us=$(awk -v c=$((c1 - c0)) -v m="$msgs" 'BEGIN { printf "%.2f", c / 1e3 / m }')
                log "  $lib: $line server_cpu_us_per_msg=$us"
                rec "$name" msgs_per_sec "$lib" "$(kv msgs_per_sec "$line")"
                rec "$name" server_cpu_us_per_msg "$lib" "$us"
            done
        done
    done
fi

# ---- bulk throughput --------------------------------------------------------------
if want bulk; then
    for dir in source sink; do
        peer=$([ $dir = source ] && echo sink || echo source)
        name="bulk_server_$dir"
        log "== $name: 1 GiB over one connection, 64 KiB writes, server is the $dir ($RUNS runs each)"
        for i in $(seq "$RUNS"); do
            for lib in $(order "$i"); do
                start_server "$SCPU" "$(server_of "$lib" bulk)" "$dir" || continue
                c0=$(cpu_ns "$SPID")
                line=$(taskset -c "$CCPU" "$B/bulk_peer" "$peer" "$PORT") || line=
                c1=$(cpu_ns "$SPID")
                stop_server
                [ -n "$line" ] || { log "bulk_peer failed against $lib"; continue; }
                bytes=$(kv bytes "$line")
                ms=$(awk -v c=$((c1 - c0)) -v b="$bytes" 'BEGIN { printf "%.1f", c / 1e6 / (b / 2^30) }')
                log "  $lib: $line server_cpu_ms_per_gib=$ms"
                rec "$name" mib_per_sec "$lib" "$(kv mib_per_sec "$line")"
                rec "$name" server_cpu_ms_per_gib "$lib" "$ms"
            done
        done
    done
fi

# ---- HTTP ---------------------------------------------------------------------------
if want http; then
    if command -v wrk >/dev/null 2>&1; then
        log "== http: wrk -t1 -c100 -d$WRK_DURATION ($HTTP_RUNS runs each)"
        for i in $(seq "$HTTP_RUNS"); do
            for lib in $(order "$i"); do
                start_server "$SCPU" "$(server_of "$lib" http)" || continue
                c0=$(cpu_ns "$SPID")
                out=$(taskset -c "$CCPU" wrk -t1 -c100 -d"$WRK_DURATION" "http://127.0.0.1:$PORT/") || out=
                c1=$(cpu_ns "$SPID")
                stop_server
                if [ -z "$out" ] || grep -qE "Socket errors|Non-2xx" <<<"$out"; then
                    log "wrk failed or saw errors against $lib:"
                    log "$out"
                    continue
                fi
                rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
                reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
                lat=$(awk '/^ *Latency/ { print $2 }' <<<"$out")
                us=$(awk -v c=$((c1 - c0)) -v m="$reqs" 'BEGIN { printf "%.2f", c / 1e3 / m }')
                log "  $lib: requests/s=$rps requests=$reqs latency_avg=$lat server_cpu_us_per_request=$us"
                rec http requests_per_sec "$lib" "$rps"
                rec http server_cpu_us_per_request "$lib" "$us"
            done
        done
    else
        log "wrk not installed: no HTTP figures"
    fi
fi

# ---- UDP echo ---------------------------------------------------------------------------
if want udp; then
    log "== udp: udp_load 64 sockets, one 64-byte datagram in flight each, ${ECHO_SECS}s ($UDP_RUNS runs each, with the no-library floor)"
    for i in $(seq "$UDP_RUNS"); do
        for lib in $(order "$i") floor; do
            UNIT=datagrams serve "$lib" udp "$B/udp_load" 64 64 "$ECHO_SECS" || continue
            log "  $lib: $LINE server_cpu_us_per_dgram=$US_PER"
            rec udp dgrams_per_sec "$lib" "$(kv dgrams_per_sec "$LINE")"
            rec udp server_cpu_us_per_dgram "$lib" "$US_PER"
        done
    done
    if command -v strace >/dev/null 2>&1; then
        log "== udp syscalls: strace -c -f on the server, 20,000 datagrams"
        i=1
        for lib in eddy uv floor; do
            next_port
            strace -c -f -o "$TMP/strace.out" "$(server_of "$lib" udp)" "$PORT" >"$TMP/server.out" 2>&1 &
            tracer=$!
            PIDS+=("$tracer")
            for _ in $(seq 500); do grep -q "127.0.0.1:$PORT" "$TMP/server.out" && break; sleep 0.02; done
            line=$("$B/udp_load" "$PORT" 64 64 60 20000) || line=
            kill -INT "$(pgrep -P "$tracer")" 2>/dev/null
            wait "$tracer" 2>/dev/null
            [ -n "$line" ] || { log "udp_load failed against $lib under strace"; continue; }
            n=$(kv datagrams "$line")
            calls=$(awk '$NF ~ /^(recv|recvfrom|recvmsg|recvmmsg|send|sendto|sendmsg|sendmmsg|epoll_wait)$/ { n += $4 } END { print n + 0 }' "$TMP/strace.out")
            detail=$(awk '$NF ~ /^(recvfrom|recvmsg|recvmmsg|sendto|sendmsg|sendmmsg|epoll_wait)$/ { printf "%s=%s ", $NF, $4 }' "$TMP/strace.out")
            per=$(awk -v c="$calls" -v m="$n" 'BEGIN { printf "%.3f", c / m }')
            log "  $lib: datagrams=$n $detail-> $per I/O syscalls per datagram"
            rec udp syscalls_per_dgram "$lib" "$per"
        done
    fi
fi

# ---- connection storm -------------------------------------------------------------------
if want storm; then
    log "== storm: connect_storm 10,000 connections (1-byte echo, close), 256 in flight ($STORM_RUNS runs each)"
    for i in $(seq "$STORM_RUNS"); do
        for lib in $(order "$i"); do
            UNIT=connections serve "$lib" echo "$B/connect_storm" 10000 || continue
            log "  $lib: $LINE server_cpu_us_per_conn=$US_PER"
            rec storm conns_per_sec "$lib" "$(kv conns_per_sec "$LINE")"
            rec storm server_cpu_us_per_conn "$lib" "$US_PER"
        done
    done
fi

# ---- idle connections ----------------------------------------------------------------
if want idle; then
    log "== idle: $IDLE_CONNECTIONS open connections to the echo servers, VmRSS per connection ($LONG_RUNS runs each)"
    for i in $(seq "$LONG_RUNS"); do
        for lib in $(order "$i"); do
            start_server "$SCPU" "$(server_of "$lib" echo)" || continue
            # Warm-up: one connection's worth of lazy allocations (read buffer, ...).
            "$B/echo_load" "$PORT" 1 1024 0.2 >/dev/null
            sleep 0.2
            before=$(rss_kib "$SPID")
            rm -f "$TMP/ctl" "$TMP/idle.out"
            mkfifo "$TMP/ctl"
            taskset -c "$CCPU" "$B/idle_client" "$PORT" "$IDLE_CONNECTIONS" <"$TMP/ctl" >"$TMP/idle.out" &
            cpid=$!
            PIDS+=("$cpid")
            exec 7>"$TMP/ctl"
            ok=
            for _ in $(seq 600); do
                grep -q '^ready' "$TMP/idle.out" 2>/dev/null && { ok=1; break; }
                kill -0 "$cpid" 2>/dev/null || break
                sleep 0.1
            done
            sleep 0.2
            after=$(rss_kib "$SPID")
            exec 7>&-
            wait "$cpid" 2>/dev/null
            stop_server
            [ -n "$ok" ] || { log "idle_client did not get $IDLE_CONNECTIONS connections up against $lib"; continue; }
            per=$(awk -v a="$after" -v b="$before" -v n="$IDLE_CONNECTIONS" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
            log "  $lib: VmRSS before=${before} KiB after=${after} KiB per connection=${per} B"
            rec idle rss_bytes_per_connection "$lib" "$per"
        done
    done
fi

# ---- multi-loop -------------------------------------------------------------------------
if want multiloop; then
    log "== multi-loop: examples-c/multi_loop.c, 1 vs 2 loops, echo_load 100 x 1 KiB, nothing pinned ($LONG_RUNS runs each)"
    for i in $(seq "$LONG_RUNS"); do
        for loops in $( (( i % 2 )) && echo "1 2" || echo "2 1"); do
            next_port
            : >"$TMP/server.out"
            "$B/multi_loop" "$PORT" "$loops" >"$TMP/server.out" 2>&1 &
            SPID=$!
            PIDS+=("$SPID")
            wait_ready || continue
            c0=$(cpu_ns "$SPID")
            line=$("$B/echo_load" "$PORT" 100 1024 "$ECHO_SECS") || line=
            c1=$(cpu_ns "$SPID")
            stop_server
            [ -n "$line" ] || { log "echo_load failed against multi_loop $loops"; continue; }
            msgs=$(kv messages "$line")
            us=$(awk -v c=$((c1 - c0)) -v m="$msgs" 'BEGIN { printf "%.2f", c / 1e3 / m }')
            spread=$(grep '^loop' "$TMP/server.out" | sed 's/ bytes=.*//' | tr '\n' ' ')
            log "  $loops loop(s): $line server_cpu_us_per_msg=$us ($spread)"
            rec multiloop msgs_per_sec "loops$loops" "$(kv msgs_per_sec "$line")"
            rec multiloop server_cpu_us_per_msg "loops$loops" "$us"
        done
    done
fi

# ---- the table -------------------------------------------------------------------------
awk -F'\t' '
function median(list,   n, i, j, t, a) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# The advantage is the median over rounds of the ratio within a round: the
# two programs of a round ran back to back, so a change in what else the
# machine does between rounds affects both sides of each ratio alike.
function advantage(bm, x, y,   r, list, e, u) {
    list = ""
    for (r = 1; r <= maxround; r++) {
        e = val[bm SUBSEP x SUBSEP r]; u = val[bm SUBSEP y SUBSEP r]
        if (e == "" || u == "" || e + 0 <= 0 || u + 0 <= 0) continue
        split(bm, q, SUBSEP)
        list = list " " (dir[q[2]] == "higher" ? e / u : u / e)
    }
    r = median(list)
    return r == "" ? "n/a" : sprintf("%.2f", r)
}
function commas(n,   s, r) {
    s = sprintf("%d", n); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}
function fmt(v) {
    if (v == "") return "n/a"
    if (v + 0 >= 1000) return commas(v + 0.5)
    if (v + 0 >= 100) return sprintf("%.0f", v)
    if (v + 0 >= 10) return sprintf("%.1f", v)
    return sprintf("%.2f", v)
}
BEGIN {
    label["sched_ms"] = "schedule 1M timers, ms"; dir["sched_ms"] = "lower"
    label["run_cpu_ms"] = "dispatch 1M timers, CPU ms"; dir["run_cpu_ms"] = "lower"
    label["total_cpu_ms"] = "total CPU ms"; dir["total_cpu_ms"] = "lower"
    label["maxrss_mib"] = "peak RSS, MiB"; dir["maxrss_mib"] = "lower"
    label["round_trips_per_sec"] = "round trips/s"; dir["round_trips_per_sec"] = "higher"
    label["cpu_us_per_round_trip"] = "CPU µs per round trip (both threads)"; dir["cpu_us_per_round_trip"] = "lower"
    label["callbacks_per_sec"] = "callbacks/s"; dir["callbacks_per_sec"] = "higher"
    label["instructions_per_callback"] = "instructions per callback (callgrind)"; dir["instructions_per_callback"] = "lower"
    label["msgs_per_sec"] = "messages/s"; dir["msgs_per_sec"] = "higher"
    label["server_cpu_us_per_msg"] = "server CPU µs per message"; dir["server_cpu_us_per_msg"] = "lower"
    label["mib_per_sec"] = "MiB/s"; dir["mib_per_sec"] = "higher"
    label["server_cpu_ms_per_gib"] = "server CPU ms per GiB"; dir["server_cpu_ms_per_gib"] = "lower"
    label["requests_per_sec"] = "requests/s"; dir["requests_per_sec"] = "higher"
    label["server_cpu_us_per_request"] = "server CPU µs per request"; dir["server_cpu_us_per_request"] = "lower"
    label["instructions_per_msg"] = "server instructions per message (callgrind)"; dir["instructions_per_msg"] = "lower"
    label["dgrams_per_sec"] = "datagrams/s"; dir["dgrams_per_sec"] = "higher"
    label["server_cpu_us_per_dgram"] = "server CPU µs per datagram"; dir["server_cpu_us_per_dgram"] = "lower"
    label["syscalls_per_dgram"] = "server I/O syscalls per datagram (strace)"; dir["syscalls_per_dgram"] = "lower"
    label["conns_per_sec"] = "connections/s"; dir["conns_per_sec"] = "higher"
    label["server_cpu_us_per_conn"] = "server CPU µs per connection"; dir["server_cpu_us_per_conn"] = "lower"
    label["rss_bytes_per_connection"] = "server RSS bytes per connection"; dir["rss_bytes_per_connection"] = "lower"
    title["timers"] = "timers (1M, 1..1000 ms)"
    title["wakeup"] = "cross-thread wake-ups"
    title["callbacks"] = "chained callbacks (10M)"
    title["echo_1x1k"] = "TCP echo, 1 conn, 1 KiB"
    title["echo_100x1k"] = "TCP echo, 100 conns, 1 KiB"
    title["echo_1x64k"] = "TCP echo, 1 conn, 64 KiB"
    title["echo_100x64k"] = "TCP echo, 100 conns, 64 KiB"
    title["bulk_server_source"] = "bulk 1 GiB, server sends"
    title["bulk_server_sink"] = "bulk 1 GiB, server receives"
    title["http"] = "HTTP hello, wrk -c100 (instructions: http_load -c100)"
    title["udp"] = "UDP echo, 64 sockets, 64 B"
    title["storm"] = "connect storm, 10k connections"
    title["idle"] = "idle connections (10k)"
}
{
    bm = $1 SUBSEP $2
    vals[bm SUBSEP $3] = vals[bm SUBSEP $3] " " $4
    cnt[bm SUBSEP $3]++
    val[bm SUBSEP $3 SUBSEP $5] = $4
    if ($5 + 0 > maxround) maxround = $5 + 0
    if (!(bm in seen)) { seen[bm] = 1; order[++n] = bm }
}
END {
    print "| benchmark | metric (better) | eddy | libuv | eddy advantage | runs |"
    print "|---|---|---|---|---|---|"
    for (k = 1; k <= n; k++) {
        split(order[k], p, SUBSEP)
        if (p[1] == "multiloop") continue
        e = median(vals[order[k] SUBSEP "eddy"]); u = median(vals[order[k] SUBSEP "uv"])
        t = (p[1] in title) ? title[p[1]] : p[1]
        l = (p[2] in label) ? label[p[2]] : p[2]
        printf "| %s | %s (%s) | %s | %s | %s | %d+%d |\n", t, l, dir[p[2]], fmt(e), fmt(u),
            advantage(order[k], "eddy", "uv"), cnt[order[k] SUBSEP "eddy"], cnt[order[k] SUBSEP "uv"]
    }
    # The floor bounds what any library could win on UDP: the ratio of
    # libuv to the floor is the most a library with no cost at all would
    # show against libuv.
    if (cnt["udp" SUBSEP "server_cpu_us_per_dgram" SUBSEP "floor"] > 0) {
        print ""
        print "| UDP echo against the no-library floor (udp_floor.c) | floor | eddy | libuv | floor better than eddy by | than libuv by |"
        print "|---|---|---|---|---|---|"
        for (k = 1; k <= n; k++) {
            split(order[k], p, SUBSEP)
            if (p[1] != "udp" || cnt[order[k] SUBSEP "floor"] == 0) continue
            printf "| %s (%s) | %s | %s | %s | %s | %s |\n", label[p[2]], dir[p[2]],
                fmt(median(vals[order[k] SUBSEP "floor"])), fmt(median(vals[order[k] SUBSEP "eddy"])),
                fmt(median(vals[order[k] SUBSEP "uv"])),
                advantage(order[k], "floor", "eddy"), advantage(order[k], "floor", "uv")
        }
    }
    if (("multiloop" SUBSEP "msgs_per_sec") in seen) {
        print ""
        print "| multi-loop echo (eddy, 100 conns x 1 KiB, nothing pinned) | 1 loop | 2 loops | 2 loops better by | runs |"
        print "|---|---|---|---|---|"
        for (k = 1; k <= n; k++) {
            split(order[k], p, SUBSEP)
            if (p[1] != "multiloop") continue
            a = median(vals[order[k] SUBSEP "loops1"]); b = median(vals[order[k] SUBSEP "loops2"])
            printf "| %s (%s) | %s | %s | %s | %d+%d |\n", label[p[2]], dir[p[2]], fmt(a), fmt(b),
                advantage(order[k], "loops2", "loops1"), cnt[order[k] SUBSEP "loops1"], cnt[order[k] SUBSEP "loops2"]
        }
    }
}' "$RES" >"$OUT/table.md"

echo
echo "eddy $(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml 2>/dev/null | head -1) vs libuv $(pkg-config --modversion libuv 2>/dev/null)" \
    "on $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), Linux $(uname -r)"
echo "Load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - T_START)) s of benchmarks"
echo "eddy and libuv columns: medians. eddy advantage: the median over rounds of eddy / libuv"
echo "(higher is better) or libuv / eddy (lower is better), each round running the pair back to back;"
echo "> 1.0 means eddy is better. Raw runs: $RES"
echo
cat "$OUT/table.md"

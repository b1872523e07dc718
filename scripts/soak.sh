#!/bin/bash
# Long run of one daemon under route churn, to see whether its memory or CPU creeps up.
# As root. Two network namespaces: the daemon's, and its two neighbours' (babel_feeder),
# each advertising the same N IPv6 prefixes. One neighbour is steady (metric 100); the other
# flaps its metric between 0 and 300 at every dump (every INTERVAL seconds, a new seqno
# each time), so every route moves from one neighbour to the other and back; and every CUT
# seconds the daemon's link to the flapping neighbour loses carrier for a second (every
# route through it is retracted and comes back). Prints the daemon's RSS, peak RSS, kernel
# routes and CPU time every 20 s, then the RSS growth over the run after the first minute.
#
#   scripts/soak.sh [--daemon PATH] [--prefixes N] [--seconds S] [--interval S] [--cut S]
#
# The daemon is started with babeld's command line (`-h 1 -H 1 -M 0 -I PIDFILE -S STATE
# da db`), so `--daemon /usr/sbin/babeld` runs babeld instead. Defaults: target/static/routed
# (scripts/static-routed.sh), 20,000 prefixes, 600 s, interval 2 s, cut 45 s. babel_feeder is
# target/release/babel_feeder (cargo build --release -p routed-benches).
set -euo pipefail
cd "$(dirname "$0")/.."
DAEMON=target/static/routed
FEEDER=target/release/babel_feeder
N=20000 DUR=600 IV=2 CUT=45
while [ $# -gt 0 ]; do
    case "$1" in
        --daemon) DAEMON=$2 ;;
        --prefixes) N=$2 ;;
        --seconds) DUR=$2 ;;
        --interval) IV=$2 ;;
        --cut) CUT=$2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift 2
done
for n in "$N" "$DUR" "$IV" "$CUT"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || { echo "soak.sh: $n is not a positive whole number" >&2; exit 2; }
done
for f in "$DAEMON" "$FEEDER"; do
    [ -x "$f" ] || { echo "soak.sh: $f is not there (see --help for how to build it)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "soak.sh: needs root (network namespaces)" >&2; exit 2; }

p=soak$$
work=$(mktemp -d)
cleanup() {
    for ns in "${p}d" "${p}f"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    done
    sleep 1
    ip netns del "${p}d" 2>/dev/null || true
    ip netns del "${p}f" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "${p}f"
ip netns add "${p}d"
for x in a b; do
    ip link add "f$x" netns "${p}f" type veth peer name "d$x" netns "${p}d"
    ip -n "${p}f" link set "f$x" up
    ip -n "${p}d" link set "d$x" up
done
ip -n "${p}f" link set lo up
ip -n "${p}d" link set lo up
sleep 2 # IPv6 link-local addresses (DAD)
ip netns exec "${p}d" "$DAEMON" -h 1 -H 1 -M 0 -I "$work/pid" -S "$work/state" da db \
    >"$work/daemon.log" 2>&1 &
for _ in $(seq 50); do [ -s "$work/pid" ] && break; sleep 0.1; done
[ -s "$work/pid" ] || { echo "the daemon did not start:"; tail -5 "$work/daemon.log"; exit 1; }
pid=$(cat "$work/pid")
# The neighbours outlive the run (babel_feeder stops after --hold, 600 s by default); one
# started again would begin with its first seqno, older than the one the daemon holds, and
# its routes would stay unfeasible.
hold=$((DUR + 120))
ip netns exec "${p}f" "$FEEDER" --if fa --prefixes "$N" --metric 100 --router-id 1 \
    --interval 30 --pps 4000 --hold "$hold" >/dev/null 2>&1 &
ip netns exec "${p}f" "$FEEDER" --if fb --prefixes "$N" --metric 0 --flap 300 \
    --router-id 2 --interval "$IV" --pps 4000 --hold "$hold" >/dev/null 2>&1 &
feeders="$(jobs -p)"

stat_of() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
t0=$(date +%s)
next_cut=$((t0 + CUT))
cuts=0
base=
echo "daemon $DAEMON, $N prefixes, a flap every $IV s, carrier lost every $CUT s, $DUR s"
printf '%6s %10s %10s %9s %7s\n' t_s rss_kB peak_kB routes cpu_s
last=-1
while :; do
    now=$(date +%s)
    el=$((now - t0))
    [ "$el" -ge "$DUR" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "the daemon stopped at $el s:"; tail -5 "$work/daemon.log"; exit 1; }
    for f in $feeders; do
        kill -0 "$f" 2>/dev/null || { echo "a neighbour (babel_feeder) stopped at $el s"; exit 1; }
    done
    if [ "$now" -ge "$next_cut" ]; then
        ip -n "${p}d" link set db down
        sleep 1
        ip -n "${p}d" link set db up
        cuts=$((cuts + 1))
        next_cut=$((now + CUT))
    fi
    if [ $((el % 20)) -eq 0 ] && [ "$el" -ne "$last" ]; then
        last=$el
        rss=$(stat_of VmRSS)
        routes=$(ip -n "${p}d" -6 route show proto 42 | wc -l)
        cpu=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$pid/stat")
        printf '%6d %10d %10d %9d %7s\n' "$el" "$rss" "$(stat_of VmHWM)" "$routes" "$cpu"
        [ -z "$base" ] && [ "$el" -ge 60 ] && base=$rss
    fi
    sleep 0.5
done
rss=$(stat_of VmRSS)
echo "carrier cuts: $cuts; RSS after the first minute ${base:-?} kB, at the end $rss kB (growth $((rss - ${base:-$rss})) kB)"

#!/usr/bin/env bash
# Regenerates the golden Babel captures of this directory from a real babeld.
#
# Every capture is made from scratch: network namespaces joined by veth pairs, one babeld per
# namespace with a configuration file written to a temporary directory, and tshark recording
# UDP port 6696 on one interface.  Everything is torn down by a trap, even on failure.
#
# Usage (as root):  capture.sh [NAME...]
#   NAME is one of: basic timestamps compressed v4viav6 source-specific requests hmac
#   With no NAME, every capture is regenerated.  OUT_DIR=dir writes the files elsewhere.
#
# The captures were made with Debian's babeld 1.12.1 and tshark 4.0.

set -euo pipefail

DATA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT_DIR=${OUT_DIR:-$DATA_DIR}
ALL_CAPTURES=(basic timestamps compressed v4viav6 source-specific requests hmac)
NS_PREFIX=bcap

if [[ $(id -u) -ne 0 ]]; then
    echo "capture.sh: must run as root (network namespaces, packet capture)" >&2
    exit 1
fi

# A fresh CI machine has none of the tools.
install_tools() {
    local missing=()
    command -v babeld >/dev/null 2>&1 || missing+=(babeld)
    command -v tshark >/dev/null 2>&1 || missing+=(tshark)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    if ((${#missing[@]} > 0)); then
        echo "capture.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q babeld tshark iproute2
    fi
}
install_tools
echo "capture.sh: $(babeld -V 2>&1 | head -n1), $(tshark --version 2>/dev/null | head -n1)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bcap.XXXXXX")
# Configuration, state, pid and log files of the capture being made: one directory per capture.
RUN=
NAMESPACES=()
PIDS=()
CAPTURE_PID=

# Stops every process this script started and deletes its namespaces.
teardown() {
    local pid ns pidfile
    # Every babeld of the capture, also by its pid file in case one escaped PIDS.
    if [[ -n $RUN ]]; then
        for pidfile in "$RUN"/*.pid; do
            [[ -s $pidfile ]] && PIDS+=("$(cat "$pidfile")")
        done
    fi
    for pid in "${PIDS[@]}" $CAPTURE_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}" $CAPTURE_PID; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    PIDS=()
    NAMESPACES=()
    CAPTURE_PID=
}

cleanup() {
    set +e
    teardown
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns() { echo "$NS_PREFIX-$1"; }

# add_node NAME: a namespace with loopback up and no IPv6 duplicate address detection, so
# that link-local addresses are usable at once.
add_node() {
    local name
    name=$(ns "$1")
    ip netns del "$name" 2>/dev/null || true # left over from a run that was killed -9
    ip netns add "$name"
    NAMESPACES+=("$name")
    ip netns exec "$name" sysctl -q -w net.ipv6.conf.default.accept_dad=0
    ip netns exec "$name" sysctl -q -w net.ipv6.conf.all.accept_dad=0
    ip -n "$name" link set lo up
}

# add_link NODE_A IF_A MAC_A NODE_B IF_B MAC_B: a veth pair between two namespaces, with
# fixed MAC addresses (hence fixed link-local addresses).
add_link() {
    ip link add "$2" address "$3" netns "$(ns "$1")" type veth \
        peer name "$5" address "$6" netns "$(ns "$4")"
    ip -n "$(ns "$1")" link set "$2" up
    ip -n "$(ns "$4")" link set "$5" up
}

# add_stub NODE: an interface "stub0" to hang redistributed kernel routes on.  It is one end
# of a veth pair kept inside the namespace (the dummy driver is not available everywhere).
add_stub() {
    ip -n "$(ns "$1")" link add stub0 type veth peer name stub1
    ip -n "$(ns "$1")" link set stub0 up
    ip -n "$(ns "$1")" link set stub1 up
}

# start_babeld NODE < CONFIG: runs babeld in NODE's namespace with the configuration on stdin.
start_babeld() {
    local node=$1
    cat >"$RUN/$node.conf"
    ip netns exec "$(ns "$node")" babeld -c "$RUN/$node.conf" \
        -S "$RUN/$node.state" -I "$RUN/$node.pid" \
        >"$RUN/$node.log" 2>&1 &
    PIDS+=($!)
}

# stop_babeld NODE: SIGTERM, on which babeld retracts its routes before it exits.
stop_babeld() {
    local pid
    pid=$(cat "$RUN/$1.pid")
    kill "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

# start_capture NODE IFACE NAME SECONDS: tshark on one interface; returns once it captures.
start_capture() {
    local node=$1 iface=$2 name=$3 secs=$4
    rm -f "$RUN/$name.pcapng"
    ip netns exec "$(ns "$node")" tshark -q -i "$iface" -f 'udp port 6696' \
        -w "$RUN/$name.pcapng" -a "duration:$secs" >"$RUN/$name.tshark.log" 2>&1 &
    CAPTURE_PID=$!
    for _ in $(seq 100); do
        if grep -q 'Capturing on' "$RUN/$name.tshark.log" 2>/dev/null; then
            sleep 0.5
            return 0
        fi
        sleep 0.1
    done
    echo "capture.sh: tshark did not start:" >&2
    cat "$RUN/$name.tshark.log" >&2
    return 1
}

# finish_capture NAME: waits for tshark to stop, installs the file and prints a summary.
finish_capture() {
    local name=$1
    wait "$CAPTURE_PID"
    CAPTURE_PID=
    teardown
    local n size log
    n=$(tshark -r "$RUN/$name.pcapng" -Y babel 2>/dev/null | wc -l)
    if ((n == 0)); then
        echo "capture.sh: $name: no Babel packet captured; babeld said:" >&2
        for log in "$RUN"/*.log; do
            echo "--- $(basename "$log")" >&2
            tail -n 20 "$log" >&2
        done
        return 1
    fi
    install -m 0644 "$RUN/$name.pcapng" "$OUT_DIR/$name.pcapng"
    size=$(stat -c %s "$OUT_DIR/$name.pcapng")
    echo "capture.sh: $name.pcapng: $n Babel packets, $size bytes; message types (type count):"
    tshark -r "$OUT_DIR/$name.pcapng" -T fields -e babel.message.type 2>/dev/null |
        tr ',' '\n' | grep -v '^$' | sort -n | uniq -c | awk '{printf "    type %s: %s\n", $2, $1}'
}

# babeld_common N: configuration shared by every node: a fixed router-id ending in N, so that
# captures are readable and stable.
babeld_common() {
    echo "router-id 02:bc:00:00:00:00:00:0$1"
}

# ---------------------------------------------------------------------------------------------
# basic: a - b - c on a line; each node announces an IPv4 and an IPv6 loopback address and a
# kernel route of each family.  Captured on b's interface towards a for 20 s from before the
# daemons start: wildcard requests, hellos, IHUs, router-ids, next hops, IPv4 and IPv6 updates.
capture_basic() {
    add_node a
    add_node b
    add_node c
    add_link a ab 02:bc:00:00:0a:0b b ba 02:bc:00:00:0b:0a
    add_link b bc 02:bc:00:00:0b:0c c cb 02:bc:00:00:0c:0b
    ip -n "$(ns a)" addr add 10.12.0.1/24 dev ab
    ip -n "$(ns b)" addr add 10.12.0.2/24 dev ba
    ip -n "$(ns b)" addr add 10.23.0.2/24 dev bc
    ip -n "$(ns c)" addr add 10.23.0.3/24 dev cb
    local n i conf
    i=1
    for n in a b c; do
        add_stub $n
        ip -n "$(ns $n)" addr add 192.0.2.$i/32 dev lo
        ip -n "$(ns $n)" addr add 2001:db8:0:$i::1/128 dev lo
        ip -n "$(ns $n)" route add 198.51.100.$((i * 16))/28 dev stub0 proto static
        ip -n "$(ns $n)" -6 route add 2001:db8:$i::/48 dev stub0 proto static
        i=$((i + 1))
    done
    start_capture b ba basic 20
    i=1
    for n in a b c; do
        # Built first, then passed on stdin: a pipeline would start babeld in a subshell,
        # out of reach of teardown.
        conf=$(
            babeld_common $i
            case $n in
            a) echo "interface ab" ;;
            b) printf 'interface ba\ninterface bc\n' ;;
            c) echo "interface cb" ;;
            esac
            cat <<'EOF'
redistribute ip 198.51.100.0/24 ge 28 allow
redistribute ip 2001:db8::/32 eq 48 allow
redistribute local ip 192.0.2.0/24 allow
redistribute local ip 2001:db8::/32 allow
redistribute local deny
EOF
        )
        start_babeld $n <<<"$conf"
        i=$((i + 1))
    done
    finish_capture basic
}

# two_nodes [v4]: nodes a and b joined by ab <-> ba, with addresses 2001:db8:0:N::1/128 on
# loopback (and 192.0.2.N/32, and 10.12.0.N/24 on the link, when "v4" is given) and a stub
# interface for kernel routes.
two_nodes() {
    add_node a
    add_node b
    add_link a ab 02:bc:00:00:0a:0b b ba 02:bc:00:00:0b:0a
    add_stub a
    add_stub b
    ip -n "$(ns a)" addr add 2001:db8:0:1::1/128 dev lo
    ip -n "$(ns b)" addr add 2001:db8:0:2::1/128 dev lo
    if [[ ${1:-} == v4 ]]; then
        ip -n "$(ns a)" addr add 10.12.0.1/24 dev ab
        ip -n "$(ns b)" addr add 10.12.0.2/24 dev ba
        ip -n "$(ns a)" addr add 192.0.2.1/32 dev lo
        ip -n "$(ns b)" addr add 192.0.2.2/32 dev lo
    fi
}

# Redistribution of the loopback addresses above, and of nothing else that is local.
REDISTRIBUTE_LOCAL='redistribute local ip 192.0.2.0/24 allow
redistribute local ip 2001:db8::/32 allow
redistribute local deny'

# timestamps: a - b with "enable-timestamps true" (RFC 9616): hellos carry a timestamp
# sub-TLV (type 3, 4 octets) and IHUs one of 8 octets.  15 s, captured on b.
capture_timestamps() {
    two_nodes v4
    start_capture b ba timestamps 15
    start_babeld a <<EOF
$(babeld_common 1)
interface ab enable-timestamps true
$REDISTRIBUTE_LOCAL
EOF
    start_babeld b <<EOF
$(babeld_common 2)
interface ba enable-timestamps true
$REDISTRIBUTE_LOCAL
EOF
    finish_capture timestamps
}

# compressed: a announces 50 IPv6 /64s inside 2001:db8:77::/48 and 30 IPv4 /24s inside
# 198.18.0.0/16 as kernel routes ("proto static"), so babeld's updates omit the octets they
# share with the previous prefix (RFC 8966 §4.6.9: Omitted > 0 after an update with flag 0x80).
# 15 s, captured on b.
capture_compressed() {
    two_nodes v4
    local i
    for i in $(seq 0 49); do
        ip -n "$(ns a)" -6 route add "2001:db8:77:$((i * 3 + 1))::/64" dev stub0 proto static
    done
    for i in $(seq 0 29); do
        ip -n "$(ns a)" route add "198.18.$((i * 5 + 2)).0/24" dev stub0 proto static
    done
    start_capture b ba compressed 15
    start_babeld a <<EOF
$(babeld_common 1)
interface ab
redistribute ip 2001:db8:77::/48 eq 64 allow
redistribute ip 198.18.0.0/16 eq 24 allow
$REDISTRIBUTE_LOCAL
EOF
    start_babeld b <<EOF
$(babeld_common 2)
interface ba
$REDISTRIBUTE_LOCAL
EOF
    finish_capture compressed
}

# v4viav6: the link has no IPv4 address at all and "v4-via-v6 true", so babeld announces its
# IPv4 prefixes with AE 4 (RFC 9229) and an IPv6 next hop.  15 s, captured on b.
capture_v4viav6() {
    two_nodes
    ip -n "$(ns a)" addr add 192.0.2.1/32 dev lo
    ip -n "$(ns a)" route add 198.51.100.16/28 dev stub0 proto static
    ip -n "$(ns a)" route add 198.51.100.32/28 dev stub0 proto static
    ip -n "$(ns b)" addr add 192.0.2.2/32 dev lo
    start_capture b ba v4viav6 15
    start_babeld a <<EOF
$(babeld_common 1)
interface ab v4-via-v6 true
redistribute ip 198.51.100.0/24 ge 28 allow
$REDISTRIBUTE_LOCAL
EOF
    start_babeld b <<EOF
$(babeld_common 2)
interface ba v4-via-v6 true
$REDISTRIBUTE_LOCAL
EOF
    finish_capture v4viav6
}

# source-specific: a has the kernel route 2001:db8:5::/48 from 2001:db8:100::/56 and gives
# 2001:db8:6::/48 the source prefix 2001:db8:200::/48 by a redistribute rule (RFC 9079,
# sub-TLV 128).  a stops after 20 s, so b also sends requests for the lost source-specific
# routes: b surely has them by then, even if it ignored a's first updates because they came
# before a's IHU (the second full dump is at 16 s).  25 s, captured on b.
capture_source_specific() {
    two_nodes v4
    ip -n "$(ns a)" -6 route add 2001:db8:5::/48 from 2001:db8:100::/56 dev stub0 proto static
    ip -n "$(ns a)" -6 route add 2001:db8:6::/48 dev stub0 proto static
    start_capture b ba source-specific 25
    start_babeld a <<EOF
$(babeld_common 1)
interface ab
redistribute ip 2001:db8:5::/48 allow
redistribute ip 2001:db8:6::/48 src-prefix 2001:db8:200::/48
$REDISTRIBUTE_LOCAL
EOF
    start_babeld b <<EOF
$(babeld_common 2)
interface ba
$REDISTRIBUTE_LOCAL
EOF
    sleep 20
    stop_babeld a
    finish_capture source-specific
}

# requests: a, b and c in a triangle, captured on b's interface towards c.  At the start,
# wildcard route requests; after 7 s, a withdraws its kernel routes (b and c then send route
# requests for the lost prefixes) and puts them back 3 s later; after 14 s, the link a - b is
# cut: b's remaining routes to a's prefixes through c are not feasible and a's routes to b's
# prefixes neither, so both send seqno requests (RFC 8966), which c forwards.  22 s.
capture_requests() {
    add_node a
    add_node b
    add_node c
    add_link a ab 02:bc:00:00:0a:0b b ba 02:bc:00:00:0b:0a
    add_link b bc 02:bc:00:00:0b:0c c cb 02:bc:00:00:0c:0b
    add_link a ac 02:bc:00:00:0a:0c c ca 02:bc:00:00:0c:0a
    ip -n "$(ns a)" addr add 10.12.0.1/24 dev ab
    ip -n "$(ns b)" addr add 10.12.0.2/24 dev ba
    ip -n "$(ns b)" addr add 10.23.0.2/24 dev bc
    ip -n "$(ns c)" addr add 10.23.0.3/24 dev cb
    ip -n "$(ns a)" addr add 10.13.0.1/24 dev ac
    ip -n "$(ns c)" addr add 10.13.0.3/24 dev ca
    local n conf i=1
    for n in a b c; do
        add_stub $n
        ip -n "$(ns $n)" addr add 2001:db8:0:$i::1/128 dev lo
        ip -n "$(ns $n)" addr add 192.0.2.$i/32 dev lo
        i=$((i + 1))
    done
    local routes=(
        "-6 route add 2001:db8:1::/48 dev stub0 proto static"
        "-6 route add 2001:db8:5::/48 from 2001:db8:100::/56 dev stub0 proto static"
        "-4 route add 198.51.100.16/28 dev stub0 proto static"
    )
    local r
    for r in "${routes[@]}"; do
        # shellcheck disable=SC2086 # one route per string, split into words on purpose
        ip -n "$(ns a)" $r
    done
    start_capture b bc requests 22
    i=1
    for n in a b c; do
        # Built first, then passed on stdin: a pipeline would start babeld in a subshell,
        # out of reach of teardown.
        conf=$(
            babeld_common $i
            case $n in
            a) printf 'interface ab\ninterface ac\n' ;;
            b) printf 'interface ba\ninterface bc\n' ;;
            c) printf 'interface cb\ninterface ca\n' ;;
            esac
            echo 'redistribute ip 2001:db8:1::/48 allow'
            echo 'redistribute ip 2001:db8:5::/48 allow'
            echo 'redistribute ip 198.51.100.16/28 allow'
            echo "$REDISTRIBUTE_LOCAL"
        )
        start_babeld $n <<<"$conf"
        i=$((i + 1))
    done
    sleep 7
    for r in "${routes[@]}"; do
        # shellcheck disable=SC2086
        ip -n "$(ns a)" ${r/ add / del }
    done
    sleep 3
    for r in "${routes[@]}"; do
        # shellcheck disable=SC2086
        ip -n "$(ns a)" $r
    done
    sleep 4
    ip -n "$(ns a)" link set ab down
    ip -n "$(ns b)" link set ba down
    finish_capture requests
}

# hmac: a - b with an HMAC-SHA256 key on the link (RFC 8967): every packet carries a PC (17)
# at the end of its body and a MAC (16) in its trailer, and the first unicast exchange is a
# challenge request (18) and reply (19) each way.  15 s, captured on b.
HMAC_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
capture_hmac() {
    two_nodes v4
    start_capture b ba hmac 15
    start_babeld a <<EOF
$(babeld_common 1)
key id k1 type hmac-sha256 value $HMAC_KEY
interface ab key k1
$REDISTRIBUTE_LOCAL
EOF
    start_babeld b <<EOF
$(babeld_common 2)
key id k1 type hmac-sha256 value $HMAC_KEY
interface ba key k1
$REDISTRIBUTE_LOCAL
EOF
    finish_capture hmac
}

main() {
    local names=("$@")
    ((${#names[@]} > 0)) || names=("${ALL_CAPTURES[@]}")
    local name
    for name in "${names[@]}"; do
        case " ${ALL_CAPTURES[*]} " in
        *" $name "*) ;;
        *)
            echo "capture.sh: unknown capture $name (known: ${ALL_CAPTURES[*]})" >&2
            exit 2
            ;;
        esac
        echo "capture.sh: making $name.pcapng"
        RUN="$WORK/$name"
        mkdir -p "$RUN"
        "capture_${name//-/_}"
    done
}

main "$@"

#!/bin/bash
# Regenerates crates/routed/hot-text.ld: the functions the daemon executes while it starts,
# runs idle, ingests routes from a neighbour and exchanges routes with another routed. The
# release link puts them together (crates/routed/build.rs) so that the kernel, which maps a
# binary's code a whole page-cache folio (64 KiB and more) at a time, leaves the rest of
# the code unmapped (docs/performance.md, issue 7). The functions only the start-up and the
# shutdown run come after the running daemon's, on blocks of their own: the daemon gives
# their pages back once it has started (netdriver::release_start_up_pages).
#
# It profiles the static build (scripts/static-routed.sh), so that the list also names the C
# library's objects the daemon runs; the ordinary dynamic build uses the same list (the C
# library lines then match nothing).
#
# Needs root (network namespaces), valgrind, and babel_feeder:
#   cargo build --release -p routed-benches && scripts/static-routed.sh && sudo scripts/hot-text.sh
# Run it again after large changes: a function missing from the list still works, it is
# only placed with the cold code.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${ROUTED:-target/static/routed}
FEEDER=${FEEDER:-target/release/babel_feeder}
OUT=${OUT:-crates/routed/hot-text.ld}
# Both are needed: without the feeder the profiles miss the ingest and the exchange, and the
# list would be short of much of the running code; fail rather than write it.
for f in "$BIN" "$FEEDER"; do
    if [ ! -x "$f" ]; then
        echo "hot-text.sh: $f is missing (build it: see the comment at the top)" >&2
        exit 1
    fi
done
# The archives a static routed takes its C code from (the C library, and the unwinder whose
# frame registration runs at start and exit), to find the object of each function.
LIBC_A=${LIBC_A:-$(cc -print-file-name=libc.a)}
LIBGCC_EH_A=${LIBGCC_EH_A:-$(cc -print-file-name=libgcc_eh.a)}
W=$(mktemp -d)
NS="hot$$"
cleanup() {
    for p in $(cat "$W"/*.vgpid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    for n in a b f; do ip netns del "$NS$n" 2>/dev/null || true; done
    # HOT_KEEP=DIR keeps the profiles and logs there.
    if [ -n "${HOT_KEEP:-}" ]; then rm -rf "$HOT_KEEP" && cp -r "$W" "$HOT_KEEP"; fi
    rm -rf "$W"
}
trap cleanup EXIT

for n in a b f; do
    ip netns add "$NS$n"
    ip -n "$NS$n" link set lo up
done
ip -n "${NS}a" addr add fd00:99::1/128 dev lo
ip -n "${NS}b" addr add fd00:99::2/128 dev lo
ip -n "${NS}a" link add h0 type veth peer name h1 netns "${NS}b"
ip -n "${NS}f" link add h2 type veth peer name h3 netns "${NS}a"
for l in "a h0" "b h1" "f h2" "a h3"; do
    set -- $l
    ip -n "$NS$1" link set "$2" up
done
sleep 2

# routed in namespace $1 on interfaces $3..., profiled into $W/$2.out
start() {
    local ns=$1 tag=$2
    shift 2
    # A first part of the profile ends where the daemon gives its start-up pages back: the
    # code that does it is running when it does, and goes with the running daemon's.
    ip netns exec "$NS$ns" valgrind --tool=callgrind --demangle=no \
        --dump-before='*release_start_up_pages*' \
        --callgrind-out-file="$W/$tag.out" "$BIN" -I "$W/$tag.pid" -S "$W/$tag.state" \
        -d 0 "$@" >"$W/$tag.log" 2>&1 &
    echo $! >"$W/$tag.vgpid"
}
# A router that has run before starts with a state file (router-id, seqno, time): read it
# too, as every start but the first does.
for t in a b; do
    echo "02:00:00:ff:fe:00:00:0$([ $t = a ] && echo 1 || echo 2) 1000 $(date +%s)" >"$W/$t.state"
done
# Options are parsed by code of their own: give one (the default hello interval), as most
# routers' command lines do.
start a a -h 4 h0 h3
start b b h1
sleep 8
ip netns exec "${NS}f" "$FEEDER" --if h2 --prefixes 10000 --hold 20 >"$W/feeder.log" 2>&1 &
FP=$!
sleep 30
kill "$FP" 2>/dev/null || true
# A second part ends here: what runs after it is the shutdown's.
for t in a b; do callgrind_control -d "$(cat "$W/$t.vgpid")" >/dev/null 2>&1; done
for t in a b; do kill -TERM "$(cat "$W/$t.pid")"; done
for t in a b; do
    while kill -0 "$(cat "$W/$t.vgpid")" 2>/dev/null; do sleep 1; done
done

nm -A --defined-only "$LIBC_A" "$LIBGCC_EH_A" 2>/dev/null >"$W/libc.nm" || true
nm --defined-only "$BIN" | awk '{print $3}' >"$W/bin.nm"
python3 - "$W" "$(basename "$BIN")" "$OUT" <<'PY'
import os, re, sys
work, binname, out = sys.argv[1:4]
# Which archive member defines each function (text symbols, global or local), as
# "libc.a:malloc.o".
member = {}
for l in open(work + "/libc.nm"):
    m = re.match(r"^(?:.*/)?([^/:]+\.a):([^:]+\.o):\s*[0-9a-f]*\s+[tTiW]\s+(\S+)$", l.strip())
    if m:
        member.setdefault(m.group(3), m.group(1) + ":" + m.group(2))
# Each daemon's profile comes in parts, in the order written: its start-up (until it gives
# its start-up pages back), its running (idle, ingest, exchanges), its shutdown. Callgrind's
# compressed names, "(id) name" once then "(id)", are numbered across the parts.
running, names = set(), set()
for tag in ("a", "b"):
    base = f"{work}/{tag}.out"
    parts = [f"{base}.1", f"{base}.2"]
    if not all(os.path.exists(f) for f in parts + [base]):
        sys.exit(f"hot-text.sh: {base}: a part of the profile is missing (see {tag}.log)")
    if "Trigger: --dump-before" not in open(parts[0]).read(4096):
        sys.exit(f"hot-text.sh: {base}: no profile part ends at release_start_up_pages")
    obs, fns, cur = {}, {}, None
    for i, f in enumerate(parts + [base]):
        for l in open(f):
            l = l.rstrip("\n")
            m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", l)
            if m:
                if m.group(3):
                    obs[m.group(2)] = m.group(3)
                if m.group(1) == "ob":
                    cur = obs.get(m.group(2), "")
                continue
            m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", l)
            if m:
                if m.group(3):
                    fns[m.group(2)] = m.group(3)
                # valgrind names part of a static executable's code "???".
                if m.group(1) == "fn" and (cur.endswith("/" + binname) or cur == "???"):
                    names.add(fns[m.group(2)])
                    if i == 1:
                        running.add(fns[m.group(2)])
if not running:
    sys.exit("hot-text.sh: no profile part of a running daemon")
# The hash at the end of a legacy symbol depends on the build's metadata (its profile and
# target, not its paths: cargo hashes a workspace's paths relative to its root), and it is
# what tells the instances of a generic function apart. A function with one instance in
# the profiled binary is named with any hash, so that the list still finds it after a
# change elsewhere, and in the ordinary dynamic build; one with several (BTreeMap::insert,
# a sort, an iterator adapter) is named by the hashes of the instances that ran only: the
# others would take up hot code (tens of KB).
anyhash = lambda n: re.sub(r"17h[0-9a-f]{16}E$", "17h????????????????E", n)
instances = {}
for l in open(work + "/bin.nm"):
    n = l.strip()
    if n.startswith("_ZN"):
        instances[anyhash(n)] = instances.get(anyhash(n), 0) + 1
# Each function or C object goes with the running daemon's code if it ran there, else with
# the code that only the start-up and the shutdown ran, whose pages the daemon gives back.
pats = {True: set(), False: set()}
objs = {True: set(), False: set()}
for n in names:
    run = n in running
    n = re.sub(r"'\d+$", "", n)  # callgrind's recursion marker
    if not re.match(r"^_[ZR]", n):
        if n in member:
            objs[run].add(member[n])
        continue
    g = anyhash(n) if instances.get(anyhash(n), 0) <= 1 else n
    # Characters a linker script pattern cannot hold: any one character.
    g = re.sub(r"[^A-Za-z0-9_.?]", "?", g)
    pats[run].add(f"    *(.text.{g} .text.unlikely.{g})")
pats[False] -= pats[True]
# Valgrind gives the program no vDSO, so glibc's set-up of it (at start, before main) never
# runs under it: its objects are named here.
objs[False].update(["libc.a:dl-object.o", "libc.a:dl-setup_hash.o"])
# A string or memory function has one object per instruction set in libc.a, and the
# variant valgrind's CPU picks may not be the one this machine's picks: take the AVX2 and
# EVEX variants of every such function too.
members = set(member.values())
for run in (True, False):
    for m in list(objs[run]):
        fam = m[:-2].split("-")[0]
        for v in members:
            if re.match(re.escape(fam) + r"-(avx2|evex)(-[a-z0-9_-]+)?\.o$", v) and "rtm" not in v:
                if v not in objs[True]:
                    objs[run].add(v)
objs[False] -= objs[True]
# A CPU runs one instruction set's variants only: each set's objects go together, after the
# rest, so that the other set's code shares few 64 KiB blocks with code that runs. The EVEX
# (AVX-512) set goes last: most CPUs routers have lack AVX-512, and on them the end of the
# hot code, which no other code shares, is never mapped.
def isa(m):
    v = re.search(r"-(avx2|evex|avx|sse[0-9a-z]*|ssse3)\b", m.split(":")[1])
    if not v:
        return (0, "")
    return ({"avx": 2, "avx2": 2, "evex": 3}.get(v.group(1), 1), v.group(1))
evex = lambda m: isa(m)[1] == "evex"
members_of = lambda run: sorted((m for m in objs[run] if not evex(m)), key=lambda m: (isa(m), m))
lines = lambda ms: "\n".join(f"    *{m}(.text .text.*)" for m in ms)
with open(out, "w") as o:
    o.write("/* Generated by scripts/hot-text.sh: the code a running routed executes, placed\n")
    o.write("   before the rest (crates/routed/build.rs). */\n")
    o.write("SECTIONS\n{\n  .text.hot :\n  {\n")
    # The running code starts on a 64 KiB block of its own: the kernel maps a binary's
    # pages 64 KiB-aligned blocks at a time, and a block it shared with the segment's start
    # (.init, .fini) would be one more block mapped for a few KB of running code.
    o.write("    . = ALIGN(65536);\n")
    # Calls to the C library's string and memory functions go through the linker's .iplt
    # stubs.
    o.write("    *(.iplt)\n")
    o.write("\n".join(sorted(pats[True])))
    # Every instance of the vectors' growth paths: which instance runs depends on sizes and
    # timing, and a profiling run can miss one that runs on routers (a few KB in all).
    o.write("\n    *(.text.*do_reserve_and_handle* .text.*finish_grow* .text.*grow_one*)")
    o.write("\n    /* The C library's objects a running static routed runs (libc.a and")
    o.write("\n       libgcc_eh.a members), one instruction set's variants after another. */\n")
    o.write(lines(members_of(True)))
    # Then what only the start-up and the shutdown run, whose pages the daemon gives back
    # once it has started (netdriver::release_start_up_pages): on their own 64 KiB blocks,
    # the kernel's unit of mapping a binary's pages, they stay unmapped while it runs. The
    # program's entry point (_start) comes from the C runtime's crt1.o, its start-up hooks
    # (frame_dummy: registering the unwind tables) from crtbeginT.o, and the C entry point
    # rustc generates calls the Rust runtime's start.
    o.write("\n    /* Start-up and shutdown only. */\n    . = ALIGN(65536);\n")
    o.write("    *crt1.o(.text .text.*)\n    *crtbegin*.o(.text .text.*)\n")
    o.write("    *(.text.main)\n")
    o.write("\n".join(sorted(pats[False])))
    o.write("\n" + lines(members_of(False)))
    # The EVEX set last (see isa() above).
    o.write("\n    /* EVEX (AVX-512) variants, on blocks of their own. */\n    . = ALIGN(65536);\n")
    o.write(lines(sorted(m for m in objs[True] | objs[False] if evex(m))))
    o.write("\n  }\n}\nINSERT BEFORE .text;\n")
print(f"{out}: {len(pats[True])} + {len(pats[False])} functions, {len(objs[True])} + {len(objs[False])} C library objects (running + start-up and shutdown only)")
PY

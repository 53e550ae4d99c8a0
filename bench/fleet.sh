#!/bin/bash
# Fleet benchmark: N (default 500) meshboot fetch processes at once, each
# with its own --root, against one loopback server that answers 503 to
# half of all requests at random (tests/faultserver, mode flaky50).  All
# must succeed; the server's log shows when each client retried: with full
# jitter the retries spread out instead of arriving in lockstep waves.
# usage: bench/fleet.sh [N] [MESHBOOT] [FAULTSERVER]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-500}
mb=${2:-$top/_build/plain/src/meshboot}
fs=${3:-$top/_build/plain/tests/faultserver}
[ -x "$fs" ] || { echo "bench: $fs is missing (make check builds it)" >&2; exit 1; }
tmp=$(mktemp -d)
spid=
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

mkdir -p "$tmp/srv" "$tmp/tree/bin"
printf '#!/bin/sh\necho sidecar\n' > "$tmp/tree/bin/run" && chmod 755 "$tmp/tree/bin/run"
head -c 262144 /dev/urandom > "$tmp/tree/bin/blob"
tar -czf "$tmp/srv/sidecar.tar.gz" -C "$tmp/tree" .
sha=$(sha256sum < "$tmp/srv/sidecar.tar.gz" | cut -d' ' -f1)
"$fs" --port 0 --root "$tmp/srv" --log "$tmp/http.log" --port-file "$tmp/port" --max-time 600 &
spid=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")

for i in $(seq "$n"); do
	cat > "$tmp/c$i.yaml" <<CFG
version: 1
roles: [pilot]
artifacts:
  pilot: {url: "http://127.0.0.1:$port/flaky50/sidecar.tar.gz?client=$i", sha256: $sha, version: "1", exec: bin/run}
fetch: {retries: 12, backoff_base_ms: 250, backoff_max_ms: 8000, deadline_sec: 300, connect_timeout_sec: 30}
CFG
	mkdir -p "$tmp/r$i"
done
start=$(date +%s.%N)
for i in $(seq "$n"); do
	"$mb" -q --root "$tmp/r$i" -c "$tmp/c$i.yaml" fetch > "$tmp/o$i" 2>&1 &
done
fail=0
for job in $(jobs -p); do
	[ "$job" = "$spid" ] && continue
	wait "$job" || fail=$((fail + 1))
done
end=$(date +%s.%N)
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true; spid=

python3 - "$tmp/http.log" "$n" "$fail" "$start" "$end" <<'PY'
import collections, statistics, sys
log, n, fail = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = collections.defaultdict(list)
codes = collections.Counter()
for line in open(log):
    f = line.split()
    if len(f) < 7 or "client=" not in f[2]:
        continue
    per[f[2].split("client=")[1]].append((int(f[0]), int(f[-2])))
    codes[int(f[-2])] += 1
gaps1, gapsall, attempts = [], [], []
for reqs in per.values():
    reqs.sort()
    attempts.append(len(reqs))
    for k in range(1, len(reqs)):
        g = reqs[k][0] - reqs[k - 1][0]
        gapsall.append(g)
        if k == 1:
            gaps1.append(g)
print(f"{n} meshboot fetch processes at once, server answering 503 to half the requests")
print(f"  succeeded: {n - fail} of {n}; wall {float(sys.argv[5]) - float(sys.argv[4]):.1f} s")
print(f"  requests: {sum(codes.values())} ({codes[503]} x 503, {codes[200]} x 200); attempts per process: "
      f"median {statistics.median(attempts):.0f}, max {max(attempts)}")
if gaps1:
    q = statistics.quantiles(gaps1, n=10)
    print(f"  first retry after (ms): min {min(gaps1)}, p10 {q[0]:.0f}, median {statistics.median(gaps1):.0f}, "
          f"p90 {q[-1]:.0f}, max {max(gaps1)}  (full jitter: uniform in 0..250 + connect time)")
    buckets = collections.Counter(min(g // 25, 11) for g in gaps1)
    print("  first-retry histogram (25 ms buckets): " + " ".join(f"{buckets.get(b, 0)}" for b in range(12)))
    # lockstep would put most retries in one bucket
    print(f"  largest bucket holds {max(buckets.values()) * 100 // len(gaps1)}% of first retries")
sys.exit(1 if fail else 0)
PY

#!/bin/sh
# Benchmark: `meshboot validate` against `cloud-init schema --config-file`
# on the same example, side by side in one run.  Prints both medians (from
# hyperfine), their ratio, and the peak RSS of each (from /usr/bin/time -v,
# the largest of 5 runs).
# usage: bench/validate.sh [MESHBOOT] [EXAMPLE]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-$top/_build/plain/src/meshboot}
ex=${2:-$top/cloud-config/all-in-one.yaml}
for t in hyperfine /usr/bin/time cloud-init python3; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing (apt-get install hyperfine time cloud-init)" >&2; exit 1; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

hyperfine -N -w 3 -r 30 --export-json "$tmp/h.json" \
	-n meshboot "$mb -q --config $ex validate" \
	-n cloud-init "cloud-init schema --config-file $ex" >/dev/null

peak() { # largest maximum resident set size (KiB) of 5 runs
	m=0
	for i in 1 2 3 4 5; do
		/usr/bin/time -v "$@" >/dev/null 2>"$tmp/t" || true
		k=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/t")
		[ "$k" -gt "$m" ] && m=$k
	done
	echo "$m"
}
rss_mb=$(peak "$mb" -q --config "$ex" validate)
rss_ci=$(peak cloud-init schema --config-file "$ex")

python3 - "$tmp/h.json" "$rss_mb" "$rss_ci" "$ex" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
mb, ci = r["meshboot"]["median"], r["cloud-init"]["median"]
rss_mb, rss_ci = int(sys.argv[2]) / 1024, int(sys.argv[3]) / 1024
print(f"example: {sys.argv[4]}")
print(f"{'':24}{'median wall':>14}{'peak RSS':>12}")
print(f"{'meshboot validate':24}{mb*1000:>11.2f} ms{rss_mb:>8.1f} MiB")
print(f"{'cloud-init schema':24}{ci*1000:>11.2f} ms{rss_ci:>8.1f} MiB")
print(f"ratio (cloud-init / meshboot): {ci/mb:.1f}x faster, {rss_ci/rss_mb:.1f}x less memory")
PY

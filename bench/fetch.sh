#!/bin/bash
# Benchmark: fetching four artifacts (~100 MB of gzip tarballs of realistic
# content, made by bench/make-release.py) from a loopback HTTP server, side
# by side in one run (hyperfine, medians):
#   meshboot   meshboot fetch: parallel downloads verified as they arrive,
#              cache, parallel unpack, versioned install
#   manual     the documented manual way, one artifact after another:
#              curl -o, sha256sum -c, tar -xzf
#   gunzip     the decompression limit: gzip -dc of the same files > /dev/null
# Then peak RSS of meshboot fetch at 1x and 4x the artifact size.
# usage: bench/fetch.sh [MESHBOOT]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-$top/_build/plain/src/meshboot}
for t in hyperfine python3 curl sha256sum tar gzip /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done
data=$top/_build/bench-data
tmp=$(mktemp -d)
cleanup() { [ -s "$tmp/server.pid" ] && kill "$(cat "$tmp/server.pid")" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

release() { # $1 MB per artifact -> directory
	local d=$data/release-$1
	[ -s "$d/SHA256SUMS" ] || python3 "$top/bench/make-release.py" "$d" 4 "$1" >&2
	echo "$d"
}

serve() { # $1 directory -> port (python's threading HTTP server on 127.0.0.1)
	[ -s "$tmp/server.pid" ] && kill "$(cat "$tmp/server.pid")" 2>/dev/null || true
	python3 - "$1" "$tmp/port" >/dev/null 2>&1 <<'PY' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.log_message = lambda *a: None
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2], "w").write(str(srv.server_port))
srv.serve_forever()
PY
	# called inside $(...): the pid goes to a file, the output nowhere
	echo $! > "$tmp/server.pid"
	for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
	cat "$tmp/port"; rm -f "$tmp/port"
}

config() { # $1 release dir, $2 port -> config file
	local i=0 r f h
	{
		echo "version: 1"
		echo "roles: [sidecar, pilot, mixer, citadel]"
		echo "mesh: {discovery_address: 'pilot:15010'}"
		echo 'certs: {root: {pem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"}}'
		echo "redirect: {enabled: false}"
		echo "artifacts:"
		for r in sidecar pilot mixer citadel; do
			f=component$i-1.0.$i-linux-amd64.tar.gz
			h=$(grep " $f\$" "$1/SHA256SUMS" | cut -d' ' -f1)
			echo "  $r: {url: \"http://127.0.0.1:$2/$f\", sha256: $h, version: \"1.0.$i\", exec: bin/run, strip_components: 1}"
			i=$((i + 1))
		done
	} > "$tmp/config-$2.yaml"
	echo "$tmp/config-$2.yaml"
}

rel=$(release 25)
port=$(serve "$rel")
cfg=$(config "$rel" "$port")
cat > "$tmp/manual.sh" <<MANUAL
#!/bin/sh
# the manual way: for each artifact, download, check, unpack
set -e
d=$tmp/manual
mkdir -p \$d/dl
for i in 0 1 2 3; do
	f=component\$i-1.0.\$i-linux-amd64.tar.gz
	curl -sSf -o \$d/dl/\$f http://127.0.0.1:$port/\$f
	(cd \$d/dl && grep " \$f\\\$" $rel/SHA256SUMS | sha256sum -c --quiet -)
	mkdir -p \$d/opt/c\$i
	tar -xzf \$d/dl/\$f -C \$d/opt/c\$i --strip-components=1
done
MANUAL
chmod +x "$tmp/manual.sh"
hyperfine -N -w 1 -r 10 --export-json "$tmp/h.json" \
	--prepare "rm -rf $tmp/root $tmp/manual" \
	-n meshboot "sh -c 'mkdir -p $tmp/root && exec $mb -q --root $tmp/root -c $cfg fetch'" \
	-n manual "$tmp/manual.sh" \
	-n gunzip "sh -c 'gzip -dc $rel/*.tar.gz > /dev/null'" >/dev/null

rss() { # $1 config: peak RSS (KiB) of 3 runs of meshboot fetch
	local m=0 k
	for _ in 1 2 3; do
		rm -rf "$tmp/root" && mkdir -p "$tmp/root"
		/usr/bin/time -f %M -o "$tmp/rss" "$mb" -q --root "$tmp/root" -c "$1" fetch
		k=$(cat "$tmp/rss"); [ "$k" -gt "$m" ] && m=$k
	done
	echo "$m"
}
rss1=$(rss "$cfg")
rel4=$(release 100)
port4=$(serve "$rel4")
rss4=$(rss "$(config "$rel4" "$port4")")

python3 - "$tmp/h.json" "$rel" "$rss1" "$rss4" <<'PY'
import json, os, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
size = sum(os.path.getsize(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]) if f.endswith(".tar.gz"))
mb, man, gz = r["meshboot"], r["manual"], r["gunzip"]
print(f"four artifacts, {size / 2**20:.0f} MiB of tar.gz, on a loopback HTTP server")
print(f"  meshboot fetch   {mb*1000:7.0f} ms")
print(f"  manual way       {man*1000:7.0f} ms   manual / meshboot = {man/mb:.2f}x")
print(f"  gzip -dc only    {gz*1000:7.0f} ms   meshboot / gzip -dc = {mb/gz:.2f}x")
print(f"peak RSS of meshboot fetch: {int(sys.argv[3])/1024:.1f} MiB (4 x 25 MB), {int(sys.argv[4])/1024:.1f} MiB (4 x 100 MB)")
PY

#!/bin/bash
# Benchmark: a workload VM's whole first boot, into a fresh scratch root each
# time, inside a network namespace made here (its own loopback, its own
# firewall), side by side in one run (hyperfine, medians):
#   meshboot  meshboot run: fetch + verify + unpack the sidecar (5 MB tar.gz
#             of realistic content), the istio-proxy user, the Istio file
#             layout, the unit, an EC P-256 key + SPIFFE CSR signed by the
#             local CA (checked), the hosts block, the redirect (libiptc),
#             enable, status.json
#   manual    the same done the documented way, by a shell script calling
#             the usual tools: curl, sha256sum -c, tar, groupadd/useradd
#             --prefix, printf, openssl genpkey/req/x509, ln -s, and
#             iptables-legacy-restore of a prepared rule file (the fastest
#             way to load rules; istio-iptables.sh's one process per rule
#             is slower still, see bench/redirect.sh)
# Each side starts from an identical fresh root and a flushed nat table.
# usage: bench/boot.sh [MESHBOOT]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-$top/_build/plain/src/meshboot}
[ "$(id -u)" = 0 ] || { echo "bench: needs root (a network namespace)" >&2; exit 1; }
for t in hyperfine python3 curl sha256sum tar openssl useradd groupadd ip iptables-legacy-restore; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/meshboot-bench.XXXXXX)
ns=mbbench-boot-$$
cleanup() {
	for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
export XTABLES_LOCKFILE=$tmp/xtables.lock MESHBOOT_RUNTIME_DIR=$tmp/run
mkdir -p "$MESHBOOT_RUNTIME_DIR"

# the release: one 5 MB component as the sidecar, served in the namespace
python3 "$top/bench/make-release.py" "$tmp/srv" 1 5 >/dev/null
art=component0-1.0.0-linux-amd64.tar.gz
sha=$(sha256sum < "$tmp/srv/$art" | cut -d' ' -f1)
ip netns exec "$ns" python3 -m http.server --bind 127.0.0.1 --directory "$tmp/srv" 8765 >/dev/null 2>&1 &
for _ in $(seq 50); do ip netns exec "$ns" curl -fsS -o /dev/null http://127.0.0.1:8765/ 2>/dev/null && break; sleep 0.1; done

# the mesh CA (delivered to the host, as in mode local)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca-key.pem" -out "$tmp/ca-cert.pem" \
	-days 365 -subj "/O=cluster.local/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
pem=$(awk '{ printf "%s\\n", $0 }' "$tmp/ca-cert.pem")
cat > "$tmp/c.yaml" <<EOF
version: 1
roles: [sidecar]
mesh: {namespace: bench, service_account: app, instance_ip: 10.0.0.5, discovery_address: "istiod:15012",
       hosts: [{name: istiod, ip: 10.0.0.2}]}
artifacts: {sidecar: {url: "http://127.0.0.1:8765/$art", sha256: $sha, version: "1.0.0", exec: component0/bin/run, strip_components: 0}}
certs:
  root: {pem: "$pem"}
  ca: {mode: local, cert_file: /etc/meshboot/ca/ca-cert.pem, key_file: /etc/meshboot/ca/ca-key.pem}
redirect: {inbound_ports: [9080], exclude_outbound_ports: [8765], ipv6: false}
EOF
# the rules the manual way loads: the same set, rendered once beforehand
"$mb" -c "$tmp/c.yaml" redirect -n > "$tmp/rules.v4"

# a fresh root, identical for both
cat > "$tmp/fresh.sh" <<EOF
#!/bin/sh
set -e
rm -rf "$tmp/root"
mkdir -p "$tmp/root/etc/meshboot/ca" "$tmp/root/var/lib/cloud/data"
printf 'root:x:0:0:root:/root:/bin/bash\n' > "$tmp/root/etc/passwd"
printf 'root:x:0:\nshadow:x:42:\n' > "$tmp/root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$tmp/root/etc/shadow"
printf 'root:*::\nshadow:*::\n' > "$tmp/root/etc/gshadow"
printf '127.0.0.1\tlocalhost\n' > "$tmp/root/etc/hosts"
echo i-bench > "$tmp/root/var/lib/cloud/data/instance-id"
cp "$tmp/ca-cert.pem" "$tmp/ca-key.pem" "$tmp/root/etc/meshboot/ca/"
ip netns exec "$ns" iptables-legacy -t nat -F
ip netns exec "$ns" iptables-legacy -t nat -X
EOF
chmod +x "$tmp/fresh.sh"

# the manual way
cat > "$tmp/manual.sh" <<'EOF'
#!/bin/sh
set -e
R=$1 URL=$2 SHA=$3 RULES=$4
curl -fsS -o "$R/tmp/art.tgz" --create-dirs "$URL"
echo "$SHA  $R/tmp/art.tgz" | sha256sum -c --quiet
mkdir -p "$R/opt/istio/sidecar/1.0.0"
tar -xzf "$R/tmp/art.tgz" -C "$R/opt/istio/sidecar/1.0.0"
ln -sfn 1.0.0 "$R/opt/istio/sidecar/current"
rm "$R/tmp/art.tgz"
groupadd --prefix "$R" -r -g 1337 istio-proxy
useradd --prefix "$R" -r -u 1337 -g 1337 -d /var/lib/istio -s /usr/sbin/nologin -c "Istio proxy" istio-proxy 2>/dev/null
mkdir -p "$R/var/lib/istio/envoy" "$R/etc/istio/config" "$R/var/log/istio" "$R/etc/certs"
printf 'ISTIO_SERVICE_CIDR=*\nISTIO_INBOUND_PORTS=9080\nISTIO_SVC_IP=10.0.0.5\nPILOT_ADDRESS=istiod:15012\n' > "$R/var/lib/istio/envoy/cluster.env"
printf 'ISTIO_AGENT_FLAGS=\n' > "$R/var/lib/istio/envoy/sidecar.env"
printf 'discoveryAddress: istiod:15012\ntrustDomain: cluster.local\n' > "$R/etc/istio/config/mesh"
chown -R 1337:1337 "$R/var/lib/istio" "$R/var/log/istio" "$R/etc/certs"
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$R/etc/certs/key.pem")
chown 1337:1337 "$R/etc/certs/key.pem"
openssl req -new -key "$R/etc/certs/key.pem" -subj / -addext "subjectAltName=critical,URI:spiffe://cluster.local/ns/bench/sa/app" \
	-out "$R/etc/certs/csr.pem"
openssl x509 -req -in "$R/etc/certs/csr.pem" -CA "$R/etc/meshboot/ca/ca-cert.pem" -CAkey "$R/etc/meshboot/ca/ca-key.pem" \
	-CAcreateserial -CAserial "$R/tmp/serial" -days 90 -copy_extensions copy -out "$R/etc/certs/cert-chain.pem" 2>/dev/null
cp "$R/etc/meshboot/ca/ca-cert.pem" "$R/etc/certs/root-cert.pem"
openssl verify -CAfile "$R/etc/certs/root-cert.pem" "$R/etc/certs/cert-chain.pem" >/dev/null
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
printf '[Unit]\nDescription=Istio sidecar\nAfter=network-online.target\n[Service]\nUser=istio-proxy\nExecStart=/opt/istio/sidecar/current/component0/bin/run\nRestart=on-failure\n[Install]\nWantedBy=multi-user.target\n' \
	> "$R/etc/systemd/system/istio-sidecar.service"
ln -sf /etc/systemd/system/istio-sidecar.service "$R/etc/systemd/system/multi-user.target.wants/istio-sidecar.service"
printf '10.0.0.2\tistiod\n' >> "$R/etc/hosts"
iptables-legacy-restore --noflush < "$RULES"
EOF
chmod +x "$tmp/manual.sh"

# both once, checked, before timing
"$tmp/fresh.sh" && ip netns exec "$ns" "$mb" -q --root "$tmp/root" -c "$tmp/c.yaml" run
[ -s "$tmp/root/etc/certs/cert-chain.pem" ] || { echo "bench: meshboot run did not provision" >&2; exit 1; }
"$tmp/fresh.sh" && ip netns exec "$ns" "$tmp/manual.sh" "$tmp/root" "http://127.0.0.1:8765/$art" "$sha" "$tmp/rules.v4"
[ -s "$tmp/root/etc/certs/cert-chain.pem" ] || { echo "bench: the manual way did not provision" >&2; exit 1; }

ip netns exec "$ns" hyperfine -N --warmup 2 --runs "${RUNS:-20}" --prepare "$tmp/fresh.sh" --export-json "$tmp/h.json" \
	-n meshboot "$mb -q --root $tmp/root -c $tmp/c.yaml run" \
	-n manual "$tmp/manual.sh $tmp/root http://127.0.0.1:8765/$art $sha $tmp/rules.v4" >&2
python3 - "$tmp/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
m, s = r["meshboot"]["median"], r["manual"]["median"]
print(f"first boot of a workload VM (5 MB sidecar, local CA, redirect), medians of {len(r['meshboot']['times'])} runs:")
print(f"  meshboot run   {m*1000:8.1f} ms")
print(f"  manual script  {s*1000:8.1f} ms   ({s/m:.2f}x meshboot)")
PY

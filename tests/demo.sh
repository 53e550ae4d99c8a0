#!/bin/sh
# make demo: meshboot provisions a throwaway root from a sample release
# served on loopback, inside network namespaces made here, and shows the
# result.  Nothing on this host changes: not its firewall, /etc, users or
# services; everything lives in a scratch directory and two namespaces
# ("vm" and "peer"), removed on every exit path.
#
#   1. a sample release: stand-in pilot, mixer, citadel and sidecar (the
#      sidecar is a .deb holding a stand-in Envoy that logs each
#      connection's original destination), SHA256SUMS signed with a fresh
#      minisign key, and a fresh mesh CA;
#   2. the all-in-one example from cloud-config/, its pins (digests, the
#      public key, the root's fingerprint) replaced by this release's;
#   3. `meshboot run` into the throwaway root, in the "vm" namespace;
#   4. the installed tree, the units, the certificate, the redirect rules,
#      meshboot status;
#   5. the stand-in sidecar started as istio-proxy (uid 1337), and an
#      application's connection to a service in "peer" shown going through it.
set -eu
meshboot=${1:?usage: demo.sh MESHBOOT NETPROBE}
netprobe=${2:?usage: demo.sh MESHBOOT NETPROBE}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/release.sh"
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces, iptables inside them)" >&2; exit 77; }
for t in ip iptables-legacy-save minisign openssl dpkg-deb python3 setpriv tar sha256sum; do
	command -v "$t" >/dev/null || { echo "demo: $t is not installed (tools/dev demo installs Build-Depends from debian/control)" >&2; exit 69; }
done

W=$(mktemp -d /tmp/meshboot-demo.XXXXXX)
chmod 755 "$W"
VM=mbdemo-vm-$$
PEER=mbdemo-peer-$$
made=""
cleanup() {
	for ns in $made; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	done
	sleep 0.2
	for ns in $made; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export XTABLES_LOCKFILE="$W/xtables.lock" MESHBOOT_RUNTIME_DIR="$W/run"
mkdir -p "$MESHBOOT_RUNTIME_DIR"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# ---- 1. the sample release ------------------------------------------------------
say "1. a sample release in $W/srv/release (stand-in programs, signed, pinned)"
R=$W/srv/release
release_make "$W" "$netprobe"
ls -l "$R" "$R/deb" | sed 's/^/   /'

# ---- 2. the all-in-one example with this release's pins ------------------------
say "2. cloud-config/all-in-one.yaml, pinned to this release"
CFG=$W/all-in-one.yaml
release_pin "$top/cloud-config/all-in-one.yaml" "$CFG" "$R" "$W/minisign.pub" http://127.0.0.1:8765/release
diff -u "$top/cloud-config/all-in-one.yaml" "$CFG" | grep '^[-+] ' | sed 's/^/   /' || true

# ---- the network: "vm" (this instance) and "peer" (a service elsewhere) --------
ip netns add "$VM" && made="$made $VM"
ip netns add "$PEER" && made="$made $PEER"
ip -n "$VM" link add eth0 type veth peer name eth0 netns "$PEER"
ip -n "$VM" addr add 10.0.0.5/24 dev eth0
ip -n "$PEER" addr add 10.0.0.7/24 dev eth0
for ns in "$VM" "$PEER"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
# the release server, on the vm's loopback (port 8765, as the example says)
ip netns exec "$VM" python3 -m http.server --bind 127.0.0.1 --directory "$W/srv" 8765 >"$W/http.log" 2>&1 &
i=0; until ip netns exec "$VM" python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8765), 1)' 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 50 ] || { echo "demo: the release server did not start" >&2; exit 1; }; sleep 0.1
done

say "2b. meshboot plan: what a run will do, before it does it (one line per step; the full plan has every detail)"
"$meshboot" --config "$CFG" plan | grep -E '^ *[0-9]+\. ' | sed 's/^/   /'

# ---- 3. meshboot run ----------------------------------------------------------------
ROOT=$W/root
mkdir -p "$ROOT/etc/cacerts" "$ROOT/var/lib/cloud/data"
printf 'root:x:0:0:root:/root:/bin/bash\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\nshadow:x:42:\n' > "$ROOT/etc/group"
printf 'root:*:20000:0:99999:7:::\n' > "$ROOT/etc/shadow" && chmod 640 "$ROOT/etc/shadow"
printf '127.0.0.1\tlocalhost\n' > "$ROOT/etc/hosts"
echo "i-demo0001" > "$ROOT/var/lib/cloud/data/instance-id"
cp "$R/root-cert.pem" "$ROOT/etc/cacerts/ca-cert.pem"
(umask 077 && cp "$W/ca-key.pem" "$ROOT/etc/cacerts/ca-key.pem")
say "3. meshboot --root $ROOT --config all-in-one.yaml run   (in network namespace $VM)"
ip netns exec "$VM" "$meshboot" --root "$ROOT" --config "$CFG" run

# ---- 4. what it did -----------------------------------------------------------------
say "4a. the installed tree (under the throwaway root)"
(cd "$ROOT" && find opt etc/certs etc/cacerts etc/systemd var/lib/istio var/lib/meshboot -maxdepth 4 \
	\( -type f -printf '%M %u:%g %p\n' \) -o \( -type l -printf '%M %u:%g %p -> %l\n' \) | LC_ALL=C sort -k3 |
	awk '{ $1 = sprintf("   %s %-10s", $1, $2); $2 = ""; print }')
grep -E '^istio-proxy' "$ROOT/etc/passwd" | sed 's/^/   etc\/passwd: /'
say "4b. the sidecar's unit (hardened; every unit scores <= 2.0 in systemd-analyze security)"
sed 's/^/   /' "$ROOT/etc/systemd/system/istio-sidecar.service"
say "4c. the workload certificate"
openssl x509 -in "$ROOT/etc/certs/cert-chain.pem" -noout -subject -issuer -enddate -ext subjectAltName,keyUsage,extendedKeyUsage |
	sed 's/^/   /'
printf '   '; openssl verify -CAfile "$ROOT/etc/certs/root-cert.pem" "$ROOT/etc/certs/cert-chain.pem"
say "4d. the redirect rules (iptables-legacy-save in $VM)"
ip netns exec "$VM" iptables-legacy-save -t nat | grep -E '^(:ISTIO|-A)' | sed 's/^/   /'
say "4e. meshboot status"
"$meshboot" --root "$ROOT" status | sed 's/^/   /'

# ---- 5. an application's connection goes through the sidecar -------------------
say "5. the stand-in sidecar as istio-proxy (uid 1337); an application (uid 4242) connects to 10.0.0.7:8080"
ip netns exec "$PEER" "$netprobe" server --port 8080 >/dev/null 2>&1 &
cp "$netprobe" "$W/netprobe" && chmod 755 "$W/netprobe"
: > "$W/proxy.log" && chown 1337:1337 "$W/proxy.log"
ip netns exec "$VM" setpriv --reuid 1337 --regid 1337 --clear-groups env DEMO_PROXY_LOG="$W/proxy.log" \
	"$ROOT/opt/meshboot/sidecar/current/usr/local/bin/pilot-agent" >/dev/null 2>&1 &
i=0; until ip netns exec "$VM" ss -Hltn 'sport = :15001' | grep -q . || [ $i -ge 50 ]; do i=$((i + 1)); sleep 0.1; done
printf '   app> '
ip netns exec "$VM" setpriv --reuid 4242 --regid 4242 --clear-groups "$W/netprobe" client 10.0.0.7 8080 "hello from the app"
sleep 0.2
printf '   sidecar log> %s\n' "$(grep -- '-> 10.0.0.7:8080' "$W/proxy.log" || echo '(nothing: the connection did not go through the sidecar)')"
grep -q -- '-> 10.0.0.7:8080' "$W/proxy.log"
# ---- 6. a tampered release changes nothing -------------------------------------
say "6. the mirror now serves a tampered pilot tarball: a fresh instance refuses it and changes nothing"
ROOT2=$W/root2
mkdir -p "$ROOT2/etc" "$ROOT2/var/lib/cloud/data"
cp "$ROOT/etc/cacerts" -r "$ROOT2/etc/" 2>/dev/null || true
printf 'root:x:0:0:root:/root:/bin/bash\n' > "$ROOT2/etc/passwd"
printf 'root:x:0:\nshadow:x:42:\n' > "$ROOT2/etc/group"
printf 'root:*:20000:0:99999:7:::\n' > "$ROOT2/etc/shadow" && chmod 640 "$ROOT2/etc/shadow"
echo "i-demo0002" > "$ROOT2/var/lib/cloud/data/instance-id"
printf 'x' >> "$R/pilot-1.0.6-linux-amd64.tar.gz"
st=0
ip netns exec "$VM" "$meshboot" --root "$ROOT2" --config "$CFG" run 2>&1 | sed 's/^/   /' || true
ip netns exec "$VM" "$meshboot" -q --root "$ROOT2" --config "$CFG" run >/dev/null 2>&1 || st=$?
echo "   exit status: $st (65: the data is wrong)"
left=$(cd "$ROOT2" && find . -mindepth 1 ! -path './etc' ! -path './etc/passwd' ! -path './etc/group' ! -path './etc/shadow' \
	! -path './etc/cacerts*' ! -path './var' ! -path './var/lib' ! -path './var/lib/cloud*' ! -path './var/lib/meshboot' \
	! -path './var/lib/meshboot/status.json' ! -path ./run ! -path ./run/meshboot.lock | tr '\n' ' ')
printf '   on disk besides the base files, the run lock and the failure record (status.json): %s\n' "${left:-nothing}"
"$meshboot" --root "$ROOT2" status | sed 's/^/   /' || true
[ "$st" = 65 ] && [ -z "$left" ]

say "done: the namespaces and $W are removed; the host was not touched"

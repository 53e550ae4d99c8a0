#!/bin/bash
# make check-boot: a Debian 12 system boots under systemd (PID 1) and
# cloud-init, and cloud-init runs meshboot from user-data.
#
#   boot.sh DEB      DEB is meshboot's Debian package (make check-boot
#                    builds it with dpkg-buildpackage from `make dist`)
#
# The network: "ct" (the container's, made anew for each boot: a reboot
# starts with an empty firewall) holds the sample release's mirror on
# 127.0.0.1:8765; "peer" holds the mesh's Istio CA (tests/grpc-ca, the
# canonical gRPC library) on 10.0.0.20:15012 and a service on
# 10.0.0.7:8080.  The container is 10.0.0.5.  Nothing else is reached.
#
# Cases:
#   1. first boot of the workload-VM example (cloud-config/workload-vm.yaml
#      pinned to a sample release): cloud-init's runcmd runs `meshboot run`;
#      meshboot status, the sidecar unit active under systemd with its
#      hardening, ordered after network-online.target, certificate files,
#      redirect rules, an application's connection through the stand-in
#      sidecar, no cloud-init error, the token in no log;
#   2. reboot of the same root: meshboot does not run again, the units come
#      back, the rules are back once;
#   3. the same root with a new instance-id (a clone): boot runs again, a
#      new key;
#   4. four more first boots on fresh roots: the timings;
#   4b. a wrong pin and a typo in user-data at boot: the error names the
#      place, cloud-init reports it, nothing of the mesh is on the host;
#   4c. cloud-config/multipart as gzip-compressed MIME user-data: meshboot
#      runs, and the script part runs after it;
#   5. the Packer path: `meshboot bake` into a fresh root, the mirror gone,
#      the first-boot unit runs `meshboot boot` from /etc/meshboot;
#   6. there, `meshboot clean` under systemd, and `meshboot boot` again;
#   7. `meshboot clean --all` and `dpkg --purge meshboot` leave nothing.
if [ -z "${MESHBOOT_BOOT_UNSHARED:-}" ]; then
	# every mount of this test lives and dies with a mount namespace of its own
	MESHBOOT_BOOT_UNSHARED=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
DEB=${1:?usage: boot.sh DEB, the meshboot package}
here=$(cd "$(dirname "$0")" && pwd)
. "$SRCDIR/tests/integration/lib.sh"
bail() { echo "Bail out! $*"; exit 1; }
[ "$(id -u)" = 0 ] || bail "needs root: namespaces, mounts, a container"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
if ! grep -qw overlay /proc/filesystems; then echo "1..0 # SKIP this kernel has no overlayfs"; exit 77; fi
for t in ip unshare nsenter setpriv pivot_root cloud-init openssl minisign dpkg-deb python3 iptables-legacy-save; do
	command -v "$t" >/dev/null || bail "$t is not installed (Build-Depends in debian/control)"
done
[ -x /lib/systemd/systemd ] || bail "systemd is not installed (Build-Depends in debian/control)"
GRPC_CA=$BUILDDIR/tests/grpc-ca/grpc-ca-server NETPROBE=$BUILDDIR/tests/netprobe
[ -x "$GRPC_CA" ] && [ -x "$NETPROBE" ] || bail "make check builds $GRPC_CA and $NETPROBE"
[ -f "$DEB" ] && dpkg-deb -c "$DEB" | grep -q ' ./usr/sbin/meshboot$' || bail "$DEB is not meshboot's package"
MB=/usr/sbin/meshboot
. "$SRCDIR/tests/release.sh"
. "$here/ct.sh"

CT_NS=mbboot-ct-$$ PEER_NS=mbboot-peer-$$
SERVERS=
cleanup() {
	ct_stop
	for p in $SERVERS; do kill "$p" 2>/dev/null; done
	ip netns del "$CT_NS" 2>/dev/null
	ip netns del "$PEER_NS" 2>/dev/null
	findmnt -rn -o TARGET | grep "^$SCRATCH/" | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf --one-file-system "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

plan 48

# ---- the release, the CA, the configuration ------------------------------------------
W=$SCRATCH
release_make "$W/rel" "$NETPROBE" || bail "cannot make the sample release"
REL=$W/rel/srv/release
release_pin "$SRCDIR/cloud-config/workload-vm.yaml" "$W/user-data" "$REL" "$W/rel/minisign.pub" \
	http://127.0.0.1:8765/release || bail "cannot pin the example"
TOKEN=canary-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
# istiod's serving certificate, from the mesh CA
cat > "$W/istiod.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:istiod.istio-system.svc, IP:10.0.0.20
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/istiod.key" -out "$W/istiod.csr" \
	-subj "/O=cluster.local/CN=istiod" -config "$W/istiod.cnf" 2>/dev/null &&
	openssl x509 -req -in "$W/istiod.csr" -CA "$REL/root-cert.pem" -CAkey "$W/rel/ca-key.pem" -CAcreateserial \
		-days 30 -extfile "$W/istiod.cnf" -extensions server -out "$W/istiod.pem" 2>/dev/null ||
	bail "cannot make istiod's certificate"

# ---- the network ---------------------------------------------------------------------
ip netns add "$PEER_NS" || bail "cannot make a network namespace"
ip -n "$PEER_NS" link set lo up
# the peer's service addresses sit on its loopback, so that they outlive
# each boot's veth; Linux answers ARP for any local address on any
# interface, so the container reaches them on its link
ip -n "$PEER_NS" addr add 10.0.0.7/32 dev lo
ip -n "$PEER_NS" addr add 10.0.0.20/32 dev lo
ip netns exec "$PEER_NS" "$GRPC_CA" --listen 10.0.0.20:15012 --port-file "$W/ca.port" --cert "$W/istiod.pem" \
	--key "$W/istiod.key" --ca-cert "$REL/root-cert.pem" --ca-key "$W/rel/ca-key.pem" --token "$TOKEN" \
	--log "$W/ca.log" 2>"$W/ca.err" &
SERVERS="$SERVERS $!"
ip netns exec "$PEER_NS" "$NETPROBE" server --port 8080 >/dev/null 2>&1 &
SERVERS="$SERVERS $!"

# net_up [nomirror]: a fresh "ct" namespace wired to "peer", the mirror in it
MIRROR=
net_up() {
	if [ -n "$MIRROR" ]; then
		kill "$MIRROR" 2>/dev/null
		wait "$MIRROR" 2>/dev/null
		SERVERS=$(echo "$SERVERS" | tr ' ' '\n' | grep -vx "$MIRROR" | tr '\n' ' ')
	fi
	MIRROR=
	# the veth goes with its namespace, but not at once: removed here first
	ip -n "$PEER_NS" link del eth-ct 2>/dev/null
	ip netns del "$CT_NS" 2>/dev/null
	ip netns add "$CT_NS" || return 1
	ip -n "$CT_NS" link add eth0 type veth peer name eth-ct netns "$PEER_NS" || return 1
	ip -n "$CT_NS" addr add 10.0.0.5/24 dev eth0
	ip -n "$PEER_NS" addr add 10.0.0.1/24 dev eth-ct
	for l in "$CT_NS lo" "$CT_NS eth0" "$PEER_NS eth-ct"; do ip -n ${l% *} link set "${l#* }" up; done
	ip -n "$CT_NS" route add default via 10.0.0.1
	[ "${1:-}" = nomirror ] && return 0
	ip netns exec "$CT_NS" python3 -m http.server --bind 127.0.0.1 --directory "$W/rel/srv" 8765 >>"$W/mirror.log" 2>&1 &
	MIRROR=$!
	SERVERS="$SERVERS $MIRROR"
	local i=0
	until ip netns exec "$CT_NS" python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8765), 1)' 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.1
	done
}
i=0; while [ ! -s "$W/ca.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$W/ca.port" ] || bail "the Istio CA did not start: $(cat "$W/ca.err")"

# root_make DIR IID: a fresh root with meshboot installed and cloud-init's
# NoCloud seed holding the pinned workload-VM user-data
root_make() {
	ct_root "$1" || return 1
	local r=$1/root
	# the package, as an image build installs it (no maintainer script but postrm)
	dpkg --root="$r" --force-unsafe-io -i "$DEB" >"$1.dpkg.log" 2>&1 || { cat "$1.dpkg.log" >&2; return 1; }
	cp "$NETPROBE" "$r/usr/local/bin/netprobe" &&
		mkdir -p "$r/var/lib/cloud/seed/nocloud" "$r/etc/meshboot" &&
		cp "$W/user-data" "$r/var/lib/cloud/seed/nocloud/user-data" &&
		printf 'instance-id: %s\nlocal-hostname: ratings-1\n' "$2" > "$r/var/lib/cloud/seed/nocloud/meta-data" &&
		(umask 077 && printf '%s\n' "$TOKEN" > "$r/etc/meshboot/istio-token")
}

# boot DIR NAME: boot DIR's root and wait (120 s) until systemd has run every
# start-up job, cloud-init's and meshboot's among them; T0 is the start time
boot() {
	T0=$(date +%s.%N)
	ct_start "$1" "$CT_NS" "$W/$2.console" || return 1
	STATE=$(ct_wait 120) || return 1
	hold "$2"
}
# BOOT_HOLD=NAME (first, reboot, clone, first-2.., packer): after boot NAME,
# wait until $SCRATCH/hold is removed, to look inside with nsenter
hold() {
	[ "${BOOT_HOLD:-}" = "$1" ] || return 0
	touch "$W/hold"
	echo "# holding after boot $1: nsenter -t $CT_PID -m -u -i -n -p -C -r -w bash; rm $W/hold goes on" >&2
	while [ -e "$W/hold" ]; do sleep 1; done
}
show() { ct_exec systemctl show -P "$2" "$1"; }
pyget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }

# ---- 1. first boot ---------------------------------------------------------------------
net_up || bail "cannot set up the network"
A=$W/a
root_make "$A" i-boot-0001 || bail "cannot make the root"
RA=$A/root
st=$(systemctl --root="$RA" is-enabled meshboot-firstboot.service 2>&1)
[ "$st" = disabled ] && ok "package: installed, and it enables nothing (meshboot-firstboot.service: $st)" ||
	not_ok "package: meshboot-firstboot.service is $st after install"
if boot "$A" first; then ok "first boot: systemd up ($STATE)"
else not_ok "first boot: systemd did not finish starting in 120 s ($STATE)"; diag "$(ct_exec journalctl -b --no-pager | tail -n 40)"; fi
TIMES=$(pyget "$RA/var/lib/meshboot/status.json" 'd["finished"] - d["started"]')" $(pyget "$RA/var/lib/meshboot/status.json" "d['finished'] - $T0")"
ct_exec "$MB" status > "$W/status.txt" 2>&1
grep -q '^run done: instance i-boot-0001' "$W/status.txt" && ok "meshboot status: run done, instance i-boot-0001" ||
	{ not_ok "meshboot status"; diag "$(cat "$W/status.txt")"; }
expect_status "meshboot status exits 0 (done)" 0 ct_exec "$MB" status
cloud_st=0; ct_exec cloud-init status --wait --long > "$W/cloud-init.status" 2>&1 || cloud_st=$?
if [ $cloud_st = 0 ] && grep -q '^status: done' "$W/cloud-init.status"; then ok "cloud-init: done, no error"
else not_ok "cloud-init: status $cloud_st"; diag "$(cat "$W/cloud-init.status")" "$(grep -E 'WARNING|ERROR' "$RA/var/log/cloud-init.log" | tail -n 20)"; fi
grep -q 'meshboot' "$RA/var/log/cloud-init-output.log" && ! grep -qE 'Failed to run module scripts[-_]user|scripts-user.*fail' "$RA/var/log/cloud-init.log" &&
	ok "cloud-init ran runcmd's meshboot, and its scripts-user module did not fail" ||
	{ not_ok "cloud-init's runcmd"; diag "$(tail -n 30 "$RA/var/log/cloud-init-output.log")"; }
for u in istio-sidecar.service meshboot-redirect.service; do
	check "$u is active under systemd (PID 1)" ct_exec systemctl is-active --quiet "$u"
done
hard=$(for p in User NoNewPrivileges ProtectSystem ProtectHome PrivateTmp PrivateDevices ProtectKernelTunables \
	ProtectKernelModules ProtectControlGroups RestrictSUIDSGID MemoryDenyWriteExecute LockPersonality; do
	printf '%s=%s ' "$p" "$(show istio-sidecar.service "$p")"; done)
want='User=istio-proxy NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes ProtectControlGroups=yes RestrictSUIDSGID=yes MemoryDenyWriteExecute=yes LockPersonality=yes '
[ "$hard" = "$want" ] && ok "the running sidecar's hardening, as systemd applied it" ||
	{ not_ok "the running sidecar's hardening"; diag "got:  $hard" "want: $want"; }
caps=$(show istio-sidecar.service CapabilityBoundingSet)
pid=$(show istio-sidecar.service MainPID)
capeff=$(ct_exec grep CapEff "/proc/$pid/status" | awk '{print $2}')
[ -z "$caps" ] && [ "$capeff" = 0000000000000000 ] && ok "REDIRECT mode: the sidecar runs with no capability at all (bounding set empty, CapEff 0)" ||
	{ not_ok "the sidecar's capabilities"; diag "bounding: $caps" "CapEff: $capeff"; }
score=$(ct_exec systemd-analyze security --no-pager istio-sidecar.service 2>&1 | sed -n 's/.*Overall exposure level for istio-sidecar.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] && awk "BEGIN { exit !($score <= 2.0) }" && ok "systemd-analyze security on the live unit: $score (<= 2.0)" ||
	{ not_ok "systemd-analyze security on the live unit: '$score'"; }
# verify on the installed system: the executables each unit names exist there
vout=$(ct_exec systemd-analyze verify /etc/systemd/system/istio-sidecar.service \
	/etc/systemd/system/meshboot-redirect.service /usr/lib/systemd/system/meshboot-firstboot.service 2>&1); vst=$?
[ $vst = 0 ] && [ -z "$vout" ] && ok "systemd-analyze verify inside the system: the sidecar, redirect and first-boot units, not a word" ||
	{ not_ok "systemd-analyze verify inside the system (exit $vst)"; diag "$vout"; }
no=$(show network-online.target ActiveEnterTimestampMonotonic)
ss=$(show istio-sidecar.service ExecMainStartTimestampMonotonic)
[ -n "$no" ] && [ -n "$ss" ] && [ "$no" -gt 0 ] && [ "$ss" -gt "$no" ] && show istio-sidecar.service After | grep -qw network-online.target &&
	ok "the sidecar started after network-online.target (+$(( (ss - no) / 1000 )) ms)" ||
	{ not_ok "ordering after network-online.target"; diag "network-online $no, sidecar $ss"; }
perms=$(ct_exec stat -c '%n %U:%G %a' /etc/certs/key.pem /etc/certs/cert-chain.pem /etc/certs/root-cert.pem | tr '\n' ';')
[ "$perms" = "/etc/certs/key.pem istio-proxy:istio-proxy 600;/etc/certs/cert-chain.pem istio-proxy:istio-proxy 644;/etc/certs/root-cert.pem istio-proxy:istio-proxy 644;" ] &&
	ok "certificate files: owners and modes" || { not_ok "certificate files"; diag "$perms"; }
check "the certificate verifies to the mesh root and names spiffe://cluster.local/ns/bookinfo/sa/ratings" \
	sh -c "openssl verify -CAfile '$REL/root-cert.pem' -untrusted '$RA/etc/certs/cert-chain.pem' '$RA/etc/certs/cert-chain.pem' &&
		openssl x509 -in '$RA/etc/certs/cert-chain.pem' -noout -ext subjectAltName | grep -q 'URI:spiffe://cluster.local/ns/bookinfo/sa/ratings'"
grep -q 'token=match' "$W/ca.log" && ok "the Istio CA (gRPC) was called with the token from /etc/meshboot/istio-token" ||
	{ not_ok "the CA call"; diag "$(cat "$W/ca.log")"; }
ct_exec iptables-legacy-save > "$W/rules.1"
ct_exec ip6tables-legacy-save >> "$W/rules.1"
grep -q -- '-A OUTPUT -p tcp -j ISTIO_OUTPUT' "$W/rules.1" && grep -q -- '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001' "$W/rules.1" &&
	ok "the redirect rules are in the container's netfilter" || { not_ok "redirect rules"; diag "$(cat "$W/rules.1")"; }
# app_through NAME: an application (uid 4242) reaches 10.0.0.7:8080; the sidecar's log shows it
app_through() {
	local out before after
	before=$(ct_exec grep -c -- '-> 10.0.0.7:8080' /var/log/istio/proxy.log 2>/dev/null)
	out=$(ct_exec setpriv --reuid 4242 --regid 4242 --clear-groups /usr/local/bin/netprobe client 10.0.0.7 8080 "hello $1" 2>&1)
	local i=0
	while :; do
		after=$(ct_exec grep -c -- '-> 10.0.0.7:8080' /var/log/istio/proxy.log 2>/dev/null)
		[ "${after:-0}" -gt "${before:-0}" ] || [ $i -ge 30 ] && break
		sleep 0.1; i=$((i + 1))
	done
	if [ "${after:-0}" -eq $((${before:-0} + 1)) ] && [ "$out" = "echo hello $1 from 10.0.0.7:8080" ]; then
		ok "$1: an application's connection to 10.0.0.7:8080 went through the sidecar (its log: $(ct_exec grep -- '-> 10.0.0.7:8080' /var/log/istio/proxy.log | tail -n 1))"
	else
		not_ok "$1: the application's connection"; diag "client: $out" "proxy log lines: ${before:-0} -> ${after:-0}" "$(ct_exec journalctl -u istio-sidecar --no-pager | tail -n 20)"
	fi
}
app_through "first boot"
ct_exec journalctl -b --no-pager -o cat > "$W/journal.1"
leak=$(grep -rlF "$TOKEN" "$W/journal.1" "$RA/var/lib/meshboot" "$RA/var/log/cloud-init.log" "$RA/var/log/cloud-init-output.log" "$W/ca.log" 2>/dev/null)
[ -z "$leak" ] && grep -q '^meshboot: fetch:' "$W/journal.1" && ok "the token is in no journal line, status.json, cloud-init log or CA log" ||
	{ not_ok "the token leaked"; diag "$leak"; }

# ---- 2. reboot ---------------------------------------------------------------------------
cp "$RA/var/lib/meshboot/status.json" "$W/status.1"
key1=$(sha256sum < "$RA/etc/certs/key.pem")
ct_stop && ok "poweroff: the container's systemd shut down by itself" || not_ok "poweroff: it had to be killed"
net_up || bail "cannot set up the network"
if boot "$A" reboot; then ok "reboot: systemd up ($STATE)"; else not_ok "reboot"; fi
cmp -s "$W/status.1" "$RA/var/lib/meshboot/status.json" && ! ct_exec journalctl -b --no-pager -o cat | grep -q '^meshboot: fetch:' &&
	ok "reboot: meshboot did not run again (status.json unchanged)" || { not_ok "reboot: status.json changed"; diag "$(ct_exec "$MB" status)"; }
expect_status "reboot: meshboot boot by hand is a no-op that says so" 0 ct_exec "$MB" boot
grep -q 'provisioned already' "$SCRATCH/.out" && ok "reboot: it says the instance is already provisioned ($(head -n 1 "$SCRATCH/.out"))" ||
	{ not_ok "reboot: what meshboot boot said"; diag "$(last_output)"; }
for u in istio-sidecar.service meshboot-redirect.service; do
	check "reboot: $u is active again" ct_exec systemctl is-active --quiet "$u"
done
ct_exec iptables-legacy-save > "$W/rules.2"
ct_exec ip6tables-legacy-save >> "$W/rules.2"
sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//' "$W/rules.1" > "$W/rules.1n"
sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//' "$W/rules.2" > "$W/rules.2n"
cmp -s "$W/rules.1n" "$W/rules.2n" && [ "$(grep -c '^# BEGIN meshboot' "$RA/etc/hosts")" = 1 ] &&
	ok "reboot: the rules are back, once each (the same rule set as the first boot); one hosts block" ||
	{ not_ok "reboot: rules or hosts block"; diag "$(diff "$W/rules.1n" "$W/rules.2n")" "$(grep -c '^# BEGIN meshboot' "$RA/etc/hosts")"; }
app_through "reboot"
ct_stop

# ---- 3. a clone: a new instance-id ---------------------------------------------------------
sed -i 's/^instance-id: .*/instance-id: i-boot-clone/' "$RA/var/lib/cloud/seed/nocloud/meta-data"
net_up || bail "cannot set up the network"
boot "$A" clone && pyget "$RA/var/lib/meshboot/status.json" 'd["instance_id"], d["state"]' | grep -q "i-boot-clone.*done" &&
	ok "clone: boot ran again for instance i-boot-clone" || { not_ok "clone: boot"; diag "$(ct_exec "$MB" status)"; }
key2=$(sha256sum < "$RA/etc/certs/key.pem")
[ "$key1" != "$key2" ] && [ "$(openssl x509 -in "$RA/etc/certs/cert-chain.pem" -noout -pubkey | sha256sum)" = "$(openssl pkey -in "$RA/etc/certs/key.pem" -pubout | sha256sum)" ] &&
	ok "clone: a new workload key, and the certificate is for it" || not_ok "clone: the key"
check "clone: the sidecar is active" ct_exec systemctl is-active --quiet istio-sidecar.service
TIMES="$TIMES
$(pyget "$RA/var/lib/meshboot/status.json" 'd["finished"] - d["started"]') $(pyget "$RA/var/lib/meshboot/status.json" "d['finished'] - $T0") clone"
ct_stop

# ---- 4. four more first boots: timings --------------------------------------------------------
n=0
for k in 2 3 4 5; do
	net_up || bail "cannot set up the network"
	root_make "$W/t$k" "i-boot-000$k" || bail "cannot make a root"
	if boot "$W/t$k" "first-$k" && ct_exec "$MB" status >/dev/null; then
		n=$((n + 1))
		TIMES="$TIMES
$(pyget "$W/t$k/root/var/lib/meshboot/status.json" 'd["finished"] - d["started"]') $(pyget "$W/t$k/root/var/lib/meshboot/status.json" "d['finished'] - $T0")"
	fi
	ct_stop
	umount "$W/t$k/root" "$W/t$k/layer"
done
[ $n = 4 ] && ok "four more first boots on fresh roots: all provisioned" || not_ok "more first boots: $n of 4"
firsts=$(printf '%s\n' "$TIMES" | grep -v clone)
med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
boot_med=$(printf '%s\n' "$firsts" | awk '{ print $2 }' | med)
mb_med=$(printf '%s\n' "$firsts" | awk '{ print $1 }' | med)
diag "first boots (meshboot's own time, container start to meshboot done, seconds):" "$firsts"
summary=$(awk -v b="$boot_med" -v m="$mb_med" 'BEGIN { printf "container start to meshboot done: median %.2f s over 5 first boots; meshboot itself (status.json): median %.3f s, %.0f%% of it", b, m, 100 * m / b }')
diag "$summary"
[ -n "${BOOT_TIMINGS:-}" ] && printf '%s\n%s\n' "$summary" "$firsts" > "$BOOT_TIMINGS"

# ---- 4b. bad input at boot: a wrong pin, a typo in user-data -----------------------------------------
# userdata_boot NAME USER-DATA: a fresh root whose cloud-init runs meshboot on
# USER-DATA; sets $BR (its root), $UDLOG (cloud-init-output.log)
userdata_boot() {
	net_up || bail "cannot set up the network"
	root_make "$W/$1" "i-$1" || bail "cannot make a root"
	BR=$W/$1/root
	cp "$2" "$BR/var/lib/cloud/seed/nocloud/user-data"
	boot "$W/$1" "$1" || not_ok "$1: systemd did not finish starting ($STATE)"
	ct_exec cloud-init status --wait > "$W/$1.cloud" 2>&1; CLOUD_ST=$?
	UDLOG=$BR/var/log/cloud-init-output.log
}
# nothing of the mesh on the host: no unit, no installed version, no key, no rule, no hosts block
untouched() {
	[ ! -e "$BR/etc/systemd/system/istio-sidecar.service" ] && [ ! -e "$BR/opt/meshboot/sidecar" ] &&
		[ ! -e "$BR/etc/certs" ] && ! ct_exec iptables-legacy-save | grep -q ISTIO &&
		! grep -q '^# BEGIN meshboot' "$BR/etc/hosts" && ! ct_exec systemctl is-active --quiet istio-sidecar.service
}
good=$(sed -n 's/^      sha256: \([0-9a-f]\{64\}\)$/\1/p' "$W/user-data" | head -n 1)
bad=$(printf '%s' "$good" | sed 's/^./0/; t; s/^/0/')
[ "$bad" = "$good" ] && bad=$(printf '%s' "$good" | sed 's/^./1/')
sed "s/$good/$bad/" "$W/user-data" > "$W/user-data.badpin"
userdata_boot badpin "$W/user-data.badpin"
grep -q "mismatch: expected $bad, got $good" "$UDLOG" && grep -q 'http://127.0.0.1:8765/release/deb/istio-sidecar.deb' "$UDLOG" &&
	{ ok "wrong pin at boot: cloud-init's output names the URL and both digests"; diag "$(grep -m1 mismatch "$UDLOG")"; } ||
	{ not_ok "wrong pin at boot: the message"; diag "$(tail -n 15 "$UDLOG")"; }
ct_exec "$MB" status > "$W/badpin.status" 2>&1; st=$?
[ $st = 1 ] && untouched && [ $CLOUD_ST != 0 ] &&
	ok "wrong pin at boot: meshboot status failed (1), cloud-init reports the error ($(grep '^status' "$W/badpin.cloud")), nothing of the mesh on the host" ||
	{ not_ok "wrong pin at boot: status $st, cloud-init $CLOUD_ST"; diag "$(cat "$W/badpin.status")" "$(cat "$W/badpin.cloud")"; }
ct_stop
umount "$W/badpin/root" "$W/badpin/layer"
# a typo: "mdoe" for "mode" under redirect:
sed 's/^    mode: REDIRECT/    mdoe: REDIRECT/' "$W/user-data" > "$W/user-data.typo"
line=$(grep -n '^    mdoe: REDIRECT' "$W/user-data.typo" | cut -d: -f1)
userdata_boot typo "$W/user-data.typo"
grep -qE "user-data[^:]*:$line:5: .*mdoe" "$UDLOG" &&
	{ ok "typo in user-data at boot: the error names the place (line $line, column 5) and the key"; diag "$(grep -m1 mdoe "$UDLOG")"; } ||
	{ not_ok "typo at boot: the message"; diag "$(tail -n 10 "$UDLOG")"; }
untouched && [ $CLOUD_ST != 0 ] && ok "typo in user-data at boot: cloud-init reports the error, nothing of the mesh on the host" ||
	{ not_ok "typo at boot: what was left (cloud-init $CLOUD_ST)"; diag "$(cat "$W/typo.cloud")"; }
ct_stop
umount "$W/typo/root" "$W/typo/layer"

# ---- 4c. multipart user-data, gzip-compressed (cloud-config/multipart) ----------------------------
# the example's cloud-config part, pinned; beside it a script part that
# records whether meshboot had finished when cloud-init ran it (the README
# says: with the bare name setup.sh, after runcmd)
mkdir -p "$W/mime"
release_pin "$SRCDIR/cloud-config/multipart/meshboot.yaml" "$W/mime/meshboot.yaml" "$REL" "$W/rel/minisign.pub" \
	http://127.0.0.1:8765/release || bail "cannot pin the multipart example"
printf '#!/bin/sh\n%s status >/dev/null 2>&1; echo "meshboot-status=$?" > /var/lib/setup-part.txt\n' "$MB" > "$W/mime/setup.sh"
(cd "$W/mime" && cloud-init devel make-mime -a meshboot.yaml:cloud-config -a setup.sh:x-shellscript > user-data &&
	gzip -9n user-data) || bail "cannot make the multipart user-data"
userdata_boot mime "$W/mime/user-data.gz"
ct_exec "$MB" status > "$W/mime.status" 2>&1; st=$?
[ $st = 0 ] && [ $CLOUD_ST = 0 ] && ct_exec systemctl is-active --quiet istio-sidecar.service &&
	ok "multipart, gzip-compressed user-data (make-mime): cloud-init done, meshboot done, the sidecar active" ||
	{ not_ok "multipart user-data: meshboot $st, cloud-init $CLOUD_ST"; diag "$(cat "$W/mime.status")" "$(tail -n 15 "$UDLOG")"; }
[ "$(cat "$BR/var/lib/setup-part.txt" 2>/dev/null)" = meshboot-status=0 ] &&
	ok "multipart: the script part setup.sh ran after meshboot had finished (runcmd first, as the example's README says)" ||
	{ not_ok "multipart: the script part's order"; diag "$(cat "$BR/var/lib/setup-part.txt" 2>&1)"; }
ct_stop
umount "$W/mime/root" "$W/mime/layer"

# ---- 5. the Packer path: bake, then boot with the mirror gone ------------------------------------
P=$W/packer
root_make "$P" i-packer-0001 || bail "cannot make a root"
RP=$P/root
cp "$W/user-data" "$RP/etc/meshboot/meshboot.yaml"
rm -rf "$RP/var/lib/cloud/seed"
touch "$RP/etc/cloud/cloud-init.disabled"
mkdir -p "$RP/var/lib/cloud/data" && echo i-packer-0001 > "$RP/var/lib/cloud/data/instance-id"
# the image's own meshboot (the package's: its units name /usr/sbin/meshboot)
expect_status "packer: meshboot bake into the image's root" 0 ip netns exec "$CT_NS" "$RP$MB" --root "$RP" \
	--config "$RP/etc/meshboot/meshboot.yaml" bake
expect_status "packer: systemctl --root enables the first-boot unit the package installed" 0 \
	systemctl --root="$RP" enable meshboot-firstboot.service
[ ! -e "$RP/etc/certs/key.pem" ] && [ ! -e "$RP/var/lib/meshboot/instance" ] && [ -d "$RP/var/cache/meshboot" ] &&
	ok "packer: the baked root holds the verified cache and no instance secret" || not_ok "packer: what bake left"
net_up nomirror || bail "cannot set up the network"
if boot "$P" packer && ct_exec "$MB" status > "$W/packer.status" 2>&1; then
	ok "packer: the first-boot unit ran meshboot boot with no mirror: done"
else not_ok "packer: boot without the mirror"; diag "$(cat "$W/packer.status")" "$(ct_exec journalctl -u meshboot-firstboot --no-pager | tail -n 30)"; fi
check "packer: meshboot-firstboot.service succeeded; the sidecar is active" \
	ct_exec systemctl is-active --quiet meshboot-firstboot.service istio-sidecar.service

# ---- 6. clean under systemd, then boot again ------------------------------------------------------
expect_status "clean under systemd: exit 0" 0 ct_exec "$MB" clean
act=$(ct_exec systemctl is-active istio-sidecar.service meshboot-redirect.service | tr '\n' ' ')
ena=$(ct_exec systemctl is-enabled istio-sidecar.service meshboot-redirect.service 2>&1 | tr '\n' ' ')
[ "$act" = "inactive inactive " ] && [ "$ena" = "disabled disabled " ] &&
	! ct_exec iptables-legacy-save | grep -q ISTIO && ! grep -q '^# BEGIN meshboot' "$RP/etc/hosts" &&
	[ -x "$RP/opt/meshboot/sidecar/current/usr/local/bin/pilot-agent" ] &&
	ok "clean: the units stopped and disabled by systemd, no rule, no hosts block; the install kept" ||
	{ not_ok "clean under systemd"; diag "active: $act" "enabled: $ena" "$(last_output)"; }
expect_status "after clean, meshboot boot provisions again (no mirror: the cache)" 0 ct_exec "$MB" boot
# (started with --no-block: meshboot may run inside a unit they are ordered after)
i=0; until ct_exec systemctl is-active --quiet istio-sidecar.service || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "after clean and boot: the sidecar and the redirect are active again" \
	ct_exec systemctl is-active --quiet istio-sidecar.service meshboot-redirect.service

# ---- 7. the package: removed and purged ------------------------------------------------------------
ct_exec "$MB" clean --all > "$W/clean-all.log" 2>&1
ct_exec dpkg --purge meshboot > "$W/purge.log" 2>&1; st=$?
left=$(for f in /usr/sbin/meshboot /usr/lib/systemd/system/meshboot-firstboot.service \
	/etc/systemd/system/multi-user.target.wants/meshboot-firstboot.service /usr/share/man/man8/meshboot.8.gz \
	/usr/share/bash-completion/completions/meshboot /usr/share/doc/meshboot /var/lib/meshboot /var/cache/meshboot \
	/opt/meshboot/sidecar /etc/systemd/system/istio-sidecar.service; do
	ct_exec sh -c 'test -e "$1" || test -L "$1"' _ "$f" && echo "$f"; done)
[ $st = 0 ] && [ -z "$left" ] && ! ct_exec dpkg -s meshboot >/dev/null 2>&1 && ! grep -v "directory '/etc/meshboot' not empty" "$W/purge.log" | grep -q warning &&
	ok "package: meshboot clean --all, then dpkg --purge: nothing of meshboot's is left (the admin's /etc/meshboot stays)" ||
	{ not_ok "package: purge (exit $st)"; diag "left: $left" "$(cat "$W/purge.log")"; }
ct_stop
finish

#!/bin/sh
# bake, boot, run, clean and status on scratch roots, artifacts served by the
# fault-injecting server on loopback, the redirect applied in a network
# namespace made here.  For each role combination of the examples: the tree
# holds what it should (paths, modes, owners, contents); a second run
# (--force) reports every step unchanged and leaves the tree byte for byte
# as it was; bake then boot with the server stopped needs no network; a
# failed step is recorded and stops the run; a token in the configuration
# appears nowhere; clean undoes boot.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
. "$SRCDIR/tests/integration/pki.sh"
plan 44

ns=mbt-stage-$$
if ! err=$(ip netns add $ns 2>&1); then
	echo "1..0 # SKIP cannot create a network namespace: $err"
	exit 0
fi
trap 'ip netns del $ns 2>/dev/null; [ -n "${KEEP:-}" ] || httpfix_cleanup' EXIT
export XTABLES_LOCKFILE=$SCRATCH/xtables.lock MESHBOOT_RUNTIME_DIR=$SCRATCH/run
mkdir -p "$MESHBOOT_RUNTIME_DIR"
http_start_in_netns $ns
pki_root mesh && pki_inter group mesh || bail "test CAs"

# art ROLE EXEC: a tarball whose EXEC is an executable; $A_SHA
art() {
	t=$SCRATCH/art-$1
	mkdir -p "$t/$(dirname "$2")" && printf '#!/bin/sh\necho %s\n' "$1" > "$t/$2" && chmod 755 "$t/$2" &&
		printf '%s docs\n' "$1" > "$t/README" &&
		(cd "$t" && tar --owner=0 --group=0 --numeric-owner --sort=name -czf "$HTTP_DIR/$1.tgz" .) || bail "art $1"
	A_SHA=$(sha256sum < "$HTTP_DIR/$1.tgz" | cut -d' ' -f1)
}
for r in sidecar:bin/pilot-agent pilot:bin/pilot-discovery mixer:bin/mixs citadel:bin/istio_ca \
	apiserver:bin/kube-apiserver etcd:etcd istiod:bin/pilot-discovery; do
	art "${r%%:*}" "${r#*:}"
	eval "SHA_${r%%:*}=\$A_SHA EXEC_${r%%:*}=${r#*:}"
done

# config FILE ROLES...: a configuration for these roles
config() {
	f=$1; shift
	{
		echo "#cloud-config"
		echo "meshboot:"
		echo "  version: 1"
		echo "  roles: [$(echo "$*" | sed 's/ /, /g')]"
		echo "  mesh: {discovery_address: \"istio-pilot:15010\", instance_ip: 10.0.0.5, hosts: [{name: istio-pilot, ip: 10.0.0.2}]}"
		# Citadel and istiod hosts make the mesh CA; the others trust its root
		case " $* " in *" citadel "*|*" istiod "*) echo "  certs: {ca: {mode: none}}";;
		*) echo "  certs:"; printf '    root: {pem: %s}\n' "$(pem_yaml "$PKI/mesh.pem")"
		   printf '    ca: {mode: local, cert: %s, key: %s}\n' "$(pem_yaml "$PKI/group.pem")" "$(pem_yaml "$PKI/group.key")";; esac
		echo "  artifacts:"
		for r; do
			eval "s=\$SHA_$r e=\$EXEC_$r"
			echo "    $r: {url: \"$HTTP/ok/$r.tgz\", sha256: $s, version: \"1.0\", exec: $e}"
		done
		case " $* " in *" etcd "*) echo "  etcd: {name: etcd0, initial_cluster: [{name: etcd0, peer_url: \"http://10.0.0.5:2380\"}]}";; esac
		case " $* " in *" sidecar "*) echo "  redirect: {inbound_ports: [9080], exclude_outbound_ports: [$HTTP_PORT]}";; esac
		echo "  fetch: {retries: 1, backoff_base_ms: 20, deadline_sec: 30}"
		echo "runcmd: [[meshboot, run]]"
	} > "$f"
}

# root_make NAME: a scratch root with the files a Debian system has
root_make() {
	R=$SCRATCH/root-$1
	root_base "$R" "iid-$1"
}
# tree ROOT: every path with type, mode, owner, size and content hash; the
# per-run record (status.json, its times) and lock files left out
tree() {
	(cd "$1" && find . ! -path ./var/lib/meshboot/status.json ! -path ./run/meshboot.lock ! -path ./etc/.pwd.lock \
		-printf '%p %y %m %u:%g %s %l\n' | LC_ALL=C sort &&
		find . -type f ! -path ./var/lib/meshboot/status.json ! -path ./var/lib/meshboot/instance/*/done \
			! -path ./run/meshboot.lock -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}
mb() { ip netns exec $ns "$MESHBOOT" --root "$R" "$@"; }
steps_all() { # the result every step had in the last run
	"$MESHBOOT" --root "$R" --format json status | python3 -c 'import json,sys; print(" ".join(sorted({s["result"] for s in json.load(sys.stdin)["steps"]})))'
}

for combo in "sidecar" "etcd apiserver pilot mixer citadel" "istiod" "sidecar pilot mixer citadel"; do
	name=$(echo "$combo" | tr ' ' '-')
	root_make "$name"
	config "$SCRATCH/$name.yaml" $combo
	if mb -c "$SCRATCH/$name.yaml" run > "$SCRATCH/$name.log" 2>&1; then ok "$combo: run"; else not_ok "$combo: run"; diag "$(cat "$SCRATCH/$name.log")"; fi
	# file by file: what each role must have
	bad=""
	for r in $combo; do
		eval "s=\$SHA_$r e=\$EXEC_$r"
		d=$R/opt/meshboot/$r
		[ "$(readlink "$d/current")" = "1.0-$(echo "$s" | cut -c1-12)" ] || bad="$bad; $r: current link"
		[ -x "$d/current/$e" ] || bad="$bad; $r: $e not executable"
		u=istio-sidecar.service
		case $r in istiod) u=istiod.service;; *) u=istio-$r.service;; esac
		[ "$(stat -c '%a %u' "$R/etc/systemd/system/$u")" = "644 0" ] || bad="$bad; $u mode/owner"
		[ "$(readlink "$R/etc/systemd/system/multi-user.target.wants/$u")" = "/etc/systemd/system/$u" ] || bad="$bad; $u not enabled"
		grep -q "^ExecStart=/opt/meshboot/$r/current/$e" "$R/etc/systemd/system/$u" || bad="$bad; $u ExecStart"
	done
	grep -q '^istio-proxy:x:1337:1337:' "$R/etc/passwd" || bad="$bad; no istio-proxy 1337"
	grep -q '^istio-proxy:!\*:' "$R/etc/shadow" || bad="$bad; no shadow entry"
	grep -q '^istio-proxy:x:1337:' "$R/etc/group" || bad="$bad; no group"
	grep -q '^10.0.0.2	istio-pilot$' "$R/etc/hosts" && grep -q '^127.0.0.1	localhost$' "$R/etc/hosts" || bad="$bad; hosts block"
	case " $combo " in *" sidecar "*)
		# numeric: the ids are the root's, not this host's
		[ "$(stat -c '%a %u:%g' "$R/var/lib/istio/envoy/cluster.env")" = "644 1337:1337" ] || bad="$bad; cluster.env"
		grep -q '^ISTIO_SVC_IP=10.0.0.5$' "$R/var/lib/istio/envoy/cluster.env" || bad="$bad; ISTIO_SVC_IP"
		[ "$(stat -c '%a %u' "$R/var/log/istio")" = "755 1337" ] || bad="$bad; /var/log/istio"
		ip netns exec $ns iptables-legacy-save | grep -q -- "-A ISTIO_INBOUND -p tcp -m tcp --dport 9080 -j ISTIO_IN_REDIRECT" || bad="$bad; redirect rules"
		;;
	esac
	case " $combo " in *" etcd "*)
		grep -q '^etcd:x:' "$R/etc/passwd" || bad="$bad; no etcd user"
		euid=$(awk -F: '$1 == "etcd" { print $3 }' "$R/etc/passwd")
		[ "$(stat -c '%a %u' "$R/var/lib/etcd")" = "700 $euid" ] || bad="$bad; etcd data dir"
		;;
	esac
	[ "$(stat -c '%a %u:%g' "$R/etc/certs/key.pem")" = "600 1337:1337" ] || bad="$bad; key.pem mode/owner"
	[ -s "$R/etc/certs/root-cert.pem" ] && [ -s "$R/etc/certs/csr.pem" ] || bad="$bad; root-cert.pem/csr.pem"
	case " $combo " in *" citadel "*|*" istiod "*)
		[ "$(stat -c '%a %u' "$R/etc/cacerts/ca-key.pem")" = "600 1337" ] || bad="$bad; ca-key.pem"
		openssl verify -CAfile "$R/etc/certs/root-cert.pem" "$R/etc/certs/cert-chain.pem" >/dev/null 2>&1 || bad="$bad; chain does not verify"
		;;
	esac
	[ -f "$R/var/lib/meshboot/instance/iid-$name/done" ] || bad="$bad; no run-once record"
	[ "$(stat -c %a "$R/var/lib/meshboot/status.json")" = 644 ] || bad="$bad; status.json mode"
	[ -z "$bad" ] && ok "$combo: tree as it should be" || not_ok "$combo: tree as it should be:$bad"
	"$MESHBOOT" --root "$R" status > /dev/null; st=$?
	[ $st = 0 ] && ok "$combo: status says done (0)" || not_ok "$combo: status says done (0), got $st"
	tree "$R" > "$SCRATCH/$name.tree1"
	cp "$R/etc/certs/key.pem" "$SCRATCH/$name.key1"
	mb -c "$SCRATCH/$name.yaml" run > "$SCRATCH/$name.2.log" 2>&1
	grep -q "was provisioned already; nothing to do" "$SCRATCH/$name.2.log" && ok "$combo: a second run does nothing (run-once)" ||
		{ not_ok "$combo: a second run does nothing (run-once)"; diag "$(cat "$SCRATCH/$name.2.log")"; }
	# the same instance booted again (its run-once record gone): nothing to change
	rm -f "$R/var/lib/meshboot/instance/iid-$name/done"
	mb -c "$SCRATCH/$name.yaml" run > "$SCRATCH/$name.3.log" 2>&1
	tree "$R" > "$SCRATCH/$name.tree2"
	if cmp -s "$SCRATCH/$name.tree1" "$SCRATCH/$name.tree2"; then ok "$combo: a second boot leaves the tree byte for byte"
	else not_ok "$combo: a second boot leaves the tree byte for byte"; diag "$(diff "$SCRATCH/$name.tree1" "$SCRATCH/$name.tree2" | head -20)"; fi
	# run-once aside, every step unchanged
	[ "$(steps_all)" = "changed unchanged" ] && [ "$(grep -c '"result": "changed"' "$R/var/lib/meshboot/status.json")" = 1 ] &&
		ok "$combo: a second boot: every step unchanged (but the run-once record)" ||
		{ not_ok "$combo: a second boot: every step unchanged (but the run-once record)"; diag "$(cat "$R/var/lib/meshboot/status.json")"; }
	# --force runs every step again and rotates the workload key: nothing else changes
	mb -c "$SCRATCH/$name.yaml" --force run > "$SCRATCH/$name.4.log" 2>&1
	tree "$R" | grep -v '/etc/certs/\(key\|csr\|cert-chain\)\.pem\|/key\.sha256' > "$SCRATCH/$name.tree3"
	grep -v '/etc/certs/\(key\|csr\|cert-chain\)\.pem\|/key\.sha256' "$SCRATCH/$name.tree1" > "$SCRATCH/$name.tree1k"
	if cmp -s "$SCRATCH/$name.tree1k" "$SCRATCH/$name.tree3" && ! cmp -s "$R/etc/certs/key.pem" "$SCRATCH/$name.key1"; then
		ok "$combo: --force: a new workload key, the rest of the tree byte for byte"
	else not_ok "$combo: --force: a new workload key, the rest byte for byte"; diag "$(diff "$SCRATCH/$name.tree1k" "$SCRATCH/$name.tree3" | head -20)"; fi
	ip netns exec $ns "$MESHBOOT" -q redirect clean
done

# bake, then boot with the server stopped: no network needed
root_make baked
config "$SCRATCH/baked.yaml" sidecar
mb -c "$SCRATCH/baked.yaml" bake > "$SCRATCH/bake.log" 2>&1 && ok "bake" || { not_ok "bake"; diag "$(cat "$SCRATCH/bake.log")"; }
bad=""
[ -e "$R/var/lib/istio/envoy/cluster.env" ] && bad="$bad; cluster.env written at bake"
[ -L "$R/etc/systemd/system/multi-user.target.wants/istio-sidecar.service" ] && bad="$bad; a unit enabled at bake"
[ -f "$R/etc/systemd/system/istio-sidecar.service" ] || bad="$bad; no unit file"
grep -q meshboot "$R/etc/hosts" && bad="$bad; hosts block at bake"
ip netns exec $ns iptables-legacy-save | grep -q ISTIO && bad="$bad; iptables at bake"
ls "$R/var/lib/meshboot/instance" >/dev/null 2>&1 && bad="$bad; run-once record at bake"
[ -z "$bad" ] && ok "bake: nothing instance-specific (no instance files, no enabled unit, no hosts block, no rules)" ||
	not_ok "bake: nothing instance-specific:$bad"
http_stop
mb -c "$SCRATCH/baked.yaml" boot > "$SCRATCH/boot.log" 2>&1 && ok "boot with the server stopped" ||
	{ not_ok "boot with the server stopped"; diag "$(cat "$SCRATCH/boot.log")"; }
grep -q "already installed" "$SCRATCH/boot.log" && [ -L "$R/etc/systemd/system/multi-user.target.wants/istio-sidecar.service" ] &&
	ok "boot: used what bake installed, enabled the units" || not_ok "boot: used what bake installed, enabled the units"
# a cloned image: another instance id boots again, with a key of its own
cp "$R/etc/certs/key.pem" "$SCRATCH/clone.key0"
echo "iid-clone" > "$R/var/lib/cloud/data/instance-id"
mb -c "$SCRATCH/baked.yaml" boot > "$SCRATCH/clone.log" 2>&1 && [ -f "$R/var/lib/meshboot/instance/iid-clone/done" ] &&
	ok "a new instance id (a clone) boots again" || { not_ok "a new instance id (a clone) boots again"; diag "$(cat "$SCRATCH/clone.log")"; }
! cmp -s "$R/etc/certs/key.pem" "$SCRATCH/clone.key0" && grep -q 'key.pem has no record for instance iid-clone' "$SCRATCH/clone.log" &&
	[ "$(cat "$R/var/lib/meshboot/instance/iid-clone/key.sha256")" = "$(openssl pkey -in "$R/etc/certs/key.pem" -pubout -outform DER | sha256sum | cut -d' ' -f1)" ] &&
	ok "a clone does not keep the key it was cloned with: a new key, recorded for its instance" ||
	{ not_ok "a clone's key"; diag "$(cat "$SCRATCH/clone.log")"; }
# clean undoes boot
mb -c "$SCRATCH/baked.yaml" clean > "$SCRATCH/clean.log" 2>&1
bad=""
[ -L "$R/etc/systemd/system/multi-user.target.wants/istio-sidecar.service" ] && bad="$bad; still enabled"
grep -q meshboot "$R/etc/hosts" && bad="$bad; hosts block"
ip netns exec $ns iptables-legacy-save | grep -q ISTIO && bad="$bad; rules"
[ -e "$R/var/lib/meshboot/instance/iid-clone/done" ] && bad="$bad; run-once record"
[ -x "$R/opt/meshboot/sidecar/current/bin/pilot-agent" ] || bad="$bad; the installed version went"
[ -z "$bad" ] && ok "clean: disabled, rules, hosts block and record gone, the install kept" || { not_ok "clean:$bad"; diag "$(cat "$SCRATCH/clean.log")"; }
mb -c "$SCRATCH/baked.yaml" --all clean > "$SCRATCH/clean2.log" 2>&1
[ ! -e "$R/opt/meshboot/sidecar" ] && [ ! -e "$R/var/cache/meshboot" ] && [ ! -e "$R/etc/systemd/system/istio-sidecar.service" ] &&
	ok "clean --all: versions, cache and unit files gone" || { not_ok "clean --all"; diag "$(cat "$SCRATCH/clean2.log")"; }

# a failed step is recorded, stops the run, and status says so
http_start
root_make failed
config "$SCRATCH/failed.yaml" sidecar
sed -i "s/sha256: $SHA_sidecar/sha256: $(echo "$SHA_sidecar" | tr 0-9a-f 1-9a-f0)/" "$SCRATCH/failed.yaml"
mb -c "$SCRATCH/failed.yaml" run > "$SCRATCH/failed.log" 2>&1
[ $? = 65 ] && ok "a digest mismatch fails the run (65)" || not_ok "a digest mismatch fails the run (65)"
"$MESHBOOT" --root "$R" status > "$SCRATCH/st.txt"; st=$?
[ $st = 1 ] && grep -q "fetch        failed" "$SCRATCH/st.txt" && grep -q "sha256 mismatch" "$SCRATCH/st.txt" &&
	ok "status: failed (1), the fetch step with its error" || { not_ok "status: failed (1), the fetch step with its error (exit $st)"; diag "$(cat "$SCRATCH/st.txt")"; }
[ ! -e "$R/etc/systemd/system/istio-sidecar.service" ] && ! grep -q istio-proxy "$R/etc/passwd" &&
	ok "nothing after the failed step ran (no user, no unit)" || not_ok "nothing after the failed step ran (no user, no unit)"
[ ! -e "$R/opt" ] && [ ! -e "$R/var/cache" ] && ok "the failed fetch left no directory behind (no /opt/meshboot, no cache)" ||
	not_ok "the failed fetch left directories: $(cd "$R" && find opt var/cache 2>/dev/null | tr '\n' ' ')"

# mode none: no certificate until an external signer delivers one, so no
# redirect to a sidecar that cannot start (the units wait for the file too)
root_make none
config "$SCRATCH/none.yaml" sidecar
sed -i '/^    ca: /d' "$SCRATCH/none.yaml"
mb -c "$SCRATCH/none.yaml" run > "$SCRATCH/none.log" 2>&1
if [ $? = 0 ] && ! ip netns exec $ns iptables-legacy-save | grep -q ISTIO && grep -q 'redirect: not applied until /etc/certs/cert-chain.pem exists' "$R/var/lib/meshboot/status.json" &&
	grep -qx 'ConditionPathExists=/etc/certs/cert-chain.pem' "$R/etc/systemd/system/istio-sidecar.service" &&
	grep -qx 'ConditionPathExists=/etc/certs/cert-chain.pem' "$R/etc/systemd/system/meshboot-redirect.service"; then
	ok "mode none: no certificate yet, so no redirect; both units wait for cert-chain.pem; status says so"
else not_ok "mode none: no redirect without a certificate"; diag "$(cat "$SCRATCH/none.log")"; fi
ip netns exec $ns "$MESHBOOT" -q redirect clean

# the secrets canary: a token in the configuration appears nowhere
root_make canary
config "$SCRATCH/canary.yaml" sidecar
sed -i 's|^    ca: .*|    ca: {mode: istio, address: "istiod:15012", token: CANARYtoken0123456789}|' "$SCRATCH/canary.yaml"
mb -v -c "$SCRATCH/canary.yaml" run > "$SCRATCH/canary.log" 2>&1
grep -q 'error: certificates: the Istio CA at istiod:15012' "$SCRATCH/canary.log" && ok "canary: the run stops at the certificates step (no CA at istiod:15012)" ||
	{ not_ok "canary: the run stops at the certificates step"; diag "$(cat "$SCRATCH/canary.log")"; }
! grep -rq CANARYtoken "$R" "$SCRATCH/canary.log" && ok "canary: the token is in no file under the root and in no log line" ||
	not_ok "canary: the token leaked: $(grep -rl CANARYtoken "$R" "$SCRATCH/canary.log" | head -3)"
"$MESHBOOT" --root "$R" --format json status | grep -q CANARY && not_ok "canary: the token is in status" || ok "canary: not in status --format json"
finish

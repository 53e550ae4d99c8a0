#!/bin/sh
# Crash consistency: meshboot run killed (SIGKILL, no cleanup) after each
# step in turn, and at random moments inside steps, then run again
# normally: the final tree equals the tree of a run that was never
# interrupted (path, type, mode, owner, content).  20+ trials.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
. "$SRCDIR/tests/integration/pki.sh"
ns=mbt-crash-$$
if ! err=$(ip netns add $ns 2>&1); then
	echo "1..0 # SKIP cannot create a network namespace: $err"
	exit 0
fi
trap 'ip netns del $ns 2>/dev/null; httpfix_cleanup' EXIT
export XTABLES_LOCKFILE=$SCRATCH/xtables.lock MESHBOOT_RUNTIME_DIR=$SCRATCH/run
mkdir -p "$MESHBOOT_RUNTIME_DIR"
http_start_in_netns $ns

t=$SCRATCH/art
mkdir -p "$t/bin" && printf '#!/bin/sh\necho agent\n' > "$t/bin/pilot-agent" && chmod 755 "$t/bin/pilot-agent" &&
	head -c 2000000 /dev/urandom > "$t/bin/blob" && (cd "$t" && tar --sort=name -czf "$HTTP_DIR/sidecar.tgz" .) || bail "art"
SHA=$(sha256sum < "$HTTP_DIR/sidecar.tgz" | cut -d' ' -f1)
pki_root mesh && pki_inter group mesh || bail "test CAs"
CFG=$SCRATCH/c.yaml
cat > "$CFG" <<CFGEOF
version: 1
roles: [sidecar]
mesh: {discovery_address: "istio-pilot:15010", instance_ip: 10.0.0.5, hosts: [{name: istio-pilot, ip: 10.0.0.2}]}
certs:
  root: {pem: $(pem_yaml "$PKI/mesh.pem")}
  ca: {mode: local, cert: $(pem_yaml "$PKI/group.pem"), key: $(pem_yaml "$PKI/group.key")}
artifacts: {sidecar: {url: "$HTTP/ok/sidecar.tgz", sha256: $SHA, version: "1.0", exec: bin/pilot-agent}}
redirect: {inbound_ports: [9080], exclude_outbound_ports: [$HTTP_PORT]}
CFGEOF

root_make() {
	R=$SCRATCH/root-$1
	root_base "$R" iid-crash
}
# the tree, the per-run record and lock files aside; the per-instance key
# and what derives from it (CSR, certificate) by path, mode and owner only
tree() {
	(cd "$1" && find . ! -path ./var/lib/meshboot/status.json ! -path ./run/meshboot.lock ! -path ./etc/.pwd.lock \
		! -path ./var/lib/meshboot/instance/iid-crash/done -printf '%p %y %m %u:%g %s %l\n' |
		sed -E 's#^(\./etc/certs/(key|csr|cert-chain)\.pem f [0-7]+ [^ ]+) [0-9]+#\1 -#' | LC_ALL=C sort &&
		find . -type f ! -path ./var/lib/meshboot/status.json ! -path ./run/meshboot.lock \
			! -path ./var/lib/meshboot/instance/iid-crash/done ! -path ./etc/certs/key.pem ! -path ./etc/certs/csr.pem \
			! -path ./etc/certs/cert-chain.pem ! -path ./var/lib/meshboot/instance/iid-crash/key.sha256 -print0 |
			LC_ALL=C sort -z | xargs -0r sha256sum)
}
# ... and that key is sound: the certificate verifies and is for it, and
# the instance's record names it
certs_sound() {
	openssl verify -CAfile "$R/etc/certs/root-cert.pem" -untrusted "$R/etc/certs/cert-chain.pem" "$R/etc/certs/cert-chain.pem" >/dev/null 2>&1 &&
		[ "$(openssl pkey -in "$R/etc/certs/key.pem" -pubout 2>/dev/null)" = "$(openssl x509 -in "$R/etc/certs/cert-chain.pem" -noout -pubkey)" ] &&
		[ "$(cat "$R/var/lib/meshboot/instance/iid-crash/key.sha256")" = "$(openssl pkey -in "$R/etc/certs/key.pem" -pubout -outform DER | sha256sum | cut -d' ' -f1)" ]
}
rules() { ip netns exec $ns iptables-legacy-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; }
mb() { ip netns exec $ns "$MESHBOOT" -q --root "$R" -c "$CFG" "$@"; }

root_make ref
mb run || bail "the reference run failed"
tree "$R" > "$SCRATCH/ref.tree"
rules > "$SCRATCH/ref.rules"
ip netns exec $ns "$MESHBOOT" -q redirect clean
steps=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["steps"]))' "$R/var/lib/meshboot/status.json")

trials=$((steps + 12))
plan $((trials * 2 + 1))
i=0
# killed after each step boundary
for k in $(seq 0 $((steps - 1))); do
	i=$((i + 1))
	root_make "k$k"
	MESHBOOT_TEST_KILL_AFTER=$k mb run 2>/dev/null
	st=$?
	[ $st = 137 ] || [ $st = 0 ] || diag "kill after $k: exit $st"
	mb run 2>"$SCRATCH/err"
	if [ $? = 0 ] && tree "$R" | cmp -s - "$SCRATCH/ref.tree" && certs_sound; then ok "killed after step $k, run again: the tree of an uninterrupted run"
	else not_ok "killed after step $k, run again: the tree of an uninterrupted run"; diag "$(cat "$SCRATCH/err")" "$(tree "$R" | diff "$SCRATCH/ref.tree" - | head -10)"; fi
	rules | cmp -s - "$SCRATCH/ref.rules" && ok "killed after step $k: the same rules, none duplicated" ||
		{ not_ok "killed after step $k: the same rules, none duplicated"; diag "$(rules | diff "$SCRATCH/ref.rules" - | head)"; }
	ip netns exec $ns "$MESHBOOT" -q redirect clean
done
# killed at random moments (inside downloads, unpacking, file writes)
for j in $(seq 1 12); do
	root_make "r$j"
	ip netns exec $ns "$MESHBOOT" -q --root "$R" -c "$CFG" run 2>/dev/null &
	pid=$!
	sleep "0.0$(( (j * 7919) % 90 + 5 ))"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	# a kill inside a run leaves the run lock free (flock dies with the process)
	mb run 2>"$SCRATCH/err"
	if [ $? = 0 ] && tree "$R" | cmp -s - "$SCRATCH/ref.tree" && certs_sound; then ok "killed at a random moment ($j), run again: the same tree"
	else not_ok "killed at a random moment ($j), run again: the same tree"; diag "$(cat "$SCRATCH/err")" "$(tree "$R" | diff "$SCRATCH/ref.tree" - | head -10)"; fi
	rules | cmp -s - "$SCRATCH/ref.rules" && ok "killed at a random moment ($j): the same rules" ||
		{ not_ok "killed at a random moment ($j): the same rules"; diag "$(rules | diff "$SCRATCH/ref.rules" - | head)"; }
	ip netns exec $ns "$MESHBOOT" -q redirect clean
done
# a writer killed between creating its temp file and the rename: the next
# write of that file removes the dead one's temp (a deterministic version
# of what the random kills above hit now and then)
root_make stale
mkdir -p "$R/var/lib/meshboot/instance/iid-crash"
: > "$R/var/lib/meshboot/.status.json.deadbeef.tmp"
echo half > "$R/var/lib/meshboot/instance/iid-crash/.done.0badf00d.tmp"
mb run 2>"$SCRATCH/err"
if [ $? = 0 ] && tree "$R" | cmp -s - "$SCRATCH/ref.tree"; then ok "temp files left by a killed writer are gone after the next run"
else not_ok "temp files left by a killed writer are gone after the next run"; diag "$(cat "$SCRATCH/err")" "$(tree "$R" | diff "$SCRATCH/ref.tree" - | head -10)"; fi
ip netns exec $ns "$MESHBOOT" -q redirect clean
finish

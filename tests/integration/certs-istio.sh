#!/bin/sh
# certs.ca.mode istio against real gRPC servers over HTTP/2 + TLS on
# loopback, their certificates from the mesh root: tests/grpc-ca (the
# canonical gRPC C++ library: the protocol as gRPC itself speaks it) and
# tests/ca-server.js (Node.js's http2 module, gRPC framing by hand, which
# can also give the wrong answers); both sign with the openssl CLI.  The good answer is installed and verifies; its failure answers
# (UNAUTHENTICATED, a chain from another CA, a certificate for another key,
# a server certificate not from the root) are each refused with nothing
# installed; UNAVAILABLE is retried; the token reaches no log, no status
# and no file.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
. "$SRCDIR/tests/integration/pki.sh"
command -v node >/dev/null || bail "node is not installed (Build-Depends in debian/control: nodejs)"
GRPC_CA=$BUILDDIR/tests/grpc-ca/grpc-ca-server
[ -x "$GRPC_CA" ] || bail "$GRPC_CA is not built (make check builds it)"
plan 29

http_start
t=$SCRATCH/art
mkdir -p "$t/bin" && printf '#!/bin/sh\necho agent\n' > "$t/bin/pilot-agent" && chmod 755 "$t/bin/pilot-agent" &&
	(cd "$t" && tar --owner=0 --group=0 --sort=name -czf "$HTTP_DIR/rel.tgz" .) || bail "artifact"
SHA=$(sha256sum < "$HTTP_DIR/rel.tgz" | cut -d' ' -f1)
pki_root mesh && pki_inter istiod-ca mesh && pki_server istiod mesh && pki_root rogue && pki_server rogue-srv rogue ||
	bail "test CAs"
TOKEN=CANARYtok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# ca_start MODE [SERVER_CERT [NAME]]: the test CA; $CA_PORT, $CA_PID, log $CA_LOG
ca_start() {
	srv=${2:-istiod}
	CA_LOG=$SCRATCH/ca-${3:-$1}.log
	rm -f "$SCRATCH/ready"
	timeout 120 node "$SRCDIR/tests/ca-server.js" --port 0 --cert "$PKI/$srv.pem" --key "$PKI/$srv.key" \
		--ca-cert "$PKI/istiod-ca.pem" --ca-key "$PKI/istiod-ca.key" --token "$TOKEN" --mode "$1" \
		--log "$CA_LOG" --ready "$SCRATCH/ready" 2>"$SCRATCH/ca-$1.err" &
	CA_PID=$!
	_httpfix_bg="$_httpfix_bg $CA_PID"
	i=0; while [ ! -s "$SCRATCH/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	CA_PORT=$(cat "$SCRATCH/ready" 2>/dev/null) || bail "ca-server did not start: $(cat "$SCRATCH/ca-$1.err")"
}
ca_stop() { kill "$CA_PID" 2>/dev/null; wait "$CA_PID" 2>/dev/null; }

root_make() {
	R=$SCRATCH/root-$1
	root_base "$R" "iid-$1"
	mkdir -p "$R/run/secrets"
	C=$R/etc/certs
}
# config FILE TOKEN_YAML: a workload VM asking the CA at 127.0.0.1:$CA_PORT
config() {
	{
		echo "version: 1"
		echo "roles: [sidecar]"
		echo "mesh: {namespace: bookinfo, service_account: ratings, instance_ip: 10.0.0.5, discovery_address: \"istiod:15012\"}"
		echo "artifacts:"
		echo "  sidecar: {url: \"$HTTP/ok/rel.tgz\", sha256: $SHA, version: \"1.0\", exec: bin/pilot-agent}"
		echo "redirect: {enabled: false}"
		echo "fetch: {retries: 2, backoff_base_ms: 50, deadline_sec: 30}"
		echo "certs:"
		printf '  root: {pem: %s}\n' "$(pem_yaml "$PKI/mesh.pem")"
		echo "  lifetime_hours: 24"
		echo "  ca: {mode: istio, address: \"127.0.0.1:$CA_PORT\", $2}"
	} > "$1"
}
mb() { "$MESHBOOT" --root "$R" -v "$@"; }
LOGS=$SCRATCH/all-meshboot.log
: > "$LOGS"
run_case() { # run_case NAME MODE [SERVER_CERT]: a fresh root, a run; $st, log $SCRATCH/NAME.log
	ca_start "$2" "${3:-istiod}" "$1"
	root_make "$1"
	config "$SCRATCH/$1.yaml" "token: $TOKEN"
	mb -c "$SCRATCH/$1.yaml" run > "$SCRATCH/$1.log" 2>&1; st=$?
	cat "$SCRATCH/$1.log" >> "$LOGS"
}

# ---- the canonical gRPC implementation -----------------------------------------------
# grpc_case NAME MODE: tests/grpc-ca in MODE, a fresh root, a run; $st, $CA_LOG
grpc_case() {
	CA_LOG=$SCRATCH/grpc-$1.log
	rm -f "$SCRATCH/grpc.port"
	timeout 120 "$GRPC_CA" --port-file "$SCRATCH/grpc.port" --cert "$PKI/istiod.pem" --key "$PKI/istiod.key" \
		--ca-cert "$PKI/istiod-ca.pem" --ca-key "$PKI/istiod-ca.key" --token "$TOKEN" --mode "$2" --log "$CA_LOG" \
		2>"$SCRATCH/grpc-$1.err" &
	CA_PID=$!
	_httpfix_bg="$_httpfix_bg $CA_PID"
	i=0; while [ ! -s "$SCRATCH/grpc.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	CA_PORT=$(cat "$SCRATCH/grpc.port" 2>/dev/null) || bail "grpc-ca-server did not start: $(cat "$SCRATCH/grpc-$1.err")"
	root_make "grpc-$1"
	config "$SCRATCH/grpc-$1.yaml" "token: $TOKEN"
	mb -c "$SCRATCH/grpc-$1.yaml" run > "$SCRATCH/grpc-$1.run" 2>&1; st=$?
	cat "$SCRATCH/grpc-$1.run" >> "$LOGS"
	ca_stop
}
grpc_case ok ok
[ $st = 0 ] && openssl verify -CAfile "$C/root-cert.pem" -untrusted "$C/cert-chain.pem" "$C/cert-chain.pem" >/dev/null 2>&1 &&
	openssl x509 -in "$C/cert-chain.pem" -noout -ext subjectAltName | grep -q 'URI:spiffe://cluster.local/ns/bookinfo/sa/ratings' &&
	ok "grpc C++: a certificate from the canonical gRPC server, verified, with our SPIFFE ID" ||
	{ not_ok "grpc C++: run (exit $st)"; diag "$(cat "$SCRATCH/grpc-ok.run")" "$(cat "$SCRATCH/grpc-ok.err")"; }
grep -q 'token=match validity=86400 grpc-status=0' "$CA_LOG" &&
	ok "grpc C++: the server decoded our request: the bearer token, validity_duration 86400" ||
	{ not_ok "grpc C++: what the server saw"; diag "$(cat "$CA_LOG")"; }
[ "$(grep -c 'BEGIN CERTIFICATE' "$C/cert-chain.pem")" = 2 ] && ok "grpc C++: cert-chain.pem holds the leaf and the intermediate" ||
	not_ok "grpc C++: chain layout"
grpc_case unauth unauth
[ $st = 77 ] && grep -q 'UNAUTHENTICATED' "$SCRATCH/grpc-unauth.run" && grep -q 'token rejected' "$SCRATCH/grpc-unauth.run" &&
	[ ! -e "$C/key.pem" ] && ok "grpc C++: UNAUTHENTICATED (from the trailers of a real gRPC server): 77, nothing installed" ||
	{ not_ok "grpc C++: UNAUTHENTICATED (exit $st)"; diag "$(cat "$SCRATCH/grpc-unauth.run")"; }
[ "$(grep -c 'grpc-status=16' "$CA_LOG")" = 1 ] && ok "grpc C++: UNAUTHENTICATED is not retried" || { not_ok "grpc C++: retried"; diag "$(cat "$CA_LOG")"; }
grpc_case retry unavailable-once
[ $st = 0 ] && [ "$(grep -c 'grpc-status=14' "$CA_LOG")" = 1 ] && [ "$(grep -c 'grpc-status=0' "$CA_LOG")" = 1 ] &&
	ok "grpc C++: UNAVAILABLE is retried, then the certificate installed" || { not_ok "grpc C++: UNAVAILABLE (exit $st)"; diag "$(cat "$SCRATCH/grpc-retry.run")" "$(cat "$CA_LOG")"; }
! grep -qF "$TOKEN" "$SCRATCH"/grpc-*.log && ok "grpc C++: the token is not in the server's log" || not_ok "grpc C++: the token in the server log"

# ---- the good answer ------------------------------------------------------------
run_case ok ok
[ $st = 0 ] && ok "istio: run against the CA over HTTP/2 + TLS" || { not_ok "istio: run (exit $st)"; diag "$(cat "$SCRATCH/ok.log")" "$(cat "$SCRATCH/ca-ok.err")"; }
check "istio: openssl verify: the chain verifies to root-cert.pem" \
	openssl verify -CAfile "$C/root-cert.pem" -untrusted "$C/cert-chain.pem" "$C/cert-chain.pem"
openssl x509 -in "$C/cert-chain.pem" -noout -ext subjectAltName 2>/dev/null | grep -q 'URI:spiffe://cluster.local/ns/bookinfo/sa/ratings' &&
	[ "$(openssl pkey -in "$C/key.pem" -pubout 2>/dev/null)" = "$(openssl x509 -in "$C/cert-chain.pem" -noout -pubkey)" ] &&
	ok "istio: the leaf carries our SPIFFE ID and is for key.pem" || not_ok "istio: SAN / key"
[ "$(grep -c 'BEGIN CERTIFICATE' "$C/cert-chain.pem")" = 2 ] && ! grep -qF "$(sed -n 2p "$PKI/mesh.pem")" "$C/cert-chain.pem" &&
	ok "istio: cert-chain.pem is the leaf and the intermediate; the root is not repeated" || not_ok "istio: chain layout"
grep -q 'token=match' "$CA_LOG" && grep -q 'grpc-status=0' "$CA_LOG" && ok "istio: the CA saw our bearer token and answered OK" ||
	{ not_ok "istio: the CA's log"; diag "$(cat "$CA_LOG")"; }
nb=$(date -d "$(openssl x509 -in "$C/cert-chain.pem" -noout -startdate | sed 's/.*=//')" +%s)
na=$(date -d "$(openssl x509 -in "$C/cert-chain.pem" -noout -enddate | sed 's/.*=//')" +%s)
[ $((na - nb)) -ge 86000 ] && [ $((na - nb)) -le 86400 ] && ok "istio: validity_duration asked for 24 h ($((na - nb)) s)" || not_ok "istio: validity $((na - nb)) s"
n=$(wc -l < "$CA_LOG")
rm -f "$R"/var/lib/meshboot/instance/*/done
mb -c "$SCRATCH/ok.yaml" run > "$SCRATCH/ok2.log" 2>&1
cat "$SCRATCH/ok2.log" >> "$LOGS"
[ "$(wc -l < "$CA_LOG")" = "$n" ] && grep -q 'kept: still valid' "$SCRATCH/ok2.log" &&
	ok "istio: a second boot keeps the valid certificate and asks the CA nothing" || { not_ok "istio: second boot"; diag "$(cat "$SCRATCH/ok2.log")"; }
# the token from a file, as istioctl writes it (trailing newline)
root_make tokfile
printf '%s\n' "$TOKEN" > "$R/run/secrets/istio-token" && chmod 600 "$R/run/secrets/istio-token"
config "$SCRATCH/tokfile.yaml" "token_file: /run/secrets/istio-token"
mb -c "$SCRATCH/tokfile.yaml" run > "$SCRATCH/tokfile.log" 2>&1 && [ -s "$C/cert-chain.pem" ] &&
	ok "istio: token_file (with its trailing newline)" || { not_ok "istio: token_file"; diag "$(cat "$SCRATCH/tokfile.log")"; }
cat "$SCRATCH/tokfile.log" >> "$LOGS"
ca_stop

# ---- failure answers: refused, nothing installed ------------------------------------
nothing() { [ ! -e "$C/key.pem" ] && [ ! -e "$C/cert-chain.pem" ] && [ ! -e "$C/root-cert.pem" ]; }
run_case unauth unauth
[ $st = 77 ] && grep -q 'UNAUTHENTICATED' "$SCRATCH/unauth.log" && grep -q 'token rejected' "$SCRATCH/unauth.log" &&
	ok "istio: UNAUTHENTICATED: exit 77, the status and message named" || { not_ok "istio: UNAUTHENTICATED (exit $st)"; diag "$(cat "$SCRATCH/unauth.log")"; }
nothing && ok "istio: UNAUTHENTICATED: nothing installed" || not_ok "istio: UNAUTHENTICATED: files installed"
[ "$(grep -c 'grpc-status=16' "$CA_LOG")" = 1 ] && ok "istio: UNAUTHENTICATED is not retried" || { not_ok "istio: UNAUTHENTICATED retried"; diag "$(cat "$CA_LOG")"; }
ca_stop
run_case wrongchain wrongchain
[ $st = 65 ] && grep -q 'refused, nothing installed: the chain does not verify to the root' "$SCRATCH/wrongchain.log" &&
	ok "istio: a chain from another CA: refused (65)" || { not_ok "istio: wrong chain (exit $st)"; diag "$(cat "$SCRATCH/wrongchain.log")"; }
nothing && ok "istio: wrong chain: nothing installed" || not_ok "istio: wrong chain: files installed"
ca_stop
run_case otherkey otherkey
[ $st = 65 ] && grep -q 'the leaf certificate is not for the workload key' "$SCRATCH/otherkey.log" &&
	ok "istio: a certificate for another key: refused (65)" || { not_ok "istio: other key (exit $st)"; diag "$(cat "$SCRATCH/otherkey.log")"; }
nothing && ok "istio: other key: nothing installed" || not_ok "istio: other key: files installed"
ca_stop
run_case rogue ok rogue-srv
[ $st -ne 0 ] && grep -qi 'certificate' "$SCRATCH/rogue.log" && ! grep -q 'token=match' "$CA_LOG" 2>/dev/null &&
	ok "istio: a server certificate not from the root: refused before any request (exit $st)" || { not_ok "istio: rogue server (exit $st)"; diag "$(cat "$SCRATCH/rogue.log")"; }
nothing && ok "istio: rogue server: nothing installed" || not_ok "istio: rogue server: files installed"
ca_stop
run_case retry unavailable-once
[ $st = 0 ] && [ "$(grep -c 'grpc-status=14' "$CA_LOG")" = 1 ] && [ "$(grep -c 'grpc-status=0' "$CA_LOG")" = 1 ] && [ -s "$C/cert-chain.pem" ] &&
	ok "istio: UNAVAILABLE is retried, then the certificate installed" || { not_ok "istio: UNAVAILABLE retried (exit $st)"; diag "$(cat "$SCRATCH/retry.log")" "$(cat "$CA_LOG")"; }
ca_stop
# nobody listening: a transient failure after the retries
root_make down
config "$SCRATCH/down.yaml" "token: $TOKEN"
mb -c "$SCRATCH/down.yaml" run > "$SCRATCH/down.log" 2>&1; st=$?
cat "$SCRATCH/down.log" >> "$LOGS"
[ $st = 75 ] && grep -q "127.0.0.1:$CA_PORT" "$SCRATCH/down.log" && nothing &&
	ok "istio: the CA down: exit 75 (try again), the address named, nothing installed" || { not_ok "istio: CA down (exit $st)"; diag "$(cat "$SCRATCH/down.log")"; }

# ---- the token: nowhere -----------------------------------------------------------------
! grep -qF "$TOKEN" "$LOGS" && ok "istio: the token is in no log line (-v, every case)" || not_ok "istio: the token leaked into a log"
leaks=$(grep -rlF "$TOKEN" "$SCRATCH"/root-* 2>/dev/null | grep -v '/run/secrets/istio-token$')
[ -z "$leaks" ] && ok "istio: the token is in no file under any root (but its own token file)" || not_ok "istio: the token leaked: $leaks"
! grep -qF "$TOKEN" "$SCRATCH"/ca-*.log && ok "istio: nor in the CA's log (it logs whether the token matched, not the token)" || not_ok "istio: the token is in the CA log"
finish

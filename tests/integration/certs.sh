#!/bin/sh
# The certificate step of boot on scratch roots, checked with the real
# openssl CLI: a local CA (an intermediate) signs the SPIFFE CSR; a Citadel
# host creates the mesh CA and Istio's plugged-in CA layout; two hosts of
# one mesh CA complete a mutual-TLS handshake (s_server -Verify, s_client
# -verify_return_error), a host of another CA does not; mode none leaves
# the key and CSR; the root fetched by URL is pinned and cached at bake;
# hostile input (garbage PEM, expired, not yet valid, non-CA root,
# fingerprint mismatch, CA key not matching) is refused with nothing
# installed and the old files kept; keys never reach a log or status.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
. "$SRCDIR/tests/integration/pki.sh"
plan 57

http_start
t=$SCRATCH/art
mkdir -p "$t/bin" && printf '#!/bin/sh\necho agent\n' > "$t/bin/pilot-agent" && printf '#!/bin/sh\necho ca\n' > "$t/bin/istio_ca" &&
	chmod 755 "$t/bin/"* && (cd "$t" && tar --owner=0 --group=0 --sort=name -czf "$HTTP_DIR/rel.tgz" .) || bail "artifact"
SHA=$(sha256sum < "$HTTP_DIR/rel.tgz" | cut -d' ' -f1)

pki_root mesh && pki_inter group1 mesh && pki_root other && pki_inter othergroup other || bail "test CAs"
pki_dated_root expired 20200101000000Z 20210101000000Z && pki_dated_root future 20990101000000Z 21000101000000Z &&
	pki_noca notca || bail "hostile roots"

root_make() {
	R=$SCRATCH/root-$1
	root_base "$R" "iid-$1"
	mkdir -p "$R/etc/meshboot/ca"
	C=$R/etc/certs
}
# config FILE ROLES SA [extra certs lines...]: a configuration; the CA
# material is delivered into the root at /etc/meshboot/ca (as an image
# build would), the root certificate inline unless the extra lines say.
config() {
	f=$1 roles=$2 sa=$3; shift 3
	{
		echo "version: 1"
		echo "roles: [$roles]"
		echo "mesh: {namespace: bookinfo, service_account: $sa, instance_ip: 10.0.0.5, discovery_address: \"istio-pilot:15010\"}"
		echo "artifacts:"
		for r in $(echo "$roles" | tr , ' '); do
			case $r in sidecar) e=bin/pilot-agent;; *) e=bin/istio_ca;; esac
			echo "  $r: {url: \"$HTTP/ok/rel.tgz\", sha256: $SHA, version: \"1.0\", exec: $e}"
		done
		echo "redirect: {enabled: false}"
		echo "fetch: {retries: 1, backoff_base_ms: 20, deadline_sec: 30}"
		echo "certs:"
		for l; do printf '  %s\n' "$l"; done
	} > "$f"
}
mb() { "$MESHBOOT" --root "$R" "$@"; }
again() { rm -f "$R"/var/lib/meshboot/instance/*/done; mb "$@"; } # a second boot of the same instance
step_result() { python3 -c 'import json,sys; print([s["result"] for s in json.load(open(sys.argv[1]))["steps"] if s["name"] == sys.argv[2]][0])' "$R/var/lib/meshboot/status.json" "$1"; }

# ---- mode local: an intermediate of the mesh root signs ---------------------
root_make local
cp "$PKI/group1.pem" "$R/etc/meshboot/ca/ca-cert.pem" && cp "$PKI/group1.key" "$R/etc/meshboot/ca/ca-key.pem" && chmod 600 "$R/etc/meshboot/ca/ca-key.pem"
config "$SCRATCH/local.yaml" sidecar ratings "root: {pem: $(pem_yaml "$PKI/mesh.pem")}" \
	"dns_names: [ratings.bookinfo.svc]" "ip_addresses: [10.0.0.5]" "lifetime_hours: 48" \
	"ca: {mode: local, cert_file: /etc/meshboot/ca/ca-cert.pem, key_file: /etc/meshboot/ca/ca-key.pem}"
C=$R/etc/certs
command -v strace >/dev/null || bail "strace is not installed (Build-Depends in debian/control)"
# (LeakSanitizer cannot run under ptrace: leaks are checked by every other run)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -y -o "$SCRATCH/strace.local" -e trace=chmod,fchmod,fchmodat "$MESHBOOT" --root "$R" -v -c "$SCRATCH/local.yaml" run > "$SCRATCH/local.log" 2>&1 &&
	ok "local: run" || { not_ok "local: run"; diag "$(cat "$SCRATCH/local.log")"; }
check "local: openssl verify: the chain verifies to root-cert.pem" \
	openssl verify -CAfile "$C/root-cert.pem" -untrusted "$C/cert-chain.pem" "$C/cert-chain.pem"
openssl x509 -in "$C/cert-chain.pem" -noout -text > "$SCRATCH/leaf.txt" 2>&1
# exactly these three names, the SPIFFE URI first (as the CSR lists them)
check "local: the SPIFFE URI SAN, the DNS and IP SANs" \
	grep -Eqx ' *URI:spiffe://cluster.local/ns/bookinfo/sa/ratings, DNS:ratings.bookinfo.svc, IP Address:10.0.0.5' "$SCRATCH/leaf.txt"
prof=$(tr -s ' ' < "$SCRATCH/leaf.txt")
case $prof in *"CA:FALSE"*"Digital Signature, Key Encipherment"*"TLS Web Server Authentication, TLS Web Client Authentication"*) ok "local: leaf profile: CA:FALSE, digitalSignature+keyEncipherment, serverAuth+clientAuth";;
*) not_ok "local: leaf profile"; diag "$prof";; esac
serial=$(openssl x509 -in "$C/cert-chain.pem" -noout -serial | sed 's/serial=//')
[ ${#serial} -ge 30 ] && ok "local: a random 128-bit serial ($serial)" || not_ok "local: a random 128-bit serial ($serial)"
nb=$(date -d "$(openssl x509 -in "$C/cert-chain.pem" -noout -startdate | sed 's/.*=//')" +%s)
na=$(date -d "$(openssl x509 -in "$C/cert-chain.pem" -noout -enddate | sed 's/.*=//')" +%s)
[ $((na - nb)) -eq $((48 * 3600 + 300)) ] && ok "local: lifetime_hours 48 (+5 min backdating)" || not_ok "local: lifetime $((na - nb)) s"
awk '/BEGIN CERT/{n++} n==2' "$C/cert-chain.pem" > "$SCRATCH/second.pem"
[ "$(grep -c 'BEGIN CERTIFICATE' "$C/cert-chain.pem")" = 2 ] &&
	[ "$(openssl x509 -in "$SCRATCH/second.pem" -noout -fingerprint)" = "$(openssl x509 -in "$PKI/group1.pem" -noout -fingerprint)" ] &&
	ok "local: cert-chain.pem is the leaf, then the intermediate" || not_ok "local: cert-chain.pem is the leaf, then the intermediate"
check "local: root-cert.pem is the configured root" cmp "$C/root-cert.pem" "$PKI/mesh.pem"
[ "$(stat -c '%a %u:%g' "$C/key.pem")" = "600 1337:1337" ] && [ "$(stat -c '%a %u:%g' "$C/cert-chain.pem")" = "644 1337:1337" ] &&
	[ "$(stat -c '%a' "$C/root-cert.pem")" = 644 ] && [ "$(stat -c '%a %u' "$C")" = "755 1337" ] &&
	ok "local: modes and owners (key.pem 0600 istio-proxy, cert-chain.pem and root-cert.pem 0644)" ||
	not_ok "local: modes and owners: $(stat -c '%n %a %u:%g' "$C" "$C"/*)"
! grep -E 'key\.pem|\.key\.pem' "$SCRATCH/strace.local" | grep -q chmod && ok "local: key.pem never chmod-ed (strace)" ||
	{ not_ok "local: key.pem never chmod-ed (strace)"; diag "$(grep key.pem "$SCRATCH/strace.local")"; }
[ "$(openssl pkey -in "$C/key.pem" -pubout 2>/dev/null)" = "$(openssl x509 -in "$C/cert-chain.pem" -noout -pubkey)" ] &&
	ok "local: the certificate is for key.pem" || not_ok "local: the certificate is for key.pem"
openssl pkey -in "$C/key.pem" -noout -text 2>/dev/null | grep -q 'ASN1 OID: prime256v1' && ok "local: an EC P-256 key by default" ||
	not_ok "local: an EC P-256 key by default"
cp "$C/key.pem" "$SCRATCH/key1"; cp "$C/cert-chain.pem" "$SCRATCH/chain1"
again -c "$SCRATCH/local.yaml" run > "$SCRATCH/local2.log" 2>&1
grep -q '"certificate: spiffe://cluster.local/ns/bookinfo/sa/ratings, valid until 20[0-9-]*T' "$R/var/lib/meshboot/status.json" &&
	ok "local: status.json notes the identity and the certificate's end" || not_ok "local: status note"
[ "$(step_result certificates)" = unchanged ] && cmp -s "$C/key.pem" "$SCRATCH/key1" && cmp -s "$C/cert-chain.pem" "$SCRATCH/chain1" &&
	ok "local: a second boot keeps the key and certificate (step unchanged)" || { not_ok "local: a second boot keeps the key and certificate"; diag "$(cat "$SCRATCH/local2.log")"; }
mb --force -c "$SCRATCH/local.yaml" run > "$SCRATCH/local3.log" 2>&1
! cmp -s "$C/key.pem" "$SCRATCH/key1" && ! cmp -s "$C/cert-chain.pem" "$SCRATCH/chain1" &&
	openssl verify -CAfile "$C/root-cert.pem" -untrusted "$C/cert-chain.pem" "$C/cert-chain.pem" >/dev/null 2>&1 &&
	ok "local: --force rotates the key and reissues" || { not_ok "local: --force rotates the key"; diag "$(cat "$SCRATCH/local3.log")"; }
sed -i 's/^  lifetime_hours: 48/  lifetime_hours: 48\n  key_type: rsa-3072/' "$SCRATCH/local.yaml"
again -c "$SCRATCH/local.yaml" run > "$SCRATCH/local4.log" 2>&1
openssl pkey -in "$C/key.pem" -noout -text 2>/dev/null | grep -q 'Private-Key: (3072 bit' &&
	[ "$(openssl pkey -in "$C/key.pem" -pubout 2>/dev/null)" = "$(openssl x509 -in "$C/cert-chain.pem" -noout -pubkey)" ] &&
	ok "local: key_type rsa-3072: the key is replaced by an RSA 3072 one" || { not_ok "local: key_type rsa-3072"; diag "$(cat "$SCRATCH/local4.log")"; }
cp "$C/key.pem" "$SCRATCH/key2"
cat "$SCRATCH/local.log" "$SCRATCH/local2.log" "$SCRATCH/local3.log" "$SCRATCH/local4.log" > "$SCRATCH/all.log"
leak=""
for f in "$SCRATCH/key1" "$SCRATCH/key2" "$PKI/group1.key"; do
	l=$(sed -n 2p "$f")
	grep -rqF -- "$l" "$SCRATCH/all.log" "$R/var/lib/meshboot" && leak="$leak $f"
done
[ -z "$leak" ] && ok "local: no private key line in any log (-v) or status" || not_ok "local: a key leaked:$leak"

# ---- keep the old files when the new chain is refused ------------------------
tree_manifest "$R/etc/certs" > "$SCRATCH/before"
cp "$PKI/othergroup.pem" "$R/etc/meshboot/ca/ca-cert.pem"
mb --force -c "$SCRATCH/local.yaml" run > "$SCRATCH/mismatch.log" 2>&1; st=$?
[ $st = 65 ] && grep -q 'the CA key does not match the CA certificate' "$SCRATCH/mismatch.log" &&
	ok "hostile: CA key not matching the CA certificate: 65, says so" || { not_ok "hostile: CA key mismatch (exit $st)"; diag "$(cat "$SCRATCH/mismatch.log")"; }
tree_manifest "$R/etc/certs" | cmp -s - "$SCRATCH/before" && ok "hostile: CA key mismatch: the old files kept" || not_ok "hostile: CA key mismatch: /etc/certs changed"
cp "$PKI/othergroup.key" "$R/etc/meshboot/ca/ca-key.pem"
mb --force -c "$SCRATCH/local.yaml" run > "$SCRATCH/otherca.log" 2>&1; st=$?
[ $st = 65 ] && grep -q 'refused, nothing installed: the chain does not verify to the root' "$SCRATCH/otherca.log" &&
	ok "hostile: a CA of another root: the chain is refused (65)" || { not_ok "hostile: a CA of another root (exit $st)"; diag "$(cat "$SCRATCH/otherca.log")"; }
tree_manifest "$R/etc/certs" | cmp -s - "$SCRATCH/before" && ok "hostile: chain refused: the old key and chain kept" || not_ok "hostile: chain refused: /etc/certs changed"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=[x for x in d["steps"] if x["name"]=="certificates"][0]; sys.exit(0 if d["state"]=="failed" and s["result"]=="failed" and "does not verify" in s["error"] else 1)' "$R/var/lib/meshboot/status.json" &&
	ok "hostile: status.json records the failed certificates step and why" || not_ok "hostile: status.json records the failure"

# ---- Citadel without CA material: the mesh CA is created ---------------------
root_make citadel
config "$SCRATCH/citadel.yaml" "citadel,sidecar" ca "ca: {mode: none}"
mb -c "$SCRATCH/citadel.yaml" run > "$SCRATCH/citadel.log" 2>&1 && ok "citadel: run" || { not_ok "citadel: run"; diag "$(cat "$SCRATCH/citadel.log")"; }
K=$R/etc/cacerts
check "citadel: openssl verify -CAfile root-cert.pem cert-chain.pem" openssl verify -CAfile "$C/root-cert.pem" "$C/cert-chain.pem"
openssl x509 -in "$K/ca-cert.pem" -noout -text | tr -s ' ' > "$SCRATCH/ca.txt"
case $(cat "$SCRATCH/ca.txt") in *"CA:TRUE"*"Certificate Sign, CRL Sign"*) ok "citadel: the mesh CA: CA:TRUE, keyCertSign + cRLSign";;
*) not_ok "citadel: the mesh CA profile"; diag "$(cat "$SCRATCH/ca.txt")";; esac
grep -q 'Subject: O = cluster.local, CN = meshboot mesh root CA' "$SCRATCH/ca.txt" && ok "citadel: the CA's subject names the trust domain" || not_ok "citadel: CA subject"
y=$(date -d "$(openssl x509 -in "$K/ca-cert.pem" -noout -enddate | sed 's/.*=//')" +%Y)
[ "$y" -ge $(( $(date +%Y) + 9 )) ] && ok "citadel: a long CA lifetime (until $y)" || not_ok "citadel: CA lifetime until $y"
[ "$(stat -c '%a %u' "$K/ca-key.pem")" = "600 1337" ] && [ "$(stat -c '%a' "$K/ca-cert.pem" "$K/root-cert.pem" "$K/cert-chain.pem" | sort -u)" = 644 ] &&
	[ "$(stat -c '%a' "$K")" = 750 ] && ok "citadel: Istio's plugged-in CA layout (ca-key.pem 0600, the rest 0644, dir 0750)" ||
	not_ok "citadel: layout modes: $(stat -c '%n %a %u' "$K" "$K"/*)"
cmp -s "$K/ca-cert.pem" "$K/root-cert.pem" && cmp -s "$K/ca-cert.pem" "$C/root-cert.pem" && cmp -s "$K/ca-cert.pem" "$K/cert-chain.pem" &&
	ok "citadel: root-cert.pem and cert-chain.pem are the mesh CA (self-signed root)" || not_ok "citadel: root-cert/cert-chain"
[ "$(openssl pkey -in "$K/ca-key.pem" -pubout 2>/dev/null)" = "$(openssl x509 -in "$K/ca-cert.pem" -noout -pubkey)" ] &&
	ok "citadel: ca-key.pem is the CA's key" || not_ok "citadel: ca-key.pem is the CA's key"
cp "$K/ca-cert.pem" "$SCRATCH/ca1"
mb --force -c "$SCRATCH/citadel.yaml" run > "$SCRATCH/citadel2.log" 2>&1
cmp -s "$K/ca-cert.pem" "$SCRATCH/ca1" && openssl verify -CAfile "$C/root-cert.pem" "$C/cert-chain.pem" >/dev/null 2>&1 &&
	ok "citadel: --force keeps the mesh CA (the mesh trusts it), reissues the host's certificate" || { not_ok "citadel: --force keeps the mesh CA"; diag "$(cat "$SCRATCH/citadel2.log")"; }

# ---- two hosts of one mesh CA: mutual TLS --------------------------------------
for h in a b; do
	root_make "host$h"
	cp "$PKI/group1.pem" "$R/etc/meshboot/ca/ca-cert.pem" && cp "$PKI/group1.key" "$R/etc/meshboot/ca/ca-key.pem"
	config "$SCRATCH/host$h.yaml" sidecar "svc-$h" "root: {pem: $(pem_yaml "$PKI/mesh.pem")}" \
		"ca: {mode: local, cert_file: /etc/meshboot/ca/ca-cert.pem, key_file: /etc/meshboot/ca/ca-key.pem}"
	mb -c "$SCRATCH/host$h.yaml" run > "$SCRATCH/host$h.log" 2>&1 || diag "host$h: $(cat "$SCRATCH/host$h.log")"
done
root_make hostx
cp "$PKI/othergroup.pem" "$R/etc/meshboot/ca/ca-cert.pem" && cp "$PKI/othergroup.key" "$R/etc/meshboot/ca/ca-key.pem"
config "$SCRATCH/hostx.yaml" sidecar svc-x "root: {pem: $(pem_yaml "$PKI/other.pem")}" \
	"ca: {mode: local, cert_file: /etc/meshboot/ca/ca-cert.pem, key_file: /etc/meshboot/ca/ca-key.pem}"
mb -c "$SCRATCH/hostx.yaml" run > "$SCRATCH/hostx.log" 2>&1 || diag "hostx: $(cat "$SCRATCH/hostx.log")"
A=$SCRATCH/root-hosta/etc/certs B=$SCRATCH/root-hostb/etc/certs X=$SCRATCH/root-hostx/etc/certs
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
timeout 20 openssl s_server -accept 127.0.0.1:$port -cert "$A/cert-chain.pem" -key "$A/key.pem" -cert_chain "$A/cert-chain.pem" \
	-CAfile "$A/root-cert.pem" -Verify 2 -verify_return_error -naccept 2 -rev > "$SCRATCH/s_server.log" 2>&1 &
srv=$!
_httpfix_bg="$_httpfix_bg $srv"
for i in $(seq 50); do grep -q ACCEPT "$SCRATCH/s_server.log" && break; sleep 0.1; done
(echo hello; sleep 1) | timeout 10 openssl s_client -connect 127.0.0.1:$port -cert "$B/cert-chain.pem" -key "$B/key.pem" -cert_chain "$B/cert-chain.pem" \
	-CAfile "$B/root-cert.pem" -verify_return_error -verify 2 > "$SCRATCH/s_client.log" 2>&1
st=$?
[ $st = 0 ] && grep -q 'Verify return code: 0 (ok)' "$SCRATCH/s_client.log" && grep -q olleh "$SCRATCH/s_client.log" &&
	ok "mTLS: host b (client) and host a (server) of one mesh CA: handshake verified both ways, data through" ||
	{ not_ok "mTLS: hosts of one mesh CA (exit $st)"; diag "$(tail -20 "$SCRATCH/s_client.log")" "$(cat "$SCRATCH/s_server.log")"; }
(echo hello; sleep 1) | timeout 10 openssl s_client -connect 127.0.0.1:$port -cert "$X/cert-chain.pem" -key "$X/key.pem" -cert_chain "$X/cert-chain.pem" \
	-CAfile "$B/root-cert.pem" -verify_return_error > "$SCRATCH/s_client2.log" 2>&1
sleep 0.3
! grep -q olleh "$SCRATCH/s_client2.log" && grep -qiE 'verify error|certificate verify failed|unable to get' "$SCRATCH/s_server.log" &&
	ok "mTLS: a host of another mesh CA is refused by the server" || { not_ok "mTLS: a host of another mesh CA is refused"; diag "$(cat "$SCRATCH/s_server.log")" "$(tail "$SCRATCH/s_client2.log")"; }
openssl x509 -in "$A/cert-chain.pem" -noout -ext subjectAltName | grep -q 'URI:spiffe://cluster.local/ns/bookinfo/sa/svc-a' &&
	openssl x509 -in "$B/cert-chain.pem" -noout -ext subjectAltName | grep -q 'URI:spiffe://cluster.local/ns/bookinfo/sa/svc-b' &&
	ok "mTLS: each host carries its own SPIFFE ID" || not_ok "mTLS: SPIFFE IDs"
kill $srv 2>/dev/null; wait $srv 2>/dev/null

# ---- mode none: key and CSR for an external signer -----------------------------
root_make none
config "$SCRATCH/none.yaml" sidecar reviews "root: {pem: $(pem_yaml "$PKI/mesh.pem")}" "dns_names: [reviews.bookinfo.svc]"
mb -c "$SCRATCH/none.yaml" run > "$SCRATCH/none.log" 2>&1 && ok "none: run" || { not_ok "none: run"; diag "$(cat "$SCRATCH/none.log")"; }
openssl req -in "$C/csr.pem" -verify -noout -text > "$SCRATCH/csr.txt" 2>&1
grep -q 'verify OK\|Certificate request self-signature verify OK' "$SCRATCH/csr.txt" && grep -q 'URI:spiffe://cluster.local/ns/bookinfo/sa/reviews' "$SCRATCH/csr.txt" &&
	grep -q 'DNS:reviews.bookinfo.svc' "$SCRATCH/csr.txt" && ok "none: csr.pem verifies and asks for the SPIFFE ID and the DNS name" ||
	{ not_ok "none: csr.pem"; diag "$(cat "$SCRATCH/csr.txt")"; }
[ "$(openssl pkey -in "$C/key.pem" -pubout 2>/dev/null)" = "$(openssl req -in "$C/csr.pem" -noout -pubkey)" ] && [ ! -e "$C/cert-chain.pem" ] &&
	ok "none: the CSR is for key.pem; no certificate" || not_ok "none: CSR key / no certificate"
grep -q 'waits for an external signer' "$R/var/lib/meshboot/status.json" && "$MESHBOOT" --root "$R" status | grep -q 'external signer' &&
	ok "none: status says the CSR waits for an external signer" || not_ok "none: status note"
cp "$C/csr.pem" "$SCRATCH/csr1"; cp "$C/key.pem" "$SCRATCH/nkey1"
again -c "$SCRATCH/none.yaml" run > "$SCRATCH/none2.log" 2>&1
cmp -s "$C/csr.pem" "$SCRATCH/csr1" && cmp -s "$C/key.pem" "$SCRATCH/nkey1" && [ "$(step_result certificates)" = unchanged ] &&
	ok "none: a second boot keeps key and CSR byte for byte" || not_ok "none: a second boot keeps key and CSR"
# the external signer delivers: the next boot keeps that certificate
openssl x509 -req -in "$C/csr.pem" -CA "$PKI/group1.pem" -CAkey "$PKI/group1.key" -days 2 -copy_extensions copyall \
	-out "$SCRATCH/ext.pem" 2>/dev/null && cat "$SCRATCH/ext.pem" "$PKI/group1.pem" > "$C/cert-chain.pem"
cp "$C/cert-chain.pem" "$SCRATCH/extchain"
again -c "$SCRATCH/none.yaml" run > "$SCRATCH/none3.log" 2>&1
cmp -s "$C/cert-chain.pem" "$SCRATCH/extchain" && cmp -s "$C/key.pem" "$SCRATCH/nkey1" &&
	ok "none: a certificate the external signer installed is kept, with its key" || { not_ok "none: external certificate kept"; diag "$(cat "$SCRATCH/none3.log")"; }
# a certificate for our key but another identity: kept (not ours to remove), and said loudly
printf 'subjectAltName=critical,URI:spiffe://cluster.local/ns/bookinfo/sa/someone-else\n' > "$SCRATCH/other-san.cnf"
openssl x509 -req -in "$C/csr.pem" -CA "$PKI/group1.pem" -CAkey "$PKI/group1.key" -days 2 -extfile "$SCRATCH/other-san.cnf" \
	-out "$SCRATCH/other.pem" 2>/dev/null && cat "$SCRATCH/other.pem" "$PKI/group1.pem" > "$C/cert-chain.pem"
cp "$C/cert-chain.pem" "$SCRATCH/otherchain"
again -c "$SCRATCH/none.yaml" run > "$SCRATCH/none-other.log" 2>&1
cmp -s "$C/cert-chain.pem" "$SCRATCH/otherchain" && grep -q 'warning: certificates: /etc/certs/cert-chain.pem does not check out' "$SCRATCH/none-other.log" &&
	grep -q 'cert-chain.pem does not check out: the leaf certificate' "$R/var/lib/meshboot/status.json" &&
	ok "none: a certificate for another SPIFFE ID is left as it is, with a warning and a status note" ||
	{ not_ok "none: a certificate for another identity"; diag "$(cat "$SCRATCH/none-other.log")"; }
cp "$SCRATCH/extchain" "$C/cert-chain.pem"
# ... and once it has expired, the next boot rotates the key and asks again
d=$PKI/ca-leaf && mkdir -p "$d" && : > "$d/index.txt" && echo 01 > "$d/serial" &&
	printf '[ca]\ndefault_ca=x\n[x]\ndatabase=%s/index.txt\nnew_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\n' "$d" "$d" "$d" > "$d/ca.cnf" &&
	openssl ca -batch -config "$d/ca.cnf" -cert "$PKI/group1.pem" -keyfile "$PKI/group1.key" -in "$C/csr.pem" -startdate 20200101000000Z \
		-enddate 20200201000000Z -notext -out "$SCRATCH/old.pem" > "$SCRATCH/ca-leaf.log" 2>&1 && cat "$SCRATCH/old.pem" "$PKI/group1.pem" > "$C/cert-chain.pem" ||
	diag "$(cat "$SCRATCH/ca-leaf.log")"
again -c "$SCRATCH/none.yaml" run > "$SCRATCH/none4.log" 2>&1
! cmp -s "$C/key.pem" "$SCRATCH/nkey1" && ! cmp -s "$C/csr.pem" "$SCRATCH/csr1" &&
	[ "$(openssl pkey -in "$C/key.pem" -pubout 2>/dev/null)" = "$(openssl req -in "$C/csr.pem" -noout -pubkey)" ] &&
	[ ! -e "$C/cert-chain.pem" ] && grep -q 'removed /etc/certs/cert-chain.pem: it was for the old key' "$SCRATCH/none4.log" &&
	ok "none: an expired certificate rotates the key (new key, new CSR, the old certificate removed)" || { not_ok "none: an expired certificate rotates the key"; diag "$(cat "$SCRATCH/none4.log")"; }

# ---- the root by URL: pinned, fetched once, cached at bake ---------------------
cp "$PKI/mesh.pem" "$HTTP_DIR/root-cert.pem"
FP=$(pki_fp mesh)
root_make url
config "$SCRATCH/url.yaml" sidecar ratings "root: {url: \"$HTTP/ok/root-cert.pem\", sha256: $FP}"
mb -c "$SCRATCH/url.yaml" bake > "$SCRATCH/bake.log" 2>&1 && [ -f "$R/var/cache/meshboot/trust/$FP.pem" ] && [ ! -e "$R/etc/certs" ] &&
	ok "url: bake fetches the pinned root into the trust cache, writes no certificate" || { not_ok "url: bake"; diag "$(cat "$SCRATCH/bake.log")"; }
mv "$HTTP_DIR/root-cert.pem" "$HTTP_DIR/root-cert.gone"
mb -c "$SCRATCH/url.yaml" boot > "$SCRATCH/boot.log" 2>&1 && cmp -s "$C/root-cert.pem" "$PKI/mesh.pem" &&
	ok "url: boot uses the cached root (the URL answers 404 now)" || { not_ok "url: boot from the cache"; diag "$(cat "$SCRATCH/boot.log")"; }
mv "$HTTP_DIR/root-cert.gone" "$HTTP_DIR/root-cert.pem"
root_make pin
OFP=$(pki_fp other)
config "$SCRATCH/pin.yaml" sidecar ratings "root: {url: \"$HTTP/ok/root-cert.pem\", sha256: $OFP}"
mb -c "$SCRATCH/pin.yaml" run > "$SCRATCH/pin.log" 2>&1; st=$?
[ $st = 65 ] && grep -q "fingerprint mismatch: the certificate's SHA-256 is $FP, certs.root.sha256 pins $OFP" "$SCRATCH/pin.log" &&
	grep -q "$HTTP/ok/root-cert.pem" "$SCRATCH/pin.log" &&
	ok "hostile: fingerprint mismatch: 65, the URL and both fingerprints named" || { not_ok "hostile: fingerprint mismatch (exit $st)"; diag "$(cat "$SCRATCH/pin.log")"; }
[ ! -e "$R/etc/certs" ] && [ ! -e "$R/var/cache/meshboot/trust" ] && [ ! -e "$R/etc/passwd-" ] && ! grep -q istio-proxy "$R/etc/passwd" &&
	ok "hostile: fingerprint mismatch: nothing installed (no certificate, no cache entry, no user)" || not_ok "hostile: fingerprint mismatch left things"

# ---- hostile roots ------------------------------------------------------------------
# hostile NAME STATUS MESSAGE ROOT_YAML: refused with STATUS, says MESSAGE, nothing installed
hostile() {
	root_make "h-$1"
	config "$SCRATCH/h-$1.yaml" sidecar ratings "root: {pem: $4}"
	mb -c "$SCRATCH/h-$1.yaml" run > "$SCRATCH/h-$1.log" 2>&1; st=$?
	[ $st = "$2" ] && grep -q "$3" "$SCRATCH/h-$1.log" && ok "hostile: $1: exit $2, \"$3\"" ||
		{ not_ok "hostile: $1 (exit $st)"; diag "$(cat "$SCRATCH/h-$1.log")"; }
	[ ! -e "$R/etc/certs" ] && ok "hostile: $1: nothing installed in /etc/certs" || not_ok "hostile: $1: /etc/certs exists"
}
hostile garbage 65 'root certificate' '"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"'
hostile expired 65 'the root certificate expired at 2021-01-01T00:00:00Z' "$(pem_yaml "$PKI/expired.pem")"
hostile not-a-ca 65 'the root certificate is not a CA' "$(pem_yaml "$PKI/notca.pem")"
hostile not-yet-valid 75 'certs.root.allow_not_yet_valid: true proceeds anyway' "$(pem_yaml "$PKI/future.pem")"
grep -q "before the root's notBefore (2099-01-01T00:00:00Z)" "$SCRATCH/h-not-yet-valid.log" && ok "hostile: not yet valid: names the clock and the notBefore" ||
	not_ok "hostile: not yet valid: the message"
# with the option named, a root from the future is accepted (CA material from the same root)
root_make future-ok
pki_dated_root futureca 20990101000000Z 21000101000000Z >/dev/null
config "$SCRATCH/fok.yaml" sidecar ratings "root: {pem: $(pem_yaml "$PKI/futureca.pem"), allow_not_yet_valid: true}" \
	"ca: {mode: local, cert: $(pem_yaml "$PKI/futureca.pem"), key: $(pem_yaml "$PKI/futureca.key")}"
mb -c "$SCRATCH/fok.yaml" run > "$SCRATCH/fok.log" 2>&1 && grep -q 'allow_not_yet_valid' "$SCRATCH/fok.log" && [ -s "$C/cert-chain.pem" ] &&
	ok "allow_not_yet_valid: true proceeds, with a warning" || { not_ok "allow_not_yet_valid proceeds"; diag "$(cat "$SCRATCH/fok.log")"; }
l=$(sed -n 2p "$PKI/futureca.key")
! grep -rqF -- "$l" "$SCRATCH/fok.log" "$R/var/lib/meshboot" "$R/etc/certs" && ok "inline CA key: in no log, status or /etc/certs file" || not_ok "inline CA key leaked"
finish

#!/bin/sh
# meshboot fetch over TLS, with a CA made here (openssl): openssl s_server
# on 127.0.0.1 serves the artifact with a certificate for IP:127.0.0.1
# signed by the test CA; others with a certificate from a second CA, and
# for another address.  Verification is always on: fetch.ca_bundle adds
# the test CA; an untrusted or misnamed certificate is refused (69) with
# nothing left on disk; a plain http:// URL is refused at validation (65)
# unless a digest pins the artifact, and then an http -> https redirect
# is followed.  See httpfix.sh for the fixture and the checks of the disk.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
plan 33

tls_ca ca1
tls_ca ca2
tls_cert good ca1 "IP:127.0.0.1,IP:::1"
tls_cert other ca2 "IP:127.0.0.1,IP:::1"
tls_cert misnamed ca1 "IP:127.0.0.2"
tls_start good good
GOOD=$TLS_URL
tls_start other other
OTHER=$TLS_URL
tls_start misnamed misnamed
MISNAMED=$TLS_URL
http_start --https-base "$GOOD"
make_artifact pilot-1.0.tar.gz 1.0
CFG=$SCRATCH/fetch.yaml

new_case() { # NAME
	root_new "$1"
	config_reset
	art_as "$1.tgz"
	F=$1.tgz
}
# use_ca NAME: fetch.ca_bundle is the CA NAME.  The file is also put at the
# same path under the root, so the test holds whether meshboot reads
# ca_bundle on the host or under --root.
use_ca() {
	CF_CA=$TLS/$1.pem
	mkdir -p "$ROOT$TLS" && cp "$TLS/$1.pem" "$ROOT$TLS/$1.pem" || bail "cannot copy $1.pem"
	files_manifest "$ROOT" > "$ROOT_BEFORE"
}

# sanity: the fixture's servers present what they should
openssl verify -CAfile "$TLS/ca1.pem" "$TLS/good.pem" >/dev/null 2>&1 &&
	! openssl verify -CAfile "$TLS/ca1.pem" "$TLS/other.pem" >/dev/null 2>&1 &&
	ok "fixture: good.pem verifies with ca1, other.pem does not" || not_ok "fixture: good.pem verifies with ca1, other.pem does not"

new_case good
use_ca ca1
write_config "$CFG" "$GOOD/$F"
expect_ok "https, certificate from fetch.ca_bundle's CA" "$CFG"

new_case noca
write_config "$CFG" "$GOOD/$F"
expect_fail "https, test CA not trusted (no ca_bundle)" 69 "$CFG" "$GOOD/$F"

new_case otherca
use_ca ca1
write_config "$CFG" "$OTHER/$F"
expect_fail "https, certificate from a second CA" 69 "$CFG" "$OTHER/$F"

new_case wrongbundle
use_ca ca2
write_config "$CFG" "$GOOD/$F"
expect_fail "https, ca_bundle holds only another CA" 69 "$CFG" "$GOOD/$F"

new_case misnamed
use_ca ca1
write_config "$CFG" "$MISNAMED/$F"
expect_fail "https, certificate for another address" 69 "$CFG" "$MISNAMED/$F"

new_case mirror
use_ca ca1
write_config "$CFG" "$OTHER/$F" "$GOOD/$F"
expect_ok "https url untrusted, https mirror trusted" "$CFG"

new_case redir
use_ca ca1
write_config "$CFG" "$HTTP/redir-https/$F"
expect_ok "http -> https redirect, digest pinned" "$CFG"
s=$(log_lines " /redir-https/$F " | awk '{ print $(NF - 1) }' | tr '\n' ' ')
[ "$s" = "302 " ] && ok "http -> https redirect: one 302 from the http server" || not_ok "http -> https redirect: one 302 from the http server (got '$s')"

# The digest from Istio's .sha256 file over TLS (no pin in the configuration).
new_case sha256url
use_ca ca1
echo "$ART_SHA256  pilot-1.0.tar.gz" > "$WWW/$F.sha256"
CF_SHA256="" CF_SHA256_URL=$GOOD/$F.sha256
write_config "$CFG" "$GOOD/$F"
expect_ok "https with sha256_url, no pin" "$CFG"

# Plain http without a pin: refused before any request.
new_case httpnopin
use_ca ca1
echo "$ART_SHA256  pilot-1.0.tar.gz" > "$WWW/$F.sha256"
CF_SHA256="" CF_SHA256_URL=$GOOD/$F.sha256
write_config "$CFG" "$HTTP/ok/$F"
expect_fail "http url without a digest pin" 65 "$CFG" "plain http://"
"$MESHBOOT" -c "$CFG" validate > "$SCRATCH/.v" 2>&1
v=$?
[ $v = 65 ] && [ "$(log_count " /ok/$F ")" = 0 ] && ok "http url without a pin: validate says 65 too, no request was made" ||
	{ not_ok "http url without a pin: validate says 65 too, no request was made (validate exit $v)"; diag "$(cat "$SCRATCH/.v")" "$(log_lines " /ok/$F ")"; }

new_case httpmirror
use_ca ca1
echo "$ART_SHA256  pilot-1.0.tar.gz" > "$WWW/$F.sha256"
CF_SHA256="" CF_SHA256_URL=$GOOD/$F.sha256
write_config "$CFG" "$GOOD/$F" "$HTTP/ok/$F"
expect_fail "http mirror without a digest pin" 65 "$CFG" "plain http://"

finish

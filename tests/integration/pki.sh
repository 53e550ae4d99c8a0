# Test certificate authorities, made with the openssl CLI in $SCRATCH/pki.
# Sourced after lib.sh, not run.
#   pki_root NAME [DAYS]          self-signed EC P-256 CA: $PKI/NAME.pem, NAME.key
#   pki_inter NAME PARENT         an intermediate CA signed by PARENT
#   pki_dated_root NAME FROM TO   a CA valid FROM..TO (YYYYMMDDHHMMSSZ), e.g. expired or not yet valid
#   pki_noca NAME                 a self-signed certificate that is not a CA
#   pki_server NAME CA            a TLS server certificate for 127.0.0.1/localhost signed by CA
#   pki_fp NAME                   the SHA-256 fingerprint of NAME.pem (lower-case hex)
#   pem_yaml FILE                 the file as a YAML double-quoted scalar
PKI=$SCRATCH/pki
mkdir -p "$PKI"

_pki_ext() {
	cat > "$PKI/ext.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[noca]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
}
_pki_ext

pki_root() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.pem" \
		-days "${2:-3650}" -subj "/O=cluster.local/CN=$1" -config "$PKI/ext.cnf" -extensions ca \
		2>"$PKI/$1.err" || { cat "$PKI/$1.err" >&2; return 1; }
}

# _pki_issue NAME CA EXTENSIONS DAYS: a new EC key and a certificate for it signed by CA
_pki_issue() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.csr" \
		-subj "/O=cluster.local/CN=$1" -config "$PKI/ext.cnf" 2>"$PKI/$1.err" &&
		openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" -CAcreateserial -days "$4" \
			-extfile "$PKI/ext.cnf" -extensions "$3" -out "$PKI/$1.pem" 2>>"$PKI/$1.err" ||
		{ cat "$PKI/$1.err" >&2; return 1; }
}

pki_inter() { _pki_issue "$1" "$2" ca 1000; }

pki_dated_root() {
	d=$PKI/ca-$1
	mkdir -p "$d" && : > "$d/index.txt" && cat > "$d/ca.cnf" <<EOF
[ca]
default_ca = dated
[dated]
dir = $d
database = $d/index.txt
new_certs_dir = $d
serial = $d/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
organizationName = optional
commonName = supplied
EOF
	echo 01 > "$d/serial"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" -out "$d/req.csr" \
		-subj "/O=cluster.local/CN=$1" -config "$PKI/ext.cnf" 2>"$PKI/$1.err" &&
		openssl ca -batch -config "$d/ca.cnf" -selfsign -keyfile "$PKI/$1.key" -in "$d/req.csr" -startdate "$2" \
			-enddate "$3" -extfile "$PKI/ext.cnf" -extensions ca -notext -out "$PKI/$1.pem" 2>>"$PKI/$1.err" ||
		{ cat "$PKI/$1.err" >&2; return 1; }
}

pki_noca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.pem" \
		-days 365 -subj "/CN=$1" -config "$PKI/ext.cnf" -extensions noca 2>"$PKI/$1.err" ||
		{ cat "$PKI/$1.err" >&2; return 1; }
}

pki_server() { _pki_issue "$1" "$2" server 30; }

pki_fp() {
	openssl x509 -in "$PKI/$1.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f
}

pem_yaml() {
	printf '"'
	awk '{ printf "%s\\n", $0 }' "$1"
	printf '"'
}

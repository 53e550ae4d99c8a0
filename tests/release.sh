# A sample Istio release for the demo and the boot test.  Sourced, not run.
#
#   release_make DIR NETPROBE
#       DIR/srv/release/: stand-in pilot, mixer and citadel tarballs (each
#       program says what it is and waits), deb/istio-sidecar.deb (a
#       pilot-agent that runs NETPROBE's proxy mode as "envoy" on Istio's
#       ports 15001/15006, logging each connection's original destination to
#       $DEMO_PROXY_LOG, default /var/log/istio/proxy.log), SHA256SUMS
#       signed with a fresh minisign key (DIR/minisign.pub), and a fresh mesh
#       CA: root-cert.pem, its key in DIR/ca-key.pem.
#   release_pin SRC DST RELEASE PUBKEY BASE_URL
#       DST is the cloud-config SRC pointed at the release: every url: whose
#       file the release has becomes BASE_URL/<its path in the release> with
#       that file's digest as its sha256: (the root certificate's is the
#       digest of its DER); mirrors: entries point at a closed loopback port;
#       manifest, signature and public key are the release's.

# release_standin FILE NAME: a program that says what it is and waits
release_standin() {
	mkdir -p "$(dirname "$1")"
	printf '#!/bin/sh\necho "stand-in %s 1.0.6: $*"\nexec sleep infinity\n' "$2" > "$1"
	chmod 755 "$1"
}

release_make() {
	_rel=$1/srv/release _b=$1/build
	mkdir -p "$_rel/deb" "$_b"
	for _c in pilot:pilot-discovery mixer:mixs citadel:istio_ca; do
		release_standin "$_b/${_c%%:*}-1.0.6/usr/local/bin/${_c#*:}" "${_c#*:}"
		(cd "$_b" && tar --owner=0 --group=0 --numeric-owner --sort=name -czf \
			"$_rel/${_c%%:*}-1.0.6-linux-amd64.tar.gz" "${_c%%:*}-1.0.6") || return 1
	done
	_d=$_b/deb
	mkdir -p "$_d/DEBIAN" "$_d/usr/local/bin"
	cp "$2" "$_d/usr/local/bin/envoy"
	cat > "$_d/usr/local/bin/pilot-agent" <<'EOF'
#!/bin/sh
# stand-in pilot-agent: runs the stand-in envoy on Istio's ports
exec "$(dirname "$0")/envoy" proxy --out 15001 --in 15006 --log "${DEMO_PROXY_LOG:-/var/log/istio/proxy.log}"
EOF
	chmod 755 "$_d/usr/local/bin/pilot-agent" "$_d/usr/local/bin/envoy"
	printf 'Package: istio-sidecar\nVersion: 1.0.6\nArchitecture: amd64\nMaintainer: meshboot demo <demo@localhost>\nDescription: stand-in Istio sidecar for the meshboot demo\n' \
		> "$_d/DEBIAN/control"
	dpkg-deb --root-owner-group -Zgzip --build "$_d" "$_rel/deb/istio-sidecar.deb" >/dev/null || return 1
	# the mesh CA: its certificate is the root every host pins; its key is
	# what an image build would deliver to the Citadel host's /etc/cacerts
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/ca-key.pem" \
		-out "$_rel/root-cert.pem" -days 3650 -subj "/O=cluster.local/CN=meshboot demo mesh CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
	# a manifest names files, not paths: the sidecar's is looked up as istio-sidecar.deb
	{ (cd "$_rel/deb" && sha256sum istio-sidecar.deb)
	  (cd "$_rel" && sha256sum pilot-1.0.6-linux-amd64.tar.gz mixer-1.0.6-linux-amd64.tar.gz citadel-1.0.6-linux-amd64.tar.gz)
	} > "$_rel/SHA256SUMS"
	minisign -G -W -f -p "$1/minisign.pub" -s "$1/minisign.key" >/dev/null &&
		minisign -S -s "$1/minisign.key" -m "$_rel/SHA256SUMS" -t "meshboot demo release" >/dev/null
}

release_pin() {
	python3 - "$@" <<'EOF'
import hashlib, os, re, subprocess, sys
src, dst, rel, pub, base = sys.argv[1:6]
text = open(src).read()
files = {}
for d, _, names in os.walk(rel):
    for n in names:
        files[n] = os.path.relpath(os.path.join(d, n), rel)
def digest(name):
    path = os.path.join(rel, files[name])
    data = open(path, "rb").read()
    if name.endswith(".pem"):
        data = subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"], capture_output=True, check=True).stdout
    return hashlib.sha256(data).hexdigest()
# url: lines of files in the release are rewritten; the next sha256: at
# the same indentation gets that file's digest
out, pending = [], None
for line in text.split("\n"):
    m = re.match(r"(\s*)((?:url|manifest_url|signature_url): )(\S+)$", line)
    name = m and m.group(3).rsplit("/", 1)[-1]
    if m and name in files:
        line = m.group(1) + m.group(2) + base + "/" + files[name]
        if m.group(2) == "url: ":
            pending = (m.group(1), digest(name))
    s = re.match(r"(\s*)sha256: [0-9a-f]{64}$", line)
    if s and pending and s.group(1) == pending[0]:
        line, pending = s.group(1) + "sha256: " + pending[1], None
    out.append(line)
text = "\n".join(out)
# a mirror that is never there: a closed port on loopback
text = re.sub(r"(mirrors:\n)((?:\s+- \S+\n)+)",
              lambda m: m.group(1) + re.sub(r"- \S+", "- http://127.0.0.1:9/unreachable-mirror", m.group(2)), text)
text = re.sub(r"public_key: \S+", "public_key: " + open(pub).read().splitlines()[1], text)
open(dst, "w").write(text)
EOF
}

#!/bin/sh
# The users meshboot writes, declared in /etc/sysusers.d/meshboot.conf:
# the real systemd-sysusers (--root) agrees with what meshboot wrote (it
# changes nothing), and on a root with only that file it creates the same
# users, with the same ids, home and shell.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
command -v systemd-sysusers >/dev/null || bail "systemd-sysusers is not installed (Build-Depends in debian/control: systemd)"
plan 5
http_start
t=$SCRATCH/art
mkdir -p "$t/bin" && printf '#!/bin/sh\n' > "$t/bin/x" && chmod 755 "$t/bin/x" &&
	(cd "$t" && tar --owner=0 --group=0 -czf "$HTTP_DIR/x.tgz" .) || bail artifact
SHA=$(sha256sum < "$HTTP_DIR/x.tgz" | cut -d' ' -f1)
base() {
	mkdir -p "$1/etc" "$1/var/lib/cloud/data"
	printf 'root:x:0:0:root:/root:/bin/bash\n' > "$1/etc/passwd"
	printf 'root:x:0:\nshadow:x:42:\n' > "$1/etc/group"
	printf 'root:*:19000:0:99999:7:::\n' > "$1/etc/shadow" && chmod 640 "$1/etc/shadow"
}
R=$SCRATCH/root
base "$R"
cat > "$SCRATCH/c.yaml" <<EOC
version: 1
roles: [etcd]
artifacts: {etcd: {url: "$HTTP/ok/x.tgz", sha256: $SHA, version: "3.4", exec: bin/x}}
etcd: {name: etcd0, data_dir: /var/lib/etcd, initial_cluster: [{name: etcd0, peer_url: "http://10.0.0.5:2380"}]}
user: {uid: 1400, gid: 1401}
EOC
"$MESHBOOT" --root "$R" -c "$SCRATCH/c.yaml" bake > "$SCRATCH/bake.log" 2>&1 || bail "bake: $(cat "$SCRATCH/bake.log")"
F=$R/etc/sysusers.d/meshboot.conf
euid=$(awk -F: '$1 == "etcd" { print $3 }' "$R/etc/passwd")
egid=$(awk -F: '$1 == "etcd" { print $4 }' "$R/etc/passwd")
grep -qx 'u istio-proxy 1400:istio-proxy "Istio proxy (meshboot)" "/var/lib/istio" /usr/sbin/nologin' "$F" &&
	grep -qx 'g istio-proxy 1401' "$F" && grep -qx "u etcd $euid:etcd \"etcd (meshboot)\" \"/var/lib/etcd\" /usr/sbin/nologin" "$F" &&
	[ "$(stat -c '%a %u' "$F")" = "644 0" ] &&
	ok "meshboot.conf declares istio-proxy and etcd with the ids they got" || { not_ok "meshboot.conf"; diag "$(cat "$F")"; }
tree_manifest "$R/etc" > "$SCRATCH/before"
systemd-sysusers --root="$R" > "$SCRATCH/sysusers.log" 2>&1 && ok "systemd-sysusers --root accepts it" ||
	{ not_ok "systemd-sysusers --root accepts it"; diag "$(cat "$SCRATCH/sysusers.log")"; }
# the shadow backup files systemd-sysusers makes are its own; the accounts must not change
tree_manifest "$R/etc" | grep -E ' \./(passwd|group|shadow|gshadow)$|^\./(passwd|group|shadow) ' > "$SCRATCH/after"
grep -E ' \./(passwd|group|shadow|gshadow)$|^\./(passwd|group|shadow) ' "$SCRATCH/before" | cmp -s - "$SCRATCH/after" &&
	ok "systemd-sysusers changes nothing: the users meshboot wrote are what it declares" ||
	{ not_ok "systemd-sysusers changed the accounts"; diag "$(grep -E 'passwd|group|shadow' "$SCRATCH/before" | diff - "$SCRATCH/after")"; }
# a root with nothing but the declaration: systemd-sysusers makes the same accounts
N=$SCRATCH/fresh
base "$N"
mkdir -p "$N/etc/sysusers.d" && cp "$F" "$N/etc/sysusers.d/"
systemd-sysusers --root="$N" > "$SCRATCH/fresh.log" 2>&1 || diag "$(cat "$SCRATCH/fresh.log")"
fields() { awk -F: -v u="$2" '$1 == u { print $1":"$3":"$4":"$6":"$7 }' "$1/etc/passwd"; }
[ -n "$(fields "$R" istio-proxy)" ] && [ "$(fields "$N" istio-proxy)" = "$(fields "$R" istio-proxy)" ] &&
	[ "$(fields "$N" etcd)" = "$(fields "$R" etcd)" ] &&
	ok "from the declaration alone, systemd-sysusers creates the same users (ids, home, shell)" ||
	{ not_ok "same users from the declaration"; diag "meshboot: $(fields "$R" istio-proxy) $(fields "$R" etcd)" "sysusers: $(fields "$N" istio-proxy) $(fields "$N" etcd)"; }
[ "$(awk -F: '$1 == "istio-proxy" { print $3 }' "$N/etc/group")" = 1401 ] &&
	ok "... and the istio-proxy group with its configured gid" || not_ok "group gid from the declaration"
finish

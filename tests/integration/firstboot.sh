#!/bin/sh
# The PXE / bare-metal path: meshboot-firstboot.service as installed
# (systemd-analyze verify in a scratch root: ordering, no warnings), and
# what it runs, `meshboot boot`, with the configuration named on a kernel
# command line (a fake one, --cmdline) and served by a loopback server:
# pinned http is fetched, verified and provisions; a wrong pin and an
# unpinned http URL are refused with nothing done; a second boot is a
# no-op; a failure is recorded in status.json and exits non-zero (the unit
# fails, no restart loop).  And the bash completion, in plain bash.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
command -v systemd-analyze >/dev/null || bail "systemd-analyze is not installed (Build-Depends in debian/control: systemd)"
UNIT=$BUILDDIR/data/meshboot-firstboot.service
[ -f "$UNIT" ] || bail "$UNIT is not built (make builds it)"
plan 17

# ---- the unit ----------------------------------------------------------------------
SYSTEM_UNITS=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	[ -f "$d/multi-user.target" ] && { SYSTEM_UNITS=$d; break; }
done
[ -n "$SYSTEM_UNITS" ] || bail "no systemd unit directory with multi-user.target here"
U=$SCRATCH/unitroot
mkdir -p "$U/usr/lib/systemd" "$U/usr/sbin" "$U/etc/systemd/system" && cp -R "$SYSTEM_UNITS" "$U/usr/lib/systemd/system"
cp "$UNIT" "$U/etc/systemd/system/"
exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNIT")
mkdir -p "$U$(dirname "$exe")" && printf '#!/bin/sh\n' > "$U$exe" && chmod 755 "$U$exe"
mkdir -p "$SCRATCH/man/man8" "$SCRATCH/man/man5" && cp "$SRCDIR/docs/meshboot.8" "$SCRATCH/man/man8/" &&
	cp "$SRCDIR/docs/meshboot.yaml.5" "$SCRATCH/man/man5/"
VERIFY_MAN=
command -v man >/dev/null 2>&1 || VERIFY_MAN=--man=no
out=$(MANPATH=$SCRATCH/man systemd-analyze verify $VERIFY_MAN --root="$U" meshboot-firstboot.service 2>&1); st=$?
[ $st = 0 ] && [ -z "$out" ] && ok "unit: systemd-analyze verify: no word" || { not_ok "unit: systemd-analyze verify (exit $st)"; diag "$out"; }
case $exe in /*/sbin/meshboot) grep -qx "ExecStart=$exe boot" "$UNIT" && ! grep -q '@' "$UNIT" &&
	ok "unit: runs \`meshboot boot\` from sbindir ($exe)" || not_ok "unit: ExecStart ($exe)";;
*) not_ok "unit: ExecStart is not sbindir/meshboot ($exe)";; esac
grep -qx 'Type=oneshot' "$UNIT" && grep -qx 'Restart=no' "$UNIT" && grep -qx 'RemainAfterExit=yes' "$UNIT" &&
	ok "unit: oneshot, RemainAfterExit, Restart=no (a failure stays visible, no loop)" || not_ok "unit: oneshot/no restart"
grep -q '^After=.*network-online.target' "$UNIT" && grep -q '^Wants=network-online.target' "$UNIT" &&
	grep -q '^Before=.*istio-sidecar.service' "$UNIT" && grep -q '^Before=.*meshboot-redirect.service' "$UNIT" &&
	grep -q '^After=.*time-sync.target' "$UNIT" &&
	ok "unit: after network-online and time-sync, before the units it writes" || not_ok "unit: ordering"
grep -qx 'WantedBy=multi-user.target' "$UNIT" && ok "unit: WantedBy=multi-user.target (systemctl enable meshboot-firstboot)" ||
	not_ok "unit: install section"

# ---- the command-line path -------------------------------------------------------
http_start
t=$SCRATCH/art
mkdir -p "$t/bin" && printf '#!/bin/sh\necho agent\n' > "$t/bin/pilot-agent" && chmod 755 "$t/bin/pilot-agent" &&
	(cd "$t" && tar --owner=0 --group=0 --sort=name -czf "$HTTP_DIR/sidecar.tgz" .) || bail artifact
SHA=$(sha256sum < "$HTTP_DIR/sidecar.tgz" | cut -d' ' -f1)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$SCRATCH/ca.key" -out "$SCRATCH/ca.pem" \
	-days 30 -subj "/CN=mesh" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || bail "CA"
root_pem=$(awk '{ printf "%s\\n", $0 }' "$SCRATCH/ca.pem")
{
	echo "#cloud-config"
	echo "meshboot:"
	echo "  version: 1"
	echo "  roles: [sidecar]"
	echo "  mesh: {instance_ip: 10.0.0.5, discovery_address: \"istiod:15012\"}"
	echo "  artifacts: {sidecar: {url: \"$HTTP/ok/sidecar.tgz\", sha256: $SHA, version: \"1.0\", exec: bin/pilot-agent}}"
	printf '  certs: {root: {pem: "%s"}}\n' "$root_pem"
	echo "  redirect: {enabled: false}"
	echo "  fetch: {retries: 1, backoff_base_ms: 20, deadline_sec: 20}"
} > "$HTTP_DIR/mesh.yaml"
PIN=$(sha256sum < "$HTTP_DIR/mesh.yaml" | cut -d' ' -f1)
root_make() { # identified by /etc/machine-id (no cloud-init here)
	R=$SCRATCH/root-$1
	root_base "$R" unused
	rm -r "$R/var/lib/cloud"
	echo "$1-machine-id-0123456789abcdef0123" | cut -c1-32 > "$R/etc/machine-id"
}
boot() { "$MESHBOOT" -v --root "$R" --cmdline "$SCRATCH/cmdline.$1" boot > "$SCRATCH/$1.log" 2>&1; }

root_make pxe
echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro meshboot.config=$HTTP/ok/mesh.yaml meshboot.config_sha256=$PIN quiet" > "$SCRATCH/cmdline.pxe"
boot pxe && ok "cmdline: a pinned http:// configuration: boot provisions" || { not_ok "cmdline: pinned http boot"; diag "$(cat "$SCRATCH/pxe.log")"; }
grep -q "configuration from .*$HTTP/ok/mesh.yaml" "$SCRATCH/pxe.log" &&
	[ -x "$R/opt/meshboot/sidecar/current/bin/pilot-agent" ] && [ -s "$R/etc/certs/csr.pem" ] &&
	ok "cmdline: the configuration came from the command line's URL; sidecar installed, key and CSR made" || { not_ok "cmdline: what boot did"; diag "$(cat "$SCRATCH/pxe.log")"; }
grep -q "GET /ok/mesh.yaml" "$HTTP_LOG" && ok "cmdline: fetched from the loopback server" || not_ok "cmdline: the server saw no request"
"$MESHBOOT" --root "$R" status > /dev/null && ok "cmdline: status done (0)" || not_ok "cmdline: status"
boot pxe && grep -q 'provisioned already; nothing to do' "$SCRATCH/pxe.log" && ok "cmdline: the next boot of this instance does nothing" ||
	{ not_ok "cmdline: second boot"; diag "$(cat "$SCRATCH/pxe.log")"; }

root_make badpin
echo "meshboot.config=$HTTP/ok/mesh.yaml meshboot.config_sha256=$(echo "$PIN" | tr 0-9a-f 1-9a-f0)" > "$SCRATCH/cmdline.badpin"
boot badpin; st=$?
[ $st = 65 ] && grep -q "$PIN" "$SCRATCH/badpin.log" && ok "cmdline: a configuration that does not match its pin: 65, both digests named" ||
	{ not_ok "cmdline: wrong pin (exit $st)"; diag "$(cat "$SCRATCH/badpin.log")"; }
[ ! -e "$R/opt" ] && ! grep -q istio-proxy "$R/etc/passwd" && ok "cmdline: wrong pin: nothing done" || not_ok "cmdline: wrong pin: things done"

root_make nopin
echo "meshboot.config=$HTTP/ok/mesh.yaml" > "$SCRATCH/cmdline.nopin"
boot nopin; st=$?
[ $st = 69 ] && grep -q 'needs a SHA-256 pin' "$SCRATCH/nopin.log" && [ ! -e "$R/opt" ] &&
	ok "cmdline: an unpinned http:// URL is refused (69), nothing done" || { not_ok "cmdline: unpinned http (exit $st)"; diag "$(cat "$SCRATCH/nopin.log")"; }

# a failure is recorded and visible: the artifact is gone from the mirror
root_make fail
cp "$SCRATCH/cmdline.pxe" "$SCRATCH/cmdline.fail"
mv "$HTTP_DIR/sidecar.tgz" "$HTTP_DIR/sidecar.gone"
boot fail; st=$?
"$MESHBOOT" --root "$R" status > "$SCRATCH/fail.status"; sst=$?
[ $st -ne 0 ] && [ $sst = 1 ] && grep -q 'fetch .*failed' "$SCRATCH/fail.status" &&
	ok "failure: boot exits $st (the unit fails), status says failed (1) and why" || { not_ok "failure visible (exit $st, status $sst)"; diag "$(cat "$SCRATCH/fail.status")"; }
mv "$HTTP_DIR/sidecar.gone" "$HTTP_DIR/sidecar.tgz"

# ---- bash completion -------------------------------------------------------------------
comp() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _meshboot; echo "${COMPREPLY[*]}"' \
		comp "$SRCDIR/data/bash-completion/meshboot" "$@"
}
[ "$(comp meshboot '')" = "validate plan fetch bake boot run clean status redirect" ] && [ "$(comp meshboot b)" = "bake boot" ] &&
	ok "completion: the commands" || not_ok "completion: the commands: $(comp meshboot '')"
[ "$(comp meshboot --format '')" = "text json" ] && [ "$(comp meshboot --root / run --fo)" = "--format --force" ] &&
	ok "completion: options and --format's values, also after the command" || not_ok "completion: options"
case " $(comp meshboot redirect -) " in *" -p "*" --no-ipv6 "*) ok "completion: redirect's istio-iptables.sh flags";; *) not_ok "completion: redirect flags";; esac
finish

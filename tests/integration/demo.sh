#!/bin/sh
# README's first command runs tests/demo.sh (make demo): it must work, show
# the connection going through the stand-in sidecar, and leave nothing
# behind (no namespace, no scratch directory, no rule in this host's tables).
. "$SRCDIR/tests/integration/lib.sh"
plan 5
before_ns=$(ip netns list 2>/dev/null | grep -c mbdemo)
before_dirs=$(ls -d /tmp/meshboot-demo.* 2>/dev/null | wc -l)
sh "$SRCDIR/tests/demo.sh" "$MESHBOOT" "$BUILDDIR/tests/netprobe" > "$SCRATCH/demo.log" 2>&1
st=$?
[ $st = 0 ] && ok "make demo: exit 0" || { not_ok "make demo: exit $st"; diag "$(tail -30 "$SCRATCH/demo.log")"; }
grep -q 'sidecar log> out 10.0.0.5:[0-9]* -> 10.0.0.7:8080' "$SCRATCH/demo.log" && grep -q 'app> echo hello from the app from 10.0.0.7:8080' "$SCRATCH/demo.log" &&
	ok "make demo: the app's connection went through the stand-in sidecar" || not_ok "make demo: the connection through the sidecar"
grep -q 'URI:spiffe://cluster.local/ns/default/sa/productpage' "$SCRATCH/demo.log" && grep -q 'cert-chain.pem: OK' "$SCRATCH/demo.log" &&
	grep -q -- '-A ISTIO_OUTPUT -j ISTIO_REDIRECT' "$SCRATCH/demo.log" &&
	ok "make demo: shows the certificate (SPIFFE SAN, verified) and the redirect rules" || not_ok "make demo: certificate and rules shown"
grep -q 'sha256 mismatch: expected [0-9a-f]\{64\}, got [0-9a-f]\{64\}' "$SCRATCH/demo.log" && grep -q 'exit status: 65' "$SCRATCH/demo.log" &&
	grep -q 'on disk besides the base files, the run lock and the failure record (status.json): nothing' "$SCRATCH/demo.log" &&
	ok "make demo: a tampered artifact is refused (65, both digests) and leaves nothing on disk" || not_ok "make demo: the tampered artifact"
[ "$(ip netns list 2>/dev/null | grep -c mbdemo)" = "$before_ns" ] && [ "$(ls -d /tmp/meshboot-demo.* 2>/dev/null | wc -l)" = "$before_dirs" ] &&
	ok "make demo: no namespace and no scratch directory left" || not_ok "make demo: left things behind"
finish

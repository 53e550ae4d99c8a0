#!/bin/sh
# meshboot fetch with a signed release manifest: a SHA256SUMS made here,
# signed with the real minisign (a key pair made in the test), served by
# the fault-injecting server; the artifact carries no pin of its own and
# takes its digest from the manifest.  A manifest changed after signing, a
# signature by another key, a truncated or missing signature, and an
# artifact the manifest does not list are refused with nothing on disk.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
command -v minisign >/dev/null || { echo "Bail out! minisign is not installed (Build-Depends in debian/control)"; exit 1; }
plan 24

http_start
make_artifact pilot-1.0.tar.gz 1.0
K=$SCRATCH/keys
mkdir -p "$K"
minisign -G -W -p "$K/good.pub" -s "$K/good.key" >/dev/null 2>&1 &&
	minisign -G -W -p "$K/other.pub" -s "$K/other.key" >/dev/null 2>&1 || bail "minisign -G failed"
PUB=$(tail -n 1 "$K/good.pub")

# sign NAME KEY [LEGACY]: $HTTP_DIR/NAME/SHA256SUMS(.minisig) listing the artifact
sign() {
	d=$HTTP_DIR/$1
	mkdir -p "$d"
	printf '%s  pilot-1.0.tar.gz\n%s  other.tar.gz\n' "$ART_SHA256" "$(echo "$ART_SHA256" | rev)" > "$d/SHA256SUMS"
	ln -f "$ART" "$d/pilot-1.0.tar.gz"
	minisign -S ${3:+-l} -s "$K/$2.key" -m "$d/SHA256SUMS" -x "$d/SHA256SUMS.minisig" -t "meshboot test release $1" \
		</dev/null >/dev/null 2>&1 || bail "minisign -S failed"
}
# config NAME [ARTIFACT]: the artifact (default pilot-1.0.tar.gz) from NAME, no pin, the release manifest
config() {
	config_reset
	CF_SHA256=
	write_config "$CFG" "$HTTP/ok/$1/${2:-pilot-1.0.tar.gz}"
	printf 'release:\n  manifest_url: "%s"\n  public_key: %s\n' "$HTTP/ok/$1/SHA256SUMS" "$PUB" >> "$CFG"
}
CFG=$SCRATCH/fetch.yaml

sign good good
root_new good
config good
expect_ok "signed manifest (prehashed)" "$CFG"
GOOD_ROOT=$ROOT GOOD_CFG=$SCRATCH/good.yaml
cp "$CFG" "$GOOD_CFG"
grep -q "signed manifest digest verified" "$FETCH_LOG" && grep -q "trusted comment: meshboot test release good" "$FETCH_LOG" &&
	ok "the log says the digest came from the signed manifest, with its trusted comment" ||
	{ not_ok "the log says the digest came from the signed manifest, with its trusted comment"; diag "$(cat "$FETCH_LOG")"; }

sign legacy good legacy
root_new legacy
config legacy
expect_ok "signed manifest (legacy Ed25519)" "$CFG"

sign tampered good
sed -i 's/other.tar.gz/other2.tar.gz/' "$HTTP_DIR/tampered/SHA256SUMS"
root_new tampered
config tampered
expect_fail "manifest changed after signing" 65 "$CFG" "signature" "refused" "$HTTP/ok/tampered/SHA256SUMS"

sign wrongkey other
root_new wrongkey
config wrongkey
expect_fail "signed by another key" 65 "$CFG" "key"

sign truncated good
head -c 100 "$HTTP_DIR/truncated/SHA256SUMS.minisig" > "$SCRATCH/t" && mv "$SCRATCH/t" "$HTTP_DIR/truncated/SHA256SUMS.minisig"
root_new truncated
config truncated
expect_fail "truncated signature" 65 "$CFG" "truncated"

sign nosig good
rm "$HTTP_DIR/nosig/SHA256SUMS.minisig"
root_new nosig
config nosig
expect_fail "signature missing (404)" 69 "$CFG" "$HTTP/ok/nosig/SHA256SUMS.minisig" "404"

sign unlisted good
ln -f "$ART" "$HTTP_DIR/unlisted/pilot-2.0.tar.gz"
root_new unlisted
config unlisted pilot-2.0.tar.gz
expect_fail "artifact not in the manifest" 65 "$CFG" "pilot-2.0.tar.gz is not in the signed release manifest"

# Offline, as a baked image boots: the manifest and the artifact come from
# the cache (the manifest's signature checked again), no request is made.
http_stop
ROOT=$GOOD_ROOT
rm -rf "$ROOT$PREFIX/pilot"
run_fetch offline "$GOOD_CFG"
[ "$RC" = 0 ] && grep -q "release manifest (cached)" "$FETCH_LOG" && [ -x "$ROOT$PREFIX/pilot/current/bin/pilot-discovery" ] &&
	ok "offline: the cached signed manifest and the cached artifact reinstall with no server" ||
	{ not_ok "offline: the cached signed manifest and the cached artifact reinstall with no server (exit $RC)"; diag "$(cat "$FETCH_LOG")"; }
# A cached manifest that no longer verifies is not used.
printf 'tampered\n' >> "$(ls -d "$ROOT/$CACHE_REL"/release/*)/SHA256SUMS"
rm -rf "$ROOT$PREFIX/pilot"
run_fetch offline2 "$GOOD_CFG"
[ "$RC" = 75 ] && grep -q "cached release manifest does not verify" "$FETCH_LOG" &&
	ok "offline: a tampered cached manifest is refused (and the server is down: 75)" ||
	{ not_ok "offline: a tampered cached manifest is refused (and the server is down: 75) (exit $RC)"; diag "$(cat "$FETCH_LOG")"; }
finish

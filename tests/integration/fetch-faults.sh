#!/bin/sh
# meshboot fetch against a server that misbehaves in every way a mirror can
# (tests/faultserver.c, through httpfix.sh), on 127.0.0.1 and ::1 only.  Each case
# runs `meshboot --root ROOT -c CONFIG fetch` on a fresh ROOT that holds
# pilot 0.9 installed and cached (an upgrade to 1.0), and checks the exit
# status, the message, and the disk afterwards: on success the cache entry,
# the unpacked tree and `current`; on failure the root file for file as it
# was (cache, install prefix, current) and no partial download anywhere.
# The server's log (one line per request, with a millisecond timestamp)
# shows retries, their spacing, and the offsets of resumed transfers.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/httpfix.sh"
plan 124

http_start
make_artifact pilot-1.0.tar.gz 1.0
HALF=$((ART_SIZE / 2))
WRONG_SHA=$(variant_sha256 255)
CFG=$SCRATCH/fetch.yaml

# new_case NAME: a fresh root, the default settings (retries 3, backoff
# 50..500 ms, low speed 1000 B/s for 2 s, deadline 30 s), and the artifact
# under the file name NAME.tgz (the server counts requests per path).
new_case() {
	root_new "$1"
	config_reset
	art_as "$1.tgz"
	F=$1.tgz
}
# log_check NAME CMD...: one TAP line from CMD's status; what CMD prints
# becomes a diagnostic (with the end of the server's log on a failure).
log_check() {
	name=$1; shift
	if "$@" > "$SCRATCH/.why" 2>&1; then
		ok "$name"
		[ ! -s "$SCRATCH/.why" ] || diag "$(cat "$SCRATCH/.why")"
	else
		not_ok "$name"
		diag "$(cat "$SCRATCH/.why")" "server log:" "$(tail -n 20 "$HTTP_LOG")"
	fi
}
# statuses ERE: the status of each matching request, in order, one line.
statuses() { log_lines "$1" | awk '{ printf "%s%s", sep, $(NF - 1); sep = " " }'; }
want_statuses() { # ERE WANT
	got=$(statuses "$1")
	[ "$got" = "$2" ] || { echo "requests for $1 answered: '$got', want '$2'"; return 1; }
}

# ---- success, and the plain failures ------------------------------------------
new_case ok
write_config "$CFG" "$HTTP/ok/$F"
expect_ok "ok" "$CFG"
log_check "ok: one request, answered 200" want_statuses " /ok/$F " "200"
OK_ROOT=$ROOT OK_BEFORE=$ROOT_BEFORE

new_case sha512
CF_SHA256="" CF_SHA512=$ART_SHA512
write_config "$CFG" "$HTTP/ok/$F"
expect_ok "sha512 pin" "$CFG"

new_case wrong
write_config "$CFG" "$HTTP/wrong/$F"
expect_fail "wrong bytes" 65 "$CFG" "$HTTP/wrong/$F" "$ART_SHA256" "$WRONG_SHA"

new_case notfound
write_config "$CFG" "$HTTP/404/$F"
expect_fail "404" 69 "$CFG" "$HTTP/404/$F"
log_check "404: permanent, not retried (one request)" want_statuses " /404/$F " "404"

new_case small
CF_SIZE=$((ART_SIZE - 1))
write_config "$CFG" "$HTTP/ok/$F"
expect_fail "larger than its declared size" 65 "$CFG" "$HTTP/ok/$F"

# ---- transient failures: retries, backoff, Retry-After --------------------------
new_case truncate
write_config "$CFG" "$HTTP/truncate/$F"
expect_fail "truncate" 75 "$CFG" "$HTTP/truncate/$F"
log_wait " /truncate/$F " 4
# resumed or not: 4 attempts, each cut short
n_requests() { # ERE N
	n=$(log_count "$1")
	[ "$n" = "$2" ] || { echo "$n requests for $1, want $2"; return 1; }
}
log_check "truncate: retried 3 times (4 requests)" n_requests " /truncate/$F " 4

new_case reset
write_config "$CFG" "$HTTP/reset/$F"
expect_fail "reset" 75 "$CFG" "$HTTP/reset/$F"
log_wait " /reset/$F " 4
log_check "reset: retried 3 times (4 requests)" n_requests " /reset/$F " 4

new_case s503
write_config "$CFG" "$HTTP/503x3/$F"
expect_ok "503x3, retries 3" "$CFG"
# each wait at most backoff_max_ms (500), with 300 ms for a loaded machine
gaps_capped() { # ERE MAX
	want_statuses "$1" "${3:-503 503 503 200}" || return 1
	bad=$(log_gaps "$1" | awk -v max="$2" '$1 > max + 300')
	[ -z "$bad" ] || { echo "waits over ${2} ms: $bad"; return 1; }
}
log_check "503x3: 3 x 503 then 200, no wait above backoff_max_ms" gaps_capped " /503x3/$F " 500

new_case s503b
CF_RETRIES=2
write_config "$CFG" "$HTTP/503x3/$F"
expect_fail "503x3, retries 2" 75 "$CFG" "$HTTP/503x3/$F"
log_check "503x3, retries 2: 3 requests, all 503" want_statuses " /503x3/$F " "503 503 503"

# Backoff: 8 runs at once, 8 retries each (503x8), base 100 ms, cap 400 ms.
# Full jitter: each wait is uniform in [0, min(cap, base * 2^n)], so one run
# need not grow, but over all runs the late waits (cap 400) are longer than
# the first (cap 100 or 200), none passes the cap, many are well below it
# (not lockstep, not exactly doubling), and some are close to 0 (about 10
# of the 64 are below 60 ms; none would be with a floor under the wait).
i=1 pids=""
while [ $i -le 8 ]; do
	new_case "jit$i"
	CF_RETRIES=8 CF_BASE_MS=100 CF_MAX_MS=400
	write_config "$SCRATCH/jit$i.yaml" "$HTTP/503x8/$F"
	bg_fetch "jit$i" "$SCRATCH/jit$i.yaml"
	pids="$pids $BG_PID"
	i=$((i + 1))
done
i=1
for p in $pids; do wait "$p"; echo $? > "$SCRATCH/jit$i.rc"; i=$((i + 1)); done
jit_all_ok() {
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(cat "$SCRATCH/jit$i.rc")" = 0 ] || { echo "run $i: exit $(cat "$SCRATCH/jit$i.rc")"; cat "$SCRATCH/fetch-jit$i.log"; return 1; }
		want_statuses " /503x8/jit$i.tgz " "503 503 503 503 503 503 503 503 200" || return 1
	done
}
log_check "backoff: 8 runs of 503x8 with retries 8 succeed after 9 requests each" jit_all_ok
: > "$SCRATCH/gaps"
for i in 1 2 3 4 5 6 7 8; do log_gaps " /503x8/jit$i.tgz " | awk '{ print NR, $1 }' >> "$SCRATCH/gaps"; done
jit_cap() {
	bad=$(awk '$2 > 700' "$SCRATCH/gaps")
	[ -z "$bad" ] || { echo "waits (retry, ms) over backoff_max_ms 400 + 300:"; echo "$bad"; return 1; }
}
log_check "backoff: no wait above backoff_max_ms" jit_cap
jit_grows() {
	awk '$1 == 1 { a += $2; na++ } $1 >= 4 { b += $2; nb++ }
		END { printf "mean first wait %d ms, mean of waits 4..8 %d ms\n", a / na, b / nb; exit !(na == 8 && nb == 40 && b / nb > a / na) }' "$SCRATCH/gaps"
}
log_check "backoff: the waits grow (mean of waits 4..8 above the mean first wait)" jit_grows
jit_full() {
	awk '$1 >= 4 { n++; if ($2 < 240) low++ }
		END { printf "%d of %d waits 4..8 below 240 ms (60%% of the cap)\n", low, n; exit !(n > 0 && low * 4 >= n) }' "$SCRATCH/gaps"
}
log_check "backoff: full jitter (a quarter of the capped waits below 60% of the cap)" jit_full
jit_low() {
	awk '{ n++; if ($2 < 60) low++ } $2 < min || NR == 1 { min = $2 }
		END { printf "%d of %d waits below 60 ms, the shortest %d ms\n", low, n, min; exit !(low > 0) }' "$SCRATCH/gaps"
}
log_check "backoff: full jitter reaches down to 0 (some of the 64 waits below 60 ms, no floor)" jit_low

new_case r429
write_config "$CFG" "$HTTP/429/$F"
expect_ok "429" "$CFG"
retry_after() {
	want_statuses " /429/$F " "429 200" || return 1
	g=$(log_gaps " /429/$F ")
	[ "$g" -ge 2000 ] || { echo "retried after $g ms, Retry-After: 2"; return 1; }
}
log_check "429: Retry-After: 2 honoured (the retry came 2 s later or more)" retry_after

new_case deadline
CF_DEADLINE=3 CF_RETRIES=10
write_config "$CFG" "$HTTP/slow/$F"
expect_fail "deadline_sec 3, slow server" 75 "$CFG" "$HTTP/slow/$F"
[ "$MS" -le 5500 ] && ok "deadline_sec 3: gave up within 5.5 s ($MS ms)" || not_ok "deadline_sec 3: gave up within 5.5 s ($MS ms)"

new_case lowspeed
CF_RETRIES=1
write_config "$CFG" "$HTTP/slow/$F"
expect_fail "low speed" 75 "$CFG" "$HTTP/slow/$F"
log_wait " /slow/$F " 2
low_speed() {
	n_requests " /slow/$F " 2 || return 1
	g=$(log_gaps " /slow/$F ")
	[ "$g" -ge 1900 ] && [ "$MS" -lt 10000 ] ||
		{ echo "second attempt $g ms after the first (want >= 2 s of low speed), whole run $MS ms (want < 10 s)"; return 1; }
}
log_check "low speed: each attempt aborted after low_speed_time_sec, then retried" low_speed

new_case hang
CF_RETRIES=1
write_config "$CFG" "$HTTP/hang/$F"
expect_fail "no response" 75 "$CFG" "$HTTP/hang/$F"
log_wait " /hang/$F " 2
hang_check() {
	want_statuses " /hang/$F " "0 0" || return 1
	[ "$MS" -lt 15000 ] || { echo "the run took $MS ms"; return 1; }
}
log_check "no response: timed out and retried once (2 requests, under 15 s)" hang_check

# ---- resume ----------------------------------------------------------------------
new_case resume
write_config "$CFG" "$HTTP/resume/$F"
expect_ok "resume" "$CFG"
resumed() { # MODE IF-RANGE-ERE
	want_statuses " /$1/$F " "200 206" || return 1
	log_lines " /$1/$F " | sed -n 2p | grep -Eq " range=bytes=$HALF- if-range=$2 -> 206 $((ART_SIZE - HALF))\$" ||
		{ echo "second request: $(log_lines " /$1/$F " | sed -n 2p); want range=bytes=$HALF- and If-Range"; return 1; }
}
log_check "resume: the retry asked for bytes=$HALF- with If-Range (the ETag) and got 206" resumed resume '"[^"]+"'

new_case resumelm
write_config "$CFG" "$HTTP/resume-lm/$F"
expect_ok "resume without ETag" "$CFG"
log_check "resume without ETag: bytes=$HALF- with If-Range: the Last-Modified date" resumed resume-lm '[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT'

new_case norange
write_config "$CFG" "$HTTP/norange/$F"
expect_ok "server ignores Range" "$CFG"
restarted() {
	want_statuses " /norange/$F " "200 200" || return 1
	log_lines " /norange/$F " | sed -n 2p | grep -q " -> 200 $ART_SIZE\$" ||
		{ echo "the retry did not take the whole body"; return 1; }
}
log_check "server ignores Range: the 200 to the retry was taken from byte 0" restarted

# halfrange answers the resumed request with a 206 starting at HALF/2:
# meshboot must restart from zero (a request without Range) or fail
# cleanly (75), never splice the wrong bytes (which the digest would then
# catch: 65).
new_case halfrange
write_config "$CFG" "$HTTP/halfrange/$F"
run_fetch halfrange "$CFG"
HR_LOG=$FETCH_LOG
case $RC in
0|75) ok "206 with the wrong Content-Range start: exit $RC (restart or clean failure)";;
*) not_ok "206 with the wrong Content-Range start: exit 0 or 75 (exit $RC)"; diag "$(cat "$HR_LOG")";;
esac
if [ "$RC" = 0 ]; then why=$(installed_ok); else why=$(state_unchanged); fi &&
	ok "206 with the wrong Content-Range start: the disk is right for exit $RC" ||
	{ not_ok "206 with the wrong Content-Range start: the disk is right for exit $RC"; diag "$why"; }
never_spliced() {
	if [ "$RC" = 0 ]; then
		log_lines " /halfrange/$F " | tail -n 1 | grep -q " range=- if-range=- -> 200 $ART_SIZE\$" ||
			{ echo "the last request was not a full 200 without Range"; return 1; }
	else
		grep -qF "$HTTP/halfrange/$F" "$HR_LOG" || { echo "the message does not name the URL"; return 1; }
	fi
}
log_check "206 with the wrong Content-Range start: never spliced (restarted from 0, or named the URL)" never_spliced

new_case flip
write_config "$CFG" "$HTTP/flip/$F"
expect_fail "content changes on every request" 65 "$CFG" "$HTTP/flip/$F" "$ART_SHA256"
flip_digest() {
	k=1
	while [ $k -le 6 ]; do
		grep -qF "$(variant_sha256 $k)" "$FLIP_LOG" && return 0
		k=$((k + 1))
	done
	echo "no digest of what the server sent in the message"
	return 1
}
FLIP_LOG=$FETCH_LOG
log_check "content changes: the message holds the actual digest too" flip_digest

# ---- size caps -------------------------------------------------------------------
new_case endless
CF_MAX_SIZE=1048576
write_config "$CFG" "$HTTP/endless/$F"
expect_fail "endless body, max_size 1 MiB" 65 "$CFG" "$HTTP/endless/$F"
[ "$MS" -lt 20000 ] && ok "endless body: stopped at the cap ($MS ms)" || not_ok "endless body: stopped at the cap ($MS ms)"

new_case endless2
CF_SIZE=$ART_SIZE
write_config "$CFG" "$HTTP/endless/$F"
expect_fail "endless body, declared size" 65 "$CFG" "$HTTP/endless/$F"

new_case liarlong
CF_SIZE=$ART_SIZE
write_config "$CFG" "$HTTP/liar-long/$F"
expect_fail "Content-Length above the declared size" 65 "$CFG" "$HTTP/liar-long/$F"

new_case liarlong2
CF_MAX_SIZE=$ART_SIZE
write_config "$CFG" "$HTTP/liar-long/$F"
expect_fail "Content-Length above max_size" 65 "$CFG" "$HTTP/liar-long/$F"

new_case liarshort
write_config "$CFG" "$HTTP/liar-short/$F"
expect_fail "Content-Length below the body" 65 "$CFG" "$HTTP/liar-short/$F" "$ART_SHA256"

# ---- redirects -------------------------------------------------------------------
new_case redirhttp
write_config "$CFG" "$HTTP/redir-http/$F"
expect_ok "redirect to http, digest pinned" "$CFG"
followed() { want_statuses " /(redir-http|ok)/$F " "302 200"; }
log_check "redirect to http: 302, then /ok/ answered 200" followed

new_case redir5
write_config "$CFG" "$HTTP/redir5/$F"
expect_ok "5 redirects" "$CFG"

new_case redir6
write_config "$CFG" "$HTTP/redir6/$F"
expect_fail "6 redirects" 69 "$CFG" "$HTTP/redir6/$F"

new_case redirloop
write_config "$CFG" "$HTTP/redir-loop/$F"
expect_fail "redirect loop" 69 "$CFG" "$HTTP/redir-loop/$F"
loop_bounded() {
	n=$(log_count " /redir-loop/$F ")
	[ "$n" -le 6 ] || { echo "$n requests for the loop (at most 5 redirects, and a refused one is not retried)"; return 1; }
}
log_check "redirect loop: at most 6 requests" loop_bounded

new_case redirfile
write_config "$CFG" "$HTTP/redir-file/$F"
expect_fail "redirect to file://" 69 "$CFG" "$HTTP/redir-file/$F"

# ---- mirrors ---------------------------------------------------------------------
new_case mirror404
write_config "$CFG" "$HTTP/404/$F" "$HTTP/ok/$F"
expect_ok "url 404, mirror ok" "$CFG"
log_check "url 404, mirror ok: the url once (404), then the mirror (200)" want_statuses " /(404|ok)/$F " "404 200"

new_case mirrorwrong
write_config "$CFG" "$HTTP/wrong/$F" "$HTTP/ok/$F"
expect_ok "url with wrong bytes, mirror ok" "$CFG"
MW_LOG=$FETCH_LOG
named_mismatch() {
	grep -F "$HTTP/wrong/$F" "$MW_LOG" | grep -qF "$WRONG_SHA" ||
		{ echo "no line naming $HTTP/wrong/$F with its digest $WRONG_SHA"; cat "$MW_LOG"; return 1; }
}
log_check "url with wrong bytes, mirror ok: the mismatch is named with the url and its digest" named_mismatch

# The same server on [::1] (skipped where the host has no IPv6 loopback).
new_case ipv6
write_config "$CFG" "http://[::1]:$HTTP_PORT/ok/$F"
if grep -q 'no IPv6 loopback' "$SCRATCH/http.err"; then
	skip "IPv6 URL: no ::1 here"; skip "IPv6 URL: no ::1 here"; skip "IPv6 URL: no ::1 here"
else
	expect_ok "IPv6 URL http://[::1]:PORT/" "$CFG"
fi

# ---- the cache -------------------------------------------------------------------
# The root of "ok" again, with the server gone: a cache hit needs no network.
n_before=$(wc -l < "$HTTP_LOG")
http_stop
ROOT=$OK_ROOT
config_reset
write_config "$CFG" "$HTTP/ok/ok.tgz"
files_manifest "$ROOT" > "$SCRATCH/ok.installed"
run_fetch cachehit "$CFG"
[ "$RC" = 0 ] && ok "cache hit: exit 0 with the server stopped" || { not_ok "cache hit: exit 0 with the server stopped (exit $RC)"; diag "$(cat "$FETCH_LOG")"; }
files_manifest "$ROOT" > "$SCRATCH/.after"
cmp -s "$SCRATCH/ok.installed" "$SCRATCH/.after" && ok "cache hit: nothing on disk changed" ||
	{ not_ok "cache hit: nothing on disk changed"; diag "$(diff "$SCRATCH/ok.installed" "$SCRATCH/.after")"; }
[ "$(wc -l < "$HTTP_LOG")" = "$n_before" ] && ok "cache hit: no request" || { not_ok "cache hit: no request"; diag "$(tail -n +$((n_before + 1)) "$HTTP_LOG")"; }
rm -rf "$ROOT$PREFIX/pilot/1.0-$ART_SHORT" "$ROOT$PREFIX/pilot/current"
ln -s "$OLD_DIR" "$ROOT$PREFIX/pilot/current"
ROOT_BEFORE=$OK_BEFORE
run_fetch cachehit2 "$CFG"
why=$(installed_ok) && [ "$RC" = 0 ] && ok "cache hit: an install removed by hand comes back from the cache, offline" ||
	{ not_ok "cache hit: an install removed by hand comes back from the cache, offline (exit $RC)"; diag "$why" "$(cat "$FETCH_LOG")"; }

# Nothing listens on the port any more: connection refused, retried, 75.
new_case refused
CF_RETRIES=2
write_config "$CFG" "$HTTP/ok/$F"
expect_fail "connection refused" 75 "$CFG" "$HTTP/ok/$F"

finish

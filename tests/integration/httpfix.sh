# The fixture of the fetch tests: a fault-injecting HTTP server
# (tests/faultserver.c), TLS servers with a test CA (openssl s_server),
# artifacts, configurations, and checks of what a run left on disk.
# Sourced after lib.sh, not run.
#
#   http_start [ARGS...]   faultserver on 127.0.0.1/[::1], a free port:
#                          $HTTP_PORT, $HTTP (http://127.0.0.1:PORT), log
#                          $HTTP_LOG, files from $HTTP_DIR; ARGS go to it
#                          (--https-base URL, --slow-ms MS)
#   http_stop
#   tls_ca NAME            a CA: $TLS/NAME.pem, $TLS/NAME.key
#   tls_cert NAME CA SAN   a server certificate signed by CA for SAN
#                          ("IP:127.0.0.1,IP:::1"): $TLS/NAME.pem, .key
#   tls_start NAME CERT    openssl s_server -WWW on 127.0.0.1, a free port,
#                          serving $WWW with certificate CERT; its URL is
#                          in $TLS_URL (also `tls_url NAME`)
#   make_artifact NAME VERSION   a small tar.gz of generated files in
#                          $HTTP_DIR and $WWW: $ART (path), $ART_SHA256,
#                          $ART_SHA512, $ART_SIZE, $ART_TREE (what it holds)
#   art_as NAME            the current artifact also as NAME (a hard link)
#   variant_sha256 K       sha256 of the artifact with its middle byte xor K
#                          (what faultserver's wrong (K=255) and flip send)
#   config_reset           the CF_* settings back to their defaults
#   write_config FILE URL [MIRROR...]   a configuration for one artifact
#   root_new NAME          a fresh --root: $ROOT, holding pilot 0.9 installed
#                          (current -> 0.9-...) and in the cache, as before
#                          an upgrade; $ROOT_BEFORE is its manifest
#   run_fetch TAG CONFIG   meshboot --root $ROOT -c CONFIG fetch, bounded:
#                          $RC, $MS (elapsed ms), its output in $FETCH_LOG
#   bg_fetch TAG CONFIG    the same in the background: $BG_PID
#   expect_ok NAME CONFIG, expect_fail NAME STATUS CONFIG [STRING...]
#                          a run and 3 TAP lines on its outcome and the disk
#
# Every server runs under `timeout` and is ended by its pid; on every exit
# path (also a failure, INT or TERM) the trap stops them and removes
# $SCRATCH.  Only 127.0.0.1 and ::1 are used.

FAULTSERVER=$BUILDDIR/tests/faultserver
HTTP_DIR=$SCRATCH/srv
HTTP_LOG=$SCRATCH/http.log
WWW=$SCRATCH/www
TLS=$SCRATCH/tls
PREFIX=/opt/meshboot
CACHE_REL=var/cache/meshboot
_httpfix_names=""
_httpfix_bg=""

httpfix_cleanup() {
	for p in $_httpfix_bg; do kill "$p" 2>/dev/null; done
	for n in $_httpfix_names; do srv_stop "$n"; done
	rm -rf "$SCRATCH"
}
trap 'httpfix_cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

bail() { echo "Bail out! $*"; exit 1; }
for t in openssl tar gzip sha256sum sha512sum timeout od dd find; do
	command -v "$t" >/dev/null || bail "$t is not installed (Build-Depends in debian/control)"
done
[ -x "$FAULTSERVER" ] || bail "$FAULTSERVER is not built (make check builds it)"
mkdir -p "$HTTP_DIR" "$WWW" "$TLS" || bail "cannot make the fixture's directories"

# srv_start NAME CMD...: a background process, at most 300 s, output in
# $SCRATCH/NAME.out and .err.  srv_stop NAME ends it (by its pid).
srv_start() {
	name=$1; shift
	timeout -k 2 300 "$@" >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.err" </dev/null &
	eval "pid_$name=\$!"
	case " $_httpfix_names " in *" $name "*) ;; *) _httpfix_names="$_httpfix_names $name";; esac
}
srv_stop() {
	eval "p=\${pid_$1:-}"
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	eval "pid_$1="
}

# ---- the fault server -----------------------------------------------------
http_start() {
	srv_stop http
	rm -f "$SCRATCH/http.port"
	srv_start http "$FAULTSERVER" --root "$HTTP_DIR" --log "$HTTP_LOG" --port-file "$SCRATCH/http.port" "$@"
	i=0
	until [ -s "$SCRATCH/http.port" ]; do
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 "$pid_http" 2>/dev/null || bail "faultserver did not start: $(cat "$SCRATCH/http.err")"
		sleep 0.05
	done
	HTTP_PORT=$(cat "$SCRATCH/http.port")
	HTTP=http://127.0.0.1:$HTTP_PORT
}
http_stop() { srv_stop http; }
# http_start_in_netns NS [ARGS...]: the same server inside network namespace
# NS (whose lo is brought up), for tests that run meshboot there
http_start_in_netns() {
	_ns=$1; shift
	ip -n "$_ns" link set lo up || bail "cannot bring lo up in $_ns"
	printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$_ns" "$BUILDDIR/tests/faultserver" > "$SCRATCH/faultserver-ns"
	chmod 755 "$SCRATCH/faultserver-ns"
	FAULTSERVER=$SCRATCH/faultserver-ns
	http_start "$@"
}

# log_lines ERE: the faultserver log lines matching ERE, in arrival order.
log_lines() { grep -E -- "$1" "$HTTP_LOG" 2>/dev/null | sort -s -n -k1,1; }
log_count() { log_lines "$1" | wc -l; }
# log_wait ERE N: until N lines match (a response is logged when it ends; 8 s).
log_wait() {
	i=0
	while [ "$(log_count "$1")" -lt "$2" ] && [ $i -lt 80 ]; do sleep 0.1; i=$((i + 1)); done
}
# log_gaps ERE: the milliseconds between consecutive matching requests.
log_gaps() { log_lines "$1" | awk 'NR > 1 { print $1 - prev } { prev = $1 }'; }

# ---- TLS ------------------------------------------------------------------
_tls_cnf() { # FILE SAN
	cat > "$1" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = meshboot test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[srv]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${2:-IP:127.0.0.1}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}
tls_ca() {
	_tls_cnf "$TLS/$1.cnf"
	openssl req -x509 -config "$TLS/$1.cnf" -extensions ca -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS/$1.key" -out "$TLS/$1.pem" -days 2 -subj "/CN=meshboot test CA $1" \
		>"$TLS/$1.log" 2>&1 || bail "cannot make the CA $1: $(cat "$TLS/$1.log")"
}
tls_cert() { # NAME CA SAN
	_tls_cnf "$TLS/$1.cnf" "$3"
	openssl req -new -config "$TLS/$1.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS/$1.key" -out "$TLS/$1.csr" -subj "/CN=meshboot test server $1" >"$TLS/$1.log" 2>&1 &&
		openssl x509 -req -in "$TLS/$1.csr" -CA "$TLS/$2.pem" -CAkey "$TLS/$2.key" -set_serial "$(date +%s%N)" \
			-days 2 -extfile "$TLS/$1.cnf" -extensions srv -out "$TLS/$1.pem" >>"$TLS/$1.log" 2>&1 ||
		bail "cannot make the certificate $1: $(cat "$TLS/$1.log")"
}
tls_start() { # NAME CERT
	srv_stop "$1"
	srv_start "$1" sh -c 'cd "$1" && exec openssl s_server -WWW -accept 127.0.0.1:0 -cert "$2.pem" -key "$2.key"' \
		sh "$WWW" "$TLS/$2"
	i=0
	until grep -q '^ACCEPT 127\.0\.0\.1:[0-9]' "$SCRATCH/$1.out" 2>/dev/null; do
		i=$((i + 1))
		eval "p=\$pid_$1"
		[ $i -le 100 ] && kill -0 "$p" 2>/dev/null || bail "openssl s_server $1 did not start: $(cat "$SCRATCH/$1.err")"
		sleep 0.05
	done
	TLS_URL=https://127.0.0.1:$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$SCRATCH/$1.out")
	eval "tlsurl_$1=\$TLS_URL"
}
tls_url() { eval "echo \"\$tlsurl_$1\""; }

# ---- artifacts --------------------------------------------------------------
# A release-like tree: the program (a script that names its version), a
# library blob of random bytes (so a transfer spans many segments), docs.
make_artifact() { # NAME VERSION
	ART_TREE=$SCRATCH/tree-$1
	rm -rf "$ART_TREE"
	mkdir -p "$ART_TREE/bin" "$ART_TREE/lib" "$ART_TREE/share/doc" || bail "cannot make $ART_TREE"
	printf '#!/bin/sh\necho "pilot-discovery %s"\n' "$2" > "$ART_TREE/bin/pilot-discovery"
	chmod 755 "$ART_TREE/bin/pilot-discovery"
	head -c 196608 /dev/urandom > "$ART_TREE/lib/libpilot.so.1"
	printf 'Apache License\nVersion 2.0, January 2004\n' > "$ART_TREE/share/doc/LICENSE"
	printf 'pilot %s for meshboot tests\n' "$2" > "$ART_TREE/README.md"
	ART=$HTTP_DIR/$1
	(cd "$ART_TREE" && tar --owner=0 --group=0 --numeric-owner --sort=name -czf "$ART" .) || bail "tar failed"
	ln -f "$ART" "$WWW/$1" || bail "cannot link $ART into $WWW"
	ART_SHA256=$(sha256sum < "$ART" | cut -d' ' -f1)
	ART_SHA512=$(sha512sum < "$ART" | cut -d' ' -f1)
	ART_SIZE=$(stat -c %s "$ART")
	ART_SHORT=$(echo "$ART_SHA256" | cut -c1-12)
}
art_as() {
	ln -f "$ART" "$HTTP_DIR/$1" && ln -f "$ART" "$WWW/$1" || bail "cannot link $1"
}
variant_sha256() {
	mid=$((ART_SIZE / 2))
	b=$(od -An -tu1 -j "$mid" -N1 "$ART" | tr -d ' ')
	cp "$ART" "$SCRATCH/variant" &&
		printf "$(printf '\\%03o' $((b ^ $1)))" | dd of="$SCRATCH/variant" bs=1 seek="$mid" conv=notrunc status=none &&
		sha256sum < "$SCRATCH/variant" | cut -d' ' -f1
}

# ---- configurations -------------------------------------------------------
config_reset() {
	CF_VERSION=1.0 CF_SHA256=$ART_SHA256 CF_SHA512= CF_SHA256_URL= CF_SIZE= CF_MAX_SIZE= CF_CA=
	CF_RETRIES=3 CF_DEADLINE=30 CF_CONCURRENCY=4 CF_BASE_MS=50 CF_MAX_MS=500 CF_CONNECT=2
	CF_LOW_LIMIT=1000 CF_LOW_TIME=2
}
write_config() { # FILE URL [MIRROR...]
	f=$1 u=$2; shift 2
	{
		echo "version: 1"
		echo "roles: [pilot]"
		echo "install_prefix: $PREFIX"
		echo "artifacts:"
		echo "  pilot:"
		echo "    url: \"$u\""
		if [ $# -gt 0 ]; then
			echo "    mirrors:"
			for m; do echo "      - \"$m\""; done
		fi
		[ -z "$CF_SHA256" ] || echo "    sha256: $CF_SHA256"
		[ -z "$CF_SHA512" ] || echo "    sha512: $CF_SHA512"
		[ -z "$CF_SHA256_URL" ] || echo "    sha256_url: \"$CF_SHA256_URL\""
		[ -z "$CF_SIZE" ] || echo "    size: $CF_SIZE"
		echo "    version: \"$CF_VERSION\""
		echo "    exec: bin/pilot-discovery"
		echo "fetch:"
		echo "  retries: $CF_RETRIES"
		echo "  deadline_sec: $CF_DEADLINE"
		echo "  concurrency: $CF_CONCURRENCY"
		echo "  backoff_base_ms: $CF_BASE_MS"
		echo "  backoff_max_ms: $CF_MAX_MS"
		echo "  connect_timeout_sec: $CF_CONNECT"
		echo "  low_speed_limit: $CF_LOW_LIMIT"
		echo "  low_speed_time_sec: $CF_LOW_TIME"
		[ -z "$CF_MAX_SIZE" ] || echo "  max_size: $CF_MAX_SIZE"
		[ -z "$CF_CA" ] || echo "  ca_bundle: $CF_CA"
	} > "$f"
}

# ---- roots and what a run leaves on disk ------------------------------------
# Files and symbolic links (path, type, mode, size, link target, content):
# equal manifests mean no file appeared, vanished or changed.  Directories
# are left out: a run may create the cache's own directories.
files_manifest() {
	(cd "$1" && find . \( -type f -o -type l \) -printf '%p %y %m %s %l\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# The template: pilot 0.9 as a previous run would have left it.
_root_template() {
	save_art=$ART save_sha=$ART_SHA256 save_size=$ART_SIZE save_tree=$ART_TREE save_short=$ART_SHORT save_512=$ART_SHA512
	make_artifact pilot-0.9.tar.gz 0.9
	OLD_SHA256=$ART_SHA256 OLD_DIR=0.9-$ART_SHORT
	t=$SCRATCH/root-template
	mkdir -p "$t/$CACHE_REL/sha256" "$t$PREFIX/pilot/$OLD_DIR" &&
		cp "$ART" "$t/$CACHE_REL/sha256/$ART_SHA256" &&
		tar -xzf "$ART" -C "$t$PREFIX/pilot/$OLD_DIR" &&
		ln -s "$OLD_DIR" "$t$PREFIX/pilot/current" || bail "cannot make the root template"
	ART=$save_art ART_SHA256=$save_sha ART_SIZE=$save_size ART_TREE=$save_tree ART_SHORT=$save_short ART_SHA512=$save_512
}
root_new() {
	[ -d "$SCRATCH/root-template" ] || _root_template
	ROOT=$SCRATCH/root-$1
	rm -rf "$ROOT"
	cp -a "$SCRATCH/root-template" "$ROOT" || bail "cannot copy the root template"
	ROOT_BEFORE=$SCRATCH/root-$1.before
	files_manifest "$ROOT" > "$ROOT_BEFORE"
}

run_fetch() { # TAG CONFIG
	FETCH_LOG=$SCRATCH/fetch-$1.log
	t0=$(date +%s%N)
	timeout -k 5 90 "$MESHBOOT" --root "$ROOT" -c "$2" fetch >"$FETCH_LOG" 2>&1
	RC=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
}
# bg_fetch TAG CONFIG: the same in the background ($ROOT as it is now);
# $BG_PID; `wait $BG_PID` gives its status.  The trap ends it if need be.
bg_fetch() {
	timeout -k 5 90 "$MESHBOOT" --root "$ROOT" -c "$2" fetch >"$SCRATCH/fetch-$1.log" 2>&1 &
	BG_PID=$!
	_httpfix_bg="$_httpfix_bg $BG_PID"
}
# tag NAME: NAME as a file name.
tag() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

# Files under $ROOT's cache that no run should leave: anything but the
# sha256/, sha512/ and partial/ directories and entries named by their
# digest (a partial download, a temporary file, a directory left behind).
stray_files() {
	[ -d "$ROOT/$CACHE_REL" ] || return 0
	(cd "$ROOT" && find "$CACHE_REL" -mindepth 1 \
		! \( -type d \( -path "$CACHE_REL/sha256" -o -path "$CACHE_REL/sha512" -o -path "$CACHE_REL/partial" \) \) \
		! \( -type d \( -path "$CACHE_REL/release" -o -regex "$CACHE_REL/release/[0-9a-f]*" \) \) \
		! \( -type f -regextype posix-extended -regex "$CACHE_REL/(sha256/[0-9a-f]{64}|sha512/[0-9a-f]{128}|release/[0-9a-f]{32}/SHA256SUMS(\.minisig)?)" \) \
		-print) | LC_ALL=C sort
}
# prefix_extra DIR...: entries of PREFIX and PREFIX/pilot other than pilot,
# current and the version directories DIR... (a temporary or half-made
# tree left behind).
prefix_extra() {
	(cd "$ROOT$PREFIX" 2>/dev/null || exit 0
	find . -mindepth 1 -maxdepth 1 ! -name pilot
	[ -d pilot ] || exit 0
	cd pilot && for e in * .[!.]* ..?*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		case " current $* " in *" $e "*) ;; *) echo "pilot/$e";; esac
	done)
}

# state_unchanged: $ROOT holds exactly what it held before the run: the
# cache as it was, nothing unpacked, current unchanged, no partial file.
state_unchanged() {
	files_manifest "$ROOT" > "$SCRATCH/.after"
	extra=$(prefix_extra "$OLD_DIR")
	cmp -s "$ROOT_BEFORE" "$SCRATCH/.after" && [ -z "$extra" ] && [ -z "$(stray_files)" ] && return 0
	diff "$ROOT_BEFORE" "$SCRATCH/.after" | grep '^[<>]' | head -20
	[ -z "$extra" ] || echo "left under the install prefix: $extra"
	return 1
}

# installed_ok: the artifact ($ART_*) is in the cache under its digest
# (sha512 when $CF_SHA512 pins it, else sha256), unpacked into
# PREFIX/pilot/$CF_VERSION-<first 12 hex> equal to $ART_TREE, current
# points there (previous, if made, at the version before), and nothing else
# new is on disk (no partial or temporary file anywhere under $ROOT).
installed_ok() {
	if [ -n "$CF_SHA512" ]; then alg=sha512 hex=$ART_SHA512; else alg=sha256 hex=$ART_SHA256; fi
	dir=$CF_VERSION-$(echo "$hex" | cut -c1-12)
	c=$ROOT/$CACHE_REL/$alg/$hex
	bad=""
	[ -f "$c" ] && [ "$(${alg}sum < "$c" | cut -d' ' -f1)" = "$hex" ] || bad="$bad; no verified cache entry $CACHE_REL/$alg/$hex"
	if ! diff -r "$ART_TREE" "$ROOT$PREFIX/pilot/$dir" > "$SCRATCH/.diff" 2>&1; then
		bad="$bad; $PREFIX/pilot/$dir differs from the artifact: $(head -5 "$SCRATCH/.diff")"
	fi
	[ -x "$ROOT$PREFIX/pilot/$dir/bin/pilot-discovery" ] || bad="$bad; bin/pilot-discovery is not executable"
	l=$(readlink "$ROOT$PREFIX/pilot/current")
	case $l in
	"$dir"|"./$dir"|"$PREFIX/pilot/$dir") ;;
	*) bad="$bad; current -> '$l', want $dir (or $PREFIX/pilot/$dir)";;
	esac
	# new files: only the cache entry, the installed tree and the link
	files_manifest "$ROOT" | sed -n 's/^\(\.[^ ]*\) [fl] .*/\1/p' > "$SCRATCH/.now"
	sed -n 's/^\(\.[^ ]*\) [fl] .*/\1/p' "$ROOT_BEFORE" > "$SCRATCH/.was"
	# meshboot keeps PREFIX/pilot/previous -> the version before, for a rollback
	p=$(readlink "$ROOT$PREFIX/pilot/previous" 2>/dev/null)
	case $p in
	""|"$OLD_DIR"|"./$OLD_DIR"|"$PREFIX/pilot/$OLD_DIR") ;;
	*) bad="$bad; previous -> '$p', want $OLD_DIR (the version before)";;
	esac
	new=$(LC_ALL=C sort "$SCRATCH/.now" | LC_ALL=C comm -23 - "$SCRATCH/.was" |
		grep -v -e "^\./$CACHE_REL/$alg/$hex\$" -e "^\.$PREFIX/pilot/$dir/" -e "^\.$PREFIX/pilot/current\$" \
			-e "^\.$PREFIX/pilot/previous\$" -e "^\./$CACHE_REL/release/[0-9a-f]\{32\}/SHA256SUMS\(\.minisig\)\?\$")
	[ -z "$new" ] || bad="$bad; unexpected files: $(echo "$new" | head -5 | tr '\n' ' ')"
	[ -z "$(stray_files)" ] || bad="$bad; stray files: $(stray_files | head -5 | tr '\n' ' ')"
	e=$(prefix_extra "$OLD_DIR" "$dir" previous)
	[ -z "$e" ] || bad="$bad; left under $PREFIX: $(echo "$e" | tr '\n' ' ')"
	[ -z "$bad" ] && return 0
	echo "${bad#; }"
	return 1
}

# ---- test cases: each prints a fixed number of TAP lines ---------------------
# expect_ok NAME CONFIG: 3 lines: exit 0; installed, cached, linked; no
# stray file.  Needs $ROOT (root_new).
expect_ok() {
	run_fetch "$(tag "$1")" "$2"
	if [ "$RC" = 0 ]; then ok "$1: exit 0"; else not_ok "$1: exit 0 (exit $RC)"; diag "$(cat "$FETCH_LOG")"; fi
	if why=$(installed_ok); then ok "$1: installed and cached, current points at the new version"
	else not_ok "$1: installed and cached, current points at the new version"; diag "$why"; fi
	s=$(stray_files)
	if [ -z "$s" ]; then ok "$1: no partial or temporary file under the root"
	else not_ok "$1: no partial or temporary file under the root"; diag "$s"; fi
}
# expect_fail NAME STATUS CONFIG [FIXED-STRING...]: 3 lines: exit STATUS;
# the message holds each string; the disk is as before (state_unchanged).
expect_fail() {
	name=$1 want=$2 cfg=$3; shift 3
	run_fetch "$(tag "$name")" "$cfg"
	if [ "$RC" = "$want" ]; then ok "$name: exit $want"; else not_ok "$name: exit $want (exit $RC)"; diag "$(cat "$FETCH_LOG")"; fi
	missing=""
	for s; do grep -qF -- "$s" "$FETCH_LOG" || missing="$missing '$s'"; done
	if [ -z "$missing" ]; then ok "$name: the message names$(printf ' %s' "$@" | cut -c1-160)"
	else not_ok "$name: the message names what it should"; diag "missing:$missing" "$(cat "$FETCH_LOG")"; fi
	if why=$(state_unchanged); then ok "$name: cache, install prefix and current unchanged, no partial file"
	else not_ok "$name: cache, install prefix and current unchanged, no partial file"; diag "$why"; fi
}

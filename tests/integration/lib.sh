# Shared by the integration tests: TAP output and a scratch directory that
# is removed on exit, also when a test fails.  Sourced, not run.
set -u
: "${MESHBOOT:?set MESHBOOT to the meshboot binary}"
: "${SRCDIR:?set SRCDIR to the source tree}"

_n=0
_failed=0
SCRATCH=$(mktemp -d /tmp/meshboot-test.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT INT TERM
# Never the host's: meshboot's per-namespace state and the xtables lock.
MESHBOOT_RUNTIME_DIR=${MESHBOOT_RUNTIME_DIR:-$SCRATCH/run}
XTABLES_LOCKFILE=${XTABLES_LOCKFILE:-$SCRATCH/xtables.lock}
export MESHBOOT_RUNTIME_DIR XTABLES_LOCKFILE
mkdir -p "$MESHBOOT_RUNTIME_DIR"

plan() { echo "1..$1"; }
ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=1; echo "not ok $_n - $*"; }
skip() { _n=$((_n + 1)); echo "ok $_n - # SKIP $*"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# check NAME CMD...: one test case from a command's exit status.
check() {
	name=$1; shift
	if "$@" >"$SCRATCH/.out" 2>&1; then ok "$name"; else not_ok "$name"; diag "$(cat "$SCRATCH/.out")"; fi
}

# expect_status NAME STATUS CMD...: the command exits with STATUS.
expect_status() {
	name=$1 want=$2; shift 2
	"$@" >"$SCRATCH/.out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then ok "$name"; else not_ok "$name (exit $got, want $want)"; diag "$(cat "$SCRATCH/.out")"; fi
}

# Output of the last expect_status/check.
last_output() { cat "$SCRATCH/.out"; }

# A manifest of a tree (path, type, mode, owner, content hash): equal
# manifests mean nothing on disk changed.
tree_manifest() {
	(cd "$1" && find . -printf '%p %y %m %u:%g %s\n' | sort && find . -type f -print0 | sort -z | xargs -0r sha256sum)
}

# root_base DIR INSTANCE_ID: a fresh scratch --root holding what a Debian
# system has that meshboot reads: passwd, group, shadow (0640), hosts, and
# cloud-init's instance id.
root_base() {
	rm -rf "$1"
	mkdir -p "$1/etc" "$1/var/lib/cloud/data"
	printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n' > "$1/etc/passwd"
	printf 'root:x:0:\ndaemon:x:1:\nshadow:x:42:\n' > "$1/etc/group"
	printf 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n' > "$1/etc/shadow"
	chmod 640 "$1/etc/shadow"
	printf '127.0.0.1\tlocalhost\n' > "$1/etc/hosts"
	echo "$2" > "$1/var/lib/cloud/data/instance-id"
}

finish() { exit "$_failed"; }

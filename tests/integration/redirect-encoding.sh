#!/bin/sh
# What meshboot puts in the kernel through libiptc is exactly the text its
# renderer prints (`redirect -n`), which tests/unit/test_rules.c holds to
# istio-iptables.sh's own output: for each flag set checked against the
# script (docs/istio-iptables-compat.md), apply in a fresh namespace and
# compare iptables-legacy-save / ip6tables-legacy-save with -n, table by
# table.  Then apply every set in turn in one namespace: each run must
# leave exactly its own rules (switching flags replaces, never accumulates).
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/netns.sh"
# One flag set per line, shell-quoted (read with eval).
SETS="
-b '*' -d 8080,9090 -i '*'
-b 80,443 -i '*'
-b '' -i '*'
-b '*' -i 10.0.0.0/8,192.168.0.0/16 -x 10.1.0.0/16
-b '*' -i 10.0.0.0/8,fd00::/8,192.168.0.0/16 -x 10.1.0.0/16,fd00:1::/32
-b '*' -i '*' -x 10.1.0.0/16,172.16.0.0/12,fd00:1::/32
-m TPROXY -b 80,443 -i '*'
-m TPROXY -b '*' -d 8080 -i '*'
-k eth1,eth2 -b '*' -i '*'
-k eth1,eth2 -b '*' -i 10.0.0.0/8,192.168.0.0/16,fd00::/8
-k eth1,eth2 -b '*' -i ''
-u 1337,1338,0 -g 1337,2000 -b '*' -i '*'
-o 3306,5432 -b '*' -i '*'
-p 15002 -z 15007 -b '*' -i '*'
-p 15002 -z 15007 -b 8080 -i '*'
DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK=1 -b '*' -i '*'
-m TPROXY -b '*' -i '*' --no-ipv6"
n=$(printf '%s\n' "$SETS" | grep -c .)
plan $((2 * n + 3))

ns=mbt-enc-$$
_netns_made=$ns
trap 'ip netns del $ns 2>/dev/null; rm -rf "$SCRATCH"' EXIT
if ! err=$(ip netns add $ns 2>&1); then
	netns_skip "cannot create a network namespace: $err"
fi
export MESHBOOT_RUNTIME_DIR=$SCRATCH/run
mkdir -p "$MESHBOOT_RUNTIME_DIR"

# One file per table: "<family>.<table>" holding that table's block.
split_tables() { # $1 dir, stdin: save text with "# iptables (IPv4)" style headers or per-family calls
	awk -v dir="$1" -v fam="$2" '
		/^# ip6tables/ { fam = "6"; next }
		/^# iptables/ { fam = "4"; next }
		/^#/ { next }
		/^\*/ { f = dir "/" fam "." substr($0, 2) }
		f { print > f }'
}

# mbr NS LINE: meshboot redirect with the flags of LINE in NS ("-" for none:
# the dry run); a leading VAR=value is put in the environment.
mbr() {
	_ns=$1; _line=$2; shift 2
	_env=
	case $_line in *=*\ *) _env=${_line%% *}; _line=${_line#* };; esac
	eval "set -- $_line \"\$@\""
	if [ "$_ns" = - ]; then env $_env "$MESHBOOT" -q redirect -n "$@"
	else ip netns exec "$_ns" env $_env "$MESHBOOT" -q redirect "$@"; fi
}

compare() { # $1 label: kernel tables vs -n for the current flags ($flags)
	rm -rf "$SCRATCH/want" "$SCRATCH/got" && mkdir -p "$SCRATCH/want" "$SCRATCH/got"
	mbr - "$flags" | split_tables "$SCRATCH/want" 4
	ip netns exec $ns iptables-legacy-save | split_tables "$SCRATCH/got" 4
	ip netns exec $ns ip6tables-legacy-save | split_tables "$SCRATCH/got" 6
	# tables we did not fill (left empty by another flag set) must be empty
	for g in "$SCRATCH"/got/*; do
		[ -e "$SCRATCH/want/${g##*/}" ] && continue
		if grep -q '^-A' "$g"; then diag "$1: ${g##*/} holds rules"; return 1; fi
	done
	for w in "$SCRATCH"/want/*; do
		if ! diff -u "$w" "$SCRATCH/got/${w##*/}" > "$SCRATCH/diff"; then
			diag "$1: ${w##*/} differs" "$(cat "$SCRATCH/diff")"
			return 1
		fi
	done
	return 0
}

printf '%s\n' "$SETS" | grep . > "$SCRATCH/sets"
while IFS= read -r flags; do
	ip netns del $ns 2>/dev/null; ip netns add $ns
	mbr $ns "$flags" &&
		compare "fresh" && ok "fresh namespace: kernel = -n for: $flags" || not_ok "fresh namespace: kernel = -n for: $flags"
done < "$SCRATCH/sets"

ip netns del $ns 2>/dev/null; ip netns add $ns
while IFS= read -r flags; do
	mbr $ns "$flags" &&
		compare "switched" && ok "after the previous set: kernel = -n for: $flags" || not_ok "after the previous set: kernel = -n for: $flags"
done < "$SCRATCH/sets"
# The redirect: section of a configuration drives the same code.
EX="$SRCDIR/cloud-config/all-in-one.yaml"
ip netns del $ns 2>/dev/null; ip netns add $ns
rm -rf "$SCRATCH/want" "$SCRATCH/got" && mkdir -p "$SCRATCH/want" "$SCRATCH/got"
"$MESHBOOT" -q -c "$EX" redirect -n | split_tables "$SCRATCH/want" 4
if ip netns exec $ns "$MESHBOOT" -q -c "$EX" redirect; then
	ip netns exec $ns iptables-legacy-save | split_tables "$SCRATCH/got" 4
	ip netns exec $ns ip6tables-legacy-save | split_tables "$SCRATCH/got" 6
	(cd "$SCRATCH" && for w in want/*; do diff -u "$w" "got/${w#want/}" || exit 1; done) > "$SCRATCH/diff" &&
		grep -q 'dport 9080 -j ISTIO_IN_REDIRECT' "$SCRATCH/want/4.nat" &&
		ok "-c all-in-one.yaml redirect: kernel = -n = the configuration's redirect section" ||
		{ not_ok "-c all-in-one.yaml redirect: kernel = -n = the configuration's redirect section"; diag "$(cat "$SCRATCH/diff")"; }
else
	not_ok "-c all-in-one.yaml redirect: kernel = -n = the configuration's redirect section"
fi
ip netns exec $ns "$MESHBOOT" -q -c "$EX" redirect clean &&
	! ip netns exec $ns iptables-legacy-save | grep -q ISTIO &&
	ok "-c all-in-one.yaml redirect clean removes it" || not_ok "-c all-in-one.yaml redirect clean removes it"

ip netns del $ns 2>/dev/null; ip netns add $ns
while IFS= read -r flags; do mbr $ns "$flags" || break; done < "$SCRATCH/sets"
ip netns exec $ns "$MESHBOOT" -q redirect clean &&
	! { ip netns exec $ns iptables-legacy-save; ip netns exec $ns ip6tables-legacy-save; } | grep -q ISTIO &&
	ok "clean after all of them leaves no ISTIO rule" || not_ok "clean after all of them leaves no ISTIO rule"
finish

#!/bin/sh
# meshboot redirect leaves everything that is not its own alone, in a
# network namespace (see netns.sh):
#   - -n prints the rules and changes nothing, also as an ordinary user;
#   - a host whose firewall lives in nf_tables is refused (78), untouched;
#   - Docker- and kube-like foreign chains, rules and policy routes are
#     byte-identical after apply and after clean; apply and clean are
#     idempotent; a re-apply with other flags converges;
#   - the xtables lock ($XTABLES_LOCKFILE) is waited for, within -w.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/netns.sh"
netns_setup iptables-nft ip6tables-nft
plan 43

# mbr ARGS...: meshboot redirect in the vm with the flags of these tests,
# then ARGS; mbr_as PREFIX ARGS...: the same run under PREFIX ($AS_APP).
mbr_as() { who=$1; shift; in_vm $who "$MESHBOOT" redirect -u $PROXY_UID -g $PROXY_UID -b '*' -i '*' -x "$PEER4B/32" -o 3306 "$@"; }
mbr() { mbr_as "" "$@"; }
# same_state NAME FILE_BEFORE CMD...: the output of CMD equals FILE_BEFORE.
same_state() {
	name=$1 before=$2; shift 2
	"$@" > "$SCRATCH/.now" 2>&1
	if cmp -s "$before" "$SCRATCH/.now"; then ok "$name"; else not_ok "$name"; diag "$(diff -u "$before" "$SCRATCH/.now")"; fi
}
non_istio() { legacy_save "$1" | grep -v 'ISTIO_'; }
snapshot() { # PREFIX: legacy (all, and non-ISTIO lines), nft, routes of the vm
	legacy_save "$VM" > "$SCRATCH/$1.legacy"
	grep -v 'ISTIO_' "$SCRATCH/$1.legacy" > "$SCRATCH/$1.foreign"
	nft_save "$VM" > "$SCRATCH/$1.nft"
	route_state "$VM" > "$SCRATCH/$1.routes"
	route_state_no6 "$VM" > "$SCRATCH/$1.routes-no6"
}
elapsed_ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---- 9. -n: print, change nothing ------------------------------------------
snapshot pristine
expect_status "9. redirect -n exits 0" 0 mbr -n -m TPROXY
cp "$SCRATCH/.out" "$SCRATCH/dry.txt"
grep -qx '# iptables (IPv4)' "$SCRATCH/dry.txt" && grep -qx '# ip6tables (IPv6)' "$SCRATCH/dry.txt" &&
	grep -q '^-A ISTIO_OUTPUT ' "$SCRATCH/dry.txt" && grep -q '^-A ISTIO_TPROXY ' "$SCRATCH/dry.txt" &&
	ok "9. -n prints IPv4 and IPv6 sections with the rules" ||
	{ not_ok "9. -n prints IPv4 and IPv6 sections with the rules"; diag "$(cat "$SCRATCH/dry.txt")"; }
same_state "9. after -n the legacy tables are unchanged (empty)" "$SCRATCH/pristine.legacy" legacy_save "$VM"
same_state "9. after -n routes, rules and lo's addresses are unchanged" "$SCRATCH/pristine.routes" route_state "$VM"
# each section is valid iptables-save text (parsed, not committed)
sed -n '/^# iptables (IPv4)$/,/^# ip6tables (IPv6)$/p' "$SCRATCH/dry.txt" > "$SCRATCH/dry4"
sed -n '/^# ip6tables (IPv6)$/,$p' "$SCRATCH/dry.txt" > "$SCRATCH/dry6"
in_throwaway iptables-legacy-restore -w --test < "$SCRATCH/dry4" > "$SCRATCH/.r" 2>&1 &&
	in_throwaway ip6tables-legacy-restore -w --test < "$SCRATCH/dry6" >> "$SCRATCH/.r" 2>&1 &&
	ok "9. both -n sections are accepted by ip[6]tables-legacy-restore --test" ||
	{ not_ok "9. both -n sections are accepted by ip[6]tables-legacy-restore --test"; diag "$(cat "$SCRATCH/.r")"; }
mbr_as "$AS_APP" -n -m TPROXY > "$SCRATCH/dry-user.txt" 2>&1
st=$?
[ $st = 0 ] && cmp -s "$SCRATCH/dry.txt" "$SCRATCH/dry-user.txt" && ok "9. -n works as an ordinary user, same output" ||
	{ not_ok "9. -n works as an ordinary user, same output (exit $st)"; diag "$(diff "$SCRATCH/dry.txt" "$SCRATCH/dry-user.txt")"; }
# config mode: the redirect: section of a configuration, as plan shows it
EX="$SRCDIR/cloud-config/all-in-one.yaml"
"$MESHBOOT" -c "$EX" plan | awk '/^[0-9]+\. / { r = /redirect:/ } r && /^      \| / { sub(/^      \| ?/, ""); print }' |
	grep -v '^#' > "$SCRATCH/plan-rules"
mb -c "$EX" redirect -n > "$SCRATCH/cfg-dry.txt" 2>&1
st=$?
grep -v '^#' "$SCRATCH/cfg-dry.txt" > "$SCRATCH/cfg-rules"
[ $st = 0 ] && [ -s "$SCRATCH/plan-rules" ] && cmp -s "$SCRATCH/plan-rules" "$SCRATCH/cfg-rules" &&
	ok "9. -c all-in-one.yaml redirect -n prints the rules of plan" ||
	{ not_ok "9. -c all-in-one.yaml redirect -n prints the rules of plan (exit $st)"; diag "$(diff -u "$SCRATCH/plan-rules" "$SCRATCH/cfg-rules")"; }
same_state "9. after config-mode -n the legacy tables are unchanged" "$SCRATCH/pristine.legacy" legacy_save "$VM"

# ---- 8. nf_tables host: refused, untouched ---------------------------------
in_vm iptables-nft -w -A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT &&
	in_vm ip6tables-nft -w -A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT || bail "iptables-nft cannot add a rule"
snapshot nft
for m in REDIRECT TPROXY; do
	expect_status "8. nf_tables host: redirect -m $m exits 78" 78 mbr -m $m
	last_output | grep -q 'nf_tables' && ok "8. nf_tables host: -m $m: the message says nf_tables" ||
		{ not_ok "8. nf_tables host: -m $m: the message says nf_tables"; diag "$(last_output)"; }
done
same_state "8. nf_tables host: the nft ruleset is unchanged" "$SCRATCH/nft.nft" nft_save "$VM"
same_state "8. nf_tables host: the legacy tables are unchanged (empty)" "$SCRATCH/nft.legacy" legacy_save "$VM"
same_state "8. nf_tables host: routes, rules and lo's addresses are unchanged" "$SCRATCH/nft.routes" route_state "$VM"
in_vm iptables-nft -w -F INPUT && in_vm ip6tables-nft -w -F INPUT || bail "cannot flush the iptables-nft rules"

# ---- 6. foreign rules survive apply and clean ------------------------------
cat > "$SCRATCH/foreign4" <<EOF
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK - [0:0]
-A PREROUTING -i eth0 -p tcp -m tcp --dport 5000 -j KUBE-MARK
-A KUBE-MARK -j MARK --set-xmark 0x10/0xffffffff
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-API - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-API
-A KUBE-SVC-API -p tcp -j DNAT --to-destination $VM4:6443
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A DOCKER-USER -j RETURN
COMMIT
EOF
cat > "$SCRATCH/foreign6" <<EOF
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -p tcp -m tcp --dport 5000 -j MARK --set-xmark 0x10/0xffffffff
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s fd00:dead::/64 ! -o docker0 -j MASQUERADE
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination [fd00:dead::2]:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
COMMIT
EOF
in_vm iptables-legacy-restore -w < "$SCRATCH/foreign4" > "$SCRATCH/.r" 2>&1 &&
	in_vm ip6tables-legacy-restore -w < "$SCRATCH/foreign6" >> "$SCRATCH/.r" 2>&1 || bail "cannot load the foreign rules: $(cat "$SCRATCH/.r")"
# a foreign policy route, as a VPN or a CNI might add
ip -n "$VM" rule add fwmark 0x10 lookup 100 && ip -n "$VM" route add local 192.0.2.0/24 dev lo table 100 &&
	ip -n "$VM" -6 rule add fwmark 0x10 lookup 100 || bail "cannot add the foreign policy route"
snapshot foreign

expect_status "6. apply with foreign rules exits 0" 0 mbr
legacy_save "$VM" > "$SCRATCH/apply1"
grep -q '^:ISTIO_OUTPUT' "$SCRATCH/apply1" && ok "6. our chains are there" || not_ok "6. our chains are there"
same_state "6. after apply the foreign rules are byte-identical (non-ISTIO lines)" "$SCRATCH/foreign.foreign" non_istio "$VM"
expect_status "6. apply again exits 0" 0 mbr
same_state "6. apply twice = identical iptables-legacy-save" "$SCRATCH/apply1" legacy_save "$VM"
expect_status "6. re-apply with other flags (-o 5432) exits 0" 0 mb redirect -u $PROXY_UID -g $PROXY_UID -b '*' -i '*' -o 5432
legacy_save "$VM" > "$SCRATCH/apply-other"
expect_status "6. clean exits 0" 0 mb redirect clean
same_state "6. after clean the save equals the one before apply" "$SCRATCH/foreign.legacy" legacy_save "$VM"
expect_status "6. clean again exits 0" 0 mb redirect clean
same_state "6. after clean twice the save still equals the one before apply" "$SCRATCH/foreign.legacy" legacy_save "$VM"
in_vm "$MESHBOOT" redirect -u $PROXY_UID -g $PROXY_UID -b '*' -i '*' -o 5432 >/dev/null 2>&1
same_state "6. the re-apply with other flags converged: same as a fresh apply" "$SCRATCH/apply-other" legacy_save "$VM"
in_vm "$MESHBOOT" redirect clean >/dev/null 2>&1

# TPROXY: mangle and policy routing, next to foreign ones
if why=$(tproxy_missing) && [ -n "$why" ]; then
	i=0
	while [ $i -lt 9 ]; do skip "TPROXY: $why"; i=$((i + 1)); done
else
	expect_status "6. TPROXY apply with foreign rules exits 0" 0 mbr -m TPROXY
	legacy_save "$VM" > "$SCRATCH/tp1"
	route_state "$VM" > "$SCRATCH/tp1.routes"
	same_state "6. TPROXY: the foreign rules are byte-identical (non-ISTIO lines)" "$SCRATCH/foreign.foreign" non_istio "$VM"
	r=$(ip -n "$VM" -4 rule show)
	echo "$r" | grep -q 'fwmark 0x10 lookup 100' && echo "$r" | grep -q 'fwmark 0x539 lookup 133' &&
		ok "6. TPROXY: our policy rule is added next to the foreign one" ||
		{ not_ok "6. TPROXY: our policy rule is added next to the foreign one"; diag "$r"; }
	expect_status "6. TPROXY apply again exits 0" 0 mbr -m TPROXY
	same_state "6. TPROXY apply twice = identical iptables-legacy-save" "$SCRATCH/tp1" legacy_save "$VM"
	same_state "6. TPROXY apply twice = identical ip rules and routes (no duplicates)" "$SCRATCH/tp1.routes" route_state "$VM"
	expect_status "6. TPROXY clean exits 0" 0 mb redirect clean
	# ::6 on lo may stay: clean removes chains, jumps and policy routes
	same_state "6. TPROXY clean: routes and policy rules as before apply (foreign ones kept)" "$SCRATCH/foreign.routes-no6" route_state_no6 "$VM"
	same_state "6. TPROXY clean: the save equals the one before apply" "$SCRATCH/foreign.legacy" legacy_save "$VM"
fi

# ---- 7. the xtables lock ---------------------------------------------------
# hold_lock SECONDS: another process holds $XTABLES_LOCKFILE.
hold_lock() {
	start holder "$VM" flock "$XTABLES_LOCKFILE" sleep "$1"
	i=0
	while flock -n "$XTABLES_LOCKFILE" true 2>/dev/null; do
		i=$((i + 1)); [ $i -le 50 ] || bail "the lock holder did not start"; sleep 0.1
	done
}
legacy_save "$VM" > "$SCRATCH/before-lock"
hold_lock 5
t0=$(date +%s%N)
expect_status "7. -w 1 with the lock held: exit 75" 75 mbr -w 1
ms=$(elapsed_ms "$t0")
[ "$ms" -ge 900 ] && [ "$ms" -lt 4000 ] && ok "7. -w 1 gave up after about 1 s (${ms} ms)" ||
	not_ok "7. -w 1 gave up after about 1 s (${ms} ms)"
same_state "7. -w 1 timed out: the tables are unchanged" "$SCRATCH/before-lock" legacy_save "$VM"
stop holder
hold_lock 5
t0=$(date +%s%N)
expect_status "7. with the lock held for 5 s, redirect waits and applies (exit 0)" 0 mbr
ms=$(elapsed_ms "$t0")
[ "$ms" -ge 3800 ] && ok "7. it waited for the lock (${ms} ms)" || not_ok "7. it waited for the lock (${ms} ms, want >= ~4000)"
legacy_save "$VM" | grep -q '^:ISTIO_OUTPUT' &&
	ok "7. the rules are there after the wait" || not_ok "7. the rules are there after the wait"
stop holder
legacy_save "$VM" > "$SCRATCH/before-lock"
hold_lock 5
expect_status "7. clean -w 1 with the lock held: exit 75" 75 mb redirect -w 1 clean
same_state "7. clean timed out: the tables are unchanged" "$SCRATCH/before-lock" legacy_save "$VM"
stop holder
finish

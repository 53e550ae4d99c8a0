#!/bin/sh
# meshboot redirect with real packets, in two network namespaces ("vm" and
# "peer", see netns.sh).  A stand-in sidecar (netprobe proxy, uid 1337)
# logs every connection it receives with its original destination; each
# case checks both the outcome and that log.
#   - the app (uid 4242) in vm reaches a server in peer through the sidecar,
#     and a client in peer reaches the app server in vm through it;
#   - excluded ports (-o) and CIDRs (-x), inbound port 22 under -b '*' and
#     the sidecar's own traffic bypass it, with no loop;
#   - SSH-like sessions open across the apply keep passing data;
#   - the same over IPv6, and inbound with -m TPROXY;
#   - the ISTIO_* chains are there after apply and gone after clean.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/netns.sh"
netns_setup
plan 40

# Servers: in peer on 8080 (captured), 3306 (excluded with -o) and 22;
# in vm the app server on 9080 and an "sshd" on 22.
start peer_http "$PEER" "$NETPROBE" server --port 8080
start peer_db "$PEER" "$NETPROBE" server --port 3306
start peer_ssh "$PEER" "$NETPROBE" server --port 22
start vm_app "$VM" "$NETPROBE" server --port 9080
wait_listen "$PEER" 8080 3306 22 && wait_listen "$VM" 9080 || bail "the servers did not start"
start_proxy


# flow NAME NS WHO ADDR PORT FROM LOG_ERE: a client in NS (run by WHO: app,
# sidecar or root) sends a line to ADDR PORT; the reply must come from the
# server at FROM, and the sidecar must have logged a new line matching
# LOG_ERE, or (LOG_ERE empty) no new line at all.
flow() {
	name=$1 ns=$2 who=$3 addr=$4 port=$5 from=$6 logre=$7
	msg="m$((_n + 1))"
	case $who in app) pre=$AS_APP;; sidecar) pre=$AS_SIDECAR;; *) pre="";; esac
	n0=$(log_count)
	out=$(ip netns exec "$ns" timeout -k 2 15 $pre "$NETPROBE" client "$addr" "$port" "$msg" 2>&1)
	want="echo $msg from $from"
	if [ "$out" != "$want" ]; then
		not_ok "$name"; diag "reply: $out" "want:  $want" "sidecar log:" "$(tail -n +$((n0 + 1)) "$PROXY_LOG")"
	elif [ -n "$logre" ] && ! proxy_logged "$n0" "$logre"; then
		not_ok "$name (not through the sidecar)"; diag "want a log line like: $logre" "sidecar log:" "$(tail -n +$((n0 + 1)) "$PROXY_LOG")"
	elif [ -z "$logre" ] && [ "$(log_count)" != "$n0" ]; then
		not_ok "$name (went through the sidecar)"; diag "sidecar log:" "$(tail -n +$((n0 + 1)) "$PROXY_LOG")"
	else
		ok "$name"
	fi
}
# open_ssh TAG FD_SSHD FD_SSH: an SSH-like session: `netprobe chat` in
# peer connected to `netprobe chat --listen 22` (root, like sshd) in vm.
# Then an echo server takes port 22 of vm for new connections.
open_ssh() {
	stop vm_ssh
	chat_start "sshd_$1" "$2" "$VM" "$NETPROBE" chat --listen 22 && wait_listen "$VM" 22 &&
		chat_start "ssh_$1" "$3" "$PEER" "$NETPROBE" chat $VM4 22 &&
		chat_wait "ssh_$1" "^connected $VM4:22\$" && chat_wait "sshd_$1" "^connected $PEER4:"
	r=$?
	start vm_ssh "$VM" "$NETPROBE" server --port 22
	wait_listen "$VM" 22 || r=1
	return $r
}
# ssh_try TAG FD_SSHD FD_SSH WORD [peer]: in session TAG, vm speaks first
# (sshd output, a keepalive), then peer (typing) -- or the other way round
# with "peer"; both lines arrive, and not through the sidecar.
ssh_try() {
	n0=$(log_count)
	if [ "${5:-vm}" = peer ]; then
		chat_send "ssh_$1" "$3" "peer-$4" && chat_wait "sshd_$1" "^peer-$4\$" &&
			chat_send "sshd_$1" "$2" "vm-$4" && chat_wait "ssh_$1" "^vm-$4\$"
	else
		chat_send "sshd_$1" "$2" "vm-$4" && chat_wait "ssh_$1" "^vm-$4\$" &&
			chat_send "ssh_$1" "$3" "peer-$4" && chat_wait "sshd_$1" "^peer-$4\$"
	fi && [ "$(log_count)" = "$n0" ]
}
ssh_diag() {
	diag "ssh end (peer) got:" "$(cat "$SCRATCH/ssh_$1.out" "$SCRATCH/ssh_$1.err")" \
		"sshd end (vm) got:" "$(cat "$SCRATCH/sshd_$1.out" "$SCRATCH/sshd_$1.err")" \
		"sidecar log:" "$(tail -n +$((n0 + 1)) "$PROXY_LOG")"
}
# ssh_ok NAME TAG FD_SSHD FD_SSH WORD [peer]: one test case of ssh_try.
ssh_ok() {
	name=$1; shift
	if ssh_try "$@"; then ok "$name"; else not_ok "$name"; ssh_diag "$1"; fi
}
# app_conn_ok NAME WORD: the app's connection to peer:22, opened before the
# apply, passes data (app speaks first) and not through the sidecar.
app_conn_ok() {
	n0=$(log_count)
	if chat_send appconn 9 "app-$2" && chat_wait appconn "^echo app-$2 from $PEER4:22\$" && [ "$(log_count)" = "$n0" ]; then
		ok "$1"
	else
		not_ok "$1"; diag "app end got:" "$(cat "$SCRATCH/appconn.out" "$SCRATCH/appconn.err")" "sidecar log:" "$(tail -n +$((n0 + 1)) "$PROXY_LOG")"
	fi
}
# absent NAME ERE TEXT: no line of TEXT matches ERE.
absent() {
	if printf '%s\n' "$3" | grep -Eq "$2"; then not_ok "$1"; diag "$(printf '%s\n' "$3" | grep -E "$2")"; else ok "$1"; fi
}
# istio_chains NS: "IPv4: chains / IPv6: chains", the ISTIO_* chains of
# the legacy tables as table:chain, sorted.
istio_chains() {
	for f in iptables ip6tables; do
		ip netns exec "$1" $f-legacy-save | awk '/^\*/ { t = substr($0, 2) } /^:ISTIO_/ { print t ":" substr($1, 2) }' |
			sort | tr '\n' ' '
		echo "/"
	done | tr -d '\n'
}

# ---- before apply: nothing is captured --------------------------------------
flow "before apply: the app reaches the peer directly" "$VM" app $PEER4 8080 "$PEER4:8080" ""
open_ssh r 7 8 && open_ssh p 5 6 || bail "cannot open the SSH-like sessions: $(cat "$SCRATCH"/ssh*.err)"
chat_start appconn 9 "$VM" $AS_APP "$NETPROBE" chat $PEER4 22
chat_wait appconn "^connected $PEER4:22\$" || bail "the app cannot connect to peer:22: $(cat "$SCRATCH/appconn.err")"
ssh_try r 7 8 before && ssh_try p 5 6 before && ok "before apply: SSH-like sessions peer->vm:22 pass data both ways" ||
	{ not_ok "before apply: SSH-like sessions peer->vm:22 pass data both ways"; ssh_diag r; ssh_diag p; }

# ---- REDIRECT, all inbound and outbound ------------------------------------
expect_status "redirect -b '*' -i '*' -x -o exits 0" 0 \
	mb redirect -u $PROXY_UID -g $PROXY_UID -b '*' -i '*' -x "$PEER4B/32" -o 3306
chains=$(istio_chains "$VM")
want="nat:ISTIO_INBOUND nat:ISTIO_IN_REDIRECT nat:ISTIO_OUTPUT nat:ISTIO_REDIRECT /"
want="$want$want"
[ "$chains" = "$want" ] && ok "iptables-legacy-save and ip6tables-legacy-save show our ISTIO_* chains" ||
	{ not_ok "iptables-legacy-save and ip6tables-legacy-save show our ISTIO_* chains"; diag "got:  $chains" "want: $want"; }
ip -n "$VM" -6 addr show dev lo | grep -q 'inet6 ::6/128' && ok "::6/128 is on lo in IPv6 mode (D7)" ||
	not_ok "::6/128 is on lo in IPv6 mode (D7)"

# 1. outbound
flow "1. app -> peer:8080 goes through the sidecar (out)" "$VM" app $PEER4 8080 "$PEER4:8080" \
	"^out $VM4:[0-9]+ -> $PEER4:8080\$"
# 2. inbound
flow "2. peer -> vm:9080 goes through the sidecar (in) to the app" "$PEER" root $VM4 9080 "$VM4:9080" \
	"^in $PEER4:[0-9]+ -> $VM4:9080\$"
# 3. what bypasses the sidecar, and still connects
flow "3. -o 3306: app -> peer:3306 bypasses the sidecar" "$VM" app $PEER4 3306 "$PEER4:3306" ""
flow "3. -x $PEER4B/32: app -> $PEER4B:8080 bypasses the sidecar" "$VM" app $PEER4B 8080 "$PEER4B:8080" ""
flow "3. -b '*': inbound port 22 bypasses the sidecar" "$PEER" root $VM4 22 "$VM4:22" ""
flow "3. uid 1337's own traffic bypasses the sidecar (no loop)" "$VM" sidecar $PEER4 8080 "$PEER4:8080" ""
# 4. sessions open across the apply
ssh_ok "4. an SSH-like session peer->vm:22 open across the apply passes data (peer speaks first)" p 5 6 after peer
ssh_ok "4. an SSH-like session peer->vm:22 open across the apply passes data (vm speaks first)" r 7 8 after
app_conn_ok "4. the app's connection to peer:22 open across the apply is not captured mid-stream" after
flow "4. a new app connection to peer:22 is captured" "$VM" app $PEER4 22 "$PEER4:22" \
	"^out $VM4:[0-9]+ -> $PEER4:22\$"
# 5. IPv6
flow "5. IPv6: app -> [$PEER6]:8080 goes through the sidecar (out)" "$VM" app $PEER6 8080 "[$PEER6]:8080" \
	"^out \\[$VM6\\]:[0-9]+ -> \\[$PEER6\\]:8080\$"
flow "5. IPv6: peer -> [$VM6]:9080 goes through the sidecar (in) to the app" "$PEER" root $VM6 9080 "[$VM6]:9080" \
	"^in \\[$PEER6\\]:[0-9]+ -> \\[$VM6\\]:9080\$"
flow "5. IPv6: inbound port 22 bypasses the sidecar" "$PEER" root $VM6 22 "[$VM6]:22" ""
absent "no redirect loop reached the sidecar" '^loop' "$(cat "$PROXY_LOG")"

# ---- clean -----------------------------------------------------------------
expect_status "redirect clean exits 0" 0 mb redirect clean
chains=$(istio_chains "$VM")
[ "$chains" = "//" ] && ok "after clean no ISTIO_* chain remains" ||
	{ not_ok "after clean no ISTIO_* chain remains"; diag "$chains"; }
absent "after clean no rule refers to ISTIO_*" 'ISTIO_' "$(legacy_save "$VM")"
flow "after clean the app reaches the peer directly" "$VM" app $PEER4 8080 "$PEER4:8080" ""
ssh_ok "after clean the SSH-like session (peer spoke first) still passes data" p 5 6 clean
chat_close appconn 9
chat_close ssh_p 6
chat_close sshd_p 5
chat_close ssh_r 8
chat_close sshd_r 7

# ---- TPROXY ----------------------------------------------------------------
why=$(tproxy_missing)
if [ -n "$why" ]; then
	i=0
	while [ $i -lt 16 ]; do skip "TPROXY: $why"; i=$((i + 1)); done
	finish
fi
start_proxy tproxy
open_ssh t 7 8 && open_ssh q 5 6 && ssh_try t 7 8 before && ssh_try q 5 6 before &&
	ok "TPROXY: before apply: new SSH-like sessions peer->vm:22 pass data" ||
	{ not_ok "TPROXY: before apply: new SSH-like sessions peer->vm:22 pass data"; ssh_diag t; ssh_diag q; }
expect_status "redirect -m TPROXY -b '*' -i '*' exits 0" 0 \
	mb redirect -u $PROXY_UID -g $PROXY_UID -m TPROXY -b '*' -i '*'
chains=$(istio_chains "$VM")
want="mangle:ISTIO_DIVERT mangle:ISTIO_INBOUND mangle:ISTIO_TPROXY nat:ISTIO_IN_REDIRECT nat:ISTIO_OUTPUT nat:ISTIO_REDIRECT /"
want="$want$want"
[ "$chains" = "$want" ] && ok "TPROXY: mangle ISTIO_DIVERT/ISTIO_TPROXY and nat chains, IPv4 and IPv6" ||
	{ not_ok "TPROXY: mangle ISTIO_DIVERT/ISTIO_TPROXY and nat chains, IPv4 and IPv6"; diag "got:  $chains" "want: $want"; }
r4=$(ip -n "$VM" -4 rule show; ip -n "$VM" -4 route show table 133)
r6=$(ip -n "$VM" -6 rule show; ip -n "$VM" -6 route show table 133)
echo "$r4" | grep -q 'fwmark 0x539 lookup 133' && echo "$r4" | grep -q '^local default dev lo' &&
	echo "$r6" | grep -q 'fwmark 0x539 lookup 133' && echo "$r6" | grep -q '^local default dev lo' &&
	ok "TPROXY: ip rule fwmark 1337 lookup 133 and local default dev lo table 133 (IPv4, IPv6)" ||
	{ not_ok "TPROXY: ip rule fwmark 1337 lookup 133 and local default dev lo table 133 (IPv4, IPv6)"; diag "$r4" "$r6"; }
flow "5. TPROXY: peer -> vm:9080 goes through the sidecar (in) to the app" "$PEER" root $VM4 9080 "127.0.0.1:9080" \
	"^in $PEER4:[0-9]+ -> $VM4:9080\$"
flow "5. TPROXY, IPv6: peer -> [$VM6]:9080 goes through the sidecar (in) to the app" "$PEER" root $VM6 9080 "[::1]:9080" \
	"^in \\[$PEER6\\]:[0-9]+ -> \\[$VM6\\]:9080\$"
flow "TPROXY: inbound port 22 bypasses the sidecar" "$PEER" root $VM4 22 "$VM4:22" ""
flow "TPROXY: app -> peer:8080 still goes through the sidecar (out)" "$VM" app $PEER4 8080 "$PEER4:8080" \
	"^out $VM4:[0-9]+ -> $PEER4:8080\$"
flow "TPROXY: uid 1337's own traffic bypasses the sidecar" "$VM" sidecar $PEER4 8080 "$PEER4:8080" ""
ssh_ok "TPROXY: an SSH-like session open across the apply passes data (peer speaks first)" q 5 6 after peer
ssh_ok "TPROXY: an SSH-like session open across the apply passes data (vm speaks first)" t 7 8 after
absent "TPROXY: no redirect loop reached the sidecar" '^loop' "$(cat "$PROXY_LOG")"
expect_status "TPROXY: redirect clean exits 0" 0 mb redirect clean
chains=$(istio_chains "$VM")
[ "$chains" = "//" ] && ok "TPROXY: after clean no ISTIO_* chain remains" ||
	{ not_ok "TPROXY: after clean no ISTIO_* chain remains"; diag "$chains"; }
r=$(ip -n "$VM" -4 rule show; ip -n "$VM" -6 rule show; ip -n "$VM" -4 route show table 133 2>&1; ip -n "$VM" -6 route show table 133 2>&1)
absent "TPROXY: after clean the policy routes are gone" 'fwmark|^local' "$r"
ssh_ok "TPROXY: after clean the SSH-like session (peer spoke first) still passes data" q 5 6 clean
chat_close ssh_t 8
chat_close sshd_t 7
chat_close ssh_q 6
chat_close sshd_q 5
finish

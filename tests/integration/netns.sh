# A two-host network for the redirect tests, in network namespaces.
# Sourced after lib.sh, not run.
#
#   "vm"   ($VM,   mbt-vm-PID):   eth0 10.77.0.1/24, fd77::1/64
#   "peer" ($PEER, mbt-peer-PID): eth0 10.77.0.2/24, 10.77.0.3/24, fd77::2/64
#
# joined by a veth pair created inside the namespaces, loopback up in both.
# Every firewall command and every process runs in one of them through
# `ip netns exec`; the host's firewall, routes and files are never touched.
# XTABLES_LOCKFILE points into $SCRATCH.  On every exit path (also a
# failure, INT or TERM) the trap kills the processes in both namespaces,
# deletes them and removes $SCRATCH.
#
# Skips ("1..0 # SKIP reason", exit 0) only when the kernel lacks a
# feature: network namespaces, or the legacy nat table.

VM=mbt-vm-$$
PEER=mbt-peer-$$
VM4=10.77.0.1
PEER4=10.77.0.2
PEER4B=10.77.0.3     # a second peer address, for outbound CIDR exclusion
VM6=fd77::1
PEER6=fd77::2
APP_UID=4242         # an ordinary user: the application
PROXY_UID=1337       # the sidecar's uid and gid
XTABLES_LOCKFILE=$SCRATCH/xtables.lock
export XTABLES_LOCKFILE
PROXY_LOG=$SCRATCH/proxy.log
NETPROBE=$SCRATCH/netprobe      # a copy that uids 1337 and 4242 can run
_netns_made=""

netns_cleanup() {
	for ns in $_netns_made; do
		# every process in our namespaces is one the test started
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
	done
	for ns in $_netns_made; do
		i=0
		while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	_netns_made=""
	rm -rf "$SCRATCH"
}
trap 'netns_cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# TAP reports a skip through the plan line; automake's tap-driver treats any
# non-zero exit as an error, so a skip exits 0 after "1..0 # SKIP".
netns_skip() { echo "1..0 # SKIP $*"; exit 0; }
bail() { echo "Bail out! $*"; exit 1; }

# Run in the vm (bounded: nothing may hang).
in_vm() { ip netns exec "$VM" timeout -k 5 60 "$@"; }
# Command prefixes (unquoted): run as the application's or the sidecar's
# uid and gid, no supplementary groups; the users need not exist.
AS_APP="setpriv --reuid=$APP_UID --regid=$APP_UID --clear-groups --"
AS_SIDECAR="setpriv --reuid=$PROXY_UID --regid=$PROXY_UID --clear-groups --"

# netns_setup [TOOL...]: check the tools (and these), create and wire the
# namespaces.
netns_setup() {
	for t in ip ss iptables-legacy iptables-legacy-save iptables-legacy-restore ip6tables-legacy \
		ip6tables-legacy-save ip6tables-legacy-restore setpriv flock timeout "$@"; do
		command -v "$t" >/dev/null || bail "$t is not installed (Build-Depends in debian/control)"
	done
	[ -x "$BUILDDIR/tests/netprobe" ] || bail "$BUILDDIR/tests/netprobe is not built (make check builds it)"
	cp "$BUILDDIR/tests/netprobe" "$NETPROBE" && chmod 755 "$NETPROBE" && chmod 711 "$SCRATCH" || bail "cannot copy netprobe"

	if ! err=$(ip netns add "$VM" 2>&1); then
		case $err in
		*"not permitted"*|*"ermission denied"*) netns_skip "cannot create a network namespace (not root or no CAP_SYS_ADMIN): $err";;
		*"not implemented"*|*"not supported"*|*"No such file"*) netns_skip "network namespaces are not supported by this kernel: $err";;
		*) bail "ip netns add: $err";;
		esac
	fi
	_netns_made=$VM
	ip netns add "$PEER" || bail "ip netns add $PEER failed"
	_netns_made="$VM $PEER"
	ip -n "$VM" link add eth0 type veth peer name eth0 netns "$PEER" || bail "cannot create a veth pair"
	for ns in "$VM" "$PEER"; do ip -n "$ns" link set lo up; done
	ip -n "$VM" addr add $VM4/24 dev eth0 &&
		ip -n "$VM" -6 addr add $VM6/64 dev eth0 nodad &&
		ip -n "$PEER" addr add $PEER4/24 dev eth0 &&
		ip -n "$PEER" addr add $PEER4B/24 dev eth0 &&
		ip -n "$PEER" -6 addr add $PEER6/64 dev eth0 nodad &&
		ip -n "$VM" link set eth0 up && ip -n "$PEER" link set eth0 up || bail "cannot configure the veth pair"
	i=0
	until ip -n "$VM" link show eth0 | grep -q LOWER_UP && ip -n "$PEER" link show eth0 | grep -q LOWER_UP; do
		i=$((i + 1)); [ $i -le 50 ] || bail "the veth pair did not come up"; sleep 0.1
	done

	# The legacy nat tables must exist (iptable_nat, ip6table_nat).  Probed
	# elsewhere: the vm starts with no legacy table at all, like a host
	# that never loaded them.
	for c in iptables-legacy ip6tables-legacy; do
		if ! err=$(in_throwaway $c -w -t nat -S 2>&1); then
			netns_skip "$c: no nat table in this kernel: $err"
		fi
	done
	: > "$PROXY_LOG" && chown $PROXY_UID:$PROXY_UID "$PROXY_LOG" || bail "cannot create $PROXY_LOG"
}

# in_throwaway CMD...: run CMD in a fresh namespace of its own, deleted
# afterwards (the test namespaces stay untouched).
in_throwaway() {
	ns=mbt-tmp-$$
	ip netns add "$ns" || return 1
	_netns_made="$_netns_made $ns"
	ip netns exec "$ns" timeout -k 5 60 "$@"
	r=$?
	ip netns del "$ns"
	_netns_made="$VM $PEER"
	return $r
}

# tproxy_missing: prints why TPROXY cannot work here (the TPROXY target or
# the socket match, IPv4 or IPv6), nothing when it can.  Probed in a
# throw-away namespace.
tproxy_missing() {
	out=$(in_throwaway sh -c 'for c in iptables-legacy ip6tables-legacy; do
		$c -w -t mangle -A PREROUTING -p tcp -m socket -j RETURN 2>&1 | sed "s/^/$c: socket match: /"
		$c -w -t mangle -A PREROUTING -p tcp -j TPROXY --on-port 1 --tproxy-mark 1 2>&1 | sed "s/^/$c: TPROXY target: /"
	done') || { echo "cannot create a probe namespace"; return; }
	printf '%s' "$out" | tr '\n' ' '
}

# start NAME NS CMD...: a background process in namespace NS, its output in
# $SCRATCH/NAME.out and .err; it runs at most 300 s.
start() {
	name=$1 ns=$2; shift 2
	ip netns exec "$ns" timeout -k 2 300 "$@" >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.err" </dev/null &
	eval "pid_$name=\$!"
}

# stop NAME: end a process started by start.
stop() {
	eval "p=\${pid_$1:-}"
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	eval "pid_$1="
}

# wait_listen NS PORT...: until something listens on each TCP PORT in NS (5 s).
wait_listen() {
	ns=$1; shift
	for port; do
		i=0
		until [ -n "$(ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null)" ]; do
			i=$((i + 1)); [ $i -le 50 ] || return 1; sleep 0.1
		done
	done
}

# The stand-in sidecar (netprobe proxy) in the vm, as uid/gid 1337; with
# "tproxy" it keeps CAP_NET_ADMIN for IP_TRANSPARENT, as Envoy does.
start_proxy() {
	stop proxy
	if [ "${1:-}" = tproxy ]; then
		start proxy "$VM" setpriv --reuid=$PROXY_UID --regid=$PROXY_UID --clear-groups \
			--inh-caps=+net_admin --ambient-caps=+net_admin -- \
			"$NETPROBE" proxy --out 15001 --in 15006 --log "$PROXY_LOG" --tproxy
	else
		start proxy "$VM" setpriv --reuid=$PROXY_UID --regid=$PROXY_UID --clear-groups -- \
			"$NETPROBE" proxy --out 15001 --in 15006 --log "$PROXY_LOG"
	fi
	wait_listen "$VM" 15001 15006 || bail "the stand-in sidecar did not start: $(cat "$SCRATCH/proxy.err")"
}

# meshboot in the vm: mb ARGS... runs `meshboot ARGS`.
mb() { in_vm "$MESHBOOT" "$@"; }

# Firewall state of a namespace, comparable across runs: comment lines
# dropped, counters zeroed.
legacy_save() {
	{ ip netns exec "$1" iptables-legacy-save && ip netns exec "$1" ip6tables-legacy-save; } |
		grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]/[0:0]/'
}
# The nf_tables ruleset: all of it with nft (package nftables), else the
# iptables-compatible part.
nft_save() {
	if command -v nft >/dev/null; then
		ip netns exec "$1" nft list ruleset
	else
		{ ip netns exec "$1" iptables-nft-save && ip netns exec "$1" ip6tables-nft-save; } | grep -v '^#'
	fi
}
# Policy routing, routes and lo's addresses: what meshboot may touch.
# route_state_no6 leaves out ::6, which IPv6 mode adds to lo (whether clean
# removes it is not asserted).
route_state() {
	for f in -4 -6; do
		ip -n "$1" $f rule show
		ip -n "$1" $f route show table all
	done
	ip -n "$1" -br addr show dev lo
}
route_state_no6() { route_state "$1" | sed -e '/^\(local \)\{0,1\}::6 /d' -e 's# ::6/128##'; }

log_count() { wc -l < "$PROXY_LOG"; }
# proxy_logged SINCE ERE: a log line after the first SINCE lines matches.
proxy_logged() { tail -n +$(($1 + 1)) "$PROXY_LOG" | grep -Eq "$2"; }

# A long-lived session, like SSH, between two `netprobe chat` ends (or one
# and an echo server).  Each end's stdin is a FIFO the test holds open on
# file descriptor FD (3..9); what it receives is in $SCRATCH/NAME.out.
#   chat_start NAME FD NS CMD...   start an end (CMD: netprobe chat ...)
#   chat_send NAME FD MSG          send a line from that end
#   chat_wait NAME ERE             a line matching ERE arrived (5 s)
#   chat_close NAME FD             end it
chat_start() {
	name=$1 fd=$2 ns=$3; shift 3
	mkfifo "$SCRATCH/$name.fifo" || return 1
	ip netns exec "$ns" timeout -k 2 120 "$@" <"$SCRATCH/$name.fifo" >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.err" &
	eval "pid_$name=\$!"
	eval "exec $fd>\"\$SCRATCH/\$name.fifo\""
}
chat_send() {
	# in a subshell: a dead reader's SIGPIPE must not end the test
	(eval "printf '%s\n' \"\$3\" >&$2") 2>/dev/null
}
chat_wait() {
	i=0
	until grep -Eqs "$2" "$SCRATCH/$1.out"; do
		i=$((i + 1)); [ $i -le 50 ] || return 1; sleep 0.1
	done
}
chat_close() {
	eval "exec $2>&-"
	stop "$1"
}

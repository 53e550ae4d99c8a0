#!/bin/sh
# The systemd units meshboot writes, checked by systemd itself, offline:
# for every role (the sidecar in REDIRECT and in TPROXY mode) and the
# redirect unit, from the example configurations, install into a scratch
# root (tests/unit-writer: unit_install), then
#   systemd-analyze verify --root=ROOT UNIT          says nothing, exits 0
#   systemd-analyze security --offline=yes --root=ROOT --threshold=20 UNIT
#                                                    exposure <= 2.0 ("OK")
# (--threshold compares the exposure times ten: 20 is 2.0).  A second
# install touches nothing; files are 0644 with the multi-user.target.wants
# links `systemctl enable` makes; removal leaves nothing.  The redirect
# unit's ExecStart=, split as systemd splits it and run with its
# Environment=, prints the rules of `meshboot -c CONFIG redirect -n`; and,
# where namespaces are available, it really applies and cleans them in a
# network namespace with only CAP_NET_ADMIN and CAP_NET_RAW and a
# read-only file system, as the unit's sandbox has it.  Nothing here talks
# to the host's systemd.
. "$SRCDIR/tests/integration/lib.sh"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "1..0 # SKIP systemd-analyze is not installed (package systemd)"
	exit 0
fi
UW=$BUILDDIR/tests/unit-writer
if [ ! -x "$UW" ]; then
	echo "Bail out! $UW is not built (make check builds it)"
	exit 1
fi
SYSTEM_UNITS=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	[ -f "$d/multi-user.target" ] && { SYSTEM_UNITS=$d; break; }
done
if [ -z "$SYSTEM_UNITS" ]; then
	echo "1..0 # SKIP no systemd unit directory with multi-user.target here"
	exit 0
fi

# verify runs man(1) for Documentation=man:meshboot(8): point it at ours.
mkdir -p "$SCRATCH/man/man8" && cp "$SRCDIR/docs/meshboot.8" "$SCRATCH/man/man8/"
VERIFY_MAN=
command -v man >/dev/null 2>&1 || VERIFY_MAN=--man=no

# The configurations: the examples, and two variants made here.
C=$SCRATCH/configs
mkdir -p "$C"
cp "$SRCDIR/cloud-config/all-in-one.yaml" "$C/all-in-one.yaml"
cp "$SRCDIR/cloud-config/control-plane-seed.yaml" "$C/control-plane-seed.yaml"
cp "$SRCDIR/cloud-config/istiod-vm.yaml" "$C/istiod-vm.yaml"
cp "$SRCDIR/cloud-config/workload-vm.yaml" "$C/workload-vm.yaml"
cp "$SRCDIR/tests/corpus/good/everything.yaml" "$C/everything.yaml"   # TPROXY, every role but istiod
# the workload VM in TPROXY mode with its own mark and table, no loopback capture, a virtual interface
awk '/^    mode: REDIRECT$/ {
	print "    mode: TPROXY"; print "    tproxy_mark: 4242"; print "    tproxy_route_table: 142"
	print "    loopback_redirect: false"; print "    virtual_interfaces: [docker0]"; next } { print }' \
	"$SRCDIR/cloud-config/workload-vm.yaml" > "$C/workload-tproxy.yaml"
CONFIGS="all-in-one control-plane-seed istiod-vm workload-vm everything workload-tproxy"

n=0 nr=0
for cfg in $CONFIGS; do
	"$UW" list "$C/$cfg.yaml" > "$C/$cfg.units" || { echo "Bail out! unit-writer list $cfg failed"; exit 1; }
	n=$((n + $(wc -l < "$C/$cfg.units")))
	grep -qx meshboot-redirect.service "$C/$cfg.units" && nr=$((nr + 1))
done
HAVE_JSON=no
command -v python3 >/dev/null 2>&1 && HAVE_JSON=yes
nside=$(cat "$C"/*.units | grep -cx istio-sidecar.service)
plan $((2 * n + 4 * 6 + 3 * nr + nside + 2))

# A scratch root: the distribution's units (for the targets), nothing else.
new_root() {
	R=$SCRATCH/root-$1
	rm -rf "$R"
	mkdir -p "$R/usr/lib/systemd" && cp -R "$SYSTEM_UNITS" "$R/usr/lib/systemd/system"
}

# Stub executables under the root at the paths a unit runs (verify checks
# that they exist).
stub_execs() {
	for key in ExecStartPre ExecStart ExecStop; do
		grep -q "^$key=" "$1" || continue
		p=$("$UW" words "$1" $key | head -n 1)
		mkdir -p "$R${p%/*}"
		[ -e "$R$p" ] || { printf '#!/bin/sh\nexit 0\n' > "$R$p"; chmod 755 "$R$p"; }
	done
}

# Path, kind, mode, inode, mtime and content hash of everything under etc/systemd.
manifest() {
	(cd "$R" && find etc/systemd -printf '%p %y %m %i %T@ %l\n' | sort && find etc/systemd -type f -print0 | sort -z | xargs -0r sha256sum)
}

# The words of a unit's KEY= line, as positional parameters of the caller: use as
#   set -- ; while IFS= read -r w; do set -- "$@" "$w"; done < "$(words_file FILE KEY)"
words_file() { "$UW" words "$1" "$2" > "$SCRATCH/.words" && echo "$SCRATCH/.words"; }

for cfg in $CONFIGS; do
	new_root "$cfg"
	units=$(cat "$C/$cfg.units")

	# install
	if "$UW" install "$R" "$C/$cfg.yaml" > "$SCRATCH/.out" 2>&1 && ! grep -qv ' changed$' "$SCRATCH/.out"; then
		ok "$cfg: installed $(echo $units)"
	else
		not_ok "$cfg: install"; diag "$(cat "$SCRATCH/.out")"
	fi

	# modes and links
	bad=
	for u in $units; do
		f=$R/etc/systemd/system/$u
		[ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %a "$f")" = 644 ] || bad="$bad $u(file)"
		l=$R/etc/systemd/system/multi-user.target.wants/$u
		[ -L "$l" ] && [ "$(readlink "$l")" = "/etc/systemd/system/$u" ] || bad="$bad $u(link)"
	done
	[ -z "$bad" ] && ok "$cfg: unit files 0644, wants links to /etc/systemd/system/UNIT" || not_ok "$cfg: wrong:$bad"

	# a second install changes nothing, not even an mtime
	manifest > "$SCRATCH/before"
	"$UW" install "$R" "$C/$cfg.yaml" > "$SCRATCH/.out" 2>&1
	manifest > "$SCRATCH/after"
	if ! grep -qv ' unchanged$' "$SCRATCH/.out" && cmp -s "$SCRATCH/before" "$SCRATCH/after"; then
		ok "$cfg: second install: unchanged, nothing touched"
	else
		not_ok "$cfg: second install"; diag "$(cat "$SCRATCH/.out")" "$(diff "$SCRATCH/before" "$SCRATCH/after")"
	fi

	for u in $units; do
		f=$R/etc/systemd/system/$u
		stub_execs "$f"
	done
	for u in $units; do
		# verify: exit 0 and not a word (warnings are failures too)
		out=$(MANPATH=$SCRATCH/man systemd-analyze verify $VERIFY_MAN --root="$R" "$u" 2>&1)
		st=$?
		if [ $st -eq 0 ] && [ -z "$out" ]; then ok "$cfg: $u: systemd-analyze verify"; else
			not_ok "$cfg: $u: systemd-analyze verify (exit $st)"; diag "$out"; fi

		# security: the threshold's verdict and the printed level, both
		out=$(systemd-analyze security --offline=yes --root="$R" --threshold=20 "$u" 2>&1)
		st=$?
		score=$(printf '%s\n' "$out" | sed -n "s/^.*Overall exposure level for $u: \([0-9.]*\).*/\1/p")
		if [ $st -eq 0 ] && [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
			ok "$cfg: $u: exposure $score (<= 2.0)"
		else
			not_ok "$cfg: $u: exposure ${score:-?} (exit $st), want <= 2.0"
			diag "$(printf '%s\n' "$out" | grep -v '✓')"
		fi
		[ -n "$score" ] && diag "$cfg: $u: exposure $score"
	done

	# the sidecar's capabilities, as systemd-analyze sees them
	if grep -qx istio-sidecar.service "$C/$cfg.units"; then
		mode=$(sed -n 's/^ExecStart=.* -m \([A-Z]*\) .*/\1/p' "$R/etc/systemd/system/meshboot-redirect.service" 2>/dev/null)
		if [ "$HAVE_JSON" = no ]; then
			skip "$cfg: sidecar capabilities: no python3 to read --json=short"
		else
			systemd-analyze security --offline=yes --root="$R" --json=short istio-sidecar.service > "$SCRATCH/sec.json" 2>&1
			exposed=$(python3 -c '
import json, sys
for t in json.load(open(sys.argv[1])):
    if t["name"].startswith("CapabilityBoundingSet=") and t["exposure"]:
        print(t["name"])' "$SCRATCH/sec.json" 2>&1)
			want=
			[ "$mode" = TPROXY ] && want="CapabilityBoundingSet=~CAP_NET_ADMIN"
			if [ "$exposed" = "$want" ]; then
				ok "$cfg: ${mode:-no redirect} sidecar: capabilities: ${want:-none}"
			else
				not_ok "$cfg: ${mode:-no redirect} sidecar: capabilities exposed: $exposed (want ${want:-none})"
			fi
		fi
	fi

	# the redirect unit's command line means the configuration's rules
	if grep -qx meshboot-redirect.service "$C/$cfg.units"; then
		f=$R/etc/systemd/system/meshboot-redirect.service
		envs=$(sed -n 's/^Environment=//p' "$f")
		set --
		while IFS= read -r w; do set -- "$@" "$w"; done < "$(words_file "$f" ExecStart)"
		exe=$1 verb=$2
		shift 2
		# shellcheck disable=SC2086 # the Environment= words
		env -i $envs "$MESHBOOT" redirect -n "$@" > "$SCRATCH/from-unit" 2> "$SCRATCH/.err"
		st1=$?
		env -i "$MESHBOOT" -c "$C/$cfg.yaml" redirect -n > "$SCRATCH/from-config" 2>> "$SCRATCH/.err"
		st2=$?
		# sbindir/meshboot redirect: where make install (the package: /usr/sbin) put it
		case "$exe $verb" in /*/sbin/meshboot\ redirect) exe_ok=1 ;; *) exe_ok=0 ;; esac
		if [ $exe_ok = 1 ] && [ $st1 -eq 0 ] && [ $st2 -eq 0 ] &&
		   [ -s "$SCRATCH/from-config" ] && cmp -s "$SCRATCH/from-unit" "$SCRATCH/from-config"; then
			ok "$cfg: redirect unit: ExecStart= gives the configuration's rules ($(grep -c '^-A' "$SCRATCH/from-unit") rules)"
		else
			not_ok "$cfg: redirect unit: ExecStart= ($exe $verb $*) does not give the configuration's rules"
			diag "$(cat "$SCRATCH/.err")" "$(diff "$SCRATCH/from-unit" "$SCRATCH/from-config")"
		fi
		"$UW" words "$f" ExecStop > "$SCRATCH/stop"
		{ "$UW" words "$f" ExecStart; echo clean; } > "$SCRATCH/start-clean"
		if cmp -s "$SCRATCH/stop" "$SCRATCH/start-clean"; then ok "$cfg: redirect unit: ExecStop= is ExecStart= clean"
		else not_ok "$cfg: redirect unit: ExecStop= is not ExecStart= clean"; diag "$(diff "$SCRATCH/stop" "$SCRATCH/start-clean")"; fi

		# Really, in a network namespace, inside a sandbox like the unit's:
		# a private read-only /run but for the lock (ExecStartPre= creates
		# it, ReadWritePaths= opens it) and RuntimeDirectory=meshboot, a
		# read-only /, only CAP_NET_ADMIN and CAP_NET_RAW, no new privileges.
		mark=$(printf '%s\n' "$envs" | sed -n 's/^ISTIO_INBOUND_TPROXY_MARK=//p')
		table=$(printf '%s\n' "$envs" | sed -n 's/^ISTIO_INBOUND_TPROXY_ROUTE_TABLE=//p')
		printf '%s\n' "$@" > "$SCRATCH/flags"
		# shellcheck disable=SC2016 # expanded by the inner shell
		out=$(ENVS=$envs MB=$MESHBOOT MARK=${mark:-1337} TABLE=${table:-133} unshare -m -n sh -c '
			set -e
			dir=$1
			mount --make-rprivate /
			mount -t tmpfs tmpfs /run
			touch /run/xtables.lock && mkdir /run/meshboot
			mount --bind /run/xtables.lock /run/xtables.lock
			mount --bind /run/meshboot /run/meshboot
			mount -o bind,remount,ro /run
			mount -o bind,remount,ro /
			set --
			while IFS= read -r w; do set -- "$@" "$w"; done < "$dir/flags"
			! touch /run/x 2>/dev/null || { echo "/run is writable"; exit 1; }
			run() { env -i $ENVS setpriv --inh-caps=-all --bounding-set=-all,+net_admin,+net_raw --no-new-privs "$MB" redirect "$@"; }
			run "$@"
			echo "nat: $(iptables-legacy-save -t nat | grep -c "^-A ISTIO")"
			echo "rule: $(ip -4 rule | grep -c "fwmark $(printf 0x%x "$MARK") lookup $TABLE\$")"
			run "$@" clean
			echo "after clean: $(iptables-legacy-save -t nat | grep -c "^-A ISTIO") $(ip -4 rule | grep -c fwmark)"
		' sh "$SCRATCH" 2>&1 </dev/null)
		st=$?
		case $out in
		*"Operation not permitted"*|*"ermission denied"*|*"unshare failed"*|*"not supported"*|*"can't initialize iptables table"*)
			skip "$cfg: redirect unit in its sandbox: no namespaces or legacy nat table here: $(printf '%s' "$out" | head -n 1)";;
		*)
			want_rule=0
			grep -qx TPROXY "$SCRATCH/flags" && want_rule=1
			if [ $st -eq 0 ] && printf '%s\n' "$out" | grep -qE '^nat: [1-9]' &&
			   printf '%s\n' "$out" | grep -qx "rule: $want_rule" &&
			   printf '%s\n' "$out" | grep -qx 'after clean: 0 0'; then
				ok "$cfg: redirect unit: applies and cleans in its sandbox ($(printf '%s\n' "$out" | grep '^nat:'))"
			else
				not_ok "$cfg: redirect unit in its sandbox (exit $st)"; diag "$out"
			fi;;
		esac
	fi

	# remove
	"$UW" remove "$R" "$C/$cfg.yaml" > "$SCRATCH/.out" 2>&1
	left=$(find "$R/etc/systemd" ! -type d)
	if ! grep -qv ' removed$' "$SCRATCH/.out" && [ -z "$left" ]; then ok "$cfg: removed, nothing left"
	else not_ok "$cfg: remove"; diag "$(cat "$SCRATCH/.out")" "$left"; fi
done

# The checks can fail: a unit with a bad directive does not verify, and a
# unit without the sandbox does not pass the threshold.
new_root sanity
mkdir -p "$R/etc/systemd/system" "$R/opt/x"
printf '#!/bin/sh\n' > "$R/opt/x/run" && chmod 755 "$R/opt/x/run"
printf '[Unit]\nDescription=x\n[Service]\nExecStart=/opt/x/run\nRestart=sometimes\n' > "$R/etc/systemd/system/bad.service"
out=$(systemd-analyze verify $VERIFY_MAN --root="$R" bad.service 2>&1)
[ -n "$out" ] && ok "verify complains about Restart=sometimes" || not_ok "verify says nothing about Restart=sometimes"
printf '[Unit]\nDescription=x\n[Service]\nExecStart=/opt/x/run\n' > "$R/etc/systemd/system/bare.service"
out=$(systemd-analyze security --offline=yes --root="$R" --threshold=20 bare.service 2>&1)
st=$?
[ $st -ne 0 ] && ok "an unsandboxed unit fails --threshold=20 ($(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for bare.service: \([0-9.]*\).*/\1/p'))" ||
	not_ok "an unsandboxed unit passes --threshold=20"
finish

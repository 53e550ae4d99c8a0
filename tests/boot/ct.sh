# A booted Debian 12 container for tests/boot/boot.sh.  Sourced, not run;
# the caller runs in a private mount namespace of its own (boot.sh re-execs
# itself under `unshare --mount`), so every mount made here is gone when the
# test ends, however it ends; the container's PID namespace dies with the
# unshare process that made it (--kill-child).
#
# The root: this machine's Debian 12 system as the read-only lower layer of
# an overlay whose upper layer is a tmpfs of the test's.  Nothing is written
# to the machine's own files: every change lands in the tmpfs.  (The issue
# asks for debootstrap and systemd-nspawn; neither package could be
# installed here, see tests/boot/README.md.)
#
# The boot: tests/boot/ct-init makes the namespaces and mounts that
# systemd-nspawn -b --private-network would and execs systemd as PID 1, in a
# network namespace the test made and in a cgroup of its own.
#
#   ct_root DIR           DIR/root: a fresh root (overlay over /, upper layer
#                         a tmpfs at DIR/layer), the machine's own enabled
#                         services masked, a new machine-id
#   ct_start DIR NS LOG   boot DIR/root in network namespace NS; sets CT_PID
#                         (the container's PID 1 as this side sees it)
#   ct_exec CMD...        run CMD inside the running container
#   ct_wait SECONDS       wait until systemd has finished starting up (every
#                         start-up job done: cloud-init's too); prints
#                         is-system-running's answer
#   ct_stop               power the container off (SIGRTMIN+4 to its PID 1);
#                         after 30 s, kill everything in its cgroup and
#                         return 1

CT_INIT=${CT_INIT:-$(dirname "${BASH_SOURCE[0]}")/ct-init}
CT_PID= CT_UNSHARE= CT_CG= CT_N=0

# The cgroup2 hierarchy the container's systemd gets a subtree of: the
# machine's unified hierarchy (pure cgroup2, or "unified" beside cgroup1),
# else one mounted here (only in this test's mount namespace).
ct_cgroup2() {
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo /sys/fs/cgroup
	elif [ -d /sys/fs/cgroup/unified ] && [ "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs ]; then
		echo /sys/fs/cgroup/unified
	else
		mkdir -p "$SCRATCH/cgroup2" && mount -t cgroup2 cgroup2 "$SCRATCH/cgroup2" && echo "$SCRATCH/cgroup2"
	fi
}

ct_root() {
	mkdir -p "$1/layer" "$1/root"
	mount -t tmpfs -o mode=755 tmpfs "$1/layer" || return 1
	mkdir "$1/layer/upper" "$1/layer/work"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$1/layer/upper,workdir=$1/layer/work" "$1/root" || return 1
	local r=$1/root u
	# This machine's own services (its database server, timers, gettys)
	# are not the test's business: masked.  cloud-init's four stay.
	for u in $(find /etc/systemd/system -mindepth 2 -maxdepth 2 -path '*.wants/*' -printf '%f\n' | sort -u) \
		console-getty.service; do
		case $u in cloud-init-local.service|cloud-init.service|cloud-config.service|cloud-final.service) continue ;; esac
		ln -sfn /dev/null "$r/etc/systemd/system/$u"
	done
	# a machine-id of its own, as a new image gets at its first boot
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$r/etc/machine-id" && echo >> "$r/etc/machine-id"
	# cloud-init: NoCloud only; it leaves the network (set up by the test)
	# and the locale (this machine generates none) alone
	mkdir -p "$r/etc/cloud/cloud.cfg.d"
	printf 'datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\nlocale: false\n' > "$r/etc/cloud/cloud.cfg.d/99-meshboot-test.cfg"
	# no resolver but the container's own loopback: a name lookup never
	# leaves for the machine's DNS server
	rm -f "$r/etc/resolv.conf" && echo 'nameserver 127.0.0.1' > "$r/etc/resolv.conf"
	# whatever of meshboot's the machine itself may hold is not the image's
	rm -rf "$r/etc/certs" "$r/etc/cacerts" "$r/etc/meshboot" "$r/etc/istio" "$r/opt/meshboot" \
		"$r/var/lib/meshboot" "$r/var/cache/meshboot" "$r/var/lib/istio" "$r/etc/sysusers.d/meshboot.conf"
	rm -rf "$r/var/lib/cloud" "$r/var/log/cloud-init.log" "$r/var/log/cloud-init-output.log" "$r/var/log/journal"
	mkdir -p "$r/var/log/journal"
}

ct_start() {
	local cg2
	cg2=$(ct_cgroup2) || return 1
	CT_N=$((CT_N + 1))
	CT_CG=$cg2/meshboot-boot-$$-$CT_N
	mkdir "$CT_CG" || return 1
	(echo "$BASHPID" > "$CT_CG/cgroup.procs" &&
		exec ip netns exec "$2" unshare --mount --pid --uts --ipc --cgroup --fork --kill-child --propagation private \
			"$CT_INIT" "$1/root") > "$3" 2>&1 &
	CT_UNSHARE=$!
	local i=0 p
	CT_PID=
	while [ $i -lt 100 ]; do
		p=$(ps -o pid= --ppid "$CT_UNSHARE" 2>/dev/null | tr -d ' ')
		if [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then CT_PID=$p; return 0; fi
		kill -0 "$CT_UNSHARE" 2>/dev/null || break
		sleep 0.05; i=$((i + 1))
	done
	echo "ct_start: the container's systemd did not start: $(cat "$3")" >&2
	return 1
}

ct_exec() {
	timeout 120 nsenter -t "$CT_PID" -m -u -i -n -p -C -r -w -- \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"
}

ct_wait() {
	local i=0 st
	while [ $i -lt $(($1 * 10)) ]; do
		st=$(ct_exec systemctl is-system-running 2>/dev/null)
		case $st in running|degraded|maintenance|stopping) echo "$st"; return 0 ;; esac
		sleep 0.1; i=$((i + 1))
	done
	echo "${st:-no answer}"
	return 1
}

_ct_cg_kill() {
	[ -n "$CT_CG" ] && [ -d "$CT_CG" ] || return 0
	if [ -e "$CT_CG/cgroup.kill" ]; then echo 1 > "$CT_CG/cgroup.kill" 2>/dev/null
	else find "$CT_CG" -name cgroup.procs -exec cat {} + | xargs -r kill -9 2>/dev/null; fi
}

ct_stop() {
	[ -n "$CT_UNSHARE" ] || return 0
	[ -n "$CT_PID" ] && kill -s RTMIN+4 "$CT_PID" 2>/dev/null
	local i=0
	while kill -0 "$CT_UNSHARE" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	local forced=0
	kill -0 "$CT_UNSHARE" 2>/dev/null && { forced=1; _ct_cg_kill; kill -9 "$CT_UNSHARE" 2>/dev/null; }
	wait "$CT_UNSHARE" 2>/dev/null
	_ct_cg_kill
	i=0
	while [ -d "$CT_CG" ] && ! find "$CT_CG" -depth -type d -exec rmdir {} + 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	CT_PID= CT_UNSHARE= CT_CG=
	return $forced
}


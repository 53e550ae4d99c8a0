#!/bin/bash
# Benchmark: applying the sidecar redirect rules in a fresh network namespace
# with (a) meshboot redirect (libiptc, one commit per table), (b)
# iptables-legacy-restore --noflush fed the same rules, and (c) the
# istio-iptables.sh way: one iptables process per rule.  Sizes: the default
# VM rule set; 10, 100 and 1000 excluded CIDRs; a nat table already holding
# 10,000 foreign rules.  Prints the median wall time of each and the ratios.
# Runs as root; everything happens in namespaces it creates and deletes.
# usage: bench/redirect.sh [MESHBOOT]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-$top/_build/plain/src/meshboot}
for t in hyperfine ip iptables-legacy-restore python3; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
tmp=$(mktemp -d)
ns=mbbench-$$
export XTABLES_LOCKFILE=$tmp/xtables.lock MESHBOOT_RUNTIME_DIR=$tmp/run
mkdir -p "$MESHBOOT_RUNTIME_DIR"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# A fresh namespace before every timed run; with foreign rules loaded when asked.
cat > "$tmp/reset" <<RESET
#!/bin/sh
ip netns del $ns 2>/dev/null
ip netns add $ns || exit 1
[ -s "$tmp/foreign" ] && ip netns exec $ns iptables-legacy-restore < "$tmp/foreign"
exit 0
RESET
chmod +x "$tmp/reset"

# $1: number of excluded CIDRs -> flags
flags() {
	local x="" i
	for ((i = 0; i < $1; i++)); do x="$x${x:+,}10.$((i / 250)).$((i % 250)).0/24"; done
	echo "-b * -d 8080 -i * -o 3306${x:+ -x $x}"
}

# The same rules as restore input and as one command per rule.
prepare_inputs() {
	set -f
	"$mb" redirect -n $(flags "$1") > "$tmp/rules.txt"
	set +f
	awk '/^# ip6tables/{f=6} /^# iptables/{f=4} !/^#/ { print > (f == 4 ? "'"$tmp"'/v4.rules" : "'"$tmp"'/v6.rules") }' "$tmp/rules.txt"
	python3 - "$tmp" <<'PY'
import sys, shlex
tmp = sys.argv[1]
with open(f"{tmp}/per-rule.sh", "w") as out:
    out.write("#!/bin/sh\nset -e\n")
    for fam, tool in (("v4", "iptables-legacy"), ("v6", "ip6tables-legacy")):
        table = None
        for line in open(f"{tmp}/{fam}.rules"):
            line = line.strip()
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":ISTIO"):
                out.write(f"{tool} -w -t {table} -N {line[1:].split()[0]}\n")
            elif line.startswith("-A"):
                out.write(f"{tool} -w -t {table} {line}\n")
PY
	chmod +x "$tmp/per-rule.sh"
}

foreign_rules() { # $1 rules in a KUBE-like chain, jumped to from PREROUTING
	{
		echo "*nat"
		echo ":KUBE-SERVICES - [0:0]"
		echo "-A PREROUTING -j KUBE-SERVICES"
		for ((i = 0; i < $1; i++)); do
			echo "-A KUBE-SERVICES -d 10.96.$((i / 250)).$((i % 250))/32 -p tcp -m tcp --dport 80 -j RETURN"
		done
		echo "COMMIT"
	} > "$tmp/foreign"
}

results=()
run_case() { # name cidrs foreign runs
	local name=$1
	prepare_inputs "$2"
	if [ "$3" -gt 0 ]; then foreign_rules "$3"; else : > "$tmp/foreign"; fi
	local n
	n=$(grep -c '^-A' "$tmp/v4.rules" "$tmp/v6.rules" | awk -F: '{s += $2} END {print s}')
	hyperfine -N --runs "$4" --prepare "$tmp/reset" --export-json "$tmp/$name.json" \
		-n meshboot "ip netns exec $ns $mb -q redirect $(flags "$2" | sed 's/\*/"*"/g')" \
		-n restore "ip netns exec $ns sh -c 'iptables-legacy-restore --noflush < $tmp/v4.rules && ip6tables-legacy-restore --noflush < $tmp/v6.rules'" \
		-n per-rule "ip netns exec $ns $tmp/per-rule.sh" >/dev/null
	results+=("$name:$n:$tmp/$name.json")
}

run_case default 0 0 10
run_case cidr-10 10 0 10
run_case cidr-100 100 0 5
run_case cidr-1000 1000 0 3
run_case foreign-10k 0 10000 5

python3 - "${results[@]}" <<'PY'
import json, sys
print(f"{'case':<13}{'rules':>6}{'meshboot':>11}{'restore':>11}{'per-rule':>11}{'restore/mb':>12}{'per-rule/mb':>13}")
for arg in sys.argv[1:]:
    name, n, path = arg.split(":", 2)
    r = {x["command"]: x["median"] for x in json.load(open(path))["results"]}
    mb, rs, pr = r["meshboot"], r["restore"], r["per-rule"]
    print(f"{name:<13}{n:>6}{mb*1000:>9.1f}ms{rs*1000:>9.1f}ms{pr*1000:>9.1f}ms{rs/mb:>11.2f}x{pr/mb:>12.1f}x")
PY

#!/bin/sh
# make demo: what meshboot would do on the all-in-one proof of concept.
# (Until the provisioning pipeline lands this shows validate and plan; it
# touches nothing on this host.)
set -eu
meshboot=${1:?usage: demo.sh MESHBOOT}
top=$(cd "$(dirname "$0")/.." && pwd)
ex="$top/cloud-config/all-in-one.yaml"
echo "== meshboot validate --config cloud-config/all-in-one.yaml"
"$meshboot" --config "$ex" validate
echo
echo "== meshboot plan --config cloud-config/all-in-one.yaml"
"$meshboot" --config "$ex" plan
echo
echo "== a typo in user-data is reported with its place, and nothing runs:"
sed 's/inbound_ports:/inbound_prots:/; s/ipv6: false/ipv6: nope/' "$ex" | "$meshboot" --config - validate || echo "(exit status $?)"

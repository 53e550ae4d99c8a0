#!/bin/sh
# The command line: help, version, usage errors and their sysexits codes,
# --format, and that validate/plan change nothing on disk.
. "$SRCDIR/tests/integration/lib.sh"
plan 18
EX="$SRCDIR/cloud-config/all-in-one.yaml"

expect_status "--help exits 0" 0 "$MESHBOOT" --help
last_output | grep -q '^Usage: meshboot \[OPTIONS\] COMMAND' && ok "--help prints usage" || not_ok "--help prints usage"
expect_status "--version exits 0" 0 "$MESHBOOT" --version
last_output | grep -Eq '^meshboot [0-9]+\.[0-9]+\.[0-9]+$' && ok "--version prints the version" || not_ok "--version prints the version"
expect_status "no command is a usage error (64)" 64 "$MESHBOOT"
expect_status "unknown command is a usage error (64)" 64 "$MESHBOOT" frobnicate
expect_status "unknown option is a usage error (64)" 64 "$MESHBOOT" --frob validate
expect_status "relative --root is a usage error (64)" 64 "$MESHBOOT" --root relative -c "$EX" validate
expect_status "bad --format is a usage error (64)" 64 "$MESHBOOT" --format xml -c "$EX" validate
expect_status "extra argument is a usage error (64)" 64 "$MESHBOOT" -c "$EX" validate extra
expect_status "missing --config file: no input (66)" 66 "$MESHBOOT" -c "$SCRATCH/nope.yaml" validate
expect_status "invalid configuration: data error (65)" 65 "$MESHBOOT" -c "$SRCDIR/tests/corpus/bad/values.yaml" validate

# validate --format json is one JSON document
"$MESHBOOT" --format json -c "$EX" validate > "$SCRATCH/v.json" &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["valid"] and d["roles"]==["sidecar","pilot","mixer","citadel"]' "$SCRATCH/v.json" &&
	ok "validate --format json" || not_ok "validate --format json"

# validate --format json on invalid input: the errors as data, exit 65
"$MESHBOOT" --format json -c "$SRCDIR/tests/corpus/bad/typo-key.yaml" validate > "$SCRATCH/e.json" 2>/dev/null
st=$?
python3 - "$SCRATCH/e.json" <<'PY' && [ $st = 65 ] && ok "validate --format json reports errors as JSON" || not_ok "validate --format json reports errors as JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is False and d["more"] == 0
e = d["errors"][0]
assert (e["line"], e["column"]) == (6, 5), e
assert e["message"].startswith('unknown key "discovery_adress" in mesh'), e
PY

# plan --format json parses and lists steps in order
"$MESHBOOT" --format json -c "$EX" plan > "$SCRATCH/p.json" &&
	python3 - "$SCRATCH/p.json" <<'PY' && ok "plan --format json is valid JSON with ordered steps" || not_ok "plan --format json is valid JSON with ordered steps"
import json, sys
d = json.load(open(sys.argv[1]))
kinds = [s["kind"] for s in d["steps"]]
order = ["manifest", "fetch", "user", "directory", "file", "unit", "certificate", "redirect", "enable", "record"]
assert kinds[0] == "manifest" and kinds[-1] == "record", kinds
assert [k for k in order if k in kinds] == sorted(set(kinds), key=order.index), kinds
assert any(s["kind"] == "redirect" and "-A ISTIO_OUTPUT" in s.get("text", "") for s in d["steps"])
PY

# plan is deterministic
"$MESHBOOT" -c "$EX" plan > "$SCRATCH/p1.txt" && "$MESHBOOT" -c "$EX" plan > "$SCRATCH/p2.txt" &&
	cmp -s "$SCRATCH/p1.txt" "$SCRATCH/p2.txt" && ok "plan output is deterministic" || not_ok "plan output is deterministic"

# validate and plan on a --root change nothing under it
root="$SCRATCH/root"
mkdir -p "$root/etc/meshboot" "$root/var/lib/cloud/instance"
cp "$EX" "$root/etc/meshboot/meshboot.yaml"
tree_manifest "$root" > "$SCRATCH/before"
"$MESHBOOT" --root "$root" --cmdline /dev/null validate >/dev/null 2>&1
"$MESHBOOT" --root "$root" --cmdline /dev/null plan >/dev/null 2>&1
"$MESHBOOT" --root "$root" --cmdline /dev/null -c "$SRCDIR/tests/corpus/bad/values.yaml" validate >/dev/null 2>&1
tree_manifest "$root" > "$SCRATCH/after"
cmp -s "$SCRATCH/before" "$SCRATCH/after" && ok "validate and plan leave --root untouched" || not_ok "validate and plan leave --root untouched"

# -q silences the success line; errors still print
out=$("$MESHBOOT" -q -c "$EX" validate 2>&1)
[ -z "$out" ] && ok "-q prints nothing on success" || not_ok "-q prints nothing on success"
finish

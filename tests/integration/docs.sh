#!/bin/sh
# The documentation stays true: man pages lint clean, every option and
# command of --help is in meshboot(8), every key of the schema tables in
# src/config-parse.c is in meshboot.yaml(5).
. "$SRCDIR/tests/integration/lib.sh"
plan 6
for m in meshboot.8 meshboot.yaml.5; do
	out=$(groff -man -Tutf8 -ww -z "$SRCDIR/docs/$m" 2>&1)
	[ -z "$out" ] && ok "$m: groff -ww is silent" || { not_ok "$m: groff -ww is silent"; diag "$out"; }
done

"$MESHBOOT" --help > "$SCRATCH/help"
missing=""
for o in $(grep -Eo -- '--[a-z][a-z-]+' "$SCRATCH/help" | sort -u); do
	esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
	grep -q -- "$esc" "$SRCDIR/docs/meshboot.8" || missing="$missing $o"
done
[ -z "$missing" ] && ok "every --help option is in meshboot(8)" || not_ok "options missing from meshboot(8):$missing"

"$MESHBOOT" redirect -h > "$SCRATCH/rhelp"
missing=""
for o in $(grep -Eo -- '(^|[ [])-[a-z]\b|--[a-z][a-z0-9-]+' "$SCRATCH/rhelp" | tr -d ' [' | sort -u); do
	esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
	grep -q -- "$esc" "$SRCDIR/docs/meshboot.8" || missing="$missing $o"
done
[ -z "$missing" ] && ok "every redirect flag is in meshboot(8)" || not_ok "redirect flags missing from meshboot(8):$missing"

missing=""
for c in $(sed -n '/^Commands:/,/^$/p' "$SCRATCH/help" | awk '/^  [a-z]/ { print $1 }'); do
	grep -Eq "^\.(B|TP|SS|IP).*\b$c\b" "$SRCDIR/docs/meshboot.8" || missing="$missing $c"
done
[ -z "$missing" ] && ok "every command is in meshboot(8)" || not_ok "commands missing from meshboot(8):$missing"

missing=""
for k in $(grep -o '{ "[a-z_0-9]*", f_' "$SRCDIR/src/config-parse.c" | sed 's/{ "\(.*\)", f_/\1/' | sort -u); do
	grep -Eq "^\.(BR?|SS) $k( |\$)" "$SRCDIR/docs/meshboot.yaml.5" || missing="$missing $k"
done
[ -z "$missing" ] && ok "every schema key is in meshboot.yaml(5)" || not_ok "keys missing from meshboot.yaml(5):$missing"
finish

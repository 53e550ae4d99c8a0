#!/bin/sh
# Replays each fuzz harness's corpus (and, for the configuration parser, the
# hostile corpus and the examples) through the harness, built as a plain
# replay driver unless --enable-fuzzing: a crash, leak or sanitizer report
# fails the test.
. "$SRCDIR/tests/integration/lib.sh"
F="$SRCDIR/tests/fuzz/corpus"
inputs() {
	case $1 in
	config) find "$F/config" "$SRCDIR/tests/corpus" "$SRCDIR/cloud-config" -type f ! -name '*.expect' ! -name '*.sh' ;;
	*) find "$F/$1" -type f ;;
	esac | sort
}
if "$BUILDDIR/tests/fuzz/fuzz_config" -help=1 >/dev/null 2>&1; then
	# libFuzzer binaries: run each corpus once
	plan 7
	for h in config redirect netlink manifest status istioca certs; do
		check "libFuzzer replay of the $h corpus" "$BUILDDIR/tests/fuzz/fuzz_$h" -runs=0 $(inputs $h)
	done
	finish
fi
# replay drivers print TAP for their own inputs: one plan for all three
total=0
for h in config redirect netlink manifest status istioca certs; do total=$((total + $(inputs $h | wc -l))); done
plan $total
for h in config redirect netlink manifest status istioca certs; do
	"$BUILDDIR/tests/fuzz/fuzz_$h" $(inputs $h) > "$SCRATCH/$h.tap" 2>&1
	st=$?
	# a crash stops the driver: every input it did not reach fails
	reached=0
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "fuzz_$h: ${line#ok * - }"; reached=$((reached + 1)) ;;
		"not ok "*) not_ok "fuzz_$h: ${line#not ok * - }"; reached=$((reached + 1)) ;;
		esac
	done < "$SCRATCH/$h.tap"
	want=$(inputs $h | wc -l)
	while [ $reached -lt $want ]; do
		not_ok "fuzz_$h: input $((reached + 1)) not reached (driver exit $st)"
		reached=$((reached + 1))
	done
	[ $st -eq 0 ] || diag "$(tail -n 20 "$SCRATCH/$h.tap")"
done
finish

#!/bin/sh
# Replays the fuzz corpus and the parser's hostile corpus through the fuzz
# harness (built as a plain replay driver unless --enable-fuzzing): a crash,
# leak or sanitizer report fails the test.
. "$SRCDIR/tests/integration/lib.sh"
h="$BUILDDIR/tests/fuzz/fuzz_config"
files=$(find "$SRCDIR/tests/fuzz/corpus/config" "$SRCDIR/tests/corpus" "$SRCDIR/cloud-config" -type f ! -name '*.expect' ! -name '*.sh' | sort)
if "$h" -help=1 >/dev/null 2>&1; then
	# a libFuzzer binary: run each input once
	plan 1
	check "libFuzzer replay of $(echo "$files" | wc -l) inputs" "$h" -runs=0 $files
else
	"$h" $files
	exit $?
fi
finish

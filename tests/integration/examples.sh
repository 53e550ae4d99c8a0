#!/bin/sh
# Every cloud-config/ example passes meshboot validate and cloud-init's own
# schema check, as written, wrapped by cloud-init devel make-mime, and gzipped.
. "$SRCDIR/tests/integration/lib.sh"
cd "$SRCDIR/cloud-config" || exit 1
files=$(find . -name '*.yaml' | sort)
n=$(echo "$files" | wc -l)
plan $((n * 4 + 1))
if ! command -v cloud-init >/dev/null; then
	echo "Bail out! cloud-init is not installed (apt-get install cloud-init)"
	exit 1
fi
for f in $files; do
	check "$f: meshboot validate" "$MESHBOOT" -q -c "$f" validate
	check "$f: cloud-init schema" cloud-init schema --config-file "$f"
	mime="$SCRATCH/$(basename "$f").mime"
	if case "$f" in ./multipart/*) true;; *) false;; esac; then
		cloud-init devel make-mime -a "$f:cloud-config" -a multipart/setup.sh:x-shellscript > "$mime"
	else
		cloud-init devel make-mime -a "$f:cloud-config" > "$mime"
	fi
	check "$f: meshboot validate after make-mime" "$MESHBOOT" -q -c "$mime" validate
	gzip -c "$mime" > "$mime.gz"
	check "$f: meshboot validate after make-mime and gzip" "$MESHBOOT" -q -c "$mime.gz" validate
done
# Every example plans (the plan uses every part of the configuration).
fails=0
for f in $files; do "$MESHBOOT" -c "$f" plan > /dev/null 2>"$SCRATCH/err" || { fails=1; diag "$f: $(cat "$SCRATCH/err")"; }; done
[ $fails = 0 ] && ok "every example plans" || not_ok "every example plans"
finish

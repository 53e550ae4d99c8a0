#!/bin/sh
# Regenerates the binary and MIME corpus cases (committed; run by hand when
# they need to change).  Uses cloud-init's own make-mime and gzip.
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
printf '#!/bin/sh\necho setup\n' > "$t/setup.sh"
cp good/minimal-sidecar.yaml "$t/meshboot.yaml"
printf '#cloud-config\npackages: [curl]\n' > "$t/other.yaml"
# meshboot's part beside a shell script (7bit: line numbers map to the file)
mime() { (cd "$t" && cloud-init devel make-mime "$@"); }
mime -a setup.sh:x-shellscript -a meshboot.yaml:cloud-config > good/mime.txt
# non-ASCII content makes Python's email module base64-encode the part
sed 's/# The smallest useful workload VM./# Die kleinste VM — ünïcödé./' good/minimal-sidecar.yaml > "$t/utf8.yaml"
mime -a utf8.yaml:cloud-config > good/mime-base64.txt
gzip -9n < good/minimal-sidecar.yaml > good/cloud-config.gz
gzip -9n < good/mime.txt > good/mime.gz
# errors in a 7bit MIME part are reported at the line of the whole file
sed 's/version: 1$/version: 7/' good/minimal-sidecar.yaml > "$t/bad.yaml"
# A hand-written 7bit multipart (as write-mime-multipart and most tools emit
# it for ASCII): errors in its part are reported at the line of the whole file.
seven() { printf 'Content-Type: multipart/mixed; boundary="XXBOUNDARY"\nMIME-Version: 1.0\n\n--XXBOUNDARY\nContent-Type: text/x-shellscript\n\n'; cat "$t/setup.sh"; printf '\n--XXBOUNDARY\nContent-Type: text/cloud-config; charset="us-ascii"\nContent-Transfer-Encoding: 7bit\n\n'; cat "$1"; printf '\n--XXBOUNDARY--\n'; }
seven "$t/meshboot.yaml" > good/mime-7bit.txt
seven "$t/bad.yaml" > bad/mime-error-line.txt
mime -a meshboot.yaml:cloud-config -a meshboot.yaml:cloud-config > bad/mime-two-parts.txt
mime -a setup.sh:x-shellscript -a other.yaml:cloud-config > bad/mime-no-meshboot.txt
sed 's/^Content-Type: multipart\/mixed; boundary="\(.*\)"/Content-Type: multipart\/mixed; boundary="wrong\1"/' good/mime.txt > bad/mime-wrong-boundary.txt
head -n 12 good/mime.txt > bad/mime-truncated.txt
head -c 150 good/cloud-config.gz > bad/truncated.gz
# 16 MiB of spaces: a gzip bomb against the 1 MiB cap
head -c 16777216 /dev/zero | tr '\0' ' ' | gzip -9n > bad/bomb.gz

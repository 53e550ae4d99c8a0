#!/bin/sh
# Where the configuration comes from, in order, all under --root: the kernel
# command line, /etc/meshboot/meshboot.yaml, cloud-init's user-data; stdin;
# size caps; URLs (not accepted until the fetcher exists).
. "$SRCDIR/tests/integration/lib.sh"
plan 20
C="$SRCDIR/tests/corpus/good"
root="$SCRATCH/root"
mkdir -p "$root/etc/meshboot" "$root/var/lib/cloud/instance" "$root/proc" "$root/srv"

roles() { "$MESHBOOT" --format json "$@" validate 2>"$SCRATCH/err" | python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["roles"]))'; }

expect_status "nothing configured: no input (66)" 66 "$MESHBOOT" --root "$root" validate
last_output | grep -q "no configuration found: looked at meshboot.config= on the kernel command line ($root/proc/cmdline), $root/etc/meshboot/meshboot.yaml and $root/var/lib/cloud/instance/user-data.txt" &&
	ok "the error lists every place looked at" || not_ok "the error lists every place looked at"

cp "$C/mime.txt" "$root/var/lib/cloud/instance/user-data.txt"
[ "$(roles --root "$root")" = sidecar ] && ok "cloud-init user-data (MIME) is read last" || not_ok "cloud-init user-data (MIME) is read last"

cp "$C/plain.yaml" "$root/etc/meshboot/meshboot.yaml"
[ "$(roles --root "$root")" = pilot ] && ok "/etc/meshboot/meshboot.yaml wins over user-data" || not_ok "/etc/meshboot/meshboot.yaml wins over user-data"

cp "$C/everything.yaml" "$root/srv/mesh.yaml"
echo "BOOT_IMAGE=/vmlinuz root=/dev/vda1 meshboot.config=/srv/mesh.yaml quiet" > "$root/proc/cmdline"
[ "$(roles --root "$root")" = "sidecar,pilot,mixer,citadel,apiserver,etcd" ] &&
	ok "kernel command line (under --root) wins over the files" || not_ok "kernel command line (under --root) wins over the files"

echo "quiet meshboot.config=/srv/missing.yaml" > "$SCRATCH/cmdline"
expect_status "--cmdline FILE overrides /proc/cmdline; its missing target is no input (66)" 66 "$MESHBOOT" --root "$root" --cmdline "$SCRATCH/cmdline" validate
last_output | grep -q "$root/srv/missing.yaml: No such file or directory" && ok "the missing path is named" || not_ok "the missing path is named"

echo "meshboot.config=http://127.0.0.1:1/user-data" > "$SCRATCH/cmdline"
expect_status "a plain http:// configuration URL without a pin is refused (69)" 69 "$MESHBOOT" --root "$root" --cmdline "$SCRATCH/cmdline" validate
last_output | grep -q "needs a SHA-256 pin" && ok "the refusal names the missing pin" || not_ok "the refusal names the missing pin"
pin=$(sha256sum "$C/plain.yaml" | cut -d' ' -f1)
echo "meshboot.config=file://$C/plain.yaml meshboot.config_sha256=$pin" > "$SCRATCH/cmdline"
[ "$(roles --root "$root" --cmdline "$SCRATCH/cmdline")" = pilot ] && ok "a pinned URL on the kernel command line goes through the fetcher" || not_ok "a pinned URL on the kernel command line goes through the fetcher"
echo "meshboot.config=file://$C/plain.yaml meshboot.config_sha256=$(echo "$pin" | tr 0-9a-f 1-9a-f0)" > "$SCRATCH/cmdline"
expect_status "a configuration that does not match its pin is refused (65)" 65 "$MESHBOOT" --root "$root" --cmdline "$SCRATCH/cmdline" validate
last_output | grep -q "sha256 mismatch: expected" && ok "the mismatch names both digests" || not_ok "the mismatch names both digests"
expect_status "--config URL with --config-sha256" 0 "$MESHBOOT" -q --config "file://$C/plain.yaml" --config-sha256 "$pin" validate

[ "$(roles -c - < "$C/cloud-config.gz")" = sidecar ] && ok "--config - reads gzip user-data from stdin" || not_ok "--config - reads gzip user-data from stdin"

head -c 1048577 /dev/zero | tr '\0' '#' > "$SCRATCH/big.yaml"
expect_status "a file over 1 MiB is refused (65)" 65 "$MESHBOOT" -c "$SCRATCH/big.yaml" validate
expect_status "a directory is not a configuration (66)" 66 "$MESHBOOT" -c "$root/etc" validate

ln -s "$C/plain.yaml" "$SCRATCH/link.yaml"
expect_status "a symlink as the configuration is refused (O_NOFOLLOW, 66)" 66 "$MESHBOOT" -c "$SCRATCH/link.yaml" validate
last_output | grep -q "link.yaml: is a symbolic link; meshboot does not follow links" && ok "the refusal says why" || not_ok "the refusal says why"

# cloud-init's /var/lib/cloud/instance is an absolute symlink: under --root it
# must resolve inside the root, never to the host's own user-data.
r2="$SCRATCH/root2"
mkdir -p "$r2/var/lib/cloud/instances/meshboot-test-iid"
ln -s /var/lib/cloud/instances/meshboot-test-iid "$r2/var/lib/cloud/instance"
cp "$C/plain.yaml" "$r2/var/lib/cloud/instances/meshboot-test-iid/user-data.txt"
[ "$(roles --root "$r2" --cmdline /dev/null)" = pilot ] && ok "absolute symlinks resolve inside --root" || not_ok "absolute symlinks resolve inside --root"
echo "meshboot.config=/../../../../etc/hostname" > "$SCRATCH/cmdline"
expect_status "a path cannot climb out of --root (66)" 66 "$MESHBOOT" --root "$r2" --cmdline "$SCRATCH/cmdline" validate
finish

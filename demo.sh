#!/usr/bin/env bash
# The main job, end to end, on this machine. Builds imgtrust, starts a private registry and an
# nginx lookaside on 127.0.0.1 (with WebDAV PUT), writes a trust policy with imgtrust, pushes and
# signs a small image built here in one `imgsign push` (the signature published to the web
# lookaside by HTTP PUT and verified there), pushes another unsigned, and shows imgverify (and
# skopeo, with the same files) accepting the signed image and rejecting the other. Then an
# unprivileged user (imgtrust-demo, created with a subordinate ID range, or reused) pulls the
# signed image into its own store and lists it; its pull of the unsigned one is refused; and runs
# it with imgrun: rootless, podman's capabilities, seccomp with the socket-family filter,
# no_new_privs, masked /proc paths, as a probe inside reports.
# Everything lives in a scratch directory; the services stop at the end.
set -euo pipefail
cd "$(dirname "$0")"
SRC=$PWD
bash .ci/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
BIN=$SRC/build

W=$(mktemp -d /tmp/imgtrust-demo.XXXXXX)
chmod 755 "$W" # nginx's workers read the lookaside below it
export IT_SERVICES_DIR=$W/services BATS_TEST_TMPDIR=$W
bats_require_minimum_version() { :; } # the helpers are shared with the bats suites
# shellcheck source=tests/lib/common.bash
source "$SRC/tests/lib/common.bash"
# shellcheck source=tests/lib/services.bash
source "$SRC/tests/lib/services.bash"
# shellcheck source=tests/lib/run.bash
source "$SRC/tests/lib/run.bash"
export IMGTRUST_SRC=$SRC
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
cleanup() {
	stop_services >/dev/null 2>&1 || true
	gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	local rc=0
	"$@" || rc=$?
	[ "$rc" -eq 0 ] || printf '(exit %d)\n' "$rc"
	return 0
}

step "a release key, a registry and a lookaside web server"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Release Bot <release@example.test>' ed25519 sign never 2>/dev/null
FPR=$(gpg --with-colons --list-keys release@example.test | awk -F: '/^fpr/ {print $10; exit}')
gpg --export --armor release@example.test >"$W/release.asc"
mkdir -p "$W/sigstore"
start_registry >/dev/null
start_nginx "$W/sigstore" >/dev/null
echo "registry $REGISTRY, lookaside $LOOKASIDE_URL, key $FPR"
# the image to sign and run: busybox and a small static probe that reports from inside
run_probe_build "$W/bin" >/dev/null
run_image_layout "$W/web" latest >/dev/null
make_oci_layout "$W/unsigned" "nobody signed me"
mkdir -p "$W/registries.d"
cat >"$W/registries.d/local.yaml" <<YAML
docker:
  $REGISTRY:
    lookaside: $LOOKASIDE_URL
    lookaside-staging: $LOOKASIDE_URL
YAML
P=(--policy "$W/policy.json" --registries.d "$W/registries.d")

step "trust: reject by default, require the release key for $REGISTRY/apps"
run "$BIN/imgtrust" "${P[@]}" set -t reject default
run "$BIN/imgtrust" "${P[@]}" set -t signedBy -f "$W/release.asc" "$REGISTRY/apps"
run "$BIN/imgtrust" "${P[@]}" show
run "$BIN/imgtrust" "${P[@]}" check "docker://$REGISTRY/apps/web:1.0"

step "push and sign in one step: the signature goes to the lookaside by HTTP PUT and is read back"
run "$BIN/imgsign" push --sign-by "$FPR" --registries.d "$W/registries.d" --dest-tls-verify=false \
	"oci:$W/web:latest" "docker://$REGISTRY/apps/web:1.0"
run "$BIN/imgsign" push --registries.d "$W/registries.d" --dest-tls-verify=false \
	"oci:$W/unsigned:latest" "docker://$REGISTRY/apps/unsigned:1.0"

step "verify: the signed image is accepted, the unsigned one rejected"
run "$BIN/imgverify" "${P[@]}" --tls-verify=false "docker://$REGISTRY/apps/web:1.0"
run "$BIN/imgverify" "${P[@]}" --tls-verify=false "docker://$REGISTRY/apps/unsigned:1.0"

step "skopeo agrees, with the same files"
run skopeo copy -q --src-tls-verify=false --policy "$W/policy.json" --registries.d "$W/registries.d" \
	"docker://$REGISTRY/apps/web:1.0" "dir:$W/copy-web"
run skopeo copy -q --src-tls-verify=false --policy "$W/policy.json" --registries.d "$W/registries.d" \
	"docker://$REGISTRY/apps/unsigned:1.0" "dir:$W/copy-unsigned"

step "pull as an unprivileged user: verified first, then unpacked in a user namespace"
# shellcheck source=tests/lib/users.bash
source "$SRC/tests/lib/users.bash"
skip() { echo "skipped: $*"; exit 0; }
IMGTRUST_TEST_USER=imgtrust-demo test_user_setup
echo "user $TU_NAME (uid $TU_UID), subordinate range $TU_RANGE (from /etc/subuid)"
chmod -R o+rX "$W/registries.d" "$W/policy.json" "$W/release.asc"
U="$W/user"
run as_test_user "$U" "$BIN/imgpull" "${P[@]}" --tls-verify=false "docker://$REGISTRY/apps/web:1.0"
run as_test_user "$U" "$BIN/imgpull" "${P[@]}" --tls-verify=false "docker://$REGISTRY/apps/unsigned:1.0"
run as_test_user "$U" "$BIN/imgstore" ls
run as_test_user "$U" "$BIN/imgstore" fsck
printf '$ %s\n' "owners of the layer's files on the host (the image's root is $TU_NAME, its uid 1000 is the range's 1000th ID)"
find "$U/data/imgtrust/storage/layers" -path '*/diff/*' -printf '%u:%g\n' | sort | uniq -c


step "run it hardened, rootless, as that user: what the process inside sees"
IMG="$REGISTRY/apps/web:1.0"
run as_test_user "$U" "$BIN/imgrun" --rm "$IMG" sh -c 'id; cat /proc/self/uid_map; probe status'
run as_test_user "$U" "$BIN/imgrun" --rm "$IMG" sh -c \
	'probe syscalls | grep -E "kexec_load|sysfs|io_uring_setup"; probe sockets | grep -E "AF_X25|AF_INET_STREAM"'
run as_test_user "$U" "$BIN/imgrun" --rm "$IMG" sh -c \
	'stat -c "%n %F %t:%T" /proc/keys; echo x > /proc/sys/kernel/hostname; touch /sys/x; ls /dev'
run as_test_user "$U" "$BIN/imgrun" --rm "$IMG" sh -c 'exit 3'
run as_test_user "$U" "$BIN/imgstore" ps

printf '\nscratch directory: %s\n' "$W"

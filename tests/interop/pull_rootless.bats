#!/usr/bin/env bats
# `imgpull` as a non-root user with a subordinate ID range (tests/lib/users.bash: the user
# imgtrust-test, 65536 IDs in /etc/subuid and /etc/subgid), every pull run as that user with its
# store under the test's own directory. Images are made offline by tests/lib/pull.bash (python
# tarfile: exact owners, modes, xattrs, hostile names), published to Debian's docker-registry
# with `imgsign push` (signed ones: signatures staged into the directory nginx serves as the
# lookaside) or `skopeo copy --sign-by`.
#
#   situation                                        expected
#   3 layers: modes 0755/0600/4755/2755, owners 0,   the store's merged rootfs (the layers merged
#   1000, 33, gid 65536, symlinks, hardlink, empty   by the test and, as root, by the kernel's
#   dir, FIFO, xattr user.foo, whiteouts of a file   overlay with userxattr) equals `umoci unpack
#   and a dir, opaque dir, file->dir, dir->file      --rootless` of the same image (copied from
#                                                    the registry by skopeo), entry by entry:
#                                                    type, mode, uid:gid (container IDs), size,
#                                                    sha256, link target, xattrs, mtime (of
#                                                    directories too), which names share an inode
#   signedBy A: signed by `skopeo copy --sign-by A`  both pulled, exit 0, last line the config
#   and by `imgsign push --sign-by A`                digest
#   unsigned / signed by B                           exit 1, the reason; the store unchanged byte
#                                                    for byte (paths, sizes, modes, owners,
#                                                    mtimes, sha256 of every file)
#   a file owned by uid 70000 (gid 70000)            exit 2 naming the entry, the ID and the
#                                                    /etc/subuid (/etc/subgid) line that fixes it;
#                                                    nothing committed
#   hostile layers (policy insecureAcceptAnything)   exit 2 naming the entry / limit / digest, the
#                                                    sentinel dir outside untouched, no layer or
#                                                    image committed, the store's tmp/ empty:
#     ../escape, symlinked parent, hardlink to /etc/passwd and ../outside, dir replaced by a
#     symlink then written through, char and block devices, an entry "." that is a symlink,
#     a whiteout of "..", diff ID mismatch, a 20 GiB gzip bomb (run with RLIMIT_FSIZE 2 GiB:
#     stopped before 2 GiB is written), 1 000 000 entries
#   absolute name /abs                               exit 0: lands as abs in the layer, nothing
#                                                    at /abs on the host
#   a symlink to a sentinel file, then a regular     exit 0: the link replaced, the sentinel file
#   file of the same name                            unchanged
#   trusted.overlay.opaque, user.overlay.opaque,     exit 0; none of them on the directory
#   user.overlay.redirect xattrs in the tar          (getfattr as root), user.foo kept; lower
#                                                    contents still visible
#
# Known, explained differences excluded from the umoci comparison:
#   - xattrs user.rootlesscontainers (umoci's record of the owners, decoded into uid:gid) and
#     user.overlay.* (the store's whiteout/opaque markers, applied by the merge) are not listed.
#   - every layer lists the parent directories of what it changes, as docker and buildah write
#     layers. A parent a layer leaves implied is created in that layer's directory (0755,
#     container root, mtime of the pull: containers/storage's UnpackLayer does the same) and
#     shows through overlay with those attributes, while umoci, unpacking all layers into one
#     tree, keeps the lower layer's (seen: home/user 0700 1000:1000 vs 0755 0:0).
#   - not in the image: umoci --rootless accepts any uid (uid 70000 is only recorded in its
#     xattr) and turns device nodes into empty files; imgpull refuses both (tests below).
#
# Run time: the 1 000 000-entry layer dominates (imgpull creates 500 000 empty files before
# the limit stops it, then removes them): 50 to 120 s on 2 CPUs, depending on disk load.

load ../lib/common
load ../lib/services
load ../lib/gpg
load ../lib/users
load ../lib/pull

setup_file() {
	need_imgtrust
	for c in docker-registry jq gpg skopeo umoci python3; do
		need_cmd "$c" || return 1
	done
	need_cmd nginx nginx-light || return 1
	need_cmd getfattr attr || return 1
	need_cmd prlimit util-linux || return 1
	test_user_setup || return 1
	export TU_START=${TU_RANGE%%:*}
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	gpg_home_init
	export IMGSIGN="$IMGTRUST_BUILD/imgsign" IMGPULL="$IMGTRUST_BUILD/imgpull"
	[ -x "$IMGSIGN" ] || fail "imgsign not built in $IMGTRUST_BUILD" || return 1
	[ -x "$IMGPULL" ] || fail "imgpull not built in $IMGTRUST_BUILD" || return 1
	pr_tools_init "$FT/tools"

	# The test user must reach the policies, keys and registries.d below the bats temp dirs.
	local d=$FT
	while [ "$d" != / ]; do
		[ "$(stat -c %a "$d" | cut -c3)" -ge 5 ] || chmod o+rx "$d"
		d=$(dirname "$d")
	done

	export FPR_A FPR_B
	FPR_A=$(gpg_new_key 'Rootless Signer A <a@rootless.test>')
	FPR_B=$(gpg_new_key 'Rootless Signer B <b@rootless.test>')
	[[ "$FPR_A" =~ ^[0-9A-F]{40}$ && "$FPR_B" =~ ^[0-9A-F]{40}$ ]] || fail "keys: '$FPR_A' '$FPR_B'" || return 1
	gpg --batch --export "$FPR_A" >"$FT/a.gpg"

	export SIG="$FT/sigstore"
	mkdir -p "$SIG"
	chmod 755 "$SIG"
	start_registry >/dev/null
	start_nginx "$SIG" >/dev/null
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR" FILE_REGISTRY="$REGISTRY"

	export RD="$FT/registries.d" EMPTY_RD="$FT/empty.d"
	mkdir -p "$RD" "$EMPTY_RD"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: file://%s\n' \
		"$REGISTRY" "$LOOKASIDE_URL" "$SIG" >"$RD/pull.yaml"
	export POL_A="$FT/policy-a.json" POL_OPEN="$FT/policy-open.json"
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}}}' \
		"$REGISTRY" "$FT/a.gpg" >"$POL_A"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POL_OPEN"

	# The sentinel: a directory outside every store, writable by the test user, that the
	# hostile layers aim at.
	export SENTINEL="$FT/sentinel"
	mkdir -p "$SENTINEL/sub"
	printf 'keep\n' >"$SENTINEL/keep"
	chmod -R 777 "$SENTINEL"
	sentinel_listing >"$FT/sentinel.listing"
	printf 'outside\n' >"$FT/outside"

	make_images || return 1
}

teardown_file() {
	IT_SERVICES_DIR="${FILE_SERVICES_DIR:-}" stop_services
	kill_gpg_agents "$BATS_FILE_TMPDIR"
}

setup() {
	T="$BATS_TEST_TMPDIR"
	U="$T/user"
	S="$U/store"
	test_user_dir "$U"
}

teardown() {
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# ---------------------------------------------------------------------------------------------
# Images

# spec NAME JSON: the image description NAME (tests/lib/pull.bash) in $FT/specs.
spec() {
	mkdir -p "$FT/specs"
	printf '%s\n' "$2" >"$FT/specs/$1.json"
}

# image NAME REPO [PUBLISH-OPTION...]: in the background, make the layout $FT/img/NAME from its
# spec and publish it as REPO:v1; the manifest digest is left in $FT/img/NAME.digest.
# images_wait collects them all and fails with the first failure's log.
image() {
	local name=$1 repo=$2
	shift 2
	(
		pr_image "$FT/img/$name" v1 "$FT/specs/$name.json" >"$FT/img/$name.digest" &&
			publish "oci:$FT/img/$name:v1" "$repo:v1" "$@"
	) >"$FT/img/$name.log" 2>&1 &
	IMAGE_JOBS+=("$!:$name")
}

images_wait() {
	local j bad=""
	for j in "${IMAGE_JOBS[@]}"; do
		wait "${j%%:*}" || bad="$bad ${j#*:}"
	done
	IMAGE_JOBS=()
	[ -z "$bad" ] || fail "making or publishing failed:$bad" "$(set -- $bad && cat "$FT/img/$1.log")"
}

# publish SRC REPO:TAG [OPTION...]: imgsign push to the file's registry, quietly.
publish() {
	local src="$1" dest="$2"
	shift 2
	"$IMGSIGN" push --registries.d "${PUSH_RD:-$EMPTY_RD}" --dest-tls-verify=false "$@" "$src" \
		"docker://$REGISTRY/$dest" >/dev/null 2>"$FT/publish-${dest//\//_}.err" ||
		fail "publishing $dest failed" "$(cat "$FT/publish-${dest//\//_}.err")"
}

make_images() {
	mkdir -p "$FT/img"
	IMAGE_JOBS=()
	# The umoci comparison image: three layers.
	spec eq '{"layers": [
 {"entries": [
  {"n": "bin/", "t": "d", "m": "0755"},
  {"n": "bin/tool", "m": "0755", "d": "#!/bin/sh\necho tool\n"},
  {"n": "bin/suid", "m": "4755", "d": "setuid binary\n"},
  {"n": "bin/tool-hard", "t": "h", "l": "bin/tool"},
  {"n": "link", "t": "l", "l": "bin/tool"},
  {"n": "abs-link", "t": "l", "l": "/etc/passwd"},
  {"n": "empty/", "t": "d", "m": "0750"},
  {"n": "home/", "t": "d", "m": "0755"},
  {"n": "home/user/", "t": "d", "m": "0700", "u": 1000, "g": 1000},
  {"n": "home/user/secret", "m": "0600", "u": 1000, "g": 1000, "d": "secret v1\n"},
  {"n": "home/user/.profile", "m": "0644", "u": 1000, "g": 1000, "d": "PS1=x\n"},
  {"n": "var/", "t": "d"},
  {"n": "var/www/", "t": "d", "u": 33, "g": 33},
  {"n": "var/www/index.html", "u": 33, "g": 33, "d": "<h1>hi</h1>\n"},
  {"n": "gone.txt", "d": "deleted by layer 2\n"},
  {"n": "gonedir/", "t": "d"},
  {"n": "gonedir/f", "d": "deleted with its dir by layer 2\n"},
  {"n": "opq/", "t": "d"},
  {"n": "opq/old1", "d": "old 1\n"},
  {"n": "opq/sub/", "t": "d"},
  {"n": "opq/sub/old2", "d": "old 2\n"},
  {"n": "replaced", "d": "a file in layer 1, a dir in layer 2\n"},
  {"n": "d2f/", "t": "d"},
  {"n": "d2f/child", "d": "under a dir that layer 2 turns into a file\n"},
  {"n": "xattr.txt", "d": "has user.foo\n", "x": {"user.foo": "bar"}}
 ]},
 {"entries": [
  {"n": ".wh.gone.txt"},
  {"n": ".wh.gonedir"},
  {"n": "replaced/", "t": "d", "m": "0711"},
  {"n": "replaced/inner", "d": "inner\n"},
  {"n": "d2f", "m": "0640", "d": "now a file\n"},
  {"n": "home/", "t": "d", "m": "0755"},
  {"n": "home/user/", "t": "d", "m": "0700", "u": 1000, "g": 1000},
  {"n": "home/user/secret", "m": "0600", "u": 1000, "g": 1000, "d": "secret v2, longer\n"},
  {"n": "opq/", "t": "d"},
  {"n": "opq/sub/", "t": "d"},
  {"n": "opq/sub/more", "d": "layer 2 adds to opq/sub\n"}
 ]},
 {"entries": [
  {"n": "opq/", "t": "d", "m": "0775"},
  {"n": "opq/.wh..wh..opq"},
  {"n": "opq/new", "d": "the only file of opq\n", "u": 1000, "g": 33},
  {"n": "var/", "t": "d"},
  {"n": "var/www/", "t": "d", "u": 33, "g": 33},
  {"n": "var/www/index.html", "m": "0664", "u": 33, "g": 33, "d": "<h1>layer 3</h1>\n"},
  {"n": "etc/", "t": "d"},
  {"n": "etc/fifo", "t": "p", "m": "0600"},
  {"n": "etc/group-owned", "m": "2755", "u": 0, "g": 65536, "d": "highest mapped gid\n"}
 ]}
]}'
	PUSH_RD="$RD" image eq rl/eq --sign-by "$FPR_A"

	# signedBy: four different small images, so a rejected pull would have new layers to write.
	local what
	for what in imgsigned skosigned unsigned signedb; do
		spec "$what" "{\"layers\": [{\"entries\": [{\"n\": \"etc/\", \"t\": \"d\"},
  {\"n\": \"etc/$what\", \"d\": \"the $what image\\n\", \"u\": 1000, \"g\": 1000}]}]}"
	done
	PUSH_RD="$RD" image imgsigned rl/imgsigned --sign-by "$FPR_A"
	image unsigned rl/unsigned
	PUSH_RD="$RD" image signedb rl/signedb --sign-by "$FPR_B"
	pr_image "$FT/img/skosigned" v1 "$FT/specs/skosigned.json" >"$FT/img/skosigned.digest" || return 1
	skopeo copy -q --policy "$POL_OPEN" --registries.d "$RD" --dest-tls-verify=false \
		--sign-by "$FPR_A" "oci:$FT/img/skosigned:v1" "docker://$REGISTRY/rl/skosigned:v1" \
		>/dev/null 2>"$FT/skopeo.err" || fail "skopeo copy --sign-by failed" "$(cat "$FT/skopeo.err")" || return 1

	# Range check: one uid, one gid above the 65536 range, after an ordinary file.
	spec uid70000 '{"layers": [{"entries": [{"n": "ok", "d": "fine\n"}, {"n": "srv/", "t": "d"},
  {"n": "srv/big-uid", "u": 70000, "g": 0, "d": "owned by 70000\n"}]}]}'
	spec gid70000 '{"layers": [{"entries": [{"n": "ok", "d": "fine\n"},
  {"n": "big-gid", "u": 0, "g": 70000, "d": "group 70000\n"}]}]}'
	image uid70000 rl/uid70000
	image gid70000 rl/gid70000

	# Hostile layers.
	spec escape '{"layers": [{"entries": [{"n": "ok", "d": "x\n"}, {"n": "../escape", "d": "escaped\n"}]}]}'
	spec abs "{\"layers\": [{\"entries\": [{\"n\": \"/imgtrust-abs-$$\", \"d\": \"absolute\\n\"}]}]}"
	spec symparent "{\"layers\": [{\"entries\": [{\"n\": \"dir\", \"t\": \"l\", \"l\": \"$SENTINEL\"},
  {\"n\": \"dir/file\", \"d\": \"through the link\\n\"}]}]}"
	spec hlpasswd '{"layers": [{"entries": [{"n": "hl", "t": "h", "l": "/etc/passwd"}]}]}'
	spec hlout '{"layers": [{"entries": [{"n": "a/", "t": "d"}, {"n": "a/hl", "t": "h", "l": "../outside"}]}]}'
	spec dirsym "{\"layers\": [{\"entries\": [{\"n\": \"d/\", \"t\": \"d\"}, {\"n\": \"d/first\", \"d\": \"in the dir\\n\"},
  {\"n\": \"d\", \"t\": \"l\", \"l\": \"$SENTINEL\"}, {\"n\": \"d/x\", \"d\": \"written through\\n\"}]}]}"
	spec chardev '{"layers": [{"entries": [{"n": "dev/", "t": "d"}, {"n": "dev/mem", "t": "c", "maj": 1, "min": 1, "m": "0666"}]}]}'
	spec blockdev '{"layers": [{"entries": [{"n": "dev/", "t": "d"}, {"n": "dev/sda", "t": "b", "maj": 8, "min": 0, "m": "0666"}]}]}'
	spec ovlxattr '{"layers": [
 {"entries": [{"n": "d/", "t": "d"}, {"n": "d/lower", "d": "from layer 1\n"}]},
 {"entries": [{"n": "d/", "t": "d", "x": {"trusted.overlay.opaque": "y", "user.overlay.opaque": "y",
    "user.overlay.redirect": "/etc", "user.foo": "kept"}}, {"n": "d/upper", "d": "from layer 2\n"}]}]}'
	spec symfile "{\"layers\": [{\"entries\": [{\"n\": \"f\", \"t\": \"l\", \"l\": \"$SENTINEL/keep\"},
  {\"n\": \"f\", \"d\": \"replaces the link\\n\"}]}]}"
	spec rootlink "{\"layers\": [{\"entries\": [{\"n\": \".\", \"t\": \"l\", \"l\": \"$SENTINEL\"}, {\"n\": \"x\", \"d\": \"x\\n\"}]}]}"
	spec whdotdot '{"layers": [{"entries": [{"n": "a/", "t": "d"}, {"n": "a/.wh..", "d": ""}]}]}'
	spec diffid '{"layers": [{"entries": [{"n": "f", "d": "content\n"}]}],
  "diff_ids": ["sha256:0000000000000000000000000000000000000000000000000000000000000001"]}'
	spec bomb '{"layers": [{"bomb_gib": 20}]}'
	spec many '{"layers": [{"many": 1000000}]}'
	for what in escape abs symparent hlpasswd hlout dirsym chardev blockdev symfile rootlink whdotdot \
		ovlxattr diffid bomb many; do
		image "$what" "rl/$what"
	done
	images_wait
}

# ---------------------------------------------------------------------------------------------
# Helpers

# upull ARGS...: `run --separate-stderr imgpull --registries.d $RD --tls-verify=false --root $S
# ARGS` as the test user.
upull() {
	run --separate-stderr as_test_user "$U" "$IMGPULL" --registries.d "$RD" --tls-verify=false \
		--root "$S" "$@"
}

# digest_of NAME: the manifest digest of image NAME; config_of NAME: its config digest (the ID).
digest_of() {
	cat "$FT/img/$1.digest"
}
config_of() {
	jq -r .config.digest "$FT/img/$1/blobs/sha256/$(digest_of "$1" | cut -d: -f2)"
}

# layer_of NAME [N]: the digest of layer N (default 0) of image NAME.
layer_of() {
	jq -r ".layers[${2:-0}].digest" "$FT/img/$1/blobs/sha256/$(digest_of "$1" | cut -d: -f2)"
}

sentinel_listing() {
	(cd "$SENTINEL" && find . -printf '%p %y %s %m %U %G %T@\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# assert_refused NAME: after a refused pull of NAME into a fresh store: stdout empty, one
# stderr line, no layer, no image record, nothing left in tmp/, the sentinel untouched.
assert_refused() {
	assert_eq "$output" "" stdout || return 1
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines" || return 1
	assert_eq "$(ls -A "$S/layers" 2>/dev/null)" "" "committed layers" || return 1
	assert_eq "$(ls -A "$S/images" 2>/dev/null)" "" "image records" || return 1
	assert_eq "$(ls -A "$S/tmp" 2>/dev/null)" "" "leftovers in tmp/" || return 1
	assert_eq "$(sentinel_listing)" "$(cat "$FT/sentinel.listing")" "sentinel listing" || return 1
	[ ! -e "$FT/escape" ] && [ ! -e "$U/escape" ] && [ ! -e "$S/escape" ] ||
		fail "an entry escaped: $(ls -la "$FT/escape" "$U/escape" "$S/escape" 2>&1)"
}

# refused NAME MESSAGE-AFTER-PREFIX: pull rl/NAME with the open policy into a fresh store; exit 2
# and stderr exactly "imgpull: docker://REF: layer DIGEST: MESSAGE".
refused() {
	local name=$1 msg=$2
	upull --policy "$POL_OPEN" "docker://$REGISTRY/rl/$name:v1"
	assert_status 2 || return 1
	assert_eq "$stderr" "imgpull: docker://$REGISTRY/rl/$name:v1: layer $(layer_of "$name"): $msg" \
		"stderr" || return 1
	assert_refused "$name"
}

# ---------------------------------------------------------------------------------------------

@test "merged rootfs of a 3-layer image equals umoci unpack --rootless, entry by entry" {
	upull --policy "$POL_A" "docker://$REGISTRY/rl/eq:v1"
	assert_status 0
	id=$(config_of eq)
	assert_eq "${lines[-1]}" "$id" "image ID"
	assert_eq "$id" "sha256:$(sha256sum "$FT/img/eq/blobs/sha256/${id#sha256:}" | cut -d' ' -f1)" "ID is the config's sha256"

	# The reference: skopeo copies the same image (same policy) into an OCI layout, umoci
	# unpacks it rootless; both as the test user.
	run --separate-stderr as_test_user "$U" skopeo copy -q --remove-signatures --policy "$POL_A" --registries.d "$RD" \
		--src-tls-verify=false "docker://$REGISTRY/rl/eq:v1" "oci:$U/oci:v1"
	assert_status 0
	run --separate-stderr as_test_user "$U" umoci unpack --rootless --image "$U/oci:v1" "$U/bundle"
	assert_status 0

	# umoci records the owners it could not set in user.rootlesscontainers, in its mtree
	# manifest too (uid 1000 gid 1000: the protobuf 08 e8 07 10 e8 07).
	assert_contains "$(grep -E '^ +secret ' "$U"/bundle/sha256_*.mtree)" "xattr.user.rootlesscontainers=COgHEOgH" "umoci's mtree"
	ours=$(pr_store_tree "$S" "$id" "$TU_START")
	theirs=$(pr_umoci_tree "$U/bundle")
	[ -n "$theirs" ] || fail "umoci's rootfs is empty"
	if [ "$ours" != "$theirs" ]; then
		fail "merged rootfs differs from umoci's (- umoci, + imgpull):" \
			"$(diff <(printf '%s\n' "$theirs") <(printf '%s\n' "$ours") | grep '^[<>]' | sed 's/^</-/; s/^>/+/')"
		return 1
	fi
	# The kernel's own merge of the stored layers (overlay, userxattr) agrees with both.
	if [ "$(id -u)" -eq 0 ]; then
		kernel=$(pr_overlay_tree "$S" "$id" "$TU_START") || fail "overlay mount failed" || return 1
		if [ "$kernel" != "$ours" ]; then
			fail "the kernel's overlay view differs from the merge of the layers (- overlay, + merge):" \
				"$(diff <(printf '%s\n' "$kernel") <(printf '%s\n' "$ours") | grep '^[<>]' | sed 's/^</-/; s/^>/+/')"
			return 1
		fi
	fi
	# The comparison covers what it claims to: owners, the setuid bit, the hardlink, the xattr,
	# the whiteouts and the opaque directory.
	assert_contains "$ours" "home/user/secret f 0600 1000:1000 18 " owner
	assert_contains "$ours" "var/www/index.html f 0664 33:33 " owner
	assert_contains "$ours" "etc/group-owned f 2755 0:65536 " "highest gid"
	assert_contains "$ours" "bin/suid f 4755 0:0 " setuid
	assert_contains "$ours" "bin/tool-hard f 0755 0:0 20 " hardlink
	assert_contains "$ours" " user.foo=626172 " xattr
	assert_contains "$ours" "replaced/inner f" "file -> dir"
	assert_contains "$ours" "d2f f 0640" "dir -> file"
	assert_not_contains "$ours" "gone.txt" whiteout
	assert_not_contains "$ours" "gonedir" "whiteout of a dir"
	assert_not_contains "$ours" "opq/old1" opaque
	assert_not_contains "$ours" "opq/sub" opaque
	assert_not_contains "$ours" "d2f/child" "dir -> file"

	# On disk: container IDs through the mapping (0 -> the user, N -> START+N-1), whiteouts as
	# 0/0 character devices, the opaque directory as user.overlay.opaque.
	mapfile -t chain < <(jq -r '.layers[]' "$S/images/${id#sha256:}/image.json")
	assert_eq "${#chain[@]}" 3 layers
	l1="$S/layers/${chain[0]#sha256:}/diff" l2="$S/layers/${chain[1]#sha256:}/diff" l3="$S/layers/${chain[2]#sha256:}/diff"
	assert_eq "$(stat -c '%u:%g' "$l1/home/user/secret" "$l1/var/www" "$l1/bin/tool")" \
		"$(printf '%s:%s\n%s:%s\n%s:%s' $((TU_START + 999)) $((TU_START + 999)) $((TU_START + 32)) $((TU_START + 32)) "$TU_UID" "$TU_GID")" \
		"host owners"
	assert_eq "$(stat -c '%F %t:%T' "$l2/gone.txt" "$l2/gonedir")" \
		"$(printf 'character special file 0:0\ncharacter special file 0:0')" whiteouts
	assert_eq "$(getfattr --absolute-names --only-values -n user.overlay.opaque "$l3/opq" 2>&1)" y "opaque xattr"
	[ ! -e "$l3/opq/.wh..wh..opq" ] || fail "the opaque marker was unpacked as a file"
}

@test "signedBy: skopeo copy --sign-by and imgsign push --sign-by images pulled; unsigned and key B rejected, store unchanged byte for byte" {
	# Both signatures exist in the lookaside, so each accepted pull really verified one.
	for what in imgsigned skosigned; do
		d=$(digest_of "$what")
		[ -s "$SIG/rl/$what@${d/:/=}/signature-1" ] ||
			fail "no staged signature for rl/$what" "$(find "$SIG" -path "*$what*")" || return 1
	done
	upull --policy "$POL_A" "docker://$REGISTRY/rl/imgsigned:v1"
	assert_status 0
	assert_eq "${lines[-1]}" "$(config_of imgsigned)" "image ID (imgsign push)"
	upull --policy "$POL_A" "docker://$REGISTRY/rl/skosigned:v1"
	assert_status 0
	assert_eq "${lines[-1]}" "$(config_of skosigned)" "image ID (skopeo copy)"
	assert_eq "$(ls "$S/images" | wc -l)" 2 "image records"

	before=$(pr_store_state "$S")
	upull --policy "$POL_A" "docker://$REGISTRY/rl/unsigned:v1"
	assert_status 1
	assert_eq "$output" "" stdout
	assert_eq "$stderr" "imgpull: docker://$REGISTRY/rl/unsigned:v1: rejected: requirement 1 (signedBy, transports.docker[\"$REGISTRY\"][0]): a signature was required, but no signature exists" reason
	assert_eq "$(pr_store_state "$S")" "$before" "store after the unsigned pull"

	upull --policy "$POL_A" "docker://$REGISTRY/rl/signedb:v1"
	assert_status 1
	assert_eq "$output" "" stdout
	assert_contains "$stderr" "imgpull: docker://$REGISTRY/rl/signedb:v1: rejected: requirement 1 (signedBy, transports.docker[\"$REGISTRY\"][0]): no signature from a trusted key" reason
	assert_contains "$stderr" "signature-1: no public key for key ID ${FPR_B: -16} (not a trusted key)" "why B's signature did not count"
	assert_eq "$(pr_store_state "$S")" "$before" "store after key B's pull"

	# Into a fresh root, a rejected pull creates nothing at all.
	S="$U/fresh"
	upull --policy "$POL_A" "docker://$REGISTRY/rl/signedb:v1"
	assert_status 1
	[ ! -e "$S" ] || fail "a rejected pull created the store" "$(find "$S")"
}

@test "range check: uid 70000 / gid 70000 fail at once naming the entry, the ID and the subuid/subgid line; nothing committed" {
	upull --policy "$POL_A" "docker://$REGISTRY/rl/imgsigned:v1"
	assert_status 0
	# Directories keep their lines, without mtimes: tmp/ and layers/ get new ones when an
	# unpack starts and is thrown away.
	state() { pr_store_state "$S" | sed -E 's/^(.* d [0-9]+ [0-7]+ [0-9]+ [0-9]+) [0-9.]+$/\1/'; }
	before=$(state)
	start=$TU_START

	upull --policy "$POL_OPEN" "docker://$REGISTRY/rl/uid70000:v1"
	assert_status 2
	assert_eq "$output" "" stdout
	assert_eq "$stderr" "imgpull: docker://$REGISTRY/rl/uid70000:v1: layer $(layer_of uid70000): layer entry \"srv/big-uid\": needs uid 70000 but the user namespace maps uids 0-65536 (65537 IDs): in /etc/subuid, change \"$TU_NAME:$start:65536\" to \"$TU_NAME:$start:70000\"" message
	assert_eq "$(state)" "$before" "store (directory mtimes aside) after the uid pull"
	assert_eq "$(ls -A "$S/tmp")" "" "leftovers in tmp/"

	upull --policy "$POL_OPEN" "docker://$REGISTRY/rl/gid70000:v1"
	assert_status 2
	assert_eq "$stderr" "imgpull: docker://$REGISTRY/rl/gid70000:v1: layer $(layer_of gid70000): layer entry \"big-gid\": needs gid 70000 but the user namespace maps gids 0-65536 (65537 IDs): in /etc/subgid, change \"$TU_NAME:$start:65536\" to \"$TU_NAME:$start:70000\"" message
	assert_eq "$(state)" "$before" "store (directory mtimes aside) after the gid pull"
	assert_eq "$(ls -A "$S/tmp")" "" "leftovers in tmp/"
}

@test "hostile: ../escape refused naming the entry" {
	refused escape 'entry "../escape" contains a ".." component'
}

@test "hostile: absolute name /abs lands relative to the layer root" {
	upull --policy "$POL_OPEN" "docker://$REGISTRY/rl/abs:v1"
	assert_status 0
	[ ! -e "/imgtrust-abs-$$" ] || { rm -f "/imgtrust-abs-$$"; fail "/imgtrust-abs-$$ written on the host"; }
	name=$(jq -r '.layers[0].entries[0].n' "$FT/specs/abs.json")
	l=$(jq -r '.layers[0]' "$S/images/$(config_of abs | cut -d: -f2)/image.json")
	[ ! -e "$name" ] || fail "$name written on the host"
	assert_eq "$(cat "$S/layers/${l#sha256:}/diff/${name#/}")" absolute "file at the layer root"
	assert_eq "$(ls -A "$S/layers/${l#sha256:}/diff")" "${name#/}" "layer contents"
	assert_eq "$(ls -A "$S/tmp")" "" "leftovers in tmp/"
}

@test "hostile: a symlinked parent directory (dir -> sentinel, then dir/file) refused" {
	refused symparent 'entry "dir/file": cannot extract through symlink "dir"'
}

@test "hostile: hardlink to /etc/passwd refused (resolved inside the layer, where it does not exist)" {
	refused hlpasswd 'entry "hl" (hardlink target): "etc" does not exist in the layer'
	assert_eq "$(stat -c %h /etc/passwd)" 1 "/etc/passwd link count"
}

@test "hostile: hardlink to ../outside refused" {
	refused hlout 'entry "a/hl": hardlink target "../outside" contains a ".." component'
	assert_eq "$(stat -c %h "$FT/outside")" 1 "outside's link count"
}

@test "hostile: a directory replaced by a symlink, then written through, refused" {
	refused dirsym 'entry "d/x": cannot extract through symlink "d"'
}

@test "hostile: character and block devices refused naming the entry" {
	refused chardev 'entry "dev/mem": device nodes are not accepted in a layer'
	refused blockdev 'entry "dev/sda": device nodes are not accepted in a layer'
}

@test "hostile: a symlink to a file outside, then a regular file of the same name: the link is replaced" {
	upull --policy "$POL_OPEN" "docker://$REGISTRY/rl/symfile:v1"
	assert_status 0
	l=$(jq -r '.layers[0]' "$S/images/$(config_of symfile | cut -d: -f2)/image.json")
	f="$S/layers/${l#sha256:}/diff/f"
	assert_eq "$(stat -c %F "$f")" "regular file" "type of f"
	assert_eq "$(cat "$f")" "replaces the link" "contents of f"
	assert_eq "$(sentinel_listing)" "$(cat "$FT/sentinel.listing")" "sentinel listing"
}

@test "hostile: an entry \".\" that is a symlink (would replace the layer root) refused" {
	refused rootlink 'entry "." would replace the layer root'
}

@test "hostile: a whiteout of \"..\" refused" {
	refused whdotdot 'entry "a/.wh..": invalid whiteout name'
}

@test "hostile: trusted.overlay.* and user.overlay.* xattrs in the tar are never applied" {
	upull --policy "$POL_OPEN" "docker://$REGISTRY/rl/ovlxattr:v1"
	assert_status 0
	id=$(config_of ovlxattr)
	mapfile -t chain < <(jq -r '.layers[]' "$S/images/${id#sha256:}/image.json")
	d="$S/layers/${chain[1]#sha256:}/diff/d"
	run getfattr --absolute-names -d -m - "$d"
	assert_status 0
	assert_not_contains "$output" "overlay" "xattrs of the directory"
	assert_contains "$output" 'user.foo="kept"' "the ordinary xattr"
	# The lower layer's file still shows through.
	assert_contains "$(pr_store_tree "$S" "$id" "$TU_START")" "d/lower f" "merged view"
	if [ "$(id -u)" -eq 0 ]; then
		assert_contains "$(pr_overlay_tree "$S" "$id" "$TU_START")" "d/lower f" "the kernel's overlay view"
	fi
}

@test "hostile: a layer whose diff ID does not match the config: refused naming both digests" {
	tarsum=$(gzip -dc "$FT/img/diffid/blobs/sha256/$(layer_of diffid | cut -d: -f2)" | sha256sum | cut -d' ' -f1)
	refused diffid "layer diffID mismatch: expected sha256:0000000000000000000000000000000000000000000000000000000000000001, got sha256:$tarsum"
}

@test "hostile: a 20 GiB gzip bomb stops before 2 GiB is written (RLIMIT_FSIZE 2 GiB)" {
	run --separate-stderr as_test_user "$U" prlimit --fsize=$((2 << 30)) "$IMGPULL" \
		--registries.d "$RD" --tls-verify=false --root "$S" --policy "$POL_OPEN" \
		"docker://$REGISTRY/rl/bomb:v1"
	assert_status 2
	re="^imgpull: docker://$REGISTRY/rl/bomb:v1: layer $(layer_of bomb): entry \"zeros\": layer expands more than 100:1 \(([0-9]+) bytes from ([0-9]+); a decompression bomb\?\) \(--max-layer-ratio\)\$"
	[[ "$stderr" =~ $re ]] || fail "stderr does not match $re" "$stderr" || return 1
	((BASH_REMATCH[1] < 2 << 30)) || fail "stopped only after ${BASH_REMATCH[1]} bytes"
	assert_refused bomb
}

@test "hostile: a layer of 1 000 000 entries refused at the 500 000 limit" {
	refused many 'layer has more than 500000 entries (--max-layer-entries)'
}

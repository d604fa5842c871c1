#!/usr/bin/env bats
# imgstore (issue 6, item 6): ls, inspect, rm, gc and fsck over a store filled through the store
# API by tests/helpers/store_fill.c (imgpull is not needed). The images are synthetic but
# deterministic, so their IDs and chain IDs below are fixed:
#   A  docker.io/library/alpine:latest             layers base, a1  (created 2024-01-02)
#   B  example.com/app:1, example.com/app:latest   layers base, b1  (shares base with A)
#   C1 untagged                                    layer  c1        (ID prefix 0a89 ...)
#   C2 untagged                                    layer  c1        (... shared with C1)
# C1 and C2 were chosen (by their created times) so that their IDs share the prefix "0a89".

load ../lib/common

IMGSTORE="$IMGTRUST_BUILD/imgstore"
FILL="$IMGTRUST_BUILD/tests/store_fill"

A=496323110b0cbc35e234ff19d66fb1ab1dbd91f31d9ad89496301eed17b23002
B=1e61a1ef2f3ef6e5837a897c76682d2f02fe3fe28231b466b6e6b99302069725
C1=0a8980d35d95b7e4dbcbe3ab60fcd9baf6a1179bbb37972ba8087b9df6a208fd
C2=0a89534549d41a15f086beafa47c61cbbe6103a843af8d5f1c13756a1366a007
L_BASE=cae662172fd450bb0cd710a769079c05bfc5d8e35efa6576edc7d0377afdd4a2
L_A1=44468d3d01ca4d4f6aecf3f51683c8a30c3b4eae0acc2f0b7b1e7abbffe6abc5
L_B1=f01e827984a98c6672196577dd834210cbc7a2d9e2f8ea01bbb89390f20093c5
L_C1=d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982

setup() {
	it_isolate
	[ -x "$IMGSTORE" ] || fail "imgstore not built: $IMGSTORE"
	[ -x "$FILL" ] || fail "store_fill not built: $FILL"
	S="$BATS_TEST_TMPDIR/store"
	local id
	# Put in this order: ls lists newest record first, so C2, C1, B, A.
	id=$("$FILL" "$S" 2024-01-02T03:04:05Z docker.io/library/alpine:latest base:1000 a1:2345678)
	assert_eq "$id" "$A" "image A's ID"
	id=$("$FILL" "$S" 2024-03-04T05:06:07.123456789Z example.com/app:1,example.com/app:latest \
		base:1000 b1:500)
	assert_eq "$id" "$B" "image B's ID"
	id=$("$FILL" "$S" 2023-05-06T07:08:43Z - c1:42)
	assert_eq "$id" "$C1" "image C1's ID"
	id=$("$FILL" "$S" 2023-05-06T07:08:58Z - c1:42)
	assert_eq "$id" "$C2" "image C2's ID"
}

# imgstore ARGS...: with the test's store.
st() {
	"$IMGSTORE" --root "$S" "$@"
}

@test "ls: exact table, newest first, sizes are the layers' sums" {
	run --separate-stderr st ls
	assert_status 0
	assert_eq "$stderr" ""
	local want
	want=$(cat <<-'EOT'
	NAMES                                     IMAGE ID      CREATED              SIZE
	<none>                                    0a89534549d4  2023-05-06 07:08:58  42 B
	<none>                                    0a8980d35d95  2023-05-06 07:08:43  42 B
	example.com/app:1,example.com/app:latest  1e61a1ef2f3e  2024-03-04 05:06:07  1.5 kB
	docker.io/library/alpine:latest           496323110b0c  2024-01-02 03:04:05  2.35 MB
	EOT
	)
	assert_eq "$output" "$want" "ls output"
}

@test "ls: --root may follow the subcommand; the default root is under XDG_DATA_HOME" {
	run --separate-stderr "$IMGSTORE" ls --root "$S"
	assert_status 0
	assert_eq "${#lines[@]}" 5 "line count"
	# For root the default is /var/lib/imgtrust/storage, which a test must not touch.
	[ "$(id -u)" -ne 0 ] || return 0
	mkdir -p "$XDG_DATA_HOME/imgtrust"
	mv "$S" "$XDG_DATA_HOME/imgtrust/storage"
	run --separate-stderr "$IMGSTORE" ls
	assert_status 0
	assert_eq "${lines[4]}" \
		"docker.io/library/alpine:latest           496323110b0c  2024-01-02 03:04:05  2.35 MB"
}

@test "ls --json: every image with id, names, created, size and layers" {
	run --separate-stderr st ls --json
	assert_status 0
	assert_eq "$(jq -r 'map(.id) | join(" ")' <<<"$output")" "$C2 $C1 $B $A" "ids"
	assert_eq "$(jq -c '.[3]' <<<"$output")" \
		"{\"id\":\"$A\",\"names\":[\"docker.io/library/alpine:latest\"],\"created\":\"2024-01-02T03:04:05Z\",\"size\":2346678,\"layers\":[\"sha256:$L_BASE\",\"sha256:$L_A1\"]}"
	assert_eq "$(jq -c '.[2].names, .[2].size, .[2].created' <<<"$output")" \
		'["example.com/app:1","example.com/app:latest"]
1500
"2024-03-04T05:06:07.123456789Z"'
	assert_eq "$(jq -c '.[0].names, .[0].layers' <<<"$output")" "[]
[\"sha256:$L_C1\"]"
}

@test "inspect: by normalised name, full ID, sha256:ID and unique prefix" {
	local what
	for what in alpine docker.io/library/alpine:latest "$A" "sha256:$A" 4963; do
		run --separate-stderr st inspect "$what"
		assert_status 0
		assert_eq "$stderr" ""
		assert_eq "${lines[0]}" "ID:       $A" "inspect $what"
	done
	local want
	want=$(cat <<-EOT
	ID:       $A
	Names:    docker.io/library/alpine:latest
	Digest:   sha256:$(sha256sum "$S/images/$A/manifest" | cut -d' ' -f1)
	Created:  2024-01-02T03:04:05Z
	Size:     2346678 (2.35 MB)
	Layers:   sha256:$L_BASE
	          sha256:$L_A1
	Config:
	EOT
	)
	assert_eq "$(head -n 8 <<<"$output")" "$want" "inspect header"
	# The rest is the config, pretty-printed: the same document as the stored bytes.
	assert_eq "$(tail -n +9 <<<"$output" | jq -cS .)" "$(jq -cS . "$S/images/$A/config")"
	assert_eq "$(tail -n +9 <<<"$output" | head -n 2)" '{
    "created": "2024-01-02T03:04:05Z",'
}

@test "inspect: an image with two names lists both" {
	run --separate-stderr st inspect example.com/app:1
	assert_status 0
	assert_eq "${lines[0]}" "ID:       $B"
	assert_eq "${lines[1]}" "Names:    example.com/app:1"
	assert_eq "${lines[2]}" "          example.com/app:latest"
}

@test "inspect --json: id, names, digest, layers and the config object" {
	run --separate-stderr st inspect --json 1e61
	assert_status 0
	assert_eq "$(jq 'length' <<<"$output")" 1
	assert_eq "$(jq -r '.[0].id' <<<"$output")" "$B"
	assert_eq "$(jq -r '.[0].digest' <<<"$output")" \
		"sha256:$(sha256sum "$S/images/$B/manifest" | cut -d' ' -f1)"
	assert_eq "$(jq -c '.[0].names' <<<"$output")" '["example.com/app:1","example.com/app:latest"]'
	assert_eq "$(jq -c '.[0].layers' <<<"$output")" "[\"sha256:$L_BASE\",\"sha256:$L_B1\"]"
	assert_eq "$(jq -c '.[0].size' <<<"$output")" 1500
	assert_eq "$(jq -cS '.[0].config' <<<"$output")" "$(jq -cS . "$S/images/$B/config")"
}

@test "inspect: an ambiguous prefix is exit 2 naming every candidate" {
	run --separate-stderr st inspect 0a89
	assert_status 2
	assert_eq "$output" ""
	assert_eq "$stderr" \
		"imgstore: image ID prefix \"0a89\" is ambiguous: matches $C2, $C1"
	# One more digit makes it unique.
	run --separate-stderr st inspect 0a898
	assert_status 0
	assert_eq "${lines[0]}" "ID:       $C1"
}

@test "inspect: an unknown image is exit 2, one line" {
	run --separate-stderr st inspect nosuch:1
	assert_status 2
	assert_eq "$output" ""
	assert_eq "$stderr" "imgstore: no image \"nosuch:1\" in $S"
}

@test "rm: a shared layer stays; the image's own layer goes only at gc" {
	run --separate-stderr st rm alpine
	assert_status 0
	assert_eq "$output" "Untagged: docker.io/library/alpine:latest
Deleted: $A"
	assert_eq "$stderr" ""
	[ ! -e "$S/images/$A" ] || fail "image record still there"
	[ -d "$S/layers/$L_BASE/diff" ] || fail "shared base layer removed"
	[ -d "$S/layers/$L_A1/diff" ] || fail "a1 removed before gc"
	run --separate-stderr st ls --json
	assert_eq "$(jq -r 'map(.id) | join(" ")' <<<"$output")" "$C2 $C1 $B"

	run --separate-stderr st gc
	assert_status 0
	assert_eq "$output" "sha256:$L_A1"
	assert_eq "$stderr" ""
	[ ! -e "$S/layers/$L_A1" ] || fail "a1 still there after gc"
	assert_eq "$(dir_listing "$S/layers")" "$(printf '%s\n' "$L_BASE" "$L_C1" "$L_B1" | sort)"
	[ "$(cat "$S/layers/$L_BASE/diff/base")" = base ] || fail "base layer content changed"

	# Nothing left to collect; the store is consistent.
	run --separate-stderr st gc
	assert_status 0
	assert_eq "$output" ""
	run --separate-stderr st fsck
	assert_status 0
	assert_eq "$output" ""
}

@test "rm: two images sharing their only layer; gc drops it after both are gone" {
	run --separate-stderr st rm "$C1"
	assert_status 0
	assert_eq "$output" "Deleted: $C1"
	run --separate-stderr st gc
	assert_status 0
	assert_eq "$output" ""
	[ -d "$S/layers/$L_C1/diff" ] || fail "c1 removed while C2 uses it"
	run --separate-stderr st rm 0a895
	assert_status 0
	assert_eq "$output" "Deleted: $C2"
	run --separate-stderr st gc
	assert_status 0
	assert_eq "$output" "sha256:$L_C1"
	[ ! -e "$S/layers/$L_C1" ] || fail "c1 still there"
}

@test "rm: an ambiguous or unknown IMAGE is reported, the other arguments still go" {
	run --separate-stderr st rm 0a89 nosuch example.com/app:latest
	assert_status 2
	assert_eq "$output" "Untagged: example.com/app:1
Untagged: example.com/app:latest
Deleted: $B"
	assert_eq "$stderr" "imgstore: image ID prefix \"0a89\" is ambiguous: matches $C2, $C1
imgstore: no image \"nosuch\" in $S"
	[ -d "$S/images/$C1" ] && [ -d "$S/images/$C2" ] || fail "an ambiguous rm removed something"
}

@test "fsck: a clean store is exit 0 with no output" {
	run --separate-stderr st fsck
	assert_status 0
	assert_eq "$output" ""
	assert_eq "$stderr" ""
}

@test "fsck: a deleted layer directory and a corrupt layer.json are one line each" {
	rm -rf "$S/layers/$L_C1"
	printf '{' >"$S/layers/$L_BASE/layer.json"
	run --separate-stderr st fsck
	assert_status 1
	assert_eq "$stderr" ""
	local bad="$S/layers/$L_BASE/layer.json: line 1, column 1: invalid JSON: string or '}' expected near end of file"
	# The corrupt record is reported by the layer scan and again by each image that uses it
	# (store_fsck's behaviour), and once more by the content re-hash that needs it; the missing
	# layer once per image that names it.
	local want
	want=$(printf '%s\n' "$bad" "$bad" "$bad" "layer sha256:$L_BASE: cannot re-hash: $bad" \
		"$S/images/$C1: layer sha256:$L_C1 is missing" \
		"$S/images/$C2: layer sha256:$L_C1 is missing" | LC_ALL=C sort)
	assert_eq "$(LC_ALL=C sort <<<"$output")" "$want" "fsck problems"
	# ls still lists; the sizes it cannot know are "-".
	run --separate-stderr st ls
	assert_status 0
	assert_eq "${lines[1]}" "<none>                                    0a89534549d4  2023-05-06 07:08:58  -"
	assert_eq "${lines[4]}" "docker.io/library/alpine:latest           496323110b0c  2024-01-02 03:04:05  -"
}

@test "a store root that is a file is exit 3 with one line" {
	local f="$BATS_TEST_TMPDIR/plainfile"
	: >"$f"
	local c
	for c in ls fsck gc "inspect alpine" "rm alpine"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$IMGSTORE" --root "$f" $c
		assert_status 3
		assert_eq "$output" ""
		assert_eq "$stderr" "imgstore: $f: Not a directory" "$c"
	done
	run --separate-stderr "$IMGSTORE" --root "$f/sub" ls
	assert_status 3
	assert_eq "$stderr" "imgstore: cannot create $f/sub: Not a directory"
}

@test "usage errors are exit 2, each naming the command and what is wrong" {
	run --separate-stderr st bogus
	assert_status 2
	assert_eq "$stderr" "imgstore: unknown command \"bogus\" (see 'imgstore --help')"
	run --separate-stderr st ls extra
	assert_status 2
	assert_eq "$stderr" "imgstore: ls: takes no arguments (see 'imgstore ls --help')"
	run --separate-stderr st inspect
	assert_status 2
	assert_eq "$stderr" "imgstore: inspect: IMAGE is required (see 'imgstore inspect --help')"
	run --separate-stderr st gc --json
	assert_status 2
	run --separate-stderr "$IMGSTORE" --root
	assert_status 2
	local c
	for c in mount umount export; do
		run --separate-stderr st "$c"
		assert_status 2
		assert_eq "$stderr" "imgstore: $c: IMAGE is required (see 'imgstore $c --help')"
		run --separate-stderr st "$c" alpine "$B"
		assert_status 2
		assert_eq "$stderr" "imgstore: $c: takes one IMAGE (see 'imgstore $c --help')"
		run --separate-stderr st "$c" nosuch
		assert_status 2
		assert_eq "$stderr" "imgstore: no image \"nosuch\" in $S"
		run --separate-stderr st "$c" --help
		assert_status 0
		assert_contains "$output" "Usage: imgstore [--root DIR] $c "
	done
	run --separate-stderr st export -o "" alpine
	assert_status 2
	assert_eq "$stderr" "imgstore: export: -o needs a file name (see 'imgstore export --help')"
	run --separate-stderr st unshare --help
	assert_status 0
	assert_contains "$output" "IMGTRUST_STORAGE_ROOT"
	run --separate-stderr st --help
	assert_status 0
	for c in ls inspect rm gc fsck mount umount export unshare; do
		assert_line_match "^  $c( |$)"
	done
	assert_contains "$output" "Exit codes: 0 success (fsck: clean), 1 fsck found problems, 2 usage error"
	assert_not_contains "$output" "Not yet implemented"
}

# rich_layers: image ex.com/rich:1 (layers rbase, rtop) given overlay-form content, as the
# rootless suite does (see tests/cli/imgstore_rootless.bats), here as root: stored IDs are the
# image's IDs.
L_RBASE=$(printf '%s' rbase | sha256sum | cut -d' ' -f1)
L_RTOP=$(printf '%s' "sha256:$L_RBASE sha256:$(printf '%s' rtop | sha256sum | cut -d' ' -f1)" | sha256sum | cut -d' ' -f1)

rich_image() {
	local id
	id=$("$FILL" "$S" 2024-01-01T00:00:00Z ex.com/rich:1 rbase:100 rtop:50) || return 1
	local b="$S/layers/$L_RBASE/diff" t="$S/layers/$L_RTOP/diff"
	mkdir "$b/d" "$b/opq"
	echo old >"$b/d/old"
	echo gone >"$b/gone"
	echo lower >"$b/opq/lower"
	echo owned >"$b/owned"
	chown 1000:1000 "$b/owned"
	echo link >"$b/hl1"
	ln "$b/hl1" "$b/hl2"
	setfattr -n user.test -v hello "$b/hl1"
	mknod "$t/gone" c 0 0
	mkdir "$t/opq"
	setfattr -n user.overlay.opaque -v y "$t/opq"
	echo upper >"$t/opq/upper"
	chmod 0755 "$b/d" "$b/opq" "$t/opq"
	find "$b" "$t" -exec touch -h -d @1704067200 {} +
	echo "$id"
}

alive() {
	local st
	st=$(awk '{ sub(/.*\) /, ""); print substr($0, 1, 1) }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

@test "mount (root): merged read-only view, same path again, rm refused, umount ends the holder" {
	[ "$(id -u)" -eq 0 ] || skip "root's store (imgstore_rootless.bats covers users)"
	local id pid p
	id=$(rich_image)
	run --separate-stderr st mount ex.com/rich:1
	assert_status 0
	assert_eq "$stderr" ""
	p=$output
	[[ "$p" =~ ^/proc/([0-9]+)/root$S/mounts/$id/merged$ ]] || fail "unexpected path: $p"
	pid=${BASH_REMATCH[1]}
	assert_eq "$(cd "$p" && LC_ALL=C ls -A)" "d
hl1
hl2
opq
owned
rbase
rtop" "merged listing: whiteout applied"
	assert_eq "$(ls -A "$p/opq")" upper "opaque directory"
	assert_eq "$(stat -c %u:%g "$p/owned")" 1000:1000
	assert_eq "$(cat "$p/d/old")" old
	# The store's own marker is not shown through the mount.
	assert_eq "$(getfattr --absolute-names -d -m - "$p/opq" 2>&1)" ""
	run --separate-stderr sh -c "echo x >'$p/new'"
	assert_status 2
	assert_contains "$stderr" "Read-only file system"
	run --separate-stderr st mount "${id:0:12}"
	assert_status 0
	assert_eq "$output" "$p"
	run --separate-stderr st rm "${id:0:12}"
	assert_status 2
	assert_eq "$stderr" "imgstore: image ${id:0:12} is mounted at $p: imgstore umount ${id:0:12} first"
	run --separate-stderr st rm "$id"
	assert_status 2
	run --separate-stderr st umount ex.com/rich:1
	assert_status 0
	assert_eq "$output" "$id"
	alive "$pid" && fail "holder $pid still running"
	assert_eq "$(dir_listing "$S/mounts")" "" "mounts/"
	run --separate-stderr st umount ex.com/rich:1
	assert_status 2
	assert_eq "$stderr" "imgstore: image $id is not mounted"
}

@test "export (root): pax stream of the merged view with stored owners, hardlink, xattr" {
	[ "$(id -u)" -eq 0 ] || skip "needs chown and mknod"
	rich_image >/dev/null
	run --separate-stderr st export ex.com/rich:1 -o "$BATS_TEST_TMPDIR/r.tar"
	assert_status 0
	assert_eq "$output$stderr" ""
	run tar --numeric-owner --xattrs --xattrs-include='*' -tvf "$BATS_TEST_TMPDIR/r.tar"
	assert_status 0
	assert_eq "$(awk '{ print $1, $2, $3, $6, $7, $8, $9 }' <<<"$output" | sed 's/ *$//')" \
		"drwxr-xr-x 0/0 0 d/
-rw-r--r-- 0/0 4 d/old
-rw-r--r--* 0/0 5 hl1
hrw-r--r--* 0/0 0 hl2 link to hl1
drwxr-xr-x 0/0 0 opq/
-rw-r--r-- 0/0 6 opq/upper
-rw-r--r-- 1000/1000 6 owned
-rw-r--r-- 0/0 5 rbase
-rw-r--r-- 0/0 4 rtop"
	# GNU tar marks entries with extended attributes '*': it read the SCHILY.xattr records.
	grep -q 'SCHILY.xattr.user.test=hello' "$BATS_TEST_TMPDIR/r.tar" || fail "no SCHILY.xattr record"
	run grep -c -e 'overlay' -e '\.wh\.' "$BATS_TEST_TMPDIR/r.tar"
	assert_eq "$output" 0 "overlay markers in the stream"
	# stdout gives the same bytes.
	st export ex.com/rich:1 >"$BATS_TEST_TMPDIR/s.tar"
	assert_same_file "$BATS_TEST_TMPDIR/r.tar" "$BATS_TEST_TMPDIR/s.tar"
	assert_eq "$(dir_listing "$BATS_TEST_TMPDIR" | grep -c tmp)" 0 "temporary files left"
}

@test "export refuses a terminal; a failed export leaves no file" {
	need_cmd script bsdutils
	run script -qec "'$IMGSTORE' --root '$S' export alpine" /dev/null
	assert_status 2
	assert_contains "$output" "imgstore: export: refusing to write a tar stream to a terminal (redirect stdout or use -o FILE)"
	mkdir "$BATS_TEST_TMPDIR/o"
	run --separate-stderr st export -o "$BATS_TEST_TMPDIR/o/x.tar" nosuch
	assert_status 2
	run --separate-stderr st export -o "$BATS_TEST_TMPDIR/nodir/x.tar" alpine
	assert_status 3
	assert_eq "$stderr" "imgstore: $BATS_TEST_TMPDIR/nodir: No such file or directory"
	assert_eq "$(dir_listing "$BATS_TEST_TMPDIR/o")" "" "files left"
}

@test "unshare (root): the identity mapping, CMD's exit status, the store root exported" {
	[ "$(id -u)" -eq 0 ] || skip "root's identity mapping"
	run --separate-stderr st unshare sh -c 'cat /proc/self/uid_map; echo "$IMGTRUST_STORAGE_ROOT"; exit 5'
	assert_status 5
	assert_eq "$(awk '{ print $1, $2, $3 }' <<<"${lines[0]}")" "0 0 4294967295"
	assert_eq "${lines[1]}" "$S"
}

@test "a corrupt image record: fsck names it, rm by full ID removes it, ls works again" {
	printf '{"id":' >"$S/images/$C1/image.json"
	run --separate-stderr st ls
	assert_status 2
	assert_eq "$output" ""
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_contains "$stderr" "imgstore: $S/images/$C1/image.json: "
	run --separate-stderr st fsck
	assert_status 1
	assert_eq "${#lines[@]}" 1 "fsck lines"
	assert_contains "$output" "$S/images/$C1/image.json: "
	run --separate-stderr st rm "sha256:$C1"
	assert_status 0
	assert_eq "$output" "Deleted: $C1"
	[ ! -e "$S/images/$C1" ] || fail "record still there"
	run --separate-stderr st ls
	assert_status 0
	assert_eq "${#lines[@]}" 4 "ls lines"
	run --separate-stderr st fsck
	assert_status 0
	assert_eq "$output" ""
}

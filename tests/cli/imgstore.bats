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
	# (store_fsck's behaviour); the missing layer once per image that names it.
	local want
	want=$(printf '%s\n' "$bad" "$bad" "$bad" \
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

@test "usage errors are exit 2; mount, umount, export and unshare are not implemented" {
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
	for c in mount umount export unshare; do
		run --separate-stderr st "$c" alpine
		assert_status 2
		assert_eq "$stderr" "imgstore: $c: not implemented yet"
	done
	run --separate-stderr st --help
	assert_status 0
	assert_contains "$output" "Not yet implemented: mount, umount, export, unshare."
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

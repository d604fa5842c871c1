#!/usr/bin/env bats
# imgstore as a non-root user with a subordinate range (issue 6, item 6): unshare, rm/gc of
# layers whose files belong to subordinate IDs, mount/umount through a holder process, export.
#
# The store is filled by tests/helpers/store_fill run inside `imgstore unshare` (so its files
# are the test user's, seen as root in the namespace), and the layers are then given content in
# overlay form there (rich_layers): files of container uid 1000, a whiteout, an opaque
# directory, a hardlink, a symlink and an extended attribute:
#   base layer "rbase": rbase d/ d/old gone keep/ keep/k opq/ opq/lower owned(1000:1000)
#                       hl1 hl2(=hl1) sym -> d/old xa(user.test=hello)
#   top layer  "rtop":  rtop gone (whiteout) opq/ (opaque) opq/upper
# so the merged view is: d/ d/old hl1 hl2 keep/ keep/k opq/ opq/upper owned rbase rtop sym xa.

load ../lib/common
load ../lib/users

IMGSTORE="$IMGTRUST_BUILD/imgstore"
FILL="$IMGTRUST_BUILD/tests/store_fill"

setup() {
	it_isolate
	[ -x "$IMGSTORE" ] || fail "imgstore not built: $IMGSTORE"
	[ -x "$FILL" ] || fail "store_fill not built: $FILL"
	test_user_setup
	RSTART=${TU_RANGE%%:*}
	RCOUNT=${TU_RANGE##*:}
	W="$BATS_TEST_TMPDIR/tu"
	S="$W/store"
	test_user_dir "$W"
}

teardown() {
	# A holder left by a failed test: end it by its recorded pid (only ours, by start time).
	local r pid
	for r in "$S"/mounts/*.json; do
		[ -f "$r" ] || continue
		pid=$(jq -r .pid "$r" 2>/dev/null) || continue
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done
}

# tu CMD...: as the test user.
tu() {
	as_test_user "$W" "$@"
}

# tu_bg CMD...: as the test user in the background, $! being CMD's own pid (setpriv and env
# exec it), so that kill -9 $! hits CMD itself.
tu_bg() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid="$TU_UID" --regid="$TU_GID" --init-groups --reset-env \
			env PATH="$PATH" HOME="$W" XDG_DATA_HOME="$W/data" XDG_RUNTIME_DIR="$W/run" \
			LC_ALL=C.UTF-8 TZ=UTC "$@" >/dev/null 2>&1 &
	else
		"$@" >/dev/null 2>&1 &
	fi
}

# ist ARGS...: imgstore on the test store, as the test user.
ist() {
	as_test_user "$W" "$IMGSTORE" --root "$S" "$@"
}

sha() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# chain IDs of the two-layer image rbase, rtop.
L_RBASE=$(printf '%s' rbase | sha256sum | cut -d' ' -f1)
L_RTOP=$(printf '%s' "sha256:$L_RBASE sha256:$(printf '%s' rtop | sha256sum | cut -d' ' -f1)" | sha256sum | cut -d' ' -f1)

# alive PID: the process exists and has not exited (a zombie holds no namespace any more).
alive() {
	local st
	st=$(awk '{ sub(/.*\) /, ""); print substr($0, 1, 1) }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# rich_image: the two-layer image above as ex.com/rich:1; prints its ID.
rich_image() {
	cat >"$W/rich.sh" <<-'EOS'
	set -e
	b=$1/layers/$2/diff
	t=$1/layers/$3/diff
	mkdir $b/d $b/opq $b/keep
	echo old >$b/d/old
	chmod 0750 $b/d
	echo gone >$b/gone
	echo lower >$b/opq/lower
	echo kept >$b/keep/k
	echo owned >$b/owned
	chown 1000:1000 $b/owned
	echo link >$b/hl1
	ln $b/hl1 $b/hl2
	echo xa >$b/xa
	setfattr -n user.test -v hello $b/xa
	ln -s d/old $b/sym
	mknod $t/gone c 0 0
	mkdir $t/opq
	setfattr -n user.overlay.opaque -v y $t/opq
	echo upper >$t/opq/upper
	find $b $t -exec touch -h -d @1704067200 {} +
	EOS
	chmod 755 "$W/rich.sh"
	ist unshare sh -c "'$FILL' '$S' 2024-01-01T00:00:00Z ex.com/rich:1 rbase:100 rtop:50 &&
		sh '$W/rich.sh' '$S' $L_RBASE $L_RTOP >&2"
}

# The merged view, one line an entry: type mode uid gid size name [-> link] [xattrs], sorted.
TARLIST_PY='
import sys, tarfile
t = tarfile.open(fileobj=sys.stdin.buffer, mode="r|")
for m in t:
    kind = {tarfile.DIRTYPE: "d", tarfile.REGTYPE: "f", tarfile.SYMTYPE: "l", tarfile.LNKTYPE: "h"}.get(m.type, repr(m.type))
    x = " ".join("%s=%s" % (k, v) for k, v in sorted(m.pax_headers.items()) if k.startswith("SCHILY.xattr") or "overlay" in k)
    line = "%s %o %d %d %d %s" % (kind, m.mode, m.uid, m.gid, m.size, m.name)
    if m.linkname:
        line += " -> " + m.linkname
    if x:
        line += " " + x
    print(line)
'

RICH_MERGED='d 750 0 0 0 d
f 644 0 0 4 d/old
f 644 0 0 5 hl1
h 644 0 0 0 hl2 -> hl1
d 755 0 0 0 keep
f 644 0 0 5 keep/k
d 755 0 0 0 opq
f 644 0 0 6 opq/upper
f 644 1000 1000 6 owned
f 644 0 0 5 rbase
f 644 0 0 4 rtop
l 777 0 0 0 sym -> d/old
f 644 0 0 3 xa SCHILY.xattr.user.test=hello'

@test "unshare: root in the namespace, podman's mapping, the store root in the environment" {
	run --separate-stderr ist unshare id -u
	assert_status 0
	assert_eq "$output" 0 "uid inside"
	run --separate-stderr ist unshare cat /proc/self/uid_map
	assert_status 0
	assert_eq "$(awk '{ print $1, $2, $3 }' <<<"$output")" "0 $TU_UID 1
1 $RSTART $RCOUNT" "uid_map"
	run --separate-stderr ist unshare cat /proc/self/gid_map
	assert_status 0
	assert_eq "$(awk '{ print $1, $2, $3 }' <<<"$output")" "0 $TU_GID 1
1 $RSTART $RCOUNT" "gid_map"
	run --separate-stderr ist unshare sh -c 'echo "$IMGTRUST_STORAGE_ROOT"'
	assert_status 0
	assert_eq "$output" "$S"
	# A mount namespace of its own: a mount made inside is not seen outside.
	run --separate-stderr ist unshare sh -c "mount -t tmpfs none '$W' && touch '$W/inside' && ls '$W'"
	assert_status 0
	assert_eq "$output" "inside"
	[ ! -e "$W/inside" ] || fail "the mount leaked out of the namespace"
}

@test "unshare: exit status, stdin and stdout pass through; a missing command is 127" {
	run --separate-stderr ist unshare sh -c 'exit 7'
	assert_status 7
	run --separate-stderr ist unshare cat <<<piped
	assert_status 0
	assert_eq "$output" piped
	run --separate-stderr ist unshare sh -c 'echo err >&2; kill -TERM $$'
	assert_status 143
	assert_eq "$stderr" err
	run -127 --separate-stderr ist unshare /nonexistent/prog arg
	assert_eq "$stderr" "imgstore: unshare: cannot run \"/nonexistent/prog\": No such file or directory"
	# Options after CMD are CMD's, --root too.
	run --separate-stderr ist unshare echo --root x --help
	assert_status 0
	assert_eq "$output" "--root x --help"
	# The default command is $SHELL.
	run --separate-stderr tu env SHELL=/bin/echo "$IMGSTORE" --root "$S" unshare
	assert_status 0
	assert_eq "$output" ""
}

@test "ownership: container uid 1000 is host uid START+999; seen as 1000 inside" {
	ist unshare sh -c "echo x >'$W/f' && chown 1000:1000 '$W/f'"
	assert_eq "$(stat -c '%u:%g' "$W/f")" "$((RSTART + 999)):$((RSTART + 999))" "host owner"
	run --separate-stderr ist unshare stat -c '%u:%g' "$W/f"
	assert_status 0
	assert_eq "$output" "1000:1000" "owner inside"
	# Outside, the user cannot remove what belongs to the subordinate ID in a dir of that ID.
	ist unshare sh -c "rm '$W/f'"
	[ ! -e "$W/f" ] || fail "not removed"
}

@test "rm + gc remove layers whose files belong to subordinate IDs, completely" {
	run --separate-stderr rich_image
	assert_status 0
	local id=$output
	# The base layer holds a file of host uid START+999, in a directory of the same owner.
	assert_eq "$(stat -c %u "$S/layers/$L_RBASE/diff/owned")" "$((RSTART + 999))"
	ist unshare chown 1000:1000 "$S/layers/$L_RBASE/diff/d"
	assert_eq "$(stat -c %u "$S/layers/$L_RBASE/diff/d")" "$((RSTART + 999))"
	# Outside the namespace the test user could not remove d/old (d is not theirs).
	run tu rm -f "$S/layers/$L_RBASE/diff/d/old"
	assert_status 1
	run --separate-stderr ist rm ex.com/rich:1
	assert_status 0
	assert_eq "$output" "Untagged: ex.com/rich:1
Deleted: $id"
	assert_eq "$stderr" ""
	run --separate-stderr ist gc
	assert_status 0
	assert_eq "$stderr" ""
	assert_eq "$(sort <<<"$output")" "$(printf 'sha256:%s\n' $L_RBASE $L_RTOP | sort)" "removed layers"
	assert_eq "$(dir_listing "$S/layers")" "" "layers/"
	assert_eq "$(dir_listing "$S/tmp")" "" "tmp/"
	run --separate-stderr ist fsck
	assert_status 0
	assert_eq "$output" ""
}

@test "mount: a path readable from the host; whiteout and opaque dir applied; read-only" {
	run --separate-stderr rich_image
	assert_status 0
	local id=$output
	run --separate-stderr ist mount ex.com/rich:1
	assert_status 0
	assert_eq "$stderr" ""
	local p=$output pid
	[[ "$p" =~ ^/proc/([0-9]+)/root$S/mounts/$id/merged$ ]] || fail "unexpected path: $p"
	pid=${BASH_REMATCH[1]}
	alive "$pid" || fail "holder $pid not running"
	assert_eq "$(jq -r '.pid, .id, .path' "$S/mounts/$id.json")" "$pid
$id
$p" "record"
	assert_eq "$(jq -r '."start-time"' "$S/mounts/$id.json")" \
		"$(awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[20] }' "/proc/$pid/stat")" "start time"
	# From the host, as the user, outside any namespace.
	run --separate-stderr tu ls -A "$p"
	assert_status 0
	assert_eq "$output" "d
hl1
hl2
keep
opq
owned
rbase
rtop
sym
xa" "merged listing (gone is whited out)"
	run --separate-stderr tu ls -A "$p/opq"
	assert_eq "$output" "upper" "opaque directory"
	run --separate-stderr tu cat "$p/opq/upper" "$p/d/old" "$p/rtop" "$p/sym"
	assert_status 0
	assert_eq "$output" "upper
old
rtopold"
	assert_eq "$(tu stat -c %u "$p/owned")" "$((RSTART + 999))" "host owner through the mount"
	# Read-only, from the host and inside the namespace.
	run --separate-stderr tu sh -c "echo x >'$p/newfile'"
	assert_status 2
	assert_contains "$stderr" "Read-only file system"
	run --separate-stderr tu sh -c "echo x >>'$p/rbase'"
	assert_status 2
	assert_contains "$stderr" "Read-only file system"
	# Inside the holder's namespaces (each imgstore command has a user namespace of its own,
	# so the mount is entered with nsenter, as its owner may): root there cannot write either.
	local m=${p#/proc/$pid/root}
	run --separate-stderr tu nsenter -t "$pid" -U -m --preserve-credentials \
		sh -c "id -u; cat '$m/rbase'; echo; echo x >'$m/inside'"
	assert_status 2
	assert_eq "$output" "0
rbase"
	assert_eq "$stderr" "sh: 1: cannot create $m/inside: Read-only file system"
	# Mounting again changes nothing and prints the same path.
	run --separate-stderr ist mount "$id"
	assert_status 0
	assert_eq "$output" "$p"
	# rm is refused while mounted.
	run --separate-stderr ist rm ex.com/rich:1
	assert_status 2
	assert_eq "$output" ""
	assert_eq "$stderr" "imgstore: image ex.com/rich:1 is mounted at $p: imgstore umount ex.com/rich:1 first"
	[ -e "$S/images/$id" ] || fail "record removed"
	run --separate-stderr ist umount ex.com/rich:1
	assert_status 0
	assert_eq "$output" "$id"
	alive "$pid" && fail "holder $pid still running"
	[ ! -e "$S/mounts/$id.json" ] || fail "record left"
	[ ! -e "$S/mounts/$id" ] || fail "mount point left"
	run --separate-stderr ist umount ex.com/rich:1
	assert_status 2
	assert_eq "$stderr" "imgstore: image $id is not mounted"
	run --separate-stderr ist rm ex.com/rich:1
	assert_status 0
}

@test "mount: an image of 65 layers (more than one option page of lower dirs)" {
	local args=() i
	for i in $(seq 1 65); do args+=("layer$i:1"); done
	run --separate-stderr ist unshare "$FILL" "$S" 2024-01-01T00:00:00Z ex.com/tall:1 "${args[@]}"
	assert_status 0
	run --separate-stderr ist mount ex.com/tall:1
	assert_status 0
	local p=$output
	run tu ls "$p"
	assert_status 0
	assert_eq "${#lines[@]}" 65 "entries"
	assert_eq "$(tu cat "$p/layer1" "$p/layer65")" "layer1layer65"
	run --separate-stderr ist export ex.com/tall:1 -o "$W/tall.tar"
	assert_status 0
	assert_eq "$(tar -tf "$W/tall.tar" | wc -l)" 65 "exported entries"
	run --separate-stderr ist umount ex.com/tall:1
	assert_status 0
}

@test "mount: a holder killed from outside leaves a stale record that the next command clears" {
	run --separate-stderr rich_image
	local id=$output
	run --separate-stderr ist mount ex.com/rich:1
	assert_status 0
	local pid
	pid=$(jq -r .pid "$S/mounts/$id.json")
	kill -9 "$pid"
	while alive "$pid"; do sleep 0.05; done
	run --separate-stderr ist ls
	assert_status 0
	[ ! -e "$S/mounts/$id.json" ] || fail "stale record not cleaned by ls"
	run --separate-stderr ist umount ex.com/rich:1
	assert_status 2
	assert_eq "$stderr" "imgstore: image $id is not mounted"
	# And mount works again, with a new holder.
	run --separate-stderr ist mount ex.com/rich:1
	assert_status 0
	[[ "$output" != "/proc/$pid/"* ]] || fail "old holder's path"
	run --separate-stderr ist umount ex.com/rich:1
	assert_status 0
}

@test "mount: kill -9 of imgstore mount at any moment leaves no holder behind" {
	run --separate-stderr rich_image
	local id=$output i pid bg d mid=0
	# A mount takes about 0.15 s here: delays of 8..160 ms land before, during and after setup.
	for i in $(seq 1 20); do
		d=$(printf '0.%03d' $((i * 8)))
		tu_bg "$IMGSTORE" --root "$S" mount ex.com/rich:1
		bg=$!
		sleep "$d"
		# The setpriv process execs env, which execs imgstore: the same pid.
		kill -9 "$bg" 2>/dev/null || true
		wait "$bg" 2>/dev/null || true
		sleep 0.1
		if [ -e "$S/mounts/$id.json" ]; then
			# It got as far as the record: the holder is either alive and detached (a mount
			# that completed) or gone; umount or the stale-record check clears it.
			pid=$(jq -r .pid "$S/mounts/$id.json")
			ist umount "$id" >/dev/null 2>&1 || true
			alive "$pid" && fail "round $i: holder $pid survives umount"
		else
			mid=$((mid + 1))
		fi
		# No process of this store may be left (holders show the imgstore command line).
		local left
		left=$(pgrep -u "$TU_UID" -f -- "--root $S mount" || true)
		[ -z "$left" ] || fail "round $i (after ${d}s): processes left: $left" \
			"$(ps -o pid,ppid,stat,args -p "$(tr '\n' ',' <<<"$left" | sed 's/,$//')")"
	done
	# Some rounds must have been cut short before the record, or this tested nothing.
	[ "$mid" -gt 0 ] || fail "every round completed its mount"
}

@test "export: the merged view, owners as the image has them, hardlink, xattr, no whiteouts" {
	run --separate-stderr rich_image
	assert_status 0
	ist export ex.com/rich:1 >"$W/rich.tar"
	run python3 -c "$TARLIST_PY" <"$W/rich.tar"
	assert_status 0
	assert_eq "$output" "$RICH_MERGED" "entries"
	run tar --numeric-owner -tvf "$W/rich.tar"
	assert_status 0
	assert_line_match '^-rw-r--r-- 1000/1000 +6 2024-01-01 00:00 owned$'
	assert_line_match '^hrw-r--r-- 0/0 +0 2024-01-01 00:00 hl2 link to hl1$'
	assert_line_match '^lrwxrwxrwx 0/0 +0 2024-01-01 00:00 sym -> d/old$'
	assert_no_line_match 'gone|lower|\.wh\.'
	mkdir "$W/x"
	tar -xf "$W/rich.tar" -C "$W/x"
	assert_eq "$(cat "$W/x/opq/upper" "$W/x/hl2" "$W/x/xa")" "upper
link
xa"
	# The same image gives the same bytes; the namespace's view, not the host's IDs.
	ist export ex.com/rich:1 >"$W/again.tar"
	assert_same_file "$W/rich.tar" "$W/again.tar"
}

@test "export -o: written whole and atomically; a failure leaves nothing" {
	run --separate-stderr rich_image
	run --separate-stderr ist export -o "$W/out.tar" ex.com/rich:1
	assert_status 0
	assert_eq "$output" ""
	assert_eq "$stderr" ""
	assert_eq "$(stat -c %U "$W/out.tar")" "$TU_NAME" "file owner"
	ist export ex.com/rich:1 >"$W/stdout.tar"
	assert_same_file "$W/out.tar" "$W/stdout.tar"
	mkdir "$W/o"
	test_user_dir "$W/o"
	run --separate-stderr ist export -o "$W/o/f.tar" nosuch
	assert_status 2
	assert_eq "$stderr" "imgstore: no image \"nosuch\" in $S"
	assert_eq "$(dir_listing "$W/o")" "" "nothing left"
	# A layer that disappeared makes the mount fail: nothing left either.
	ist unshare mv "$S/layers/$L_RTOP" "$W/moved"
	run --separate-stderr ist export -o "$W/o/f.tar" ex.com/rich:1
	assert_status 2
	assert_contains "$stderr" "layer sha256:$L_RTOP is missing"
	assert_eq "$(dir_listing "$W/o")" "" "nothing left"
}

@test "fsck re-hashes layers inside the namespace: a file only a subordinate ID can read" {
	run --separate-stderr rich_image
	assert_status 0
	local f="$S/layers/$L_RBASE/diff/rbase"
	ist unshare sh -c "chown 1000:1000 '$f' && chmod 0600 '$f'"
	run tu cat "$f"
	assert_status 1
	assert_contains "$output" "Permission denied"
	run --separate-stderr ist fsck
	assert_status 0
	assert_eq "$output" ""
	assert_eq "$stderr" ""
	ist unshare sh -c "printf RBASE >'$f'"
	run --separate-stderr ist fsck
	assert_status 1
	assert_eq "$stderr" ""
	assert_eq "${#lines[@]}" 1 "problem lines"
	assert_contains "${lines[0]}" "layer sha256:$L_RBASE: rbase: content changed"
}

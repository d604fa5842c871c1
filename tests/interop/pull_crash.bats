#!/usr/bin/env bats
# Crash safety and concurrency of `imgpull` and `imgstore`, run as the non-root test user (with
# a subordinate ID range; tests/lib/users.bash) against Debian's docker-registry on loopback.
#
#   situation                                         expected
#   kill -9 of imgpull at a random moment, until      after each: `imgstore fsck` exits 0 and
#   20 kills landed while the pull ran (a 4-layer     prints nothing; every layers/* entry is a
#   image of ~42 MiB of random data; delays uniform   complete layer (layer.json + diff/); every
#   in 0..a full pull's time, narrowed to the         images/* entry complete; tmp/ empty after
#   fastest finished pull; after a finished pull      that fsck; no process of the test user left
#   and on even rounds: rm + gc, else the next        from the pull; then a plain pull succeeds,
#   pull resumes from what the killed one stored)     prints the config digest and every file of
#                                                     every layer is byte-identical to its source
#   2 and 4 concurrent pulls of one image, one store  all exit 0 with the same ID (the config
#                                                     digest); 4 layer directories; fsck clean;
#                                                     `imgstore ls` lists the image once
#   rm + gc of image A while image B, sharing A's     the pull exits 0, B complete and intact
#   base layer, is being pulled (4 timings)           (fsck clean, files identical); A's own
#                                                     layer gone (the base too if gc ran before
#                                                     the pull looked: then B fetched it again);
#                                                     ls lists B only
#
# The fault proxy (tests/lib/fault_proxy.py) throttles request bodies only, not responses, so it
# cannot slow a pull down: the kill moments are random delays against the registry directly.

load ../lib/common
load ../lib/services
load ../lib/users
load ../lib/pull_bench

setup_file() {
	need_imgtrust
	need_cmd docker-registry
	need_cmd jq
	need_cmd gzip
	need_cmd pgrep procps
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	test_user_setup || return 1
	export IMGSIGN="$IMGTRUST_BUILD/imgsign" IMGPULL="$IMGTRUST_BUILD/imgpull"
	export IMGSTORE="$IMGTRUST_BUILD/imgstore"
	local p
	for p in "$IMGSIGN" "$IMGPULL" "$IMGSTORE"; do
		[ -x "$p" ] || fail "$(basename "$p") not built in $IMGTRUST_BUILD" || return 1
	done
	chmod 755 "$FT"

	start_registry >/dev/null
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR" FILE_REGISTRY="$REGISTRY"
	export RD="$FT/registries.d" POLICY="$FT/policy.json"
	mkdir -p "$RD"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POLICY"
	chmod 755 "$RD"
	chmod 644 "$POLICY"

	# The crash image: 4 layers of random bytes (16 + 12 + 8 + 6 MiB), each tree under its own
	# top directory so the layers do not overlap and each can be compared on its own.
	export TREES="$FT/trees"
	pb_random_tree "$TREES/big1" 16 4 || return 1
	pb_random_tree "$TREES/big2" 12 3 || return 1
	pb_random_tree "$TREES/big3" 8 4 || return 1
	pb_random_tree "$TREES/big4" 6 6 || return 1
	# Two images with one base layer in common: A = base + a (small), B = base + b (large).
	pb_random_tree "$TREES/base" 8 2 || return 1
	pb_random_tree "$TREES/a" 2 2 || return 1
	pb_random_tree "$TREES/b" 24 4 || return 1
	export BIG_DIGEST A_DIGEST B_DIGEST
	BIG_DIGEST=$(pb_layout "$FT/oci-big" v1 1 "$TREES/big1" "$TREES/big2" "$TREES/big3" "$TREES/big4")
	A_DIGEST=$(pb_layout "$FT/oci-a" v1 1 "$TREES/base" "$TREES/a")
	B_DIGEST=$(pb_layout "$FT/oci-b" v1 1 "$TREES/base" "$TREES/b")
	publish "$FT/oci-big" crash/big:v1 || return 1
	publish "$FT/oci-a" crash/a:v1 || return 1
	publish "$FT/oci-b" crash/b:v1 || return 1

	# How long a full pull takes here, into a fresh store: the range of the kill delays (the
	# fastest of three; the first also warms the caches).
	local U="$FT/measure" S="$FT/measure/store" i
	export PULL_MS=0
	test_user_dir "$U"
	for i in 1 2 3; do
		rm -rf "$S"
		tu_pull_bg "m$i" crash/big:v1 || return 1
		tu_wait "m$i" || return 1
		[ "$WAIT_RC" = 0 ] || fail "the measuring pull failed" "$(cat "$U/m$i.err")" || return 1
		if [ "$PULL_MS" -eq 0 ] || [ "$WAIT_MS" -lt "$PULL_MS" ]; then PULL_MS=$WAIT_MS; fi
	done
	[ "$PULL_MS" -gt 0 ] || PULL_MS=1
	printf '# a pull of crash/big:v1 into a fresh store takes %s ms (fastest of 3)\n' "$PULL_MS" >&3
	rm -rf "$U"
}

teardown_file() {
	IT_SERVICES_DIR="${FILE_SERVICES_DIR:-}" stop_services
}

setup() {
	T="$BATS_TEST_TMPDIR"
	U="$T/user"
	S="$U/store"
	test_user_dir "$U"
}

teardown() {
	# Anything of ours still running (a failed assertion mid-test): end it by pid.
	local p
	for p in $(tu_procs); do
		kill -KILL "$p" 2>/dev/null || true
	done
}

# ---------------------------------------------------------------------------------------------
# Helpers

# publish LAYOUT REPO:TAG: imgsign push of LAYOUT's tag v1, quietly.
publish() {
	"$IMGSIGN" push --registries.d "$RD" --dest-tls-verify=false "oci:$1:v1" \
		"docker://$REGISTRY/$2" >/dev/null 2>"$FT/publish.err" ||
		fail "publishing $2 failed" "$(cat "$FT/publish.err")"
}

# pull_args REPO:TAG: imgpull's arguments for our store.
pull_args() {
	printf '%s\n' --policy "$POLICY" --registries.d "$RD" --tls-verify=false --root "$S" \
		"docker://$REGISTRY/$1"
}

# tu_pull_bg NAME REPO:TAG: start imgpull as the test user in the background; its pid (the
# imgpull process itself: setpriv, env and bash all exec) in BG_PID, its output in $U/NAME.out
# and .err, its exit status later by tu_wait NAME.
tu_pull_bg() {
	local name="$1" args
	mapfile -t args < <(pull_args "$2")
	rm -f "$U/$name.pid" "$U/$name.rc"
	(
		rc=0
		as_test_user "$U" bash -c 'echo $$ >"$0.pid"; exec "$@"' "$U/$name" "$IMGPULL" \
			"${args[@]}" >"$U/$name.out" 2>"$U/$name.err" || rc=$?
		echo "${EPOCHREALTIME/[.,]/}" >"$U/$name.end"
		echo "$rc" >"$U/$name.rc"
	) 3>&- &
	local i
	for ((i = 0; i < 500; i++)); do
		[ -s "$U/$name.pid" ] && break
		sleep 0.01
	done
	BG_PID=$(cat "$U/$name.pid" 2>/dev/null) || fail "imgpull $name did not start" || return 1
	# Timed from here, when imgpull is about to start (setpriv and the shell came before).
	echo "${EPOCHREALTIME/[.,]/}" >"$U/$name.start"
}

# tu_wait NAME: until the background command NAME has ended; its status in WAIT_RC, how long
# imgpull ran in WAIT_MS.
tu_wait() {
	local i
	for ((i = 0; i < 6000; i++)); do
		[ -s "$U/$1.rc" ] && break
		sleep 0.05
	done
	WAIT_RC=$(cat "$U/$1.rc" 2>/dev/null) || fail "$1 did not end within 300 s" || return 1
	WAIT_MS=$((($(cat "$U/$1.end") - $(cat "$U/$1.start")) / 1000))
}

# tu_store CMD...: `run --separate-stderr imgstore --root $S CMD...` as the test user.
tu_store() {
	run --separate-stderr as_test_user "$U" "$IMGSTORE" --root "$S" "$@"
}

# tu_procs: pids of the test user's processes started for this test (HOME=$U in their
# environment; other suites may run as the same user at the same time).
tu_procs() {
	local p
	for p in $(pgrep -u "$TU_UID" 2>/dev/null); do
		if { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "HOME=$U"; then
			printf '%s\n' "$p"
		fi
	done
}

# assert_no_procs: none of tu_procs within 2 s (helpers get SIGKILL from PDEATHSIG, which takes
# a moment after their parent died).
assert_no_procs() {
	local i left
	for ((i = 0; i < 40; i++)); do
		left=$(tu_procs)
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	local p out=""
	for p in $left; do
		out+="$(ps -o pid=,ppid=,user=,stat=,args= -p "$p" 2>/dev/null)"$'\n'
	done
	fail "${1:-}: processes of the test user left behind:" "$out"
}

# assert_store_consistent WHAT: fsck exits 0 printing nothing; every layers/* and images/*
# entry complete; tmp/ empty (fsck is the next command after a crash: it must clean).
assert_store_consistent() {
	local what="$1" e
	tu_store fsck
	if [ "$status" -ne 0 ] || [ -n "$output" ] || [ -n "$stderr" ]; then
		fail "$what: imgstore fsck: status $status" "--- stdout:" "$output" "--- stderr:" "$stderr" ||
			return 1
	fi
	if [ -d "$S/layers" ]; then
		for e in "$S"/layers/* "$S"/layers/.[!.]*; do
			[ -e "$e" ] || continue
			[[ "$(basename "$e")" =~ ^[0-9a-f]{64}$ ]] || fail "$what: stray entry in layers/: $e" || return 1
			[ -f "$e/layer.json" ] && [ -d "$e/diff" ] ||
				fail "$what: incomplete layer $e:" "$(ls -la "$e")" || return 1
		done
	fi
	if [ -d "$S/images" ]; then
		for e in "$S"/images/* "$S"/images/.[!.]*; do
			[ -e "$e" ] || continue
			[ -f "$e/image.json" ] && [ -f "$e/manifest" ] && [ -f "$e/config" ] ||
				fail "$what: incomplete image record $e:" "$(ls -la "$e")" || return 1
		done
	fi
	if [ -d "$S/tmp" ] && [ -n "$(ls -A "$S/tmp")" ]; then
		fail "$what: tmp/ not empty after imgstore fsck:" "$(ls -la "$S/tmp")" || return 1
	fi
	return 0
}

# layer_dirs: the hex names in layers/, sorted.
layer_dirs() {
	(cd "$S/layers" && LC_ALL=C ls -A1)
}

# tree_listing DIR: every entry with type, mode and size, and each file's sha256.
tree_listing() {
	(cd "$1" && find . -printf '%P %y %m %s\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# assert_image_intact LAYOUT MANIFEST TREE...: the stored layers of the image hold exactly the
# trees' files, byte for byte, with their modes.
assert_image_intact() {
	local layout="$1" m="$2" i=0 c chain
	shift 2
	mapfile -t chain < <(pb_chain_ids "$layout" "$m")
	assert_eq "${#chain[@]}" "$#" "layer count of $layout" || return 1
	for c in "${chain[@]}"; do
		i=$((i + 1))
		local tree="${!i}" d="$S/layers/${c#sha256:}/diff" name got want
		name=$(basename "$tree")
		[ -d "$d/$name" ] || fail "layer $i ($c): no $name/ in $d" || return 1
		# The tree DIR holds NAME/ (tarred from DIR), so the layer holds NAME/...
		want=$(tree_listing "$tree/$name")
		got=$(tree_listing "$d/$name")
		assert_eq "$got" "$want" "files of layer $i ($c) against $tree" || return 1
		[ "$(ls -A "$d")" = "$name" ] || fail "layer $i holds more than $name/: $(ls -A "$d")" ||
			return 1
	done
}

# ---------------------------------------------------------------------------------------------

@test "kill -9 at random moments of a pull, 20 kills: store consistent after each, then a full pull is byte-identical" {
	local round delay_ms killed=0 finished=0 range=$PULL_MS fresh=1 args
	# 20 rounds whose kill landed while the pull ran; a pull that finished first does not count
	# (it narrows the delays to its own time instead), up to 60 attempts.
	for ((round = 1; killed < 20; round++)); do
		[ "$round" -le 60 ] || fail "only $killed of 60 kills landed while the pull ran" || return 1
		delay_ms=$((RANDOM * 32768 + RANDOM))
		delay_ms=$((delay_ms % (range + 1)))
		tu_pull_bg "pull-$round" crash/big:v1 || return 1
		sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
		kill -KILL "$BG_PID" 2>/dev/null || true
		tu_wait "pull-$round" || return 1
		case "$WAIT_RC" in
		0)
			# Done before the kill: aim the next delays within what a full pull takes now.
			finished=$((finished + 1))
			if [ "$fresh" = 1 ] && [ "$WAIT_MS" -lt "$range" ] && [ "$WAIT_MS" -gt 50 ]; then
				range=$WAIT_MS
			fi
			;;
		137) killed=$((killed + 1)) ;;
		*) fail "round $round: imgpull exited $WAIT_RC (not 0, not killed)" "$(cat "$U/pull-$round.err")" ||
			return 1 ;;
		esac
		printf '# round %s: kill after %s ms (of 0..%s), status %s after %s ms, layers %s, tmp/ %s\n' \
			"$round" "$delay_ms" "$range" "$WAIT_RC" "$WAIT_MS" "$(ls "$S/layers" 2>/dev/null | wc -l)" \
			"$(ls "$S/tmp" 2>/dev/null | wc -l)" >&3
		assert_no_procs "round $round" || return 1
		assert_store_consistent "round $round (killed after $delay_ms ms)" || return 1
		# The next round starts from nothing (rm + gc, right after the crash) when this pull
		# finished or on even rounds; after a kill in an odd round it keeps what the killed pull
		# committed, so the next pull resumes.
		fresh=0
		if [ "$WAIT_RC" = 0 ] || [ $((round % 2)) -eq 0 ]; then
			fresh=1
			if [ -d "$S/images" ] && [ -n "$(ls -A "$S/images")" ]; then
				tu_store rm "$REGISTRY/crash/big:v1"
				assert_status 0 || return 1
			fi
			tu_store gc
			assert_status 0 || return 1
			assert_eq "$(ls -A "$S/layers")" "" "round $round: layers/ after rm + gc" || return 1
			assert_store_consistent "round $round after rm + gc" || return 1
		fi
	done
	printf '# %s pulls killed, %s finished first\n' "$killed" "$finished" >&3

	mapfile -t args < <(pull_args crash/big:v1)
	run --separate-stderr as_test_user "$U" "$IMGPULL" "${args[@]}"
	assert_status 0
	assert_eq "${lines[-1]}" "$(pb_config_digest "$FT/oci-big" "$BIG_DIGEST")" "image ID"
	assert_store_consistent "after the final pull"
	assert_eq "$(layer_dirs)" "$(pb_chain_ids "$FT/oci-big" "$BIG_DIGEST" | cut -d: -f2 | LC_ALL=C sort)" \
		"layers/ after the final pull"
	assert_image_intact "$FT/oci-big" "$BIG_DIGEST" "$TREES/big1" "$TREES/big2" "$TREES/big3" "$TREES/big4"
	assert_no_procs "after the final pull"
}

# concurrent_pulls N: N pulls of crash/big:v1 into one fresh store at once.
concurrent_pulls() {
	local n="$1" i id want
	want=$(pb_config_digest "$FT/oci-big" "$BIG_DIGEST")
	for ((i = 1; i <= n; i++)); do
		tu_pull_bg "c$i" crash/big:v1 || return 1
	done
	for ((i = 1; i <= n; i++)); do
		tu_wait "c$i" || return 1
		assert_eq "$WAIT_RC" 0 "exit status of pull $i of $n ($(cat "$U/c$i.err"))" || return 1
		id=$(tail -n 1 "$U/c$i.out")
		assert_eq "$id" "$want" "image ID printed by pull $i of $n" || return 1
	done
	assert_no_procs "after $n concurrent pulls" || return 1
	assert_store_consistent "after $n concurrent pulls" || return 1
	assert_eq "$(layer_dirs)" "$(pb_chain_ids "$FT/oci-big" "$BIG_DIGEST" | cut -d: -f2 | LC_ALL=C sort)" \
		"layers/ after $n concurrent pulls (one copy of each)" || return 1
	tu_store ls --json
	assert_status 0 || return 1
	assert_eq "$(jq -c '[.[] | [.id, .names]]' <<<"$output")" \
		"$(jq -nc --arg i "${want#sha256:}" --arg n "$REGISTRY/crash/big:v1" '[[$i, [$n]]]')" \
		"imgstore ls --json" || return 1
	tu_store ls
	assert_status 0 || return 1
	assert_eq "${#lines[@]}" 2 "imgstore ls lines (header + one image)" || return 1
	assert_contains "${lines[1]}" "$REGISTRY/crash/big:v1  ${want:7:12}  " "imgstore ls row" || return 1
	assert_image_intact "$FT/oci-big" "$BIG_DIGEST" "$TREES/big1" "$TREES/big2" "$TREES/big3" "$TREES/big4"
}

@test "two concurrent pulls of the same image into one store: both succeed, one copy of each layer" {
	concurrent_pulls 2
}

@test "four concurrent pulls of the same image into one store: all succeed, one copy of each layer" {
	concurrent_pulls 4
}

@test "imgstore rm + gc of an image while another image sharing its base layer is pulled: the pull completes intact" {
	local delay a_id b_id base a_top b_top round=0 gc_out b_err log="" args
	a_id=$(pb_config_digest "$FT/oci-a" "$A_DIGEST")
	b_id=$(pb_config_digest "$FT/oci-b" "$B_DIGEST")
	base=$(pb_chain_ids "$FT/oci-a" "$A_DIGEST" | head -n 1)
	a_top=$(pb_chain_ids "$FT/oci-a" "$A_DIGEST" | tail -n 1)
	b_top=$(pb_chain_ids "$FT/oci-b" "$B_DIGEST" | tail -n 1)
	assert_eq "$(pb_chain_ids "$FT/oci-b" "$B_DIGEST" | head -n 1)" "$base" "the shared base"
	# rm + gc start 0 ms, 20 ms, a third and two thirds of a full pull's time after the pull.
	for delay in 0 20 $((PULL_MS / 3)) $((PULL_MS * 2 / 3)); do
		round=$((round + 1))
		rm -rf "$S"
		mapfile -t args < <(pull_args crash/a:v1)
		run --separate-stderr as_test_user "$U" "$IMGPULL" "${args[@]}"
		assert_status 0
		assert_eq "${lines[-1]}" "$a_id" "ID of A"

		tu_pull_bg "b$round" crash/b:v1 || return 1
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		tu_store rm "$REGISTRY/crash/a:v1"
		assert_status 0
		assert_eq "$output" "Untagged: $REGISTRY/crash/a:v1"$'\n'"Deleted: ${a_id#sha256:}" \
			"rm's stdout (delay $delay ms)"
		tu_store gc
		assert_status 0
		gc_out=$output
		tu_wait "b$round" || return 1
		assert_eq "$WAIT_RC" 0 "pull of B while rm + gc ran (delay $delay ms): $(cat "$U/b$round.err")"
		assert_eq "$(tail -n 1 "$U/b$round.out")" "$b_id" "ID of B (delay $delay ms)"
		# A's own layer always goes. The base goes too only when gc ran before the pull looked
		# for it (the pull then fetched both layers); once the pull has seen it, its lock keeps
		# gc out until B's record holds it.
		b_err=$(cat "$U/b$round.err")
		if [ "$gc_out" = "$a_top" ]; then
			:
		elif [ "$(printf '%s\n' "$gc_out" | LC_ALL=C sort)" = "$(printf '%s\n' "$base" "$a_top" | LC_ALL=C sort)" ]; then
			assert_contains "$b_err" ": 2 layers fetched (" "B's summary after gc took the base (delay $delay ms)"
		else
			fail "gc removed (delay $delay ms):" "$gc_out" "--- want $a_top, and maybe $base"
		fi
		log+="delay $delay ms: gc removed $(printf '%s' "$gc_out" | grep -c .) layer(s); ${b_err##*: }"$'\n'
		assert_no_procs "delay $delay ms"
		assert_store_consistent "after the pull of B with rm + gc (delay $delay ms)"
		assert_eq "$(layer_dirs)" "$(printf '%s\n' "${base#sha256:}" "${b_top#sha256:}" | LC_ALL=C sort)" \
			"layers/ (delay $delay ms)"
		tu_store ls --json
		assert_status 0
		assert_eq "$(jq -c '[.[] | .id]' <<<"$output")" "[\"${b_id#sha256:}\"]" "images (delay $delay ms)"
		assert_image_intact "$FT/oci-b" "$B_DIGEST" "$TREES/base" "$TREES/b"
	done
	printf '# %s\n' "$log" >&3
}

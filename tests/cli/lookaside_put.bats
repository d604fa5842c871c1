#!/usr/bin/env bats
# Publishing signatures to an http(s) lookaside by PUT (sign/lookaside_put.c) against nginx's dav
# module from tests/lib/services.bash, through the live tests of
# tests/unit/registry/test_lookaside_put_live.c (which skip themselves without these services).

load ../lib/common
load ../lib/services

LIVE="$IMGTRUST_BUILD/tests/test_lookaside_put_live"

setup() {
	it_isolate
	[ -x "$LIVE" ] || fail "not built: $LIVE"
	need_cmd nginx nginx-light
	need_cmd htpasswd apache2-utils
	WWW="$BATS_TEST_TMPDIR/www"
	mkdir -p "$WWW/auth"
	# Nothing listens there: a client following the redirect would fail differently.
	OTHER="http://127.0.0.1:$(free_port)"
	htpasswd -bmc "$BATS_TEST_TMPDIR/htpasswd" alice 's3cret-pw' 2>/dev/null
	start_nginx "$WWW" "
		location ^~ /auth/ {
		    auth_basic lookaside;
		    auth_basic_user_file $BATS_TEST_TMPDIR/htpasswd;
		    dav_methods PUT DELETE;
		    create_full_put_path on;
		    dav_access user:rw group:r all:r;
		}
		location ^~ /redir/ { return 307 $OTHER\$request_uri; }
		location ^~ /putredir/ {
		    if (\$request_method = PUT) { return 307 $OTHER\$request_uri; }
		}" >/dev/null
}

teardown() {
	stop_services
}

# run_live TEST...: run the live driver with the services; each named test must pass, not skip.
run_live() {
	run env IT_LIVE_PUT_URL="$LOOKASIDE_URL" IT_LIVE_PUT_DIR="$WWW" \
		IT_LIVE_PUT_CREDS=alice:s3cret-pw IT_LIVE_PUT_REDIR="$OTHER" "$LIVE"
	printf '%s\n' "$output" >&2
	assert_status 0 || return 1
	local t
	for t in "$@"; do
		assert_contains "$output" "[       OK ] $t" || return 1
	done
	assert_not_contains "$output" "SKIPPED" || return 1
	assert_not_contains "$output" "FAILED"
}

@test "the redirect and auth locations behave as the live tests expect" {
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code} %{redirect_url}' -X PUT \
		--data-binary x "$LOOKASIDE_URL/putredir/a"
	assert_eq "$output" "307 $OTHER/putredir/a"
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -I "$LOOKASIDE_URL/putredir/a"
	assert_eq "$output" 404
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -T /dev/null "$LOOKASIDE_URL/auth/a"
	assert_eq "$output" 401
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -u alice:s3cret-pw \
		--data-binary x -X PUT "$LOOKASIDE_URL/auth/a"
	assert_eq "$output" 201
}

@test "nginx's dav module ignores If-None-Match on PUT (why the writer reads back)" {
	printf one >"$BATS_TEST_TMPDIR/one"
	printf two >"$BATS_TEST_TMPDIR/two"
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -H 'If-None-Match: *' \
		-T "$BATS_TEST_TMPDIR/one" "$LOOKASIDE_URL/inm/f"
	assert_eq "$output" 201
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -H 'If-None-Match: *' \
		-T "$BATS_TEST_TMPDIR/two" "$LOOKASIDE_URL/inm/f"
	assert_eq "$output" 204
	assert_eq "$(cat "$WWW/inm/f")" two
}

@test "PUT appends: empty tree, after existing, concurrent, auth, redirects, errors" {
	run_live test_authfile_match test_authfile_strict test_authfile_search test_put_args \
		test_put_empty test_put_existing test_put_concurrent test_put_auth \
		test_put_redirect test_put_status test_put_full
}

@test "20 concurrent appends from 4 processes leave signature-1..K without gaps on disk" {
	# K < 20 would be the documented residual race (nginx replaces on PUT whatever
	# If-None-Match says; the second read-back makes it rare); the live test prints the count.
	local d=$WWW/race/app@sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	run_live test_put_concurrent
	kept=$(ls "$d" | wc -l)
	[ "$kept" -ge 1 ] && [ "$kept" -le 20 ] || fail "kept $kept"
	for i in $(seq 1 "$kept"); do
		[ -f "$d/signature-$i" ] || fail "gap at signature-$i"
		grep -qE '^writer [0-3] signature [0-4]$' "$d/signature-$i" || fail "bad signature-$i"
	done
}

#!/usr/bin/env bats
# The test service helpers (tests/lib/services.bash) and, through them, the registry client and
# the HTTP lookaside reader (tests/unit/registry/test_registry_live.c, which skips itself unless
# these tests give it the services in its environment).

load ../lib/common
load ../lib/services

LIVE="$IMGTRUST_BUILD/tests/test_registry_live"
HEX64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

setup() {
	it_isolate
	[ -x "$LIVE" ] || fail "not built: $LIVE"
	need_cmd docker-registry
	need_cmd nginx nginx-light
	need_cmd skopeo
	need_cmd htpasswd apache2-utils
}

teardown() {
	stop_services
}

# run_live TEST VAR=VALUE...: run one test of the live driver with the given environment; it must
# pass, not be skipped.
run_live() {
	local t="$1"
	shift
	run env "$@" CMOCKA_TEST_ABORT=1 "$LIVE"
	printf '%s\n' "$output" >&2
	assert_status 0 || return 1
	assert_contains "$output" "[       OK ] $t" || return 1
	assert_not_contains "$output" "FAILED"
}

@test "start_registry answers on 127.0.0.1 and push_test_image gives skopeo's digest" {
	start_registry >"$BATS_TEST_TMPDIR/printed"
	assert_eq "$(cat "$BATS_TEST_TMPDIR/printed")" "$REGISTRY" "printed address"
	[[ "$REGISTRY" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "REGISTRY=$REGISTRY"
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
	assert_eq "$output" 200
	digest=$(push_test_image imgtrust/app:v1 "app v1")
	[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "digest: $digest"
	# The same digest from the registry's own header.
	hdr=$(curl -s --noproxy '*' -o /dev/null -D - \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REGISTRY/v2/imgtrust/app/manifests/v1" | tr -d '\r' |
		awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
	assert_eq "$hdr" "$digest" "Docker-Content-Digest"
	run_live test_fetch IT_LIVE_REGISTRY="$REGISTRY" IT_LIVE_REPO=imgtrust/app IT_LIVE_TAG=v1 \
		IT_LIVE_DIGEST="$digest"
}

@test "registry with htpasswd: right credentials fetch, wrong ones fail without showing them" {
	start_registry --htpasswd alice:s3cret-pw >/dev/null
	assert_eq "$REGISTRY_CREDS" alice:s3cret-pw
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
	assert_eq "$output" 401
	digest=$(push_test_image team/tool:latest)
	run_live test_auth IT_LIVE_REGISTRY="$REGISTRY" IT_LIVE_REPO=team/tool IT_LIVE_TAG=latest \
		IT_LIVE_DIGEST="$digest" IT_LIVE_CREDS="$REGISTRY_CREDS" IT_LIVE_BADCREDS=alice:not-the-pw
}

@test "start_nginx serves the lookaside dir, accepts PUT, and the HTTP reader follows spec 4.2" {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	start_nginx "$BATS_TEST_TMPDIR/www" >/dev/null
	[[ "$LOOKASIDE_URL" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "LOOKASIDE_URL=$LOOKASIDE_URL"
	printf 'put body' >"$BATS_TEST_TMPDIR/blob"
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -T "$BATS_TEST_TMPDIR/blob" \
		"$LOOKASIDE_URL/new/dir/signature-1"
	assert_eq "$output" 201
	assert_same_file "$BATS_TEST_TMPDIR/www/new/dir/signature-1" "$BATS_TEST_TMPDIR/blob"
	run curl -s --noproxy '*' "$LOOKASIDE_URL/new/dir/signature-1"
	assert_eq "$output" "put body"
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$LOOKASIDE_URL/status500/x"
	assert_eq "$output" 500
	run_live test_lookaside_http IT_LIVE_LOOKASIDE_URL="$LOOKASIDE_URL" \
		IT_LIVE_LOOKASIDE_DIR="$BATS_TEST_TMPDIR/www"
}

@test "client: digest mismatch is a hard error; Bearer token from the challenge's realm" {
	w="$BATS_TEST_TMPDIR/fake"
	mkdir -p "$w/v2/fake/app/manifests" "$w/v2/bearer/app/manifests"
	printf '{}' >"$w/v2/fake/app/manifests/v1"
	printf '{}' >"$w/v2/fake/app/manifests/sha256:$HEX64"
	printf '{}' >"$w/v2/bearer/app/manifests/v1"
	basic=$(printf 'alice:secret' | base64)
	extra='location = /v2/ {
	    add_header WWW-Authenticate "Bearer realm=\"http://$http_host/token\",service=\"fake\"" always;
	    return 401;
	}
	location = /token {
	    default_type application/json;
	    if ($http_authorization = "Basic '"$basic"'") { return 200 "{\"token\":\"good-token\"}"; }
	    if ($http_authorization != "") { return 401; }
	    return 200 "{\"access_token\":\"anon-token\"}";
	}
	location ^~ /v2/fake/ {
	    default_type text/plain;
	    if ($http_authorization !~ "^Bearer (anon|good)-token$") { return 401; }
	}
	location ^~ /v2/bearer/ {
	    default_type application/vnd.oci.image.manifest.v1+json;
	    if ($http_authorization != "Bearer good-token") { return 401; }
	}'
	start_nginx "$w" "$extra" >/dev/null
	run_live test_fake_registry IT_LIVE_FAKE_REGISTRY="${LOOKASIDE_URL#http://}" \
		IT_LIVE_FAKE_CREDS=alice:secret
}

@test "push_test_index: a two-platform index; the client chooses and fetches the amd64 instance" {
	start_registry >/dev/null
	mapfile -t d < <(push_test_index multi/app:multi)
	assert_eq "${#d[@]}" 3 "digest lines"
	for x in "${d[@]}"; do
		[[ "$x" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "digest: $x"
	done
	# The digests printed are those of what the registry serves.
	raw=$(curl -s --noproxy '*' -H 'Accept: application/vnd.oci.image.index.v1+json' \
		"http://$REGISTRY/v2/multi/app/manifests/multi" | sha256sum | cut -d' ' -f1)
	assert_eq "sha256:$raw" "${d[0]}" "index digest"
	run_live test_index IT_LIVE_REGISTRY="$REGISTRY" IT_LIVE_INDEX_REPO=multi/app \
		IT_LIVE_INDEX_DIGEST="${d[0]}" IT_LIVE_AMD64_DIGEST="${d[1]}" IT_LIVE_ARM64_DIGEST="${d[2]}"
}

@test "manifest_digest agrees with skopeo manifest-digest on every manifest seed (spec 3)" {
	cases=""
	for f in "$IMGTRUST_SRC"/tests/fuzz/seeds/manifest/*; do
		if d=$(skopeo manifest-digest "$f" 2>/dev/null); then
			cases+="$f $d"$'\n'
		else
			cases+="$f error"$'\n'
		fi
	done
	assert_contains "$cases" "schema1-signatures-number.json error"
	assert_contains "$cases" "schema1-signed.json sha256:"
	run_live test_digest_vs_skopeo IT_LIVE_DIGEST_CASES="$cases"
}

@test "stop_services ends exactly the processes it started" {
	start_registry >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/www"
	start_nginx "$BATS_TEST_TMPDIR/www" >/dev/null
	mapfile -t pids < <(cut -d' ' -f1 "$IT_SERVICES_DIR/pids")
	assert_eq "${#pids[@]}" 2
	for p in "${pids[@]}"; do
		kill -0 "$p" || fail "process $p not running"
	done
	stop_services
	for p in "${pids[@]}"; do
		! kill -0 "$p" 2>/dev/null || fail "process $p still running"
	done
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
	assert_eq "$output" 000
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$LOOKASIDE_URL/"
	assert_eq "$output" 000
}

#!/usr/bin/env bats
# The token-auth registry and the fault-injecting proxy of tests/lib/services.bash
# (start_token_registry, start_fault_proxy, fault_set, ...), checked with curl and skopeo alone so
# that the push tests built on them can trust them.

load ../lib/common
load ../lib/services

setup() {
	it_isolate
	need_cmd docker-registry
	need_cmd skopeo
	need_cmd python3
	need_cmd openssl
	need_cmd curl
	need_cmd jq
	W="$BATS_TEST_TMPDIR"
	mkdir -p "$W/registries.d"
}

teardown() {
	stop_services
}

# sk ARGS...: skopeo with a private auth file and registries.d, plain HTTP.
sk() {
	local cmd="$1"
	shift
	skopeo --registries.d "$W/registries.d" "$cmd" --authfile "$W/auth.json" "$@"
}

# http_code ARGS...: curl's status code (000 when there was no answer).
http_code() {
	curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$@" || true
}

# header NAME ARGS...: one response header's value from curl -D.
header() {
	local name="$1"
	shift
	curl -s --noproxy '*' -o /dev/null -D - "$@" | tr -d '\r' |
		awk -v n="$name" \
			'{ k = tolower($1); sub(/:$/, "", k) } k == tolower(n) { sub(/^[^:]*: */, ""); print; exit }'
}

# token USER:PASS SCOPE...: a token from the issuer (anonymous when USER:PASS is "-").
token() {
	local creds="$1" q="service=$TOKEN_SERVICE" s
	shift
	for s in "$@"; do
		q+="&scope=$s"
	done
	if [ "$creds" = - ]; then
		curl -sf --noproxy '*' "$TOKEN_REALM?$q" | jq -r .token
	else
		curl -sf --noproxy '*' -u "$creds" "$TOKEN_REALM?$q" | jq -r .token
	fi
}

# jwt_part TOKEN N: the N-th (0 header, 1 claims) part of a JWT, decoded.
jwt_part() {
	local p
	p=$(cut -d. -f$(($2 + 1)) <<<"$1" | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p+="="; done
	base64 -d <<<"$p"
}

# upload_blob BASE NAME FILE [CURL-ARGS...]: monolithic upload (POST, then PUT with the body);
# prints the PUT's status code.
upload_blob() {
	local base="$1" name="$2" file="$3" loc d
	shift 3
	d=$(sha256sum "$file" | cut -d' ' -f1)
	loc=$(header Location -X POST "http://$base/v2/$name/blobs/uploads/")
	[ -n "$loc" ] || fail "no upload Location from $base" || return 1
	http_code -X PUT -H 'Content-Type: application/octet-stream' -T "$file" "$@" \
		"$loc&digest=sha256:$d"
}

# pid_of NAME: the pid stop_services has for the service NAME (the last one started).
pid_of() {
	awk -v n="$1" '$2 == n { p = $1 } END { print p }' "$IT_SERVICES_DIR/pids"
}

# ---------------------------------------------------------------------------------------------
# Token authentication

@test "token registry: skopeo pushes and reads with the right credentials; the issuer logs scopes" {
	start_token_registry alice:tok-pw-1 >"$W/printed"
	assert_eq "$(cat "$W/printed")" "$REGISTRY" "printed address"
	[[ "$REGISTRY" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "REGISTRY=$REGISTRY"
	assert_eq "$REGISTRY_CREDS" alice:tok-pw-1
	[[ "$TOKEN_REALM" =~ ^http://127\.0\.0\.1:[0-9]+/token$ ]] || fail "TOKEN_REALM=$TOKEN_REALM"
	assert_eq "$(wc -l <"$TOKEN_LOG")" 0 "token requests before any client"
	# The registry sends clients to the issuer.
	assert_eq "$(http_code "http://$REGISTRY/v2/")" 401
	assert_eq "$(header WWW-Authenticate "http://$REGISTRY/v2/")" \
		"Bearer realm=\"$TOKEN_REALM\",service=\"imgtrust-test-registry\""

	digest=$(push_test_image team/app:v1 "token v1")
	[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "digest: $digest"
	run cat "$TOKEN_LOG"
	assert_line_match '^GET /token 200 user=alice service=imgtrust-test-registry scope=repository:team/app:pull,push granted=repository:team/app:pull,push$'
	assert_line_match '^GET /token 200 user=alice service=imgtrust-test-registry scope=repository:team/app:pull granted=repository:team/app:pull$'
	assert_not_contains "$output" tok-pw-1 "token log"

	run sk inspect --tls-verify=false --creds "$REGISTRY_CREDS" "docker://$REGISTRY/team/app:v1"
	assert_status 0
	assert_eq "$(jq -r .Digest <<<"$output")" "$digest" "inspected digest"
	run sk copy -q --src-tls-verify=false --src-creds "$REGISTRY_CREDS" \
		"docker://$REGISTRY/team/app:v1" "dir:$W/pulled"
	assert_status 0
	assert_eq "sha256:$(sha256sum <"$W/pulled/manifest.json" | cut -d' ' -f1)" "$digest" "pulled manifest"

	# The token, by hand: its claims, and the registry takes it for what it grants.
	t=$(token alice:tok-pw-1 repository:team/app:pull repository:other/x:pull,push)
	h=$(jwt_part "$t" 0)
	assert_eq "$(jq -r '.alg + " " + .typ' <<<"$h")" "RS256 JWT" "JWT header"
	[[ "$(jq -r .kid <<<"$h")" =~ ^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$ ]] || fail "kid: $h"
	assert_eq "$(jq -r 'has("x5c")' <<<"$h")" false "x5c in a kid token"
	c=$(jwt_part "$t" 1)
	assert_eq "$(jq -c '[.iss, .sub, .aud, .access]' <<<"$c")" \
		'["imgtrust-test-issuer","alice","imgtrust-test-registry",[{"type":"repository","name":"team/app","actions":["pull"]},{"type":"repository","name":"other/x","actions":["pull","push"]}]]' \
		"claims"
	assert_eq "$(jq '.exp - .iat' <<<"$c")" 300 "lifetime"
	assert_eq "$(http_code -H "Authorization: Bearer $t" \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REGISTRY/v2/team/app/manifests/v1")" 200
	assert_eq "$(header Docker-Content-Digest -H "Authorization: Bearer $t" \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REGISTRY/v2/team/app/manifests/v1")" "$digest" "served digest"
	# A pull token does not allow an upload; the challenge names the missing scope.
	assert_eq "$(http_code -X POST -H "Authorization: Bearer $t" \
		"http://$REGISTRY/v2/team/app/blobs/uploads/")" 401
	# (The registry lists the actions in Go map order: pull,push or push,pull.)
	ch=$(header WWW-Authenticate -X POST -H "Authorization: Bearer $t" \
		"http://$REGISTRY/v2/team/app/blobs/uploads/")
	want="Bearer realm=\"$TOKEN_REALM\",service=\"imgtrust-test-registry\",scope=\"repository:team/app:@\",error=\"insufficient_scope\""
	[ "$ch" = "${want/@/pull,push}" ] || [ "$ch" = "${want/@/push,pull}" ] || fail "challenge: $ch"
	# A changed signature, or claims widened after signing, are refused.
	sig=${t##*.}
	if [ "${sig:0:1}" = A ]; then bad=B; else bad=A; fi
	assert_eq "$(http_code -H "Authorization: Bearer ${t%.*}.$bad${sig:1}" "http://$REGISTRY/v2/")" 401
	wide=$(jq -c '.access[0].actions = ["pull","push"]' <<<"$c" | base64 -w0 | tr '+/' '-_' | tr -d =)
	assert_eq "$(http_code -X POST -H "Authorization: Bearer ${t%%.*}.$wide.$sig" \
		"http://$REGISTRY/v2/team/app/blobs/uploads/")" 401
	# Starting an upload takes pull and push: push alone is not enough.
	assert_eq "$(http_code -X POST -H "Authorization: Bearer $(token alice:tok-pw-1 repository:team/app:push)" \
		"http://$REGISTRY/v2/team/app/blobs/uploads/")" 401
	assert_eq "$(http_code -X POST -H "Authorization: Bearer $(token alice:tok-pw-1 repository:team/app:push,pull)" \
		"http://$REGISTRY/v2/team/app/blobs/uploads/")" 202
	assert_eq "$(http_code -H "Authorization: Bearer $t" "http://$REGISTRY/v2/")" 200
}

@test "token registry: wrong password and anonymous clients are refused, without the secret" {
	start_token_registry alice:tok-pw-2 >/dev/null
	push_test_image team/app:v1 >/dev/null
	: >"$TOKEN_LOG"

	run --separate-stderr sk inspect --tls-verify=false --creds alice:wrong-secret-99 \
		"docker://$REGISTRY/team/app:v1"
	assert_status 1
	assert_contains "$stderr" "unable to retrieve auth token: invalid username/password: unauthorized: invalid username or password"
	assert_not_contains "$stderr" wrong-secret-99
	run cat "$TOKEN_LOG"
	assert_eq "$output" "GET /token 401 user=alice service=imgtrust-test-registry scope=repository:team/app:pull reason=bad-credentials" "token log"
	assert_eq "$(http_code -u alice:wrong-secret-99 "$TOKEN_REALM?service=$TOKEN_SERVICE")" 401
	assert_eq "$(http_code -u nobody:tok-pw-2 "$TOKEN_REALM?service=$TOKEN_SERVICE")" 401
	assert_eq "$(http_code -u alice:tok-pw-2 "$TOKEN_REALM?service=other-service")" 400
	assert_eq "$(http_code -u alice:tok-pw-2 "$TOKEN_REALM?service=$TOKEN_SERVICE&scope=nonsense")" 400
	run grep -c 'wrong-secret-99\|tok-pw-2' "$TOKEN_LOG"
	assert_eq "$output" 0 "secrets in the token log"

	# Anonymous: the issuer answers (the spec: missing access is no error of its own) with an
	# empty access list, and the registry refuses.
	: >"$TOKEN_LOG"
	run --separate-stderr sk inspect --tls-verify=false "docker://$REGISTRY/team/app:v1"
	assert_status 1
	assert_contains "$stderr" "requested access to the resource is denied"
	run cat "$TOKEN_LOG"
	assert_line_match '^GET /token 200 user=- service=imgtrust-test-registry scope=repository:team/app:pull( scope=repository:team/app:pull)? granted=-$'
	assert_no_line_match 'granted=repository'
	t=$(token - repository:team/app:pull)
	assert_eq "$(jwt_part "$t" 1 | jq -c '[.sub, .access]')" '["",[]]' "anonymous claims"
	assert_eq "$(http_code -H "Authorization: Bearer $t" "http://$REGISTRY/v2/team/app/tags/list")" 401
	run sk copy -q --src-tls-verify=false "docker://$REGISTRY/team/app:v1" "dir:$W/anon"
	assert_status 1
}

@test "token registry: --user limits actions, --anonymous grants pull, the issuer's POST form" {
	start_token_registry alice:tok-pw-3 --user bob:bob-pw pull --anonymous pull >/dev/null
	push_test_image team/app:v1 >/dev/null
	: >"$TOKEN_LOG"
	# bob may pull, not push.
	run sk inspect --tls-verify=false --creds bob:bob-pw "docker://$REGISTRY/team/app:v1"
	assert_status 0
	make_oci_layout "$W/oci" "from bob"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$W/policy.json"
	run --separate-stderr skopeo --policy "$W/policy.json" --registries.d "$W/registries.d" copy -q \
		--authfile "$W/auth.json" --dest-tls-verify=false --dest-creds bob:bob-pw \
		"oci:$W/oci:latest" "docker://$REGISTRY/team/app:bob"
	assert_status 1
	assert_contains "$stderr" "denied"
	run cat "$TOKEN_LOG"
	assert_line_match '^GET /token 200 user=bob .* scope=repository:team/app:pull,push granted=repository:team/app:pull$'
	# Anonymous pull works, anonymous push does not.
	run sk inspect --tls-verify=false "docker://$REGISTRY/team/app:v1"
	assert_status 0
	t=$(token - repository:team/app:pull,push,delete)
	assert_eq "$(jwt_part "$t" 1 | jq -c .access)" '[{"type":"repository","name":"team/app","actions":["pull"]}]'
	# OAuth2 password grant (POST form), several scopes in one parameter.
	run curl -sf --noproxy '*' -d grant_type=password -d username=alice -d password=tok-pw-3 \
		-d service="$TOKEN_SERVICE" --data-urlencode 'scope=repository:a/b:pull repository:c/d:push' \
		"$TOKEN_REALM"
	assert_status 0
	assert_eq "$(jq -r '.token == .access_token' <<<"$output")" true "token and access_token"
	assert_eq "$(jq -r .expires_in <<<"$output")" 300 "expires_in"
	assert_eq "$(jwt_part "$(jq -r .token <<<"$output")" 1 | jq -c .access)" \
		'[{"type":"repository","name":"a/b","actions":["pull"]},{"type":"repository","name":"c/d","actions":["push"]}]'
	assert_eq "$(http_code -d grant_type=password -d username=alice -d password=nope \
		-d service="$TOKEN_SERVICE" "$TOKEN_REALM")" 401
	run tail -n 2 "$TOKEN_LOG"
	assert_eq "${lines[0]}" "POST /token 200 user=alice service=imgtrust-test-registry scope=repository:a/b:pull scope=repository:c/d:push granted=repository:a/b:pull granted=repository:c/d:push"
	assert_eq "${lines[1]}" "POST /token 401 user=alice service=imgtrust-test-registry reason=bad-credentials"
}

@test "token registry: an x5c header is accepted; a token signed by another key is refused" {
	start_token_registry carol:tok-pw-4 --header x5c >/dev/null
	first="$REGISTRY"
	t1=$(token carol:tok-pw-4 repository:team/app:pull,push)
	h=$(jwt_part "$t1" 0)
	assert_eq "$(jq -r 'has("kid")' <<<"$h")" false "kid in an x5c token"
	jq -r '.x5c[0]' <<<"$h" | base64 -d >"$W/x5c.der"
	openssl x509 -in "$TOKEN_ISSUER_DIR/cert.pem" -outform DER -out "$W/cert.der"
	assert_same_file "$W/x5c.der" "$W/cert.der"
	assert_eq "$(http_code -H "Authorization: Bearer $t1" "http://$first/v2/team/app/tags/list")" 404
	push_test_image team/app:x5c >/dev/null
	# A second registry with its own key (kid header) refuses the first one's token.
	start_token_registry carol:tok-pw-4 --header both >/dev/null
	[ "$REGISTRY" != "$first" ] || fail "same address twice"
	assert_eq "$(http_code -H "Authorization: Bearer $t1" "http://$REGISTRY/v2/")" 401
	t2=$(token carol:tok-pw-4 repository:team/app:pull)
	assert_eq "$(jwt_part "$t2" 0 | jq -r '[has("kid"), has("x5c")] | @csv')" 'true,true'
	assert_eq "$(http_code -H "Authorization: Bearer $t2" "http://$REGISTRY/v2/")" 200
	assert_eq "$(http_code -H "Authorization: Bearer $t2" "http://$first/v2/")" 401
}

# ---------------------------------------------------------------------------------------------
# The fault proxy

@test "fault proxy: skopeo push and pull pass through unchanged; the log lists each request" {
	start_registry >/dev/null
	upstream="$REGISTRY"
	start_fault_proxy >"$W/printed"
	assert_eq "$(cat "$W/printed")" "$FAULT_REGISTRY" "printed address"
	[[ "$FAULT_REGISTRY" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "FAULT_REGISTRY=$FAULT_REGISTRY"
	[ "$FAULT_REGISTRY" != "$upstream" ] || fail "proxy on the registry's port"
	assert_eq "$(wc -l <"$FAULT_LOG")" 0 "requests before any client"
	digest=$(REGISTRY=$FAULT_REGISTRY push_test_image team/app:v1 "through the proxy")
	# What was pushed through the proxy is what the registry serves directly.
	assert_eq "$(header Docker-Content-Digest \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$upstream/v2/team/app/manifests/v1")" "$digest" "digest at the registry"
	run cat "$FAULT_LOG"
	assert_line_match '^GET /v2/ 200 0 2 -$'
	assert_line_match '^PUT /v2/team/app/manifests/v1 201 [0-9]+ 0 -$'
	assert_line_match '^GET /v2/team/app/manifests/v1 200 0 [0-9]+ -$'
	assert_eq "$(fault_count '^POST /v2/team/app/blobs/uploads/ 202 ')" 2 "upload starts"
	assert_eq "$(fault_count '^PUT /v2/team/app/blobs/uploads/[^ ]*digest=sha256%3A[0-9a-f]{64} 201 ')" 2 "upload ends"
	assert_eq "$(fault_count ' (000|5[0-9][0-9]) ')" 0 "failed requests"
	assert_eq "$(wc -l <"$FAULT_STARTED")" "$(wc -l <"$FAULT_LOG")" "started vs finished"
	run sk copy -q --src-tls-verify=false "docker://$FAULT_REGISTRY/team/app:v1" "dir:$W/pulled"
	assert_status 0
	assert_eq "sha256:$(sha256sum <"$W/pulled/manifest.json" | cut -d' ' -f1)" "$digest"
	assert_eq "$(cat "$W/pulled/"*[0-9a-f][0-9a-f][0-9a-f][0-9a-f] | wc -c)" \
		"$(jq '[.config.size] + [.layers[].size] | add' "$W/pulled/manifest.json")" "blob bytes"
	# Upload locations name the proxy, also when the client called it by the registry's name.
	loc=$(header Location -X POST "http://$FAULT_REGISTRY/v2/team/app/blobs/uploads/")
	assert_contains "$loc" "http://$FAULT_REGISTRY/v2/team/app/blobs/uploads/"
	loc=$(header Location -X POST -H "Host: $upstream" "http://$FAULT_REGISTRY/v2/team/app/blobs/uploads/")
	assert_contains "$loc" "http://$FAULT_REGISTRY/v2/team/app/blobs/uploads/"
	# HEAD keeps its Content-Length and has no body.
	run curl -sI --noproxy '*' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$FAULT_REGISTRY/v2/team/app/manifests/v1"
	assert_line_match "^Content-Length: $(stat -c %s "$W/pulled/manifest.json")"
	run tail -n 1 "$FAULT_LOG"
	assert_eq "$output" "HEAD /v2/team/app/manifests/v1 200 0 0 -"
}

@test "fault proxy: fail answers the next N matching requests, then passes; status and drop" {
	start_registry >/dev/null
	start_fault_proxy >/dev/null
	fault_set 'fail 500 2 GET /v2/$'
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/")" 500 "first GET"
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/_catalog")" 200 "another path"
	assert_eq "$(http_code -I "http://$FAULT_REGISTRY/v2/")" 200 "another method"
	run curl -s --noproxy '*' "http://$FAULT_REGISTRY/v2/"
	assert_eq "$(jq -r '.errors[0].detail' <<<"$output")" "fail 500" "second GET's body"
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/")" 200 "third GET"
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/")" 200 "fourth GET"
	run grep '^GET /v2/ ' "$FAULT_LOG"
	assert_eq "${#lines[@]}" 4
	assert_eq "${lines[0]}" "GET /v2/ 500 0 97 fail"
	assert_eq "${lines[1]}" "GET /v2/ 500 0 97 fail"
	assert_eq "${lines[2]}" "GET /v2/ 200 0 2 -"
	# Setting the same rule again starts the count afresh.
	fault_set 'fail 500 2 GET /v2/$'
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/")" 500 "after reset"
	fault_set
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/")" 200 "rules cleared"
	# A failed upload's body is read, so the connection stays usable.
	head -c 3000000 /dev/zero >"$W/zeros"
	fault_set 'fail 503 1 PUT|PATCH /v2/.*/blobs/uploads/'
	assert_eq "$(upload_blob "$FAULT_REGISTRY" team/z "$W/zeros")" 503
	run tail -n 1 "$FAULT_LOG"
	[[ "$output" =~ ^PUT\ /v2/team/z/blobs/uploads/[^\ ]+\ 503\ 3000000\ [0-9]+\ fail$ ]] || fail "log: $output"
	assert_eq "$(upload_blob "$FAULT_REGISTRY" team/z "$W/zeros")" 201
	# The same for a chunked body.
	fault_set 'fail 503 1 PATCH /v2/.*/blobs/uploads/'
	loc=$(header Location -X POST "http://$FAULT_REGISTRY/v2/team/z/blobs/uploads/")
	assert_eq "$(http_code -X PATCH -H 'Transfer-Encoding: chunked' -T "$W/zeros" "$loc")" 503
	run tail -n 1 "$FAULT_LOG"
	[[ "$output" =~ ^PATCH\ /v2/team/z/blobs/uploads/[^\ ]+\ 503\ 3000000\ [0-9]+\ fail$ ]] || fail "log: $output"
	assert_eq "$(http_code -X PATCH -H 'Transfer-Encoding: chunked' -T "$W/zeros" "$loc")" 202
	# status: every time; drop: no answer at all.
	fault_set 'status 401 GET|HEAD /v2/team/' 'drop 1 GET /v2/_catalog'
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/team/z/tags/list")" 401
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/team/z/tags/list")" 401
	run curl -s --noproxy '*' "http://$FAULT_REGISTRY/v2/_catalog"
	assert_status 52
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/_catalog")" 200
	run tail -n 4 "$FAULT_LOG"
	assert_eq "${lines[0]}" "GET /v2/team/z/tags/list 401 0 99 status"
	assert_eq "${lines[2]}" "GET /v2/_catalog 000 0 0 drop"
	assert_eq "${lines[3]}" "GET /v2/_catalog 200 0 $(curl -s --noproxy '*' "http://$REGISTRY/v2/_catalog" | wc -c) -"
	# A malformed rule is refused by fault_set, and the proxy keeps the rules it had.
	run fault_set 'fail 500 GET /v2/'
	assert_status 1
	assert_contains "$output" "unknown rule or wrong number of words"
	run fault_set 'throttle PUT ( 100'
	assert_status 1
	assert_contains "$output" "bad REGEX"
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/team/z/tags/list")" 401
	# A rules file broken behind fault_set's back fails every request, loudly.
	printf 'nonsense rule\n' >"$FAULT_RULES"
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/")" 599
	run grep -c "^RULES-ERROR $FAULT_RULES: line 1: unknown rule" "$FAULT_LOG"
	assert_eq "$output" 1
}

@test "fault proxy: corrupt flips one byte in the middle of a blob, keeping its length" {
	start_registry >/dev/null
	start_fault_proxy >/dev/null
	push_test_image team/app:v1 >/dev/null
	layer=$(curl -s --noproxy '*' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$FAULT_REGISTRY/v2/team/app/manifests/v1" | jq -r '.layers[0].digest')
	[[ "$layer" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "layer: $layer"
	curl -sf --noproxy '*' -o "$W/good" "http://$FAULT_REGISTRY/v2/team/app/blobs/$layer"
	assert_eq "sha256:$(sha256sum <"$W/good" | cut -d' ' -f1)" "$layer" "clean blob"
	fault_set 'corrupt GET /v2/.*/blobs/ 1'
	run curl -s --noproxy '*' -o "$W/bad" -w '%{http_code} %{size_download}' \
		"http://$FAULT_REGISTRY/v2/team/app/blobs/$layer"
	size=$(stat -c %s "$W/good")
	assert_eq "$output" "200 $size" "status and length"
	[ "sha256:$(sha256sum <"$W/bad" | cut -d' ' -f1)" != "$layer" ] || fail "blob not corrupted"
	run cmp -l "$W/good" "$W/bad"
	assert_eq "${#lines[@]}" 1 "bytes changed"
	read -r off a b <<<"${lines[0]}"
	assert_eq "$off" $((size / 2 + 1)) "offset (1-based)"
	assert_eq "$((8#$a ^ 8#$b))" 255 "flip"
	# The Docker-Content-Digest header is passed on as it was: it names the clean blob.
	assert_eq "$(header Docker-Content-Digest "http://$FAULT_REGISTRY/v2/team/app/blobs/$layer")" "$layer"
	run tail -n 2 "$FAULT_LOG"
	assert_eq "${lines[0]}" "GET /v2/team/app/blobs/$layer 200 0 $size corrupt"
	assert_eq "${lines[1]}" "GET /v2/team/app/blobs/$layer 200 0 $size -" "count used up"
	# Manifests (not matched) and errors (not 2xx) are left alone.
	fault_set 'corrupt GET /v2/.*/blobs/'
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/team/app/blobs/sha256:$(printf %064d 0)")" 404
	run tail -n 1 "$FAULT_LOG"
	assert_contains "$output" " 404 0 "
	assert_contains "$output" " -"
	# skopeo notices the bad digest.
	run --separate-stderr sk copy -q --src-tls-verify=false "docker://$FAULT_REGISTRY/team/app:v1" "dir:$W/pulled"
	assert_status 1
	assert_contains "$stderr" "Digest did not match"
}

@test "fault proxy: throttle slows an upload; a client killed mid-upload is logged and leaves no blob" {
	start_registry >/dev/null
	start_fault_proxy >/dev/null
	head -c 4000000 /dev/urandom >"$W/4mb"
	d=sha256:$(sha256sum "$W/4mb" | cut -d' ' -f1)
	t0=$EPOCHREALTIME
	assert_eq "$(upload_blob "$FAULT_REGISTRY" team/fast "$W/4mb")" 201
	t1=$EPOCHREALTIME
	fault_set 'throttle PATCH|PUT /v2/.*/blobs/uploads/ 2000000'
	assert_eq "$(upload_blob "$FAULT_REGISTRY" team/slow "$W/4mb")" 201
	t2=$EPOCHREALTIME
	# 4 MB at 2 MB/s: at least 2 s, and at least 1 s more than without the rule.
	slow=$(awk -v a="$t0" -v b="$t1" -v c="$t2" \
		'BEGIN { s = c - b; f = b - a; print (s >= 1.95 && s < 10 && s - f > 1) ? "yes" : "no" }')
	assert_eq "$slow" yes "times: unthrottled $t0 .. $t1, throttled .. $t2"
	curl -sf --noproxy '*' "http://$FAULT_REGISTRY/v2/team/slow/blobs/$d" | sha256sum >"$W/sum"
	assert_eq "sha256:$(cut -d' ' -f1 "$W/sum")" "$d" "uploaded blob"
	run grep '^PUT /v2/team/slow/' "$FAULT_LOG"
	[[ "$output" =~ \ 201\ 4000000\ 0\ throttle$ ]] || fail "log: $output"

	# Kill the client while the proxy trickles its body to the registry. What the client's kernel
	# had buffered (up to 4 MiB) still arrives, so the body is well above that.
	head -c 16000000 /dev/urandom >"$W/16mb"
	d=sha256:$(sha256sum "$W/16mb" | cut -d' ' -f1)
	fault_set 'throttle PUT /v2/.*/blobs/uploads/ 2000000'
	loc=$(header Location -X POST "http://$FAULT_REGISTRY/v2/team/killed/blobs/uploads/")
	curl -s --noproxy '*' -o /dev/null -X PUT -T "$W/16mb" "$loc&digest=$d" 3>&- &
	cpid=$!
	fault_wait_started '^PUT /v2/team/killed/'
	sleep 1
	kill -KILL "$cpid"
	wait "$cpid" || true
	for ((i = 0; i < 100; i++)); do
		grep -q '^PUT /v2/team/killed/' "$FAULT_LOG" && break
		sleep 0.1
	done
	run grep '^PUT /v2/team/killed/' "$FAULT_LOG"
	[[ "$output" =~ \ 000\ ([0-9]+)\ 0\ throttle\ client-aborted$ ]] || fail "log: $output"
	n=${BASH_REMATCH[1]}
	[ "$n" -gt 0 ] && [ "$n" -lt 16000000 ] || fail "bytes before the kill: $n"
	assert_eq "$(http_code -I "http://$REGISTRY/v2/team/killed/blobs/$d")" 404 "blob after the kill"
}

@test "fault proxy: cut closes both sides mid-body, once; the registry keeps no blob" {
	start_registry >/dev/null
	start_fault_proxy >/dev/null
	head -c 4000000 /dev/urandom >"$W/4mb"
	d=sha256:$(sha256sum "$W/4mb" | cut -d' ' -f1)
	fault_set 'cut 1 PUT|PATCH /v2/.*/blobs/uploads/ 1000000'
	loc=$(header Location -X POST "http://$FAULT_REGISTRY/v2/team/cut/blobs/uploads/")
	run curl -s --noproxy '*' -o /dev/null -X PUT -T "$W/4mb" "$loc&digest=$d"
	# 52 empty reply, 55 send failure, 56 receive failure: any way of seeing the connection go.
	[[ "$status" =~ ^(52|55|56)$ ]] || fail "curl exit status $status"
	run tail -n 1 "$FAULT_LOG"
	[[ "$output" =~ ^PUT\ /v2/team/cut/blobs/uploads/[^\ ]+\ 000\ 1000000\ 0\ cut$ ]] || fail "log: $output"
	assert_eq "$(http_code -I "http://$REGISTRY/v2/team/cut/blobs/$d")" 404 "blob after the cut"
	assert_eq "$(upload_blob "$FAULT_REGISTRY" team/cut "$W/4mb")" 201 "second upload"
	assert_eq "$(http_code -I "http://$REGISTRY/v2/team/cut/blobs/$d")" 200 "blob after the retry"
}

@test "fault proxy: chunked and very large request bodies are streamed, not held in memory" {
	start_registry >/dev/null
	start_fault_proxy >/dev/null
	size=$((300 * 1024 * 1024))
	head -c "$size" /dev/urandom >"$W/big"
	d=sha256:$(sha256sum "$W/big" | cut -d' ' -f1)
	loc=$(header Location -X POST "http://$FAULT_REGISTRY/v2/team/big/blobs/uploads/")
	# curl -T with this header sends the body chunked.
	curl -s --noproxy '*' -o /dev/null -D "$W/patch.h" -X PATCH -H 'Transfer-Encoding: chunked' \
		-H 'Content-Type: application/octet-stream' -T "$W/big" "$loc"
	tr -d '\r' <"$W/patch.h" >"$W/patch.hdr"
	run cat "$W/patch.hdr"
	assert_line_match '^HTTP/1.1 202 '
	assert_line_match "^Range: 0-$((size - 1))$"
	loc=$(awk -F': ' 'tolower($1)=="location"{print $2}' "$W/patch.hdr")
	assert_eq "$(http_code -X PUT "$loc&digest=$d")" 201
	curl -sf --noproxy '*' "http://$FAULT_REGISTRY/v2/team/big/blobs/$d" | sha256sum >"$W/sum"
	assert_eq "sha256:$(cut -d' ' -f1 "$W/sum")" "$d" "blob read back through the proxy"
	run grep '^PATCH /v2/team/big/' "$FAULT_LOG"
	[[ "$output" =~ \ 202\ $size\ 0\ -$ ]] || fail "log: $output"
	run grep "^GET /v2/team/big/blobs/$d " "$FAULT_LOG"
	assert_eq "$output" "GET /v2/team/big/blobs/$d 200 0 $size -"
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$(pid_of fault-proxy)/status")
	[ "$hwm" -lt 65536 ] || fail "proxy peak memory ${hwm} kB for a $size byte body"
	rm -f "$W/big"
}

@test "token registry behind the fault proxy: two 500s fail two skopeo pushes, the third passes" {
	start_token_registry dave:tok-pw-5 >/dev/null
	start_fault_proxy >/dev/null
	fault_set 'fail 500 2 POST /v2/.*/blobs/uploads/$'
	make_oci_layout "$W/oci" "behind the proxy"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$W/policy.json"
	# skopeo 1.9 does not retry a 500 (not even with --retry-times), so each one ends a push.
	for try in 1 2 3; do
		run --separate-stderr skopeo --policy "$W/policy.json" --registries.d "$W/registries.d" \
			copy -q --authfile "$W/auth.json" --dest-tls-verify=false --dest-creds "$REGISTRY_CREDS" \
			"oci:$W/oci:latest" "docker://$FAULT_REGISTRY/team/app:v1"
		if [ "$try" -lt 3 ]; then
			assert_status 1
			assert_contains "$stderr" "initiating layer upload to /v2/team/app/blobs/uploads/ in $FAULT_REGISTRY: received unexpected HTTP status: 500 Internal Server Error"
		else
			assert_status 0
		fi
	done
	assert_eq "$(fault_count '^POST /v2/team/app/blobs/uploads/ 500 0 97 fail$')" 2 "failed POSTs"
	assert_eq "$(fault_count '^POST /v2/team/app/blobs/uploads/ 202 0 0 -$')" 2 "passed POSTs"
	assert_eq "$(fault_count '^PUT /v2/team/app/manifests/v1 201 ')" 1 "manifest PUTs"
	# Each push first pings without a token; the registry's 401 passes through unchanged.
	assert_eq "$(fault_count '^GET /v2/ 401 0 87 -$')" 3 "unauthenticated pings"
	run cat "$TOKEN_LOG"
	assert_line_match '^GET /token 200 user=dave service=imgtrust-test-registry scope=repository:team/app:pull,push granted=repository:team/app:pull,push$'
	run sk inspect --tls-verify=false --creds "$REGISTRY_CREDS" "docker://$REGISTRY/team/app:v1"
	assert_status 0
}

@test "stop_services ends the token issuer, the registry and the fault proxy" {
	start_token_registry erin:tok-pw-6 >/dev/null
	start_fault_proxy >/dev/null
	run cut -d' ' -f2 "$IT_SERVICES_DIR/pids"
	assert_eq "$output" $'token-issuer\nregistry\nfault-proxy' "services"
	mapfile -t pids < <(cut -d' ' -f1 "$IT_SERVICES_DIR/pids")
	for p in "${pids[@]}"; do
		kill -0 "$p" || fail "process $p not running"
	done
	stop_services
	for p in "${pids[@]}"; do
		! kill -0 "$p" 2>/dev/null || fail "process $p still running"
	done
	assert_eq "$(http_code "http://$REGISTRY/v2/")" 000
	assert_eq "$(http_code "$TOKEN_REALM")" 000
	assert_eq "$(http_code "http://$FAULT_REGISTRY/v2/")" 000
}

#!/usr/bin/env bats
# The registry write side (registry/upload.c) against Debian's docker-registry, anonymous and with
# htpasswd, and against a python fake registry for retries, redirects and bad answers. The cmocka
# driver tests/unit/registry/test_upload_live.c skips itself unless given the services here.

load ../lib/common
load ../lib/services

LIVE="$IMGTRUST_BUILD/tests/test_upload_live"

setup() {
	it_isolate
	[ -x "$LIVE" ] || fail "not built: $LIVE"
	need_cmd docker-registry
	need_cmd skopeo
	need_cmd htpasswd apache2-utils
	need_cmd python3
}

teardown() {
	stop_services
}

run_live() {
	local t="$1"
	shift
	run env "$@" CMOCKA_TEST_ABORT=1 "$LIVE"
	printf '%s\n' "$output" >&2
	assert_status 0 || return 1
	assert_contains "$output" "[       OK ] $t" || return 1
	assert_not_contains "$output" "FAILED"
}

# check_pushed [CREDS]: skopeo sees the exact manifest bytes the driver pushed as up/two:v1, and
# copies the image (its blobs as uploaded) to a dir: layout.
check_pushed() {
	local w="$BATS_TEST_TMPDIR" creds=()
	if [ -n "${1:-}" ]; then
		creds=(--creds "$1")
	fi
	mkdir -p "$w/registries.d"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$w/policy.json"
	skopeo --registries.d "$w/registries.d" inspect --tls-verify=false --authfile "$w/auth.json" \
		${creds[@]+"${creds[@]}"} --raw "docker://$REGISTRY/up/two:v1" >"$w/served" ||
		fail "skopeo inspect failed"
	assert_same_file "$w/served" "$w/out/manifest.json"
	skopeo --policy "$w/policy.json" --registries.d "$w/registries.d" copy -q \
		--authfile "$w/auth.json" --src-tls-verify=false ${1:+--src-creds "$1"} \
		"docker://$REGISTRY/up/two:v1" "dir:$w/dir" >"$w/copy.log" 2>&1 || {
		cat "$w/copy.log" >&2
		fail "skopeo copy failed"
	}
	assert_same_file "$w/dir/manifest.json" "$w/out/manifest.json"
	layer=$(jq -r '.layers[0].digest' "$w/out/manifest.json")
	[ "$(stat -c %s "$w/dir/${layer#sha256:}")" = 1048576 ] || fail "layer not copied"
	[ "sha256:$(sha256sum <"$w/dir/${layer#sha256:}" | cut -d' ' -f1)" = "$layer" ] ||
		fail "layer digest"
}

@test "upload, chunked upload, mount, manifest PUT and blob GET against docker-registry" {
	start_registry >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/out"
	run_live test_registry IT_LIVE_REGISTRY="$REGISTRY" IT_LIVE_OUT="$BATS_TEST_TMPDIR/out"
	check_pushed
}

@test "the same with htpasswd Basic authentication" {
	start_registry --htpasswd carol:up-pw >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/out"
	run_live test_registry IT_LIVE_REGISTRY="$REGISTRY" IT_LIVE_CREDS="$REGISTRY_CREDS" \
		IT_LIVE_OUT="$BATS_TEST_TMPDIR/out"
	check_pushed "$REGISTRY_CREDS"
}

@test "retries on 5xx/429 only, digest mismatch on GET, credentials kept from other hosts" {
	services_init
	local dir="$BATS_TEST_TMPDIR/fake"
	mkdir -p "$dir"
	cat >"$dir/fake.py" <<-'PY'
		import collections, http.server, sys
		D = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
		counts = collections.Counter()
		log = open(sys.argv[1] + "/requests.log", "a")
		class H(http.server.BaseHTTPRequestHandler):
		    protocol_version = "HTTP/1.1"
		    def log_message(self, *a):
		        pass
		    def send(self, code, body=b"", headers=()):
		        self.send_response(code)
		        for k, v in headers:
		            self.send_header(k, v)
		        self.send_header("Content-Length", str(len(body)))
		        self.end_headers()
		        if self.command != "HEAD":
		            self.wfile.write(body)
		    def any(self):
		        n = int(self.headers.get("Content-Length") or 0)
		        body = self.rfile.read(n) if n else b""
		        p = self.path
		        auth = self.headers.get("Authorization")
		        if p.startswith("/upload/"):
		            log.write("%s %s range=%s got=%s\n" % (self.command, p,
		                      self.headers.get("Content-Range"), body.decode()))
		            log.flush()
		            if self.command == "PATCH":
		                return self.send(202, b"", [("Location", "/upload/abc?state=y")])
		            return self.send(204 if self.command == "DELETE" else 201)
		        log.write("%s %s auth=%s\n" % (self.command, p, "yes" if auth else "no"))
		        log.flush()
		        if p == "/v2/":
		            if auth != "Basic Ym9iOnB3":
		                return self.send(401, b"", [("WWW-Authenticate", 'Basic realm="fake"')])
		            return self.send(200, b"{}")
		        if p.startswith("/final/"):
		            return self.send(200, b"hello")
		        repo = p.split("/")[2]
		        counts[(self.command, repo)] += 1
		        k = counts[(self.command, repo)]
		        if repo == "upl":
		            return self.send(202, b"", [("Location", "/upload/abc?state=x")])
		        if repo == "flaky" and k <= 2:
		            return self.send(500)
		        if repo == "busy" and k <= 1:
		            return self.send(429)
		        if repo == "down":
		            return self.send(503)
		        if repo == "denied":
		            return self.send(403, b'{"errors":[{"code":"DENIED","message":"no"}]}')
		        if repo == "mismatch":
		            return self.send(200, b"jello")
		        if repo == "redir":
		            port = self.server.server_address[1]
		            return self.send(307, b"", [("Location", "http://localhost:%d/final/blob" % port)])
		        if repo == "samehost":
		            return self.send(307, b"", [("Location", "/final/same")])
		        if repo == "badput":
		            return self.send(201, b"", [("Docker-Content-Digest", D)])
		        return self.send(200, b"hello", [("Docker-Content-Digest", D)])
		    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = any
		s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
		open(sys.argv[1] + "/port.tmp", "w").write(str(s.server_address[1]))
		__import__("os").rename(sys.argv[1] + "/port.tmp", sys.argv[1] + "/port")
		s.serve_forever()
	PY
	python3 "$dir/fake.py" "$dir" >"$dir/stderr" 2>&1 3>&- </dev/null &
	_service_started fake $!
	for ((i = 0; i < 100; i++)); do
		[ -f "$dir/port" ] && break
		sleep 0.1
	done
	[ -f "$dir/port" ] || fail "fake registry did not start: $(cat "$dir/stderr")"
	run_live test_fake IT_LIVE_FAKE="127.0.0.1:$(cat "$dir/port")"
	cat "$dir/requests.log" >&2
	assert_eq "$(grep -c '^HEAD /v2/flaky/' "$dir/requests.log")" 3 "HEAD flaky attempts"
	assert_eq "$(grep -c '^GET /v2/flaky/' "$dir/requests.log")" 3 "GET flaky attempts"
	assert_eq "$(grep -c '^HEAD /v2/busy/' "$dir/requests.log")" 2 "busy attempts"
	assert_eq "$(grep -c '^HEAD /v2/down/' "$dir/requests.log")" 3 "down attempts"
	assert_eq "$(grep -c '^HEAD /v2/denied/' "$dir/requests.log")" 1 "denied attempts"
	assert_eq "$(grep '^GET /v2/redir/' "$dir/requests.log")" "GET /v2/redir/blobs/sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 auth=yes"
	assert_eq "$(grep '^GET /final/blob' "$dir/requests.log")" "GET /final/blob auth=no" "redirect to another host"
	assert_eq "$(grep '^GET /final/same' "$dir/requests.log")" "GET /final/same auth=yes" "redirect within the registry"
	# Uploads: Location relative with a query kept; the wrong blob never leaves whole; chunks.
	grep -E '^[A-Z]+ /upload/' "$dir/requests.log" >"$dir/uploads"
	cat >"$dir/want" <<-EOF
		PUT /upload/abc?state=x&digest=sha256%3A2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 range=None got=hello
		PUT /upload/abc?state=x&digest=sha256%3A2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 range=None got=
		DELETE /upload/abc?state=x range=None got=
		PATCH /upload/abc?state=x range=0-1 got=he
		PATCH /upload/abc?state=y range=2-3 got=ll
		PATCH /upload/abc?state=y range=4-4 got=o
		PUT /upload/abc?state=y&digest=sha256%3A2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 range=None got=
		PATCH /upload/abc?state=x range=0-1 got=he
		PATCH /upload/abc?state=y range=2-3 got=ll
		PATCH /upload/abc?state=y range=4-4 got=
		DELETE /upload/abc?state=y range=None got=
	EOF
	# The server logs the aborted last PATCH when its handler gives up reading, which can be
	# after the DELETE the client sent next: compare those two lines in any order.
	head -n 9 "$dir/uploads" >"$dir/uploads.head"
	head -n 9 "$dir/want" >"$dir/want.head"
	assert_same_file "$dir/uploads.head" "$dir/want.head"
	tail -n +10 "$dir/uploads" | sort >"$dir/uploads.tail"
	tail -n +10 "$dir/want" | sort >"$dir/want.tail"
	assert_same_file "$dir/uploads.tail" "$dir/want.tail"
	assert_eq "$(wc -l <"$dir/uploads")" "$(wc -l <"$dir/want")" "upload request count"
}

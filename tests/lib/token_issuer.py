#!/usr/bin/env python3
"""A small token issuer for docker distribution's token authentication, for tests only.

It implements the token endpoint of the distribution spec (spec/auth/token.md, jwt.md): a client
GETs REALM?service=S&scope=repository:NAME:ACTIONS[&scope=...] with optional Basic credentials and
receives {"token", "access_token", "expires_in", "issued_at"}. The JWT is signed RS256 with the
test key by running `openssl dgst -sha256 -sign` (the standard library has no RSA). Its header
names the key the way the registry looks it up: "kid" in libtrust's key-ID format (what the
registry derives from each certificate of its rootcertbundle), or "x5c" with the certificate, or
both. The password grant of the OAuth2 form (POST, grant_type=password) is answered the same way.

Wrong credentials get 401. An anonymous client gets a token whose access is empty (the spec says
missing access is not an error of the token server; the registry then refuses the request with
insufficient_scope) unless --anonymous grants it actions.

Each request is logged as one line to --log, never with a password:
    GET /token 200 user=alice service=S scope=repository:a/b:pull,push granted=repository:a/b:pull
user=- is anonymous; refused requests carry reason=... instead of granted=.

Users file (--users): one user a line, "NAME<TAB>PASSWORD<TAB>ACTIONS", ACTIONS a comma list of
pull, push, delete or "*" (everything requested, of any resource type).

With --port 0 the kernel chooses the port; it is written to --port-file once the server listens,
so the caller waits for that file instead of polling (which would add requests to the log).
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

MAX_BODY = 64 * 1024


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(spki_der):
    """libtrust's KeyID: SHA-256 of the DER SubjectPublicKeyInfo truncated to 240 bits, base32,
    in 12 groups of 4 joined by ':' (what distribution matches a "kid" header against)."""
    s = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(s[i : i + 4] for i in range(0, len(s), 4))


def read_users(path):
    users = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3 or not parts[0]:
                sys.exit(f"{path}:{n}: want NAME<TAB>PASSWORD<TAB>ACTIONS")
            users[parts[0]] = (parts[1], parse_actions(parts[2]))
    return users


def parse_actions(text):
    return [a for a in text.split(",") if a]


def parse_scope(scope):
    """repository:NAME:ACTIONS -> (type, name, [actions]); the name may hold ':' (a port)."""
    typ, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not typ or not name:
        return None
    return typ, name, parse_actions(actions)


def grant(scopes, allowed):
    """The intersection of what was asked and what the user may do, per the spec: asking for
    more than one may have is not an error, it just is not in the token."""
    access = []
    for typ, name, actions in scopes:
        if "*" in allowed:
            got = actions
        elif typ == "repository":
            got = [a for a in actions if a in allowed]
        else:
            got = []
        if got:
            access.append({"type": typ, "name": name, "actions": got})
    return access


class Issuer:
    def __init__(self, args):
        self.args = args
        self.users = read_users(args.users)
        self.anonymous = parse_actions(args.anonymous)
        self.log_lock = threading.Lock()
        with open(args.cert, encoding="ascii") as f:
            pem = f.read()
        cert_der = ssl.PEM_cert_to_DER_cert(pem)
        spki = subprocess.run(
            ["openssl", "x509", "-in", args.cert, "-noout", "-pubkey"],
            check=True,
            capture_output=True,
        ).stdout
        spki_der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-outform", "DER"],
            input=spki,
            check=True,
            capture_output=True,
        ).stdout
        self.header = {"typ": "JWT", "alg": "RS256"}
        if args.header in ("kid", "both"):
            self.header["kid"] = libtrust_key_id(spki_der)
        if args.header in ("x5c", "both"):
            self.header["x5c"] = [base64.b64encode(cert_der).decode("ascii")]

    def log(self, line):
        with self.log_lock, open(self.args.log, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def sign(self, claims):
        head = b64url(json.dumps(self.header, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{head}.{body}".encode("ascii")
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.args.key],
            input=signing_input,
            check=True,
            capture_output=True,
        ).stdout
        return f"{head}.{body}.{b64url(sig)}"

    def token(self, user, access):
        now = int(time.time())
        claims = {
            "iss": self.args.issuer,
            "sub": user or "",
            "aud": self.args.service,
            "exp": now + self.args.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        return self.sign(claims)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "imgtrust-test-token-issuer"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def credentials(self, params):
        """(user, password, error): from Basic authorization, or the form's password grant."""
        auth = self.headers.get("Authorization")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "basic":
                return None, None, "unsupported-authorization"
            try:
                raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return None, None, "malformed-basic"
            user, sep, pw = raw.partition(":")
            if not sep:
                return None, None, "malformed-basic"
            return user, pw, None
        if params.get("grant_type") == ["password"]:
            return params.get("username", [""])[0], params.get("password", [""])[0], None
        if "grant_type" in params:
            return None, None, "unsupported-grant"
        return None, None, None

    def handle_token(self, params):
        iss = self.server.issuer
        user, pw, err = self.credentials(params)
        scopes_raw = [s for p in params.get("scope", []) for s in p.split()]
        service = params.get("service", [""])[0]
        words = [f"user={user or '-'}", f"service={service or '-'}"]
        words += [f"scope={s}" for s in scopes_raw]
        path = urllib.parse.urlsplit(self.path).path

        def refuse(code, reason, message, extra=()):
            iss.log(" ".join([self.command, path, str(code)] + words + [f"reason={reason}"]))
            code_name = "UNAUTHORIZED" if code == 401 else "DENIED"
            self.reply(code, {"errors": [{"code": code_name, "message": message}]}, extra)

        if err:
            code = 400 if err == "unsupported-grant" else 401
            return refuse(code, err, "unsupported credentials")
        if service and service != iss.args.service:
            return refuse(400, "wrong-service", f"unknown service {service!r}")
        scopes = []
        for s in scopes_raw:
            p = parse_scope(s)
            if p is None:
                return refuse(400, "bad-scope", f"malformed scope {s!r}")
            scopes.append(p)
        if user is None:
            allowed = iss.anonymous
        else:
            known = iss.users.get(user)
            if known is None or not secrets.compare_digest(known[0].encode(), pw.encode()):
                return refuse(401, "bad-credentials", "invalid username or password",
                              [("WWW-Authenticate", 'Basic realm="imgtrust-test-token"')])
            allowed = known[1]
        access = grant(scopes, allowed)
        tok = iss.token(user, access)
        granted = [f"granted={a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access]
        iss.log(" ".join([self.command, path, "200"] + words + (granted or ["granted=-"])))
        self.reply(200, {
            "token": tok,
            "access_token": tok,
            "expires_in": iss.args.expires_in,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != self.server.issuer.args.path:
            self.server.issuer.log(f"{self.command} {u.path} 404")
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
        self.handle_token(urllib.parse.parse_qs(u.query, keep_blank_values=True))

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            return self.reply(400, {"errors": [{"code": "BAD_REQUEST", "message": "bad body"}]})
        body = self.rfile.read(n).decode("utf-8", "replace")
        if u.path != self.server.issuer.args.path:
            self.server.issuer.log(f"{self.command} {u.path} 404")
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
        params = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items():
            params.setdefault(k, []).extend(v)
        self.handle_token(params)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", required=True, help="PEM RSA private key")
    ap.add_argument("--cert", required=True, help="PEM certificate of that key")
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--path", default="/token")
    ap.add_argument("--header", choices=("kid", "x5c", "both"), default="kid")
    ap.add_argument("--expires-in", type=int, default=300)
    ap.add_argument("--anonymous", default="", help="actions granted without credentials")
    args = ap.parse_args()

    # stop_services ends us with SIGTERM: make sure it is not inherited as ignored.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    issuer = Issuer(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.issuer = issuer
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()

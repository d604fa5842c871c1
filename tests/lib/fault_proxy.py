#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 reverse proxy in front of a registry, for tests only.

Requests are forwarded to --upstream (host:port, plain HTTP) with their method, target (path and
query) and headers (less hop-by-hop ones; Host is kept, so the registry builds Location URLs for
the proxy). Bodies are streamed both ways in 64 KiB pieces, never held whole in memory: a
Content-Length body is forwarded as such, a chunked one is re-chunked. A Location header that
names the upstream is rewritten to name the proxy.

Rules come from --rules, read again for every request; a new text resets the counts (write it
by rename so no half-written file is seen; fault_set adds a generation comment, so setting the
same rules again resets them too). One rule a line, '#' starts a comment:

    fail STATUS COUNT METHODS REGEX      answer STATUS to the next COUNT matching requests (the
                                         body is read and dropped), then let them pass
    status STATUS METHODS REGEX          answer STATUS to every matching request
    drop COUNT METHODS REGEX             close the connection without an answer, COUNT times
    corrupt METHODS REGEX [COUNT]        flip one byte (XOR 0xff) in the middle of matching 2xx
                                         response bodies, keeping the length
    throttle METHODS REGEX BYTES_PER_SEC limit the rate at which matching request bodies are sent
    cut COUNT METHODS REGEX BYTES        after BYTES of a matching request body, close both
                                         connections (the client gets a reset), COUNT times

METHODS is '*' or methods joined by '|' (GET|HEAD). REGEX is a Python regular expression matched
at the start of the path (without the query): '/v2/' matches every API path, '/v2/$' only the
ping. COUNT is a number or '*'. The first rule of a kind that matches and has count left applies.

Log (--log): one line per finished request, written when it ends:
    METHOD TARGET STATUS REQ_BYTES RESP_BYTES FAULTS [NOTE]
STATUS is 000 when no answer was sent; FAULTS is '-' or the applied kinds joined by '+'; NOTE is
client-aborted (the client went away during the request body), upstream-error:..., or absent.
A client killed during a throttled upload is logged only once its kernel has sent what it had
buffered (up to net.ipv4.tcp_wmem's maximum, 4 MiB by default), all of which reaches the
registry: a kill test needs a body well above that, or a cut rule.
--started-log gets "METHOD TARGET" as each request begins, so a test can wait for an upload to
be under way before killing its client.

`fault_proxy.py --check FILE` validates a rules file and exits (status 1 with the bad line).
With --port 0 the kernel chooses the port, written to --port-file once the proxy listens.
"""

import argparse
import http.client
import http.server
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.parse

PIECE = 64 * 1024
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
}
NO_BODY_STATUS = {204, 304}


class RuleError(ValueError):
    pass


class Rule:
    def __init__(self, kind, methods, regex, count=None, status=None, rate=None):
        self.kind = kind
        self.methods = methods
        self.regex = regex
        self.count = count
        self.status = status
        self.rate = rate

    def matches(self, method, path):
        if self.methods is not None and method not in self.methods:
            return False
        return self.regex.match(path) is not None


def _methods(text):
    if text == "*":
        return None
    ms = text.split("|")
    if not all(re.fullmatch(r"[A-Z]+", m) for m in ms):
        raise RuleError(f"bad METHODS {text!r}")
    return set(ms)


def _regex(text):
    try:
        return re.compile(text)
    except re.error as e:
        raise RuleError(f"bad REGEX {text!r}: {e}") from None


def _count(text):
    if text == "*":
        return None
    if not re.fullmatch(r"[0-9]+", text):
        raise RuleError(f"bad COUNT {text!r}")
    return int(text)


def _status(text):
    if not re.fullmatch(r"[1-5][0-9][0-9]", text):
        raise RuleError(f"bad STATUS {text!r}")
    return int(text)


def parse_rule(line):
    w = line.split()
    kind = w[0]
    if kind == "fail" and len(w) == 5:
        return Rule(kind, _methods(w[3]), _regex(w[4]), count=_count(w[2]), status=_status(w[1]))
    if kind == "status" and len(w) == 4:
        return Rule(kind, _methods(w[2]), _regex(w[3]), status=_status(w[1]))
    if kind == "drop" and len(w) == 4:
        return Rule(kind, _methods(w[2]), _regex(w[3]), count=_count(w[1]))
    if kind == "corrupt" and len(w) in (3, 4):
        return Rule(kind, _methods(w[1]), _regex(w[2]), count=_count(w[3]) if len(w) == 4 else None)
    if kind == "cut" and len(w) == 5:
        if not re.fullmatch(r"[0-9]+", w[4]):
            raise RuleError(f"bad BYTES {w[4]!r}")
        return Rule(kind, _methods(w[2]), _regex(w[3]), count=_count(w[1]), rate=int(w[4]))
    if kind == "throttle" and len(w) == 4:
        if not re.fullmatch(r"[1-9][0-9]*", w[3]):
            raise RuleError(f"bad BYTES_PER_SEC {w[3]!r}")
        return Rule(kind, _methods(w[1]), _regex(w[2]), rate=int(w[3]))
    raise RuleError(f"unknown rule or wrong number of words: {line!r}")


def parse_rules(text):
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            rules.append(parse_rule(line))
        except RuleError as e:
            raise RuleError(f"line {n}: {e}") from None
    return rules


class Rules:
    """The rules file, re-read when its identity changes; counts live with the loaded version."""

    def __init__(self, path, log):
        self.path = path
        self.log = log
        self.lock = threading.Lock()
        self.sig = None
        self.rules = []

    def _reload(self):
        # Compared by content, not by stat: a rewrite within one timestamp tick that reuses an
        # inode would otherwise go unseen (fault_set adds a generation comment to every version).
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        except OSError as e:
            text = None
            err = e
        if text is not None and text == self.sig:
            return
        self.sig = text
        try:
            if text is None:
                raise RuleError(str(err))
            self.rules = parse_rules(text)
        except RuleError as e:
            # Loud: every request then fails, so a broken rules file cannot pass unnoticed.
            self.rules = [Rule("status", None, re.compile(""), status=599)]
            self.log(f"RULES-ERROR {self.path}: {e}")

    def take(self, kinds, method, path):
        with self.lock:
            self._reload()
            for r in self.rules:
                if r.kind in kinds and r.matches(method, path) and (r.count is None or r.count > 0):
                    if r.count is not None:
                        r.count -= 1
                    return r
        return None


class ClientGone(Exception):
    pass


class Cut(Exception):
    """A cut rule ended the request: both connections are already closed."""


def _shutdown(sock):
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # -- request body -----------------------------------------------------------------------

    def _read(self, n):
        try:
            data = self.rfile.read(n)
        except OSError as e:
            raise ClientGone(str(e)) from None
        if len(data) < n:
            raise ClientGone("short body")
        return data

    def _readline(self):
        try:
            line = self.rfile.readline(4096)
        except OSError as e:
            raise ClientGone(str(e)) from None
        if not line.endswith(b"\n"):
            raise ClientGone("short chunk header")
        return line

    def body_pieces(self, piece):
        """The request body as pieces of at most `piece` bytes, chunked framing removed."""
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                raise ClientGone(f"unsupported Transfer-Encoding {te!r}")
            while True:
                size_text = self._readline().split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ClientGone("bad chunk size") from None
                if size == 0:
                    while self._readline() not in (b"\r\n", b"\n"):
                        pass
                    return
                while size:
                    n = min(size, piece)
                    yield self._read(n)
                    size -= n
                self._readline()
        n = int(self.headers.get("Content-Length", "0") or "0")
        while n:
            k = min(n, piece)
            yield self._read(k)
            n -= k

    def drain(self):
        for data in self.body_pieces(PIECE):
            self.req_bytes += len(data)

    # -- replies ----------------------------------------------------------------------------

    def send_plain(self, code, body, extra=()):
        self.send_response_only(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.resp_bytes += len(body)
        self.status = code

    def write_log(self, note=""):
        faults = "+".join(self.faults) or "-"
        status = f"{self.status:03d}"
        line = f"{self.command} {self.path} {status} {self.req_bytes} {self.resp_bytes} {faults}"
        self.server.log(line + (f" {note}" if note else ""))

    # -- the proxy --------------------------------------------------------------------------

    def handle_any(self):
        self.req_bytes = 0
        self.resp_bytes = 0
        self.status = 0
        self.faults = []
        self.server.log_started(f"{self.command} {self.path}")
        path = urllib.parse.urlsplit(self.path).path
        method = self.command
        rules = self.server.rules
        cl = self.headers.get("Content-Length")
        if cl is not None and not cl.isdigit():
            self.close_connection = True
            msg = b'{"errors":[{"code":"UNKNOWN","message":"bad Content-Length"}]}\n'
            self.send_plain(400, msg)
            self.write_log()
            return
        try:
            r = rules.take(("fail", "status", "drop"), method, path)
            if r is not None and r.kind == "drop":
                self.faults.append("drop")
                self.close_connection = True
                self.write_log()
                _shutdown(self.connection)
                return
            if r is not None:
                self.faults.append(r.kind)
                self.drain()
                body = (
                    '{"errors":[{"code":"UNKNOWN","message":"fault injected by the test proxy",'
                    f'"detail":"{r.kind} {r.status}"}}]}}\n'
                ).encode()
                self.send_plain(r.status, body)
                self.write_log()
                return
            self.forward(method, path)
        except Cut:
            self.write_log()
        except (ClientGone, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self.write_log("client-aborted")

    def forward(self, method, path):
        up = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port,
                                        timeout=600)
        try:
            self._forward(up, method, path)
        finally:
            up.close()

    def cut(self, up):
        """Close both sides mid-body: the registry sees a short body, the client a reset."""
        self.faults.append("cut")
        _shutdown(up.sock)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        raise Cut()

    def _forward(self, up, method, path):
        chunked = bool(self.headers.get("Transfer-Encoding"))
        has_body = chunked or int(self.headers.get("Content-Length", "0") or "0") > 0
        throttle = cut = None
        if has_body:
            throttle = self.server.rules.take(("throttle",), method, path)
            cut = self.server.rules.take(("cut",), method, path)
        dropped = HOP_BY_HOP | {
            h.strip().lower() for h in self.headers.get("Connection", "").split(",") if h.strip()
        }
        try:
            up.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in dropped:
                    up.putheader(k, v)
            if "Host" not in self.headers:
                up.putheader("Host", self.server.upstream)
            if chunked:
                up.putheader("Transfer-Encoding", "chunked")
            up.putheader("Connection", "close")
            up.endheaders()
        except OSError as e:
            self.drain()
            return self.bad_gateway(f"upstream-error:{type(e).__name__}")

        upstream_broken = None
        if has_body:
            piece = PIECE
            if throttle is not None:
                self.faults.append("throttle")
                piece = max(1, min(PIECE, throttle.rate // 20))
            start = time.monotonic()
            try:
                for data in self.body_pieces(piece):
                    cut_now = cut is not None and self.req_bytes + len(data) >= cut.rate
                    if cut_now:
                        data = data[: cut.rate - self.req_bytes]
                    self.req_bytes += len(data)
                    if upstream_broken is None and data:
                        try:
                            up.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                        except OSError as e:
                            # The registry may answer early (e.g. 401) and close: keep reading
                            # the client's body so both sides stay in step, then relay the answer.
                            upstream_broken = e
                    if cut_now:
                        self.cut(up)
                    if throttle is not None:
                        ahead = start + self.req_bytes / throttle.rate - time.monotonic()
                        if ahead > 0:
                            time.sleep(ahead)
                if chunked and upstream_broken is None:
                    up.send(b"0\r\n\r\n")
            except ClientGone:
                # Abort the upstream request too, as a real dropped connection would.
                _shutdown(up.sock)
                raise
            except OSError as e:
                upstream_broken = e
        try:
            resp = up.getresponse()
        except (OSError, http.client.HTTPException) as e:
            return self.bad_gateway(f"upstream-error:{type(e).__name__}")
        self.relay(resp, method, path)

    def bad_gateway(self, note):
        self.close_connection = True
        self.send_plain(502, b'{"errors":[{"code":"UNKNOWN","message":"bad gateway"}]}\n')
        self.write_log(note)

    def relay(self, resp, method, path):
        has_body = method != "HEAD" and resp.status not in NO_BODY_STATUS and resp.status >= 200
        length = resp.getheader("Content-Length")
        length = int(length) if length is not None and length.isdigit() else None
        corrupt = None
        if has_body and 200 <= resp.status < 300 and length != 0:
            corrupt = self.server.rules.take(("corrupt",), method, path)
        spool = None
        if corrupt is not None:
            self.faults.append("corrupt")
            if length is None:
                # Unknown length: spool to disk to find the middle, still not in memory.
                spool = tempfile.TemporaryFile()
                while True:
                    data = resp.read(PIECE)
                    if not data:
                        break
                    spool.write(data)
                length = spool.tell()
                spool.seek(0)
        flip_at = length // 2 if corrupt is not None else -1

        chunk_out = has_body and length is None and self.request_version == "HTTP/1.1"
        if has_body and length is None and not chunk_out:
            self.close_connection = True
        self.send_response_only(resp.status, resp.reason)
        dropped = HOP_BY_HOP | {
            h.strip().lower() for h in (resp.getheader("Connection") or "").split(",") if h.strip()
        }
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in dropped or (spool is not None and lk == "content-length"):
                continue
            if lk == "location":
                v = self.rewrite_location(v)
            self.send_header(k, v)
        if spool is not None:
            self.send_header("Content-Length", str(length))
        if chunk_out:
            self.send_header("Transfer-Encoding", "chunked")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.status = resp.status
        if not has_body:
            self.write_log()
            return
        src = spool if spool is not None else resp
        pos = 0
        note = ""
        try:
            while True:
                try:
                    data = src.read(PIECE)
                except (OSError, http.client.HTTPException) as e:
                    note = f"upstream-error:{type(e).__name__}"
                    self.close_connection = True
                    break
                if not data:
                    break
                if pos <= flip_at < pos + len(data):
                    b = bytearray(data)
                    b[flip_at - pos] ^= 0xFF
                    data = bytes(b)
                pos += len(data)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunk_out else data)
                self.resp_bytes += len(data)
            if chunk_out and not note:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            if spool is not None:
                spool.close()
        if length is not None and pos != length:
            note = note or "upstream-short"
            self.close_connection = True
        self.write_log(note)

    def rewrite_location(self, value):
        u = urllib.parse.urlsplit(value)
        if u.scheme in ("http", "https") and u.netloc == self.server.upstream:
            # The name the client used for the proxy, unless it asked for the upstream's name.
            host = self.headers.get("Host") or self.server.public
            if host == self.server.upstream:
                host = self.server.public
            return urllib.parse.urlunsplit(("http", host, u.path, u.query, u.fragment))
        return value


for _m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
    setattr(Handler, "do_" + _m, Handler.handle_any)


class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), Handler)
        self.upstream = args.upstream
        host, _, port = args.upstream.rpartition(":")
        self.upstream_host, self.upstream_port = host, int(port)
        self.public = f"127.0.0.1:{self.server_address[1]}"
        self.log_path = args.log
        self.started_path = args.started_log
        self.log_lock = threading.Lock()
        self.rules = Rules(args.rules, self.log)

    def _append(self, path, line):
        with self.log_lock, open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def log(self, line):
        self._append(self.log_path, line)

    def log_started(self, line):
        if self.started_path:
            self._append(self.started_path, line)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        try:
            with open(sys.argv[2], encoding="utf-8") as f:
                parse_rules(f.read())
        except (OSError, RuleError) as e:
            sys.exit(f"fault_proxy: {sys.argv[2]}: {e}")
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the registry")
    ap.add_argument("--rules", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--started-log")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    # stop_services ends us with SIGTERM: make sure it is not inherited as ignored.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    server = Proxy(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()

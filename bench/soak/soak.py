#!/usr/bin/env python3
"""The soak test of issue 24: run by bench/soak.sh, which says what it does.

Processes (all on loopback):
  ward      the release binary under test, list from list.url
  upstream  a UDP DNS server (this file, role "upstream") that flaps
  endpoint  an HTTPS list server (a thread here) publishing a new serial
            every SWAP seconds and, now and then, an invalid list
  checker   a client (role "checker") that asks known-blocked and
            known-allowed names at a steady rate from 127.0.0.1 (exempt
            from [limits]) and checks every answer
  attacker  the attacks of the issue in turn (threads here)

Standard library only, plus the `openssl` command for the test CA.
"""

import argparse
import json
import multiprocessing as mp
import os
import random
import secrets
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SINKHOLE = bytes([192, 0, 2, 1])
LEAK = bytes([203, 0, 113, 66])  # the upstream's answer for listed names
ALLOWED_A = bytes([192, 0, 2, 10])
FOREVER_A = bytes([192, 0, 2, 44])
EXTRA_A = bytes([192, 0, 2, 45])
CORE_BLOCKED = 1000
ALLOWED_POOL = 2000
ROTATING = 200
MAX_TTL = 86400  # cache.max_ttl's default
T_A, T_NS, T_SOA, T_TXT, T_OPT, T_ANY = 1, 2, 6, 16, 41, 255


# ---- DNS wire ---------------------------------------------------------------

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def build_query(qid, name, qtype=T_A, qclass=1, edns=None):
    ar = 1 if edns else 0
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, ar)
    q += encode_name(name) + struct.pack(">HH", qtype, qclass)
    if edns:
        q += b"\0" + struct.pack(">HHIH", T_OPT, edns, 0, 0)
    return q


def read_name(buf, at):
    labels, jumped, end, hops = [], False, at, 0
    while True:
        n = buf[at]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = at + 2
            at = ((n & 0x3F) << 8) | buf[at + 1]
            jumped, hops = True, hops + 1
            if hops > 32:
                raise ValueError("pointer loop")
            continue
        if n == 0:
            if not jumped:
                end = at + 1
            break
        labels.append(buf[at + 1:at + 1 + n].decode("ascii", "replace").lower())
        at += 1 + n
    return ".".join(labels), end


def parse_response(buf):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", buf[:12])
    at = 12
    for _ in range(qd):
        _, at = read_name(buf, at)
        at += 4
    sections = []
    for count in (an, ns, ar):
        records = []
        for _ in range(count):
            name, at = read_name(buf, at)
            rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", buf[at:at + 10])
            at += 10
            records.append((name, rtype, ttl, buf[at:at + rdlen], rclass))
            at += rdlen
        sections.append(records)
    ede = None
    for name, rtype, ttl, rdata, _ in sections[2]:
        if rtype != T_OPT:
            continue
        i = 0
        while i + 4 <= len(rdata):
            code, length = struct.unpack(">HH", rdata[i:i + 4])
            if code == 15 and length >= 2:
                ede = struct.unpack(">H", rdata[i + 4:i + 6])[0]
            i += 4 + length
    return {
        "id": qid,
        "rcode": flags & 0xF,
        "tc": bool(flags & 0x0200),
        "answers": sections[0],
        "authority": sections[1],
        "additional": [r for r in sections[2] if r[1] != T_OPT],
        "ede": ede,
    }


def record(name, rtype, ttl, rdata):
    return encode_name(name) + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


# ---- upstream ---------------------------------------------------------------

def upstream(port, mode, stop):
    """Answers every query after its name, over UDP (truncating above the
    query's EDNS size, as a resolver does) and TCP; `mode` (shared) makes
    it flap: 0 answers, 1 silent, 2 SERVFAIL, 3 REFUSED."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", port))
    s.settimeout(0.2)
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", port))
    t.listen(128)
    t.settimeout(0.2)
    threading.Thread(target=upstream_tcp, args=(t, mode, stop), daemon=True).start()
    while not stop.is_set():
        try:
            q, src = s.recvfrom(4096)
        except socket.timeout:
            continue
        a = upstream_answer(q, mode.value, udp=True)
        if a:
            try:
                s.sendto(a, src)
            except OSError:
                pass


def upstream_tcp(t, mode, stop):
    while not stop.is_set():
        try:
            c, _ = t.accept()
        except socket.timeout:
            continue
        threading.Thread(target=upstream_conn, args=(c, mode), daemon=True).start()


def upstream_conn(c, mode):
    c.settimeout(5)
    try:
        while True:
            q = recv_exact(c, struct.unpack(">H", recv_exact(c, 2))[0])
            a = upstream_answer(q, mode.value, udp=False)
            if a is None:
                break
            c.sendall(struct.pack(">H", len(a)) + a)
    except (OSError, struct.error):
        pass
    finally:
        c.close()


BIG_TXT = b"".join(bytes([100]) + b"x" * 100 for _ in range(40))


def upstream_answer(q, m, udp):
    """The upstream's answer to query `q` in flap mode `m`; None: silence."""
    try:
        qid, flags, _, _, _, arcount = struct.unpack(">HHHHHH", q[:12])
        name, end = read_name(q, 12)
        qtype = struct.unpack(">H", q[end:end + 2])[0]
    except (ValueError, IndexError, struct.error):
        return None
    question = q[12:end + 4]
    limit = 512
    if arcount and len(q) >= end + 4 + 11 and q[end + 4] == 0:
        limit = max(512, struct.unpack(">H", q[end + 7:end + 9])[0])
    if m == 1:
        return None
    rcode, answers, authority, additional = 0, [], [], []
    if m in (2, 3):
        rcode = 2 if m == 2 else 5
    elif name.endswith("soak-blocked.test") or name.endswith("rot.test"):
        # ward must never ask for a listed name; if it did, the client
        # must still never see this address.
        answers.append(record(name, T_A, 300, LEAK))
    elif name == "forever.allowed.test":
        answers.append(record(name, T_A, 0xFFFFFFFF, FOREVER_A))
    elif name == "extra.allowed.test":
        answers.append(record(name, T_A, 300, EXTRA_A))
        authority.append(record("allowed.test", T_NS, 300, encode_name("b1.soak-blocked.test")))
        additional.append(record("b1.soak-blocked.test", T_A, 300, LEAK))
    elif name == "big.allowed.test" and qtype == T_TXT:
        answers.append(record(name, T_TXT, 300, BIG_TXT))
    elif name.endswith("allowed.test"):
        if qtype == T_A:
            answers.append(record(name, T_A, random.randint(1, 30), ALLOWED_A))
    else:
        rcode = 3
    head = struct.pack(">HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                       len(answers), len(authority), len(additional))
    a = head + question + b"".join(answers + authority + additional)
    if udp and len(a) > limit:
        head = struct.pack(">HHHHHH", qid, 0x8380 | (flags & 0x0100) | rcode, 1, 0, 0, 0)
        a = head + question
    return a


# ---- checker ----------------------------------------------------------------

def checker(dns, admin, end_at, rate, out_q):
    """Asks names at `rate` per second until `end_at`; checks every answer.
    Also one new TCP connection and one /readyz request per second."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.connect(dns)
    s.setblocking(False)
    stats = {k: 0 for k in (
        "sent", "answered", "unanswered", "wrong", "servfail", "truncated",
        "blocked_ok", "allowed_ok", "tcp_ok", "tcp_failed", "readyz_ok", "readyz_failed")}
    wrong_examples = []
    pending = {}
    next_id = random.randint(0, 65535)
    fresh = 0
    started = time.monotonic()
    sent_total = 0
    next_side = started

    def judge(kind, name, r):
        a_records = [rd for (_, t, _, rd, _) in r["answers"] if t == T_A]
        everything = r["answers"] + r["authority"] + r["additional"]
        if any(rd == LEAK for (_, t, _, rd, _) in everything if t == T_A):
            return "the upstream's answer for a listed name reached the client"
        if r["tc"] and not r["answers"]:
            stats["truncated"] += 1
            return None
        if r["rcode"] == 2:
            stats["servfail"] += 1
            return "SERVFAIL for a blocked name" if kind == "blocked" else None
        if kind == "blocked":
            if a_records != [SINKHOLE] or r["ede"] != 16:
                return f"blocked name answered rcode={r['rcode']} a={a_records} ede={r['ede']}"
            stats["blocked_ok"] += 1
            return None
        if SINKHOLE in a_records or r["ede"] == 16:
            return f"allowed name blocked: a={a_records} ede={r['ede']}"
        if r["rcode"] != 0:
            return f"allowed name rcode {r['rcode']}"
        if any(n != name for (n, _, _, _, _) in everything):
            return f"a record for another name: {[n for (n, *_) in everything]}"
        if any(ttl > MAX_TTL for (_, _, ttl, _, _) in everything):
            return f"a TTL above cache.max_ttl: {[t for (_, _, t, _, _) in everything]}"
        want = {"allowed": ALLOWED_A, "forever": FOREVER_A, "extra": EXTRA_A}[kind]
        if a_records != [want]:
            return f"allowed name answered {a_records}"
        stats["allowed_ok"] += 1
        return None

    def pick():
        nonlocal fresh
        roll = random.random()
        if roll < 0.40:
            i = random.randrange(CORE_BLOCKED)
            name = f"b{i}.soak-blocked.test" if random.random() < 0.5 else f"w{random.randrange(1000)}.b{i}.soak-blocked.test"
            return "blocked", name
        if roll < 0.75:
            return "allowed", f"a{random.randrange(ALLOWED_POOL)}.allowed.test"
        if roll < 0.95:
            fresh += 1
            return "allowed", f"u{fresh % 50000}.allowed.test"
        if roll < 0.975:
            return "forever", "forever.allowed.test"
        return "extra", "extra.allowed.test"

    while time.monotonic() < end_at:
        now = time.monotonic()
        due = int((now - started) * rate) - sent_total
        for _ in range(min(due, 500)):
            kind, name = pick()
            next_id = (next_id + 1) & 0xFFFF
            if next_id in pending:
                stats["unanswered"] += 1
            pending[next_id] = (kind, name, now)
            try:
                s.send(build_query(next_id, name, edns=1232))
            except BlockingIOError:
                pass
            stats["sent"] += 1
            sent_total += 1
        while True:
            try:
                buf = s.recv(65535)
            except BlockingIOError:
                break
            try:
                r = parse_response(buf)
            except (ValueError, IndexError, struct.error) as e:
                stats["wrong"] += 1
                wrong_examples.append(f"unparseable answer: {e}")
                continue
            entry = pending.pop(r["id"], None)
            if entry is None:
                continue
            stats["answered"] += 1
            problem = judge(entry[0], entry[1], r)
            if problem:
                stats["wrong"] += 1
                if len(wrong_examples) < 20:
                    wrong_examples.append(f"{entry[1]}: {problem}")
        for qid in [k for k, v in pending.items() if now - v[2] > 3.0]:
            del pending[qid]
            stats["unanswered"] += 1
        if now >= next_side:
            next_side = now + 1.0
            side_checks(dns, admin, stats)
        time.sleep(0.002)
    stats["unanswered"] += len(pending)
    out_q.put({"stats": stats, "wrong_examples": wrong_examples})


def side_checks(dns, admin, stats):
    """A new TCP client is answered; /readyz answers."""
    try:
        with socket.create_connection(dns, timeout=2) as c:
            q = build_query(7, "b3.soak-blocked.test")
            c.sendall(struct.pack(">H", len(q)) + q)
            c.settimeout(2)
            head = recv_exact(c, 2)
            r = parse_response(recv_exact(c, struct.unpack(">H", head)[0]))
            ok = [rd for (_, t, _, rd, _) in r["answers"] if t == T_A] == [SINKHOLE]
            stats["tcp_ok" if ok else "tcp_failed"] += 1
            if not ok:
                stats["wrong"] += 1
    except (OSError, ValueError, struct.error):
        stats["tcp_failed"] += 1
    try:
        with socket.create_connection(admin, timeout=2) as c:
            c.settimeout(2)
            c.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = c.recv(100)
            stats["readyz_ok" if data.startswith(b"HTTP/1.1 200") else "readyz_failed"] += 1
    except OSError:
        stats["readyz_failed"] += 1


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


# ---- attacks ----------------------------------------------------------------

def bound_udp(source):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.setblocking(False)
    return s


def attack_udp_flood(dns, source, until, make, result):
    """Sends what `make()` returns as fast as one thread can; counts bytes
    both ways (the amplification factor)."""
    s = bound_udp(source)
    sent = recv = sent_bytes = recv_bytes = 0
    while time.monotonic() < until:
        for _ in range(64):
            q = make()
            try:
                s.sendto(q, dns)
                sent += 1
                sent_bytes += len(q)
            except (BlockingIOError, OSError):
                pass
        while True:
            try:
                data = s.recv(65535)
            except (BlockingIOError, OSError):
                break
            recv += 1
            recv_bytes += len(data)
    result.update(sent=sent, answered=recv, sent_bytes=sent_bytes, recv_bytes=recv_bytes,
                  amplification=round(recv_bytes / max(sent_bytes, 1), 2))


def attack_tcp_hold(dns, until, result):
    """1,100 connections from four addresses, each asking every 8 s."""
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(1100):
        source = f"127.0.0.{2 + i % 4}"
        try:
            c = socket.socket()
            c.bind((source, 0))
            c.setblocking(False)
            c.connect_ex(dns)
            conns.append(c)
            sel.register(c, selectors.EVENT_READ)
        except OSError:
            break
    q = build_query(9, "a1.allowed.test")
    frame = struct.pack(">H", len(q)) + q
    next_round = 0.0
    closed = 0
    while time.monotonic() < until:
        if time.monotonic() >= next_round:
            next_round = time.monotonic() + 8
            for c in conns:
                try:
                    c.send(frame)
                except OSError:
                    pass
        for key, _ in sel.select(timeout=0.2):
            try:
                if not key.fileobj.recv(65535):
                    sel.unregister(key.fileobj)
                    closed += 1
            except OSError:
                sel.unregister(key.fileobj)
                closed += 1
    for c in conns:
        c.close()
    result.update(connections=len(conns), closed_by_ward=closed)


def attack_tcp_noread(dns, until, result):
    """200 connections that pipeline queries for a 4 kB answer and never
    read one."""
    q = build_query(11, "big.allowed.test", T_TXT)
    frame = (struct.pack(">H", len(q)) + q) * 50
    conns = []
    for i in range(200):
        try:
            c = socket.socket()
            c.bind((f"127.0.0.{2 + i % 4}", 0))
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.connect(dns)
            c.setblocking(False)
            conns.append(c)
        except OSError:
            break
    writes = 0
    while time.monotonic() < until:
        for c in conns:
            try:
                c.send(frame)
                writes += 1
            except OSError:
                pass
        time.sleep(0.2)
    for c in conns:
        c.close()
    result.update(connections=len(conns), writes=writes)


def attack_slowloris(admin, until, result):
    """2,000 admin connections that send half a request head."""
    conns = []
    for i in range(2000):
        try:
            c = socket.socket()
            c.bind((f"127.0.0.{2 + i % 8}", 0))
            c.setblocking(False)
            c.connect_ex(admin)
            conns.append(c)
        except OSError:
            break
    time.sleep(0.5)
    for c in conns:
        try:
            c.send(b"GET /metrics HTTP/1.1\r\nHo")
        except OSError:
            pass
    while time.monotonic() < until:
        time.sleep(0.5)
    for c in conns:
        c.close()
    result.update(connections=len(conns))


def attack_file(state_list, until, result):
    """Overwrites the state directory's list in place (same size), then
    truncates it, then replaces it with garbage, in turn."""
    done = []
    while time.monotonic() < until:
        for action in ("overwrite", "truncate", "replace"):
            try:
                if action == "overwrite":
                    size = os.path.getsize(state_list)
                    with open(state_list, "r+b") as f:
                        f.write(os.urandom(size))
                elif action == "truncate":
                    open(state_list, "wb").close()
                else:
                    tmp = state_list + ".soak"
                    with open(tmp, "wb") as f:
                        f.write(os.urandom(4096))
                    os.replace(tmp, state_list)
                done.append(action)
            except OSError:
                pass
            time.sleep(2)
            if time.monotonic() >= until:
                break
    result.update(actions=len(done))


def run_attack(fn, until, q):
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    r = {}
    try:
        fn(until, r)
    except Exception as e:  # reported, not fatal: the soak goes on
        r["error"] = repr(e)
    q.put(r)


# ---- the list endpoint ------------------------------------------------------

class Endpoint:
    """Publishes serial 1, 2, 3, ... every `swap` seconds; every `bad_every`
    swaps it serves an invalid list for one swap instead."""

    def __init__(self, lists, invalid, swap, bad_every):
        self.lists, self.invalid, self.swap, self.bad_every = lists, invalid, swap, bad_every
        self.body = lists[1]
        self.serial = 1
        self.published = 1
        self.invalid_served = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self):
        step = 0
        bad = list(self.invalid.items())
        while not self.stop.wait(self.swap):
            step += 1
            with self.lock:
                if step % self.bad_every == 0:
                    name, body = bad[(step // self.bad_every) % len(bad)]
                    if name == "rollback":
                        body = self.lists[max(1, self.serial - 5)]
                    self.body = body
                    self.invalid_served[name] = self.invalid_served.get(name, 0) + 1
                elif self.serial + 1 in self.lists:
                    self.serial += 1
                    self.published += 1
                    self.body = self.lists[self.serial]

    def handler(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with endpoint.lock:
                    body = endpoint.body
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


# ---- set-up -----------------------------------------------------------------

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


def make_ca(work):
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=soak CA", "-keyout", f"{work}/ca.key",
         "-out", f"{work}/ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign"], stderr=subprocess.DEVNULL)
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=127.0.0.1", "-keyout", f"{work}/server.key", "-out", f"{work}/server.csr"],
        stderr=subprocess.DEVNULL)
    with open(f"{work}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", f"{work}/server.csr", "-CA", f"{work}/ca.pem",
         "-CAkey", f"{work}/ca.key", "-CAcreateserial", "-days", "2", "-extfile",
         f"{work}/ext.cnf", "-out", f"{work}/server.pem"], stderr=subprocess.DEVNULL)


def build_lists(ward, root, work, count):
    key = f"{root}/examples/demo.key"
    core = "".join(f"b{i}.soak-blocked.test adult\n" for i in range(CORE_BLOCKED))
    lists = {}

    def build(serial, extra, out, key=key, list_id="soak", valid="30d", issued=None):
        src = f"{work}/src-{os.path.basename(out)}.txt"
        with open(src, "w") as f:
            f.write(core + extra)
        cmd = [ward, "list", "build", "--key", key, "--serial", str(serial), "--list-id",
               list_id, "--valid-for", valid, "-o", out, src]
        if issued:
            cmd += ["--issued-at", issued]
        run(cmd, stderr=subprocess.DEVNULL)
        os.unlink(src)
        with open(out, "rb") as f:
            return f.read()

    for serial in range(1, count + 1):
        rot = "".join(f"r{serial}-{j}.rot.test gambling\n" for j in range(ROTATING))
        lists[serial] = build(serial, rot, f"{work}/lists/{serial}.ward")
    run([ward, "keygen", "--out", f"{work}/stranger"], stderr=subprocess.DEVNULL)
    good = lists[1]
    invalid = {
        "foreign_key": build(count + 1, "", f"{work}/lists/foreign.ward", key=f"{work}/stranger.key"),
        "truncated": good[: len(good) // 2],
        "garbage": os.urandom(len(good)),
        "rollback": b"",  # filled in by the endpoint: an older valid serial
        "other_list_id": build(count + 2, "", f"{work}/lists/other.ward", list_id="other"),
        "expired": build(count + 3, "", f"{work}/lists/expired.ward", valid="1h",
                         issued=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))),
    }
    return lists, invalid


def window_median(series, t0, start, end):
    """The median RSS of the samples taken from `start` to `end` seconds."""
    values = sorted(v for (t, v) in series if start <= t <= end)
    return values[len(values) // 2] if values else 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scrape(admin):
    try:
        with socket.create_connection(admin, timeout=5) as c:
            c.settimeout(5)
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode(errors="replace")
    except OSError:
        return ""


def metric_lines(text, prefixes):
    return [l for l in text.splitlines() if l.startswith(prefixes) and not l.endswith(" 0")]


def wait_ready(dns, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.5)
            s.sendto(build_query(1, "list.ward", T_TXT, qclass=3), dns)
            r = parse_response(s.recv(4096))
            if r["rcode"] == 0 and r["answers"]:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ward", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--duration", type=float, default=600)
    p.add_argument("--swap", type=float, default=2)
    p.add_argument("--rate", type=int, default=1500)
    p.add_argument("--port", type=int, default=53700)
    p.add_argument("--no-attacks", dest="attacks", action="store_false",
                   help="the load, swaps, flaps and invalid lists only: a baseline")
    a = p.parse_args()

    D = a.duration
    dns, up_port, list_port, admin = ("127.0.0.1", a.port), a.port + 1, a.port + 2, ("127.0.0.1", a.port + 3)
    work = subprocess.check_output(["mktemp", "-d"]).decode().strip()
    os.makedirs(f"{work}/lists")
    say = lambda *m: print(f"[{time.strftime('%H:%M:%S')}]", *m, flush=True)
    say(f"work dir {work}; building {int(D / a.swap) + 2} lists and a test CA")
    make_ca(work)
    lists, invalid = build_lists(a.ward, a.root, work, int(D / a.swap) + 2)

    endpoint = Endpoint(lists, invalid, a.swap, bad_every=10)
    httpd = ThreadingHTTPServer(("127.0.0.1", list_port), endpoint.handler())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{work}/server.pem", f"{work}/server.key")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    stop = mp.Event()
    mode = mp.Value("i", 0)
    up = mp.Process(target=upstream, args=(up_port, mode, stop), daemon=True)
    up.start()

    with open(f"{work}/ward.toml", "w") as f:
        f.write(f"""[dns]
listen = ["127.0.0.1:{a.port}"]
upstreams = ["127.0.0.1:{up_port}"]
allow_clients = ["127.0.0.0/8"]
upstream_timeout = "500ms"
upstream_attempts = 1
[cache]
max_entries = 2000
[limits]
client_qps = 2000
client_prefix_v4 = 32
rrl = 100
slip = 2
exempt = ["127.0.0.1"]
[list]
url = "https://127.0.0.1:{list_port}/list.ward"
ca_file = "{work}/ca.pem"
trusted_keys = ["{a.root}/examples/demo.pub"]
state_dir = "{work}/state"
poll_interval = "1s"
[block]
sinkhole_ipv4 = ["192.0.2.1"]
[admin]
listen = "127.0.0.1:{admin[1]}"
[log]
level = "warn"
""")
    log = open(f"{work}/ward.log", "w")
    ward = subprocess.Popen([a.ward, "serve", "--config", f"{work}/ward.toml"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not wait_ready(dns):
            sys.exit(f"soak: ward did not serve within 60 s; see {work}/ward.log")
        threading.Thread(target=endpoint.run, daemon=True).start()
        t0 = time.monotonic()
        end = t0 + D
        out_q = mp.Queue()
        chk = mp.Process(target=checker, args=(dns, admin, end, a.rate, out_q), daemon=True)
        chk.start()

        def flapper():
            # Silent, SERVFAIL, REFUSED in turn, each for 5 s, every
            # D/30 s: the warm-up sees each once, so the memory measured
            # before the attacks includes the forwards a silent upstream
            # piles up.
            cycle = 0
            while time.monotonic() < end - 0.2 * D:
                time.sleep(D / 30)
                mode.value = 1 + cycle % 3
                cycle += 1
                time.sleep(5)
                mode.value = 0
        threading.Thread(target=flapper, daemon=True).start()

        rss = {"start": rss_kib(ward.pid)}
        peak = [rss["start"]]
        series = []
        def sampler():
            next_sample = t0
            while ward.poll() is None and time.monotonic() < end:
                now_rss = rss_kib(ward.pid)
                peak[0] = max(peak[0], now_rss)
                if time.monotonic() >= next_sample:
                    series.append((round(time.monotonic() - t0), now_rss))
                    next_sample += D / 120
                time.sleep(0.5)
        threading.Thread(target=sampler, daemon=True).start()

        warm = 0.15 * D
        time.sleep(max(0, t0 + warm - time.monotonic()))
        # Medians of the samples in a window, not one reading: the resident
        # set swings by a few MB with each upstream flap and each 30 s trim.
        rss["before_attacks"] = window_median(series, t0, warm - 0.075 * D, warm)
        cache_before = metric_lines(scrape(admin), ("ward_cache_entries", "ward_cache_bytes"))
        say(f"warmed up: RSS {rss['before_attacks']} KiB; attacks begin")

        slot, length = 0.1 * D, 0.075 * D
        rnd = lambda: "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        attacks = [
            ("list file overwritten, truncated, replaced", lambda u, r: attack_file(f"{work}/state/list.ward", u, r)),
            ("1,100 TCP connections held, a query every 8 s", lambda u, r: attack_tcp_hold(dns, u, r)),
            ("200 TCP clients that never read", lambda u, r: attack_tcp_noread(dns, u, r)),
            ("2,000 slowloris admin connections", lambda u, r: attack_slowloris(admin, u, r)),
            ("UDP amplification: TXT and ANY with EDNS 4096", lambda u, r: attack_udp_flood(
                dns, "127.0.0.3", u,
                lambda: build_query(random.getrandbits(16), "big.allowed.test" if random.random() < 0.5 else "allowed.test",
                                    T_TXT if random.random() < 0.5 else T_ANY, edns=4096), r)),
            ("random subdomains under a listed name", lambda u, r: attack_udp_flood(
                dns, "127.0.0.4", u, lambda: build_query(random.getrandbits(16), f"{rnd()}.b7.soak-blocked.test"), r)),
            ("random datagrams", lambda u, r: attack_udp_flood(
                dns, "127.0.0.5", u, lambda: os.urandom(random.randint(1, 600)), r)),
        ]
        results = []
        if not a.attacks:
            attacks = []
        for i, (name, fn) in enumerate(attacks):
            start = t0 + warm + i * slot
            time.sleep(max(0, start - time.monotonic()))
            say(f"attack: {name}")
            # In a process of its own: a flooding thread would otherwise
            # starve the list endpoint and the flapper of the GIL.
            q = mp.Queue()
            proc = mp.Process(target=run_attack, args=(fn, start + length, q), daemon=True)
            proc.start()
            try:
                r = q.get(timeout=length + 60)
            except Exception:
                r = {"error": "the attack process gave no result"}
            proc.join(10)
            r["rss_kib_at_end"] = rss_kib(ward.pid)
            results.append((name, r))
            if ward.poll() is not None:
                break
        say("attacks over; recovering")
        got = out_q.get(timeout=D + 60)
        chk.join()
        alive = ward.poll() is None
        rss["after"] = window_median(series, t0, 0.925 * D, D) if alive else 0
        rss["at_end"] = rss_kib(ward.pid) if alive else 0
        metrics = scrape(admin) if alive else ""
    finally:
        endpoint.stop.set()
        stop.set()
        if ward.poll() is None:
            ward.terminate()
            try:
                ward.wait(10)
            except subprocess.TimeoutExpired:
                ward.kill()
        httpd.shutdown()

    s = got["stats"]
    ratio = rss["after"] / rss["before_attacks"] if rss["before_attacks"] else 0
    summary = {
        "duration_s": D, "rate_qps": a.rate, "swap_s": a.swap,
        "ward_alive_at_end": alive, "exit_code": ward.returncode,
        "checker": s, "wrong_examples": got["wrong_examples"],
        "serials_published": endpoint.published, "invalid_lists_served": endpoint.invalid_served,
        "rss_kib": {**rss, "peak": peak[0]},
        "rss_kib_series": series, "rss_after_over_before": round(ratio, 3),
        "attacks": results,
        "cache_before_attacks": cache_before,
        "metrics": metric_lines(metrics, ("ward_list_rejected_total", "ward_rate_limited_total",
                                          "ward_connections_closed_total", "ward_list_serial ",
                                          "ward_list_file_changes_total", "ward_queries_total",
                                          "ward_upstream_errors_total", "ward_list_fetch_total",
                                          "ward_cache_entries", "ward_cache_bytes")),
    }
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))
    ok = alive and s["wrong"] == 0 and 0 < ratio <= 1.10
    say(f"{'PASS' if ok else 'FAIL'}: {s['wrong']} wrong answers of {s['answered']} checked, "
        f"ward {'alive' if alive else 'DEAD'}, RSS after/before attacks {ratio:.3f}; {path}")
    if not ok:
        say(f"ward's log: {work}/ward.log")
        sys.exit(1)
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()

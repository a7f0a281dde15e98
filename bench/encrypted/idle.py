#!/usr/bin/env python3
"""Opens COUNT TLS connections to 127.0.0.1:PORT and keeps them idle.

bench/encrypted.sh measures the server's memory per idle connection with
it. DoT (--mode dot): ALPN "dot", the handshake, nothing more. DoH (--mode
doh): ALPN "h2", the handshake, then the HTTP/2 connection preface and an
empty SETTINGS frame, as a browser that keeps a connection open sends
before its first request. The certificate is verified against --ca and
--server-name.

Prints "open N" (N: connections that completed their handshake) on stdout
once every attempt has finished, then holds them until a line (or end of
file) arrives on stdin, and closes them.
"""

import argparse
import asyncio
import ssl
import sys

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
H2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


async def one(args, ctx, sem):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", args.port, ssl=ctx, server_hostname=args.server_name
                ),
                timeout=30,
            )
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            return None, e
        if args.mode == "doh":
            writer.write(H2_PREFACE + H2_SETTINGS)
            await writer.drain()
        return (reader, writer), None


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--mode", choices=("dot", "doh"), required=True)
    ap.add_argument("--server-name", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--parallel", type=int, default=200)
    args = ap.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.set_alpn_protocols(["dot"] if args.mode == "dot" else ["h2"])
    sem = asyncio.Semaphore(args.parallel)
    results = await asyncio.gather(*(one(args, ctx, sem) for _ in range(args.count)))
    conns = [c for c, _ in results if c is not None]
    errors = [e for _, e in results if e is not None]
    if errors:
        print(f"{len(errors)} connections failed, e.g. {errors[0]!r}", file=sys.stderr)
    print(f"open {len(conns)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    closed = sum(1 for r, _ in conns if r.at_eof())
    if closed:
        print(f"{closed} connections were closed by the server while idle", file=sys.stderr)
    for _, w in conns:
        w.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""gRPC C-core (Debian python3-grpcio) proxyless xDS client for meshd's end-to-end tests.

Run with /usr/bin/python3 and GRPC_XDS_BOOTSTRAP pointing at a bootstrap file. Reads one JSON command
per line on stdin and answers each with one JSON line on stdout carrying the same "id":
  {"id": 1, "cmd": "call", "md": {...}, "name": "x", "method": "SayHello", "timeout_ms": 5000, "wait": false}
      -> {"id": 1, "status": "OK", "backend": "v1", "ms": 1.2}   (or "status": "UNAVAILABLE", "details": ...)
  {"id": 2, "cmd": "split", "n": 500, "md": {...}, "name": "x", "method": "SayHello", "concurrency": 10}
      -> {"id": 2, "counts": {"v1": 442, "v2": 58}}
  {"id": 3, "cmd": "exit"}
The Greeter messages are encoded by hand (two string fields) so no generated code is needed.
"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import grpc.experimental  # insecure_channel_credentials (fallback for xds_channel_credentials)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def encode_request(name):  # hello.HelloRequest{name = 1}
    b = name.encode()
    return b"\x0a" + _varint(len(b)) + b


def decode_reply(buf):  # hello.HelloReply{message = 1, backend = 2}
    fields, i = {}, 0
    while i < len(buf):
        tag, i = _read_varint(buf, i)
        if tag & 7 != 2:
            raise ValueError("unexpected wire type %d" % (tag & 7))
        ln, i = _read_varint(buf, i)
        fields[tag >> 3] = bytes(buf[i:i + ln]).decode()
        i += ln
    return {"message": fields.get(1, ""), "backend": fields.get(2, "")}


target = os.environ["TARGET"]
if os.environ.get("XDS_CREDS") == "1":
    # security from xDS: cluster transport_socket + bootstrap certificate_providers (mTLS), else plaintext
    channel = grpc.secure_channel(target, grpc.xds_channel_credentials(grpc.experimental.insecure_channel_credentials()))
else:
    channel = grpc.insecure_channel(target)
methods = {
    m: channel.unary_unary("/hello.Greeter/" + m, request_serializer=encode_request, response_deserializer=decode_reply)
    for m in ("SayHello", "SayGoodbye")
}


def call(md, name="x", method="SayHello", timeout_ms=5000, wait=False):
    t = time.perf_counter()
    try:
        reply = methods[method](name, metadata=list(md.items()), timeout=timeout_ms / 1000.0, wait_for_ready=wait)
        return {"status": "OK", "backend": reply["backend"], "ms": (time.perf_counter() - t) * 1000}
    except grpc.RpcError as e:
        return {"status": e.code().name, "details": e.details(), "ms": (time.perf_counter() - t) * 1000}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


emit({"id": 0, "ready": True, "grpc_version": grpc.__version__})
pool = ThreadPoolExecutor(16)
for line in sys.stdin:
    if not line.strip():
        continue
    cmd = json.loads(line)
    try:
        if cmd["cmd"] == "call":
            r = call(cmd.get("md") or {}, cmd.get("name", "x"), cmd.get("method", "SayHello"),
                     cmd.get("timeout_ms", 5000), cmd.get("wait", False))
            emit(dict(r, id=cmd["id"]))
        elif cmd["cmd"] == "split":
            md = cmd.get("md") or {}
            args = (cmd.get("name", "x"), cmd.get("method", "SayHello"), cmd.get("timeout_ms", 5000))
            n, conc = cmd["n"], min(cmd.get("concurrency", 10), 16)
            results = list(pool.map(lambda _: call(md, *args), range(n)))
            counts = {}
            for r in results:
                k = r["backend"] if r["status"] == "OK" else "%s: %s" % (r["status"], r.get("details"))
                counts[k] = counts.get(k, 0) + 1
            emit({"id": cmd["id"], "counts": counts})
        elif cmd["cmd"] == "exit":
            emit({"id": cmd["id"], "bye": True})
            break
        else:
            emit({"id": cmd["id"], "error": "unknown command %r" % cmd["cmd"]})
    except Exception as e:  # report, keep serving
        emit({"id": cmd.get("id"), "error": repr(e)})
pool.shutdown(wait=False)
channel.close()

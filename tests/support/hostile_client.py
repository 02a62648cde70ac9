#!/usr/bin/python3
"""A hostile local user of entrenard, for the security tests: Debian's python3-grpcio with stubs
generated from proto/entrenar/v1/jobs.proto (not our client), and raw unix sockets.

  hostile_client.py validate SOCKET FILE          Validate RPC with FILE's text; prints ok/invalid
  hostile_client.py follow SOCKET JOB N           opens N follow streams that never read, then
                                                  prints the code of each stream's first answer
  hostile_client.py hold SOCKET N SECONDS READY   connects N times, touches READY, holds them
"""
import os
import socket
import sys
import tempfile
import time

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stubs():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from python_client import load_stubs  # noqa: E402 (the example client's stub generation)
    return load_stubs(tempfile.mkdtemp())


def validate(sock, path):
    pb, rpc = stubs()
    with grpc.insecure_channel("unix:" + sock) as channel:
        stub = rpc.JobServiceStub(channel)
        text = open(path, encoding="utf-8").read()
        resp = stub.Validate(pb.ValidateRequest(
            manifest=pb.ManifestSource(yaml=text, file_name="x.yaml")), timeout=60)
        print("ok" if resp.ok else "invalid")
        for d in resp.diagnostics:
            print(d.line, d.message)


def follow(sock, job, n):
    pb, rpc = stubs()
    channel = grpc.insecure_channel("unix:" + sock)
    stub = rpc.JobServiceStub(channel)
    streams = [stub.StreamEvents(pb.StreamEventsRequest(job_id=job, follow=True), timeout=30)
               for _ in range(n)]
    time.sleep(1.0)  # every stream is open on the daemon before any is read
    for s in streams:
        try:
            next(s)
            print("OK")
        except grpc.RpcError as e:
            print(e.code().name)
    sys.stdout.flush()
    os._exit(0)  # without closing the streams politely


def hold(sock, n, seconds, ready):
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(0.5)  # a full backlog would block connect
        try:
            s.connect(sock)
            held.append(s)
        except OSError:
            s.close()
    open(ready, "w").write(str(len(held)))
    time.sleep(seconds)


def main():
    cmd = sys.argv[1]
    if cmd == "validate":
        validate(sys.argv[2], sys.argv[3])
    elif cmd == "follow":
        follow(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "hold":
        hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A local Hugging Face Hub for the tests: the HTTP API that huggingface_hub, @huggingface/hub and
entrenar use to download, over repositories kept as plain folders.

  hub_server.py ROOT [--token T] [--cut-after N] [--delay S]   prints "PORT <n>" once listening on 127.0.0.1

ROOT/models/ORG/NAME/... and ROOT/datasets/ORG/NAME/... are repositories: their files are the
revision `main`, whose commit is a SHA-1 of the names and contents. A repository holding a file
`.gated` answers 401 (X-Error-Code: GatedRepo) unless the request carries `Authorization: Bearer T`.

  GET  /api/{models,datasets}/ORG/NAME/revision/REV[?blobs=true]
       {"id", "sha", "siblings": [{"rfilename"[, "size", "lfs": {"sha256", "size"}]}]}
  HEAD|GET /ORG/NAME/resolve/REV/PATH, /datasets/ORG/NAME/resolve/REV/PATH
       LFS files (.safetensors, .parquet, .bin, .gguf, or over 10 kB): 302 to /lfs/SHA256 with
       X-Repo-Commit, X-Linked-Etag ("sha256") and X-Linked-Size; other files: 200 with ETag
       (the git blob SHA-1) and X-Repo-Commit. REV is `main` or the commit.
  POST /api/{models,datasets}/ORG/NAME/paths-info/REV   {"paths": [...]} → each file's oid,
       size, lfs {oid, size} and lastCommit, as @huggingface/hub asks before a download
  GET  /lfs/SHA256   the blob, with Range (bytes=A- or bytes=A-B: 206)
  GET  /__state      the requests so far: method, path, range, whether authorized
  404s carry X-Error-Code RepoNotFound, RevisionNotFound or EntryNotFound, as the Hub's do.

--cut-after N: the first GET of each LFS blob sends N bytes of it, then closes the connection
(an interrupted download, to be resumed with Range).
--delay S: each GET of a file's bytes (resolve, or an LFS blob) waits S seconds first (a slow
network, to watch a download as it happens).
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".parquet", ".bin", ".gguf", ".pt")
args = None
lock = threading.Lock()
requests = []
cut_done = set()


def repo_files(folder):
    out = []
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            full = os.path.join(base, f)
            rel = os.path.relpath(full, folder)
            if rel != ".gated":
                out.append(rel)
    return sorted(out)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def commit_of(folder):
    h = hashlib.sha1()
    for rel in repo_files(folder):
        h.update(rel.encode() + b"\0" + read(os.path.join(folder, rel)) + b"\0")
    return h.hexdigest()


def is_lfs(rel, data):
    return rel.endswith(LFS_SUFFIXES) or len(data) > 10_000


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def blobs():
    """Every LFS blob of every repository, by its sha256."""
    out = {}
    for kind in ("models", "datasets"):
        top = os.path.join(args.root, kind)
        if not os.path.isdir(top):
            continue
        for org in os.listdir(top):
            for name in os.listdir(os.path.join(top, org)):
                folder = os.path.join(top, org, name)
                for rel in repo_files(folder):
                    data = read(os.path.join(folder, rel))
                    if is_lfs(rel, data):
                        out[hashlib.sha256(data).hexdigest()] = data
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self):
        with lock:
            requests.append({"method": self.command, "path": self.path,
                             "range": self.headers.get("Range"),
                             "authorized": self.authorized()})

    def authorized(self):
        return bool(args.token) and self.headers.get("Authorization") == f"Bearer {args.token}"

    def send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def error(self, status, code, message, head=False):
        self.send(status, json.dumps({"error": message}).encode(),
                  {"X-Error-Code": code, "X-Error-Message": message,
                   "Content-Type": "application/json"}, head)

    def repo(self, kind, org, name, head=False):
        """The repository's folder, or None after answering with the error."""
        folder = os.path.join(args.root, kind, org, name)
        if ".." in (org, name) or not os.path.isdir(folder):
            self.error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}.", head)
            return None
        if os.path.exists(os.path.join(folder, ".gated")) and not self.authorized():
            self.error(401, "GatedRepo", f"Access to model {org}/{name} is restricted.", head)
            return None
        return folder

    def revision_info(self, kind, org, name, rev, query):
        folder = self.repo(kind, org, name)
        if folder is None:
            return
        commit = commit_of(folder)
        if rev not in ("main", commit):
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        siblings = []
        for rel in repo_files(folder):
            entry = {"rfilename": rel}
            if query.get("blobs", [""])[0] == "true":
                data = read(os.path.join(folder, rel))
                entry["size"] = len(data)
                if is_lfs(rel, data):
                    entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            siblings.append(entry)
        body = json.dumps({"id": f"{org}/{name}", "sha": commit, "siblings": siblings})
        self.send(200, body.encode(), {"Content-Type": "application/json"})

    def paths_info(self, kind, org, name, rev):
        """POST .../paths-info/REV {"paths": [...]}, as @huggingface/hub asks before a download."""
        length = int(self.headers.get("Content-Length") or 0)
        wanted = json.loads(self.rfile.read(length) or b"{}").get("paths", [])
        folder = self.repo(kind, org, name)
        if folder is None:
            return
        commit = commit_of(folder)
        if rev not in ("main", commit):
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        out = []
        for rel in wanted:
            path = os.path.normpath(os.path.join(folder, rel))
            if not path.startswith(folder + os.sep) or not os.path.isfile(path):
                continue
            data = read(path)
            entry = {"type": "file", "path": rel, "oid": git_blob_sha1(data), "size": len(data),
                     "lastCommit": {"id": commit, "title": "the only commit",
                                    "date": "2026-01-01T00:00:00.000Z"}}
            if is_lfs(rel, data):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                "pointerSize": 134}
            out.append(entry)
        self.send(200, json.dumps(out).encode(), {"Content-Type": "application/json"})

    def resolve(self, kind, org, name, rev, rel, head):
        folder = self.repo(kind, org, name, head)
        if folder is None:
            return
        commit = commit_of(folder)
        if rev not in ("main", commit):
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        path = os.path.normpath(os.path.join(folder, rel))
        if not path.startswith(folder + os.sep) or not os.path.isfile(path) or rel == ".gated":
            return self.error(404, "EntryNotFound", f"{rel} does not exist on \"{rev}\"", head)
        data = read(path)
        if is_lfs(rel, data):
            sha = hashlib.sha256(data).hexdigest()
            port = self.server.server_address[1]
            return self.send(302, b"", {"Location": f"http://127.0.0.1:{port}/lfs/{sha}",
                                        "X-Repo-Commit": commit,
                                        "X-Linked-Etag": f'"{sha}"',
                                        "X-Linked-Size": str(len(data)),
                                        "ETag": f'"{git_blob_sha1(data)}"'}, head)
        self.send_body(data, {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": commit}, head)

    def send_body(self, data, headers, head, cut=None):
        start, end = 0, len(data)
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and "-" in rng:
            first, last = rng[6:].split("-", 1)
            start = int(first)
            end = min(len(data), int(last) + 1) if last else len(data)
            if start >= len(data) and len(data) > 0:
                return self.send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            headers = dict(headers, **{"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"})
        body = data[start:end]
        status = 206 if rng else 200
        if cut is None or head:
            return self.send(status, body, headers, head)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.close_connection = True

    def route(self, head, post=False):
        self.record()
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = parse_qs(url.query)
        if parts == ["__state"]:
            with lock:
                return self.send(200, json.dumps({"requests": requests}).encode())
        if len(parts) == 6 and parts[0] == "api" and parts[4] == "revision":
            return self.revision_info(parts[1], parts[2], parts[3], parts[5], query)
        if len(parts) == 6 and parts[0] == "api" and parts[4] == "paths-info" and post:
            return self.paths_info(parts[1], parts[2], parts[3], parts[5])
        if args.delay and not head and not post and ("resolve" in parts or parts[:1] == ["lfs"]):
            time.sleep(args.delay)
        if len(parts) == 2 and parts[0] == "lfs":
            data = blobs().get(parts[1])
            if data is None:
                return self.error(404, "EntryNotFound", "no such blob", head)
            cut = None
            if args.cut_after is not None and not head and parts[1] not in cut_done:
                cut_done.add(parts[1])
                cut = args.cut_after
            return self.send_body(data, {"ETag": f'"{parts[1]}"'}, head, cut)
        kind = "models"
        if parts and parts[0] == "datasets":
            kind, parts = "datasets", parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(kind, parts[0], parts[1], parts[3], "/".join(parts[4:]), head)
        self.error(404, "EntryNotFound", f"no route for {url.path}", head)

    def do_GET(self):
        self.route(False)

    def do_HEAD(self):
        self.route(True)

    def do_POST(self):
        self.route(False, post=True)


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--token")
    p.add_argument("--cut-after", type=int)
    p.add_argument("--delay", type=float, default=0)
    args = p.parse_args()
    args.root = os.path.abspath(args.root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""A local MLflow tracking server for the tests: the REST API 2.0 calls entrenar makes, with
MLflow's own request checks (required fields, log-batch limits), every request recorded.

  mlflow_server.py [--fail-batches N]   prints "PORT <n>" once listening on 127.0.0.1

  --fail-batches N   answer the first N runs/log-batch requests that carry metrics with 503
  GET /__state       everything recorded: requests, experiments, runs with params, tags, metrics
"""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
state = {"requests": [], "experiments": {"Default": "0"}, "runs": {}, "failed_batches": 0}
args = None


def error(code, message, status=400):
    return status, {"error_code": code, "message": message}


def get_by_name(query, _body):
    name = query.get("experiment_name", [""])[0]
    if name not in state["experiments"]:
        return error("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'", 404)
    return 200, {"experiment": {"experiment_id": state["experiments"][name], "name": name}}


def create_experiment(_query, body):
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return error("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'")
    if name in state["experiments"]:
        return error("RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
    state["experiments"][name] = str(len(state["experiments"]))
    return 200, {"experiment_id": state["experiments"][name]}


def create_run(_query, body):
    if body.get("experiment_id") not in state["experiments"].values():
        return error("RESOURCE_DOES_NOT_EXIST", "No such experiment", 404)
    if not isinstance(body.get("start_time"), int):
        return error("INVALID_PARAMETER_VALUE", "start_time must be an integer (ms)")
    for tag in body.get("tags", []):
        if not isinstance(tag.get("key"), str) or not isinstance(tag.get("value"), str):
            return error("INVALID_PARAMETER_VALUE", f"bad tag {tag}")
    run_id = f"run{len(state['runs']) + 1:04d}"
    state["runs"][run_id] = {"experiment_id": body["experiment_id"],
                             "run_name": body.get("run_name", ""),
                             "tags": {t["key"]: t["value"] for t in body.get("tags", [])},
                             "params": {}, "metrics": [], "status": "RUNNING"}
    return 200, {"run": {"info": {"run_id": run_id, "experiment_id": body["experiment_id"],
                                  "status": "RUNNING"}}}


def log_batch(_query, body):
    run = state["runs"].get(body.get("run_id"))
    if run is None:
        return error("RESOURCE_DOES_NOT_EXIST", "No such run", 404)
    metrics, params = body.get("metrics", []), body.get("params", [])
    if len(metrics) > 1000 or len(params) > 100 or len(metrics) + len(params) > 1000:
        return error("INVALID_PARAMETER_VALUE", "A batch logging request can contain at most "
                     "1000 metrics, 100 params and 1000 entities in total")
    if metrics and state["failed_batches"] < args.fail_batches:
        state["failed_batches"] += 1
        return 503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try again"}
    for m in metrics:
        if not (isinstance(m.get("key"), str) and isinstance(m.get("value"), (int, float))
                and isinstance(m.get("timestamp"), int) and isinstance(m.get("step"), int)):
            return error("INVALID_PARAMETER_VALUE", f"bad metric {m}")
    for p in params:
        if p["key"] in run["params"] and run["params"][p["key"]] != p["value"]:
            return error("INVALID_PARAMETER_VALUE", f"Changing param values is not allowed: {p}")
        if len(p["value"]) > 6000:
            return error("INVALID_PARAMETER_VALUE", "param value too long")
        run["params"][p["key"]] = p["value"]
    run["metrics"].extend(metrics)
    return 200, {}


def update_run(_query, body):
    run = state["runs"].get(body.get("run_id"))
    if run is None:
        return error("RESOURCE_DOES_NOT_EXIST", "No such run", 404)
    if body.get("status") not in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"):
        return error("INVALID_PARAMETER_VALUE", f"bad status {body.get('status')}")
    run["status"] = body["status"]
    run["end_time"] = body.get("end_time")
    return 200, {"run_info": {"run_id": body["run_id"], "status": body["status"]}}


ROUTES = {
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"): get_by_name,
    ("POST", "/api/2.0/mlflow/experiments/create"): create_experiment,
    ("POST", "/api/2.0/mlflow/runs/create"): create_run,
    ("POST", "/api/2.0/mlflow/runs/log-batch"): log_batch,
    ("POST", "/api/2.0/mlflow/runs/update"): update_run,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_call(self, method):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length) if length else b""
        if method == "GET" and url.path == "/__state":
            with lock:
                return self.answer(200, state)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.answer(*error("MALFORMED_REQUEST", "body is not JSON"))
        route = ROUTES.get((method, url.path))
        with lock:
            state["requests"].append({"method": method, "path": url.path, "body": body,
                                      "content_type": self.headers.get("Content-Type")})
            if route is None:
                return self.answer(*error("ENDPOINT_NOT_FOUND", url.path, 404))
            return self.answer(*route(parse_qs(url.query), body))

    def do_GET(self):
        self.handle_call("GET")

    def do_POST(self):
        self.handle_call("POST")


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-batches", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""A client of entrenard that is not ours: Python, Debian's python3-grpcio, and stubs generated
from proto/entrenar/v1/jobs.proto with protoc and grpc_python_plugin (into a temporary folder).

  /usr/bin/python3 examples/python_client.py MANIFEST [--set PATH=VALUE]... [--socket PATH]

Submits the manifest, follows its events to the end, prints the final test metrics, and exits 0
when the job succeeded.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_stubs(folder):
    subprocess.run(["protoc", "--proto_path=" + os.path.join(ROOT, "proto"),
                    "--python_out=" + folder, "--grpc_out=" + folder,
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    "entrenar/v1/jobs.proto"], check=True)
    sys.path.insert(0, folder)
    from entrenar.v1 import jobs_pb2, jobs_pb2_grpc  # noqa: E402 (generated above)
    return jobs_pb2, jobs_pb2_grpc


def default_socket():
    if os.environ.get("ENTRENAR_SOCKET"):
        return os.environ["ENTRENAR_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if os.getuid() == 0 or not runtime:
        return "/run/entrenar/entrenard.sock"
    return os.path.join(runtime, "entrenar", "entrenard.sock")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--socket", default=default_socket())
    args = parser.parse_args()

    import grpc
    with tempfile.TemporaryDirectory() as folder:
        pb, pb_grpc = load_stubs(folder)
        channel = grpc.insecure_channel("unix:" + args.socket)
        jobs = pb_grpc.JobServiceStub(channel)
        with open(args.manifest) as f:
            source = pb.ManifestSource(
                yaml=f.read(), file_name=args.manifest, overrides=args.overrides,
                env=dict(os.environ),
                working_dir=os.path.dirname(os.path.abspath(args.manifest)))
        try:
            submitted = jobs.Submit(pb.SubmitRequest(manifest=source))
        except grpc.RpcError as e:
            print(f"submit refused: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        print(f"job {submitted.job_id}: {submitted.run_dir}")
        test = {}
        for event in jobs.StreamEvents(pb.StreamEventsRequest(job_id=submitted.job_id,
                                                               follow=True)):
            payload = json.loads(event.payload_json)
            if event.kind == "state":
                print(f"  state {payload['state']} {payload.get('reason', '')}".rstrip())
            elif event.kind == "validation" and payload.get("text") == "test":
                test = payload.get("values", {})
        job = jobs.GetJob(pb.GetJobRequest(job_id=submitted.job_id))
        state = pb.JobState.Name(job.state)
        print(f"final state {state}")
        for name in sorted(test):
            print(f"  {name} {test[name]:.4f}")
        return 0 if state == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())

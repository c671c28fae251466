"""Calls `kinetype serve` from the official Python gRPC library (grpcio).

Starts the server binary named by KINETYPE_BIN on 127.0.0.1 with an ephemeral port,
generates stubs from the committed proto with grpcio-tools, then checks the health service
and Decide with and without the bearer token.
"""

import os
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[2]
TOKEN = "python-test-token-0123456789"


def generate_stubs(out_dir: Path) -> None:
    """Compiles scoring.proto into Python modules under out_dir."""
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{REPO / 'proto'}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        "kinetype/v1/scoring.proto",
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed on kinetype/v1/scoring.proto")


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("KINETYPE_BIN")
        if not binary:
            raise unittest.SkipTest("KINETYPE_BIN is unset; point it at the kinetype binary")
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls.tmp.name)
        generate_stubs(tmp)
        sys.path.insert(0, str(tmp))
        from kinetype.v1 import scoring_pb2, scoring_pb2_grpc

        cls.pb = scoring_pb2
        cls.stubs = scoring_pb2_grpc
        (tmp / "token").write_text(TOKEN + "\n")
        (tmp / "secret").write_bytes(b"python test secret of 32 bytes..")
        cls.server = subprocess.Popen(
            [
                binary,
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--models",
                str(tmp / "models"),
                "--auth-token-file",
                str(tmp / "token"),
                "--secret-file",
                str(tmp / "secret"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = cls.server.stdout.readline().strip()
        if not line.startswith("listening on "):
            cls.server.kill()
            raise RuntimeError(f"unexpected first line from the server: {line!r}")
        cls.channel = grpc.insecure_channel(line.removeprefix("listening on "))
        grpc.channel_ready_future(cls.channel).result(timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.send_signal(signal.SIGTERM)
        code = cls.server.wait(timeout=60)
        cls.tmp.cleanup()
        if code != 0:
            raise AssertionError(f"server exited with {code} after SIGTERM")

    def decide(self, metadata):
        stub = self.stubs.ScoringStub(self.channel)
        request = self.pb.SessionRef(user="nobody", session=1)
        return stub.Decide(request, metadata=metadata, timeout=10)

    def test_health_serving_without_token(self):
        stub = health_pb2_grpc.HealthStub(self.channel)
        for service in ["", "kinetype.v1.Scoring"]:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            self.assertEqual(reply.status, health_pb2.HealthCheckResponse.SERVING, service)

    def test_decide_without_token_is_unauthenticated(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.decide(metadata=())
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_decide_with_wrong_token_is_unauthenticated(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.decide(metadata=(("authorization", "Bearer " + TOKEN + "x"),))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_decide_with_token_reaches_engine(self):
        # The token passes, so the engine runs and reports the unknown user.
        with self.assertRaises(grpc.RpcError) as caught:
            self.decide(metadata=(("authorization", "Bearer " + TOKEN),))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_decide_while_enrolling_is_failed_precondition(self):
        stub = self.stubs.ScoringStub(self.channel)
        metadata = (("authorization", "Bearer " + TOKEN),)
        stub.BeginEnrollment(self.pb.BeginEnrollmentRequest(user="py"), metadata=metadata)
        with self.assertRaises(grpc.RpcError) as caught:
            stub.Decide(self.pb.SessionRef(user="py", session=1), metadata=metadata)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)


if __name__ == "__main__":
    unittest.main(verbosity=2)

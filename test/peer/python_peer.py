"""An independent gRPC peer: Python's C-core client (Debian python3-grpcio)
with stubs generated from proto/ at run time. Prints one JSON line of what
the server answered. Usage: python_peer.py TARGET STUB_DIR"""
import json
import sys

target, stub_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, stub_dir)

import grpc  # noqa: E402
from airlock.auth.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402
from peer_health import health_pb2, health_pb2_grpc  # noqa: E402

result = {}
with grpc.insecure_channel(target) as channel:
    health = health_pb2_grpc.HealthStub(channel)
    response = health.Check(health_pb2.HealthCheckRequest(service="airlock.auth.v1.AuthService"), timeout=10)
    result["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    auth = auth_pb2_grpc.AuthServiceStub(channel)
    try:
        auth.AwaitLogin(auth_pb2.AwaitLoginRequest(login_id="no-such-login", login_verifier="v" * 43), timeout=10).next()
        result["await_login"] = "OK"
    except grpc.RpcError as error:
        result["await_login"] = error.code().name
        result["await_login_details"] = error.details()

    try:
        auth.InitiateLogin(auth_pb2.InitiateLoginRequest(identifier="not a handle!", login_verifier_challenge="x"), timeout=10)
        result["initiate_login"] = "OK"
    except grpc.RpcError as error:
        result["initiate_login"] = error.code().name

print(json.dumps(result))

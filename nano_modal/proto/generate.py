"""Regenerate api_pb2*.py from api.proto: `python -m nano_modal.proto.generate`."""

from pathlib import Path

from grpc_tools import protoc


def main() -> None:
    root = Path(__file__).resolve().parents[2]
    args = ["protoc", f"-I{root}", f"--python_out={root}", f"--grpc_python_out={root}", f"--pyi_out={root}"]
    if protoc.main([*args, "nano_modal/proto/api.proto"]) != 0:
        raise SystemExit("protoc failed")


if __name__ == "__main__":
    main()

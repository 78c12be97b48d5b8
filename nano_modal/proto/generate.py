"""Regenerate api_pb2*.py from api.proto: `python -m nano_modal.proto.generate`."""

import re
from pathlib import Path

from grpc_tools import protoc

# protoc's Python code refuses any protobuf runtime of another major version than its own.
# The SDK also runs inside users' images, whose own protobuf wins (container/_image_deps.py):
# the check goes, as the descriptors need only the builder API every 5.x+ runtime has.
_RUNTIME_CHECK = re.compile(
    r"^from google\.protobuf import runtime_version as _runtime_version\n"
    r"|^_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:.*\n)*?\)\n",
    re.MULTILINE,
)


def main() -> None:
    root = Path(__file__).resolve().parents[2]
    args = ["protoc", f"-I{root}", f"--python_out={root}", f"--grpc_python_out={root}", f"--pyi_out={root}"]
    if protoc.main([*args, "nano_modal/proto/api.proto"]) != 0:
        raise SystemExit("protoc failed")
    generated = root / "nano_modal" / "proto" / "api_pb2.py"
    text, checks = _RUNTIME_CHECK.subn("", generated.read_text())
    if checks != 2:
        raise SystemExit(f"expected protoc's runtime version check in {generated} (found {checks} of its 2 parts)")
    generated.write_text(text)


if __name__ == "__main__":
    main()

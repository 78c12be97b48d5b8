"""Generated gRPC code for nano_modal/proto/api.proto (regenerate with `python -m nano_modal.proto.generate`)."""

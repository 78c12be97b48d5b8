"""The control plane: gRPC service, scheduler, state store and blob store."""

"""The worker agent: registers with the server, runs containers through a runtime."""

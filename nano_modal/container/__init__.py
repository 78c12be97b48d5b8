"""The program that runs inside every container: load the function, serve its inputs."""

"""A package of the project, copied into the image (add_local_dir(copy=True))."""

GREETING = "hello from greeter"

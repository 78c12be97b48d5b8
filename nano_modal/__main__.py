"""`python -m nano_modal ...`: the CLI, as `python -m modal ...` is Modal's (tools run it that way)."""

from .cli.main import main

main()

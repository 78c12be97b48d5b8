"""Functions that try to read a secret through a sandbox: for tests/security/test_server_secrets.py."""

from __future__ import annotations

import nano_modal

app = nano_modal.App("server-secrets-tests")

SECRET_NAME = "server-security-held-secret"  # created by the test
OTHER_NAME = "server-security-other-secret"  # created by the test; no function here is given it


def _attempt(how: str, secret_name: str) -> str:
    """What a sandbox sees of $HELD with that secret passed `how`, or the error."""
    secret = nano_modal.Secret.from_name(secret_name)
    try:
        if how == "create":
            sb = nano_modal.Sandbox.create("bash", "-c", "echo \"[$HELD]\"", secrets=[secret], timeout=120)
            sb.wait()
            return sb.stdout.read().strip()
        sb = nano_modal.Sandbox.create(timeout=120)
        try:
            return sb.exec("bash", "-c", "echo \"[$HELD]\"", secrets=[secret]).stdout.read().strip()
        finally:
            sb.terminate()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@app.function()
def without_secrets(how: str, secret_name: str) -> str:
    return _attempt(how, secret_name)


@app.function(secrets=[nano_modal.Secret.from_name(SECRET_NAME)])
def with_the_secret(how: str, secret_name: str) -> str:
    return _attempt(how, secret_name)

"""Retry policy for failed inputs, as in `modal.Retries`."""

from __future__ import annotations

from dataclasses import dataclass

from .exception import InvalidError
from .proto import api_pb2


@dataclass(frozen=True)
class Retries:
    """How many times a failed input runs again, and how long to wait in between.

    ```python
    @app.function(retries=Retries(max_retries=3, backoff_coefficient=2.0, initial_delay=1.0))
    def flaky(): ...
    ```

    `retries=N` on a function means `Retries(max_retries=N)`. An input is retried when the
    function raises, times out, or its container dies.
    """

    max_retries: int
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= 10:
            raise InvalidError(f"max_retries must be between 0 and 10, got {self.max_retries}")
        if not 1.0 <= self.backoff_coefficient <= 10.0:
            raise InvalidError(f"backoff_coefficient must be between 1.0 and 10.0, got {self.backoff_coefficient}")
        if not 0.0 <= self.initial_delay <= 60.0:
            raise InvalidError(f"initial_delay must be between 0 and 60 seconds, got {self.initial_delay}")
        if not 0.0 <= self.max_delay <= 60.0:
            raise InvalidError(f"max_delay must be between 0 and 60 seconds, got {self.max_delay}")

    @classmethod
    def coerce(cls, value: int | Retries | None) -> Retries:
        if value is None:
            return cls(max_retries=0)
        if isinstance(value, Retries):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_retries=value)
        raise InvalidError(f"retries must be an int or nano_modal.Retries, got {type(value).__name__}")

    def to_proto(self) -> api_pb2.RetryPolicy:
        return api_pb2.RetryPolicy(
            max_retries=self.max_retries,
            backoff_coefficient=self.backoff_coefficient,
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
        )

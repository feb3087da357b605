"""Field types shared by the settings models: durations, secrets, and the one error type
whose message the translator in ``errors`` renders as ``what is wrong; expected what``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, ValidationInfo
from pydantic_core import PydanticCustomError

from chainwatch.errors import ConfigError


class Secret(SecretStr):
    """A secret value that never shows itself in ``repr``/``str`` (logs, tracebacks, output,
    pydantic's own messages); ``get()`` is the one way to read it."""

    def get(self) -> str:
        return self.get_secret_value()


def invalid(problem: str, expected: str | None = None, *, key: Any = None) -> PydanticCustomError:
    """A validation error with chainwatch's wording; ``key`` (a key or an entry's index)
    points the error below the location pydantic gives it, for the line number."""
    context: dict[str, Any] = {"problem": problem, "expected": expected}
    if key is not None:
        context["key"] = key
    return PydanticCustomError("chainwatch", "{problem}", context)


def _duration(value: Any, info: ValidationInfo) -> float:
    from chainwatch.config import parse_duration

    try:
        return parse_duration(value, where=info.field_name or "duration", path="")
    except ConfigError as exc:
        raise invalid(exc.problem, exc.expected) from None


#: Seconds, written as ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"7d"`` or a number.
Duration = Annotated[float, BeforeValidator(_duration)]

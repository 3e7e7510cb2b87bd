"""The bases of the API models."""

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class ApiInput(BaseModel):
    """Unknown fields are errors, strings are trimmed, and NUL characters are refused
    (PostgreSQL cannot store them, and no planner means to type one)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        strings = value if isinstance(value, list | tuple | set) else [value]
        if any(isinstance(s, str) and "\x00" in s for s in strings):
            raise ValueError("must not contain NUL characters")
        return value


class ApiOutput(BaseModel):
    """A response model read from ORM rows (or any object) by attribute."""

    model_config = ConfigDict(from_attributes=True)

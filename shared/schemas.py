"""The bases of the API models."""

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, field_validator


class ApiInput(BaseModel):
    """Unknown fields are errors, strings are trimmed, numbers are finite (no Infinity or NaN,
    which JSON cannot carry on to subscribers), and NUL characters are refused (PostgreSQL
    cannot store them, and no planner means to type one)."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, strict=False, allow_inf_nan=False
    )

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


def _one_line(value: str) -> str:
    # control characters (CR, LF, NEL U+0085, ...) and line or paragraph separators (U+2028,
    # U+2029) break an e-mail header, or are refused by mail servers, only once it is sent
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise ValueError("must be one line, without control characters or line separators")
    return value


SingleLine = Annotated[str, AfterValidator(_one_line)]  # text that may become a mail header


def _deliverable(address: str) -> str:
    # the sender speaks plain SMTP (no SMTPUTF8): a mailbox that is not ASCII is never delivered
    if not address.isascii():
        raise ValueError("must be an ASCII address (an international domain: its xn-- form)")
    return address


MailAddress = Annotated[EmailStr, AfterValidator(_deliverable)]  # an address our sender reaches

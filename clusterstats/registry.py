"""The guide's cluster registers as validated, linked data.

(skeleton; loaders follow)
"""
from __future__ import annotations

import re

# ------------------------------------------------------------------------------------------------
# BULSTAT / EIK check digits
# ------------------------------------------------------------------------------------------------
_W9, _W9_RETRY = (1, 2, 3, 4, 5, 6, 7, 8), (3, 4, 5, 6, 7, 8, 9, 10)
_W13, _W13_RETRY = (2, 7, 3, 5), (4, 9, 5, 7)


def _weighted_mod11(digits: str, weights: tuple[int, ...], retry: tuple[int, ...]) -> int:
    s = sum(int(d) * w for d, w in zip(digits, weights)) % 11
    if s == 10:
        s = sum(int(d) * w for d, w in zip(digits, retry)) % 11
    return 0 if s == 10 else s


def eik_check_digit(first8: str) -> int:
    """The 9th digit of a BULSTAT/EIK code from its first 8 digits."""
    if not re.fullmatch(r"\d{8}", first8):
        raise ValueError(f"need 8 digits, got {first8!r}")
    return _weighted_mod11(first8, _W9, _W9_RETRY)


def branch_check_digit(digits_9_to_12: str) -> int:
    """The 13th digit of a branch code from its digits 9..12."""
    if not re.fullmatch(r"\d{4}", digits_9_to_12):
        raise ValueError(f"need 4 digits, got {digits_9_to_12!r}")
    return _weighted_mod11(digits_9_to_12, _W13, _W13_RETRY)


def eik_problem(code: str) -> str | None:
    """None if ``code`` is a valid 9- or 13-digit BULSTAT/EIK code, else the reason it is not."""
    code = str(code)
    if not re.fullmatch(r"\d{9}|\d{13}", code):
        return f"code {code!r} is not 9 or 13 digits"
    expected = eik_check_digit(code[:8])
    if int(code[8]) != expected:
        return f"bad check digit: {code[:9]} ends in {code[8]}, expected {expected}"
    if len(code) == 13:
        expected = branch_check_digit(code[8:12])
        if int(code[12]) != expected:
            return f"bad branch check digit: {code} ends in {code[12]}, expected {expected}"
    return None


def is_valid_eik(code: str) -> bool:
    return eik_problem(code) is None

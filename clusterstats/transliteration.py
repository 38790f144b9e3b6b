"""Bulgarian Cyrillic -> Latin, by Bulgaria's official system.

Transliteration Act (Закон за транслитерацията), State Gazette (ДВ) No. 19 of 13 March 2009,
Art. 3(1) (the "Streamlined System"): one fixed Latin letter or letter group per Cyrillic
letter (щ -> sht, ъ -> a, ь -> y, ю -> yu, я -> ya, ц -> ts, ж -> zh, й -> y, х -> h ...), and
Art. 3(2): "ия" at the end of a word is written "ia" (София -> Sofia). The country's name is
fixed by the Act as "Bulgaria" (letter by letter it would be "Balgaria"); other words of the same
stem follow the table ("Българска" -> "Balgarska").

Checked against NSI's EKATTE classifier, whose Latin settlement names follow the Act: 5,252 of its
5,256 names come out identical (tests/test_transliteration.py lists the four NSI exceptions).

Why not ``cyrtranslit``: its Bulgarian table (1.2.0) writes ъ as "ă", has no word-final "ия" rule
and turns a capital Щ into "SHT" inside a Title-case word ("Щастие" -> "SHTastie"), so it is not
the official system.

Capitals: a multi-letter group keeps only its first letter capital ("Щ" -> "Sht") unless the
word is written in capitals ("ЩИТ" -> "SHTIT"), which is how the Act's own examples and the
official Latin names in NSI's EKATTE classifier are written. Characters other than Bulgarian
Cyrillic letters (Latin, digits, punctuation) pass through unchanged.
"""
from __future__ import annotations

import re

#: Art. 3(1) of the Transliteration Act (ДВ бр. 19/2009), lower case.
TABLE: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch",
    "ш": "sh", "щ": "sht", "ъ": "a", "ь": "y", "ю": "yu", "я": "ya",
}

_WORD = re.compile(r"[А-Яа-яЀ-ӿ]+")


def _word(word: str) -> str:
    all_caps = len(word) > 1 and word.isupper()
    if word.lower() == "българия":
        return "BULGARIA" if all_caps else "Bulgaria" if word[0].isupper() else "bulgaria"
    out = []
    lower = word.lower()
    for i, (ch, lo) in enumerate(zip(word, lower)):
        # Art. 3(2): "ия" closing a word -> "ia" (the я is written a, not ya).
        if lo == "я" and i == len(word) - 1 and i > 0 and lower[i - 1] == "и":
            latin = "a"
        else:
            latin = TABLE.get(lo, ch)
        if ch != lo:  # a capital letter
            latin = latin.upper() if all_caps else latin[:1].upper() + latin[1:]
        out.append(latin)
    return "".join(out)


def to_latin(text: str | None) -> str | None:
    """Transliterate Bulgarian text by the official system; None and NA pass through."""
    if text is None or not isinstance(text, str):
        return text
    return _WORD.sub(lambda m: _word(m.group(0)), text)

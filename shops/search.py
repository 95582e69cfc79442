"""Trigrams for typo-tolerant search, computed in Python so no extension is needed.

The rule follows pg_trgm: lower-case, split into words of letters and digits, pad each
word with two spaces before and one after, take every three-character window.
"""

import re

_WORD = re.compile(r"\w+", re.UNICODE)

# Share of the query's trigrams a title must contain to count as a fuzzy match.
FUZZY_THRESHOLD = 0.45


def trigrams(text: str) -> list[str]:
    grams: set[str] = set()
    for word in _WORD.findall(text.lower()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return sorted(grams)

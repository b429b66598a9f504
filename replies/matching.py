"""Keyword matching for auto-replies and sensitive words, Chinese and English.

Text is folded before comparing: NFKC (full-width → half-width), case folded, and with
`script` traditional → simplified (OpenCC t2s), so 退貨 matches 退货. With `pinyin` a
contains-match compares syllables instead of characters (pypinyin, tones dropped), so a
homophone typo (退火) still finds 退货."""

import re
from functools import lru_cache

from pypinyin import lazy_pinyin

from helpdesk.text import fold

_EDGE_PUNCT = " \t\r\n.,!?;:'\"~。，！？；：、…～“”‘’（）()"
_SPACES = re.compile(r"\s+")


def normalise_whole(text, script=True):
    """For exact matching: folded, spaces collapsed, surrounding punctuation dropped (好的！ == 好的)."""
    return _SPACES.sub(" ", fold(text, script)).strip(_EDGE_PUNCT)


@lru_cache(maxsize=4096)
def syllables(text):
    """Pinyin syllables of the folded text; Latin words stay words; punctuation and spaces split."""
    tokens = []
    for piece in lazy_pinyin(fold(text, True), errors=lambda chars: [chars]):
        tokens.extend(t for t in re.split(r"[^0-9a-z\u00c0-\u024f]+", piece.lower()) if t)
    return tuple(tokens)


def _contains_sequence(haystack, needle):
    if not needle or len(needle) > len(haystack):
        return False
    first = needle[0]
    return any(haystack[i] == first and haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def keyword_matches(message, keyword, *, exact, script=True, pinyin=False):
    """Whether one keyword matches the message under a rule's options."""
    keyword = keyword.strip()
    if not keyword:
        return False
    if exact:
        return normalise_whole(message, script) == normalise_whole(keyword, script)
    if fold(keyword, script) in fold(message, script):
        return True
    return pinyin and _contains_sequence(syllables(message), syllables(keyword))


def keywords_of(text):
    """One keyword per line (blank lines ignored, at most 200 per rule)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()][:200]

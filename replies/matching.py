"""Keyword matching for auto-replies and sensitive words, Chinese and English.

Text is folded before comparing: NFKC (full-width → half-width), case folded, and with
`script` traditional → simplified (OpenCC t2s) and Taiwan/HK phrasing → mainland phrasing
(the knowledge analyser's tw2sp, helpdesk.analysis), so 退貨 matches 退货 and 軟體 matches 软件.
With `pinyin` a contains-match compares syllables instead of characters (pypinyin, tones
dropped), so a homophone typo (退火) still finds 退货. A workspace's synonyms (同义词, the
groups knowledge search uses) make a keyword match its equivalents too: with 退货 = 退掉, the
keyword 退货 matches 「我要退掉」."""

import re
from functools import lru_cache

from pypinyin import lazy_pinyin

from helpdesk.analysis import mainland_phrasing
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


def keyword_matches(message, keyword, *, exact, script=True, pinyin=False, synonyms=()):
    """Whether one keyword matches the message under a rule's options. `synonyms`: the
    workspace's groups of equivalent phrases."""
    keyword = keyword.strip()
    if not keyword:
        return False
    forms = [keyword] + equivalents(keyword, synonyms, script)
    if exact:
        whole = normalise_whole(message, script)
        return any(whole == normalise_whole(form, script) for form in forms)
    folded = fold(message, script)
    regional = fold(mainland_phrasing(message), True) if script else folded
    if any(fold(form, script) in folded or fold(form, script) in regional for form in forms):
        return True
    return pinyin and _contains_sequence(syllables(message), syllables(keyword))


def equivalents(keyword, synonyms, script=True):
    """The other phrases of the synonym groups that contain the keyword."""
    wanted = fold(keyword, script)
    out = []
    for group in synonyms:
        if any(fold(phrase, script) == wanted for phrase in group):
            out += [phrase for phrase in group if fold(phrase, script) != wanted]
    return out


def keywords_of(text):
    """One keyword per line (blank lines ignored, at most 200 per rule)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()][:200]

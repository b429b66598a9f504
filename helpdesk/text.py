"""Text folding for Chinese and English, one definition for every comparison of what people
type: knowledge search, keyword auto-replies, sensitive words and the quick-phrase picker.

fold(): traditional → simplified (OpenCC t2s, optional), NFKC (full-width → half-width),
case folded, one character per character wherever possible so that offsets found in the
folded text point into the original (search highlights rely on it)."""

import functools
import re
import unicodedata

import opencc


@functools.cache
def converter(config):
    """A cached OpenCC converter: "t2s" (traditional → simplified), "s2t", or a phrase-level one."""
    return opencc.OpenCC(config)


def to_simplified(text):
    return converter("t2s").convert(text)


def to_traditional(text):
    return converter("s2t").convert(text)


def _fold_char(ch, script):
    folded = unicodedata.normalize("NFKC", to_simplified(ch) if script else ch).casefold()
    if len(folded) == 1:
        return folded
    lowered = ch.lower()
    return lowered if len(lowered) == 1 else ch


@functools.lru_cache(maxsize=8192)
def fold(text, script=True):
    """Folded for comparison: 退貨 and 退货, ＡＢＣ and abc compare equal (script=False keeps
    the script: 退貨 stays 退貨). Same length as `text` when the plain fold would change it."""
    text = text or ""
    folded = unicodedata.normalize("NFKC", to_simplified(text) if script else text).casefold()
    if len(folded) == len(text):
        return folded
    return "".join(_fold_char(ch, script) for ch in text)


_HISTORY_CJK_RUN = re.compile("[\u3400-\u9fff\uf900-\ufaff]+")  # history_terms' CJK (reports/migrations/0001)


def _run_terms(match):
    run = match.group()
    return " " + " ".join([run[i:i + 2] for i in range(len(run) - 1)] + [run[-1]]) + " "


def history_terms_text(body):
    """The text whose to_tsvector('simple') has the lexemes of the SQL function history_terms(body)
    (reports/migrations/0001): the body in NFKC, every run of Chinese characters as its bigrams and
    its last character. Lower case is left to the 'simple' dictionary, which lowers every token as
    history_fold's lower() does. One regular-expression pass here instead of the database's four:
    chat.fast_send stores a message's history terms from it (reports/tests/test_history_terms.py
    checks the two agree)."""
    return _HISTORY_CJK_RUN.sub(_run_terms, unicodedata.normalize("NFKC", body))

"""Text folding for Chinese and English, one definition for every comparison of what people
type: knowledge search, keyword auto-replies, sensitive words and the quick-phrase picker.

fold(): traditional → simplified (OpenCC t2s, optional), NFKC (full-width → half-width),
case folded, one character per character wherever possible so that offsets found in the
folded text point into the original (search highlights rely on it)."""

import functools
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

"""Keyword matching shares the knowledge analyser's regional phrasing and the workspace's
synonyms (issue 17: one analyser)."""

from replies.access import search_key
from replies.matching import equivalents, keyword_matches


def test_taiwan_phrasing_matches_the_mainland_keyword_when_script_is_ignored():
    assert keyword_matches("軟體打不開", "软件", exact=False)
    assert not keyword_matches("軟體打不開", "软件", exact=False, script=False)  # the rule keeps the script


def test_synonyms_make_a_keyword_match_its_equivalents():
    groups = [["退货", "退掉", "不要了"], ["发票", "收据"]]
    assert not keyword_matches("我要退掉", "退货", exact=False)
    assert keyword_matches("我要退掉", "退货", exact=False, synonyms=groups)
    assert keyword_matches("退掉", "退货", exact=True, synonyms=groups)
    assert not keyword_matches("我要退掉", "发票", exact=False, synonyms=groups)
    assert equivalents("退貨", groups) == ["退掉", "不要了"]  # folded like the text
    assert equivalents("退貨", groups, script=False) == []


def test_phrase_picker_key_has_the_mainland_phrasing():
    assert "软件" in search_key("sw", "軟體更新", "請更新軟體")

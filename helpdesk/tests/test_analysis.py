"""The shared analyser (helpdesk.analysis): what documents are indexed under and what a
question searches for."""

from helpdesk import analysis


def terms(text, synonyms=()):
    return {q.term: q for q in analysis.query_terms(text, synonyms)}


def test_traditional_full_width_and_case_fold_to_the_same_words():
    assert analysis.index_terms("退貨", with_grams=False) == analysis.index_terms("退货", with_grams=False) == ["退货"]
    assert analysis.index_terms("ＲＥＦＵＮＤＳ", with_grams=False) == ["refund"]


def test_stop_words_and_punctuation_are_not_terms():
    assert analysis.index_terms("的了吗？the a", with_grams=False) == []
    assert analysis.query_terms("在吗") == []  # nor grams of stop words
    assert analysis.grams("支付宝什么时候签收") == ["_支", "_付", "_宝", "_支付", "_付宝", "_签", "_收", "_签收"]


def test_single_characters_are_kept_as_words_and_grams():
    # jieba leaves 「退」 of 「能退不」 alone: it stays a word (and its glossary word 退货 is searched).
    found = terms("签收五天了还能退不")
    assert found["退"].weight == analysis.WORD_WEIGHT
    assert found["退货"].weight == analysis.EXPANSION_WEIGHT and found["退货"].group == found["退"].group
    assert found["_退"].group == -1 and found["_签收"].weight == analysis.BIGRAM_WEIGHT


def test_grams_are_indexed_per_chinese_run():
    assert analysis.grams("退货 ok 运费") == ["_退", "_货", "_退货", "_运", "_费", "_运费"]
    assert "_退货" not in analysis.index_terms("退货", with_grams=False)


def test_taiwan_and_hong_kong_wording_finds_the_mainland_words():
    assert "软件" in analysis.index_terms("軟體", with_grams=False)  # OpenCC tw2sp phrases
    found = terms("有保固嗎")
    assert {"保修", "warranti"} <= found.keys()  # the glossary: regional and English
    assert found["保修"].group == found["保固"].group


def test_english_questions_search_the_chinese_words():
    found = terms("where is my refund")
    assert found["refund"].weight == 1.0 and found["退款"].weight == analysis.EXPANSION_WEIGHT


def test_pinyin_spells_commerce_words_and_its_syllables_are_not_searched():
    found = terms("zenme tuihuo")
    assert "退货" in found and "zenm" not in found and "tuihuo" not in found
    assert "快递" in terms("kuai di dao na le")  # syllables typed apart
    assert "小程序" in terms("xiaochengxu 在哪")
    assert "refund" in terms("refund please")  # an English word is not pinyin


def test_homophone_typos_find_the_word():
    assert "发票" in terms("发漂怎么开")
    assert "发票" not in analysis.pinyin_words("发票怎么开")  # the word itself is not a typo


def test_a_workspaces_synonyms_apply_like_the_glossary():
    assert "青铜会员" not in terms("白金卡有什么权益")
    found = terms("白金卡有什么权益", synonyms=[["白金卡", "青铜会员"]])
    assert found["青铜"].group == found["白金卡"].group
    assert "会员" in found


def test_overlapping_words_are_one_query_word_and_expansions_name_their_source():
    found = terms("手机信号不好")
    assert found["手机信号"].group == found["手机"].group == found["信号"].group != found["不好"].group
    assert found["手机号"].source == "手机" and found["手机"].source == "手机"


def test_query_terms_are_capped():
    assert len(analysis.query_terms(" ".join(f"word{i}" for i in range(200)))) == analysis.MAX_QUERY_TERMS

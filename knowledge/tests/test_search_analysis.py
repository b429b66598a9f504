"""What the shared analyser (helpdesk.analysis) lets customers find, end to end through
knowledge.search: single characters, Taiwan/HK wording, English questions about Chinese-only
articles, pinyin, homophone typos and a workspace's synonyms (issue 17)."""

import pytest

from accounts.models import Membership

from knowledge import actions as kb
from knowledge import search, synonyms
from knowledge.quality import create_workspace
from knowledge.tests.test_search import article, slugs

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(search_index):
    workspace = create_workspace()
    article(workspace, "returns", {"zh-hans": ("退货政策", "签收后 7 天内可申请无理由退货。")})
    article(workspace, "warranty", {"zh-hans": ("保修政策", "电器整机保修一年。")})
    article(workspace, "invoice", {"zh-hans": ("如何开发票", "在订单详情申请电子发票。")})
    article(workspace, "stores", {"zh-hans": ("门店地址", "全国门店营业时间 10:00-22:00。")})
    return workspace


@pytest.mark.parametrize("question, expected", [
    ("内裤可以退吗", "returns"),  # 退 is all jieba leaves of the verb
    ("有保固嗎", "warranty"),  # Taiwan wording, traditional script
    ("門市在哪裡", "stores"),
    ("how long is the warranty", "warranty"),  # English question, Chinese-only article
    ("invoice please", "invoice"),
    ("zenme tuihuo", "returns"),  # pinyin
    ("fa piao", "invoice"),
    ("发漂怎么开", "invoice"),  # homophone typo
])
def test_customers_words_find_the_article(shop, question, expected):
    assert slugs(search.search(shop.pk, question))[:1] == [expected]


def test_sharing_a_single_character_is_not_a_match(shop):
    assert search.search(shop.pk, "政府") == []  # 政 of 政策 only


def test_unknown_words_are_reported_for_the_bot(shop):
    hits, unknown = search.explained_search(shop.pk, "淘宝的发票怎么开")
    assert slugs(hits)[:1] == ["invoice"] and unknown == ["淘宝"]
    # known means some article is about it (title, similar questions), not merely mentions it
    article(shop, "marketplaces", {"zh-hans": ("多平台订单", "淘宝、京东的订单请在对应平台申请售后。")})
    assert search.explained_search(shop.pk, "淘宝的发票怎么开")[1] == ["淘宝"]
    article(shop, "taobao", {"zh-hans": ("淘宝店铺订单", "淘宝店的订单在淘宝申请。")})
    assert search.explained_search(shop.pk, "淘宝的发票怎么开")[1] == []


def test_a_workspaces_synonyms_apply_at_once(personas, search_index):
    founder = Membership.objects.get(user=personas.owner_user)
    workspace_id = founder.workspace_id
    article(founder.workspace, "invoice", {"zh-hans": ("如何开发票", "在订单详情申请电子发票。")})
    assert search.search(workspace_id, "报销凭证") == []
    group = kb.save_synonym_group(founder, phrases="发票\n报销凭证")
    assert slugs(search.search(workspace_id, "报销凭证")) == ["invoice"]
    kb.delete_synonym_group(founder, group.pk)
    assert search.search(workspace_id, "报销凭证") == [] and synonyms.groups(workspace_id) == []

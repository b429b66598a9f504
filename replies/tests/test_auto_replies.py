"""Keyword auto-replies (Chinese and English, exact vs contains, script- and pinyin-insensitive,
priority between overlapping rules), the welcome, queue and resolved messages."""

import pytest

from chat import states
from chat.models import Conversation, ConversationEvent, Message, SenderKind
from conftest import make_visitor
from replies.matching import keyword_matches
from replies.models import AutoReplyRule, ReplySettings


def rule(workspace, keywords, reply="ok", **kwargs):
    return AutoReplyRule.objects.create(workspace=workspace, name=kwargs.pop("name", keywords[:20]), keywords=keywords, reply_text=reply, **kwargs)


def bot_lines(conversation_id):
    return list(Message.objects.filter(conversation_id=conversation_id, sender_kind=SenderKind.BOT).order_by("seq").values_list("body", flat=True))


pytestmark = pytest.mark.usefixtures("agents_on_duty_but_full")


@pytest.mark.parametrize("message,keyword,exact,script,pinyin,expected", [
    ("怎么退货", "退货", False, True, False, True),           # contains, Chinese
    ("怎麼退貨？", "退货", False, True, False, True),          # traditional message, simplified keyword
    ("怎么退货", "退貨", False, True, False, True),            # and the other way round
    ("怎麼退貨", "退货", False, False, False, False),          # script-sensitive rule
    ("我想退火", "退货", False, True, True, True),             # homophone typo, pinyin on
    ("我想退火", "退货", False, True, False, False),           # pinyin off
    ("退货", "退货", True, True, False, True),                 # exact
    ("退货！", "退货", True, True, False, True),               # exact ignores surrounding punctuation
    ("我要退货", "退货", True, True, False, False),            # exact is not contains
    ("Where is my ORDER?", "order", False, True, False, True),  # English, case-insensitive
    ("Hello", "hello", True, True, False, True),
    ("Hello there", "hello", True, True, False, False),
    ("ＲＥＦＵＮＤ", "refund", True, True, False, True),        # full-width letters
    ("my iphone 退火了", "iPhone退货", False, True, True, True),  # mixed Latin and pinyin syllables
])
def test_keyword_matching(message, keyword, exact, script, pinyin, expected):
    assert keyword_matches(message, keyword, exact=exact, script=script, pinyin=pinyin) is expected


def test_contains_rule_answers_in_the_conversation_with_an_event(personas, say):
    rule(personas.workspace, "退货\nrefund", "退货请在订单页申请，3天内处理。")
    message, _ = say(personas.visitor, "请问怎麼退貨")
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert bot_lines(conversation.pk) == ["退货请在订单页申请，3天内处理。"]
    event = ConversationEvent.objects.get(conversation=conversation, kind=ConversationEvent.Kind.AUTO_REPLIED)
    assert event.data["kind"] == "keyword" and event.data["seq"] == message.seq


def test_exact_rule_does_not_answer_a_longer_message(personas, say):
    rule(personas.workspace, "价格", "价格见商品页。", match=AutoReplyRule.Match.EXACT)
    message, _ = say(personas.visitor, "这个价格能便宜点吗")
    assert bot_lines(message.conversation_id) == []
    say(personas.visitor, "价格", conversation_id=message.conversation_id)
    assert bot_lines(message.conversation_id) == ["价格见商品页。"]


def test_priority_between_overlapping_rules(personas, say):
    rule(personas.workspace, "退货", "general returns", priority=100)
    rule(personas.workspace, "退货运费", "return shipping", priority=10)
    message, _ = say(personas.visitor, "退货运费谁出")
    assert bot_lines(message.conversation_id) == ["return shipping"]


def test_equal_priority_prefers_the_longer_keyword_then_the_older_rule(personas, say):
    first = rule(personas.workspace, "发货", "shipping", priority=50)
    rule(personas.workspace, "什么时候发货", "shipping time", priority=50)
    message, _ = say(personas.visitor, "什么时候发货呀")
    assert bot_lines(message.conversation_id) == ["shipping time"]
    rule(personas.workspace, "发货", "shipping again", priority=50)
    visitor, _token = make_visitor(personas.inbox_a)
    second, _ = say(visitor, "发货了吗")
    assert bot_lines(second.conversation_id) == [first.reply_text]


def test_rules_per_inbox_disabled_and_other_workspaces(personas, say):
    rule(personas.workspace, "hours", "inbox B only", inbox=personas.inbox_b)
    rule(personas.workspace, "hours", "disabled", enabled=False)
    rule(personas.other_workspace, "hours", "other shop")
    message, _ = say(personas.visitor, "opening hours?")  # the visitor is on inbox A
    assert bot_lines(message.conversation_id) == []
    visitor_b, _token = make_visitor(personas.inbox_b)
    message_b, _ = say(visitor_b, "opening hours?")
    assert bot_lines(message_b.conversation_id) == ["inbox B only"]


def test_no_keyword_reply_once_a_person_has_answered(personas, say):
    rule(personas.workspace, "退货", "auto")
    message, _ = say(personas.visitor, "hi")
    conversation_id = message.conversation_id
    states.change_state(personas.owner, conversation_id, Conversation.State.PENDING)  # owner may reply anywhere
    Conversation.objects.filter(pk=conversation_id).update(state=Conversation.State.ASSIGNED, assignee=personas.owner_user)
    say(personas.owner, "您好", conversation_id=conversation_id)
    say(personas.visitor, "怎么退货", conversation_id=conversation_id)
    assert bot_lines(conversation_id) == []


@pytest.mark.parametrize("kind,extra,msg_type,attachment", [
    (AutoReplyRule.ReplyKind.LINK, {"link_url": "https://shop.example/returns", "card_title": "Returns"}, "card",
     {"url": "https://shop.example/returns", "name": "Returns"}),
    (AutoReplyRule.ReplyKind.CARD, {"link_url": "https://shop.example/sale", "card_title": "Sale", "card_image_url": "https://shop.example/s.png"},
     "card", {"url": "https://shop.example/sale", "name": "Sale", "image": "https://shop.example/s.png"}),
])
def test_link_and_card_replies(personas, kind, extra, msg_type, attachment, say):
    rule(personas.workspace, "sale", "see here", reply_kind=kind, **extra)
    message, _ = say(personas.visitor, "any sale?")
    reply = Message.objects.get(conversation_id=message.conversation_id, sender_kind=SenderKind.BOT)
    assert (reply.msg_type, reply.body, reply.attachments) == (msg_type, "see here", [attachment])


def test_article_reply_links_the_published_article_in_the_customers_script(personas, search_index, say):
    from accounts.models import Membership
    from knowledge import actions as kb

    founder = Membership.objects.get(user=personas.owner_user)
    article = kb.save_article(founder, slug="returns", versions={
        "zh-hans": {"title": "如何退货", "body": "在订单页申请退货。"},
        "zh-hant": {"title": "如何退貨", "body": "在訂單頁申請退貨。"}})
    kb.publish(founder, article.pk)
    rule(personas.workspace, "退货", "请看这篇：", reply_kind=AutoReplyRule.ReplyKind.ARTICLE, article=article)
    message, _ = say(personas.visitor, "怎麼退貨")
    reply = Message.objects.get(conversation_id=message.conversation_id, sender_kind=SenderKind.BOT)
    assert reply.msg_type == "article"
    assert reply.attachments == [{"url": f"/help/{personas.workspace.slug}/zh-hant/articles/returns/", "name": "如何退貨"}]


def test_bot_first_inbox_keyword_rule_answers_before_the_bot(personas, say):
    personas.inbox_a.bot_first = True
    personas.inbox_a.save()
    rule(personas.workspace, "营业时间", "每天 9:00-21:00")
    message, _ = say(personas.visitor, "营业时间是？")
    assert Conversation.objects.get(pk=message.conversation_id).state == Conversation.State.BOT
    assert bot_lines(message.conversation_id) == ["每天 9:00-21:00"]  # one answer: the bot stayed quiet


def test_welcome_queue_and_resolved_messages(personas, say, committed):
    ReplySettings.objects.create(workspace=personas.workspace, welcome_message="欢迎光临，{customer_name}！",
                                 queue_message="您前面还有人，当前排第 {position} 位。", resolved_message="本次服务已结束，感谢！")
    first, _ = say(make_visitor(personas.inbox_a)[0], "在吗")
    message, _ = say(personas.visitor, "你好")
    lines = list(Message.objects.filter(conversation_id=message.conversation_id).order_by("seq").values_list("sender_kind", "body"))
    # The welcome greets before the question; an agent is on duty but full: the chat queues behind the first one.
    assert lines == [("bot", "欢迎光临，！"), ("customer", "你好"), ("bot", "您前面还有人，当前排第 2 位。")]
    assert bot_lines(first.conversation_id)[-1] == "您前面还有人，当前排第 1 位。"
    say(personas.visitor, "还在吗", conversation_id=message.conversation_id)
    assert len(bot_lines(message.conversation_id)) == 2  # welcome and queue lines once per conversation
    committed(states.change_state, personas.owner, message.conversation_id, Conversation.State.RESOLVED)
    assert bot_lines(message.conversation_id)[-1] == "本次服务已结束，感谢！"
    kinds = list(ConversationEvent.objects.filter(conversation_id=message.conversation_id, kind=ConversationEvent.Kind.AUTO_REPLIED)
                 .values_list("data__kind", flat=True))
    assert kinds == ["welcome", "queue", "resolved"]


def test_inbox_settings_replace_the_workspace_defaults(personas, say):
    ReplySettings.objects.create(workspace=personas.workspace, welcome_message="everyone")
    ReplySettings.objects.create(workspace=personas.workspace, inbox=personas.inbox_b, welcome_message="app users")
    message_a, _ = say(personas.visitor, "hi")
    message_b, _ = say(make_visitor(personas.inbox_b)[0], "hi")
    other, _ = say(personas.other_visitor, "hi")
    assert bot_lines(message_a.conversation_id) == ["everyone"]
    assert bot_lines(message_b.conversation_id) == ["app users"]
    assert "everyone" not in bot_lines(other.conversation_id)


def test_keyword_replies_cost_a_bounded_number_of_queries(personas, django_assert_max_num_queries, say):
    for n in range(30):
        rule(personas.workspace, f"keyword{n}\n关键词{n}", f"reply {n}", priority=n)
    message, _ = say(personas.visitor, "first")
    with django_assert_max_num_queries(30):
        say(personas.visitor, "关键词7", conversation_id=message.conversation_id)
    assert bot_lines(message.conversation_id) == ["reply 7"]

"""The bot's conversation (issue 17): 猜你想问 choices when it is not sure (a tap answers with that
article, without searching), 「是否解决了您的问题？」 after each answer (once, only from the
conversation's own customer), and the unanswered questions it leaves for the merchant."""

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import Client

from accounts.models import Membership
from chat.models import Conversation, ConversationEvent, Message
from chat.tests.wsutil import connect_customer, frames_until, send_json
from conftest import make_visitor, run_threads, send
from knowledge import actions as kb
from knowledge import feedback as kb_feedback
from knowledge import unanswered
from knowledge.models import BotAnswer, SearchLog, UnansweredQuestion

ARTICLES = [
    ("returns", "如何退货", "收到商品 7 天内可以申请退货：在订单页点击“申请售后”。", ["怎么退货", "我要退货"]),
    ("shipping", "发货时间", "付款后 48 小时内发货，发货后短信通知物流单号。", ["什么时候发货", "多久发货"]),
]


def publish_articles(personas):
    founder = Membership.objects.get(user=personas.owner_user)
    ids = {}
    for slug, title, body, similar in ARTICLES:
        article = kb.save_article(founder, slug=slug, versions={"zh-hans": {"title": title, "body": body, "similar_questions": similar}})
        kb.publish(founder, article.pk)
        ids[slug] = article.pk
    personas.inbox_a.bot_first = True
    personas.inbox_a.save()
    return ids


@pytest.fixture
def bot(personas, search_index, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        personas.articles = publish_articles(personas)
    return personas


@pytest.fixture
def unsure(settings):
    """The bot is never sure: every question with hits gets 猜你想问 choices."""
    settings.KB_BOT = {**settings.KB_BOT, "MIN_CONFIDENCE": 2.0, "MIN_MARGIN": 1e9}


def ask(visitor, text, capture):
    with capture(execute=True):
        message, _ = send(visitor, text)
    return Conversation.objects.get(pk=message.conversation_id)


def bot_lines(conversation):
    return list(Message.objects.filter(conversation=conversation, sender_kind="bot").order_by("seq"))


def feedback(token, conversation_id, message_id, resolved, capture):
    with capture(execute=True):
        return Client(HTTP_AUTHORIZATION=f"Customer {token}").post(
            f"/api/v1/customer/conversations/{conversation_id}/bot-feedback", {"message_id": message_id, "resolved": resolved},
            content_type="application/json")


# --- 猜你想问 -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unsure_offers_choices_and_a_tap_answers_with_that_article(bot, unsure, django_capture_on_commit_callbacks):
    p = bot
    conversation = ask(p.visitor, "退货怎么弄", django_capture_on_commit_callbacks)
    [offer] = bot_lines(conversation)
    assert offer.msg_type == "article" and offer.body in ("You may want to ask:", "猜你想问：")
    choices = offer.attachments
    assert choices[0] == {"url": f"/help/{p.workspace.slug}/zh-hans/articles/returns/", "name": "如何退货", "choice": "ask",
                          "article": p.articles["returns"]}
    event = ConversationEvent.objects.get(conversation=conversation, kind="bot_suggested")
    assert {"article": p.articles["returns"], "locale": "zh-hans", "title": "如何退货"} in event.data["choices"]
    question = UnansweredQuestion.objects.get(workspace=p.workspace)
    assert (question.text, question.count, question.reason) == ("退货怎么弄", 1, "suggested")

    searches = SearchLog.objects.count()
    ask(p.visitor, "如何退货", django_capture_on_commit_callbacks)  # the tap: the title as the customer's message
    assert SearchLog.objects.count() == searches  # answered from the offer, no search (the bot is "never sure" here)
    answer, prompt = bot_lines(conversation)[1:]
    assert answer.msg_type == "article" and answer.body.startswith("如何退货\n收到商品 7 天内")
    assert answer.attachments == [{"url": f"/help/{p.workspace.slug}/zh-hans/articles/returns/", "name": "如何退货"}]
    assert prompt.body in ("Did this solve your problem?", "是否解决了您的问题？")
    assert [a["choice"] for a in prompt.attachments] == ["resolved", "unresolved"] and all("url" not in a for a in prompt.attachments)
    row = BotAnswer.objects.get(conversation=conversation)
    assert (row.article_id, row.prompt_id, row.question, row.feedback) == (p.articles["returns"], prompt.pk, "如何退货", "")
    assert row.event.kind == "bot_answered"
    assert Conversation.objects.get(pk=conversation.pk).state == "bot"


@pytest.mark.django_db
def test_a_choice_is_answered_only_while_its_article_is_published(bot, unsure, django_capture_on_commit_callbacks):
    p = bot
    p.inbox_a.bot_max_misses = 10
    p.inbox_a.save()
    conversation = ask(p.visitor, "退货怎么弄", django_capture_on_commit_callbacks)
    founder = Membership.objects.get(user=p.owner_user)
    with django_capture_on_commit_callbacks(execute=True):
        kb.unpublish(founder, p.articles["returns"])
    searches = SearchLog.objects.count()
    ask(p.visitor, "如何退货", django_capture_on_commit_callbacks)
    assert SearchLog.objects.count() == searches + 1  # searched like any question
    assert not BotAnswer.objects.filter(conversation=conversation).exists()
    # A title never offered in the customer's own chat is an ordinary question too.
    with django_capture_on_commit_callbacks(execute=True):
        kb.publish(founder, p.articles["returns"])
    other, _token = make_visitor(p.inbox_a)
    ask(other, "如何退货", django_capture_on_commit_callbacks)
    assert SearchLog.objects.count() == searches + 2


@pytest.mark.django_db(transaction=True)
def test_widget_flow_over_websocket(bot, unsure):
    """The widget's socket: the customer sends a question, gets choices, sends the chosen title,
    gets the article and the feedback question, and answers it over HTTP."""
    p = bot

    async def flow():
        customer = await connect_customer(p.visitor_token)
        await send_json(customer, {"type": "send", "client_msg_id": "q1", "body": "退货怎么弄"})
        offer, _ = await frames_until(customer, "message")
        while offer["message"]["sender"]["kind"] != "bot":
            offer, _ = await frames_until(customer, "message")
        assert [a["choice"] for a in offer["message"]["attachments"]][:1] == ["ask"]
        title = offer["message"]["attachments"][0]["name"]
        await send_json(customer, {"type": "send", "client_msg_id": "q2", "body": title})
        lines = []
        while len(lines) < 2:
            f, _ = await frames_until(customer, "message")
            if f["message"]["sender"]["kind"] == "bot" and f["message"]["seq"] > offer["message"]["seq"]:
                lines.append(f["message"])
        await customer.disconnect()
        return offer["message"], lines

    offer, (answer, prompt) = async_to_sync(flow)()
    assert answer["type"] == "article" and answer["attachments"][0]["name"] == "如何退货"
    assert [a["choice"] for a in prompt["attachments"]] == ["resolved", "unresolved"]
    response = Client(HTTP_AUTHORIZATION=f"Customer {p.visitor_token}").post(
        f"/api/v1/customer/conversations/{prompt['conversation_id']}/bot-feedback", {"message_id": prompt["id"], "resolved": True},
        content_type="application/json")
    assert response.status_code == 200 and response.json() == {"feedback": "resolved", "recorded": True}


# --- 是否解决了您的问题？ ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_feedback_is_recorded_once_and_only_from_the_conversations_customer(bot, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    p = bot
    conversation = ask(p.visitor, "怎么退货", django_capture_on_commit_callbacks)
    prompt = BotAnswer.objects.get(conversation=conversation).prompt_id
    url = f"/api/v1/customer/conversations/{conversation.pk}/bot-feedback"

    _other, other_token = make_visitor(p.inbox_a)
    refused = feedback(other_token, conversation.pk, prompt, True, django_capture_on_commit_callbacks)
    missing = feedback(other_token, 987654321, prompt, True, django_capture_on_commit_callbacks)
    assert refused.status_code == missing.status_code == 404 and refused.json() == missing.json()  # not theirs: as if missing
    staff = Client()
    staff.force_login(p.agent_a_user)
    assert staff.post(url, {"message_id": prompt, "resolved": True}, content_type="application/json").status_code in (401, 403)
    assert feedback(p.visitor_token, conversation.pk, prompt, "yes", django_capture_on_commit_callbacks).status_code == 400
    answer_line = Message.objects.filter(conversation=conversation, sender_kind="bot").order_by("seq").first().pk
    assert feedback(p.visitor_token, conversation.pk, answer_line, True, django_capture_on_commit_callbacks).status_code == 404
    assert BotAnswer.objects.get(conversation=conversation).feedback == ""

    with django_assert_max_num_queries(20):
        first = feedback(p.visitor_token, conversation.pk, prompt, True, django_capture_on_commit_callbacks)
    assert first.json() == {"feedback": "resolved", "recorded": True}
    lines = len(bot_lines(conversation))
    again = feedback(p.visitor_token, conversation.pk, prompt, True, django_capture_on_commit_callbacks)
    assert again.status_code == 200 and again.json() == {"feedback": "resolved", "recorded": False}
    changed = feedback(p.visitor_token, conversation.pk, prompt, False, django_capture_on_commit_callbacks)
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "feedback_given"
    assert len(bot_lines(conversation)) == lines  # one thank-you line, not three
    row = BotAnswer.objects.get(conversation=conversation)
    assert row.feedback == "resolved" and row.feedback_at is not None
    assert not UnansweredQuestion.objects.exists()


@pytest.mark.django_db
def test_not_solved_counts_the_question_and_offers_a_person(bot, django_capture_on_commit_callbacks):
    p = bot
    conversation = ask(p.visitor, "怎么退货", django_capture_on_commit_callbacks)
    prompt = BotAnswer.objects.get(conversation=conversation).prompt_id
    assert feedback(p.visitor_token, conversation.pk, prompt, False, django_capture_on_commit_callbacks).json()["recorded"] is True
    offer = bot_lines(conversation)[-1]
    assert offer.attachments == [{"name": offer.attachments[0]["name"], "choice": "handoff"}]
    question = UnansweredQuestion.objects.get(workspace=p.workspace)
    assert (question.text, question.reason, question.count) == ("怎么退货", "unresolved", 1)
    # 转人工: the widget's button is the existing handoff endpoint.
    with django_capture_on_commit_callbacks(execute=True):
        response = Client(HTTP_AUTHORIZATION=f"Customer {p.visitor_token}").post(f"/api/v1/customer/conversations/{conversation.pk}/handoff")
    assert response.json()["state"] == "queued"
    assert ConversationEvent.objects.get(conversation=conversation, kind="handed_off").data == {"reason": "button"}


@pytest.mark.django_db
def test_no_feedback_question_on_wechat_inboxes(bot, django_capture_on_commit_callbacks):
    """Every bot line there spends one of WeChat's 5 replies, and nothing can be tapped."""
    p = bot
    p.inbox_a.kind = "wechat_oa"
    p.inbox_a.save()
    conversation = ask(p.visitor, "怎么退货", django_capture_on_commit_callbacks)
    assert len(bot_lines(conversation)) == 1
    assert BotAnswer.objects.get(conversation=conversation).prompt_id is None


# --- 未解决问题 ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unanswered_questions_are_grouped_by_normalised_text(personas):
    ws = personas.workspace.pk
    assert unanswered.normalise("退貨怎麼辦？") == unanswered.normalise(" 退货 怎么办 ") == "退货怎么办"
    assert unanswered.normalise("Where is  my PARCEL?!") == "where is my parcel"
    assert unanswered.record(ws, "🙂！", "zh-hans", "suggested") is None
    for text in ("退貨怎麼辦？", "退货 怎么办", "退货怎么办"):
        unanswered.record(ws, text, "zh-hans", "suggested")
    unanswered.record(personas.other_workspace.pk, "退货怎么办", "zh-hans", "handed_off")
    row = UnansweredQuestion.objects.get(workspace_id=ws)
    assert (row.count, row.text, row.normalised) == (3, "退货怎么办", "退货怎么办")
    assert UnansweredQuestion.objects.get(workspace=personas.other_workspace).count == 1


@pytest.mark.django_db
def test_handoff_after_misses_is_an_unanswered_question(bot, django_capture_on_commit_callbacks):
    p = bot
    ask(p.visitor, "你们的老板是谁", django_capture_on_commit_callbacks)
    conversation = ask(p.visitor, "能不能便宜点", django_capture_on_commit_callbacks)
    assert conversation.state == "queued"
    reasons = dict(UnansweredQuestion.objects.filter(workspace=p.workspace).values_list("text", "reason"))
    assert reasons == {"你们的老板是谁": "suggested", "能不能便宜点": "handed_off"}


# --- races ---------------------------------------------------------------------------------------


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
def test_concurrent_askers_and_double_taps_count_once(bot, django_capture_on_commit_callbacks):
    """8 threads ask the same new question (one row, count 8); 8 taps of 未解决 on one answer
    record one feedback and one more count."""
    ws = bot.workspace.pk

    def asker(i):
        with transaction.atomic():
            unanswered.record(ws, "退货要运费吗" if i % 2 else "退貨要運費嗎？", "zh-hans", "suggested")

    run_threads(8, asker)
    assert list(UnansweredQuestion.objects.filter(workspace_id=ws).values_list("count", flat=True)) == [8]

    conversation = ask(bot.visitor, "怎么退货", django_capture_on_commit_callbacks)
    prompt = BotAnswer.objects.get(conversation=conversation).prompt_id
    recorded = []
    run_threads(8, lambda i: recorded.append(kb_feedback.give_feedback(bot.visitor, conversation.pk, prompt, False)[1]))
    assert sorted(recorded) == [False] * 7 + [True]
    assert UnansweredQuestion.objects.get(workspace_id=ws, normalised="怎么退货").count == 1
    assert len([m for m in bot_lines(conversation) if m.attachments and m.attachments[0].get("choice") == "handoff"]) == 1

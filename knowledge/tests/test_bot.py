"""The deflection bot on a bot-first inbox: answers from the knowledge base when sure,
offers articles when not, hands off on keywords, after misses, or on the customer's button.
The metrics report is computed from the rows those steps leave."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from chat.models import Conversation, ConversationEvent, Message
from conftest import make_visitor, send
from knowledge import actions as kb
from knowledge.metrics import report
from knowledge.models import BotAnswer, SearchLog

pytestmark = pytest.mark.django_db

ARTICLES = [
    ("returns", "如何退货", "收到商品 7 天内可以申请退货：在订单页点击“申请售后”。", ["怎么退货", "我要退货", "退貨怎麼辦"]),
    ("shipping", "发货时间", "付款后 48 小时内发货，发货后短信通知物流单号。", ["什么时候发货", "多久发货"]),
    ("invoice", "如何开发票", "在订单详情页点击“申请发票”，电子发票会发到您的邮箱。", ["怎么开发票", "发票怎么开"]),
]


@pytest.fixture
def knowledge_base(personas, search_index, django_capture_on_commit_callbacks):
    founder = Membership.objects.get(user=personas.owner_user)
    with django_capture_on_commit_callbacks(execute=True):
        for slug, title, body, similar in ARTICLES:
            article = kb.save_article(founder, slug=slug, versions={"zh-hans": {"title": title, "body": body, "similar_questions": similar}})
            kb.publish(founder, article.pk)
    personas.inbox_a.bot_first = True
    personas.inbox_a.save()
    return personas


def ask(visitor, text, capture):
    with capture(execute=True):
        message, _ = send(visitor, text)
    return Conversation.objects.get(pk=message.conversation_id)


def bot_messages(conversation):
    return list(Message.objects.filter(conversation=conversation, sender_kind="bot").order_by("seq"))


def kinds(conversation):
    return list(ConversationEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))


def test_bot_answers_a_known_question_with_the_article(knowledge_base, django_capture_on_commit_callbacks):
    conversation = ask(knowledge_base.visitor, "请问怎么退货？", django_capture_on_commit_callbacks)
    assert conversation.state == "bot"
    [answer, prompt] = bot_messages(conversation)  # the answer, then 「是否解决了您的问题？」 (test_bot_conversation.py)
    assert answer.msg_type == "article" and answer.body.startswith("如何退货")
    assert answer.attachments[0]["url"].endswith("/articles/returns/") and answer.attachments[0]["name"] == "如何退货"
    assert "bot_answered" in kinds(conversation)
    # A traditional-script question is understood too.
    conversation = ask(knowledge_base.visitor, "發票怎麼開", django_capture_on_commit_callbacks)
    assert bot_messages(conversation)[-2].attachments[0]["url"].endswith("/articles/invoice/")
    assert SearchLog.objects.filter(source="bot").count() == 2


def test_unsure_twice_then_a_person(knowledge_base, django_capture_on_commit_callbacks):
    conversation = ask(knowledge_base.visitor, "你们的老板是谁", django_capture_on_commit_callbacks)
    assert conversation.state == "bot" and kinds(conversation).count("bot_suggested") == 1
    conversation = ask(knowledge_base.visitor, "能不能便宜点", django_capture_on_commit_callbacks)
    assert conversation.state == "queued"
    event = ConversationEvent.objects.get(conversation=conversation, kind="handed_off")
    assert event.data == {"reason": "misses"}
    # With a person now: the bot stays quiet.
    before = len(bot_messages(conversation))
    ask(knowledge_base.visitor, "怎么退货", django_capture_on_commit_callbacks)
    assert len(bot_messages(conversation)) == before


@pytest.mark.parametrize("text", ["转人工", "我要人工客服", "轉人工", "can I talk to a human?"])
def test_handoff_keywords(knowledge_base, django_capture_on_commit_callbacks, text):
    conversation = ask(knowledge_base.visitor, text, django_capture_on_commit_callbacks)
    assert conversation.state == "queued"
    assert ConversationEvent.objects.get(conversation=conversation, kind="handed_off").data == {"reason": "keyword"}


def test_talk_to_a_person_button(knowledge_base, django_capture_on_commit_callbacks):
    conversation = ask(knowledge_base.visitor, "怎么退货", django_capture_on_commit_callbacks)
    token = make_visitor_token(knowledge_base)
    other = Client(HTTP_AUTHORIZATION=f"Customer {token}")
    assert other.post(f"/api/v1/customer/conversations/{conversation.pk}/handoff").status_code == 404  # not theirs
    customer = Client(HTTP_AUTHORIZATION=f"Customer {knowledge_base.visitor_token}")
    with django_capture_on_commit_callbacks(execute=True):
        response = customer.post(f"/api/v1/customer/conversations/{conversation.pk}/handoff")
    assert response.status_code == 200 and response.json()["state"] == "queued"
    assert ConversationEvent.objects.get(conversation=conversation, kind="handed_off").data == {"reason": "button"}
    assert customer.post(f"/api/v1/customer/conversations/{conversation.pk}/handoff").json()["state"] == "queued"  # idempotent


def make_visitor_token(personas):
    return make_visitor(personas.inbox_a)[1]


class FakeLLM:
    def __init__(self, answer=None, fail=False):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                outer.auth = self.headers.get("Authorization")
                body = b"{}" if fail else json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
                self.send_response(500 if fail else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/chat/completions"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize("fail", [False, True])
def test_llm_engine_answers_from_the_retrieved_articles(knowledge_base, settings, django_capture_on_commit_callbacks, fail):
    llm = FakeLLM("您好，收到商品 7 天内可以在订单页申请退货。", fail=fail)
    settings.KB_BOT = {**settings.KB_BOT, "ENGINE": "llm", "LLM_URL": llm.url, "LLM_MODEL": "m", "LLM_KEY": "k-123"}
    conversation = ask(knowledge_base.visitor, "怎么退货", django_capture_on_commit_callbacks)
    [answer, _prompt] = bot_messages(conversation)
    [request] = llm.requests
    assert request["model"] == "m" and llm.auth == "Bearer k-123"
    assert "申请售后" in request["messages"][0]["content"] and request["messages"][1]["content"] == "怎么退货"
    assert answer.body == ("如何退货\n收到商品 7 天内可以申请退货：在订单页点击“申请售后”。" if fail else "您好，收到商品 7 天内可以在订单页申请退货。")
    llm.server.shutdown()


def test_deflection_report(knowledge_base, django_capture_on_commit_callbacks):
    """A bot answer is deflected unless a handoff follows within the window (10 minutes) or the
    customer marks it 未解决; help sessions keep the 24-hour rule; both add up in `deflected`."""
    p = knowledge_base
    ask(p.visitor, "怎么退货", django_capture_on_commit_callbacks)  # answered, nothing after: deflected
    soon, _ = make_visitor(p.inbox_a)
    ask(soon, "怎么开发票", django_capture_on_commit_callbacks)
    ask(soon, "转人工", django_capture_on_commit_callbacks)  # a person right after the answer: not deflected
    late, _ = make_visitor(p.inbox_a)
    conversation = ask(late, "什么时候发货", django_capture_on_commit_callbacks)
    ask(late, "转人工", django_capture_on_commit_callbacks)
    answered = ConversationEvent.objects.get(conversation=conversation, kind="bot_answered")
    ConversationEvent.objects.filter(conversation=conversation, kind="handed_off").update(
        created_at=answered.created_at + timedelta(minutes=11))  # a person, but after the window: deflected
    unhappy, unhappy_token = make_visitor(p.inbox_a)
    conversation = ask(unhappy, "我要退货", django_capture_on_commit_callbacks)
    prompt = BotAnswer.objects.get(conversation=conversation).prompt_id
    with django_capture_on_commit_callbacks(execute=True):
        response = Client(HTTP_AUTHORIZATION=f"Customer {unhappy_token}").post(
            f"/api/v1/customer/conversations/{conversation.pk}/bot-feedback", {"message_id": prompt, "resolved": False}, content_type="application/json")
    assert response.status_code == 200  # 未解决, no person: not deflected
    customer = Client(HTTP_AUTHORIZATION=f"Customer {p.visitor_token}")
    assert customer.get("/api/v1/customer/help/search", {"q": "发货"}).json()["results"][0]["title"] == "发货时间"
    assert customer.get("/api/v1/customer/help/search", {"q": "量子纠缠"}).json()["results"] == []
    now = timezone.now()
    r = report(p.workspace, now - timedelta(days=1), now + timedelta(minutes=1))
    assert (r.bot_conversations, r.bot_answered_conversations) == (4, 4)
    assert (r.searches, r.zero_result_searches) == (6, 1)  # 4 bot searches (a keyword needs none) + 2 widget searches
    assert ("量子纠缠", 1) in r.zero_result_queries
    assert (r.bot_answers, r.bot_deflected_answers, r.resolved_feedback, r.unresolved_feedback) == (4, 2, 0, 1)
    # Sessions: 4 bot answers + 1 widget help session (visitor 1, who never reached a person).
    assert (r.sessions, r.deflected) == (5, 3)
    assert round(r.deflection_rate, 2) == 0.6


def test_deflection_window_is_a_setting(knowledge_base, django_capture_on_commit_callbacks, settings):
    conversation = ask(knowledge_base.visitor, "怎么退货", django_capture_on_commit_callbacks)
    ask(knowledge_base.visitor, "转人工", django_capture_on_commit_callbacks)
    answered = ConversationEvent.objects.get(conversation=conversation, kind="bot_answered")
    ConversationEvent.objects.filter(conversation=conversation, kind="handed_off").update(created_at=answered.created_at + timedelta(minutes=20))
    now = timezone.now()
    assert report(knowledge_base.workspace, now - timedelta(days=1), now + timedelta(hours=1)).bot_deflected_answers == 1
    settings.KB_BOT = {**settings.KB_BOT, "DEFLECTION_WINDOW_MINUTES": 30}
    assert report(knowledge_base.workspace, now - timedelta(days=1), now + timedelta(hours=1)).bot_deflected_answers == 0

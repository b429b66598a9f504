"""A message's history terms computed by the send (helpdesk.text.history_terms_text, one pass in
Python) are the lexemes the database's history_terms(body) gives, and every other write gets them
from the trigger of reports/migrations/0004: the history index means the same whoever wrote the row.
PostgreSQL only (SQLite's history is an FTS5 table)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Conversation, Message
from conftest import send
from helpdesk.text import history_terms_text

pytestmark = [pytest.mark.engine_db, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("agents_on_duty_but_full")]

BODIES = [
    "我要退货，退货地址在哪里？", "退貨地址", "好", "在吗", "在吗?", "a", "", " ", "订单号 A1234-56 已发货",
    "ＲＥＦＵＮＤ　１２３ 全角字母和数字", "iPhone15 Pro Max 256GB 怎么样", "Hello World, HELLO world!", "ÉCOLE Straße İstanbul ΣΊΣΥΦΟΣ",
    "邮箱 someone@example.com 网址 https://shop.example.cn/item?id=42&x=1", "路径 /usr/local/bin 和 C:\\Windows",
    "价格 3.14 元, 1,000 件, -5 度, 1e10", "表情😀👍🏻 和 emoji", "日本語のテキスト カタカナ ひらがな", "한국어 텍스트",
    "兼容字符 豈更車 ㊀㊁ ㈱ 〇", "扩展A 㐀㐁㐂 扩展B 𠀀𠀁", "退\n货\t地址", "中a文b混c排", "x中y", "中英mixed中文text文",
    "三个字", "四个汉字", "很长很长的一句话里面有很多个汉字连在一起没有标点", "snake_case kebab-case CamelCase dotted.name", "'quoted' \"double\" <b>tag</b>",
    "1234567890123456789012345678901234567890", "&amp; &lt; 退货&gt;", "Ⅻ ① ⑴ ¼ ﬁ ™ ㎏ ℃",
]


def _lexemes(sql, value):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}::text", [value])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("body", BODIES)
def test_the_sends_terms_are_the_databases(body):
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (postgres_only)")
    assert _lexemes("strip(to_tsvector('simple'::regconfig, %s))", history_terms_text(body)) == _lexemes("strip(history_terms(%s))", body)


def _stored_terms(message_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT history_tsv::text, strip(history_terms(body))::text FROM chat_message WHERE id = %s", [message_id])
        return cursor.fetchone()


def test_every_write_stores_the_terms_of_its_body(personas):
    """The one-statement send (terms from Python), the general path (the trigger), a changed body
    (the trigger again) and a row written with none: each row's terms are history_terms(body)."""
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (postgres_only)")
    first, _ = send(personas.visitor, "你好，我的快递丢了 parcel lost")  # opens the chat: the general path
    with CaptureQueriesContext(connection) as one_statement:
        second, _ = send(personas.visitor, "退貨地址在哪裡？ REFUND please")
    assert len(one_statement) == 1  # chat.fast_send: the terms came with the INSERT
    assert second.conversation_id == first.conversation_id
    assert Conversation.objects.get(pk=first.conversation_id).last_seq == 2
    for message in (first, second):
        stored, computed = _stored_terms(message.pk)
        assert stored == computed and stored  # not empty
    assert "'退貨'" in _stored_terms(second.pk)[0] and "'refund'" in _stored_terms(second.pk)[0]
    Message.objects.filter(pk=second.pk).update(body="发票抬头写错了")
    stored, computed = _stored_terms(second.pk)
    assert stored == computed and "'发票'" in stored and "退貨" not in stored
    with connection.cursor() as cursor:
        cursor.execute("UPDATE chat_message SET history_tsv = NULL WHERE id = %s", [first.pk])
    assert _stored_terms(first.pk)[0] == _stored_terms(first.pk)[1]

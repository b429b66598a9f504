"""Sensitive words: masked, refused (nothing stored) or delivered with an alert, per list and sender."""

import pytest
from django.test import Client

from chat.models import Conversation, ConversationEvent, Message, SenderKind
from helpdesk.errors import DomainError
from replies.models import SensitiveWordList

Lists = SensitiveWordList


def words(workspace, text, action, applies_to=Lists.AppliesTo.BOTH, **kwargs):
    return Lists.objects.create(workspace=workspace, name=kwargs.pop("name", action), words=text, action=action, applies_to=applies_to, **kwargs)


def test_mask_in_either_script_and_case(personas, say):
    words(personas.workspace, "微信\nQQ", Lists.Action.MASK, Lists.AppliesTo.CUSTOMERS)
    message, _ = say(personas.visitor, "加我微信或qq聊，或者微信號")
    assert message.body == "加我＊＊或＊＊聊，或者＊＊號"
    traditional, _ = say(personas.visitor, "加我微信", conversation_id=message.conversation_id)
    assert traditional.body == "加我＊＊"


def test_customer_list_leaves_agents_alone_and_the_other_way_round(personas, say, committed):
    from routing import actions as routing

    words(personas.workspace, "微信", Lists.Action.MASK, Lists.AppliesTo.CUSTOMERS)
    words(personas.workspace, "垃圾", Lists.Action.MASK, Lists.AppliesTo.AGENTS, name="agents")
    committed(routing.set_status, personas.agent_a, "online")
    message, _ = say(personas.visitor, "垃圾微信")
    assert message.body == "垃圾＊＊"
    reply, _ = say(personas.agent_a, "不是垃圾，请加官方微信", conversation_id=message.conversation_id)
    assert reply.body == "不是＊＊，请加官方微信"


def test_block_refuses_and_stores_nothing_not_even_a_new_conversation(personas, say):
    words(personas.workspace, "代开发票", Lists.Action.BLOCK, notice="该内容无法发送。")
    before = (Conversation.objects.count(), Message.objects.count())
    with pytest.raises(DomainError) as refused:
        say(personas.visitor, "可以代開發票吗")
    assert (refused.value.code, refused.value.status, str(refused.value.message)) == ("blocked_words", 422, "该内容无法发送。")
    assert (Conversation.objects.count(), Message.objects.count()) == before


def test_block_over_http_is_a_clear_error(personas):
    words(personas.workspace, "赌博", Lists.Action.BLOCK)
    client = Client(HTTP_AUTHORIZATION=f"Customer {personas.visitor_token}")
    r = client.post("/api/v1/customer/messages", {"client_msg_id": "m-1", "body": "赌博网站"}, content_type="application/json")
    assert r.status_code == 422 and r.json()["error"]["code"] == "blocked_words"
    assert not Message.objects.exists()
    ok = client.post("/api/v1/customer/messages", {"client_msg_id": "m-2", "body": "你好"}, content_type="application/json")
    assert ok.status_code == 201


def test_alert_delivers_as_written_with_a_note_event_and_a_supervisor_alert(personas, say, monkeypatch):
    from helpdesk import realtime

    published = []
    monkeypatch.setattr(realtime, "publish", lambda deliveries, scope=None: published.extend(deliveries))
    words(personas.workspace, "投诉\n12315", Lists.Action.ALERT, Lists.AppliesTo.CUSTOMERS, name="complaints")
    message, _ = say(personas.visitor, "再不处理我就打12315投诉")
    assert message.body == "再不处理我就打12315投诉"
    note = Message.objects.get(conversation_id=message.conversation_id, is_private=True)
    assert note.sender_kind == SenderKind.BOT and "12315" in note.body and "投诉" in note.body
    event = ConversationEvent.objects.get(conversation_id=message.conversation_id, kind=ConversationEvent.Kind.FLAGGED)
    assert event.data == {"seq": message.seq, "lists": [{"list": "complaints", "words": ["12315", "投诉"]}]}
    alerts = [(group, data) for group, data in published if data.get("type") == "alert"]
    assert [group for group, _data in alerts] == [realtime.group_for_agent(personas.owner_user.pk)]  # the founder, not agents
    # Customers never see the note.
    client = Client(HTTP_AUTHORIZATION=f"Customer {personas.visitor_token}")
    bodies = [m["body"] for m in client.get(f"/api/v1/conversations/{message.conversation_id}/messages").json()["messages"]]
    assert note.body not in bodies and message.body in bodies


def test_block_wins_over_mask_and_other_workspaces_lists_do_not_apply(personas, say):
    words(personas.other_workspace, "你好", Lists.Action.BLOCK)
    words(personas.workspace, "广告", Lists.Action.MASK)
    message, _ = say(personas.visitor, "你好，广告")
    assert message.body == "你好，＊＊"
    words(personas.workspace, "广告", Lists.Action.BLOCK, name="block")
    with pytest.raises(DomainError):
        say(personas.visitor, "广告", conversation_id=message.conversation_id)


def test_private_notes_and_disabled_lists_are_not_checked(personas, say):
    words(personas.workspace, "退款", Lists.Action.BLOCK, enabled=False)
    words(personas.workspace, "黑名单", Lists.Action.BLOCK, Lists.AppliesTo.AGENTS, name="agents")
    message, _ = say(personas.visitor, "我要退款")
    note, _ = say(personas.owner, "此客户在黑名单", conversation_id=message.conversation_id, is_private=True)
    assert note.body == "此客户在黑名单"


def test_a_list_needs_words(personas):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Lists(workspace=personas.workspace, name="empty", words=" \n ").full_clean()

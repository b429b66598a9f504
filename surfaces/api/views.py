"""HTTP fallback of the chat protocol (for networks that block WebSocket) and
the agent's conversation API. Thin views: DRF serializers check shapes, the
actions check everything else."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import identity, states
from chat import messages as chat_messages
from chat.access import Actor, acting_agent
from chat.models import Conversation, Message
from chat.payloads import conversation_payload, message_payload
from helpdesk import ratelimit
from surfaces import throttle
from surfaces.widget import session as widget_session


def actor_for(request):
    """Customer (visitor token) or agent (session); 401 for anyone else."""
    if isinstance(request.auth, Actor):
        return request.auth
    return acting_agent(request)  # an API token, or the session's user (accounts.access.acting_membership)


class SessionIn(serializers.Serializer):
    inbox_key = serializers.CharField(max_length=40)
    token = serializers.CharField(max_length=512, required=False, allow_blank=True)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    # A merchant-verified identity (docs/protocol.md, "Widget endpoints"); the actions check the rest.
    user_id = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    user_hash = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    attributes = serializers.JSONField(required=False, allow_null=True)
    page = serializers.JSONField(required=False, allow_null=True)


class SendIn(serializers.Serializer):
    client_msg_id = serializers.CharField(max_length=64)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=None)
    type = serializers.ChoiceField(choices=Message.Type.choices, default=Message.Type.TEXT)
    conversation_id = serializers.IntegerField(required=False, min_value=1)
    attachments = serializers.ListField(child=serializers.DictField(), required=False, max_length=chat_messages.MAX_ATTACHMENTS)
    is_private = serializers.BooleanField(required=False, default=False)
    entry_page = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class ReadIn(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0)


class StateIn(serializers.Serializer):
    state = serializers.ChoiceField(choices=Conversation.State.choices)
    disposition = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                           help_text="resolve only: the id of a wrap-up category (咨询分类) of the workspace's list")


MessageOut = inline_serializer(
    "Message",
    {
        "id": serializers.IntegerField(),
        "conversation_id": serializers.IntegerField(),
        "seq": serializers.IntegerField(),
        "sender": serializers.DictField(),
        "client_msg_id": serializers.CharField(allow_null=True),
        "type": serializers.CharField(),
        "body": serializers.CharField(),
        "attachments": serializers.ListField(),
        "recalled": serializers.BooleanField(),
        "created_at": serializers.DateTimeField(),
    },
)
AckOut = inline_serializer("Ack", {"duplicate": serializers.BooleanField(), "message": MessageOut})
MessagesOut = inline_serializer(
    "Messages",
    {"conversation_id": serializers.IntegerField(), "messages": serializers.ListField(child=serializers.DictField()), "has_more": serializers.BooleanField(), "last_seq": serializers.IntegerField(),
     "peer_read_seq": serializers.IntegerField(help_text="How far the other side has read (read receipts)")},
)


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _send(actor, data, conversation_id=None, ip=None):
    message, created = throttle.send_message(
        actor,
        ip=ip,
        client_msg_id=data["client_msg_id"],
        body=data.get("body", ""),
        msg_type=data["type"],
        conversation_id=conversation_id if conversation_id is not None else data.get("conversation_id"),
        attachments=data.get("attachments"),
        is_private=data.get("is_private", False),
        entry_page=data.get("entry_page", ""),
    )
    body = {"duplicate": not created, "message": message_payload(message, for_customer=actor.is_customer)}
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CustomerSessionView(APIView):
    authentication_classes = []

    @extend_schema(
        request=SessionIn,
        responses=inline_serializer(
            "Session",
            {
                "token": serializers.CharField(),
                "customer_id": serializers.CharField(),
                "inbox_id": serializers.IntegerField(),
                "customer": serializers.DictField(),
                "inbox": serializers.DictField(),
                "conversation": serializers.DictField(allow_null=True),
            },
        ),
        summary="Issue or renew a visitor token for an inbox (anonymous, or a merchant-verified user)",
    )
    def post(self, request):
        data = _validated(SessionIn, request.data)
        customer, inbox, token = identity.open_customer_session(
            data["inbox_key"], token=data.get("token"), name=data.get("name", ""), user_id=data.get("user_id"),
            user_hash=data.get("user_hash"), attributes=data.get("attributes"), page=data.get("page"),
            client_ip=ratelimit.ip_key(ratelimit.request_ip(request)),
        )
        return Response(widget_session.widget_session(customer, inbox, token))


class CustomerMessagesView(APIView):
    @extend_schema(request=SendIn, responses={200: AckOut, 201: AckOut}, summary="Customer send (opens a conversation if none is open)")
    def post(self, request):
        return _send(actor_for(request), _validated(SendIn, request.data), ip=ratelimit.request_ip(request))


class ConversationListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("state", str, required=False), OpenApiParameter("leave_message", bool, required=False)],
        responses=inline_serializer("ConversationList", {"conversations": serializers.ListField(child=serializers.DictField())}),
        summary="Conversations visible to the caller",
    )
    def get(self, request):
        actor = actor_for(request)
        leave_message = {"1": True, "true": True, "0": False, "false": False}.get(request.query_params.get("leave_message", ""))
        rows = states.conversations_for(actor, state=request.query_params.get("state") or None, leave_message=leave_message)
        return Response({"conversations": [conversation_payload(c, for_customer=actor.is_customer) for c in rows]})


class ConversationMessagesView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("after_seq", int, required=False), OpenApiParameter("limit", int, required=False)],
        responses=MessagesOut,
        summary="Fetch messages after a seq (resume)",
    )
    def get(self, request, conversation_id):
        actor = actor_for(request)
        messages, has_more, conversation, peer_read_seq = chat_messages.resume_page(
            actor, conversation_id, after_seq=request.query_params.get("after_seq", 0), limit=request.query_params.get("limit")
        )
        return Response(
            {
                "conversation_id": conversation.pk,
                "messages": [message_payload(m, for_customer=actor.is_customer) for m in messages],
                "has_more": has_more,
                "last_seq": conversation.last_seq,
                "peer_read_seq": peer_read_seq,
            }
        )

    @extend_schema(request=SendIn, responses={200: AckOut, 201: AckOut}, summary="Send into a conversation (idempotent by client_msg_id)")
    def post(self, request, conversation_id):
        return _send(actor_for(request), _validated(SendIn, request.data), conversation_id=conversation_id, ip=ratelimit.request_ip(request))


class ConversationReadView(APIView):
    @extend_schema(request=ReadIn, responses=inline_serializer("ReadOk", {"seq": serializers.IntegerField()}), summary="Mark read up to a seq")
    def post(self, request, conversation_id):
        data = _validated(ReadIn, request.data)
        return Response({"seq": chat_messages.mark_read(actor_for(request), conversation_id, data["seq"])})


class ConversationStateView(APIView):
    @extend_schema(request=StateIn, responses=inline_serializer("StateOk", {"conversation": serializers.DictField()}), summary="Agent changes the state (resolve, close, pending, reopen)")
    def post(self, request, conversation_id):
        data = _validated(StateIn, request.data)
        conversation = states.change_state(actor_for(request), conversation_id, data["state"], disposition=data.get("disposition"))
        return Response({"conversation": conversation_payload(conversation, for_customer=False)})

"""The customer widget's endpoints beyond the chat protocol: the inbox as the widget shows it,
the visit trail, the pre-chat form, and the satisfaction rating (docs/protocol.md, "Widget
endpoints"). Thin views: chat.actions validates, authorises and writes."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import identity, profile, ratings, states
from helpdesk import ratelimit
from helpdesk.errors import forbidden, invalid
from knowledge import feedback
from knowledge.widget import widget_search
from surfaces.api.views import actor_for
from surfaces.widget import session as widget_session


def _body(request):
    """The JSON object sent; 400 for anything else (a list, a form, a bare value)."""
    if not isinstance(request.data, dict):
        raise invalid("invalid", _("Send a JSON object."))
    return request.data


def rating_payload(rating):
    return {
        "conversation_id": rating.conversation_id,
        "rating": rating.rating,
        "comment": rating.comment,
        "reasons": rating.reasons,
        "created_at": rating.created_at.isoformat(),
    }


WidgetInboxOut = inline_serializer("WidgetInbox", {"inbox": serializers.DictField()})
RatingOut = inline_serializer("Rating", {"rating": serializers.DictField()})


class CustomerInboxView(APIView):
    @extend_schema(responses=WidgetInboxOut, summary="The token's inbox as the widget shows it (greeting, pre-chat form, availability)")
    def get(self, request):
        return Response({"inbox": widget_session.widget_inbox(profile.customer_inbox(actor_for(request)))})


class CustomerVisitsView(APIView):
    @extend_schema(
        request=inline_serializer("VisitIn", {"url": serializers.CharField(), "title": serializers.CharField(required=False)}),
        responses={201: inline_serializer("VisitOk", {"ok": serializers.BooleanField(), "recorded": serializers.BooleanField()})},
        summary="Report a page the customer opened (the visit trail)",
    )
    def post(self, request):
        recorded = identity.record_visit(actor_for(request), _body(request))
        return Response({"ok": True, "recorded": recorded}, status=status.HTTP_201_CREATED)


class CustomerProfileView(APIView):
    @extend_schema(
        request=inline_serializer("ProfileIn", {"name": serializers.CharField(required=False)}),
        responses=inline_serializer("ProfileOk", {"customer": serializers.DictField()}),
        summary="Answer the inbox's pre-chat form ({field key: text})",
    )
    def post(self, request):
        customer = profile.update_profile(actor_for(request), _body(request))
        return Response({"customer": {"name": customer.name}})


class ConversationRatingView(APIView):
    @extend_schema(responses=RatingOut, summary="The satisfaction rating of a conversation (404 not_rated until rated)")
    def get(self, request, conversation_id):
        return Response({"rating": rating_payload(ratings.conversation_rating(actor_for(request), conversation_id))})

    @extend_schema(
        request=inline_serializer("RatingIn", {"rating": serializers.IntegerField(min_value=1, max_value=5), "comment": serializers.CharField(required=False),
                                               "reasons": serializers.ListField(child=serializers.CharField(), required=False)}),
        responses={201: RatingOut},
        summary="The customer rates their finished conversation (once)",
    )
    def post(self, request, conversation_id):
        data = _body(request)
        rating = ratings.rate_conversation(actor_for(request), conversation_id, data.get("rating"), data.get("comment", ""), data.get("reasons"))
        return Response({"rating": rating_payload(rating)}, status=status.HTTP_201_CREATED)


class ConversationContactView(APIView):
    @extend_schema(
        request=inline_serializer("ContactIn", {"phone": serializers.CharField(required=False), "wechat": serializers.CharField(required=False)}),
        responses=inline_serializer("ContactOk", {"phone": serializers.CharField(), "wechat": serializers.CharField()}),
        summary="留下联系方式: a phone number and/or a WeChat ID when nobody can answer now (400 with field errors)",
    )
    def post(self, request, conversation_id):
        data = _body(request)
        customer = profile.leave_contact(actor_for(request), conversation_id, phone=data.get("phone", ""), wechat=data.get("wechat", ""))
        attributes = customer.attributes or {}
        return Response({"phone": attributes.get("contact_phone", ""), "wechat": attributes.get("contact_wechat", "")})


class ConversationHandoffView(APIView):
    @extend_schema(request=None, responses=inline_serializer("HandoffOk", {"state": serializers.CharField()}),
                   summary="The customer asks for a person while the bot has the chat")
    def post(self, request, conversation_id):
        actor = actor_for(request)
        if not actor.is_customer:
            raise forbidden()
        conversation = states.hand_off_to_human(conversation_id, actor=actor, reason="button")
        return Response({"state": conversation.state})


class ConversationBotFeedbackView(APIView):
    @extend_schema(
        request=inline_serializer("BotFeedbackIn", {"message_id": serializers.IntegerField(), "resolved": serializers.BooleanField()}),
        responses=inline_serializer("BotFeedbackOk", {"feedback": serializers.CharField(), "recorded": serializers.BooleanField()}),
        summary="The customer answers the bot's 「是否解决了您的问题？」 (once; a repeat records nothing)",
    )
    def post(self, request, conversation_id):
        data = _body(request)
        value, recorded = feedback.give_feedback(actor_for(request), conversation_id, data.get("message_id"), data.get("resolved"))
        return Response({"feedback": value, "recorded": recorded})


class HelpSearchView(APIView):
    """Help first: the widget searches the knowledge base before the customer writes."""

    @extend_schema(responses=inline_serializer("HelpSearch", {"results": serializers.ListField(child=serializers.DictField())}),
                   summary="Search the help center from the widget")
    def get(self, request):
        actor = actor_for(request)
        if not actor.is_customer:
            raise forbidden()
        ratelimit.hit("search_ip", ratelimit.ip_key(ratelimit.request_ip(request)))
        return Response({"results": widget_search(actor, request.query_params.get("q", ""), request.query_params.get("locale", ""))})

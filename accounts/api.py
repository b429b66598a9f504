"""Member management over REST (session or API token). Strict input: a field that is
not accepted here (workspace, user, id...) is refused and audited, never ignored."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.staff import set_inbox_access
from helpdesk.errors import DomainError

from . import actions, roles, tokens
from .access import acting_membership
from .models import ApiToken, Membership, Role


def strict(serializer_class, request, actor, action):
    """Validate, refusing (and auditing) any field the endpoint does not accept."""
    unknown = sorted(set(request.data) - set(serializer_class().fields)) if hasattr(request.data, "keys") else ["<body>"]
    if unknown:
        actions.audit(actor, action, after={"refused": {"unknown_fields": unknown}}, denied=True)
        raise DomainError("unknown_fields", _("Fields not accepted here: %(fields)s") % {"fields": ", ".join(unknown)}, status=400)
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def member_payload(m):
    return {"id": m.pk, "user_id": m.user_id, "username": m.user.get_username(), "display_name": m.display_name,
            "role": m.role, "custom_role_id": m.custom_role_id}


class MemberPatch(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    custom_role_id = serializers.IntegerField(required=False, allow_null=True)


class AccessPut(serializers.Serializer):
    granted = serializers.BooleanField()


class TokenCreate(serializers.Serializer):
    name = serializers.CharField(max_length=60)


MemberOut = inline_serializer("Member", {"id": serializers.IntegerField(), "user_id": serializers.IntegerField(), "username": serializers.CharField(),
                                         "display_name": serializers.CharField(), "role": serializers.CharField(),
                                         "custom_role_id": serializers.IntegerField(allow_null=True)})


class MemberListView(APIView):
    @extend_schema(responses=inline_serializer("MemberList", {"members": serializers.ListField(child=serializers.DictField())}), summary="Members of your workspace")
    def get(self, request):
        actor = acting_membership(request)
        if not roles.can(actor, roles.MANAGE_MEMBERS):
            raise DomainError("forbidden", _("You cannot manage members."), status=403)
        rows = Membership.objects.filter(workspace_id=actor.workspace_id).select_related("user").order_by("pk")
        return Response({"members": [member_payload(m) for m in rows]})


class MemberDetailView(APIView):
    @extend_schema(request=MemberPatch, responses=MemberOut, summary="Change a member's role or custom role")
    def patch(self, request, membership_id):
        actor = acting_membership(request)
        data = strict(MemberPatch, request, actor, "member.change_role")
        if "role" in data:
            actions.change_role(actor, membership_id, data["role"])
        if "custom_role_id" in data:
            actions.set_custom_role(actor, membership_id, data["custom_role_id"])
        target = actions._target_membership(actor, membership_id, "member.read")
        return Response(member_payload(target))

    @extend_schema(responses={204: None}, summary="Remove a member from your workspace")
    def delete(self, request, membership_id):
        actions.remove_member(acting_membership(request), membership_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InboxAccessView(APIView):
    @extend_schema(request=AccessPut, responses=inline_serializer("AccessOk", {"granted": serializers.BooleanField()}),
                   summary="Grant or revoke a member's right to serve an inbox")
    def put(self, request, inbox_id, membership_id):
        actor = acting_membership(request)
        data = strict(AccessPut, request, actor, "inbox.access")
        set_inbox_access(actor, inbox_id, membership_id, data["granted"])
        return Response({"granted": data["granted"]})


class TokenListView(APIView):
    @extend_schema(responses=inline_serializer("TokenList", {"tokens": serializers.ListField(child=serializers.DictField())}), summary="Your API tokens")
    def get(self, request):
        actor = acting_membership(request)
        rows = ApiToken.objects.filter(membership=actor, revoked_at__isnull=True).order_by("pk")
        return Response({"tokens": [{"id": t.pk, "name": t.name, "prefix": t.prefix, "created_at": t.created_at, "last_used_at": t.last_used_at} for t in rows]})

    @extend_schema(request=TokenCreate, responses=inline_serializer("TokenCreated", {"id": serializers.IntegerField(), "key": serializers.CharField()}),
                   summary="Create an API token (the key is shown once)")
    def post(self, request):
        actor = acting_membership(request)
        if isinstance(request.auth, ApiToken):
            raise DomainError("forbidden", _("Create tokens from a logged-in session, not with a token."), status=403)
        data = strict(TokenCreate, request, actor, "api_token.create")
        token, key = tokens.issue(actor, data["name"])
        return Response({"id": token.pk, "key": key}, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    @extend_schema(responses={204: None}, summary="Revoke one of your API tokens")
    def delete(self, request, token_id):
        tokens.revoke(acting_membership(request), token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

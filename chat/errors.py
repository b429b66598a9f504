"""One error type for the chat engine: the WebSocket layer turns it into an
error frame, the HTTP layer into a 4xx with the same code and message."""

from django.utils.translation import gettext_lazy as _


class ChatError(Exception):
    status = 400

    def __init__(self, code, message, status=None):
        super().__init__(code)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status

    def as_dict(self):
        return {"code": self.code, "message": str(self.message)}


def invalid(code, message):
    return ChatError(code, message, status=400)


def not_found():
    # 404 for anything the actor may not see, so existence never leaks across workspaces.
    return ChatError("not_found", _("Conversation not found."), status=404)


def unauthenticated():
    return ChatError("unauthenticated", _("Authentication is required."), status=401)


def forbidden(message=None):
    return ChatError("forbidden", message or _("You are not allowed to do this."), status=403)

"""The one error type every app raises for bad input or refused actions. The WebSocket layer
turns it into an error frame, the HTTP layer into a 4xx with the same code and message."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status = 400

    def __init__(self, code, message, status=None):
        super().__init__(code)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status

    def as_dict(self):
        return {"code": self.code, "message": str(self.message)}


class FieldErrors(DomainError):
    """A 400 naming each bad field: {"error": {"code", "message", "fields": {key: message}}}."""

    def __init__(self, code, message, fields):
        super().__init__(code, message, status=400)
        self.fields = fields

    def as_dict(self):
        return {**super().as_dict(), "fields": self.field_messages()}

    def field_messages(self):
        return {key: str(text) for key, text in self.fields.items()}

    def page_context(self):
        """What a server-rendered page shows: the message on top, each field's own next to it."""
        return {"errors": self.field_messages(), "error_message": self.message}


def invalid(code, message):
    return DomainError(code, message, status=400)


def not_found(message=None):
    # 404 for anything the actor may not see, so existence never leaks across workspaces.
    return DomainError("not_found", message or _("Conversation not found."), status=404)


def unauthenticated():
    return DomainError("unauthenticated", _("Authentication is required."), status=401)


def forbidden(message=None):
    return DomainError("forbidden", message or _("You are not allowed to do this."), status=403)

from django.apps import AppConfig


class SurfacesConfig(AppConfig):
    """Where people meet the product: the agent console, the customer widget, the HTTP API, the
    WebSocket consumers, the demo pages and the demo data command. Thin: they call the domain
    actions below and render."""

    name = "surfaces"

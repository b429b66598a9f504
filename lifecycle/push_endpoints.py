"""Where the server may send Web Push: the one check of a push endpoint, used when a device
subscribes and again before every delivery, and the HTTP session deliveries go through.

An endpoint comes from the agent's browser, so it is attacker-controlled input: without these
checks an agent could make the server POST to loopback, private or cloud-metadata addresses
(SSRF). Accepted:

- https on port 443 to a known push service (WEB_PUSH["ALLOWED_HOSTS"]: Google FCM, Mozilla
  autopush, Apple, Microsoft WNS); their DNS is theirs, not the agent's;
- with WEB_PUSH["ALLOW_PUBLIC_ENDPOINTS"], https on port 443 to any host whose every resolved
  address is public;
- with WEB_PUSH["ALLOW_INSECURE_ENDPOINTS"] (tests' local push service only), http to
  127.0.0.1/localhost.

The session never follows a redirect, and checks the address each new connection actually
reached (DNS may answer differently between the check and the connection: rebinding)."""

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext_lazy
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError, NewConnectionError
from urllib3.util import parse_url

from helpdesk.errors import invalid

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
MAX_ENDPOINT_CHARS = 1000
# Networks that embed an IPv4 address reached through a translator (NAT64, RFC 6052/8215).
NAT64_NETWORKS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

BAD_FORMAT = gettext_lazy("The push endpoint must be an https:// address of at most 1000 characters.")
NOT_A_PUSH_SERVICE = gettext_lazy(
    "Notifications can only be sent through a browser's push service (Google, Mozilla, Apple or Microsoft); this address is not one.")
NOT_PUBLIC = gettext_lazy("The push endpoint must be a browser's push service or a public internet address on port 443.")


def _config():
    return settings.WEB_PUSH


def resolve(host):
    """Every address `host` resolves to, as text (raises OSError if none). Tests replace it."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)})


def is_public(address):
    """Whether an IP address (text) is on the public internet: not loopback, private, shared
    (100.64/10, where some clouds keep their metadata), link-local (169.254.169.254), unique-local,
    multicast, reserved or unspecified; IPv4 carried in IPv6 (mapped, 6to4, Teredo, NAT64) judged as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in network for network in NAT64_NETWORKS):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_private)


def is_known_push_service(host):
    """`host` matches WEB_PUSH["ALLOWED_HOSTS"]: an exact name, or "*.suffix" for any name under suffix."""
    for pattern in _config().get("ALLOWED_HOSTS", ()):
        pattern = pattern.strip().lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif pattern and host == pattern:
            return True
    return False


def insecure_local_allowed():
    return bool(_config().get("ALLOW_INSECURE_ENDPOINTS", False))


def check_endpoint(endpoint):
    """The endpoint if the server may post to it, else a DomainError (400). In public mode this
    resolves the host (a DNS lookup)."""
    if (not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_CHARS
            or not endpoint.isascii() or not endpoint.isprintable() or " " in endpoint or "\\" in endpoint):
        raise invalid("invalid_endpoint", BAD_FORMAT)
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port  # .port raises on a malformed port
        # What the connection will use (urllib3's parser) must be what was checked.
        sent_to = parse_url(endpoint)
    except (ValueError, LocationParseError):
        raise invalid("invalid_endpoint", BAD_FORMAT) from None
    if (not host or parts.username is not None or parts.password is not None or sent_to.auth
            or (sent_to.scheme, (sent_to.host or "").strip("[]").lower(), sent_to.port) != (parts.scheme, host, port)):
        raise invalid("invalid_endpoint", BAD_FORMAT)
    if parts.scheme == "http" and host in LOCAL_HOSTS and insecure_local_allowed():
        return endpoint
    if parts.scheme != "https":
        raise invalid("invalid_endpoint", BAD_FORMAT)
    public_mode = _config().get("ALLOW_PUBLIC_ENDPOINTS", False)
    if port not in (None, 443):
        raise invalid("endpoint_not_allowed", NOT_PUBLIC if public_mode else NOT_A_PUSH_SERVICE)
    if is_known_push_service(host):
        return endpoint
    if not public_mode:
        raise invalid("endpoint_not_allowed", NOT_A_PUSH_SERVICE)
    try:
        addresses = [host] if _is_ip(host) else resolve(host)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses or not all(is_public(address) for address in addresses):
        raise invalid("endpoint_not_allowed", NOT_PUBLIC)
    return endpoint


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- the HTTP session deliveries use ---------------------------------------------------------


def _peer_allowed(connection, peer, *, plain_http):
    if is_public(peer):
        return True
    # The tests' local push service: plain http to a loopback name, reaching loopback.
    local = plain_http and connection.host in LOCAL_HOSTS and insecure_local_allowed()
    return local and ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback


def _checked(connection_class, plain_http):
    class Checked(connection_class):
        def _new_conn(self):
            sock = super()._new_conn()
            if self.proxy:
                return sock  # through a proxy: the proxy resolves and connects (the endpoint was checked by name)
            peer = sock.getpeername()[0]
            if not _peer_allowed(self, peer, plain_http=plain_http):
                sock.close()
                raise NewConnectionError(self, "push endpoint resolved to a non-public address")
            return sock

    Checked.__name__ = f"PushChecked{connection_class.__name__}"
    return Checked


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _checked(HTTPConnection, plain_http=True)


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _checked(HTTPSConnection, plain_http=False)


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class PushSession(requests.Session):
    """requests.Session for push services: no redirects (a push service answers; a 3xx is a
    failure, not a place to go), and every direct connection checked by the address it reached."""

    def __init__(self):
        super().__init__()
        self.max_redirects = 0
        adapter = _CheckedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)

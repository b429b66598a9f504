"""Exit 0 when the PostgreSQL and Redis given as URLs accept connections, else 1 (printing why)."""

import socket
import sys
from urllib.parse import urlparse


def reachable(url, default_port):
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return False


pg, redis = sys.argv[1], sys.argv[2]
sys.exit(0 if reachable(pg, 5432) & reachable(redis, 6379) else 1)

"""What the widget editor hands an owner to copy: the one-line embed code and the server code that
signs a logged-in user (HMAC-SHA256 of the user id with the inbox secret, as chat.identity checks it)
in Python, Node.js, PHP and Java. The secret is read from the environment in each, never pasted."""

SECRET_ENV = "HELPDESK_INBOX_SECRET"

EMBED = '<script src="{origin}/static/chat/widget/loader.js" data-inbox="{key}" async></script>'

PAGE_IDENTITY = """<script>
  window.HelpdeskSettings = {{ identity: {{ userId: "{{user id}}", userHash: "{{hash from your server}}" }} }};
</script>"""

SERVER = {
    "Python": f"""import hashlib
import hmac
import os


def helpdesk_user_hash(user_id: str) -> str:
    secret = os.environ["{SECRET_ENV}"]
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
""",
    "Node.js": f"""const crypto = require("crypto");

function helpdeskUserHash(userId) {{
  return crypto.createHmac("sha256", process.env.{SECRET_ENV}).update(String(userId)).digest("hex");
}}
""",
    "PHP": f"""<?php
function helpdesk_user_hash(string $userId): string {{
    return hash_hmac('sha256', $userId, getenv('{SECRET_ENV}'));
}}
""",
    "Java": f"""import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

static String helpdeskUserHash(String userId) throws Exception {{
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(System.getenv("{SECRET_ENV}").getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
    return HexFormat.of().formatHex(mac.doFinal(userId.getBytes(StandardCharsets.UTF_8)));
}}
""",
}

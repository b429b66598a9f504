"""Per-message server cost of a customer send (with routing of a new conversation) and an agent
reply, in-process on a scratch SQLite file: queries and wall time. Run from the repository root:
.venv/bin/python scripts/bench_send_cost.py (FOLLOWUPS_SYNC=true counts the follow-up work, auto-replies included, too;
--configured: the workspace has reply settings, 20 keyword rules and a 203-word mask list)."""
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.gettempdir()}/send-cost-{os.getpid()}.sqlite3"
import django; django.setup()
from django.core.management import call_command

call_command("migrate", verbosity=0)
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from chat import messages as chat_messages
from conftest import make_agent, make_inbox, make_visitor, make_workspace

ws = make_workspace(); inbox = make_inbox(ws)
_, agent = make_agent(ws, [inbox], role=Role.FOUNDER)
if "--configured" in sys.argv:  # a workspace using issue 8: settings, 20 keyword rules, a mask list
    from replies.models import AutoReplyRule, ReplySettings, SensitiveWordList
    ReplySettings.objects.create(workspace=ws, welcome_message="欢迎！", queue_message="您排在第 {position} 位。")
    for k in range(20):
        AutoReplyRule.objects.create(workspace=ws, name=f"r{k}", keywords=f"关键词{k}\nkeyword{k}", reply_text="ok", ignore_pinyin=k % 2 == 0)
    SensitiveWordList.objects.create(workspace=ws, name="mask", words="\n".join(["微信", "QQ", "支付宝"] + [f"词{k}" for k in range(200)]))
times, queries = {"customer": [], "agent": []}, {"customer": [], "agent": []}
n, conv = 0, None
for i in range(300):
    visitor, _t = make_visitor(inbox)
    for who in ("customer", "agent"):
        n += 1
        actor = visitor if who == "customer" else agent
        kwargs = {} if who == "customer" else {"conversation_id": conv}
        with CaptureQueriesContext(connection) as q:
            t = time.perf_counter()
            m, _c = chat_messages.send_message(actor, client_msg_id=f"m{n}", body="你好，我的订单什么时候发货？", **kwargs)
            times[who].append((time.perf_counter() - t) * 1000)
        queries[who].append(len(q))
        conv = m.conversation_id
for who in times:
    t = sorted(times[who][50:])
    print(f"{who}: queries {statistics.median(queries[who][50:])}, time p50 {t[len(t)//2]:.2f} ms, p95 {t[int(len(t)*.95)]:.2f} ms")
os.remove(f"{tempfile.gettempdir()}/send-cost-{os.getpid()}.sqlite3")

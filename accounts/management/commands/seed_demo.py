"""Demo data for the embedded default: one workspace, two inboxes, three agents.

Idempotent: running it again resets the demo passwords and prints the logins."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Membership, Role, Workspace
from guardian.shortcuts import assign_perm

from chat.models import Inbox, Tag
from orders.models import Voucher
from replies.models import QuickPhrase
from routing.models import AgentGroup

DEMO_PASSWORD = "demo-pass-123"
AGENTS = [
    ("founder", "Fang 方", Role.FOUNDER),
    ("agent1", "Li 李", Role.AGENT),
    ("agent2", "Wang 王", Role.AGENT),
    ("verifier", "Zhou 周", Role.VERIFIER),
]
VOUCHERS = [("DEMO-0001", "双人下午茶套餐 Afternoon tea for two"), ("DEMO-0002", "满100减20 ¥20 off ¥100"), ("DEMO-0003", "订单 Order #10086")]


PHRASES = [
    ("hi", "问候 Greeting", "您好 {customer_name}，我是{agent_name}，很高兴为您服务！"),
    ("ship", "发货时间 Shipping", "订单一般在付款后 48 小时内发货，发货后会短信通知您物流单号。"),
    ("return", "退货 Returns", "收到商品 7 天内可无理由退货，请在订单页点击“申请售后”。"),
    ("thanks", "结束语 Closing", "感谢您的咨询，祝您生活愉快！如有其他问题随时联系我们。"),
]


class Command(BaseCommand):
    help = "Create or refresh the demo workspace, inboxes and agents."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        workspace, _ = Workspace.objects.get_or_create(slug="demo", defaults={"name": "Demo Shop 演示店铺"})
        AgentGroup.objects.get_or_create(workspace=workspace, name="Reception", defaults={"is_default": True})
        web, _ = Inbox.objects.get_or_create(workspace=workspace, name="Website", defaults={"kind": Inbox.Kind.WEB})
        app, _ = Inbox.objects.get_or_create(workspace=workspace, name="App", defaults={"kind": Inbox.Kind.APP})
        for username, display_name, role in AGENTS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = role == Role.FOUNDER
            user.save()
            Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role, "display_name": display_name})
            if role != Role.VERIFIER:
                for inbox in (web, app):
                    assign_perm("chat.reply_in_inbox", user, inbox)
        for code, title in VOUCHERS:
            kind = Voucher.Kind.ORDER if code == "DEMO-0003" else Voucher.Kind.VOUCHER
            Voucher.objects.get_or_create(workspace=workspace, code=code, defaults={"title": title, "kind": kind})
        for shortcut, title, body in PHRASES:
            QuickPhrase.objects.get_or_create(workspace=workspace, shortcut=shortcut, scope=QuickPhrase.Scope.WORKSPACE,
                                              defaults={"title": title, "body": body})
        for name in ("VIP", "新客", "退货"):
            Tag.objects.get_or_create(workspace=workspace, name=name)
        self.stdout.write(self.style.SUCCESS("Demo workspace ready."))
        self.stdout.write(f"  Widget on a demo shop page: /widget/demo/?inbox={web.public_key}   Full-page H5 chat: /widget/chat/?inbox={app.public_key}")
        self.stdout.write(f"  Bare protocol demo page: /demo/?inbox={web.public_key}")
        self.stdout.write("  Agent console: /console/   Verifier page: /verify/ (codes DEMO-0001..3)   Admin: /admin/")
        for username, display_name, role in AGENTS:
            self.stdout.write(f"  login {username:8} password {DEMO_PASSWORD}  ({role})")

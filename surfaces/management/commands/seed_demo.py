"""Demo data for the embedded default: one workspace, three inboxes (website, app, a WeChat
Official Account answered through the local WeChat simulator `make run` starts), four logins.

Idempotent: running it again resets the demo passwords and prints the logins. The password is
DEMO_PASSWORD from the environment, else a new random one on every run, printed once and stored
nowhere else (only its hash): `HOST=0.0.0.0 make run` must not open the founder's account, which
has no second factor yet, to anyone who has read the README."""

import os
import secrets
from datetime import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from guardian.shortcuts import assign_perm

from accounts.models import Membership, Role, Workspace
from chat.models import Disposition, Inbox, Tag, WrapUpSettings
from connectors.models import ChannelAccount
from knowledge import actions as kb
from knowledge.models import Article
from orders.models import Voucher
from replies.models import AutoReplyRule, QuickPhrase, ReplySettings, SensitiveWordList
from routing.models import AgentGroup



def demo_password():
    return os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)

AGENTS = [
    ("founder", "Fang 方", Role.FOUNDER),
    ("agent1", "Li 李", Role.AGENT),
    ("agent2", "Wang 王", Role.AGENT),
    ("verifier", "Zhou 周", Role.VERIFIER),
]
VOUCHERS = [("DEMO-0001", "双人下午茶套餐 Afternoon tea for two"), ("DEMO-0002", "满100减20 ¥20 off ¥100"), ("DEMO-0003", "订单 Order #10086")]


# The demo's WeChat Official Account: `make run` points WECHAT_API_BASE at the local simulator
# (connectors/wechat/simulator.py), which accepts any AppSecret. Compatible mode takes plain and
# encrypted callbacks, so scripts/wechat_customer.py works with or without --safe.
WECHAT_DEMO = {"name": "微信公众号（演示）", "app_id": "wxdemo0000000001", "app_secret": "demo-app-secret",
               "token": "demotoken", "aes_key": "DemoEncodingAESKey0123456789abcdefghijklmno"}


PHRASES = [
    ("hi", "问候 Greeting", "您好 {customer_name}，我是{agent_name}，很高兴为您服务！"),
    ("ship", "发货时间 Shipping", "订单一般在付款后 48 小时内发货，发货后会短信通知您物流单号。"),
    ("return", "退货 Returns", "收到商品 7 天内可无理由退货，请在订单页点击“申请售后”。"),
    ("thanks", "结束语 Closing", "感谢您的咨询，祝您生活愉快！如有其他问题随时联系我们。"),
]


AUTO_REPLIES = [
    # (name, keywords, match, pinyin, reply)
    ("营业时间 Opening hours", "营业时间\n几点上班\nopening hours", AutoReplyRule.Match.CONTAINS, False, "客服在线时间：每天 9:00–22:00。Our team is online 9:00–22:00 every day."),
    ("退货 Returns", "退货\n退款\nrefund", AutoReplyRule.Match.CONTAINS, True, "收到商品 7 天内可无理由退货：订单页 → 申请售后。稍后客服也会为您跟进。"),
    ("你好 Hello", "你好\n在吗\nhello\nhi", AutoReplyRule.Match.EXACT, False, "您好！请直接描述您的问题，客服马上为您服务。"),
]
ARTICLES = [
    ("returns", "如何申请退货", "收到商品 **7 天内**可无理由退货。\n\n1. 打开订单详情\n2. 点击“申请售后”\n3. 选择退货原因并提交", ["怎么退货", "退货流程"]),
    ("shipping", "多久发货", "付款后 **48 小时内**发货，发货后短信通知物流单号。", ["什么时候发货", "发货时间"]),
    ("invoice", "如何开发票", "在订单详情页点击“申请发票”，电子发票会发送到您的邮箱。", ["怎么开发票", "发票怎么开"]),
]
# For agents only (the console's 常见问题 picker), never in the help center or the bot.
INTERNAL_ARTICLES = [
    ("returns-review", "退货审核（内部）", "1. 先查物流签收记录\n2. 商品完好：在后台点击“同意退货”\n3. 有损坏：请顾客上传照片，转售后组", ["退货怎么审核"]),
]
WRAP_UP = ["退货退款", "物流查询", "发票", "商品咨询", "其他"]  # 咨询分类 chosen at resolve


class Command(BaseCommand):
    help = "Create or refresh the demo workspace, inboxes and agents."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        password = demo_password()
        workspace, _ = Workspace.objects.get_or_create(slug="demo", defaults={"name": "Demo Shop 演示店铺"})
        AgentGroup.objects.get_or_create(workspace=workspace, name="Reception", defaults={"is_default": True})
        web, _ = Inbox.objects.get_or_create(workspace=workspace, name="Website", defaults={"kind": Inbox.Kind.WEB})
        app, _ = Inbox.objects.get_or_create(workspace=workspace, name="App", defaults={"kind": Inbox.Kind.APP})
        wechat = self._wechat(workspace)
        for username, display_name, role in AGENTS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = role == Role.FOUNDER
            user.save()
            Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role, "display_name": display_name})
            if role != Role.VERIFIER:
                for inbox in (web, app, wechat):
                    assign_perm("chat.reply_in_inbox", user, inbox)
        for code, title in VOUCHERS:
            kind = Voucher.Kind.ORDER if code == "DEMO-0003" else Voucher.Kind.VOUCHER
            Voucher.objects.get_or_create(workspace=workspace, code=code, defaults={"title": title, "kind": kind})
        for shortcut, title, body in PHRASES:
            QuickPhrase.objects.get_or_create(workspace=workspace, shortcut=shortcut, scope=QuickPhrase.Scope.WORKSPACE,
                                              defaults={"title": title, "body": body})
        for name in ("VIP", "新客", "退货"):
            Tag.objects.get_or_create(workspace=workspace, name=name)
        self._replies(workspace)
        self._articles(workspace)
        wrap_up, _ = WrapUpSettings.objects.get_or_create(workspace=workspace)
        for position, name in enumerate(WRAP_UP):
            Disposition.objects.get_or_create(wrap_up=wrap_up, name=name, defaults={"position": position})
        self.stdout.write(self.style.SUCCESS("Demo workspace ready."))
        self.stdout.write(f"  Widget on a demo shop page: /widget/demo/?inbox={web.public_key}   Full-page H5 chat: /widget/chat/?inbox={app.public_key}")
        self.stdout.write(f"  Bare protocol demo page: /demo/?inbox={web.public_key}")
        self.stdout.write("  Agent console: /console/   Verifier page: /verify/ (codes DEMO-0001..3)   Admin: /admin/")
        self.stdout.write("  Auto-replies, hosting (22:00–08:00) and sensitive words: /admin/replies/")
        self.stdout.write(f"  A WeChat customer (replies arrive at the simulator: curl {settings.WECHAT_API_BASE}/_sim/sent):\n"
                          f"    .venv/bin/python scripts/wechat_customer.py --inbox={wechat.public_key} --token {WECHAT_DEMO['token']} --text 你好")
        for username, display_name, role in AGENTS:
            self.stdout.write(f"  login {username:8} password {password}  ({role})")
        if not os.environ.get("DEMO_PASSWORD"):
            self.stdout.write("  (Random, new on every run: note it now. DEMO_PASSWORD=... chooses one.)")

    def _wechat(self, workspace):
        """The WeChat Official Account inbox and its channel account (secrets written again on every
        run: they are encrypted with a key derived from SECRET_KEY, which may have changed)."""
        inbox, _ = Inbox.objects.get_or_create(workspace=workspace, name=WECHAT_DEMO["name"], defaults={"kind": Inbox.Kind.WECHAT_OA})
        account = ChannelAccount.objects.filter(inbox=inbox).first() or ChannelAccount(inbox=inbox)
        account.app_id, account.token, account.mode = WECHAT_DEMO["app_id"], WECHAT_DEMO["token"], ChannelAccount.Mode.COMPATIBLE
        account.app_secret = WECHAT_DEMO["app_secret"]
        account.aes_key = WECHAT_DEMO["aes_key"]
        account.save()
        return inbox

    def _replies(self, workspace):
        ReplySettings.objects.get_or_create(workspace=workspace, inbox=None, defaults={
            "welcome_message": "欢迎光临演示店铺！Welcome to the demo shop.",
            "queue_message": "客服正忙，您当前排在第 {position} 位，请稍候。You are number {position} in the queue.",
            "resolved_message": "本次服务已结束，感谢您的咨询！",
            "hosting_enabled": True,
            "hosting_message": "现在是夜间托管时间（22:00–08:00），您的留言我们会在上班后第一时间回复。",
            "hosting_start": time(22, 0), "hosting_end": time(8, 0), "hosting_no_answer_minutes": 3, "hosting_limit_minutes": 60,
        })
        for name, keywords, match, pinyin, reply in AUTO_REPLIES:
            AutoReplyRule.objects.get_or_create(workspace=workspace, name=name, defaults={
                "keywords": keywords, "match": match, "ignore_pinyin": pinyin, "reply_text": reply})
        SensitiveWordList.objects.get_or_create(workspace=workspace, name="站外联系方式 Off-platform contacts", defaults={
            "applies_to": SensitiveWordList.AppliesTo.BOTH, "action": SensitiveWordList.Action.MASK, "words": "微信\nVX\nQQ\n支付宝"})

    def _articles(self, workspace):
        """A few published help-center articles, so the help center and the bot have something to show."""
        founder = Membership.objects.get(workspace=workspace, user__username="founder")
        for internal, articles in ((False, ARTICLES), (True, INTERNAL_ARTICLES)):
            for slug, title, body, similar in articles:
                if not Article.objects.filter(workspace=workspace, slug=slug).exists():
                    article = kb.save_article(founder, slug=slug, versions={"zh-hans": {"title": title, "body": body, "similar_questions": similar}},
                                              internal_only=internal)
                    kb.publish(founder, article.pk)

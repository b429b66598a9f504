"""The audit log as sentences (issue 20 item 3): describe(log, names) per action in zh-Hans and en,
and the admin list that shows them with display names, refusals marked in words, no red icon per row."""

import pytest
from django.utils import translation

from accounts import actions, roles
from accounts.audit_text import AuditNames, describe, names_for
from accounts.models import AuditLog, CustomRole, Membership, Role
from conftest import make_agent, verified_client

NAMES = AuditNames(users={1: "老板娘"}, usernames={"xiaoli": "小李"}, members={"7": "小李"},
                   objects={("chat.inbox", "3"): "官网", ("routing.agentgroup", "4"): "售后组", ("accounts.customrole", "9"): "质检",
                            ("accounts.membership", "7"): "小李"})


def log(action, *, target_type="", target_id="", before=None, after=None, denied=False, actor_id=1):
    return AuditLog(action=action, actor_id=actor_id, target_type=target_type, target_id=target_id, before=before or {},
                    after=after or {}, denied=denied)


MEMBER = {"target_type": "accounts.membership", "target_id": "7"}
CASES = [
    (log("member.change_role", **MEMBER, before={"role": "agent"}, after={"role": "admin"}),
     "老板娘 把 小李 的角色从 客服 改为 管理员", "老板娘 changed the role of 小李 from Agent to Admin"),
    (log("member.add", **MEMBER, after={"user": "xiaoli", "role": "agent"}), "老板娘 添加了成员 小李，角色为 客服", "老板娘 added 小李 as Agent"),
    (log("member.remove", target_type="accounts.membership", target_id="70", before={"user": "xiaoli", "role": "verifier"}),
     "老板娘 移除了成员 小李（核销员）", "老板娘 removed 小李 (Verifier)"),
    (log("member.custom_role", **MEMBER, before={"custom_role": None}, after={"custom_role": 9}),
     "老板娘 给 小李 设置了自定义角色 质检", "老板娘 gave 小李 the custom role 质检"),
    (log("member.custom_role", **MEMBER, before={"custom_role": 9}, after={"custom_role": None}),
     "老板娘 取消了 小李 的自定义角色", "老板娘 took away the custom role of 小李"),
    (log("member.invite", after={"email": "a@example.com", "phone": "", "role": "agent"}),
     "老板娘 邀请 a@example.com 以 客服 身份加入", "老板娘 invited a@example.com to join as Agent"),
    (log("inbox.access", target_type="chat.inbox", target_id="3", before={"user": "xiaoli", "granted": False},
         after={"user": "xiaoli", "granted": True}),
     "老板娘 让 小李 接待接入渠道 官网", "老板娘 let 小李 serve the inbox 官网"),
    (log("inbox.access", target_type="chat.inbox", target_id="3", before={"user": "xiaoli", "granted": True},
         after={"user": "xiaoli", "granted": False}),
     "老板娘 取消了 小李 接待接入渠道 官网", "老板娘 stopped 小李 from serving the inbox 官网"),
    (log("group.supervise", target_type="routing.agentgroup", target_id="4", after={"user": "xiaoli", "granted": True}),
     "老板娘 把 小李 设为客服组 售后组 的主管", "老板娘 made 小李 a supervisor of the group 售后组"),
    (log("history.view_all", target_type="accounts.workspace", target_id="1", after={"user": "xiaoli", "granted": True}),
     "老板娘 允许 小李 查看全部会话历史", "老板娘 let 小李 view all conversation history"),
    (log("custom_role.define", target_type="accounts.customrole", target_id="9", after={"name": "质检", "capabilities": ["serve_chats", "view_all_history"]}),
     "老板娘 新建了自定义角色 质检：接待会话、查看全部会话历史", "老板娘 created the custom role 质检: Serve chats, View all conversation history"),
    (log("inbox.add", target_type="chat.inbox", target_id="3"), "老板娘 添加了接入渠道 官网", "老板娘 added inbox 官网"),
    (log("group.change", target_type="routing.agentgroup", target_id="4", before={"name": "售后"}, after={"name": "售后组"}),
     "老板娘 修改了客服组 售后组 的名称", "老板娘 changed name of agent group 售后组"),
    (log("member.change_role", **MEMBER, after={"refused": "cannot move founder to agent"}, denied=True),
     "老板娘 试图更改成员的角色，已拒绝", "老板娘 tried to change a member's role, and was refused"),
    (log("admin.unknown_object", after={"refused": {"model": "chat.inbox", "id": "99"}}, denied=True),
     "老板娘 试图打开不属于本工作区的项目，已拒绝", "老板娘 tried to open an item that is not in this workspace, and was refused"),
    (log("teleport.launch", target_type="chat.inbox", target_id="3", after={"warp": 9}), "老板娘 修改了接入渠道 官网",
     "老板娘 changed inbox 官网"),
    (log("teleport.launch", after={"warp": 9}, denied=True), "老板娘 试图执行其角色不允许的操作，已拒绝",
     "老板娘 tried to do something their role does not allow, and was refused"),
    (log("teleport.launch", actor_id=None), "已删除的账号 修改了本工作区的设置", "someone whose account was deleted made a change in this workspace"),
]


@pytest.mark.parametrize(("entry", "zh", "en"), CASES, ids=[f"{c[0].action}-{n}" for n, c in enumerate(CASES)])
def test_each_action_reads_as_a_sentence(entry, zh, en):
    with translation.override("zh-hans"):
        assert describe(entry, NAMES) == zh
    with translation.override("en"):
        assert describe(entry, NAMES) == en


def test_a_sentence_never_shows_codes():
    for entry, _zh, _en in CASES:
        with translation.override("zh-hans"):
            text = describe(entry, NAMES)
        for code in ("_", "member.", "chat.inbox", "serve_chats", "agent", "refused"):
            assert code not in text, (entry.action, text)


@pytest.mark.django_db
def test_the_admin_list_reads_as_sentences_with_display_names(personas):
    owner_m = Membership.objects.get(user=personas.owner_user)
    Membership.objects.filter(pk=owner_m.pk).update(display_name="老板娘")
    owner_m.refresh_from_db()
    agent_m = Membership.objects.get(user=personas.agent_a_user)
    Membership.objects.filter(pk=agent_m.pk).update(display_name="小李")
    actions.change_role(owner_m, agent_m.pk, Role.ADMIN)
    actions.set_object_permission(owner_m, action="inbox.access", capability=roles.CONFIGURE, perm="chat.reply_in_inbox",
                                  obj=personas.inbox_b, membership_id=agent_m.pk, granted=True)
    role = actions.define_custom_role(owner_m, "质检", [roles.VIEW_ALL_HISTORY])
    admin_user, admin_m = make_agent(personas.workspace, role=Role.ADMIN, username="shop_admin")
    with pytest.raises(Exception):
        actions.change_role(Membership.objects.get(user=admin_user), owner_m.pk, Role.AGENT)
    client = verified_client(personas.owner_user)
    client.cookies["django_language"] = "zh-hans"
    html = client.get("/admin/accounts/auditlog/").content.decode()
    assert "老板娘 把 小李 的角色从 客服 改为 管理员" in html
    assert "老板娘 让 小李 接待接入渠道 App B" in html
    assert "老板娘 新建了自定义角色 质检：查看全部会话历史" in html
    assert "shop_admin 试图更改成员的角色，已拒绝" in html
    assert html.count('class="audit-refused"') == 1  # the one refusal is marked in words
    assert "icon-no.svg" not in html and "icon-yes.svg" not in html
    assert "member.change_role" not in html
    detail = client.get(f"/admin/accounts/auditlog/{AuditLog.objects.get(action='custom_role.define', target_id=str(role.pk)).pk}/change/")
    assert "老板娘 新建了自定义角色 质检" in detail.content.decode()
    assert CustomRole.objects.filter(pk=role.pk).exists()


@pytest.mark.django_db
def test_names_for_a_page_take_a_constant_number_of_queries(personas, django_assert_num_queries):
    owner_m = Membership.objects.get(user=personas.owner_user)
    for n in range(6):
        actions.set_object_permission(owner_m, action="inbox.access", capability=roles.CONFIGURE, perm="chat.reply_in_inbox",
                                      obj=personas.inbox_b, membership_id=Membership.objects.get(user=personas.agent_a_user).pk,
                                      granted=n % 2 == 0)
    logs = list(AuditLog.objects.all())
    with django_assert_num_queries(2):  # the members, the inboxes (every actor is a member: no third)
        names = names_for(logs)
    assert names.objects[("chat.inbox", str(personas.inbox_b.pk))] == "App B"

"""Fill the zh_Hans catalogue from ZH_HANS below, derive zh_Hant with OpenCC (s2twp),
and make en an identity catalogue. Run after `make messages`; needs `pip install opencc`.
Then run `manage.py compilemessages`. Strings already translated are kept."""

import re
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent

ZH_HANS = {
    "name": "名称", "slug": "标识", "created at": "创建时间", "workspace": "工作区", "workspaces": "工作区",
    "Founder": "创始人", "Senior admin": "高级管理员", "Admin": "管理员", "Agent": "客服", "Verifier": "核销员",
    "role": "角色", "display name": "显示名称", "membership": "成员", "memberships": "成员",
    "The visitor token is missing or invalid.": "访客凭证缺失或无效。",
    "This chat is not available.": "此会话入口不可用。",
    "client_msg_id is required so that retries are safe.": "必须提供 client_msg_id，以便安全重试。",
    "client_msg_id must be 1-64 letters, digits or . _ : -": "client_msg_id 须为 1-64 个字母、数字或 . _ : -",
    "The message body must be text.": "消息内容必须是文本。",
    "The message is too long (at most %(limit)s characters).": "消息过长（最多 %(limit)s 个字符）。",
    "The message body contains a NUL character.": "消息内容包含空字符。",
    "The message is empty.": "消息为空。",
    "An image or file message needs an attachment.": "图片或文件消息需要附件。",
    "Attachments must be a list of at most %(n)s items.": "附件须为列表，最多 %(n)s 项。",
    "Each attachment needs an http(s) or site-relative url.": "每个附件都需要 http(s) 或站内相对地址。",
    "Attachment name must be text and size a non-negative integer.": "附件名称须为文本，大小须为非负整数。",
    "Unsupported message type.": "不支持的消息类型。",
    "is_private must be true or false.": "is_private 必须为 true 或 false。",
    "Only agents can write private notes.": "只有客服可以写内部备注。",
    "conversation_id is required.": "必须提供 conversation_id。",
    "This conversation is closed.": "此会话已关闭。",
    "after_seq and limit must be integers.": "after_seq 和 limit 必须是整数。",
    "after_seq must be >= 0 and limit between 1 and %(n)s.": "after_seq 必须 >= 0，limit 须在 1 到 %(n)s 之间。",
    "seq must be a non-negative integer.": "seq 必须是非负整数。",
    "Unknown or unsupported target state.": "未知或不支持的目标状态。",
    "This conversation cannot move to that state now.": "此会话当前不能转到该状态。",
    "Message not found.": "未找到消息。",
    "This message can no longer be recalled.": "此消息已超过可撤回时间。",
    "Unknown state.": "未知状态。",
    "You are not a member of any workspace.": "你不属于任何工作区。",
    "Send JSON text frames.": "请发送 JSON 文本帧。",
    "The frame is too large.": "数据帧过大。",
    "The frame is not valid JSON.": "数据帧不是有效的 JSON。",
    "A frame must be a JSON object with a type.": "数据帧必须是带 type 字段的 JSON 对象。",
    "Unknown frame type.": "未知的帧类型。",
    "Something went wrong; please retry.": "出错了，请重试。",
    "Please log in.": "请先登录。",
    "Conversation not found.": "未找到会话。",
    "Authentication is required.": "需要身份验证。",
    "You are not allowed to do this.": "你无权执行此操作。",
    "Web widget": "网页插件", "App": "应用", "WeChat mini program": "微信小程序", "WeChat official account": "微信公众号",
    "WeCom customer service": "微信客服（企业微信）", "E-mail": "电子邮件", "API": "API", "kind": "类型",
    "public key": "公开密钥", "secret": "密钥", "bot answers first": "机器人优先", "inbox": "接入渠道", "inboxes": "接入渠道",
    "inbox member": "渠道成员", "inbox members": "渠道成员", "merchant user id": "商户用户 ID", "attributes": "属性",
    "customer": "客户", "customers": "客户", "Visitor %(id)s": "访客 %(id)s",
    "With bot": "机器人接待中", "Queued": "排队中", "Assigned": "已分配", "Pending": "待处理", "Resolved": "已解决", "Closed": "已关闭",
    "state": "状态", "entry page": "来源页面", "conversation": "会话", "conversations": "会话",
    "Customer": "客户", "Bot": "机器人", "System": "系统", "Text": "文本", "Image": "图片", "File": "文件", "Card": "卡片",
    "Article": "文章", "Event": "事件", "private note": "内部备注", "message": "消息", "messages": "消息",
    "Created": "已创建", "State changed": "状态变更", "First response": "首次响应", "Message recalled": "消息已撤回",
    "conversation event": "会话事件", "conversation events": "会话事件",
    "Connecting…": "连接中…", "Online": "在线", "Offline, reconnecting…": "已离线，正在重连…",
    "Connected (compatibility mode)": "已连接（兼容模式）", "Me": "我", "(recalled)": "（已撤回）",
    "Simplified Chinese": "简体中文", "Traditional Chinese": "繁体中文", "English": "英语",
    "default reception group": "默认接待组", "agent group": "客服组", "agent groups": "客服组",
    "Helpdesk": "客服系统", "Signed in as %(name)s": "当前登录：%(name)s", "Log out": "退出登录", "Conversation": "会话",
    "No conversations yet: open the demo page and say hello": "暂无会话：打开演示页面发一条消息吧",
    "The customer is typing…": "客户正在输入…", "Your reply": "你的回复", "Type a reply": "输入回复",
    "Send": "发送", "Chat with us": "联系我们", "Chat with %(name)s": "与 %(name)s 对话", "The agent is typing…": "客服正在输入…",
    "Your message": "你的消息", "Type a message": "输入消息", "Agent page": "客服页面", "Log in": "登录", "Agent log in": "客服登录",
    "Your username and password didn't match. Please try again.": "用户名或密码不正确，请重试。",
    "Username": "用户名", "Password": "密码",
}

ENTRY = re.compile(r'(msgid "((?:[^"\\]|\\.)*)"\nmsgstr ")("\n)', re.M)


def fill(path, translate):
    text = path.read_text()
    missing = []

    def repl(m):
        msgid = m.group(2).encode().decode("unicode_escape").encode("latin-1").decode("utf-8") if "\\" in m.group(2) else m.group(2)
        if not msgid:
            return m.group(0)
        value = translate(msgid)
        if value is None:
            missing.append(msgid)
            return m.group(0)
        return f'{m.group(1)}{value.replace(chr(34), chr(92) + chr(34))}{m.group(3)}'

    text = ENTRY.sub(repl, text)
    text = text.replace("#, fuzzy\n", "", 1)
    path.write_text(text)
    return missing


def main():
    import opencc

    to_hant = opencc.OpenCC("s2twp")
    locale = BASE / "locale"
    missing = fill(locale / "zh_Hans/LC_MESSAGES/django.po", ZH_HANS.get)
    fill(locale / "zh_Hant/LC_MESSAGES/django.po", lambda s: to_hant.convert(ZH_HANS[s]) if s in ZH_HANS else None)
    fill(locale / "en/LC_MESSAGES/django.po", lambda s: s)
    if missing:
        print("untranslated (zh_Hans):", *missing, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()

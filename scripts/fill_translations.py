"""Fill the zh_Hans catalogue from ZH_HANS below, derive zh_Hant with OpenCC (s2twp),
and make en an identity catalogue. Run after `make messages`; needs `pip install opencc`.
Then run `manage.py compilemessages`. Strings already translated are kept."""

import re
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent

ZH_HANS = {
    # Web Push and the installable console (issue 5)
    "The push endpoint must be an https:// address of at most 1000 characters.": "推送地址必须是不超过 1000 个字符的 https:// 地址。",
    "Send the browser's push subscription: a JSON object with endpoint and keys.": "请发送浏览器的推送订阅：包含 endpoint 和 keys 的 JSON 对象。",
    "keys.p256dh must be a base64url-encoded P-256 public key (65 bytes).": "keys.p256dh 必须是 base64url 编码的 P-256 公钥（65 字节）。",
    "keys.auth must be a base64url-encoded 16-byte secret.": "keys.auth 必须是 base64url 编码的 16 字节密钥。",
    "visible must be true or false.": "visible 必须是 true 或 false。",
    "New message from %(name)s": "%(name)s 发来新消息",
    "New conversation for you: %(name)s": "分配给你的新会话：%(name)s",
    "A customer is waiting: %(name)s": "有客户在等待接待：%(name)s",
    "New conversation": "新会话",
    "Test notification": "测试通知",
    "Notifications work on this device.": "本设备可以正常接收通知。",
    "This browser cannot receive push notifications (on iPhone and iPad: add the console to the home screen first).": "此浏览器无法接收推送通知（iPhone 和 iPad 上请先将工作台添加到主屏幕）。",
    "Notifications are blocked for this site: allow them in the browser's site settings, then try again.": "本网站的通知已被屏蔽：请在浏览器的网站设置中允许通知，然后重试。",
    "Notifications are on for this device.": "本设备已开启通知。",
    "Could not turn notifications on. Please try again.": "无法开启通知，请重试。",
    "Test sent: %(sent)s delivered, %(failed)s failed.": "测试通知已发送：%(sent)s 个送达，%(failed)s 个失败。",
    "No device is registered yet: enable notifications first.": "还没有登记任何设备：请先开启通知。",
    "Answer your customers' chats.": "回复客户的咨询。",
    "The request body must be JSON.": "请求内容必须是 JSON。",
    "Notifications": "通知",
    "When no console tab is open in front of you, new chats and customer messages can still reach you as notifications on this computer or phone. While a console tab is visible you get no notification: the console shows the chat itself.": "当你面前没有打开的工作台页面时，新会话和客户消息仍会以通知的形式发送到这台电脑或手机上。工作台页面可见时不会发送通知：工作台会直接显示会话。",
    "You are told about chats assigned to you and, while you are online or busy, about customers waiting in the inboxes you serve. Going offline stops notifications.": "你会收到分配给你的会话的通知；在线或忙碌时，还会收到你接待的渠道中等待接待的客户的通知。切换为离线后不再发送通知。",
    "Enable notifications on this device": "在本设备上开启通知",
    "Send a test push": "发送测试推送",
    "Your devices": "你的设备",
    "Unknown browser": "未知浏览器",
    "added %(when)s": "添加于 %(when)s",
    "last delivered %(when)s": "最近送达 %(when)s",
    "failed deliveries: %(n)s": "送达失败：%(n)s 次",
    "No device receives notifications yet.": "还没有设备接收通知。",
    "This type of file is not allowed. Send an image (PNG, JPEG, GIF, WebP), a PDF, a Word, Excel or PowerPoint document, a ZIP archive, plain text, or MP3, M4A or MP4 audio or video.": "不支持此类型的文件。请发送图片（PNG、JPEG、GIF、WebP）、PDF、Word/Excel/PowerPoint 文档、ZIP 压缩包、纯文本，或 MP3、M4A、MP4 音视频。",
    "The image is too large (at most %(limit)s MB).": "图片太大（最大 %(limit)s MB）。",
    "The file is too large (at most %(limit)s MB).": "文件太大（最大 %(limit)s MB）。",
    "The archive is damaged.": "压缩包已损坏。",
    "Office documents with macros are not allowed.": "不允许发送包含宏的 Office 文档。",
    "Web pages, SVG, XML and scripts are not allowed.": "不允许发送网页、SVG、XML 或脚本文件。",
    "Programs and scripts are not allowed.": "不允许发送程序或脚本文件。",
    "The file is not the image it claims to be.": "文件内容与其声称的图片类型不符。",
    "Send the file in the multipart field \"file\".": "请在 multipart 表单字段“file”中发送文件。",
    "The file is empty.": "文件为空。",
    "Only files uploaded to this chat can be attached, not links.": "只能发送上传到本会话的文件，不能发送链接。",
    "open chats": "进行中的会话",
    "{\"timezone\": \"Asia/Shanghai\", \"weekly\": {\"mon\": [[\"09:00\", \"18:00\"]]}, \"holidays\": [\"2026-10-01\"]}; empty: always open": "{\"timezone\": \"Asia/Shanghai\", \"weekly\": {\"mon\": [[\"09:00\", \"18:00\"]]}, \"holidays\": [\"2026-10-01\"]}；留空表示全天营业",
    "Invalid business hours: %(reason)s": "营业时间无效：%(reason)s",
    "business hours": "营业时间",
    "leave a message when no agent is online": "无客服在线时转为留言",
    "queued at": "排队时间",
    "assigned at": "分配时间",
    "left as a message": "留言",
    "VIP level": "VIP 等级",
    "Queued or pooled by routing": "分流排队或进入待领取池",
    "Transferred": "已转接",
    "Default reception group": "默认接待组",
    "We are away right now. Leave your message and contact details, and we will reply as soon as we are back.": "我们暂时不在线。请留下您的问题和联系方式，我们回来后会尽快回复您。",
    "Someone else has already taken this conversation.": "该会话已被其他客服接入。",
    "You are at your chat limit or not online.": "你已达到接待上限或未在线。",
    "Unknown status.": "未知状态。",
    "Capacity must be between 0 and %(n)s.": "接待上限必须在 0 到 %(n)s 之间。",
    "Transfer to one agent or one group.": "请转接给一位客服或一个客服组。",
    "The note must be text of at most 1000 characters.": "备注必须是不超过 1000 个字符的文本。",
    "No such agent serves this inbox.": "没有这位接待此渠道的客服。",
    "That agent is at their chat limit or not online.": "该客服已达到接待上限或未在线。",
    "Your conversation was transferred to %(name)s.": "您的会话已转接给 %(name)s。",
    "a colleague": "一位同事",
    "No such group.": "没有这个客服组。",
    "priority": "优先级",
    "When several groups match, the lowest number wins.": "同时满足多个客服组时，数字最小的优先。",
    "strategy": "分配策略",
    "rules": "规则",
    "enabled": "启用",
    "members": "成员",
    "capacity": "接待上限",
    "Most chats served at once.": "同时接待的最大会话数。",
    "agent presence": "客服在线状态",
    "agent presences": "客服在线状态",
    "Give an e-mail address or a phone number.": "请填写电子邮件地址或手机号码。",
    "Enter a valid e-mail address.": "请输入有效的电子邮件地址。",
    "Enter a valid phone number.": "请输入有效的手机号码。",
    "This invitation link is not valid.": "此邀请链接无效。",
    "This invitation has already been used.": "此邀请已被使用。",
    "This invitation has expired. Ask for a new one.": "此邀请已过期，请重新申请。",
    "You are already a member of this workspace.": "你已经是此工作区的成员。",
    "The file has no rows.": "文件中没有数据行。",
    "At most %(n)s rows per file.": "每个文件最多 %(n)s 行。",
    "The header must be: %(cols)s": "表头必须是：%(cols)s",
    "missing or repeated username": "用户名缺失或重复",
    "username already taken": "用户名已被占用",
    "invalid e-mail": "电子邮件无效",
    "role not allowed: %(role)s": "不允许的角色：%(role)s",
    "unknown inbox: %(names)s": "未知渠道：%(names)s",
    "line %(line)s: %(problems)s": "第 %(line)s 行：%(problems)s",
    "View all history": "查看全部历史",
    "Agents see only their own conversations unless this is ticked (admin roles always see all).": "未勾选时客服只能看到自己的会话（管理员角色始终可以看到全部）。",
    "%(n)s members created. Send each one their link to choose a password.": "已创建 %(n)s 名成员。请把各自的链接发给他们设置密码。",
    "The file must be UTF-8 text.": "文件必须是 UTF-8 文本。",
    "Import members from CSV": "从 CSV 导入成员",
    "CSV file": "CSV 文件",
    "You are invited to %(workspace)s": "你受邀加入 %(workspace)s",
    "Open this link within 72 hours to join: %(link)s": "请在 72 小时内打开此链接加入：%(link)s",
    "Invitation link (shown once, valid 72 hours): %(link)s": "邀请链接（仅显示一次，72 小时内有效）：%(link)s",
    "Password again": "再次输入密码",
    "The two passwords differ.": "两次输入的密码不一致。",
    "This username is taken.": "此用户名已被占用。",
    "e-mail": "电子邮件",
    "phone": "手机号码",
    "expires at": "过期时间",
    "accepted at": "接受时间",
    "invitation": "邀请",
    "invitations": "邀请",
    "Join the team": "加入团队",
    "Join %(workspace)s": "加入 %(workspace)s",
    "You are invited as: %(role)s.": "你受邀担任：%(role)s。",
    "You will join with your account %(name)s.": "你将使用账号 %(name)s 加入。",
    "Choose a password for your account %(name)s.": "为你的账号 %(name)s 设置密码。",
    "Accept the invitation": "接受邀请",
    "Invitation": "邀请",
    "Import from CSV": "从 CSV 导入",
    "Invite": "邀请",
    "Columns (first line): %(columns)s. Role defaults to agent; inboxes are inbox names separated by “;”. Every line is checked first: one bad line and nothing is created.": "列（第一行）：%(columns)s。角色默认为客服；渠道为以“;”分隔的渠道名称。所有行会先检查：只要有一行有误，就不会创建任何成员。",
    "Import": "导入",
    "Role": "角色",
    "Link to choose a password": "设置密码的链接",
    # Voucher and order verification (orders app, issue 3: the verifier role)
    "No voucher or order with this code.": "没有此券码对应的券或订单。", "Enter a code.": "请输入券码。",
    "You are not allowed to verify vouchers or orders.": "你无权核销券或订单。",
    "someone no longer in this workspace": "已不在此工作区的成员",
    "Already verified by %(name)s on %(when)s.": "已由 %(name)s 于 %(when)s 核销。",
    "This voucher or order has been voided and cannot be used.": "此券或订单已作废，不能使用。",
    "This voucher or order has expired.": "此券或订单已过期。",
    "This workspace already has a voucher or order with this code.": "此工作区已有相同券码的券或订单。",
    "Choose a customer of the same workspace.": "请选择同一工作区的客户。",
    "Vouchers and orders": "券和订单", "vouchers and orders": "券和订单", "voucher or order": "券或订单",
    "Voucher": "券", "Order": "订单", "Valid": "有效", "Verified": "已核销", "Void": "已作废", "Expired": "已过期",
    "code": "券码", "title": "标题", "status": "状态", "valid until": "有效期至", "verified at": "核销时间", "verified by": "核销人",
    "Verified: %(title)s (%(code)s).": "已核销：%(title)s（%(code)s）。",
    "Verify a voucher or order": "核销券或订单", "Voucher or order code": "券码或订单号",
    "Type the code the customer shows you.": "输入客户出示的券码。", "Look up": "查询",
    "Code": "券码", "Kind": "类型", "Status": "状态", "Valid until": "有效期至", "No expiry date": "无到期日",
    "Not linked to a customer": "未关联客户", "by %(name)s on %(when)s": "由 %(name)s 于 %(when)s 核销",
    "Mark as verified": "标记为已核销",
    "Invalid input.": "输入无效。",
    "Fields not accepted here: %(fields)s": "此处不接受这些字段：%(fields)s",
    "You cannot manage members.": "你不能管理成员。",
    "Create tokens from a logged-in session, not with a token.": "请在已登录的会话中创建令牌，而不是使用令牌创建。",
    "You cannot manage members of this workspace.": "你不能管理此工作区的成员。",
    "You cannot give or take away this role.": "你不能授予或收回此角色。",
    "You cannot assign this custom role.": "你不能分配此自定义角色。",
    "Helpdesk administration": "客服系统管理", "Workspace settings": "工作区设置",
    "API token": "API 令牌", "API tokens": "API 令牌", "Invalid or revoked API token.": "API 令牌无效或已撤销。",
    "agent serving this inbox": "接待此渠道的客服", "agents serving this inbox": "接待此渠道的客服",
    "Please complete the two-factor sign-in first.": "请先完成两步验证登录。",
    "supervisor": "主管", "supervisors": "主管",
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
    # Roles and permissions (issue 3)
    "Not found.": "未找到。", "Unknown role.": "未知角色。", "This person is already a member.": "此人已是成员。",
    "A workspace must keep at least one founder.": "工作区必须至少保留一名创始人。",
    "A custom role cannot grant member management.": "自定义角色不能授予成员管理权限。", "A name is required.": "必须填写名称。",
    "Can view every conversation of the workspace": "可查看工作区的所有会话",
    "workspace permission": "工作区权限", "workspace permissions": "工作区权限", "capabilities": "权限项",
    "custom role": "自定义角色", "custom roles": "自定义角色", "action": "操作", "target type": "对象类型", "target id": "对象 ID",
    "before": "变更前", "after": "变更后", "denied": "已拒绝", "when": "时间", "audit log entry": "审计日志条目", "audit log": "审计日志",
    "Serve chats": "接待会话", "View all conversation history": "查看全部会话历史",
    "Configure inboxes, groups, routing, phrases and knowledge base": "配置接入渠道、客服组、路由、快捷短语和知识库",
    "Manage members": "管理成员", "Define custom roles": "定义自定义角色", "View the audit log": "查看审计日志",
    "Verify vouchers and orders": "核销券码和订单", "Use the admin site": "使用管理后台",
    "Can serve and reply in this inbox": "可在此渠道接待和回复", "inbox permission": "渠道权限", "inbox permissions": "渠道权限",
    "Can supervise this group's conversations": "可监管此客服组的会话",
    "agent group permission": "客服组权限", "agent group permissions": "客服组权限",
    # Login security (issue 3): lockout, two-factor, password change
    "Too many failed log-in attempts": "登录失败次数过多",
    "Logging in to this account from your network is locked for %(minutes)s minutes.": "此账号在你的网络下已被锁定登录 %(minutes)s 分钟。",
    "Wait and try again, or ask an administrator to unlock it.": "请稍后再试，或请管理员解锁。", "Back to log in": "返回登录",
    "Two-factor verification": "两步验证", "Two-factor authentication": "两步验证", "Verify": "验证",
    "Enter the six-digit code from your authenticator app to finish logging in.": "请输入身份验证器应用中的六位验证码以完成登录。",
    "Two-factor verification is required. Finish logging in first.": "需要两步验证，请先完成登录。",
    "Six-digit code": "六位验证码", "Enter the digits your authenticator app shows.": "请输入身份验证器应用显示的数字。",
    "That code is not valid. Wait for the next code and try again.": "验证码无效，请等待下一个验证码后重试。",
    "That code is not valid. Check the time on your phone and try again.": "验证码无效，请检查手机时间后重试。",
    "Too many wrong codes. Wait a little and try again.": "错误次数过多，请稍候再试。",
    "Set up two-factor authentication": "设置两步验证", "Two-factor authentication is on for your account.": "你的账号已开启两步验证。",
    "Your role requires two-factor authentication. Set it up to continue.": "你的角色要求开启两步验证，请先完成设置。",
    "Scan this QR code with an authenticator app (for example Google Authenticator, Microsoft Authenticator or FreeOTP), or enter the secret key by hand.":
        "用身份验证器应用（例如 Google Authenticator、Microsoft Authenticator 或 FreeOTP）扫描此二维码，或手动输入密钥。",
    "QR code for your authenticator app": "身份验证器应用的二维码", "Secret key": "密钥", "Setup link": "设置链接",
    "Then enter the six-digit code the app shows": "然后输入应用显示的六位验证码", "Turn on two-factor authentication": "开启两步验证",
    "Change password": "修改密码", "Password changed": "密码已修改", "Back to the agent page": "返回客服页面",
    "Changing your password logs out your other sessions.": "修改密码后，你的其他会话将退出登录。",
    "Your password was changed. Your other sessions have been logged out.": "密码已修改，你的其他会话已退出登录。",
}

UNESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(parts):
    """The text of a msgid/msgstr given its quoted lines (msgmerge wraps long ones)."""
    raw = "".join(part.strip()[1:-1] for part in parts)
    return re.sub(r"\\(.)", lambda m: UNESCAPES.get(m.group(1), m.group(1)), raw)


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _field(lines, at, keyword):
    """(text, index after the field) of the keyword's line and its continuation lines."""
    parts = [lines[at][len(keyword) + 1:]]
    at += 1
    while at < len(lines) and lines[at].startswith('"'):
        parts.append(lines[at])
        at += 1
    return _unquote(parts), at


def fill(path, translate):
    """Fill every empty msgstr from translate(msgid). Fuzzy guesses from msgmerge (a similar
    old string's translation) are dropped and filled like new strings; translated ones are kept."""
    missing = []
    blocks = path.read_text().split("\n\n")
    for n, block in enumerate(blocks):
        lines = block.split("\n")
        starts = [i for i, line in enumerate(lines) if line.startswith("msgid ")]
        if not starts or any(line.startswith("#~") for line in lines):
            continue
        at = starts[0]
        comments = lines[:at]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in comments)
        if fuzzy:
            comments = [line for line in comments if not line.startswith("#|")]
            comments = [", ".join(f for f in line.split(", ") if f not in ("#, fuzzy", "fuzzy")) if line.startswith("#,") else line for line in comments]
            comments = ["#, " + line[2:].lstrip(", ") if line.startswith("#,") and line != "#," else line for line in comments]
            comments = [line for line in comments if line not in ("#,", "#, ")]
        msgid, after_id = _field(lines, at, "msgid")
        if lines[after_id].startswith("msgid_plural"):
            missing.append(msgid + " (plural forms: not supported here)")
            continue
        msgstr, after_str = _field(lines, after_id, "msgstr")
        value = msgstr if msgstr and not fuzzy else None
        if msgid and value is None:
            value = translate(msgid)
            if value is None:
                missing.append(msgid)
                value = ""
        if not msgid:  # the header: keep it, without the fuzzy mark
            blocks[n] = "\n".join(comments + lines[at:])
            continue
        blocks[n] = "\n".join(comments + lines[at:after_id] + [f"msgstr {_quote(value)}"] + lines[after_str:])
    path.write_text("\n\n".join(blocks))
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

"""The console's words in Chinese and English (one catalog; `zh` is the default)."""
from __future__ import annotations

LANGS = ("zh", "en")

WORDS = {
    "app": ("抄收 · 营业厅控制台", "Chaoshou · office console"),
    "today": ("今日", "Today"), "routes": ("抄表段", "Routes"), "accounts": ("用户", "Accounts"),
    "exceptions": ("异常", "Exceptions"), "voids": ("作废", "Voids"),
    "devices": ("设备", "Devices"), "shifts": ("班次", "Shifts"), "reports": ("报表", "Reports"),
    "sign_in": ("登录", "Sign in"), "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "Username"), "password": ("密码", "Password"),
    "bad_credentials": ("用户名或密码错误", "Wrong username or password"),
    "locked": ("错误次数过多，账户已锁定 15 分钟", "Too many wrong passwords: locked for 15 minutes"),
    "forbidden": ("您的角色无权执行此操作", "Your role may not do this"),
    "csrf": ("表单已过期，请刷新页面后重试", "The form has expired: reload the page and try again"),
    "not_found": ("未找到", "Not found"),
    "invalid_field": ("请检查此项：", "Please check the field:"),
    "role_supervisor": ("主管", "Supervisor"), "role_cashier": ("收费室", "Cashier office"),
    "role_auditor": ("稽核（只读）", "Auditor (read-only)"),
    "progress": ("抄表进度", "Reading progress"), "route": ("抄表段", "Route"),
    "reader": ("抄表员", "Reader"), "device": ("设备", "Device"), "read": ("已抄", "Read"),
    "skipped": ("跳过", "Skipped"), "unread": ("未抄", "Unread"), "total": ("总数", "Total"),
    "collections_today": ("今日收费（按渠道）", "Collections today by channel"),
    "channel": ("渠道", "Channel"), "amount": ("金额", "Amount"), "count": ("笔数", "Count"),
    "open_exceptions": ("未处理异常", "Open exceptions"),
    "devices_unseen": ("超过一天未联网的设备", "Devices not seen for a day"),
    "shifts_open": ("未结班次", "Shifts not closed"),
    "none": ("无", "None"), "kind": ("类型", "Kind"), "message": ("说明", "Message"),
    "account": ("户号", "Account"), "name": ("户名", "Name"), "address": ("地址", "Address"),
    "assign": ("派工", "Assign"), "reason": ("原因", "Reason"), "date": ("抄表日", "Read date"),
    "request_download": ("要求下载", "Request download"),
    "download_requested": ("待下载", "Download requested"),
    "readings": ("抄表记录", "Readings"), "flags": ("标记", "Flags"), "value": ("示数", "Value"),
    "gps_map": ("抄表位置", "Reading positions"), "status": ("状态", "Status"),
    "photo": ("照片", "Photo"), "photo_full": ("查看原图", "Open the whole photo"),
    "photo_pending": ("照片尚未收到", "Photo not arrived yet"),
    "search": ("查询", "Search"), "search_hint": ("户号、户名或地址（可输入一两个汉字）",
                                                  "Account no, name or address (one or two characters will do)"),
    "arrears": ("欠费", "Arrears"), "credit": ("预存", "Credit"), "payments": ("缴费记录", "Payments"),
    "receipts": ("收据", "Receipts"), "verified": ("已验证", "Verified"),
    "not_verified": ("验证失败", "Not verified"), "method": ("方式", "Method"),
    "action": ("处理", "Action"), "who": ("处理人", "By"), "when": ("时间", "When"),
    "resolve": ("处理", "Resolve"), "resolved": ("已处理", "Resolved"),
    "act_credit": ("转预存", "Credit"), "act_refund": ("退款", "Refund"),
    "act_reassign": ("改派", "Re-assign"), "act_write_off": ("核销", "Write off"),
    "target_account": ("改派到户号", "Re-assign to account"),
    "f_target_account": ("改派到户号", "Re-assign to account"),
    # refusals of a settlement (sync/gateway/settlement.py): nothing was changed
    "already_resolved": ("该异常已处理，未做任何更改", "This exception is already resolved: "
                         "nothing was changed"),
    "unknown_exception": ("没有这个异常", "No such exception"),
    "unknown_account": ("户号不存在或已销户，未做任何更改：", "No such open account, nothing was "
                        "changed:"),
    "action_not_allowed": ("此类异常不能这样处理（客户付的款转预存、退款或改派；其他异常核销），"
                           "未做任何更改", "This exception cannot be settled so (money a "
                           "customer paid is credited, refunded or re-assigned; anything else "
                           "is written off): nothing was changed"),
    "same_account": ("目标户号与原户号相同，未做任何更改", "The target is the payment's own "
                     "account: nothing was changed"),
    "payment_voided": ("该笔付款已作废，款项已随作废冲回，未做任何更改",
                       "This payment was voided and its money went back with the void: "
                       "nothing was changed"),
    "payment_reversed": ("该笔付款已由支付平台退回，未做任何更改",
                         "The platform has already given this payment back: nothing was "
                         "changed"),
    "nothing_to_settle": ("此异常没有可处理的金额，未做任何更改", "This exception carries no "
                          "amount: nothing was changed"),
    "settlements": ("异常处理（退款、核销等）", "Settlements (refunds, write-offs…)"),
    "refunded": ("已退款", "Refunded"), "balance_moved": ("余额变动", "Moved on balances"),
    "net_kept": ("实收净额", "Net kept"),
    "approve": ("批准", "Approve"), "refuse": ("拒绝", "Refuse"), "pending": ("待审", "Pending"),
    "approved": ("已批准", "Approved"), "refused": ("已拒绝", "Refused"),
    "payment": ("原缴费", "Payment"), "requested_by": ("申请人", "Requested by"),
    "enrol_code": ("设备注册码", "Enrolment code"), "new_code": ("生成注册码", "New enrolment code"),
    "revoke": ("吊销", "Revoke"), "revoked": ("已吊销", "Revoked"),
    "last_seen": ("最后联网", "Last seen"), "app_version": ("版本", "App version"),
    "pending_ops": ("缺失操作", "Ops missing"), "last_closeout": ("最近结班", "Last closeout"),
    "float": ("备用金", "Float"), "counted": ("实点", "Counted"), "expected": ("应收", "Expected"),
    "variance": ("差额", "Variance"), "z_no": ("Z 报表号", "Z report"),
    "explain": ("标记已说明", "Mark explained"), "explained": ("已说明", "Explained"),
    "note": ("说明", "Note"), "shift": ("班次", "Shift"), "collector": ("收费员", "Collector"),
    "daily_collection": ("每日收费（按渠道）", "Daily collection by channel"),
    "readings_per_reader": ("抄表员完成量", "Readings completed per reader"),
    "arrears_ageing": ("欠费账龄", "Arrears ageing"),
    "agents_remitted": ("代收点收缴对比", "Agents: collected vs remitted"),
    "export_csv": ("导出 CSV", "Export CSV"), "fee": ("手续费", "Fee"), "net": ("净额", "Net"),
    "day": ("日期", "Day"), "bucket": ("账龄", "Age"), "accounts_n": ("户数", "Accounts"),
    "collected": ("代收", "Collected"), "remitted": ("已解款", "Remitted"),
    "done": ("已完成", "Done"), "save": ("保存", "Save"), "audit": ("操作日志", "Audit log"),
    "ch_cash": ("手持机现金", "Handheld cash"), "ch_card": ("手持机刷卡", "Handheld card"),
    "ch_agent": ("代收点", "Agents"), "platform": ("平台", "Platform"),
    "hazard": ("安全提示", "Hazard"), "edit": ("修改", "Edit"),
    "edit_account": ("修改用户资料", "Edit the account"), "not_saved": ("未能保存：", "Not saved:"),
    "changed_meanwhile": ("该用户资料在您编辑期间已被更改（如有缴费入账），请核对后重新保存",
                          "The account changed while you edited it (e.g. a payment was booked): "
                          "check it and save again"),
    # the account's office fields (sync/gateway/office.py), as the edit form names them
    "f_name": ("户名", "Name"), "f_address": ("地址", "Address"), "f_phone": ("电话", "Phone"),
    "f_tariff_id": ("电价", "Tariff"), "f_arrears_fen": ("欠费（分）", "Arrears (fen)"),
    "f_arrears_due_date": ("欠费到期日", "Arrears due date"),
    "f_agent_id": ("代收点", "Agent"), "f_hazard": ("安全提示", "Hazard"),
    "date_format": ("日期格式：YYYY-MM-DD", "Dates as YYYY-MM-DD"),
}


def translate(lang: str):
    i = LANGS.index(lang) if lang in LANGS else 0

    def t(key: str) -> str:
        pair = WORDS.get(key)
        return pair[i] if pair else key
    return t


def channel_name(t, channel: str) -> str:
    """`cash`, `card`, `agent` or `platform:<name>` as the page shows it."""
    kind, _, name = channel.partition(":")
    return f"{t('platform')} {name}" if name else t(f"ch_{kind}")

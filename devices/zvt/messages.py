"""Human texts (Chinese and English) for ZVT intermediate status and result codes."""
from __future__ import annotations

# 04 FF intermediate status codes -> (Chinese, English), shown on the collector's screen.
INTERMEDIATE = {
    0x00: ("请确认金额", "Confirm amount"),
    0x01: ("请看密码键盘", "Please watch PIN pad"),
    0x02: ("请看密码键盘", "Please watch PIN pad"),
    0x03: ("不受理", "Not accepted"),
    0x04: ("正在等待银行应答", "Waiting for host response"),
    0x05: ("正在自动冲正", "Sending auto-reversal"),
    0x06: ("正在发送后补交易", "Sending post-bookings"),
    0x07: ("此卡不受理", "Card not admitted"),
    0x08: ("未知卡", "Card unknown"),
    0x09: ("卡已过期", "Card expired"),
    0x0A: ("请插卡", "Insert card"),
    0x0B: ("请取卡", "Please remove card"),
    0x0C: ("无法读卡", "Card not readable"),
    0x0D: ("处理错误", "Processing error"),
    0x0E: ("请稍候", "Please wait"),
    0x0F: ("正在自动结算", "Automatic end-of-day running"),
    0x10: ("无效卡", "Invalid card"),
    0x11: ("显示余额", "Balance display"),
    0x12: ("系统故障", "System malfunction"),
    0x13: ("无法支付", "Payment not possible"),
    0x14: ("余额不足", "Credit not sufficient"),
    0x15: ("密码错误", "Incorrect PIN"),
    0x16: ("超出限额", "Limit not sufficient"),
    0x17: ("请稍候", "Please wait"),
    0x18: ("密码错误次数超限", "PIN try limit exceeded"),
    0x19: ("卡数据错误", "Card data incorrect"),
    0x1A: ("维护模式", "Service mode"),
    0x1B: ("交易成功", "Approved"),
    0x1C: ("交易成功，请取货", "Approved, please take goods"),
    0x1D: ("交易被拒绝", "Declined"),
}

# Result codes (BMP 27, 06 1E, 84 xx). 0x01..0x63 are the card issuer's host codes.
RESULTS = {
    0x00: ("交易成功", "Approved"),
    0x64: ("无法读卡", "Card not readable"),
    0x65: ("卡数据不存在", "Card data not present"),
    0x66: ("处理错误", "Processing error"),
    0x6C: ("交易取消（超时或取消键）", "Aborted (timeout or abort key)"),
    0x6E: ("卡在黑名单中", "Card on blocked list"),
    0x6F: ("币种错误", "Wrong currency"),
    0x71: ("余额不足", "Credit not sufficient"),
    0x72: ("芯片错误", "Chip error"),
    0x73: ("卡数据错误", "Card data incorrect"),
    0x77: ("无法结算", "End-of-day batch not possible"),
    0x78: ("卡已过期", "Card expired"),
    0x79: ("卡尚未生效", "Card not yet valid"),
    0x7A: ("未知卡", "Card unknown"),
    0x7D: ("通讯错误", "Communication error"),
    0x83: ("功能无法执行", "Function not possible"),
    0x9A: ("协议错误", "ZVT protocol error"),
    0x9C: ("请稍候", "Please wait"),
    0xA0: ("对方未就绪", "Receiver not ready"),
    0xA1: ("对方无应答", "Remote station does not respond"),
    0xA3: ("无连接", "No connection"),
    0xB1: ("存储已满", "Memory full"),
    0xB4: ("已冲正", "Already reversed"),
    0xB5: ("无法冲正", "Reversal not possible"),
    0xC3: ("超过最大金额", "Maximum amount exceeded"),
    0xC6: ("币种不适用", "Currency not applicable"),
    0xCC: ("打印机未就绪", "Printer not ready"),
    0xFE: ("密码错误", "Register unknown / wrong password"),
    0xFF: ("系统错误", "System error"),
}


def status_text(code: int) -> str:
    """'请插卡 Insert card' for an intermediate status code."""
    zh, en = INTERMEDIATE.get(code, (f"状态 {code:02X}", f"Status {code:02X}"))
    return f"{zh} {en}"


def result_text(code: int) -> str:
    """'交易成功 Approved' for a result code; issuer codes are labelled as such."""
    if code in RESULTS:
        zh, en = RESULTS[code]
    elif 0x01 <= code <= 0x63:
        zh, en = f"发卡行拒绝（{code:02d}）", f"Declined by card issuer ({code:02d})"
    else:
        zh, en = f"错误 {code:02X}", f"Error {code:02X}"
    return f"{zh} {en}"

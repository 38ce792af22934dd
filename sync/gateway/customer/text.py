"""The customer pages' words, Chinese and English."""

TEXT = {
    "title": ("电费缴纳", "Pay your electricity bill"),
    "account": ("户号", "Account number"),
    "meter4": ("电表表号后四位", "Last 4 digits of the meter number"),
    "meter4_help": ("见缴费通知单或电表铭牌", "printed on your bill notice and on the meter"),
    "lookup": ("查询账单", "Show my bill"),
    "no_match": ("没有与该户号和表号相符的账单，请核对缴费通知单。",
                 "No bill matches this account number and meter number; please check your "
                 "bill notice."),
    "too_many": ("尝试次数过多，请稍后再试。", "Too many attempts; please try again later."),
    "name": ("户名", "Name"),
    "address": ("地址", "Address"),
    "arrears": ("欠费", "Arrears"),
    "due_date": ("缴费期限", "Pay by"),
    "late_fee": ("逾期后每日滞纳金", "Late fee per day after that"),
    "credit": ("预存余额", "Credit"),
    "due": ("应缴金额", "Amount due"),
    "tiers": ("阶梯电价", "Tariff tiers"),
    "kwh_upto": ("用电量至", "up to kWh"),
    "price": ("元/千瓦时", "yuan/kWh"),
    "pay_with": ("选择支付方式", "Pay with"),
    "nothing_due": ("本期无欠费，谢谢！", "Nothing is due. Thank you!"),
    "receipt": ("电子收据", "E-receipt"),
    "paid": ("已缴费", "Paid"),
    "amount": ("金额", "Amount"),
    "paid_at": ("缴费时间", "Paid at"),
    "via": ("支付方式", "Paid via"),
    "trade_no": ("交易号", "Trade number"),
    "code": ("验证码", "Verification code"),
    "now_due": ("现应缴", "Now due"),
    "verify": ("收据验证", "Receipt check"),
    "valid": ("有效：本公司收据", "Valid: a receipt of ours"),
    "voided": ("已作废：该收据的款项已撤销", "Voided: this receipt's payment was cancelled"),
    "not_ours": ("非本公司收据：请勿相信，并拨打 95598 举报",
                 "Not ours: do not trust this receipt; report it on 95598"),
    "date": ("日期", "Date"),
    "pending": ("支付平台尚未通知本公司，请稍后刷新。",
                "The platform has not told us yet; refresh in a moment."),
}


def words(lang: str) -> dict:
    i = 1 if lang == "en" else 0
    return {k: v[i] for k, v in TEXT.items()}

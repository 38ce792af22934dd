"""Deterministic demo utility: plain dicts in the route-document shapes of contracts §1.

`demo_utility(accounts=1200, routes=3, seed=DEMO_SEED)` returns the whole demo utility:

    {"tariffs": [...], "codes": {"skip", "trouble", "hazard"}, "agents": [{..., "members"}],
     "operators": [{"operator_id", "name", "roles", "pin_hash"}], "demo_pins": {id: pin},
     "routes": [{"route_id", "name", "cycle", "read_date", "hide_previous",
                 "server_version"}],
     "route_accounts": {route_id: [account, ...]}, "settings": {...}}

`route_document(utility, route_id)` assembles one `chaoshou.route/1` document from it, and
`fake_accounts(n, seed)` makes n route accounts quickly (100,000 in well under 2 s) for
benchmarks.

Demo operators and PINs (documented, for demos and tests only):

    1001 张伟 reader 1234        1002 李娜 reader 1234
    2001 王芳 collector 1234     3001 刘洋 reader+collector 1234
    9001 陈静 supervisor 99999999

Names include characters outside GBK, also outside the BMP (𠮷, 𬌗, 䶮, 𬀩); see RARE_NAMES.
"""
from __future__ import annotations

import random

from sync.protocol import DEFAULT_PIN_ITERATIONS, hash_pin

DEMO_SEED = 20261127
CYCLE = "2026-11"
READ_DATE = "2026-11-27"
PREV_DATE = "2026-10-27"

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
            "于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛")
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫")
GIVEN_CHARS = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅文斌宇浩凯"
               "鹏辉健波宁欣怡婷雪琳晨阳春海燕飞鑫淑珍凤云莉丹萍瑞博嘉俊佳慧颖晓")
UNUSUAL_GBK = "堃喆昇玥赟淼垚犇珺"
# Characters that cannot be encoded in GBK; the first two are outside the BMP.
NON_GBK = ("𠮷", "𬌗", "䶮", "𬀩")
RARE_NAMES = ("王𠮷", "李𬌗", "张䶮", "欧阳𬀩", "刘堃", "陈喆", "司马昇")

CITY = "杭州市"
DISTRICTS = ("西湖区", "拱墅区", "上城区", "滨江区")
ROADS = ("幸福路", "文一路", "教工路", "学院路", "解放街", "庆春路", "莫干山路", "古墩路", "文三路",
         "丰潭路")
VILLAGES = ("前溪村", "后山村", "龙坞村", "双桥村")
SHOP_KINDS = ("超市", "小吃店", "五金店", "理发店", "药房", "便利店", "面馆", "汽修厂", "茶楼", "服装店")
SHOP_WORDS = ("鑫盛", "华联", "好又多", "永辉", "老街", "福满", "兴旺", "金桥", "家家乐", "百顺")

HAZARDS = ("院内有狗 Beware of dog", "表箱带电漏电 Live meter box",
           "楼道无照明 No stair lighting", "表箱位置高需梯子 Ladder needed",
           "户主情绪激动注意安全 Hostile customer", "地下室积水 Flooded basement")

TARIFFS = [
    {"tariff_id": "RES-TIER", "name": "居民阶梯电价", "kind": "tiered",
     "bands": [{"upto_kwh": 230, "price_e4": 4883},
               {"upto_kwh": 400, "price_e4": 5383},
               {"upto_kwh": None, "price_e4": 7883}],
     "late_fee_ppm_per_day": 1000},
    {"tariff_id": "COM-FLAT", "name": "一般工商业", "kind": "flat",
     "bands": [{"upto_kwh": None, "price_e4": 6500}], "late_fee_ppm_per_day": 2000},
]

SKIP_CODES = [
    {"code": "S01", "zh": "门锁", "en": "Locked gate", "reading": "forbidden",
     "note_required": False, "photo_required": False},
    {"code": "S02", "zh": "恶犬", "en": "Dangerous dog", "reading": "forbidden",
     "note_required": False, "photo_required": False},
    {"code": "S03", "zh": "表被遮挡", "en": "Meter obstructed", "reading": "optional",
     "note_required": True, "photo_required": False},
    {"code": "S04", "zh": "表计损坏", "en": "Meter damaged", "reading": "optional",
     "note_required": True, "photo_required": True},
    {"code": "S05", "zh": "空置房", "en": "Vacant premises", "reading": "optional",
     "note_required": False, "photo_required": False},
    {"code": "S06", "zh": "估读", "en": "Estimated reading", "reading": "required",
     "note_required": True, "photo_required": False},
    {"code": "S07", "zh": "拒绝入户", "en": "Access refused", "reading": "forbidden",
     "note_required": True, "photo_required": False},
]

TROUBLE_CODES = [
    {"code": "T01", "zh": "表玻璃破损", "en": "Broken glass", "urgent": False},
    {"code": "T02", "zh": "电表停走", "en": "Meter stopped", "urgent": False},
    {"code": "T03", "zh": "疑似窃电", "en": "Suspected tampering", "urgent": True},
    {"code": "T04", "zh": "表箱漏电", "en": "Exposed live parts", "urgent": True},
    {"code": "T05", "zh": "封印缺失", "en": "Seal missing", "urgent": False},
    {"code": "T06", "zh": "电表倒转", "en": "Meter running backwards", "urgent": True},
]

HAZARD_CODES = [{"code": f"H{i + 1:02d}", "zh": h.split(" ", 1)[0], "en": h.split(" ", 1)[1]}
                for i, h in enumerate(HAZARDS)]

OPERATORS = [  # operator_id, name, roles, demo PIN
    ("1001", "张伟", ["reader"], "1234"),
    ("1002", "李娜", ["reader"], "1234"),
    ("2001", "王芳", ["collector"], "1234"),
    ("3001", "刘洋", ["reader", "collector"], "1234"),
    ("9001", "陈静", ["supervisor"], "99999999"),
]

ROUTE_DEFS = (  # route_id, name, kind, reader operator
    ("R001", "幸福路抄表段", "urban", "1001"),
    ("R002", "文一路商业段", "commercial", "1002"),
    ("R003", "前溪村抄表段", "village", "3001"),
)

SETTINGS = {
    "pay_url_template": "https://pay.example.cn/p?acct={account_no}&amt={amount_fen}",
    "verify_url_template": ("https://verify.example.cn/r?d={device_id}&n={receipt_no}"
                            "&a={amount_fen}&c={verify_code}"),
    "card_limits": {"min_fen": 100, "max_fen": 2_000_000, "max_total_fen": 5_000_000,
                    "max_count": 50, "max_age_hours": 72},
}


def person_name(rng: random.Random) -> str:
    """A realistic 2–3 character Chinese name (occasionally compound or rare)."""
    r = rng.random()
    surname = rng.choice(COMPOUND_SURNAMES) if r < 0.02 else rng.choice(SURNAMES)
    given = rng.choice(GIVEN_CHARS)
    if rng.random() < 0.6:
        given += rng.choice(GIVEN_CHARS)
    r = rng.random()
    if r < 0.01:
        given = given[:-1] + rng.choice(NON_GBK)
    elif r < 0.03:
        given = given[:-1] + rng.choice(UNUSUAL_GBK)
    return surname + given


def _phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "135", "150", "158", "186", "187", "189")) + \
        f"{rng.randrange(10**8):08d}"


def _address(rng: random.Random, kind: str, road: str, district: str) -> str:
    if kind == "village":
        return f"{CITY}余杭区径山镇{road}{rng.randint(1, 9)}组{rng.randint(1, 60)}号"
    if kind == "commercial":
        return f"{CITY}{district}{road}{rng.randint(1, 400)}号{rng.randint(1, 3)}楼商铺"
    return (f"{CITY}{district}{road}{rng.randint(1, 200)}号{rng.randint(1, 6)}单元"
            f"{rng.randint(1, 18)}{rng.randint(1, 4):02d}室")


def _meter(rng: random.Random, meter_no: str, commercial: bool) -> dict:
    dials = rng.choice((4, 5, 5, 5, 6, 6, 7))
    decimals = 1 if rng.random() < 0.2 else 0
    multiplier = rng.choice((1, 1, 20, 40, 80)) if commercial else 1
    avg_daily_wh = rng.randint(20_000, 300_000) if commercial else rng.randint(2_500, 16_000)
    top = 10 ** dials
    # Expected consumption over ~31 days in meter units.
    per_month = max(1, avg_daily_wh * 31 * 10 ** decimals // (1000 * multiplier))
    if rng.random() < 0.04:
        prev_value = top - rng.randint(1, max(2, min(per_month // 2, top // 10)))  # near rollover
    else:
        prev_value = rng.randrange(0, max(1, top - 2 * per_month))
    limit_low = limit_high = None
    if commercial and rng.random() < 0.5:
        limit_low, limit_high = per_month // 3, per_month * 3
    return {"meter_no": meter_no, "dials": dials, "decimals": decimals,
            "multiplier": multiplier, "prev_value": prev_value, "prev_date": PREV_DATE,
            "avg_daily_wh": avg_daily_wh, "limit_low": limit_low, "limit_high": limit_high}


def make_account(rng: random.Random, account_no: str, meter_no: str, seq: int,
                 kind: str = "urban", road: str = "幸福路", district: str = "西湖区",
                 name: str | None = None) -> dict:
    """One route account in the §1 shape."""
    commercial = kind == "commercial" and rng.random() < 0.85
    if name is None:
        if commercial:
            name = f"{rng.choice(SHOP_WORDS)}{rng.choice(SHOP_KINDS)}"
        else:
            name = person_name(rng)
    arrears = due = None
    r = rng.random()
    if r < 0.25:
        arrears = rng.randint(10, 800) * 100 + rng.randint(0, 99)
        due = f"2026-{rng.choice((8, 9, 10)):02d}-25"
    credit = rng.randint(1, 50) * 100 if 0.25 <= r < 0.30 else 0
    third_party = None
    if rng.random() < 0.05:
        third_party = {"platform": rng.choice(("alipay", "wechat")),
                       "amount_fen": rng.randint(5, 300) * 100,
                       "paid_at": f"2026-11-{rng.randint(1, 20):02d}T{rng.randint(8, 22):02d}"
                                  f":{rng.randint(0, 59):02d}:00+08:00"}
    return {
        "account_no": account_no, "seq": seq, "name": name,
        "address": _address(rng, kind, road, district), "phone": _phone(rng),
        "tariff_id": "COM-FLAT" if commercial else "RES-TIER",
        "arrears_fen": arrears or 0, "arrears_due_date": due, "credit_fen": credit,
        "agent_id": None,
        "hazard": rng.choice(HAZARDS) if rng.random() < 0.05 else None,
        "last_third_party": third_party,
        "meter": _meter(rng, meter_no, commercial),
    }


def fake_accounts(n: int, seed: int = DEMO_SEED) -> list[dict]:
    """n accounts for one big route (benchmarks): account_no 3 + 9 digits, meter_no M + 9 digits
    (never clashing with `demo_utility`), seq 10, 20, …"""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        road = ROADS[(i // 500) % len(ROADS)]
        kind = "commercial" if i % 10 == 0 else "urban"
        out.append(make_account(rng, f"3{i + 1:09d}", f"M{i + 1:09d}", (i + 1) * 10,
                                kind, road, DISTRICTS[(i // 2000) % len(DISTRICTS)]))
    return out


def demo_operators(pin_iterations: int = DEFAULT_PIN_ITERATIONS,
                   seed: int = DEMO_SEED) -> tuple[list[dict], dict]:
    """Demo operators with PIN hashes (deterministic salts) and the documented PINs."""
    rng = random.Random(seed + 1)
    ops, pins = [], {}
    for operator_id, name, roles, pin in OPERATORS:
        salt = bytes(rng.randrange(256) for _ in range(16))
        ops.append({"operator_id": operator_id, "name": name, "roles": list(roles),
                    "pin_hash": hash_pin(pin, pin_iterations, salt)})
        pins[operator_id] = pin
    return ops, pins


def demo_utility(accounts: int = 1200, routes: int = 3, seed: int = DEMO_SEED,
                 pin_iterations: int = DEFAULT_PIN_ITERATIONS) -> dict:
    """The deterministic demo utility (see module docstring for the shape)."""
    rng = random.Random(seed)
    route_defs = [ROUTE_DEFS[i % len(ROUTE_DEFS)] for i in range(routes)]
    route_list, route_accounts = [], {}
    counter = 0
    for r_index, (base_id, name, kind, reader) in enumerate(route_defs):
        route_id = base_id if r_index < len(ROUTE_DEFS) else f"R{r_index + 1:03d}"
        if r_index >= len(ROUTE_DEFS):
            name = f"{name}{r_index + 1}"
        route_list.append({"route_id": route_id, "name": name, "cycle": CYCLE,
                           "read_date": READ_DATE, "hide_previous": r_index == 1,
                           "server_version": 1, "operator_id": reader})
        n = accounts // routes + (1 if r_index < accounts % routes else 0)
        district = DISTRICTS[r_index % len(DISTRICTS)]
        rows = []
        for i in range(n):
            counter += 1
            if kind == "village":
                road = VILLAGES[(i * len(VILLAGES)) // max(1, n)]
            else:
                road = ROADS[(r_index * 3 + (i * 3) // max(1, n)) % len(ROADS)]
            fixed_name = RARE_NAMES[i] if r_index == 0 and i < len(RARE_NAMES) else None
            rows.append(make_account(rng, f"31{r_index + 1:02d}{i + 1:06d}",
                                     f"M{counter:08d}", (i + 1) * 10, kind, road, district,
                                     name=fixed_name))
        route_accounts[route_id] = rows

    agents = [
        {"agent_id": "A01", "name": "阳光物业", "kind": "property",
         "contact": "0571-8888 0001", "members": []},
        {"agent_id": "A02", "name": "前溪村村民委员会", "kind": "village",
         "contact": "0571-8888 0002", "members": []},
    ]
    first = route_accounts[route_list[0]["route_id"]]
    last = route_accounts[route_list[-1]["route_id"]]
    for agent, pool in ((agents[0], first[10:50]), (agents[1], last[:30])):
        for account in pool:
            if account["tariff_id"] == "RES-TIER":
                account["agent_id"] = agent["agent_id"]
                agent["members"].append(account["account_no"])

    operators, pins = demo_operators(pin_iterations, seed)
    return {"tariffs": [dict(t) for t in TARIFFS],
            "codes": {"skip": [dict(c) for c in SKIP_CODES],
                      "trouble": [dict(c) for c in TROUBLE_CODES],
                      "hazard": [dict(c) for c in HAZARD_CODES]},
            "agents": agents, "operators": operators, "demo_pins": pins,
            "routes": route_list, "route_accounts": route_accounts,
            "settings": dict(SETTINGS)}


def route_document(utility: dict, route_id: str) -> dict:
    """A complete `chaoshou.route/1` document for one route of `demo_utility()`."""
    route = next(r for r in utility["routes"] if r["route_id"] == route_id)
    accounts = utility["route_accounts"][route_id]
    used = {a["agent_id"] for a in accounts if a["agent_id"]}
    return {
        "format": "chaoshou.route/1",
        "route": {k: route[k] for k in ("route_id", "name", "cycle", "read_date",
                                        "hide_previous", "server_version")},
        "tariffs": utility["tariffs"],
        "codes": {"skip": utility["codes"]["skip"], "trouble": utility["codes"]["trouble"]},
        "agents": [{k: a[k] for k in ("agent_id", "name", "kind", "contact")}
                   for a in utility["agents"] if a["agent_id"] in used],
        "accounts": accounts,
    }

"""Agent collection screen (区域代管): agent list → member accounts with amounts due →
select members (each pays its full due) or key a lump amount that the core allocates by its
rule → one payment in cash or by bank card (live terminal messages, cancel, recovery of an
unknown outcome from the terminal's record) → one receipt; print the agent statement.

Allocation and the payment itself are terminal.agents; this screen shows the allocation
before the money is taken, on worker threads.
"""
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout

from terminal import agents
from terminal.ui.widgets import AppScreen, field_print
from terminal.ui.widgets.field_card import CardJob, SettlesUnknownCard
from terminal.ui.widgets.field_common import error_text, fmt_fen, run, tr


def load_agents(store):
    """Worker: every agent on the device with its member count and total due."""
    out = []
    for row in store.conn.execute("SELECT agent_id, name, kind, contact FROM agents ORDER BY agent_id"):
        dues = agents.dues(store, row["agent_id"])
        out.append({"agent_id": row["agent_id"], "name": row["name"], "kind": row["kind"],
                    "contact": row["contact"] or "", "members": len(dues),
                    "total_due_fen": sum(d["total_due_fen"] for d in dues)})
    return out


def load_members(store, agent_id):
    """Worker: the agent's members with their dues (walk order)."""
    return [{k: d[k] for k in ("account_no", "name", "overdue_fen", "current_fen", "total_due_fen")}
            for d in agents.dues(store, agent_id)]


def _screen():
    return App.get_running_app().sm.get_screen(NAME)


class AgentRow(ButtonBehavior, BoxLayout):
    agent_id = StringProperty("")
    name = StringProperty("")
    kind = StringProperty("")
    members = NumericProperty(0)
    total_due_fen = NumericProperty(0)
    contact = StringProperty("")

    def on_release(self):
        _screen().open_agent(self.agent_id, self.name)

    def due_text(self, fen, _lang=None):
        return fmt_fen(fen)


class MemberRow(ButtonBehavior, BoxLayout):
    account_no = StringProperty("")
    name = StringProperty("")
    total_due_fen = NumericProperty(0)
    allocated_fen = NumericProperty(0)
    selected = BooleanProperty(False)

    def on_release(self):
        _screen().toggle_member(self.account_no)

    def money(self, fen):
        return fmt_fen(fen)


class AgentsScreen(SettlesUnknownCard, AppScreen):
    stage = StringProperty("list")           # list | members
    agent_id = StringProperty("")
    agent_name = StringProperty("")
    members_due_fen = NumericProperty(0)
    amount_keyed = StringProperty("")
    mode = StringProperty("select")          # select | allocate
    message = StringProperty("")
    level = StringProperty("")
    busy = BooleanProperty(False)
    receipt_no = StringProperty("")
    card_fen = NumericProperty(0)
    card_text = StringProperty("")
    card_state = StringProperty("")          # "", busy, approved, declined, unknown
    unknown_op = StringProperty("")

    def __init__(self, **kw):
        super().__init__(**kw)
        self._card = CardJob(on_status=self._show_card_status)
        self._members = []
        self._alloc_trigger = Clock.create_trigger(lambda _dt: self._preview(), 0.2)
        self._token = 0

    def on_stage(self, _inst, value):
        if "stages" in self.ids:
            self.ids.stages.current = value

    def money(self, keyed):
        return fmt_fen(int(keyed or "0"))

    # -- agent list --------------------------------------------------------------------
    def on_pre_enter(self, *_):
        if self.card_state in ("busy", "unknown"):   # a card exchange must be finished first
            self.stage = "card"
            return
        self.stage = "list"
        self.message, self.level = "", ""
        self.receipt_no = ""
        run(load_agents, self.app.services.store, on_done=self._show_agents, on_error=self._failed)

    def _show_agents(self, rows):
        self.ids.agent_rv.data = rows
        if not rows:
            self.message, self.level = tr("No agent on this device. Download a route first."), "warning"

    def _failed(self, exc):
        self.busy = False
        self.message, self.level = error_text(exc), "error"

    def open_agent(self, agent_id, name):
        self.agent_id, self.agent_name = agent_id, name
        self.amount_keyed = ""
        self.mode = "select"
        self.receipt_no = ""
        self.message, self.level = "", ""
        self.ids.amount_pad.value = ""
        self.stage = "members"
        self.reload_members()

    def reload_members(self):
        run(load_members, self.app.services.store, self.agent_id,
            on_done=self._show_members, on_error=self._failed)

    def _show_members(self, rows):
        self._members = [dict(r, selected=False, allocated_fen=0) for r in rows]
        self.members_due_fen = sum(r["total_due_fen"] for r in rows)
        self._refresh()

    def _refresh(self):
        self.ids.member_rv.data = [dict(m) for m in self._members]

    def back_to_list(self):
        self.on_pre_enter()

    # -- select or allocate ------------------------------------------------------------
    def toggle_member(self, account_no):
        if self.busy:
            return
        self.mode = "select"
        for m in self._members:
            if m["account_no"] == account_no:
                m["selected"] = not m["selected"]
            m["allocated_fen"] = m["total_due_fen"] if m["selected"] else 0
        total = sum(m["allocated_fen"] for m in self._members)
        self.amount_keyed = str(total) if total else ""
        self.ids.amount_pad.value = self.amount_keyed
        self.message, self.level = "", ""
        self._refresh()

    def select_all(self):
        for m in self._members:
            m["selected"] = m["total_due_fen"] > 0
            m["allocated_fen"] = m["total_due_fen"] if m["selected"] else 0
        self.mode = "select"
        total = sum(m["allocated_fen"] for m in self._members)
        self.amount_keyed = str(total) if total else ""
        self.ids.amount_pad.value = self.amount_keyed
        self._refresh()

    def amount_changed(self, value):
        self.amount_keyed = value.lstrip("0")
        self.mode = "allocate"
        for m in self._members:
            m["selected"] = False
        self._alloc_trigger()

    def _preview(self):
        if App.get_running_app() is None:
            return  # a late trigger while the app shuts down
        amount = int(self.amount_keyed or "0")
        self._token += 1
        token = self._token
        if amount <= 0:
            for m in self._members:
                m["allocated_fen"] = 0
            self._refresh()
            return

        def show(allocs):
            if token != self._token:
                return
            got = {a["account_no"]: a["amount_fen"] for a in allocs}
            for m in self._members:
                m["allocated_fen"] = got.get(m["account_no"], 0)
            self.message, self.level = tr("Allocated: overdue money first, oldest first."), ""
            self._refresh()

        def failed(exc):
            if token == self._token:
                self._failed(exc)
        run(agents.allocate, self.app.services.store, self.agent_id, amount,
            on_done=show, on_error=failed)

    # -- pay and print -----------------------------------------------------------------
    def _payment_request(self):
        """(amount, allocations or None for the core's rule), or None after telling why."""
        amount = int(self.amount_keyed or "0")
        if self.busy:
            return None
        if amount <= 0:
            self.message, self.level = tr("Select member accounts or key the amount first."), "warning"
            return None
        allocations = None
        if self.mode == "select":
            allocations = [{"account_no": m["account_no"], "amount_fen": m["total_due_fen"]}
                           for m in self._members if m["selected"] and m["total_due_fen"] > 0]
        return amount, allocations

    def take_cash(self):
        request = self._payment_request()
        if request is None:
            return
        amount, allocations = request
        self.busy = True
        self.message, self.level = tr("Saving…"), ""
        app = self.app
        run(agents.agent_payment, app.services.store, self.agent_id, amount,
            app.services.operator["operator_id"], None, allocations,
            on_done=self._paid, on_error=self._failed)

    def take_card(self):
        request = self._payment_request()
        if request is None:
            return
        amount, allocations = request
        app = self.app
        store, agent_id = app.services.store, self.agent_id
        operator_id = app.services.operator["operator_id"]
        self.busy = True
        self.card_fen = amount
        self.card_state = "busy"
        self.card_text = tr("Connecting to the card terminal…")
        self.message, self.level = "", ""
        self.stage = "card"

        def job(term, on_status):
            return agents.agent_card_payment(store, term, agent_id, amount, operator_id,
                                             on_status, allocations=allocations)
        self._card.start(job, on_done=self._card_result, on_error=self._card_error)

    def _show_card_status(self, text):
        if self.card_state == "busy" and text:
            self.card_text = text

    def cancel_card(self):
        if self.card_state == "busy" and self._card.cancel():
            self.card_text = tr("Cancelling…")

    def _card_result(self, result):
        self.busy = False
        if result.state == "approved":
            self.stage = "members"
        self.show_card_outcome(result)

    def _card_error(self, exc):
        self.busy = False
        self.card_state = "unknown" if self.unknown_op else "declined"
        self.card_text = error_text(exc)

    def card_back(self):
        if self.card_state in ("busy", "unknown"):
            return
        self.card_state = ""
        self.stage = "members"

    def _paid(self, result):
        self.busy = False
        self.receipt_no = result.receipt_no or ""
        self.message = tr("Paid {a}. One receipt No. {no}. Printing…").format(
            a=fmt_fen(result.amount_fen), no=self.receipt_no)
        self.level = "ok"
        self.amount_keyed = ""
        self.ids.amount_pad.value = ""
        self.app.services.refresh_counts()
        field_print.pump(on_message=self._print_message)
        self.reload_members()

    def _print_message(self, text):
        if self.receipt_no:
            self.message = tr("Receipt No. {no}").format(no=self.receipt_no) + " — " + text
        else:
            self.message = text

    def print_statement(self):
        self.message, self.level = tr("Printing the agent statement…"), ""
        field_print.queue_and_print(agents.statement_document, self.agent_id,
                                    on_message=self._statement_message)

    def _statement_message(self, text):
        self.message = text


NAME = "agents"
SCREEN = AgentsScreen
Builder.load_file(str(Path(__file__).with_suffix(".kv")))

"""Operator decisions in the record store: approvals of gated samples and pause/resume/stop requests.

A mixin of :class:`~controller.records.store.RecordStore` (its ``_write``, ``_lock``, ``_db``,
``_decode``, ``campaign`` and ``location``), kept apart so the store module stays one screenful
of concerns.
"""

from __future__ import annotations

import json
import time
from typing import Any

from controller.records.samples import Sample
from core import StoreError

CONTROL_ACTIONS = ("pause", "resume", "stop")

DECISIONS = ("approved", "rejected")

_EVENT = "INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES (?,?,?,?)"


class OperatorDecisions:
    """Approvals and control requests (mixed into ``RecordStore``)."""

    def decide(self, sample_id: str, decision: str, operator: str, note: str | None = None) -> dict[str, Any]:
        """Record an operator's approval or rejection of a sample awaiting approval.

        Raises:
            StoreError: unknown decision, no operator, no such sample, the sample is not
                awaiting approval, or it was already decided (a decision is never changed).
        """
        if decision not in DECISIONS:
            raise StoreError(f"decision {decision!r}: allowed {list(DECISIONS)}")
        if not operator or not operator.strip():
            raise StoreError("operator: say who decides (a name or initials)")
        now = time.time()

        def work(db):
            row = db.execute("SELECT campaign, status FROM samples WHERE id=?", (sample_id,)).fetchone()
            if row is None:
                raise StoreError(f"no sample {sample_id!r} in {self.location!r}")
            db.lock_campaign(row["campaign"])  # two operators deciding at once: the second sees the first
            prior = db.execute("SELECT decision, operator, time FROM approvals WHERE sample_id=?", (sample_id,)).fetchone()
            if prior is not None:
                raise StoreError(f"sample {sample_id} was already {prior['decision']} by {prior['operator']} "
                                 f"at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(prior['time']))}")
            if row["status"] != "awaiting_approval":
                raise StoreError(f"sample {sample_id} is {row['status']}, not awaiting approval")
            db.execute("INSERT INTO approvals (sample_id, campaign, decision, operator, note, time) VALUES (?,?,?,?,?,?)",
                       (sample_id, row["campaign"], decision, operator.strip(), note, now))
            db.execute(_EVENT,
                       (row["campaign"], now, f"sample_{decision}",
                        json.dumps({"sample": sample_id, "operator": operator.strip(), "note": note})))

        self._write(work)
        return {"sample": sample_id, "decision": decision, "operator": operator.strip(), "note": note, "time": now}

    def decision(self, sample_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM approvals WHERE sample_id=?", (sample_id,)).fetchone()
        return dict(row) if row else None

    def awaiting(self, campaign: str) -> list[Sample]:
        """Samples held at the approval gate, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT record_json FROM samples WHERE campaign=? AND status='awaiting_approval' "
                                    "ORDER BY seq", (campaign,)).fetchall()
        return [self._decode(r[0]) for r in rows]

    def request_control(self, campaign: str, action: str, operator: str, note: str | None = None) -> int:
        """Queue an operator's pause/resume/stop for the controller running ``campaign``."""
        if action not in CONTROL_ACTIONS:
            raise StoreError(f"action {action!r}: allowed {list(CONTROL_ACTIONS)}")
        if not operator or not operator.strip():
            raise StoreError("operator: say who asks (a name or initials)")
        self.campaign(campaign)  # raises with the known names
        now = time.time()

        def work(db):
            control_id = db.execute("INSERT INTO controls (campaign, action, operator, note, time) VALUES (?,?,?,?,?) "
                                    "RETURNING id", (campaign, action, operator.strip(), note, now)).fetchone()[0]
            db.execute(_EVENT,
                       (campaign, now, f"{action}_requested", json.dumps({"operator": operator.strip(), "note": note})))
            return int(control_id)

        return self._write(work)

    def pending_controls(self, campaign: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM controls WHERE campaign=? AND handled IS NULL ORDER BY id",
                                    (campaign,)).fetchall()
        return [dict(r) for r in rows]

    def controls(self, campaign: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM controls WHERE campaign=? ORDER BY id", (campaign,))]

    def control_handled(self, control_id: int, outcome: str) -> None:
        now = time.time()
        self._write(lambda db: db.execute("UPDATE controls SET handled=?, outcome=? WHERE id=?", (now, outcome, control_id)))

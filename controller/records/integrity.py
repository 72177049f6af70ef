"""Tamper-evident records: a hash chain over every write of a campaign's samples and documents.

Each write of a sample (dispatched, approved, run attached, finished) and each stored Bluesky
document appends one link to the campaign's append-only ``chain`` table::

    hash = sha256(prev_hash + canonical JSON of the row's content)

The content of a sample is its key columns and its ``record_json``; of a document its
``run_uid``, ``seq``, ``name`` and ``doc_json``. A sample updated in place keeps every write in
the chain, and its newest link holds its final content. :func:`verify` checks that the links
follow each other (none altered, none removed) and that every record now in the store is the
one its newest link describes: a digit changed in SQL, a record deleted or one written behind
the store's back is named, with what differs.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

GENESIS = "0" * 64  # the previous hash of a campaign's first link

SAMPLE_KEYS = ("id", "campaign", "seq", "fidelity", "status", "cost", "run_uid", "created", "completed")

_SAMPLE_SELECT = "SELECT id, campaign, seq, fidelity, status, cost, run_uid, created, completed, record_json FROM samples"

_LINK = "INSERT INTO chain (campaign, seq, kind, ref, content_json, prev_hash, hash, time) VALUES (?,?,?,?,?,?,?,?)"


def canonical(content: Any) -> str:
    """One text per content: sorted keys, no spaces (floats as Python writes them, NaN kept)."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def link_hash(prev_hash: str, content_json: str) -> str:
    return hashlib.sha256((prev_hash + content_json).encode()).hexdigest()


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text  # a damaged record is chained (and compared) as its text


def sample_content(row: Mapping) -> dict[str, Any]:
    return {**{k: row[k] for k in SAMPLE_KEYS}, "record_json": _parsed(row["record_json"])}


def document_ref(run_uid: str, seq: int) -> str:
    return f"{run_uid}/{seq}"


def document_content(run_uid: str, seq: int, name: str, doc_json: str) -> dict[str, Any]:
    return {"run_uid": run_uid, "seq": seq, "name": name, "doc_json": _parsed(doc_json)}


# writing ---------------------------------------------------------------------
def append(db, campaign: str, kind: str, ref: str, content: Any) -> None:
    """Append one link to ``campaign``'s chain inside the caller's transaction (``db`` a backend)."""
    db.lock_campaign(campaign)  # PostgreSQL: two writers of one campaign never fork its chain
    last = db.execute("SELECT seq, hash FROM chain WHERE campaign=? ORDER BY seq DESC LIMIT 1", (campaign,)).fetchone()
    seq, prev = (int(last[0]) + 1, last[1]) if last else (1, GENESIS)
    text = canonical(content)
    db.execute(_LINK, (campaign, seq, kind, ref, text, prev, link_hash(prev, text), time.time()))


def link_sample(db, sample_id: str) -> None:
    """Chain a sample's row as it now is (read back inside the transaction that wrote it)."""
    row = db.execute(f"{_SAMPLE_SELECT} WHERE id=?", (sample_id,)).fetchone()
    append(db, row["campaign"], "sample", row["id"], sample_content(row))


def link_documents(db, run_uid: str, documents: list[tuple[int, str, str]]) -> None:
    """Chain documents just written: ``(seq, name, doc_json)`` each. A document of no sample's
    run belongs to no campaign and is not chained."""
    row = db.execute("SELECT s.campaign FROM samples s LEFT JOIN sample_runs r ON r.sample_id = s.id "
                     "WHERE r.run_uid=? OR s.run_uid=? LIMIT 1", (run_uid, run_uid)).fetchone()
    if row is None:
        return
    for seq, name, doc_json in documents:
        append(db, row[0], "document", document_ref(run_uid, seq), document_content(run_uid, seq, name, doc_json))


def backfill(rows: Callable[..., list], insert: Callable[[dict], None]) -> int:
    """Chain what a store made before the chain holds now (migration 0004); returns the links.

    Args:
        rows: ``rows(sql, **params)`` -> mappings (SQLAlchemy ``:name`` parameters).
        insert: writes one link (a dict of the ``chain`` columns).
    """
    now, count = time.time(), 0
    for (campaign,) in [(r["name"],) for r in rows("SELECT name FROM campaigns ORDER BY created")]:
        prev, seq = GENESIS, 0
        for sample in rows(f"{_SAMPLE_SELECT} WHERE campaign=:c ORDER BY seq", c=campaign):
            items = [("sample", sample["id"], sample_content(sample))]
            uids = [r["run_uid"] for r in rows("SELECT run_uid FROM sample_runs WHERE sample_id=:s ORDER BY attempt",
                                               s=sample["id"])]
            if sample["run_uid"] and sample["run_uid"] not in uids:
                uids.append(sample["run_uid"])
            for uid in uids:
                for d in rows("SELECT run_uid, seq, name, doc_json FROM documents WHERE run_uid=:u ORDER BY seq", u=uid):
                    items.append(("document", document_ref(uid, d["seq"]),
                                  document_content(uid, d["seq"], d["name"], d["doc_json"])))
            for kind, ref, content in items:
                seq += 1
                text = canonical(content)
                digest = link_hash(prev, text)
                insert({"campaign": campaign, "seq": seq, "kind": kind, "ref": ref, "content_json": text,
                        "prev_hash": prev, "hash": digest, "time": now})
                prev, count = digest, count + 1
    return count


# verifying -------------------------------------------------------------------
@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify`.

    Attributes:
        records: samples and documents checked against their newest link.
        links: links in the chain (one per write).
        problem: None when intact; else the first record that changed or went missing
            (sample id or document run/seq) and what differs.
        ref: that record (``sample X-0003`` or ``document UID/SEQ``).
    """

    campaign: str
    records: int
    links: int
    problem: str | None = None
    ref: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        if self.intact:
            return f"chain intact: {self.records} records ({self.links} writes) of campaign {self.campaign!r}"
        return f"chain broken in campaign {self.campaign!r}: {self.problem}"


def verify(rows: Callable[[str, tuple], list], campaign: str) -> ChainReport:
    """Check ``campaign``'s chain and its records; ``rows(sql, args)`` reads the store (``?`` parameters)."""
    links = rows("SELECT seq, kind, ref, content_json, prev_hash, hash FROM chain WHERE campaign=? ORDER BY seq",
                 (campaign,))
    prev, newest = GENESIS, {}
    for expected, link in enumerate(links, 1):
        where = f"write {link['seq']} ({link['kind']} {link['ref']})"
        if int(link["seq"]) != expected:
            return ChainReport(campaign, 0, len(links), f"write {expected} of the chain went missing (deleted)",
                               f"write {expected}")
        if link["prev_hash"] != prev or link["hash"] != link_hash(link["prev_hash"], link["content_json"]):
            return ChainReport(campaign, 0, len(links), f"{where} was altered: its hash no longer follows the chain",
                               f"{link['kind']} {link['ref']}")
        prev = link["hash"]
        newest[(link["kind"], link["ref"])] = link
    current = {("sample", r["id"]): sample_content(r) for r in rows(f"{_SAMPLE_SELECT} WHERE campaign=? ORDER BY seq",
                                                                    (campaign,))}
    docs = rows("SELECT run_uid, seq, name, doc_json FROM documents WHERE run_uid IN "
                "(SELECT r.run_uid FROM sample_runs r JOIN samples s ON s.id = r.sample_id WHERE s.campaign=? "
                "UNION SELECT run_uid FROM samples WHERE campaign=? AND run_uid IS NOT NULL) ORDER BY run_uid, seq",
                (campaign, campaign))
    for d in docs:
        key = ("document", document_ref(d["run_uid"], d["seq"]))
        current[key] = document_content(d["run_uid"], d["seq"], d["name"], d["doc_json"])
    checked = 0
    for key, link in sorted(newest.items(), key=lambda item: item[1]["seq"]):
        label = f"{key[0]} {key[1]}"
        if key not in current:
            return ChainReport(campaign, checked, len(links),
                               f"{label} went missing (last written at write {link['seq']} of the chain)", label)
        now = current.pop(key)
        if canonical(now) != link["content_json"]:
            changes = "; ".join(differences(json.loads(link["content_json"]), now)) or "its content"
            return ChainReport(campaign, checked, len(links), f"{label} changed: {changes}", label)
        checked += 1
    if current:
        kind, ref = next(iter(current))
        return ChainReport(campaign, checked, len(links),
                           f"{kind} {ref} is not in the chain (written behind the store's back)", f"{kind} {ref}")
    return ChainReport(campaign, checked, len(links))


def differences(old: Any, new: Any, path: str = "", limit: int = 3) -> list[str]:
    """Up to ``limit`` leaves that differ, as ``path: old -> new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(f"{where}: {_short(old[key])} -> (removed)")
            elif key not in old:
                out.append(f"{where}: (absent) -> {_short(new[key])}")
            else:
                out += differences(old[key], new[key], where, limit - len(out))
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += differences(a, b, f"{path}[{i}]", limit - len(out))
            if len(out) >= limit:
                break
        return out[:limit]
    if canonical(old) == canonical(new):
        return []
    return [f"{path or 'content'}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = canonical(value)
    return text if len(text) <= 60 else text[:57] + "..."

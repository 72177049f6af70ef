"""Custody of a campaign's records before the optimizer fits on them: the hash chain must hold."""

from __future__ import annotations

import logging

from controller.records.store import RecordStore
from core import StoreError

log = logging.getLogger(__name__)

OVERRIDE_FLAG = "--accept-broken-chain"


def check_chain(store: RecordStore, campaign: str, accept_broken: bool) -> str | None:
    """The optimizer never fits on records that changed after they were written: a broken hash
    chain refuses the run unless overridden.

    Returns:
        what is broken when overridden (the caller records who overrode it), else None.

    Raises:
        StoreError: the chain is broken and ``accept_broken`` is False; names the first
            changed record and the override flag.
    """
    report = store.verify_chain(campaign)
    if report.intact:
        return None
    if not accept_broken:
        raise StoreError(f"{report.line()}; the optimizer will not fit on changed records: see `sdl verify {campaign}`, "
                         f"restore the store from a backup, or continue anyway with {OVERRIDE_FLAG} (recorded as an event)")
    log.warning("%s; continuing: %s", report.line(), OVERRIDE_FLAG)
    return report.problem

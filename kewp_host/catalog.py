"""`kewpctl status`'s catalogue line: the version the last `flask catalog refresh` brought in (from
catalog-version.json beside the database, written by the app; the live database is not opened)
and when the kewp-catalog-refresh timer runs next."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "catalog-version.json"  # app/services/catalog_refresh.py writes it
TIMER = "kewp-catalog-refresh.timer"


def catalog_part(cfg: dict[str, str], rep: Any) -> None:
    from .ctl import clock, epoch, show, span  # noqa: PLC0415 (ctl imports this module: its helpers come late)

    path = Path(cfg["KEWP_ONCALL_DB"]).parent / STATUS_FILE
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
        text = (f"version {status['version']} (refresh {status['refresh_id']}, {status['finished_at']}): "
                f"{status['key_events']} KEs, {status['pathways']} pathways; {status['added']} added, "
                f"{status['changed']} changed, {status['withdrawn']} withdrawn, {status['flagged']} mappings flagged")
    except FileNotFoundError:
        text = "as first imported (no refresh yet)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        text = f"{path}: unreadable ({exc})"
    timer = show(TIMER, "ActiveState", "NextElapseUSecRealtime")
    nxt = epoch(timer.get("NextElapseUSecRealtime"))
    if nxt:
        text += f"; next refresh {clock(nxt)} (in {span(nxt - time.time())})"
    elif timer.get("ActiveState") not in (None, "", "inactive"):
        text += f"; refresh timer {timer.get('ActiveState')}"
    rep.add("catalogue", text)


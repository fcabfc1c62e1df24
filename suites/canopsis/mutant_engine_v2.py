"""The node's ``cps_standin/engine.py`` under the product mutant ``engines-drop-previous-release-events``
(``mutants.py``): put on the node in place of the shipped engine module (kept beside it as
``engine_shipped.py``), it runs on the node's own interpreter, with the stand-in's modules.

From 4.6.0 the mutant's engines tag what they forward to the next engine with a new encoding header and
read only messages so tagged: a message queued in Engine_che or Engine_axe by a previous release's engine
(no header) is acked and recorded as rejected (``unable to parse event``) instead of processed. Events the
sources publish to ``canopsis.events`` are read as before (engine-fifo is unchanged), so only the events
in flight between engines across the update are lost: a mixed-version bug.
"""

from __future__ import annotations

import time
from typing import Any

from cps_standin import engine_shipped as shipped
from cps_standin import store
from cps_standin.common import installed_version, vkey
from cps_standin.engine_shipped import *  # noqa: F403 - the rest of the module as shipped

HEADER, ENCODING, SINCE = "x-canopsis-encoding", "v2", (4, 6, 0)


class _Tagging:
    """The channel, with every message forwarded to the next engine tagged with the new encoding."""

    def __init__(self, ch: Any) -> None:
        self.ch = ch

    def basic_publish(self, exchange: str, key: str, body: bytes, props: Any) -> None:
        props.headers = {**(props.headers or {}), HEADER: ENCODING}
        self.ch.basic_publish(exchange, key, body, props)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ch, name)


class Engine(shipped.Engine):
    def __init__(self, name: str, publish_queue: str | None) -> None:
        super().__init__(name, publish_queue)
        version = installed_version()
        self.new = bool(version) and vkey(version) >= SINCE

    def handle(self, ch: Any, batch: list[tuple[Any, Any, bytes]]) -> None:
        if not self.new:
            return super().handle(ch, batch)
        if self.name == "fifo":
            return super().handle(_Tagging(ch), batch)
        good = [d for d in batch if (d[1].headers or {}).get(HEADER) == ENCODING]
        bad = [(shipped.event_id(p, b), f"unable to parse event: unknown encoding (want {HEADER}={ENCODING})")
               for _m, p, b in batch if (p.headers or {}).get(HEADER) != ENCODING]
        if bad:
            store.reject(self.db or store.connect(), bad, time.time())
            self.log("warn", "invalid event", event_id=bad[0][0], error=bad[0][1], count=len(bad))
        if good:  # the last delivery's tag, so the batch's ack covers the rejected ones too
            good[-1] = (batch[-1][0], good[-1][1], good[-1][2])
            return super().handle(_Tagging(ch), good)
        ch.basic_ack(batch[-1][0].delivery_tag, multiple=True)
        if self.publish_queue:
            ch.tx_commit()
        return None


shipped.Engine = Engine  # type: ignore[misc]  # main() builds this one
main = shipped.main

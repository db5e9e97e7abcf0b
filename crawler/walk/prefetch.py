"""A fetch thread that walks a listing's `next` links ahead of the store.

Cursor pagination is sequential (each page names the next), so the only overlap
to win is between fetching page n+1 and storing page n. The fetch thread never
touches the database: failures travel with the page to the consumer, which
records them.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hubcensus.crawler.hub import EndpointUnreachable, HubClient, HubError, Page


@dataclass
class Fetched:
    """A page (or its final failure), the failures of the rounds before it, or a fatal error."""

    page: Page | None
    failures: list[HubError] = field(default_factory=list)
    error: BaseException | None = None


def fetch_rounds(client: HubClient, url: str, rounds: int) -> Fetched:
    """One page, tried `rounds` times (each round is already retried inside the client)."""
    failures: list[HubError] = []
    for round_ in range(rounds):
        try:
            return Fetched(client.list_page(url), failures)
        except HubError as exc:
            failures.append(exc)
            if isinstance(exc, EndpointUnreachable):
                break  # the endpoint never answered: the run fails fast, with a hint
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
                break  # the request itself is wrong: another round will not fix it
            if round_ + 1 < rounds:
                client.sleep(client.retry.delay(client.retry.retries))
    return Fetched(None, failures)


def prefetch(
    fetch: Callable[[str, int], Fetched],
    url: str,
    go_on: Callable[[Page, int], bool],
    stop: threading.Event,
    depth: int,
) -> Iterator[list[Fetched]]:
    """Fetched pages from `url` on, in groups of those ready (at most `depth`) when the consumer asks.

    `fetch(url, fetched_so_far)` gets one page; the thread follows its `next_url`
    while `go_on(page, fetched_so_far)` and `stop` is clear. A slow consumer gets
    the pages queued meanwhile as one group, so it never idles the quota; a fast
    one gets a page at a time. The last group ends at a failed fetch or the end.
    """
    ready: queue.Queue[Fetched | None] = queue.Queue(maxsize=depth)
    gone = threading.Event()

    def put(item: Fetched | None) -> None:
        while not gone.is_set():
            with contextlib.suppress(queue.Full):
                ready.put(item, timeout=0.1)
                return

    def produce() -> None:
        fetched, next_url = 0, url
        try:
            while next_url is not None and not stop.is_set() and not gone.is_set():
                result = fetch(next_url, fetched)
                put(result)
                if result.page is None:
                    return
                fetched += len(result.page.items)
                next_url = result.page.next_url if go_on(result.page, fetched) else None
        except BaseException as exc:  # CrawlInterrupted, or a bug: re-raised by the consumer
            put(Fetched(None, [], exc))
        finally:
            put(None)

    producer = threading.Thread(target=produce, name="hubcensus-fetch", daemon=True)
    producer.start()
    try:
        ended = False
        while not ended and not stop.is_set():
            items = [ready.get()]
            while items[-1] is not None and len(items) < depth:
                try:
                    items.append(ready.get_nowait())
                except queue.Empty:
                    break
            ended = items[-1] is None
            group = [item for item in items if item is not None]
            if group:
                yield group
    finally:
        gone.set()

"""Batches: many requests, one result per request in input order, on any executor.

:meth:`llmcore.Client.chat_completion_batch` runs one client's requests on a thread pool or on
any :class:`concurrent.futures.Executor`; :func:`batch_smart` spreads ``(client, request)``
pairs over their providers, each with its own concurrency limit and its own rate-limit backoff.

What travels to executors that run elsewhere (a process pool, a dask cluster, Ray) is a
:class:`ClientSpec` (the provider, the base URL and the connection options) and the requests,
never a live client: each worker process builds one client per spec, once, and reuses it
(:func:`run_item`). The API key is read from the worker's environment, unless the batch was
explicitly asked to send it (``send_key=True``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import email.utils
import itertools
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from llmcore.cancel import CancelHandle
from llmcore.chat import ChatCompletionRequest, ChatCompletionResponse
from llmcore.errors import (
    CancelledRequestError,
    ConfigurationError,
    InvalidInputError,
    LlmError,
    redact,
    retry_after_seconds,
)
from llmcore.http import HttpResponse
from llmcore.options import ConnectionOptions, RetryPolicy, check_retry_policy
from llmcore.providers import Provider

if TYPE_CHECKING:
    from llmcore.client import Client

__all__ = [
    "BatchResult",
    "ClientSpec",
    "ResultCallback",
    "batch_smart",
    "rate_limit_wait",
    "run_item",
]

log = logging.getLogger("llmcore")

BatchResult = ChatCompletionResponse | LlmError
"""What one slot of a batch holds: the answer, or the typed error of that request."""

ResultCallback = Callable[[int, BatchResult], None]
"""``on_result(index, result)``: called once per request as its result arrives."""

INLINE_MAX = 2
"""Batches of at most this many requests run one after the other on the calling thread."""


def cancelled_error(index: int) -> CancelledRequestError:
    """The error in the slot of a request the batch's cancel stopped."""
    return CancelledRequestError(f"requests[{index}] was cancelled with its batch")


def unexpected_error(index: int, exc: BaseException | None) -> LlmError:
    """The error that holds a batch slot whose request raised something unexpected."""
    if exc is None:
        return LlmError(f"requests[{index}] produced no result")
    if isinstance(exc, LlmError):
        return exc
    err = LlmError(
        f"requests[{index}] failed unexpectedly: {type(exc).__name__}: {redact(str(exc))}"
    )
    err.__cause__ = exc
    return err


# --- what travels to other processes -------------------------------------------------------------
@attrs.frozen(repr=False)
class ClientSpec:
    """Everything a worker process needs to build the same client, and nothing live.

    ``provider`` and ``base_url`` are what the client was created with, ``options`` its
    connection options. ``api_key`` is ``None`` (the worker reads the provider's
    ``api_key_env`` variables from its own environment) unless the batch was explicitly told to
    send the key (``send_key=True``): then it travels in every task, in plain text.
    """

    provider: str | Provider
    base_url: str | None
    options: ConnectionOptions
    api_key: str | None = None

    def build(self) -> Client:
        """A new client from this spec (the process default plugins)."""
        from llmcore.client import Client

        return Client(
            self.provider, api_key=self.api_key, base_url=self.base_url, options=self.options
        )

    def __repr__(self) -> str:
        key = "sent" if self.api_key else "from the worker's environment"
        return f"ClientSpec(provider={self.provider!r}, options={self.options!r}, api_key={key})"


_worker_clients: dict[bytes, Client] = {}
_worker_lock = threading.Lock()


def worker_client(spec: ClientSpec) -> Client:
    """The client this process built for ``spec`` (built on first use, then reused)."""
    import pickle  # only in batch workers: not worth its import at start-up

    key = pickle.dumps(spec)
    with _worker_lock:
        client = _worker_clients.get(key)
        if client is None:
            client = spec.build()
            _worker_clients[key] = client
        return client


def run_item(
    spec: ClientSpec,
    index: int,
    request: ChatCompletionRequest,
    retry: RetryPolicy | None = None,
) -> BatchResult:
    """Run one batch item in whatever process this is, on that process's client for ``spec``.

    Never raises: a client that cannot be built (no key in the worker's environment) puts its
    :class:`ConfigurationError` in the slot, like any other failure.
    """
    try:
        client = worker_client(spec)
    except LlmError as err:
        return err
    except Exception as exc:
        return unexpected_error(index, exc)
    return client._batch_item(index, request, retry=retry)


# --- progress ----------------------------------------------------------------------------------
class Progress:
    """A progress bar: tqdm when it is installed (``pip install llmcore[progress]``), else one
    text line on stderr rewritten in place when stderr is a terminal (nothing otherwise)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]
        except ImportError:
            self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        else:
            self._bar = tqdm(total=total, desc="llmcore batch", unit="req", file=self._stream)
            self._tty = False

    def update(self, result: BatchResult) -> None:
        self.done += 1
        if isinstance(result, LlmError):
            self.failed += 1
        if self._bar is not None:
            self._bar.update(1)
            if self.failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
        elif self._tty:
            self._stream.write(f"\rllmcore batch: {self.done}/{self.total} ({self.failed} failed)")
            self._stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._tty:
            self._stream.write("\n")
            self._stream.flush()


# --- the ordered runner --------------------------------------------------------------------------
def run_ordered(
    count: int,
    submit: Callable[[int], concurrent.futures.Future[BatchResult]],
    *,
    window: int,
    on_result: ResultCallback | None,
    progress: bool,
    cancel: CancelHandle | None,
    wait_running: bool,
) -> list[BatchResult]:
    """Submit items ``0..count-1`` with at most ``window`` in flight; results in input order.

    Results are collected on the calling thread, which also runs ``on_result`` and the
    progress bar (one at a time, in completion order). Completions arrive through one queue
    (each future's done-callback), so collecting costs the same per item however many are in
    flight. On cancel nothing more is submitted, pending futures are cancelled, and running
    ones are waited for when ``wait_running`` (a local pool: their requests are interrupted
    by the same handle) or else marked cancelled at once (an executor elsewhere cannot
    interrupt them). A future that raises (a worker that died) puts an :class:`LlmError` in
    its slot.
    """
    results: list[BatchResult | None] = [None] * count
    bar = Progress(count) if progress else None
    arrived: queue.SimpleQueue[int] = queue.SimpleQueue()  # indexes; -1 means "cancelled"
    running: dict[int, concurrent.futures.Future[BatchResult]] = {}

    def wake() -> None:
        arrived.put(-1)

    if cancel is not None:
        cancel.on_cancel(wake)

    def collect(index: int) -> None:
        future = running.pop(index)
        if future.cancelled():
            result: BatchResult = cancelled_error(index)
        else:
            exc = future.exception()
            result = unexpected_error(index, exc) if exc is not None else future.result()
        results[index] = result
        if bar is not None:
            bar.update(result)
        if on_result is not None:
            on_result(index, result)

    # With nothing to run per result and every item in flight at once, the calling thread is
    # woken once, by the last future to finish (-2), instead of once per item: on a thread
    # pool, each wake-up takes the interpreter lock from the workers while they parse.
    quiet = on_result is None and bar is None and window >= count
    finished = itertools.count(1)

    def last_done(_future: object) -> None:
        if next(finished) == count:
            arrived.put(-2)

    def start(index: int) -> None:
        future = submit(index)
        running[index] = future
        future.add_done_callback(last_done if quiet else lambda _f: arrived.put(index))

    def collect_done() -> None:
        for index in [i for i, f in running.items() if f.done()]:
            collect(index)

    stopped = cancel is not None and cancel.cancelled
    next_index = 0
    try:
        while not stopped:
            while next_index < count and len(running) < window:
                start(next_index)
                next_index += 1
            if not running:
                break
            index = arrived.get()
            if index == -1:
                stopped = True
            elif index == -2:
                collect_done()
            elif index in running:
                collect(index)
        if stopped:
            for index, future in list(running.items()):
                if future.cancel() or not wait_running:
                    collect(index)
            while running:
                index = arrived.get()
                if index == -2:
                    collect_done()
                elif index in running:
                    collect(index)
    finally:
        if cancel is not None:
            cancel.discard(wake)
        for future in running.values():  # the callback raised: nothing more runs
            future.cancel()
        if bar is not None:
            bar.close()
    out: list[BatchResult] = []
    for index, result in enumerate(results):
        out.append(result if result is not None else cancelled_error(index))
    return out


# --- rate limits --------------------------------------------------------------------------------
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def _reset_seconds(value: str, now: float) -> float | None:
    """A reset header as seconds from now: ``"1.5"``, ``"6m0s"``, ``"20ms"`` or a date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(n) * scale[u] for n, u in parts)
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - now)


def rate_limit_wait(response: HttpResponse, now: float | None = None) -> float | None:
    """How long a provider asks to be left alone, read from a response's headers, or None.

    A 429 waits for its ``retry-after-ms`` / ``Retry-After`` hint, else for the longest
    ``x-ratelimit-reset-*`` among the limits whose ``x-ratelimit-remaining-*`` is 0 (or 1
    second when there is no hint at all). Any other response waits only when one of its
    ``x-ratelimit-remaining-*`` counters reached 0, until that limit's reset.

    :param response: the response whose headers are read.
    :param now: the current POSIX time for date-valued resets (default ``time.time()``).
    :returns: seconds to wait, or ``None``. Never raises.
    """
    now = time.time() if now is None else now
    waits: list[float] = []
    for name, value in response.headers.items():
        lower = name.lower()
        if not lower.startswith("x-ratelimit-remaining-"):
            continue
        try:
            remaining = float(value)
        except ValueError:
            continue
        if remaining > 0:
            continue
        reset = response.header("x-ratelimit-reset-" + lower[len("x-ratelimit-remaining-") :])
        seconds = _reset_seconds(reset, now) if reset else None
        if seconds is not None:
            waits.append(seconds)
    if response.status == 429:
        hint = retry_after_seconds(response, now)
        if hint is not None:
            return hint
        return max(waits) if waits else 1.0
    return max(waits) if waits else None


class ProviderGate:
    """One provider's share of a smart batch: a concurrency limit (its own threads) and a
    shared pause that every request of this provider waits out before it is sent."""

    def __init__(self, name: str, concurrency: int, max_wait: float) -> None:
        self.name = name
        self.concurrency = concurrency
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._until = 0.0

    @property
    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when none)."""
        with self._lock:
            return max(0.0, self._until - time.monotonic())

    def pause(self, seconds: float) -> None:
        seconds = min(seconds, self.max_wait)
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)
        log.debug("llmcore: batch pauses provider %s for %.2fs (rate limit)", self.name, seconds)

    def wait(self, cancel: CancelHandle | None) -> None:
        while True:
            delay = self.paused_for
            if delay <= 0:
                return
            if cancel is not None:
                cancel.sleep(delay)
            else:
                time.sleep(delay)

    def observe(self, response: HttpResponse, _provider: Provider) -> None:
        seconds = rate_limit_wait(response)
        if seconds is not None and seconds > 0:
            self.pause(seconds)


def _limit_for(client: Client, concurrency: int | Mapping[str, int] | None) -> int:
    if isinstance(concurrency, int):
        value = concurrency
    elif isinstance(concurrency, Mapping):
        value = concurrency.get(client.provider.name, client.options.pool_size)
    else:
        value = client.options.pool_size
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"concurrency for provider {client.provider.name!r} must be an int >= 1, got {value!r}"
        )
    return value


def _resolve_clients(
    items: Iterable[tuple[Client | str | Provider, ChatCompletionRequest]],
    stack: contextlib.ExitStack,
) -> list[tuple[Client, ChatCompletionRequest]]:
    """The pairs with every provider name or :class:`Provider` turned into a client: one
    per distinct provider, built here (key and base URL from the environment) and closed by
    ``stack``. Raises before anything is sent when a provider cannot be used."""
    from llmcore.client import Client

    made: dict[object, Client] = {}
    pairs: list[tuple[Client, ChatCompletionRequest]] = []
    for index, item in enumerate(items):
        if not isinstance(item, tuple) or len(item) != 2:
            raise InvalidInputError.at(
                f"items[{index}]", f"expected a (client or provider, request) pair, got {item!r}"
            )
        target, request = item
        if isinstance(target, Client):
            pairs.append((target, request))
            continue
        if not isinstance(target, (str, Provider)):
            raise InvalidInputError.at(
                f"items[{index}][0]",
                f"expected a Client, a provider name or a Provider, got a {type(target).__name__}",
            )
        key: object = target if isinstance(target, str) else id(target)
        client = made.get(key)
        if client is None:
            try:
                client = made[key] = Client(target)
            except LlmError as err:
                err.message = f"items[{index}]: {err.message}"
                err.args = (err.message,)
                raise
            stack.callback(client.close)
        pairs.append((client, request))
    return pairs


def batch_smart(
    items: Iterable[tuple[Client | str | Provider, ChatCompletionRequest]],
    concurrency: int | Mapping[str, int] | None = None,
    *,
    on_result: ResultCallback | None = None,
    progress: bool = False,
    cancel: CancelHandle | None = None,
    retry: RetryPolicy | None = None,
) -> list[BatchResult]:
    """Run ``(client, request)`` pairs, grouped by client, each group at its own pace.

    A pair may name its provider instead of giving a client: ``("anthropic", request)`` or
    ``(provider, request)`` with a :class:`~llmcore.Provider` value. The batch then builds
    one client per distinct provider (key and base URL from the environment, as
    ``Client(name)`` does), uses it for every pair that names that provider, and closes it at
    the end.

    - Each client (one provider) gets its own threads: ``concurrency`` requests at a time, an
      int for every provider or a mapping from provider name to limit; the default is the
      client's ``pool_size``. Its connection pool grows to match for the batch.
    - A provider that answers 429, or whose ``x-ratelimit-remaining-*`` counter reaches 0, is
      paused for its ``Retry-After`` / ``x-ratelimit-reset-*`` (capped at the client's
      ``max_retry_after``): its next requests wait, the other providers' requests go on.
      The request that got the 429 is retried by the client's own retry policy.
    - At most :data:`INLINE_MAX` requests in all run one after the other on this thread.

    :param items: ``(client, request)`` pairs, or ``(provider name or Provider, request)``;
        the pairs of one client (or one named provider) form one group.
    :param concurrency: the limit per provider: an int for all, or a mapping from provider
        name to limit (a provider not in it gets its client's ``pool_size``).
    :param on_result: ``on_result(index, result)`` once per pair, on the calling thread, in
        completion order.
    :param progress: show a progress bar (tqdm when installed, else a text line on a
        terminal's stderr).
    :param cancel: a :class:`~llmcore.CancelHandle`: ``cancel()`` from any thread keeps the
        finished results and puts a :class:`~llmcore.errors.CancelledRequestError` in every
        other slot.
    :param retry: a :class:`~llmcore.RetryPolicy` for every request (default: each
        client's own).
    :returns: one result per pair, in input order. Never raises for a failing item.
    :raises ConfigurationError: a limit is not an int >= 1, or a named provider is not
        installed or has no key (the message names the item); nothing is sent then.
    :raises InvalidInputError: an item is not a pair of a client (or provider) and a request,
        or ``retry`` is not a :class:`~llmcore.RetryPolicy`.
    """
    check_retry_policy(retry)
    with contextlib.ExitStack() as owned:
        pairs = _resolve_clients(items, owned)
        return _run_smart(pairs, concurrency, on_result, progress, cancel, retry)


def _run_smart(
    pairs: list[tuple[Client, ChatCompletionRequest]],
    concurrency: int | Mapping[str, int] | None,
    on_result: ResultCallback | None,
    progress: bool,
    cancel: CancelHandle | None,
    retry: RetryPolicy | None,
) -> list[BatchResult]:
    results: list[BatchResult]
    if len(pairs) <= INLINE_MAX:
        results = []
        bar = Progress(len(pairs)) if progress else None
        for index, (client, request) in enumerate(pairs):
            if cancel is not None and cancel.cancelled:
                result: BatchResult = cancelled_error(index)
            else:
                result = client._batch_item(index, request, cancel=cancel, retry=retry)
            results.append(result)
            if bar is not None:
                bar.update(result)
            if on_result is not None:
                on_result(index, result)
        if bar is not None:
            bar.close()
        return results
    groups: dict[int, tuple[Client, ProviderGate]] = {}
    for client, _ in pairs:
        if id(client) not in groups:
            limit = _limit_for(client, concurrency)
            gate = ProviderGate(client.provider.name, limit, client.options.max_retry_after)
            groups[id(client)] = (client, gate)
    pools = {
        key: concurrent.futures.ThreadPoolExecutor(gate.concurrency, f"llmcore-{gate.name}")
        for key, (_, gate) in groups.items()
    }

    def run(index: int, client: Client, gate: ProviderGate) -> BatchResult:
        try:
            gate.wait(cancel)
        except Exception:
            return cancelled_error(index)
        return client._batch_item(
            index, pairs[index][1], cancel=cancel, on_response=gate.observe, retry=retry
        )

    def submit(index: int) -> concurrent.futures.Future[BatchResult]:
        client, gate = groups[id(pairs[index][0])]
        return pools[id(client)].submit(run, index, client, gate)

    with contextlib.ExitStack() as stack:
        for client, gate in groups.values():
            stack.enter_context(client._transport.reserve(gate.concurrency))
        for pool in pools.values():
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        return run_ordered(
            len(pairs),
            submit,
            window=len(pairs),
            on_result=on_result,
            progress=progress,
            cancel=cancel,
            wait_running=True,
        )

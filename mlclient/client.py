"""The backend's client of the ML service (Open Inference Protocol v2 over HTTP).

One :class:`MLClient` per app, started in the lifespan and closed on shutdown. Every call:

1. refuses a model not on the allow-list (no URL is ever built from anything else);
2. asks the circuit breaker (fails fast while open);
3. takes one of ``max_concurrent_calls`` slots, waiting at most ``saturation_wait_seconds``;
4. sends the request under ``deadline_seconds`` overall, retrying once, after a jittered pause,
   only when the request cannot have been processed: a refused connection, or a 503;
5. reads at most ``max_response_bytes`` of the reply, then checks it against the contract.

Failures come out as the :mod:`mlclient.errors` tree and feed the breaker, a model that is not
ready and a request the model refused included: the backend checks the features itself before
calling, so either means the model cannot be used now.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import orjson

from mlclient.breaker import BreakerStatus, CircuitBreaker
from mlclient.config import MODEL_NAME, MLClientConfig
from mlclient.contract import (
    InferenceResult,
    ModelMetadata,
    ReadyStatus,
    Tensor,
    error_message,
    parse_infer_response,
    parse_metadata,
)
from mlclient.errors import (
    MLBadGateway,
    MLContractViolation,
    MLError,
    MLModelNotFound,
    MLModelNotReady,
    MLNotConfigured,
    MLResponseTooLarge,
    MLSaturated,
    MLTimeout,
    MLUnreachable,
    MLUpstreamError,
    MLUpstreamRejected,
)

T = TypeVar("T")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The breaker counts these as the service failing; any other MLError means it answered sanely.
_FAILURES = (MLTimeout, MLBadGateway, MLUnreachable, MLModelNotReady)
# How long a caller is told to wait for a model that is loading or unloaded.
MODEL_NOT_READY_RETRY_AFTER = 5


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    latency_ms: float

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise MLContractViolation(
                "ML response is not JSON", upstream_status=self.status
            ) from None


class MLClient:
    """Usage: ``async with MLClient(config) as ml: result = await ml.infer(...)``, or
    ``await start()`` / ``await close()`` from a lifespan."""

    def __init__(
        self,
        config: MLClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._transport = transport
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._breaker = CircuitBreaker(
            config.breaker_failure_threshold, config.breaker_reset_seconds, clock
        )
        self._http: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(config.max_concurrent_calls)

    async def start(self) -> None:
        c = self.config
        if self._http is not None or c.base_url is None:
            return
        self._http = httpx.AsyncClient(
            base_url=c.base_url,
            timeout=httpx.Timeout(
                connect=c.connect_timeout,
                read=c.read_timeout,
                write=c.write_timeout,
                pool=c.pool_timeout,
            ),
            limits=httpx.Limits(
                max_connections=c.max_concurrent_calls,
                max_keepalive_connections=c.max_concurrent_calls,
            ),
            follow_redirects=False,
            # No proxy or .netrc from the environment: the ML service is reached directly.
            trust_env=False,
            transport=self._transport,
            headers={"Accept": "application/json", "User-Agent": "medai-mlclient"},
        )

    async def close(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def breaker_status(self) -> BreakerStatus:
        return self._breaker.status()

    async def ready(self, request_id: str | None = None) -> ReadyStatus:
        """Whether the ML service says it is ready, under ``ready_deadline_seconds``.

        A non-200 answer is "not ready" (the protocol's meaning), not an error; no response at
        all raises like any call.
        """

        def parse(reply: _Reply) -> ReadyStatus:
            return ReadyStatus(reply.status == 200, reply.latency_ms, reply.status)

        return await self._call(
            "GET",
            "/v2/health/ready",
            None,
            _request_id(request_id),
            parse,
            deadline=self.config.ready_deadline_seconds,
            retry_on_503=False,
        )

    async def model_ready(
        self,
        model: str,
        version: str | None = None,
        request_id: str | None = None,
        *,
        guarded: bool = True,
    ) -> ReadyStatus:
        """Whether the ML service has this model loaded and ready, under
        ``ready_deadline_seconds``: 200 (with no body, or a body not saying ``ready: false``).

        MLServer answers its server-level probe 200 with no model loaded; this is the probe
        that tells. A model that is not ready counts as a failure for the breaker, and a ready
        one closes a half-open breaker: recovery is proven by the model, not the process.
        ``guarded=False`` bypasses the breaker (a follow-up of a call it already judged).
        """
        name = self._allowed(model)

        def parse(reply: _Reply) -> ReadyStatus:
            ready = reply.status == 200
            if ready and reply.body.strip():
                try:
                    body = orjson.loads(reply.body)
                except orjson.JSONDecodeError:
                    body = None
                ready = not (isinstance(body, dict) and body.get("ready") is False)
            return ReadyStatus(ready, reply.latency_ms, reply.status)

        return await self._call(
            "GET",
            f"{_model_path(name, version)}/ready",
            None,
            _request_id(request_id),
            parse,
            deadline=self.config.ready_deadline_seconds,
            retry_on_503=False,
            guarded=guarded,
        )

    async def model_metadata(self, model: str, request_id: str | None = None) -> ModelMetadata:
        """The metadata of an allowed model (versions, platform, input and output tensors)."""
        name = self._allowed(model)

        def parse(reply: _Reply) -> ModelMetadata:
            _raise_for_status(reply)
            return parse_metadata(reply.json(), model=name)

        # A metadata read proves the server answers, not that the model predicts: it must not
        # reset the failure count that a model refusing every prediction builds up.
        rid = _request_id(request_id)
        try:
            return await self._call(
                "GET",
                f"/v2/models/{name}",
                None,
                rid,
                parse,
                deadline=self.config.deadline_seconds,
                retry_on_503=True,
                success_counts=False,
            )
        except MLUpstreamRejected as exc:
            raise await self._refused_or_not_ready(exc, name, None, rid) from None

    async def infer(
        self,
        model: str,
        inputs: Sequence[Tensor],
        request_id: str | None = None,
        *,
        outputs: Sequence[str] | None = None,
        version: str | None = None,
    ) -> InferenceResult:
        """Run an allowed model (``version`` of it, when given) on ``inputs``; ``outputs`` names
        the outputs wanted (the server's default if None). ``request_id`` goes out as
        ``X-Request-ID`` and as the protocol's ``id``.

        A 4xx answer is followed by the model's readiness probe: a model that is not ready
        raises :class:`MLModelNotReady` (503), a ready one that refused the request
        :class:`MLUpstreamRejected` (502)."""
        name = self._allowed(model)
        rid = _request_id(request_id)
        if not inputs:
            raise ValueError("at least one input tensor is required")
        body: dict[str, Any] = {"id": rid, "inputs": [t.to_json() for t in inputs]}
        if outputs:
            body["outputs"] = [{"name": n} for n in outputs]

        def parse(reply: _Reply) -> InferenceResult:
            _raise_for_status(reply)
            version, tensors = parse_infer_response(
                reply.json(), model=name, request_id=rid, wanted=outputs
            )
            return InferenceResult(name, version, rid, tensors, reply.latency_ms, reply.status)

        try:
            return await self._call(
                "POST",
                f"{_model_path(name, version)}/infer",
                orjson.dumps(body),
                rid,
                parse,
                deadline=self.config.deadline_seconds,
                retry_on_503=True,
            )
        except MLUpstreamRejected as exc:
            raise await self._refused_or_not_ready(exc, name, version, rid) from None

    async def _refused_or_not_ready(
        self, exc: MLUpstreamRejected, name: str, version: str | None, request_id: str
    ) -> MLError:
        """MLServer answers a loading model's infer with 400, Triton an unknown model's: only
        the model's own readiness tells "not ready" from "refused what we sent"."""
        try:
            status = await self.model_ready(name, version, request_id, guarded=False)
        except MLError:
            return exc
        if status.ready:
            return exc
        return MLModelNotReady(
            f"model {name!r} is not ready ({exc.message})",
            retry_after=MODEL_NOT_READY_RETRY_AFTER,
            upstream_status=exc.upstream_status,
        )

    def _allowed(self, model: str) -> str:
        for name in self.config.models:
            if name == model:
                # The configured string goes into the URL, not the caller's.
                return name
        raise MLModelNotFound(f"model {model!r} is not on the allow-list")

    async def _call(
        self,
        method: str,
        path: str,
        content: bytes | None,
        request_id: str,
        parse: Callable[[_Reply], T],
        *,
        deadline: float,
        retry_on_503: bool,
        guarded: bool = True,
        success_counts: bool = True,
    ) -> T:
        if self.config.base_url is None:
            raise MLNotConfigured("no ML service is configured", retry_after=60)
        if self._http is None:
            raise RuntimeError("MLClient used before start() or after close()")
        if not guarded:
            await self._take_slot()
            try:
                reply = await self._exchange(
                    self._http, method, path, content, request_id, deadline, retry_on_503
                )
                return parse(reply)
            finally:
                self._slots.release()
        permit = self._breaker.acquire()
        try:
            await self._take_slot()
        except BaseException:
            self._breaker.release(permit)
            raise
        try:
            reply = await self._exchange(
                self._http, method, path, content, request_id, deadline, retry_on_503
            )
            result = parse(reply)
        except _FAILURES:
            self._breaker.record_failure(permit)
            raise
        except BaseException:
            self._breaker.release(permit)
            raise
        finally:
            self._slots.release()
        if reply.status >= 500 or (isinstance(result, ReadyStatus) and not result.ready):
            # Only the readiness probes get here with a non-200: "not ready" is an answer, but
            # a failing one.
            self._breaker.record_failure(permit)
        elif success_counts:
            self._breaker.record_success(permit)
        else:
            self._breaker.release(permit)
        return result

    async def _take_slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self.config.saturation_wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise MLSaturated("all ML call slots are busy", retry_after=1) from None

    async def _exchange(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        content: bytes | None,
        request_id: str,
        deadline: float,
        retry_on_503: bool,
    ) -> _Reply:
        headers = {"X-Request-ID": request_id}
        if content is not None:
            headers["Content-Type"] = "application/json"
        started = self._clock()
        try:
            async with asyncio.timeout(deadline):
                for attempt in (1, 2):
                    last = attempt == 2
                    try:
                        status, response_headers, body = await self._send(
                            http, method, path, content, headers
                        )
                    except httpx.ConnectError:
                        # Refused or reset while connecting: the server never saw the request.
                        if last:
                            raise
                    else:
                        if status != 503 or not retry_on_503 or last:
                            elapsed = (self._clock() - started) * 1000
                            return _Reply(status, response_headers, body, elapsed)
                    await asyncio.sleep(self._rng.uniform(0, self.config.retry_jitter_seconds))
        except TimeoutError:
            raise MLTimeout(f"ML service gave no answer within {deadline} s") from None
        except httpx.ConnectError as exc:
            raise MLUnreachable(f"ML service unreachable: {exc}", retry_after=1) from None
        except httpx.PoolTimeout:
            raise MLSaturated("no connection to the ML service free in time") from None
        except httpx.TimeoutException as exc:
            raise MLTimeout(f"ML service timed out ({type(exc).__name__})") from None
        except httpx.DecodingError:
            raise MLContractViolation("ML response has a broken content encoding") from None
        except httpx.TransportError as exc:
            raise MLUpstreamError(f"ML service broke the exchange: {type(exc).__name__}") from None
        raise AssertionError("unreachable: the loop returns or raises")

    async def _send(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        content: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, httpx.Headers, bytes]:
        limit = self.config.max_response_bytes
        async with http.stream(method, path, content=content, headers=headers) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise MLResponseTooLarge(
                    f"ML response of {declared} bytes exceeds {limit}",
                    upstream_status=response.status_code,
                )
            chunks: list[bytes] = []
            size = 0
            # Counted after decompression: a small gzip bomb cannot get past the cap.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise MLResponseTooLarge(
                        f"ML response exceeds {limit} bytes", upstream_status=response.status_code
                    )
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)


def _model_path(name: str, version: str | None) -> str:
    if version is None:
        return f"/v2/models/{name}"
    if not MODEL_NAME.fullmatch(version) or ".." in version:
        raise ValueError(f"invalid model version {version!r}")
    return f"/v2/models/{name}/versions/{version}"


def _request_id(request_id: str | None) -> str:
    if request_id is None:
        return uuid.uuid4().hex
    if not REQUEST_ID.fullmatch(request_id):
        raise ValueError("request_id must be 1-128 characters of [A-Za-z0-9._:-]")
    return request_id


def _retry_after(headers: httpx.Headers) -> int:
    value = headers.get("retry-after", "")
    return min(int(value), 300) if value.isdigit() else 1


def _raise_for_status(reply: _Reply) -> None:
    status = reply.status
    if status == 200:
        return
    try:
        reason = error_message(orjson.loads(reply.body))
    except orjson.JSONDecodeError:
        reason = ""
    detail = f": {reason!r}" if reason else ""
    if status in (400, 413, 422):
        raise MLUpstreamRejected(f"ML service refused the request{detail}", upstream_status=status)
    if status == 404:
        raise MLModelNotReady(
            f"ML service does not serve this model now{detail}",
            retry_after=MODEL_NOT_READY_RETRY_AFTER,
            upstream_status=404,
        )
    if status == 503:
        raise MLUnreachable(
            f"ML service unavailable{detail}",
            retry_after=_retry_after(reply.headers),
            upstream_status=503,
        )
    raise MLUpstreamError(f"ML service answered {status}{detail}", upstream_status=status)

"""The REST calls a trading program makes beside the socket: login, orders, snapshots.

Every error answer becomes an `ApiError` (`AuthenticationFailed` for 401) with the server's
`code` and `message`; every success is parsed into its `tradewire.schemas` model.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pydantic

from tradewire.client.errors import api_error
from tradewire.schemas import (
    ConfigOut,
    LoginOut,
    OrderIn,
    OrderOut,
    OrderStatus,
    OrderType,
    Portfolio,
    Quote,
    Side,
    SymbolOut,
    TradeOut,
    UserEventsPage,
)

M = TypeVar("M", bound=pydantic.BaseModel)


class RestApi:
    """tradewire's REST API at `base_url`, with the session id of the last `login` as its
    `Authorization: Bearer` credential. Close it (`aclose`) when done."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, trust_env=False)
        self.session_id: str | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.session_id is not None:
            headers["Authorization"] = f"Bearer {self.session_id}"
        response = await self._http.request(method, path, headers=headers, **kwargs)
        if response.is_error:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            raise api_error(response.status_code, body)
        return response

    async def _get(self, model: type[M], path: str, **params: Any) -> M:
        response = await self._request("GET", path, params=params or None)
        return model.model_validate_json(response.content)

    async def _get_list(self, model: type[M], path: str, **params: Any) -> list[M]:
        response = await self._request("GET", path, params=params or None)
        return pydantic.TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]

    async def login(self, username: str, password: str) -> LoginOut:
        """`POST /api/auth/login`; later calls (and the socket) use its session id.
        Raises `AuthenticationFailed` for a wrong username or password."""
        response = await self._request(
            "POST", "/api/auth/login", json={"username": username, "password": password}
        )
        login = LoginOut.model_validate_json(response.content)
        self.session_id = login.session_id
        return login

    async def logout(self) -> None:
        """`POST /api/auth/logout`: ends the session; the server disconnects its sockets."""
        await self._request("POST", "/api/auth/logout")
        self.session_id = None

    async def config(self) -> ConfigOut:
        return await self._get(ConfigOut, "/api/config")

    async def symbols(self) -> list[SymbolOut]:
        return await self._get_list(SymbolOut, "/api/symbols")

    async def quotes(self, symbols: list[str]) -> list[Quote]:
        return await self._get_list(Quote, "/api/quotes", symbols=",".join(symbols))

    async def place_order(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        *,
        type: OrderType = "market",
        limit_price: Decimal | str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderOut:
        """`POST /api/orders`. The answer is the order as recorded: `filled`, `open` (a limit
        order resting until the market crosses it) or `rejected` with `reject_reason`; the fill
        also arrives on the socket as `trade:executed`. With `idempotency_key` a retry returns
        the same order and never executes twice."""
        order = OrderIn(
            symbol=symbol,
            side=side,
            quantity=quantity,
            type=type,
            limit_price=Decimal(limit_price) if limit_price is not None else None,
        )
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = await self._request("POST", "/api/orders", json=order.wire(), headers=headers)
        return OrderOut.model_validate_json(response.content)

    async def orders(self, status: OrderStatus | None = None, limit: int = 100) -> list[OrderOut]:
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status
        return await self._get_list(OrderOut, "/api/orders", **params)

    async def cancel_order(self, order_id: int) -> OrderOut:
        response = await self._request("DELETE", f"/api/orders/{order_id}")
        return OrderOut.model_validate_json(response.content)

    async def portfolio(self) -> Portfolio:
        return await self._get(Portfolio, "/api/portfolio")

    async def trades(self, limit: int = 50) -> list[TradeOut]:
        return await self._get_list(TradeOut, "/api/trades", limit=limit)

    async def events(self, after: int = 0, limit: int = 200) -> UserEventsPage:
        """`GET /api/events?after=`: the user's events after `seq`, oldest first, and where the
        history stands (`epoch`, `last_seq`)."""
        return await self._get(UserEventsPage, "/api/events", after=after, limit=limit)

"""A small FastAPI app exercising what the server span must describe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, WebSocket
from fastapi.responses import StreamingResponse

import saler_tracing


def make_app(**fastapi_kwargs: object) -> FastAPI:
    app = FastAPI(**fastapi_kwargs)  # type: ignore[arg-type]

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        with saler_tracing.span("load item", item_id=item_id):
            return {"id": item_id}

    @app.get("/missing/{item_id}")
    async def missing(item_id: int) -> None:
        raise HTTPException(status_code=404, detail="no such item")

    @app.get("/fail")
    async def fail() -> None:
        raise HTTPException(status_code=503, detail="down")

    @app.get("/crash")
    async def crash() -> None:
        raise ValueError("the order total went negative")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(3):
                with saler_tracing.span("chunk", index=index):
                    await asyncio.sleep(0)
                    yield f"part{index}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"ok": "yes"}

    @app.websocket("/ws/{room}")
    async def ws(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        message = await websocket.receive_text()
        await websocket.send_text(f"{room}:{message}")
        await websocket.close()

    return app

"""Serve an ASGI app with real uvicorn on 127.0.0.1, in a thread of the test process.

The same helper the example shop uses (one implementation): it yields the base URL once
uvicorn accepts connections and stops the server afterwards.
"""

from examples.shop.serve import serve

__all__ = ["serve"]

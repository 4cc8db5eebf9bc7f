# The demo services (shop, payments, worker) for deploy/compose.yaml; build context: the
# repository root. One image, the role is the command (examples/shop/container.py).
FROM python:3.11.13-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY examples ./examples
RUN pip install --no-cache-dir '.[fastapi,sqlalchemy,httpx]' 'uvicorn>=0.30' \
    && useradd --system --home-dir /app shop \
    && mkdir -p /var/lib/saler-tracing && chown shop /var/lib/saler-tracing
USER shop
ENTRYPOINT ["python", "-m", "examples.shop.container"]

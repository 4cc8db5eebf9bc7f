"""The shipped bundle stays small and self-contained (``bash browser/build.sh`` prints its
size; ``.ci/run`` checks it equals a fresh build of the pinned sources)."""

from __future__ import annotations

import gzip
from importlib import resources

BUDGET_GZIP_BYTES = 35_000  # 29.1 kB when written: the SDK, four instrumentations, web-vitals


def _bundle() -> bytes:
    package = "saler_tracing._internal.endpoints.browser"
    return resources.files(package).joinpath("static", "saler-tracing.min.js").read_bytes()


def test_the_bundle_is_small_and_names_what_it_bundles() -> None:
    bundle = _bundle()
    assert len(gzip.compress(bundle, 9)) < BUDGET_GZIP_BYTES
    head = bundle[: bundle.index(b"*/")].decode()
    assert "@opentelemetry/sdk-trace-web@2.12.0" in head and "web-vitals@6.2.3" in head
    assert b"var SalerTracing=" in bundle[:1000]


def test_the_bundle_fetches_nothing_but_the_intake() -> None:
    # No CDN, no remote config: the only URLs it contacts are those init() is given.
    text = _bundle().decode()
    assert "sourceMappingURL" not in text
    assert "https://cdn" not in text and "unpkg.com" not in text

"""The compiled modules: the OTLP encoder's common case (``encode.py`` says why), the
scrubber's first checks (``scrubber.py``) and the head sampler's common child (``head.py``).

``optional=True``: without a C compiler the install still succeeds, and each runs in Python
alone (same results, more instructions a span).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "saler_tracing._internal.export._speedups",
            ["src/saler_tracing/_internal/export/_speedups.c"],
            optional=True,
        ),
        Extension(
            "saler_tracing._internal.scrub._quick",
            ["src/saler_tracing/_internal/scrub/_quick.c"],
            optional=True,
        ),
        Extension(
            "saler_tracing._internal.sampling._child",
            ["src/saler_tracing/_internal/sampling/_child.c"],
            optional=True,
        ),
    ]
)

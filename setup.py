"""The one compiled module: the OTLP encoder's common case (``encode.py`` says why).

``optional=True``: without a C compiler the install still succeeds, and the encoder runs in
Python alone (same bytes, more instructions a span).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "saler_tracing._internal.export._speedups",
            ["src/saler_tracing/_internal/export/_speedups.c"],
            optional=True,
        )
    ]
)

"""Analysis: each question a function of a :class:`~..store.seam.SpanReader` and a window."""

"""Analysis: each question a function of a :class:`~..store.api.SpanReader` and a window."""

"""Configuration: the public option groups ``configure()`` takes (``options``), one declaration
per setting with its variables, type, default and doc (``settings``), and the resolution of
both with the environment into one checked ``Config`` (``resolve``)."""

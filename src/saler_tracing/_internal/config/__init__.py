"""Configuration: the public option groups ``configure()`` takes (``options``), one declaration
per setting with its variables, type, default and doc (``settings``, values read by
``parse``), their resolution with the environment (``resolve``) into one checked ``Config``
(``resolved``), and the docs table rendered from the declarations (``table``)."""

"""Critical flows: spans an integration marks so that the samplers keep their whole trace.

A webhook delivery or a sign-in is rare, and the one that failed is the one someone will ask
about; a route glob (``sampling.critical_routes``) cannot name them, because the route of a
webhook is whatever the application chose. The integration marks its own span instead, and the
tail decision keeps the local trace of any span carrying the mark, exempt from the rate cap
like a critical route.
"""

CRITICAL_ATTR = "saler.critical"
"""The flow a span belongs to (``webhooks``, ``auth``); its presence is the mark."""

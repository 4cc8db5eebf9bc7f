"""The integrations: one module, or one package when it needs several, per library; each
imports its library only when its ``instrument_*`` runs, and is built from ``kit``."""

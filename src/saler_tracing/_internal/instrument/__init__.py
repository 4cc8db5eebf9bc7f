"""One module per integration; each imports its library only when its ``instrument_*`` runs."""

"""PII scrubbing: key rules, value detectors, pseudonyms, and the pipeline stage (see
``build``). Nothing here is imported until ``configure()`` builds a pipeline."""

"""Live connector status: one change stream per process, fanned out to subscribers."""

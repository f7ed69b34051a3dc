"""Run-time utilities: device contexts, output folders, logging."""

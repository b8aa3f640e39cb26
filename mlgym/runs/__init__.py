"""mlgym.runs."""

"""mlgym.families."""

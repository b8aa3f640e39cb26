"""mlgym.analysis."""

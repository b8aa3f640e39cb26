"""mlgym.core."""

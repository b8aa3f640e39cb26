"""mlgym.env."""

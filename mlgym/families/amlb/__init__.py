"""mlgym.families.amlb."""

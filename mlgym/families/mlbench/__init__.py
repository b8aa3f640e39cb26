"""mlgym.families.mlbench."""

"""mlgym.families.mlagentbench."""

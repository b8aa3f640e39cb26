"""mlgym.families.folder."""

"""mlgym.families.kaggle."""

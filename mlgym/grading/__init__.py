"""mlgym.grading."""

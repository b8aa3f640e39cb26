"""mlgym.runlog."""

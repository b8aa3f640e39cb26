"""mlgym.families.multimodal."""

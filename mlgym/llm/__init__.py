"""mlgym.llm."""

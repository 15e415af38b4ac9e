"""API keys, who is asking, and what each caller may do."""

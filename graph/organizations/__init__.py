"""Organizations: the companies that own and operate charge stations."""

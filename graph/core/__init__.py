"""Plumbing shared by every domain: ids, time, paging, errors, context."""

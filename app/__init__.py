"""Answer: the service that retrieves from an index and answers with cited sources."""

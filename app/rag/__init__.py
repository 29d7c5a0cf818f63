"""Question → answer with sources: indexes (open and hot-reload), retriever, prompt, citations,
and the pipeline that runs them in that order."""

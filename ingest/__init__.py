"""Ingest: turns folders of documents into a versioned, searchable FAISS index.

The pipeline, in the order data flows through it:
scan (which files) → loaders (text units with provenance) → chunker (token-aware chunks)
→ embedder (vectors) → store (the index format on disk). `sync` runs it incrementally.
"""

"""`sourced eval`: retrieval and answer quality on standard datasets (BEIR, SQuAD)."""

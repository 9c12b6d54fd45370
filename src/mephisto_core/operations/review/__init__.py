"""Review: approve, reject, bonus and block through the provider, worker statistics and inter-annotator agreement."""

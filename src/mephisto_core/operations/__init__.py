"""Operations: the operator and what it runs (launcher, worker pool, client IO, database writer, simulation)."""

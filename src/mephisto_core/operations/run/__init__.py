"""The run: the operator and what it drives (launcher, worker pool, client IO, database writer, channel, simulation)."""

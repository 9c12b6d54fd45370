"""Operations: the run (run/), review (review/), export (export/), and the data browser and unit filters they share."""

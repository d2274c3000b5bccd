"""How a stage's process lives and ends: Ctrl-C at any moment as one line (interrupts), and a stage whose
dvc repro is gone commits nothing (orphans)."""

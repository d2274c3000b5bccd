"""The model: train (one process and DDP), export and every format of the registry, the exported files as
the phone reads them, and the gate (its arithmetic, and the broken models it must catch)."""

"""The run layer: run directories and their file names (`files`), resume, tracking (W&B),
backbone export, atomic I/O, sweeps and studies.

Importing the package imports nothing else: `pretrainkit.report` reads `files` and `io` without
paying for torch, Lightning or Hydra."""

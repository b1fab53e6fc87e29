"""Training: config, task protocols, the Lightning loop, checkpoints and the ``train`` entry point.

Import from the submodules (``training.run.train``, ``training.checkpoint.load_method``, ...);
this package imports nothing heavy on its own.
"""

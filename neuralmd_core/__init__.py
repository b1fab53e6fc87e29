"""neuralmd: learn protein-ligand binding dynamics from MD and predict new ligand trajectories."""

__version__ = "0.1.0"

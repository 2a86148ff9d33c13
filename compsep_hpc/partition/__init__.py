"""Where the parameters vary: Galactic regions and their patch partitions (K-means, multires)."""

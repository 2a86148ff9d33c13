"""Cosmology from the recovered CMB: residual BB spectra, r, and each item's figures."""

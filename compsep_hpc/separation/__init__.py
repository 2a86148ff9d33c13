"""Component separation: the spectral likelihood, its fits (Newton, L-BFGS) and one configuration's evaluation."""

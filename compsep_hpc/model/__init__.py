"""The physical model: spectral parameters, SEDs and the mixing matrix, instruments and noise."""

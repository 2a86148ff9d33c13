"""Names of the components and spectral parameters, and the SED reference frequencies (no JAX)."""

COMPONENTS = ("cmb", "dust", "synch")
PARAMETERS = ("beta_dust", "temp_dust", "beta_synch")
PATCH_KEYS = ("K_beta_dust", "K_temp_dust", "K_beta_synch")  # the grid value of each parameter, same order

DEFAULT_NU_DUST = 150.0  # GHz
DEFAULT_NU_SYNCH = 20.0  # GHz

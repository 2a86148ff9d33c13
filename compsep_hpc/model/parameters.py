"""The default model's fitted parameters and SED reference frequencies, for the synthetic skies
(sky/), which draw their own true values of these three parameters (no JAX).

Everything else takes its parameter list from the run's model (``config.model.fitted``,
model/sky_model.py): grid axes, work items, records, tables, plots.
"""

from compsep_hpc.model.components.dust import DEFAULT_NU_DUST
from compsep_hpc.model.components.synchrotron import DEFAULT_NU_SYNCH
from compsep_hpc.model.sky_model import DEFAULT_MODEL

PARAMETERS = DEFAULT_MODEL.fitted  # beta_dust, temp_dust, beta_synch: the synthetic skies' parameters

__all__ = ["DEFAULT_NU_DUST", "DEFAULT_NU_SYNCH", "PARAMETERS"]

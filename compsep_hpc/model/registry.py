"""The registered sky components, by the name configs use. Adding a component: one file in
``model/components/`` and one line here."""

from __future__ import annotations

from compsep_hpc.model.components.ame import PolarizedAME
from compsep_hpc.model.components.cmb import CMB
from compsep_hpc.model.components.curved_synchrotron import CurvedSynchrotron
from compsep_hpc.model.components.dust import ModifiedBlackBody
from compsep_hpc.model.components.synchrotron import PowerLawSynchrotron

COMPONENT_TYPES = {
    CMB.name: CMB,
    ModifiedBlackBody.name: ModifiedBlackBody,
    PowerLawSynchrotron.name: PowerLawSynchrotron,
    CurvedSynchrotron.name: CurvedSynchrotron,
    PolarizedAME.name: PolarizedAME,
}

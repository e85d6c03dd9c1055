"""The three interventions of PCMCi, one module each, in the poster's order.

* :mod:`~pcmci_edu.interventions.ich`: co-occurrence hallucination, back-door via optimal transport;
* :mod:`~pcmci_edu.interventions.ici`: codependency illusion, back-door via label relation graphs;
* :mod:`~pcmci_edu.interventions.ivc`: visual confounders, front-door with the text as mediator.

:class:`pcmci_edu.model.PCMCi` composes them in any order.
"""

from pcmci_edu.interventions.fusion import PassThroughFusion
from pcmci_edu.interventions.ich import (ICH, PrototypeDictionary, TransportSolution, build_prototypes,
                                         entropic_transport_plan, solve_entropic_transport)
from pcmci_edu.interventions.ici import ICI, Relations, build_relations
from pcmci_edu.interventions.ivc import IVC, build_memory

INTERVENTIONS: tuple[str, ...] = ("ich", "ici", "ivc")
"""The interventions' names in the poster's order."""

__all__ = ["ICH", "ICI", "INTERVENTIONS", "IVC", "PrototypeDictionary", "Relations", "build_memory",
           "build_prototypes", "build_relations", "entropic_transport_plan", "PassThroughFusion",
           "TransportSolution", "solve_entropic_transport"]

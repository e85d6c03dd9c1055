"""The structural causal model (SCM) behind PCMCi, what dowhy identifies on it, and traces of its
confounders in data (chapters 1 and 2).

Variables (the poster's notation): ``V`` the video, ``T`` the label text, ``Y`` the label,
``M`` the mediator (the deconfounded text ``T*`` through which IVC routes the video), and
three latent confounders: ``H`` co-occurrence hallucination (``{T, V} <- H -> Y``), ``I``
codependency illusion (``T <- I -> Y``) and ``C`` visual confounders (``V <- C -> Y``).
One idea per module:

- :mod:`~pcmci_edu.scm.graph`: the graph, the interventions' cuts, back-door paths;
- :mod:`~pcmci_edu.scm.identification`: dowhy's estimand for each query of chapter 2;
- :mod:`~pcmci_edu.scm.simulation`: linear SCMs with known truth, naive against adjusted;
- :mod:`~pcmci_edu.scm.explorer`: the chapter-2 explorer (cut edges, identify, estimate);
- :mod:`~pcmci_edu.scm.label_structure`: co-occurrence and exclusive actions (``I``);
- :mod:`~pcmci_edu.scm.probes`: a correlational scorer and the masking probe (``H``, ``C``);
- :mod:`~pcmci_edu.scm.evidence`: Charades' scene as a measured confounder;
- :mod:`~pcmci_edu.scm.real_data`: the real-data aggregates of chapters 1, 2 and 9, computed from
  the annotation files or read from the committed copy;
- :mod:`~pcmci_edu.scm.primer`: the causal primer's small discrete SCMs (``do``, back-door and
  front-door by hand, checked with dowhy);
- :mod:`~pcmci_edu.scm.stats_primer`: the statistics primer's examples (paired tests on benchmark
  draws, power, equivalence).

Every public name of the first seven modules is importable from here (``from pcmci_edu import
scm``); the last three are used as modules (``from pcmci_edu.scm import primer``).
"""

from pcmci_edu.scm.evidence import (all_stratified_risk_differences, multi_hot, scene_adjusted_estimates,
                                    scene_predictiveness, stratified_risk_difference)
from pcmci_edu.scm.explorer import EXPLORER_DEFAULTS, EXPLORER_EDGES, explore
from pcmci_edu.scm.graph import (CONFOUNDING_EDGES, DESCRIPTIONS, INTERVENTIONS, LATENT, OBSERVED, backdoor_paths,
                                 format_path, intervene, is_blocked, latent_nodes, pcmci_graph, progressive_graphs,
                                 with_edges)
from pcmci_edu.scm.identification import (QUERIES, Identification, Query, causal_model, confounder_view, identify,
                                          observed_columns)
from pcmci_edu.scm.label_structure import (action_cooccurrence, activity_action_frequency, exclusive_pairs,
                                           exclusivity_violations, shared_actions)
from pcmci_edu.scm.probes import (CorrelationalScorer, companion_similarity, context_predictiveness, masking_probe,
                                  mean_pooled)
from pcmci_edu.scm.simulation import (SimulatedCase, backdoor_case, estimate_effects, estimate_over_seeds,
                                      frontdoor_case, simulate_linear_scm, true_linear_effect)

__all__ = [
    "CONFOUNDING_EDGES", "CorrelationalScorer", "DESCRIPTIONS", "EXPLORER_DEFAULTS", "EXPLORER_EDGES",
    "INTERVENTIONS", "Identification", "LATENT", "OBSERVED", "QUERIES", "Query", "SimulatedCase",
    "action_cooccurrence", "activity_action_frequency", "all_stratified_risk_differences", "backdoor_case",
    "backdoor_paths", "causal_model", "companion_similarity", "confounder_view", "context_predictiveness",
    "estimate_effects", "estimate_over_seeds", "exclusive_pairs", "exclusivity_violations", "explore",
    "format_path", "frontdoor_case", "identify", "intervene", "is_blocked", "latent_nodes", "masking_probe",
    "mean_pooled", "multi_hot", "observed_columns", "pcmci_graph", "progressive_graphs",
    "scene_adjusted_estimates", "scene_predictiveness", "shared_actions", "simulate_linear_scm",
    "stratified_risk_difference", "true_linear_effect", "with_edges",
]

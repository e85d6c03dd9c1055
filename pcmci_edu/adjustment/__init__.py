"""What actually deconfounds? The adjustment ladder of chapter 8, one idea per module.

- :mod:`~pcmci_edu.adjustment.confounders`: the benchmark's true confounder and a learned,
  label-free surrogate of it;
- :mod:`~pcmci_edu.adjustment.positivity`: empty (activity, context) cells, importance weights
  and their effective sample size;
- :mod:`~pcmci_edu.adjustment.adjustments`: the linear rungs (parts removed, logit adjustment,
  product of experts, the back-door sum over contexts, reweighting);
- :mod:`~pcmci_edu.adjustment.models`: the trained-model rungs (PCMCi, its mediator-only IVC,
  the attention-pooling control, and a surrogate logit adjustment inside PCMCi);
- :mod:`~pcmci_edu.adjustment.ladder`: the runner over confounding levels x benchmark draws x
  model seeds;
- :mod:`~pcmci_edu.adjustment.conclusions`: the computed conclusions and the results file.
"""

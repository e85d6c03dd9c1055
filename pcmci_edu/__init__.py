"""pcmci_edu: teach and reproduce PCMCi (Progressive Cross-Modal Causal Intervention
for Long-Term Action Recognition, CVPR 2026)."""

from pcmci_edu.profile import PROFILES, pick, resolve_profile

__version__ = "0.1.0"

__all__ = ["PROFILES", "__version__", "pick", "resolve_profile"]

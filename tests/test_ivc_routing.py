"""IVC's front-door routing: with ``routing="mediator_only"`` the video reaches the classifier only
through the mediator attention ``P(m | V)``; with the poster's routing it also goes straight through."""

from __future__ import annotations

import pytest
import torch

from pcmci_edu.interventions.ivc import IVC
from pcmci_edu.model import ModelConfig, PCMCi


def _blind_attention(ivc: IVC) -> None:
    """Make ``P(m | V)`` the same for every video: zero the attention's query projection."""
    with torch.no_grad():
        ivc.attention.query.weight.zero_()
        ivc.attention.query.bias.zero_()


@pytest.mark.parametrize("routing, video_reaches_output", [("mediator_only", False), ("poster", True)])
def test_ivc_output_depends_on_the_video_only_through_the_mediator_attention(routing, video_reaches_output):
    torch.manual_seed(0)
    ivc = IVC(dim=8, routing=routing)
    _blind_attention(ivc)
    mediator = torch.randn(1, 5, 8)
    tokens, other_tokens = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    out, details = ivc(mediator, tokens)
    other_out, other_details = ivc(mediator, other_tokens)
    assert torch.allclose(details["ivc_attention"], other_details["ivc_attention"])  # same P(m | V)
    assert torch.allclose(out, other_out, atol=1e-6) is not video_reaches_output


def test_mediator_only_logits_ignore_the_frames_when_the_attention_is_fixed():
    """The whole model: with IVC's attention blind to the video, a mediator-only model gives the
    same logits for any frames (no path from V to Y outside M), and the poster's routing does not."""
    torch.manual_seed(0)
    text = torch.randn(7, 16)
    frames, other_frames = torch.randn(3, 4, 16), torch.randn(3, 4, 16)
    logits = {}
    for routing in ("mediator_only", "poster"):
        model = PCMCi(ModelConfig(feature_dim=16, num_frames=4, width=16, heads=2, interventions=("ivc",),
                                  ivc_routing=routing), text[2:], text[:2]).eval()
        _blind_attention(model.interventions["ivc"])
        with torch.no_grad():
            logits[routing] = (model(frames).action_logits, model(other_frames).action_logits)
    assert torch.allclose(*logits["mediator_only"], atol=1e-5)
    assert not torch.allclose(*logits["poster"], atol=1e-3)


@pytest.mark.parametrize("routing, has_other_path", [("mediator_only", False), ("poster", True)])
def test_mediator_only_gradient_reaches_the_video_only_through_the_attention(routing, has_other_path):
    """Gradient path check: with the attention weights cut from the graph, the mediator-only
    output has no gradient with respect to the video tokens (the poster's routing has one)."""
    torch.manual_seed(0)
    ivc = IVC(dim=8, routing=routing)
    tokens = torch.randn(2, 6, 8, requires_grad=True)
    mediator = torch.randn(1, 5, 8)
    original = ivc.attention.forward

    def detached_attention(queries, context):
        output, weights = original(queries, context)
        weights = weights.detach()
        return ivc.attention.output(weights @ ivc.attention.value(context)), weights

    ivc.attention.forward = detached_attention
    out, _ = ivc(mediator, tokens)
    gradient = torch.autograd.grad(out.sum(), tokens, allow_unused=True)[0] if out.requires_grad else None
    assert (gradient is not None and bool(gradient.abs().sum() > 0)) is has_other_path


def test_unknown_or_incompatible_routing_is_a_clear_error():
    with pytest.raises(ValueError, match="routing='sideways'"):
        IVC(dim=4, routing="sideways")
    with pytest.raises(ValueError, match="ivc_routing='mediator_only' cannot be combined"):
        ModelConfig(feature_dim=8, num_frames=4, ivc_routing="mediator_only", ivc_sampling="cross_sample")

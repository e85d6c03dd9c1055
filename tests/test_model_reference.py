"""The model's computation may change (issue 12: speed), its mathematics may not: in every
configuration of tests/reference/make_model_reference.py, the logits, the details, the
gradients of the loss and the training-mode logits equal, within float tolerance, the ones the
model's code at commit e98d6c9 produced (tests/reference/model_outputs.json.gz; the
training-mode logits re-recorded in issue 21, when the dropout masks came to be drawn explicitly). The gradients are
checked on both paths: with details (as stored) and without (how training runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REFERENCE = Path(__file__).with_name("reference")
sys.path.insert(0, str(REFERENCE))
from make_model_reference import CONFIGURATIONS, build, load_reference, outputs  # noqa: E402

STORED = load_reference()


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_outputs_equal_the_reference(name: str) -> None:
    expected, actual = STORED[name], outputs(name)
    missing = sorted(set(expected) - set(actual))
    assert not missing, f"{name}: no longer computed: {missing}"
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, rtol=1e-4, atol=1e-5, msg=lambda text: f"{name} {key}: {text}")


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_gradients_without_details_equal_the_reference(name: str) -> None:
    model, data = build(name)
    model.eval()
    model.loss(model(data["frames"]), data["activities"], data["actions"]).backward()
    for key, parameter in model.named_parameters():
        if f"grad.{key}" in STORED[name]:
            torch.testing.assert_close(parameter.grad, STORED[name][f"grad.{key}"], rtol=1e-4, atol=1e-5,
                                       msg=lambda text: f"{name} grad.{key}: {text}")


"""Write ``model_outputs.json.gz``: the outputs, details and gradients of PCMCi in many
configurations on small fixed inputs, as the reference that ``tests/test_model_reference.py``
holds later versions of the model's code to (equal within float tolerance at the same seed).

    .venv/bin/python tests/reference/make_model_reference.py

The stored file was written by the model's code at commit e98d6c9 (before the issue-12 speed
work), so rerunning this script only makes sense to extend the reference on purpose. One
exception, deliberate: the training-mode logits (``train_action_logits``) were recorded again in
issue 21, when the encoder's dropout masks came to be drawn explicitly (so that a batched
ensemble can give each member the masks it would draw alone): the same dropout, other random
draws. Every other tensor still equals the e98d6c9 values (checked when re-recording).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch

from pcmci_edu.interventions.ich import PrototypeDictionary
from pcmci_edu.interventions.ici import Relations
from pcmci_edu.model import ModelConfig, PCMCi

OUTPUT = Path(__file__).with_name("model_outputs.json.gz")
DIM, FRAMES, ACTIVITIES, ACTIONS, BATCH = 16, 6, 3, 7, 4
CONFIGURATIONS: dict[str, dict] = {
    "base": {"interventions": ()},
    "poster": {"interventions": ("ich", "ici", "ivc")},
    "ivc_ici_ich": {"interventions": ("ivc", "ici", "ich")},
    "ici_ich_ivc": {"interventions": ("ici", "ich", "ivc")},
    "ich": {"interventions": ("ich",)},
    "ici": {"interventions": ("ici",)},
    "ivc": {"interventions": ("ivc",)},
    "dictionary_cross_sample": {"interventions": ("ich", "ici", "ivc"), "ich_visual_tokens": "dictionary",
                                "ivc_sampling": "cross_sample"},
    "attention_pooling": {"interventions": ("ich", "ici", "ivc"), "label_pooling": "attention"},
    "mediator_only": {"interventions": ("ich", "ici", "ivc"), "ivc_routing": "mediator_only"},
    "frame_adapter": {"interventions": ("ich", "ici", "ivc"), "feature_dim": 24, "text_dim": DIM},
}


def inputs(feature_dim: int) -> dict[str, torch.Tensor]:
    """Fixed inputs: frames, labels, text features, relation graphs, prototypes, memory."""
    generator = torch.Generator().manual_seed(12)
    labels = ACTIVITIES + ACTIONS
    adjacency = torch.rand(4, labels, labels, generator=generator) * (1 - torch.eye(labels))
    prior = torch.rand(5, generator=generator) + 0.1
    return {
        "frames": torch.randn(BATCH, FRAMES, feature_dim, generator=generator),
        "activities": torch.tensor([0, 2, 1, -1]),
        "actions": (torch.rand(BATCH, ACTIONS, generator=generator) > 0.5).float(),
        "action_text": torch.randn(ACTIONS, DIM, generator=generator),
        "activity_text": torch.randn(ACTIVITIES, DIM, generator=generator),
        "adjacency": adjacency,
        "prototypes": torch.randn(5, DIM, generator=generator),
        "prior": prior / prior.sum(),
        "memory": torch.randn(5, DIM, generator=generator),
    }


def build(name: str) -> tuple[PCMCi, dict[str, torch.Tensor]]:
    """The model of a configuration and its inputs."""
    options = dict(CONFIGURATIONS[name])
    feature_dim = options.pop("feature_dim", DIM)
    data = inputs(feature_dim)
    config = ModelConfig(feature_dim=feature_dim, num_frames=FRAMES, width=16, heads=2, seed=3, **options)
    names = [f"label{i}" for i in range(ACTIVITIES + ACTIONS)]
    relations = Relations(("co_occurrence", "exclusivity", "sharedness", "precedence"), data["adjacency"],
                          names, ACTIVITIES)
    model = PCMCi(config, data["action_text"], data["activity_text"], relations,
                  PrototypeDictionary(data["prototypes"], data["prior"]), data["memory"])
    return model, data


def outputs(name: str) -> dict[str, torch.Tensor]:
    """Logits and details (evaluation mode), gradients of the loss, and training-mode logits."""
    model, data = build(name)
    model.eval()
    result = model(data["frames"], return_details=True)
    model.loss(result, data["activities"], data["actions"]).backward()
    flat = {"action_logits": result.action_logits, "activity_logits": result.activity_logits}
    for key, value in result.details.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": tensor for inner, tensor in value.items()})
        else:
            flat[key] = value
    flat.update({f"grad.{key}": parameter.grad for key, parameter in model.named_parameters()
                 if parameter.grad is not None})
    model.train()
    torch.manual_seed(5)
    flat["train_action_logits"] = model(data["frames"]).action_logits
    return {key: value.detach().clone() for key, value in flat.items() if isinstance(value, torch.Tensor)}


def save_reference(reference: dict[str, dict[str, torch.Tensor]], path: Path = OUTPUT) -> None:
    """Write the reference as gzipped JSON text (golden values, not weights): per configuration and
    key, the tensor's shape and its float32 values with 9 significant digits (exact for float32)."""
    text = json.dumps({name: {key: {"shape": list(value.shape),
                                    "values": [float(f"{x:.9g}") for x in value.float().flatten().tolist()]}
                              for key, value in values.items()}
                       for name, values in reference.items()})
    temporary = path.with_name(path.name + ".tmp")
    with gzip.open(temporary, "wt", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)


def load_reference(path: Path = OUTPUT) -> dict[str, dict[str, torch.Tensor]]:
    """Read what :func:`save_reference` wrote back into float32 tensors."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        stored = json.load(handle)
    return {name: {key: torch.tensor(entry["values"], dtype=torch.float32).reshape(entry["shape"])
                   for key, entry in values.items()}
            for name, values in stored.items()}


if __name__ == "__main__":
    reference = {name: outputs(name) for name in CONFIGURATIONS}
    save_reference(reference)
    print(f"wrote {OUTPUT}: {sum(len(values) for values in reference.values())} tensors")

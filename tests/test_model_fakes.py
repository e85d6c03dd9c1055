"""A tiny dataset that follows the VideoDataset contract, for the model and trainer tests.

Each activity has a script of atomic actions; a video's frames show its actions in order
(action prototype + noise); the text features are the prototypes plus noise.
"""

from __future__ import annotations

import numpy as np
import torch


class FakeVideoDataset(torch.utils.data.Dataset):
    """``num_videos`` videos of ``num_frames`` frames ``[N, D]``, activities and multi-hot actions."""

    SCRIPTS = ((0, 1, 2), (1, 3, 4), (4, 5, 0))

    def __init__(self, num_videos: int = 24, num_frames: int = 8, feature_dim: int = 16,
                 with_activities: bool = True, seed: int = 0, split: str = "train") -> None:
        rng = np.random.default_rng(seed)
        prototypes = np.random.default_rng(123).normal(size=(6, feature_dim)).astype(np.float32)
        activity_prototypes = np.random.default_rng(321).normal(size=(3, feature_dim)).astype(np.float32)
        self.name, self.split = "fake", split
        self.num_frames, self.feature_dim = num_frames, feature_dim
        self.action_names = [f"action_{k}" for k in range(6)]
        self.action_texts = [f"do action {k}" for k in range(6)]
        self.activity_names = [f"activity_{a}" for a in range(3)] if with_activities else []
        self.activity_texts = [f"make thing {a}" for a in range(3)] if with_activities else []
        self.video_ids = [f"{split}_{i:03d}" for i in range(num_videos)]
        activities = rng.integers(0, 3, size=num_videos)
        self.activities = activities.astype(np.int64) if with_activities else np.full(num_videos, -1, np.int64)
        self.actions = np.zeros((num_videos, 6), np.float32)
        self.segments, frames = [], []
        for i, activity in enumerate(activities):
            script = [k for k in self.SCRIPTS[activity] if rng.random() > 0.2] or [self.SCRIPTS[activity][0]]
            self.actions[i, script] = 1.0
            bounds = np.linspace(0, num_frames, len(script) + 1)
            self.segments.append([(k, float(bounds[j]), float(bounds[j + 1])) for j, k in enumerate(script)])
            shown = np.repeat(script, int(np.ceil(num_frames / len(script))))[:num_frames]
            frames.append(prototypes[shown] + 0.5 * activity_prototypes[activity]
                          + 0.8 * rng.normal(size=(num_frames, feature_dim)))
        self._frames = torch.as_tensor(np.stack(frames), dtype=torch.float32)
        self.action_text_features = torch.as_tensor(prototypes + 0.3 * rng.normal(size=prototypes.shape),
                                                     dtype=torch.float32)
        self.activity_text_features = (torch.as_tensor(activity_prototypes, dtype=torch.float32)
                                       if with_activities else None)

    @property
    def has_activities(self) -> bool:
        return len(self.activity_names) > 0

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"frames": self._frames[index], "activity": torch.tensor(self.activities[index]),
                "actions": torch.from_numpy(self.actions[index]), "index": torch.tensor(index)}


def test_fake_dataset_follows_the_contract():
    dataset = FakeVideoDataset(num_videos=5)
    item = dataset[2]
    assert item["frames"].shape == (8, 16) and item["actions"].shape == (6,)
    assert item["activity"].dtype == torch.int64 and 0 <= int(item["activity"]) < 3
    assert all(dataset.actions[i, k] == 1 for i, video in enumerate(dataset.segments) for k, _, _ in video)
    assert not FakeVideoDataset(num_videos=3, with_activities=False).has_activities

"""A visual concept library (SLATE §compositional generation): k-means over slots of a dataset, with cosine
distance (k-means on unit-normalised slots), saved as one safetensors file."""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.cluster import KMeans

from mogent_hf.modules.masking import uniform


@dataclass
class ConceptLibrary:
    """slots (N,D) and their concept labels (N,) long in [0, num_concepts)."""

    slots: torch.Tensor
    labels: torch.Tensor
    num_concepts: int

    @property
    def slot_size(self) -> int:
        return self.slots.shape[1]

    @classmethod
    def fit(cls, slots: torch.Tensor, num_concepts: int, seed: int = 0) -> ConceptLibrary:
        """Clusters slots (N,D) into `num_concepts` concepts."""
        if not isinstance(num_concepts, int) or num_concepts < 1:
            raise ValueError(f"`num_concepts` must be an integer >= 1, got {num_concepts!r}")
        if slots.ndim != 2 or slots.shape[0] < num_concepts:
            raise ValueError(f"need a (N, D) tensor of at least {num_concepts} slots, got {tuple(slots.shape)}")
        normalised = torch.nn.functional.normalize(slots.float(), dim=1).numpy()
        labels = KMeans(n_clusters=num_concepts, n_init=4, random_state=seed).fit_predict(normalised)
        return cls(slots.float(), torch.as_tensor(labels, dtype=torch.long), num_concepts)

    def sample(
        self, num_images: int, num_slots: int, generator: torch.Generator | list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """(num_images, num_slots, D): each scene takes `num_slots` distinct concepts (all of them when there are
        as many concepts as slots) and one random slot of each; concepts are reused only when too few exist.
        A list of generators draws scene s from generator s."""
        present = self.labels.unique()
        scenes = []
        for scene in range(num_images):
            generator_s = generator[scene] if isinstance(generator, list) else generator
            order = uniform((len(present),), generator_s).argsort()
            concepts = present[order].repeat((num_slots + len(present) - 1) // len(present))[:num_slots]
            picks = []
            for concept in concepts:
                members = (self.labels == concept).nonzero().flatten()
                picks.append(members[int(uniform((1,), generator_s).item() * len(members))])
            scenes.append(self.slots[torch.stack(picks)])
        return torch.stack(scenes)

    def save(self, path: str) -> None:
        save_file(
            {"slots": self.slots.contiguous(), "labels": self.labels},
            path,
            metadata={"num_concepts": json.dumps(self.num_concepts)},
        )

    @classmethod
    def load(cls, path: str) -> ConceptLibrary:
        tensors = load_file(path)
        with safe_open(path, "pt") as handle:
            num_concepts = json.loads(handle.metadata()["num_concepts"])
        return cls(tensors["slots"], tensors["labels"], num_concepts)

"""The reference library: the synthesizer's labelled presets plus the user's imports. No Qt here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..store import Store, StoreError

SYNTH_SECONDS = 12.0  # s: long enough for ~14 beats or ~3 breaths
SYNTH_RATE = 4000  # Hz: the model's frontend rate; plenty for heart and lung sounds
SYNTH_SEED = 7  # fixed so a quiz question sounds the same when replayed


@dataclass(frozen=True)
class ReferenceSound:
    """One sound a student can listen to.

    key: "synth:<preset>" or "user:<library item id>"; title: the name the
    student must recognise (also the quiz's answer); source: "synth" | "user"; note: a user
    import's damage note (frames of its file left out, ``LibraryItem.note``), "" for the rest.
    """

    key: str
    title: str
    domain: str
    description: str
    labels: dict = field(default_factory=dict, hash=False, compare=False)
    source: str = "synth"
    note: str = field(default="", compare=False)


def synth_sounds() -> list[ReferenceSound]:
    from ..audio.synth import SOUNDS

    return [ReferenceSound(f"synth:{name}", spec.title, spec.domain, spec.description,
                           dict(spec.labels), "synth") for name, spec in SOUNDS.items()]


def reference_library(store: Store | None = None, domain: str | None = None) -> list[ReferenceSound]:
    """Synth presets then user imports, optionally only one domain ("heart"/"lung")."""
    items = synth_sounds()
    if store is not None:
        items += [_user_sound(it) for it in store.list_library_items()]
    return [s for s in items if domain in (None, s.domain)]


def import_sound(store: Store, path: Path, title: str, domain: str, labels: dict | None = None,
                 description: str = "") -> ReferenceSound:
    """Copy a labelled recording into the library (checked and hashed by the store)."""
    return _user_sound(store.add_library_item(Path(path), title, domain, labels, description))


def _user_sound(item) -> ReferenceSound:
    """A stored ``LibraryItem`` as a reference sound."""
    return ReferenceSound(f"user:{item.id}", item.title, item.domain, item.description, dict(item.labels),
                          "user", item.note)


def load_sound(sound: ReferenceSound, store: Store | None = None) -> tuple[np.ndarray, int]:
    """Samples of a reference sound: ``(float32 [n], samplerate)``."""
    kind, _, ref = sound.key.partition(":")
    if kind == "synth":
        from ..audio.synth import render

        r = render(ref, seconds=SYNTH_SECONDS, samplerate=SYNTH_RATE, seed=SYNTH_SEED)
        return np.asarray(r.samples, dtype=np.float32), int(r.samplerate)
    if kind == "user":
        if store is None:
            raise StoreError("This teaching sound lives in the records database, which is not open.")
        return store.load_library_audio(int(ref))
    raise StoreError(f"Unknown teaching sound {sound.key!r}.")

"""The one record type every dataset adapter returns, and the shared label vocabulary.

A :class:`Record` is one recording (or one segment of a recording, for sets cut into
breathing cycles) with normalised metadata and a ``labels`` dict whose keys come from
:data:`LABEL_KEYS`. A label that the source does not state is ``None`` ("unknown"): adapters
never guess a finding that the dataset does not annotate. Set-specific original columns are
kept under ``labels["orig"]`` so nothing from the source table is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

DOMAINS = ("heart", "lung")

# Normalised auscultation sites. Heart: the four classic valve areas + Erb's point.
HEART_SITES = ("aortic", "pulmonic", "tricuspid", "mitral", "erb", "other_heart")
# Lung: surface x side, and surface x level x side where the source says the level (the same
# keys as the app's site map, stethodesk/store/sites.py). ICBHI and SPRSound give no level.
LUNG_SITES = ("trachea",
              "anterior_left", "anterior_right", "posterior_left", "posterior_right",
              "lateral_left", "lateral_right") + tuple(
    f"{surface}_{level}_{side}" for surface in ("anterior", "lateral", "posterior")
    for level in ("upper", "middle", "lower") for side in ("left", "right"))
SITES = HEART_SITES + LUNG_SITES

# Label vocabulary shared by all sets. Value domains (None = unknown / not annotated):
LABEL_VALUES: dict[str, tuple | type] = {
    # heart
    "abnormal": bool,            # heart recording/patient judged abnormal by the source
    "abnormal_scope": ("recording", "patient"),  # what "abnormal" refers to
    "murmur": ("present", "absent", "unknown"),  # "unknown" = the annotators could not tell
    "murmur_timing": ("systolic", "diastolic", "both"),
    "murmur_timing_detail": str,  # e.g. "holosystolic", "early-systolic", "late-diastolic"
    "murmur_shape": ("plateau", "diamond", "crescendo", "decrescendo"),
    "murmur_grade": str,          # "I/VI".."VI/VI" systolic, "I/IV".."IV/IV" diastolic
    "murmur_pitch": ("low", "medium", "high"),
    "murmur_quality": ("blowing", "harsh", "musical"),
    "lesion": ("N", "AS", "MR", "MS", "MVP"),
    "extrasystole": bool,
    "s3": bool,
    "s4": bool,
    "atrial_fibrillation": bool,
    "av_block": bool,
    "tachycardia": bool,
    # lung
    "adventitious": bool,        # any adventitious lung sound (crackle/wheeze/rhonchi/stridor/rub)
    "crackle": bool,
    "crackle_type": ("fine", "coarse", "both"),
    "wheeze": bool,
    "rhonchi": bool,
    "stridor": bool,
    "pleural_rub": bool,
    "diagnosis": str,            # patient-level diagnosis (ICBHI: COPD, URTI, Healthy, ...)
    # any
    "poor_quality": bool,
    "age_group": ("neonate", "infant", "child", "adolescent", "adult", "older_adult"),
    "sex": ("female", "male"),
    "source_kind": ("patient", "manikin"),
    "mixed": bool,               # heart and lung sound in one recording (HLS-CMDS Mix)
    "orig": dict,                # set-specific original columns, verbatim
}
LABEL_KEYS = tuple(LABEL_VALUES)


def empty_labels() -> dict:
    """A labels dict with every shared key set to None (unknown) and ``orig`` empty."""
    lab = {k: None for k in LABEL_KEYS}
    lab["orig"] = {}
    return lab


@dataclass(frozen=True)
class Record:
    """One recording (or one segment of a recording).

    Attributes
    ----------
    dataset : short set name, e.g. ``"circor2022"``.
    record_id : unique within the dataset (used by manifests).
    path : absolute path of the audio file.
    patient_id : subject identifier used for patient-level splits; for sets without patient ids
        it is the record id (see ``group`` and the adapter docstring).
    domain : ``"heart"`` or ``"lung"`` (where the stethoscope listened).
    site : normalised site from :data:`SITES` or None.
    samplerate : Hz of the file.
    duration_s : seconds of audio this record covers.
    labels : shared vocabulary (:data:`LABEL_KEYS`), None = unknown.
    start_s, end_s : segment of ``path`` this record covers (None = the whole file).
    group : split unit (defaults to ``patient_id``): records of one group never cross splits.
    split : "train" / "val" / "test" once assigned (see ``training.splits``), else None.
    """

    dataset: str
    record_id: str
    path: str
    patient_id: str
    domain: str
    site: str | None
    samplerate: int
    duration_s: float
    labels: dict = field(default_factory=empty_labels, compare=False, hash=False)
    start_s: float | None = None
    end_s: float | None = None
    group: str | None = None
    split: str | None = None

    def __post_init__(self):
        if self.domain not in DOMAINS:
            raise ValueError(f"{self.record_id}: domain must be heart or lung, not {self.domain!r}")
        if self.site is not None and self.site not in SITES:
            raise ValueError(f"{self.record_id}: unknown site {self.site!r}")
        unknown = set(self.labels) - set(LABEL_KEYS)
        if unknown:
            raise ValueError(f"{self.record_id}: labels outside the vocabulary: {sorted(unknown)}")
        if self.group is None:
            object.__setattr__(self, "group", self.patient_id)

    @property
    def key(self) -> str:
        """Globally unique id: ``dataset/record_id``."""
        return f"{self.dataset}/{self.record_id}"

    def with_split(self, split: str | None) -> "Record":
        return replace(self, split=split)

    def label(self, name: str):
        return self.labels.get(name)


def make_labels(**kw) -> dict:
    """``empty_labels()`` updated with ``kw`` (keys checked against the vocabulary)."""
    lab = empty_labels()
    for k, v in kw.items():
        if k not in LABEL_VALUES:
            raise KeyError(f"label {k!r} is not in the shared vocabulary")
        allowed = LABEL_VALUES[k]
        if v is not None and isinstance(allowed, tuple) and v not in allowed:
            raise ValueError(f"label {k}={v!r} not in {allowed}")
        lab[k] = v
    return lab


def age_group_from_years(age: float | None) -> str | None:
    """Age in years -> age group (neonate < 28 days, infant < 1 y, child < 12 y,
    adolescent < 18 y, adult < 65 y, older adult otherwise)."""
    if age is None:
        return None
    if age < 28 / 365.25:
        return "neonate"
    if age < 1:
        return "infant"
    if age < 12:
        return "child"
    if age < 18:
        return "adolescent"
    if age < 65:
        return "adult"
    return "older_adult"


def parse_float(text) -> float | None:
    """Float of a table cell; None for blanks, 'nan', 'NA'."""
    if text is None:
        return None
    t = str(text).strip()
    if t.lower() in ("", "nan", "na", "n/a", "none"):
        return None
    try:
        return float(t)
    except ValueError:
        return None


def clean(text) -> str | None:
    """Stripped cell text; None for blanks and 'nan'."""
    if text is None:
        return None
    t = str(text).strip()
    return None if t.lower() in ("", "nan", "na", "n/a", "none") else t


def sex_of(text) -> str | None:
    t = (clean(text) or "").lower()
    return {"m": "male", "male": "male", "f": "female", "female": "female"}.get(t)


def audio_info(path: Path) -> tuple[int, float]:
    """(samplerate, duration_s) from the file header (fast: no decoding)."""
    import soundfile as sf

    info = sf.info(str(path))
    return int(info.samplerate), float(info.frames) / float(info.samplerate)


def find_audio(folder: Path, stem: str) -> Path | None:
    """The audio file named ``stem`` with any of the usual extensions (the shared copy is FLAC,
    official releases are WAV)."""
    for ext in (".flac", ".wav", ".FLAC", ".WAV", ".ogg", ".mp3"):
        p = folder / (stem + ext)
        if p.exists():
            return p
    return None

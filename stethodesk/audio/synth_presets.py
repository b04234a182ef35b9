"""The synthesizer's catalogue: every named preset with its teaching text, labels and parameters.

Public entry: :mod:`stethodesk.audio.synth` (``SOUNDS``, ``render``). Labels follow the
vocabulary of ``training/data/record.py`` (see the module docstring of ``synth``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .synth_heart import HeartParams, Murmur
from .synth_lung import LungParams


@dataclass(frozen=True)
class SoundSpec:
    """One catalogue entry: what it is, how to listen to it, and its labels."""

    name: str
    domain: str  # "heart" | "lung"
    title: str
    description: str
    labels: dict = field(default_factory=dict)


def _heart_labels(**kw) -> dict:
    base = dict(domain="heart", abnormal=False, murmur="absent", murmur_timing=None,
                murmur_timing_detail=None, murmur_shape=None, murmur_grade=None,
                murmur_pitch=None, murmur_quality=None, lesion="N", s3=False, s4=False,
                split_s2="none", click=False, site="mitral")
    base.update(kw)
    return base


def _lung_labels(**kw) -> dict:
    base = dict(domain="lung", abnormal=False, adventitious=False, crackle=False, crackle_type=None,
                wheeze=False, rhonchi=False, stridor=False, pleural_rub=False, breath_sound="vesicular")
    base.update(kw)
    base["adventitious"] = bool(base["crackle"] or base["wheeze"] or base["rhonchi"] or base["pleural_rub"])
    return base


PRESETS: dict[str, tuple[SoundSpec, object]] = {}


def _add(name: str, domain: str, title: str, description: str, labels: dict, params: object) -> None:
    PRESETS[name] = (SoundSpec(name, domain, title, description, labels), params)


_add("normal_heart", "heart", "Normal heart sounds (S1, S2)",
     "Two sounds per beat: S1 ('lub', lower, longer, loudest at the apex) at the start of systole and "
     "S2 ('dub', shorter, higher, loudest at the base) at its end. Systole is shorter than diastole; "
     "the rate varies slightly with breathing. Listen at all four areas with the diaphragm.",
     _heart_labels(), HeartParams())
_add("split_s2", "heart", "Physiological split S2",
     "S2 splits into A2 then P2 during inspiration (gap up to ~60 ms) and becomes single in "
     "expiration. Best heard at the pulmonary area (2nd left intercostal space) with the diaphragm; "
     "normal in children and young adults.",
     _heart_labels(split_s2="physiological", site="pulmonic"), HeartParams(split="physiological"))
_add("fixed_split_s2", "heart", "Wide fixed split S2",
     "A2 and P2 ~65 ms apart in both inspiration and expiration: the split does not change with "
     "breathing. Pulmonary area. Suggests an atrial septal defect.",
     _heart_labels(abnormal=True, split_s2="fixed", site="pulmonic"), HeartParams(split="fixed"))
_add("s3_gallop", "heart", "S3 gallop",
     "A dull, low extra sound ~150 ms after S2 in early diastole ('Ken-tuck-y'). Best heard at the "
     "apex with the bell, patient in left lateral decubitus. Normal in the young, a sign of "
     "ventricular volume overload or heart failure in older adults.",
     _heart_labels(abnormal=True, s3=True), HeartParams(s3=True))
_add("s4_gallop", "heart", "S4 gallop",
     "A low soft sound just before S1 ('Ten-nes-see'), from atrial contraction into a stiff "
     "ventricle. Apex, bell, left lateral decubitus. Hypertension, aortic stenosis, ischaemia.",
     _heart_labels(abnormal=True, s4=True), HeartParams(s4=True))
_add("aortic_stenosis", "heart", "Aortic stenosis (ejection murmur)",
     "Harsh crescendo-decrescendo (diamond) murmur in mid-systole, starting after S1 and ending "
     "before S2, S2 soft. Loudest at the aortic area (2nd right intercostal space), radiating to "
     "the carotids; diaphragm, patient leaning forward.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="systolic",
                   murmur_timing_detail="mid-systolic", murmur_shape="diamond", murmur_grade="III/VI",
                   murmur_pitch="medium", murmur_quality="harsh", lesion="AS", site="aortic"),
     HeartParams(s1_gain=0.8, s2_gain=0.5, murmurs=(Murmur("systolic", "diamond", (80, 280), 3, 0.12, 0.85, 0.6),)))
_add("mitral_regurgitation", "heart", "Mitral regurgitation (holosystolic murmur)",
     "Blowing, high-pitched murmur of even loudness (plateau) filling all of systole from S1 to S2. "
     "Loudest at the apex, radiating to the left axilla; diaphragm.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="systolic",
                   murmur_timing_detail="holosystolic", murmur_shape="plateau", murmur_grade="III/VI",
                   murmur_pitch="high", murmur_quality="blowing", lesion="MR", site="mitral"),
     HeartParams(s1_gain=0.75, murmurs=(Murmur("systolic", "plateau", (90, 220), 3, 0.0, 1.0, 0.1),)))
_add("aortic_regurgitation", "heart", "Aortic regurgitation (early diastolic murmur)",
     "Soft, high-pitched, blowing decrescendo murmur starting right after S2. Easy to miss: "
     "listen at the left sternal border (3rd-4th space, Erb's point) with the diaphragm, patient "
     "sitting up, leaning forward, breath held in expiration.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="diastolic",
                   murmur_timing_detail="early-diastolic", murmur_shape="decrescendo",
                   murmur_grade="III/IV", murmur_pitch="high", murmur_quality="blowing", lesion="AR",
                   site="aortic"),
     HeartParams(murmurs=(Murmur("diastolic", "decrescendo", (120, 500), 3, 0.0, 0.8, 0.0),)))
_add("mitral_stenosis", "heart", "Mitral stenosis (diastolic rumble)",
     "Loud S1, an opening snap shortly after S2, then a low rumbling mid-diastolic murmur that "
     "fades and swells again just before S1 (presystolic accentuation). Apex, bell, patient in "
     "left lateral decubitus; easily missed with the diaphragm.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="diastolic",
                   murmur_timing_detail="mid-diastolic", murmur_shape="decrescendo",
                   murmur_grade="III/IV", murmur_pitch="low", murmur_quality=None, lesion="MS"),
     HeartParams(s1_gain=1.3, opening_snap=True,
                 murmurs=(Murmur("diastolic", "rumble", (70, 180), 3, 0.18, 1.0, 0.4),)))
_add("mvp_click_murmur", "heart", "Mitral valve prolapse (click and late systolic murmur)",
     "A sharp mid-systolic click followed by a crescendo murmur to S2. Apex, diaphragm; standing "
     "makes the click earlier and the murmur longer, squatting the reverse.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="systolic",
                   murmur_timing_detail="late-systolic", murmur_shape="crescendo", murmur_grade="II/VI",
                   murmur_pitch="high", murmur_quality="blowing", lesion="MVP", click=True),
     HeartParams(click=True, murmurs=(Murmur("systolic", "crescendo", (120, 400), 2, 0.5, 1.0, 0.1),)))
_add("normal_lung", "lung", "Normal vesicular breath sounds",
     "Soft, low-pitched rustling heard through all of inspiration and only the first part of "
     "expiration (I:E about 1:2 in time, expiration quieter). Heard over most of the lung fields; "
     "diaphragm, patient breathing through the mouth.",
     _lung_labels(), LungParams())
_add("bronchial_breathing", "lung", "Bronchial breath sounds",
     "Loud, hollow, higher-pitched sound with expiration as loud and long as inspiration and a "
     "short gap between them. Normal over the trachea; over the lung fields it means consolidation.",
     _lung_labels(abnormal=True, breath_sound="bronchial"), LungParams(breath="bronchial"))
_add("fine_crackles", "lung", "Fine crackles (late inspiratory)",
     "Many brief (~5 ms), soft, high-pitched pops in the second half of inspiration, like hair "
     "rubbed between fingers; they do not clear with coughing. Lung bases. Pulmonary fibrosis, "
     "early heart failure.",
     _lung_labels(abnormal=True, crackle=True, crackle_type="fine"), LungParams(crackles="fine"))
_add("coarse_crackles", "lung", "Coarse crackles (early inspiratory)",
     "Fewer, louder, lower-pitched and longer (~15 ms) pops early in inspiration, sometimes in "
     "expiration; may change after coughing. Bronchiectasis, COPD, pneumonia.",
     _lung_labels(abnormal=True, crackle=True, crackle_type="coarse"), LungParams(crackles="coarse"))
_add("wheeze", "lung", "Expiratory wheeze",
     "A continuous musical whistle (here ~300-500 Hz with harmonics) lasting most of expiration. "
     "Over the whole chest and at the mouth. Asthma, COPD.",
     _lung_labels(abnormal=True, wheeze=True), LungParams(wheeze=True))
_add("rhonchi", "lung", "Rhonchi",
     "Low-pitched (~150-220 Hz), snoring continuous sound, mostly in expiration, over the large "
     "airways; often changes or clears after coughing. Secretions in bronchi.",
     _lung_labels(abnormal=True, rhonchi=True), LungParams(rhonchi=True))
_add("pleural_rub", "lung", "Pleural friction rub",
     "Creaky, grating, leather-like bursts at the end of inspiration and the start of expiration, "
     "close to the ear, unchanged by coughing. Lower lateral chest. Pleurisy.",
     _lung_labels(abnormal=True, pleural_rub=True), LungParams(rub=True))

SOUNDS: dict[str, SoundSpec] = {k: v[0] for k, v in PRESETS.items()}

"""Procedural renderer of VP-Synth videos: an articulated figure whose privacy cues come and go.

Everything is numpy. A video is a pose trajectory (joint angles and body
position over normalised time) pushed through forward kinematics and drawn as
thick capsules over a static textured background. The five privacy attributes
are appearance cues drawn on the body (or beside it) only inside per-attribute
visibility windows, and every cue owns colours that nothing else in the scene
comes near, so tests (and curious users) can find each cue by colour alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vpbench.core.attributes import ATTRIBUTES

__all__ = [
    "ATTRIBUTES",
    "ACTIONS_HMDB",
    "ACTIONS_UCF",
    "REVERSED_PAIRS",
    "TINY_ACTIONS_HMDB",
    "TINY_ACTIONS_UCF",
    "SKIN_TONES",
    "FACE_COLOURS",
    "EYE_COLOUR",
    "MOUTH_COLOUR",
    "HAIR_COLOURS",
    "NUDITY_MARK_COLOURS",
    "SECOND_PERSON_COLOURS",
    "PROP_ACTIONS",
    "PLAIN_PROP_ACTIONS",
    "PROP_STRIPE_COLOURS",
    "PROP_PLAIN_COLOUR",
    "SHIRT_COLOURS",
    "TROUSER_COLOURS",
    "HOOD_COLOURS",
    "BACKGROUND_COLOURS",
    "FLOOR_COLOURS",
    "CUE_COLOURS",
    "VideoSpec",
    "RenderedVideo",
    "sample_attributes",
    "render_video",
]

# --------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------

ACTIONS_HMDB: tuple[str, ...] = (
    "sit_down",
    "stand_up",
    "walk_left",
    "walk_right",
    "wave",
    "jump",
    "punch",
    "shoot_gun",
    "kick",
    "kick_ball",
)
ACTIONS_UCF: tuple[str, ...] = (
    "JumpingJack",
    "YoYo",
    "ClimbUp",
    "ClimbDown",
    "LiftUp",
    "PutDown",
    "ArmCircles",
    "Throw",
    "BaseballPitch",
    "HulaHoop",
)
# key is rendered as the exact time reverse of value: only frame order tells them apart.
REVERSED_PAIRS: dict[str, str] = {
    "stand_up": "sit_down",
    "walk_right": "walk_left",
    "ClimbDown": "ClimbUp",
    "PutDown": "LiftUp",
}
# key is value's motion holding a small striped object at the named joint (a hand or a foot);
# value holds a plain object of the same mean colour at the same joint. Only the pattern, one
# pixel across, tells the pair apart: the fine spatial detail that down-sampling averages away
# (as a ball or a gun does in HMDB51's kick_ball / shoot_gun or UCF101's YoYo / BaseballPitch).
PROP_ACTIONS: dict[str, tuple[str, str]] = {
    "shoot_gun": ("punch", "ha_b"),
    "kick_ball": ("kick", "ft_b"),
    "YoYo": ("ArmCircles", "ha_b"),
    "BaseballPitch": ("Throw", "ha_b"),
}
PLAIN_PROP_ACTIONS: dict[str, str] = {base: joint for base, joint in PROP_ACTIONS.values()}
TINY_ACTIONS_HMDB: tuple[str, ...] = ("sit_down", "stand_up", "wave", "jump")
TINY_ACTIONS_UCF: tuple[str, ...] = ("ClimbUp", "ClimbDown", "JumpingJack", "ArmCircles")

# --------------------------------------------------------------------------------------
# Palettes. Cue colours sit at L-inf distance >= 40 from every other colour the scene
# can contain, and the background stays clear of every figure colour, so a colour test
# on the rendered frames decides cue presence exactly (checked in the tests).
# --------------------------------------------------------------------------------------

Colour = tuple[int, int, int]

SKIN_TONES: tuple[Colour, ...] = ((245, 205, 170), (205, 145, 100), (125, 80, 50))
FACE_COLOURS: tuple[Colour, ...] = ((255, 240, 228),)
EYE_COLOUR: Colour = (25, 20, 20)
MOUTH_COLOUR: Colour = (225, 25, 40)
HAIR_COLOURS: tuple[Colour, ...] = ((125, 35, 175), (250, 205, 0))
# Areola/navel marks: redder than any skin tone so they never read as another tone.
NUDITY_MARK_COLOURS: tuple[Colour, ...] = ((140, 40, 90),)
SECOND_PERSON_COLOURS: tuple[Colour, ...] = ((40, 205, 75), (0, 185, 235))
# The striped object's rows, one pixel high, repeat plain, light, plain, dark; the plain object is all plain,
# which is also the striped one's mean (light + dark = 2 x plain). The object is PROP_SIDE pixels square
# and sits on a PROP_GRID-pixel grid, so that 2x and 4x down-sampling as VITA's code does it (TF1 bilinear
# without half-pixel centres: it samples every 2nd / 4th row, from row 0) sees only plain rows in both, and
# a blur (an average) sees the plain colour in both: the pattern is the finest detail the frame holds, and
# it is all that tells the pair apart.
PROP_PLAIN_COLOUR: Colour = (128, 120, 110)
PROP_STRIPE_COLOURS: tuple[Colour, Colour, Colour, Colour] = (
    PROP_PLAIN_COLOUR,
    (236, 220, 110),
    PROP_PLAIN_COLOUR,
    (20, 20, 110),
)
PROP_GRID = 4
PROP_SIDE = 8

SHIRT_COLOURS: tuple[Colour, ...] = ((40, 60, 160), (20, 110, 110), (235, 110, 20), (230, 80, 170))
TROUSER_COLOURS: tuple[Colour, ...] = ((55, 65, 90), (70, 95, 150), (35, 75, 45))
HOOD_COLOURS: tuple[Colour, ...] = ((80, 80, 90), (50, 55, 60))
# Cool pastels: every mixture of them stays away from skin, face, hair and clothing.
BACKGROUND_COLOURS: tuple[Colour, ...] = (
    (165, 195, 165),
    (170, 195, 230),
    (190, 180, 220),
    (200, 210, 205),
    (175, 210, 200),
)
FLOOR_COLOURS: tuple[Colour, ...] = ((150, 170, 150), (160, 165, 190))

# The colours whose presence in a frame means "this attribute's cue is visible".
CUE_COLOURS: dict[str, tuple[Colour, ...]] = {
    # A face is its features (eyes, mouth) on the head: small detail, no patch of its own colour.
    "face": (EYE_COLOUR, MOUTH_COLOUR),
    "skin_color": SKIN_TONES,
    "gender": HAIR_COLOURS,
    "nudity": NUDITY_MARK_COLOURS,
    "relationship": SECOND_PERSON_COLOURS,
}

# --------------------------------------------------------------------------------------
# Body geometry, in units of the standing figure height L.
# --------------------------------------------------------------------------------------

HEAD_R = 0.12
NECK = 0.03
TORSO = 0.30
SHOULDER_DROP = 0.03
SHOULDER_W = 0.085
HIP_W = 0.05
UPPER_ARM = 0.16
FOREARM = 0.16
THIGH = 0.22
SHIN = 0.21
R_TORSO = 0.095
R_ARM = 0.038
R_LEG = 0.048
R_HAND = 0.045
FIGURE_FRACTION = 0.62  # of the frame height, times the per-video scale
SECOND_SCALE = 0.72  # the companion is smaller (further back)

_MIN_LIMB_PX = 2.0  # radius; keeps limbs >= 4 px thick at 96x128 so they survive 64x64


# --------------------------------------------------------------------------------------
# Public dataclasses
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoSpec:
    action: str
    attributes: dict[str, int]
    num_frames: int
    height: int = 64
    width: int = 80
    seed: int = 0
    style_seed: int | None = None


@dataclass
class RenderedVideo:
    frames: np.ndarray
    boxes: list[list[tuple[int, int, int, int]]]
    visibility: dict[str, np.ndarray]


# --------------------------------------------------------------------------------------
# Attributes and visibility
# --------------------------------------------------------------------------------------


def sample_attributes(rng: np.random.Generator) -> dict[str, int]:
    """Video-level labels with face => skin_color and nudity => skin_color.

    Marginals after the implications: face .50, skin .60, gender .55,
    nudity .30, relationship .35. Independent face and nudity would already
    force skin to .65, so nudity is made more likely alongside a face.
    """
    face = rng.random() < 0.5
    nudity = rng.random() < (0.45 if face else 0.15)
    skin = face or nudity or rng.random() < 0.06
    gender = rng.random() < 0.55
    relationship = rng.random() < 0.35
    values = {"face": face, "skin_color": skin, "gender": gender, "nudity": nudity, "relationship": relationship}
    return {a: int(values[a]) for a in ATTRIBUTES}


def _window(rng: np.random.Generator, T: int, lo: float, hi: float, within: tuple[int, int]) -> np.ndarray:
    a, b = within
    avail = b - a
    n_min = max(min(2, avail), int(math.ceil(lo * T)))
    n_max = max(n_min, int(math.floor(hi * T)))
    n = min(int(rng.integers(n_min, n_max + 1)), avail)
    start = a + int(rng.integers(0, avail - n + 1))
    vis = np.zeros(T, dtype=bool)
    vis[start : start + n] = True
    return vis


def _visibility(attributes: dict[str, int], T: int, seed: int) -> dict[str, np.ndarray]:
    missing = [a for a in ATTRIBUTES if a not in attributes]
    if missing:
        raise ValueError(f"VideoSpec.attributes lacks {', '.join(missing)}")
    labels = {a: int(bool(attributes[a])) for a in ATTRIBUTES}
    if (labels["face"] or labels["nudity"]) and not labels["skin_color"]:
        raise ValueError("a face or nudity label of 1 requires skin_color = 1 (visible face or torso shows skin)")
    # One stream per attribute, so one label flipping leaves the other windows where they were.
    rngs = {a: np.random.default_rng([seed, 20 + i]) for i, a in enumerate(ATTRIBUTES)}
    vis = {a: np.zeros(T, dtype=bool) for a in ATTRIBUTES}
    if labels["skin_color"]:
        vis["skin_color"] = _window(rngs["skin_color"], T, 0.45, 0.8, (0, T))
        idx = np.flatnonzero(vis["skin_color"])
        skin_span = (int(idx[0]), int(idx[-1]) + 1)
        # Face and torso show skin, so their windows nest inside the skin window.
        for a in ("face", "nudity"):
            if labels[a]:
                vis[a] = _window(rngs[a], T, 0.3, 0.8, skin_span)
    for a in ("gender", "relationship"):
        if labels[a]:
            vis[a] = _window(rngs[a], T, 0.3, 0.8, (0, T))
    return vis


# --------------------------------------------------------------------------------------
# Motions. Each returns joint angles in degrees (0 = pointing down, +90 = toward +x,
# i.e. the way the figure faces before mirroring) and body position, as arrays over
# normalised time. Suffix _a is the limb on the -x side, _b the one on the +x side.
# Keys: ua/fa upper arm/forearm, th/shin thigh/shin (absolute angles), torso (lean
# toward +x), rx (horizontal travel, L units), lift (height above the grounded pose).
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Motion:
    u: np.ndarray  # normalised time in [0, 1]
    theta: np.ndarray  # cycle phase for periodic actions (radians)
    prog: np.ndarray  # eased progress for monotone actions
    lin: np.ndarray  # linear progress for steady monotone actions
    amp: float  # per-video amplitude jitter
    width_l: float  # frame width in units of L
    height_l: float  # frame height in units of L


def _neutral(T: int) -> dict[str, np.ndarray]:
    z = np.zeros(T)
    return {
        "rx": z.copy(),
        "lift": z.copy(),
        "torso": z.copy(),
        "ua_a": z - 10,
        "fa_a": z - 8,
        "ua_b": z + 10,
        "fa_b": z + 8,
        "th_a": z - 5,
        "shin_a": z - 5,
        "th_b": z + 5,
        "shin_b": z + 5,
    }


def _ik(dx, dy, elbow: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper/fore angles (deg) for a two-link arm reaching (dx, dy) from its shoulder."""
    dx = np.asarray(dx, dtype=float)
    dy = np.asarray(dy, dtype=float)
    d = np.clip(np.hypot(dx, dy), abs(UPPER_ARM - FOREARM) + 1e-6, UPPER_ARM + FOREARM - 1e-6)
    base = np.arctan2(dx, dy)
    bend = np.arccos(np.clip((UPPER_ARM**2 + d**2 - FOREARM**2) / (2 * UPPER_ARM * d), -1.0, 1.0))
    up = base + elbow * bend
    fore = np.arctan2(dx - UPPER_ARM * np.sin(up), dy - UPPER_ARM * np.cos(up))
    return np.degrees(up), np.degrees(fore)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _sit_down(m: _Motion) -> dict:
    p, s = m.prog, np.sin(np.pi * m.prog)
    q = _neutral(len(p))
    q["th_a"] = -5 + 87 * p
    q["th_b"] = 5 + 80 * p
    q["shin_a"] = q["th_a"] - 85 * p  # shins end vertical: seated on an (unseen) chair
    q["shin_b"] = q["th_b"] - 85 * p
    q["torso"] = 25 * s * m.amp + 8 * p  # lean forward while lowering, as people do
    q["rx"] = -0.08 * p
    q["ua_a"] = -10 + 25 * p + 45 * s
    q["fa_a"] = q["ua_a"] + 30 * p
    q["ua_b"] = 10 + 15 * p + 45 * s
    q["fa_b"] = q["ua_b"] + 30 * p
    return q


def _walk_left(m: _Motion) -> dict:
    th, T = m.theta, len(m.u)
    q = _neutral(T)
    dist = 0.30 * m.width_l * m.amp
    q["rx"] = dist * (0.5 - m.lin)
    swing = 25 * m.amp * np.sin(th)
    q["th_a"], q["th_b"] = swing, -swing
    q["shin_a"] = swing - 40 * np.maximum(0, np.cos(th))  # the swinging leg bends its knee
    q["shin_b"] = -swing - 40 * np.maximum(0, -np.cos(th))
    q["ua_a"], q["ua_b"] = -0.8 * swing, 0.8 * swing
    q["fa_a"], q["fa_b"] = q["ua_a"] + 15, q["ua_b"] + 15
    return q


def _wave(m: _Motion) -> dict:
    th = m.theta
    q = _neutral(len(th))
    q["ua_b"] = 135 + 8 * np.sin(th)
    q["fa_b"] = 180 + 32 * m.amp * np.sin(th)
    q["torso"] = 3 * np.sin(th)
    return q


def _jump(m: _Motion) -> dict:
    s = np.sin(m.theta)
    air, crouch = np.maximum(0, s), np.maximum(0, -s)
    q = _neutral(len(s))
    q["lift"] = 0.16 * m.amp * air
    q["th_a"] = -4 + 45 * crouch
    q["th_b"] = 4 + 45 * crouch
    q["shin_a"] = q["th_a"] - 75 * crouch
    q["shin_b"] = q["th_b"] - 75 * crouch
    q["torso"] = 15 * crouch
    q["ua_a"] = -10 - 30 * crouch + 150 * air
    q["ua_b"] = 10 - 30 * crouch + 150 * air
    q["fa_a"], q["fa_b"] = q["ua_a"] + 10, q["ua_b"] + 10
    return q


def _clap(m: _Motion) -> dict:
    o = 0.5 * (1 + np.cos(m.theta))  # 0 = hands together at the chest
    q = _neutral(len(o))
    reach = 0.015 + 0.22 * m.amp * o
    q["ua_a"], q["fa_a"] = _ik(SHOULDER_W - reach, 0.13 - 0.04 * o, elbow=-1)
    q["ua_b"], q["fa_b"] = _ik(-SHOULDER_W + reach, 0.13 - 0.04 * o, elbow=+1)
    return q


def _punch(m: _Motion) -> dict:
    s = np.sin(m.theta)
    ea, eb = np.maximum(0, s) ** 1.5, np.maximum(0, -s) ** 1.5
    q = _neutral(len(s))
    q["th_a"], q["shin_a"] = q["th_a"] - 8, q["shin_a"] - 8
    q["th_b"], q["shin_b"] = q["th_b"] + 10, q["shin_b"] + 10
    for e, k in ((ea, "a"), (eb, "b")):
        q[f"ua_{k}"], q[f"fa_{k}"] = _ik(0.08 + 0.22 * m.amp * e, 0.03 - 0.03 * e, elbow=-1)
    q["torso"] = 6 * (ea - eb)
    return q


def _kick(m: _Motion) -> dict:
    k = np.maximum(0, np.sin(m.theta))
    q = _neutral(len(k))
    q["th_a"], q["shin_a"] = -3 + 0 * k, -3 + 0 * k
    q["th_b"] = 5 + 80 * m.amp * k
    q["shin_b"] = q["th_b"] - 70 * np.sin(np.pi * k)  # chamber, then extend
    q["torso"] = -12 * k
    q["ua_a"], q["fa_a"] = -15 + 0 * k, 150 + 0 * k
    q["ua_b"], q["fa_b"] = 25 + 0 * k, 160 + 0 * k
    return q


def _bend(m: _Motion) -> dict:
    b = 0.5 * (1 - np.cos(m.theta))
    q = _neutral(len(b))
    q["torso"] = 92 * m.amp * b
    q["rx"] = -0.06 * b
    q["ua_a"], q["fa_a"] = -8 + 4 * b, -6 + 4 * b
    q["ua_b"], q["fa_b"] = 8 + 4 * b, 6 + 4 * b
    return q


def _jumping_jack(m: _Motion) -> dict:
    o = 0.5 * (1 - np.cos(m.theta))
    q = _neutral(len(o))
    q["lift"] = 0.05 * np.abs(np.sin(m.theta))
    q["th_a"] = q["shin_a"] = -(4 + 22 * o)
    q["th_b"] = q["shin_b"] = 4 + 22 * o
    q["ua_a"] = -(12 + 158 * m.amp * o)
    q["ua_b"] = 12 + 158 * m.amp * o
    q["fa_a"], q["fa_b"] = q["ua_a"] - 10 * o, q["ua_b"] + 10 * o
    return q


def _push_ups(m: _Motion) -> dict:
    d = 0.5 * (1 - np.cos(m.theta))  # 0 = arms extended, 1 = chest down
    q = _neutral(len(d))
    phi = 70 + 14 * m.amp * d
    q["torso"] = phi
    for k in ("th_a", "shin_a", "th_b", "shin_b"):
        q[k] = -phi  # a plank: legs continue the torso line
    c = np.cos(np.radians(phi))
    hip_h = (THIGH + SHIN) * c + R_LEG  # the feet carry the grounding
    shoulder_h = hip_h + (TORSO - SHOULDER_DROP) * c
    for k in ("a", "b"):
        q[f"ua_{k}"], q[f"fa_{k}"] = _ik(0.02 + 0 * d, shoulder_h - R_HAND - 0.005, elbow=-1)
    return q


def _climb_up(m: _Motion) -> dict:
    th = m.theta
    ra = 0.5 * (1 + np.sin(th))
    rb = 1 - ra
    q = _neutral(len(th))
    q["lift"] = 0.28 * m.height_l * m.amp * m.lin + 0.02 * np.sin(2 * th)
    q["ua_a"], q["fa_a"] = -(140 + 30 * ra), -(160 + 20 * ra)
    q["ua_b"], q["fa_b"] = 140 + 30 * rb, 160 + 20 * rb
    q["th_a"] = 50 * rb
    q["shin_a"] = q["th_a"] - 80 * rb
    q["th_b"] = 50 * ra
    q["shin_b"] = q["th_b"] - 80 * ra
    return q


def _lift_up(m: _Motion) -> dict:
    p = m.prog
    s1 = _smooth(p / 0.6)  # stand up from the stoop
    s2 = _smooth((p - 0.4) / 0.6)  # raise the load overhead
    bent = 1 - s1
    q = _neutral(len(p))
    q["torso"] = 75 * m.amp * bent
    q["rx"] = -0.08 * bent
    q["th_a"] = -4 + 50 * bent
    q["th_b"] = 4 + 50 * bent
    q["shin_a"] = q["th_a"] - 80 * bent
    q["shin_b"] = q["th_b"] - 80 * bent
    q["ua_a"] = -(3 + 170 * s2)
    q["fa_a"] = q["ua_a"] - 40 * np.sin(np.pi * s2)
    q["ua_b"] = 3 + 170 * s2
    q["fa_b"] = q["ua_b"] + 40 * np.sin(np.pi * s2)
    return q


def _arm_circles(m: _Motion) -> dict:
    a = np.degrees(m.theta)
    q = _neutral(len(a))
    q["th_a"] = q["shin_a"] = -8 + 0 * a
    q["th_b"] = q["shin_b"] = 8 + 0 * a
    q["ua_a"] = q["fa_a"] = -a
    q["ua_b"] = q["fa_b"] = a
    return q


def _throw(m: _Motion) -> dict:
    f = np.mod(m.theta / (2 * np.pi), 1.0)
    wind = _smooth(f / 0.6)
    fling = _smooth((f - 0.6) / 0.2)
    rec = _smooth((f - 0.8) / 0.2)
    q = _neutral(len(f))
    # Over-the-top arc, unwrapped: 10 -> -130 (cocked behind) -> -300 (released forward) -> -350 (= 10).
    q["ua_b"] = 10 - 140 * wind - 170 * fling - 50 * rec
    q["fa_b"] = q["ua_b"] - 30 * wind * (1 - fling) + 10 * fling * (1 - rec)
    q["torso"] = -12 * wind * (1 - fling) + 18 * fling * (1 - rec)
    q["ua_a"] = 60 * wind * (1 - fling) - 20 * fling * (1 - rec) - 10 * rec
    q["fa_a"] = q["ua_a"] + 20
    q["th_a"], q["shin_a"] = -15 + 0 * f, -15 + 0 * f
    q["th_b"] = 20 + 0 * f
    q["shin_b"] = 12 + 0 * f
    return q


def _lunges(m: _Motion) -> dict:
    s = np.sin(m.theta)
    la, lb = np.maximum(0, s) * m.amp, np.maximum(0, -s) * m.amp
    q = _neutral(len(s))
    q["th_a"] = -4 + 74 * la - 32 * lb
    q["shin_a"] = q["th_a"] - 75 * la - 55 * lb
    q["th_b"] = 4 + 74 * lb - 32 * la
    q["shin_b"] = q["th_b"] - 75 * lb - 55 * la
    # Hands on hips, elbows out.
    q["ua_a"], q["fa_a"] = _ik(-0.02 + 0 * s, 0.24, elbow=-1)
    q["ua_b"], q["fa_b"] = _ik(0.02 + 0 * s, 0.24, elbow=+1)
    return q


def _hula_hoop(m: _Motion) -> dict:
    s = np.sin(m.theta)
    q = _neutral(len(s))
    q["rx"] = 0.07 * m.amp * s
    q["torso"] = -10 * s
    q["th_a"] = q["shin_a"] = -8 - 7 * s
    q["th_b"] = q["shin_b"] = 8 - 7 * s
    q["ua_a"], q["fa_a"] = -130 + 0 * s, -200 + 0 * s
    q["ua_b"], q["fa_b"] = 130 + 0 * s, 200 + 0 * s
    return q


# name -> (pose function, cycles over a 40-frame video or None for monotone actions)
_MOTIONS: dict[str, tuple[Callable[[_Motion], dict], float | None]] = {
    "sit_down": (_sit_down, None),
    "walk_left": (_walk_left, 2.0),
    "wave": (_wave, 3.0),
    "jump": (_jump, 2.5),
    "clap": (_clap, 4.0),
    "punch": (_punch, 2.5),
    "kick": (_kick, 2.0),
    "bend": (_bend, 1.5),
    "JumpingJack": (_jumping_jack, 3.0),
    "PushUps": (_push_ups, 2.5),
    "ClimbUp": (_climb_up, 2.0),
    "LiftUp": (_lift_up, None),
    "ArmCircles": (_arm_circles, 2.5),
    "Throw": (_throw, 2.0),
    "Lunges": (_lunges, 2.0),
    "HulaHoop": (_hula_hoop, 3.5),
}
_MONOTONE_LINEAR = {"walk_left", "ClimbUp"}  # steady travel rather than an eased transition


# --------------------------------------------------------------------------------------
# Forward kinematics
# --------------------------------------------------------------------------------------


def _dir(deg: np.ndarray) -> np.ndarray:
    r = np.radians(deg)
    return np.stack([np.sin(r), np.cos(r)], -1)


def _forward(q: dict, mirror: bool) -> dict[str, np.ndarray]:
    """Joint positions [T, 2] in L units; x relative to the anchor, y relative to the ground (down +)."""
    phi = np.radians(q["torso"])
    T = len(phi)
    up = np.stack([np.sin(phi), -np.cos(phi)], -1)
    perp = np.stack([np.cos(phi), np.sin(phi)], -1)
    lat = np.stack([np.cos(phi), np.zeros(T)], -1)  # shoulders/hips collapse when the body lies flat
    hip = np.zeros((T, 2))
    j: dict[str, np.ndarray] = {"hip": hip}
    j["neck"] = hip + TORSO * up
    j["head"] = j["neck"] + (NECK + HEAD_R) * up
    sc = j["neck"] - SHOULDER_DROP * up
    j["sh_a"], j["sh_b"] = sc - SHOULDER_W * lat, sc + SHOULDER_W * lat
    j["hp_a"], j["hp_b"] = hip - HIP_W * lat, hip + HIP_W * lat
    for k in ("a", "b"):
        j[f"el_{k}"] = j[f"sh_{k}"] + UPPER_ARM * _dir(q[f"ua_{k}"])
        j[f"ha_{k}"] = j[f"el_{k}"] + FOREARM * _dir(q[f"fa_{k}"])
        j[f"kn_{k}"] = j[f"hp_{k}"] + THIGH * _dir(q[f"th_{k}"])
        j[f"ft_{k}"] = j[f"kn_{k}"] + SHIN * _dir(q[f"shin_{k}"])
    j["up"], j["perp"] = up, perp
    # Ground whichever of feet and hands is lowest, then add the action's lift.
    lowest = np.max(
        [j["ft_a"][:, 1] + R_LEG, j["ft_b"][:, 1] + R_LEG, j["ha_a"][:, 1] + R_HAND, j["ha_b"][:, 1] + R_HAND], axis=0
    )
    shift = np.stack([np.asarray(q["rx"], float), -lowest - np.asarray(q["lift"], float)], -1)
    out = {}
    for name, p in j.items():
        if name in ("up", "perp"):
            out[name] = p * (np.array([-1.0, 1.0]) if mirror else 1.0)
            continue
        if mirror:
            p = p * np.array([-1.0, 1.0])
        out[name] = p + shift
    return out


def _to_pixels(j: dict[str, np.ndarray], x: float, ground: float, L: float) -> dict[str, np.ndarray]:
    return {k: np.stack([x + L * v[:, 0], ground + L * v[:, 1]], -1) for k, v in j.items() if k not in ("up", "perp")}


_POINTS = ("head", "neck", "hip", "sh_a", "sh_b", "el_a", "el_b", "ha_a", "ha_b", "kn_a", "kn_b", "ft_a", "ft_b")


def _extent(j: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (xmin, xmax, ymin, ymax) in L units, padded by the thickest part."""
    pts = np.stack([j[k] for k in _POINTS], 1)  # [T, P, 2]
    pad = HEAD_R * 1.25
    return pts[..., 0].min(1) - pad, pts[..., 0].max(1) + pad, pts[..., 1].min(1) - pad, pts[..., 1].max(1) + pad


# --------------------------------------------------------------------------------------
# Rasterisation
# --------------------------------------------------------------------------------------


class _Box:
    __slots__ = ("x0", "y0", "x1", "y1")

    def __init__(self) -> None:
        self.x0 = self.y0 = 1 << 30
        self.x1 = self.y1 = -1

    def add(self, xa: int, ya: int, m: np.ndarray) -> None:
        rows = np.flatnonzero(m.any(1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(m.any(0))
        self.x0 = min(self.x0, xa + int(cols[0]))
        self.x1 = max(self.x1, xa + int(cols[-1]) + 1)
        self.y0 = min(self.y0, ya + int(rows[0]))
        self.y1 = max(self.y1, ya + int(rows[-1]) + 1)

    def get(self) -> tuple[int, int, int, int] | None:
        return None if self.x1 < 0 else (self.x0, self.y0, self.x1, self.y1)


def _capsule(img: np.ndarray, p0, p1, r: float, colour, box: _Box | None = None):
    """Fill pixels whose centre lies within r of segment p0-p1; returns (ya, xa, mask) or None."""
    H, W = img.shape[:2]
    x0, y0 = float(p0[0]), float(p0[1])
    x1, y1 = float(p1[0]), float(p1[1])
    xa = max(int(math.floor(min(x0, x1) - r)), 0)
    xb = min(int(math.ceil(max(x0, x1) + r)) + 1, W)
    ya = max(int(math.floor(min(y0, y1) - r)), 0)
    yb = min(int(math.ceil(max(y0, y1) + r)) + 1, H)
    if xa >= xb or ya >= yb:
        return None
    xs = np.arange(xa, xb, dtype=np.float64)[None, :] + 0.5 - x0
    ys = np.arange(ya, yb, dtype=np.float64)[:, None] + 0.5 - y0
    dx, dy = x1 - x0, y1 - y0
    len2 = dx * dx + dy * dy
    if len2 > 0:
        t = np.clip((xs * dx + ys * dy) / len2, 0.0, 1.0)
        px, py = xs - t * dx, ys - t * dy
    else:
        px, py = xs, ys
    m = px * px + py * py <= r * r
    img[ya:yb, xa:xb][m] = colour
    if box is not None:
        box.add(xa, ya, m)
    return ya, xa, m


def _view(img: np.ndarray, stamp: tuple[int, int, np.ndarray]) -> np.ndarray:
    ya, xa, m = stamp
    return img[ya : ya + m.shape[0], xa : xa + m.shape[1]]


def _prop(img: np.ndarray, centre, striped: bool, box: _Box | None = None) -> None:
    """A PROP_SIDE-pixel square object on the PROP_GRID grid nearest ``centre``: striped, or plain in the mean
    colour."""
    H, W = img.shape[:2]
    side = PROP_SIDE
    xa = PROP_GRID * int(round((float(centre[0]) - side / 2) / PROP_GRID))
    ya = PROP_GRID * int(round((float(centre[1]) - side / 2) / PROP_GRID))
    if striped:
        for i in range(side):  # ya is a multiple of 4: rows at y % 4 == 0 or 2 are plain
            _rect(img, xa, ya + i, side, 1, PROP_STRIPE_COLOURS[i % len(PROP_STRIPE_COLOURS)])
    else:
        _rect(img, xa, ya, side, side, PROP_PLAIN_COLOUR)
    if box is not None:
        x0, y0 = max(xa, 0), max(ya, 0)
        inside = np.ones((max(min(ya + side, H) - y0, 0), max(min(xa + side, W) - x0, 0)), bool)
        box.add(x0, y0, inside)


def _rect(img: np.ndarray, x0: float, y0: float, w: int, h: int, colour) -> None:
    H, W = img.shape[:2]
    xa, ya = int(round(x0)), int(round(y0))
    img[max(ya, 0) : min(ya + h, H), max(xa, 0) : min(xa + w, W)] = colour


def _upsample(coarse: np.ndarray, H: int, W: int) -> np.ndarray:
    """Bilinear upsampling as two small matrix products (smooth low-frequency noise)."""

    def mat(n_out: int, n_in: int) -> np.ndarray:
        pos = np.linspace(0, n_in - 1, n_out)
        i0 = np.clip(np.floor(pos).astype(int), 0, n_in - 2)
        w = pos - i0
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), i0] = 1 - w
        m[np.arange(n_out), i0 + 1] += w
        return m

    gy, gx = coarse.shape
    return mat(H, gy) @ coarse @ mat(W, gx).T


def _background(rng: np.random.Generator, H: int, W: int) -> np.ndarray:
    bg = np.asarray(BACKGROUND_COLOURS, dtype=np.float64)
    ci = rng.permutation(len(bg))
    c1, c2, c3 = bg[ci[0]], bg[ci[1]], bg[ci[2]]
    field = 0.65 * _upsample(rng.random((4, 5)), H, W) + 0.35 * _upsample(rng.random((8, 10)), H, W)
    field = (field - field.min()) / max(field.max() - field.min(), 1e-9)
    img = c1 * (1 - field[..., None]) + c2 * field[..., None]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    for _ in range(int(rng.integers(1, 4))):  # stripes (wall panels, shelves)
        ang = rng.uniform(-0.5, 0.5) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
        ox, oy = rng.uniform(0, W), rng.uniform(0, H)
        width = rng.uniform(2.0, 6.0) * H / 96
        band = (np.abs((xx - ox) * np.sin(ang) + (yy - oy) * np.cos(ang)) < width)[..., None]
        img = np.where(band, 0.5 * img + 0.5 * c3 * rng.uniform(0.9, 1.0), img)
    for _ in range(int(rng.integers(2, 5))):  # blobs (furniture, plants)
        cx, cy = rng.uniform(0, W), rng.uniform(0, H * 0.8)
        rx_, ry_ = rng.uniform(0.05, 0.15) * W, rng.uniform(0.05, 0.15) * H
        blob = ((((xx - cx) / rx_) ** 2 + ((yy - cy) / ry_) ** 2) < 1)[..., None]
        img = np.where(blob, bg[rng.integers(len(bg))] * rng.uniform(0.88, 1.0), img)
    floor_c = np.asarray(FLOOR_COLOURS[int(rng.integers(len(FLOOR_COLOURS)))], dtype=np.float64)
    horizon = int(rng.uniform(0.62, 0.78) * H)
    shade = 0.9 + 0.1 * field[horizon:, :, None]
    img[horizon:] = floor_c * shade
    img *= rng.uniform(0.9, 1.0)
    img += rng.integers(-3, 4, size=(H, W, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _base_cycles(action: str, T: int) -> float | None:
    cycles = _MOTIONS[action][1]
    if cycles is None:
        return None
    # Short clips get fewer cycles: a cycle under ~8 frames aliases into noise.
    return min(cycles, max(1.0, T / 8.0))


def render_video(spec: VideoSpec) -> RenderedVideo:
    """Render one video; the same spec gives byte-identical output."""
    if spec.action in REVERSED_PAIRS:
        base = render_video(
            VideoSpec(
                REVERSED_PAIRS[spec.action],
                spec.attributes,
                spec.num_frames,
                spec.height,
                spec.width,
                spec.seed,
                spec.style_seed,
            )
        )
        return RenderedVideo(
            frames=np.ascontiguousarray(base.frames[::-1]),
            boxes=base.boxes[::-1],
            visibility={a: v[::-1].copy() for a, v in base.visibility.items()},
        )
    motion_name, prop_joint = PROP_ACTIONS.get(spec.action, (spec.action, None))
    striped = prop_joint is not None
    if not striped:
        prop_joint = PLAIN_PROP_ACTIONS.get(spec.action)
    if motion_name not in _MOTIONS:
        known = ", ".join(ACTIONS_HMDB + ACTIONS_UCF)
        raise ValueError(f"unknown VP-Synth action '{spec.action}'; known: {known}")
    T, H, W = int(spec.num_frames), int(spec.height), int(spec.width)
    if T < 1 or H < 16 or W < 16:
        raise ValueError(f"VP-Synth needs num_frames >= 1 and a frame of at least 16x16, got {T}x{H}x{W}")
    seed = int(spec.seed)
    vis = _visibility(spec.attributes, T, seed)

    # Style (scene and actor): shared by a UCF101-style group through style_seed.
    srng = np.random.default_rng([seed if spec.style_seed is None else int(spec.style_seed), 3])
    background = _background(srng, H, W)
    shirt = np.array(SHIRT_COLOURS[int(srng.integers(len(SHIRT_COLOURS)))], np.uint8)
    trousers = np.array(TROUSER_COLOURS[int(srng.integers(len(TROUSER_COLOURS)))], np.uint8)
    hood = np.array(HOOD_COLOURS[int(srng.integers(len(HOOD_COLOURS)))], np.uint8)
    skin = np.array(SKIN_TONES[int(srng.integers(len(SKIN_TONES)))], np.uint8)
    hair = np.array(HAIR_COLOURS[int(srng.integers(len(HAIR_COLOURS)))], np.uint8)
    companion = np.array(SECOND_PERSON_COLOURS[int(srng.integers(len(SECOND_PERSON_COLOURS)))], np.uint8)
    srng.integers(len(FACE_COLOURS))  # the face plate colour draw, kept so that every later draw is unchanged
    mark = np.array(NUDITY_MARK_COLOURS[int(srng.integers(len(NUDITY_MARK_COLOURS)))], np.uint8)

    # Geometry and timing: always the same draws in the same order whatever the action,
    # so a reversed pair shares them exactly.
    grng = np.random.default_rng([seed, 1])
    scale = grng.uniform(0.88, 1.13)
    speed = grng.uniform(0.8, 1.2)
    phase = grng.uniform(0, 2 * np.pi)
    t_start, t_end = grng.uniform(0.0, 0.1), grng.uniform(0.9, 1.0)
    amp = grng.uniform(0.9, 1.1)
    mirror = bool(grng.random() < 0.5)
    x_pick, ground_pick = grng.random(), grng.uniform(0.88, 0.96)
    comp_phase, comp_cycles, comp_mirror, comp_jitter = (
        grng.uniform(0, 2 * np.pi),
        grng.uniform(0.8, 1.5),
        bool(grng.random() < 0.5),
        grng.uniform(-1, 1),
    )

    L = FIGURE_FRACTION * H * scale
    u = np.linspace(0.0, 1.0, T) if T > 1 else np.zeros(1)
    lin = np.clip((u - t_start) / (t_end - t_start), 0.0, 1.0)
    cycles = _base_cycles(motion_name, T)
    theta = phase + 2 * np.pi * (cycles or 1.0) * speed * u
    motion = _Motion(u=u, theta=theta, prog=_smooth(lin), lin=lin, amp=amp, width_l=W / L, height_l=H / L)
    q = _MOTIONS[motion_name][0](motion)
    j = _forward(q, mirror)

    # Place the figure: inside the frame over the whole clip, feet on a random ground line,
    # pushed down (feet may leave the frame) if the head or raised hands would leave the top.
    xmin, xmax, ymin, _ = _extent(j)
    lo, hi = 1.0 - xmin.min() * L, W - 1.0 - xmax.max() * L
    anchor_x = lo + x_pick * (hi - lo) if hi >= lo else 0.5 * (lo + hi)
    ground_y = ground_pick * H
    ground_y = max(ground_y, 1.0 - ymin.min() * L)
    px = _to_pixels(j, anchor_x, ground_y, L)
    up, perp = j["up"], j["perp"]

    # The companion stands on the freer side of the main figure's path while it is on screen.
    comp = None
    if vis["relationship"].any():
        Lc = SECOND_SCALE * L
        tc = comp_phase + 2 * np.pi * comp_cycles * u
        qc = _neutral(T)
        qc["rx"] = 0.04 * np.sin(0.5 * tc)
        qc["ua_b"] = 15 + 35 * 0.5 * (1 + np.sin(tc))
        qc["fa_b"] = qc["ua_b"] + 25 * 0.5 * (1 + np.sin(tc))
        jc = _forward(qc, comp_mirror)
        cxmin, cxmax, _, _ = _extent(jc)
        on = vis["relationship"]
        mx0, mx1 = anchor_x + xmin[on].min() * L, anchor_x + xmax[on].max() * L
        c_lo, c_hi = cxmin.min() * Lc, cxmax.max() * Lc  # companion extent around its anchor
        width = c_hi - c_lo
        left_room, right_room = mx0, W - mx1
        room_lo, room_hi = (0.0, mx0) if left_room >= right_room else (mx1, float(W))
        slack = max(0.0, (room_hi - room_lo) - width)
        centre = 0.5 * (room_lo + room_hi) + 0.25 * slack * comp_jitter
        cx = centre - 0.5 * (c_lo + c_hi)
        lo_x, hi_x = 1.0 - c_lo, W - 1.0 - c_hi
        cx = float(np.clip(cx, lo_x, hi_x)) if hi_x >= lo_x else 0.5 * W - 0.5 * (c_lo + c_hi)
        cground = min(ground_y, H * 0.97) - 0.04 * H
        comp = _to_pixels(jc, cx, cground, Lc)
        comp_r = (max(1.5, R_LEG * Lc), max(1.5, R_ARM * Lc), R_TORSO * Lc, HEAD_R * Lc)

    r_leg = max(_MIN_LIMB_PX + 0.2, R_LEG * L)
    r_arm = max(_MIN_LIMB_PX, R_ARM * L)
    r_hand = max(_MIN_LIMB_PX + 0.3, R_HAND * L)
    r_torso = R_TORSO * L
    r_head = HEAD_R * L
    # The face is small detail on the head (two eyes and a mouth, no patch of its own colour):
    # visible at the working resolution, mostly averaged away by 4x down-sampling, as a real face is.
    r_plate = 0.8 * r_head
    eye = max(2, int(round(0.045 * L)))
    mouth_h = max(1, int(round(0.035 * L)))
    mouth_w = max(2, int(round(0.9 * r_plate)))
    r_mark = max(1.5, 0.032 * L)
    # Long hair must survive down-scaling to 64 px: thick locks and a cap wider than the head
    # (thinner hair was the hardest cue for the cpu recognizers; docs/experiments/recognizers-cpu.md).
    r_lock = 0.5 * r_head

    frames = np.empty((T, H, W, 3), dtype=np.uint8)
    boxes: list[list[tuple[int, int, int, int]]] = []
    for t in range(T):
        img = frames[t]
        img[...] = background
        P = {k: v[t] for k, v in px.items()}
        frame_boxes: list[tuple[int, int, int, int]] = []

        comp_box = None
        if comp is not None and vis["relationship"][t]:
            cb = _Box()
            C = {k: v[t] for k, v in comp.items()}
            rl, ra, rt, rh = comp_r
            for k in ("a", "b"):
                _capsule(img, C[f"hp_{k}"], C[f"kn_{k}"], rl, companion, cb)
                _capsule(img, C[f"kn_{k}"], C[f"ft_{k}"], rl, companion, cb)
            _capsule(img, C["hip"], C["neck"], rt, companion, cb)
            for k in ("a", "b"):
                _capsule(img, C[f"sh_{k}"], C[f"el_{k}"], ra, companion, cb)
                _capsule(img, C[f"el_{k}"], C[f"ha_{k}"], ra, companion, cb)
            _capsule(img, C["head"], C["head"], rh, companion, cb)
            comp_box = cb.get()

        mb = _Box()
        for k in ("a", "b"):
            _capsule(img, P[f"hp_{k}"], P[f"kn_{k}"], r_leg, trousers, mb)
            _capsule(img, P[f"kn_{k}"], P[f"ft_{k}"], r_leg, trousers, mb)
        bare = bool(vis["nudity"][t])
        _capsule(img, P["hip"], P["neck"], r_torso, skin if bare else shirt, mb)
        marks = []
        if bare:
            # Two chest marks and a navel, placed where hair locks never fall.
            a_up, a_perp = up[t], perp[t]
            for lat, drop in ((-0.045, 0.11), (0.045, 0.11), (0.0, 0.22)):
                c = P["neck"] + L * (lat * a_perp - drop * a_up)
                marks.append(_capsule(img, c, c, r_mark, mark))
        arm_colour = skin if vis["skin_color"][t] else shirt
        for k in ("a", "b"):
            _capsule(img, P[f"sh_{k}"], P[f"el_{k}"], r_arm, arm_colour, mb)
            _capsule(img, P[f"el_{k}"], P[f"ha_{k}"], r_arm, arm_colour, mb)
            _capsule(img, P[f"ha_{k}"], P[f"ha_{k}"], r_hand, arm_colour, mb)
        if bare:
            # A forearm across the chest can hide most marks; keep the cue readable by
            # restamping them when less than half of their pixels survive.
            stamps = [m for m in marks if m is not None]
            total = sum(int(m[2].sum()) for m in stamps)
            shown = sum(int((_view(img, m)[m[2]] == mark).all(-1).sum()) for m in stamps)
            if 2 * shown < total:
                for m in stamps:
                    _view(img, m)[m[2]] = mark
        if vis["gender"][t]:
            a_up, a_perp = up[t], perp[t]
            cap = P["head"] + 0.15 * r_head * a_up
            _capsule(img, cap, cap, 1.4 * r_head, hair, mb)
            for side in (-1.0, 1.0):
                top = P["head"] + side * 1.15 * r_head * a_perp
                bottom = P["neck"] + L * (side * 1.15 * HEAD_R * a_perp - 0.12 * a_up)
                _capsule(img, top, bottom, r_lock, hair, mb)
        head_colour = skin if vis["skin_color"][t] else hood
        _capsule(img, P["head"], P["head"], r_head, head_colour, mb)
        if prop_joint is not None:
            # In front of the body, hair and head: what covers part of it would leave the visible
            # part off the grid, and down-sampling would see its stripes. Only the face's few
            # feature pixels go on top, so that the face cue is visible exactly when labelled.
            _prop(img, P[prop_joint], striped, mb)
        if vis["face"][t]:
            hx, hy = float(P["head"][0]), float(P["head"][1])
            for side in (-1.0, 1.0):
                _rect(img, hx + side * 0.42 * r_plate - eye / 2, hy - 0.3 * r_plate - eye / 2, eye, eye, EYE_COLOUR)
            _rect(img, hx - mouth_w / 2, hy + 0.38 * r_plate, mouth_w, mouth_h, MOUTH_COLOUR)

        main_box = mb.get()
        if main_box is not None:
            frame_boxes.append(main_box)
        if comp_box is not None:
            frame_boxes.append(comp_box)
        boxes.append(frame_boxes)
    return RenderedVideo(frames=frames, boxes=boxes, visibility=vis)

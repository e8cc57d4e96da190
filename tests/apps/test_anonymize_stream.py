"""`vpbench anonymize` streams, checks its boxes and arguments, and records what it changed.

The reference for the streamed output is the one-shot algorithm anonymize used before it streamed
(the whole video in memory, every clip at once), copied here verbatim so that the two cannot drift:
the streamed output must equal it frame for frame, for every built-in method.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers.tiny import TINY_METHOD_PROFILES, TINY_STPRIVACY, gradient_frames
from vpbench.apps.anonymize import (
    Geometry,
    anonymize_video,
    clip_plan,
    stream_transform,
)
from vpbench.cli import main
from vpbench.core.atomic import stale_temporaries
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import _read_boxes
from vpbench.data.frames.decode import resize_frames
from vpbench.data.video import (
    iter_video,
    probe_video,
    read_frames,
    write_video,
    write_video_windows,
)
from vpbench.methods import METHODS, FitContext, create_method
from vpbench.methods.base import PrivacyMethod

H, W, N = 144, 256, 91  # small "HD-like" 16:9 frames; 91 frames leave a partial last window for every method


def one_shot(m, frames: np.ndarray, masks: np.ndarray | None = None, batch: int = 8) -> np.ndarray:
    """The pre-streaming anonymize: the whole video at once (its code, on frames already decoded)."""
    n, h, w, _ = frames.shape
    net = getattr(m, "net", None)
    if net is not None:
        cfg = net.config
        work = resize_frames(frames, (cfg.height, cfg.width))
        clip_len, interval = cfg.frames, int(getattr(m, "frame_interval", 1) or 1)
    else:
        work, clip_len, interval = frames, 16, 1
    if masks is not None and net is not None:
        masks = resize_frames(masks[..., None].repeat(3, -1).astype(np.uint8) * 255, work.shape[1:3])[..., 0] > 127
    out = np.empty_like(work)
    windows = []
    for phase in range(min(interval, n)):
        idx = np.arange(phase, n, interval)
        starts = list(range(0, max(len(idx) - clip_len, 0) + 1, clip_len))
        if starts[-1] + clip_len < len(idx):
            starts.append(len(idx) - clip_len)
        windows += [idx[s : s + clip_len] for s in starts]
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            group = windows[i : i + batch]
            for length in sorted({len(g) for g in group}):
                same = [g for g in group if len(g) == length]
                clips = torch.from_numpy(np.stack([work[g] for g in same]))
                mask_t = None if masks is None else torch.from_numpy(np.stack([masks[g] for g in same]))
                result = m.transform(clips, mask_t).numpy()
                for g, r in zip(same, result):
                    out[g] = r
    if net is not None:
        out = resize_frames(out, (h, w))
    return out


def textured_frames(n: int, h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """Noise blocks and a moving disc: every pixel differs from its neighbours, so blurs change it."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(30, 226, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)[:h, :w]
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        frame = np.roll(texture, (t, 2 * t), axis=(0, 1)).copy()
        frame[(yy - h // 2) ** 2 + (xx - (t * 5) % w) ** 2 < (h // 5) ** 2] = (230, 180, 150)
        frames[t] = frame
    return frames


def fresh_checkpoint(name: str, path, interval: int = 3):
    """A learned method with a freshly initialized network at 32x40, 8-frame clips, saved with its own `save`."""
    torch.manual_seed(0)
    m = create_method(name)
    context = FitContext(clip_len=8, frame_size=(32, 40), frame_interval=interval)
    if name == "stprivacy":
        from vpbench.networks.stprivacy import STPrivacyNet

        m.net = STPrivacyNet(m._config(TINY_STPRIVACY, context, num_actions=3)).eval()
        m.frame_interval = interval
    else:
        m._new_net(TINY_METHOD_PROFILES[name], context)
    m.save(path)
    return path


def ready(name: str, tmp_path):
    """The method as anonymize runs it (learned ones loaded from a fresh checkpoint) and its anonymize arguments."""
    m = create_method(name)
    if m.learned:
        ckpt = fresh_checkpoint(name, tmp_path / f"{name}.pt")
        m.load(ckpt)
        return m, {"checkpoint": ckpt}
    return m, ({"whole_frame": True} if m.needs_person_masks else {})


BUILTIN = sorted(n for n in METHODS.names() if METHODS.get(n).__module__.startswith("vpbench."))


# --------------------------------------------------------------------------- streamed = one-shot


@pytest.fixture(scope="module")
def hd_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("hd")
    src = write_video(root / "in.avi", textured_frames(N), fps=24)
    return src, read_frames(src, np.arange(N), backend="pyav")  # what the streaming decoder sees


def assert_streamed_equals_one_shot(name: str, hd_video, tmp_path) -> dict:
    src, decoded = hd_video
    m, kw = ready(name, tmp_path)
    done = anonymize_video(name, src, tmp_path / "out.avi", progress=False, **kw)
    masks = np.ones((N, H, W), bool) if m.needs_person_masks else None
    expected = one_shot(m, decoded, masks)
    # One encoder, deterministic: equal frames encode to equal bytes.
    write_video(tmp_path / "expected.avi", expected, fps=24)
    if (tmp_path / "out.avi").read_bytes() != (tmp_path / "expected.avi").read_bytes():
        got = read_frames(tmp_path / "out.avi", np.arange(N), backend="pyav")
        want = read_frames(tmp_path / "expected.avi", np.arange(N), backend="pyav")
        bad = [t for t in range(N) if not np.array_equal(got[t], want[t])]
        pytest.fail(f"{name}: streamed output differs from the one-shot pass at frames {bad[:10]}")
    assert done["frames"] == N and done["changed_share"] == np.any(expected != decoded, axis=-1).mean()
    assert probe_video(tmp_path / "out.avi").num_frames == N
    return done


@pytest.mark.parametrize("name", BUILTIN)
def test_streamed_output_equals_the_one_shot_pass_for_every_builtin_method(name, hd_video, tmp_path):
    assert_streamed_equals_one_shot(name, hd_video, tmp_path)


def test_fixed_methods_cut_clips_by_pixels_changing_at_most_a_rounding(hd_video, monkeypatch):
    """Large frames get shorter clips (memory). The blurs and blackening act frame by frame: not a pixel
    changes. Downsampling interpolates all frames of a call in one float kernel whose rounding depends
    on how many there are: a value may move by one level, rarely."""
    import vpbench.apps.anonymize as anon

    _, decoded = hd_video
    blur = create_method("strongblur")
    assert [anon.method_geometry(blur, h, w).clip_len for h, w in ((240, 320), (720, 1280), (2160, 3840))] == [16, 4, 1]
    monkeypatch.setattr(anon, "FIXED_CLIP_PIXELS", 5 * H * W)
    ones = np.ones((N, H, W), bool)
    for name in ("strongblur", "blackening", "downsample-4x"):
        m = create_method(name)
        g = anon.method_geometry(m, H, W)
        assert g.clip_len == 5
        masks_for = (lambda idx: ones[idx]) if m.needs_person_masks else None
        chunks = (decoded[i : i + g.window] for i in range(0, N, g.window))
        got = np.concatenate([o for _, o in stream_transform(m, chunks, N, g, masks_for)])
        want = one_shot(m, decoded, ones if m.needs_person_masks else None)  # 16-frame clips
        diff = np.abs(got.astype(int) - want)
        if name == "downsample-4x":
            assert diff.max() <= 1 and (diff > 0).mean() < 0.002
        else:
            assert diff.max() == 0, name


class ClipMean(PrivacyMethod):
    """A stand-in learned method whose output depends on the whole clip (frame minus the clip's mean + 128):
    any clip cut differently from the one-shot pass, or a frame taken from the wrong clip, shows."""

    name = "clip-mean"

    def __init__(self, clip_len: int, interval: int, hw=(6, 10)) -> None:
        from types import SimpleNamespace

        self.net = SimpleNamespace(config=SimpleNamespace(height=hw[0], width=hw[1], frames=clip_len))
        self.frame_interval = interval

    def transform(self, videos, person_masks=None):
        x = videos.float()
        return (x - x.mean(dim=(1, 2, 3, 4), keepdim=True) + 128).clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize("clip_len,interval", [(4, 1), (4, 2), (3, 3), (8, 2)])
@pytest.mark.parametrize("n", [1, 2, 5, 11, 12, 13, 24, 25, 47, 50])
def test_windows_join_without_seams_whatever_the_length(clip_len, interval, n):
    frames = textured_frames(n, 12, 20, seed=n)
    m = ClipMean(clip_len, interval)
    g = Geometry((12, 20), (6, 10), clip_len, interval)
    chunks = [frames[i : i + g.window] for i in range(0, n, g.window)]
    pairs = list(stream_transform(m, iter(chunks), n, g, batch=3))
    assert np.array_equal(np.concatenate([i for i, _ in pairs]), frames)
    assert np.array_equal(np.concatenate([o for _, o in pairs]), one_shot(m, frames, batch=3))


def test_clip_plan_covers_every_frame_with_full_clips_when_it_can():
    plan = clip_plan(25, 4, 2)
    assert sorted(set(np.concatenate(plan).tolist())) == list(range(25))
    assert all(len(c) == 4 for c in plan) and all((np.diff(c) == 2).all() for c in plan)
    assert plan[-1].tolist() == [17, 19, 21, 23]  # phase 1's last clip ends at the video's end


def test_memory_is_bounded_by_the_window_not_the_video_length():
    """At most about two windows are read ahead of what has been handed to the encoder."""
    g = Geometry((8, 8), (4, 4), 8, 3)
    n = 1000
    state = {"read": 0, "lag": 0}

    def chunks():
        for start in range(0, n, g.window):
            chunk = np.full((min(g.window, n - start), 8, 8, 3), start % 251, np.uint8)
            state["read"] += len(chunk)
            yield chunk

    emitted = 0
    for _, out in stream_transform(ClipMean(8, 3, (4, 4)), chunks(), n, g):
        state["lag"] = max(state["lag"], state["read"] - emitted)
        emitted += len(out)
    assert emitted == n and state["lag"] <= 2 * g.window


# --------------------------------------------------------------------------- boxes


def _boxes(tmp_path, rows: str, name="bx.csv"):
    path = tmp_path / name
    path.write_text("frame,x0,y0,x1,y1\n" + rows)
    return path


@pytest.fixture
def small(tmp_path):
    return write_video(tmp_path / "in.avi", textured_frames(12, 32, 64), fps=25)


@pytest.mark.parametrize(
    "rows,message",
    [
        ("0,1,1,5,5\n0,80,10,10,20\n", "line 3: box x0=80 >= x1=10"),
        ("0,1,9,5,9\n", "line 2: box y0=9 >= y1=9"),
        ("0,64,0,70,10\n", "line 2: box x0=64 y0=0 x1=70 y1=10 has no pixel inside the 64x32 frame"),
        ("0,-9,-9,0,5\n", "line 2: box x0=-9 y0=-9 x1=0 y1=5 has no pixel inside the 64x32 frame"),
        ("0,1,1,5,5\n\n3,a,1,5,5\n", "line 4: x0 is 'a', not a number"),
        ("0,1,,5,5\n", "line 2: y0 is empty"),
        ("0,1,1,5\n", "line 2: y1 is empty"),
        ("1.5,1,1,5,5\n", "line 2: frame is 1.5, not a whole number"),
        ("12,1,1,5,5\n", "line 2: box for frame 12, which has 12 frames"),
        ("-1,1,1,5,5\n", "line 2: box for frame -1, which has 12 frames"),
    ],
)
def test_a_box_that_cannot_act_is_an_error_naming_its_line(small, tmp_path, rows, message):
    bx = _boxes(tmp_path, rows)
    with pytest.raises(VPBenchError) as err:
        anonymize_video("strongblur", small, tmp_path / "o.mp4", boxes=bx, progress=False)
    assert str(err.value) == f"{bx} {message}"
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.json").exists()


def test_a_file_with_no_box_is_refused_unless_allowed(small, tmp_path):
    bx = _boxes(tmp_path, "")
    with pytest.raises(VPBenchError, match="holds no box, so 'blackening' would change no pixel.*--allow-empty-boxes"):
        anonymize_video("blackening", small, tmp_path / "o.mp4", boxes=bx, progress=False)
    assert not (tmp_path / "o.mp4").exists()
    done = anonymize_video("blackening", small, tmp_path / "o.mp4", boxes=bx, allow_empty_boxes=True, progress=False)
    assert done["changed_share"] == 0.0 and done["allow_empty_boxes"]


def test_a_box_partly_outside_acts_on_its_part_inside_and_fractions_widen(small, tmp_path):
    # Frame 2: x 50.5..70 (cut to 50..64), y -3..4.2 (0..5): 14 x 5 pixels blackened; no other frame changes.
    bx = _boxes(tmp_path, "2,50.5,-3,70,4.2\n")
    done = anonymize_video("blackening", small, tmp_path / "o.avi", boxes=bx, progress=False)
    assert done["changed_share"] == 14 * 5 / (12 * 32 * 64)


def _cli(argv: list[str]) -> int:
    """Exit code of the `vpbench` command line run in-process."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code or 0
    return 0


def test_changed_share_is_printed_and_recorded_beside_the_output(small, tmp_path, capsys):
    bx = _boxes(tmp_path, "".join(f"{t},8,4,24,20\n" for t in range(0, 12, 2)))  # 16x16 on 6 of 12 frames
    assert _cli(["anonymize", "--method", "blackening", "--boxes", str(bx), str(small), str(tmp_path / "o.mp4")]) == 0
    share = 6 * 16 * 16 / (12 * 32 * 64)
    assert (
        f"({'blackening'}), {share:.1%} of pixels changed; record in {tmp_path / 'o.mp4.json'}"
        in capsys.readouterr().out
    )
    record = json.loads((tmp_path / "o.mp4.json").read_text())
    assert record["changed_share"] == share
    assert {
        k: record[k] for k in ("method", "options", "boxes", "whole_frame", "frames", "fps", "width", "height")
    } == {
        "method": "blackening",
        "options": {},
        "boxes": str(bx),
        "whole_frame": False,
        "frames": 12,
        "fps": 25.0,
        "width": 64,
        "height": 32,
    }


def test_a_method_that_changes_nothing_warns(small, tmp_path, capsys):
    assert _cli(["anonymize", "--method", "raw", str(small), str(tmp_path / "o.mp4")]) == 0
    out = capsys.readouterr()
    assert "0.0% of pixels changed" in out.out and "warning" not in out.err
    bx = _boxes(tmp_path, "")
    assert (
        _cli(
            [
                "anonymize",
                "--method",
                "weakblur",
                "--boxes",
                str(bx),
                "--allow-empty-boxes",
                str(small),
                str(tmp_path / "o.mp4"),
            ]
        )
        == 0
    )
    assert "warning: 'weakblur' changed no pixel" in capsys.readouterr().err


def test_build_boxes_are_checked_with_the_same_rules(tmp_path):
    path = tmp_path / "b.csv"
    sizes, frames = {"a/v1": (64, 32), "a/v2": (80, 48)}, {"a/v1": 10, "a/v2": 20}
    path.write_text(
        "video_id,frame,person,x0,y0,x1,y1\na/v1.avi,0,0,1,1,9,9\nother.avi,0,0,9,9,1,1\na/v2,3,1,70,40,90,60\n"
    )
    table = _read_boxes(path, set(frames), frames, sizes)  # a foreign video's row is not judged; v2's box is cut
    assert table[["video_id", "x0", "y0", "x1", "y1"]].values.tolist() == [
        ["a/v1", 1, 1, 9, 9],
        ["a/v2", 70, 40, 80, 48],
    ]
    path.write_text("video_id,frame,person,x0,y0,x1,y1\na/v1,0,0,1,1,9,9\na/v2,3,1,80,8,10,20\n")
    with pytest.raises(VPBenchError, match=rf"^{path} line 3: box x0=80 >= x1=10$"):
        _read_boxes(path, set(frames), frames, sizes)
    path.write_text("video_id,frame,person,x0,y0,x1,y1\na/v1,0,0,64,1,70,9\n")
    with pytest.raises(VPBenchError, match=r"line 2: .* has no pixel inside the 64x32 frame of 'a/v1'$"):
        _read_boxes(path, set(frames), frames, sizes)
    path.write_text("video_id,frame,person,x0,y0,x1,y1\nother,0,zero,1,1,9,9\n")
    with pytest.raises(VPBenchError, match=r"line 2: person is 'zero', not a number$"):
        _read_boxes(path, set(frames), frames, sizes)


# --------------------------------------------------------------------------- arguments and paths


@pytest.fixture
def not_a_video(tmp_path):
    """A source that fails to decode: an argument error must come first, before any decoding."""
    path = tmp_path / "text.avi"
    path.write_text("not a video\n" * 50)
    return path


@pytest.mark.parametrize(
    "method,kw,message",
    [
        ("raw", {"checkpoint": "m.pt"}, "method 'raw' is not learned and takes no --checkpoint"),
        ("downsample-4x", {"checkpoint": "m.pt"}, "method 'downsample-4x' is not learned and takes no --checkpoint"),
        ("raw", {"boxes": "nope.csv"}, "method 'raw' does not use person boxes: drop --boxes"),
        (
            "downsample-2x",
            {"whole_frame": True},
            "method 'downsample-2x' does not use person boxes: drop --whole-frame",
        ),
        ("strongblur", {"boxes": "b.csv", "whole_frame": True}, "pass --boxes or --whole-frame, not both"),
        ("strongblur", {"whole_frame": True, "allow_empty_boxes": True}, "--allow-empty-boxes goes with --boxes"),
        ("stprivacy", {}, "method 'stprivacy' is learned: pass --checkpoint"),
    ],
)
def test_an_argument_the_method_does_not_take_is_an_error(not_a_video, tmp_path, method, kw, message):
    with pytest.raises(VPBenchError) as err:
        anonymize_video(method, not_a_video, tmp_path / "o.mp4", progress=False, **kw)
    assert str(err.value).startswith(message)


def test_bad_paths_are_one_line_errors_before_any_decoding(not_a_video, tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(VPBenchError, match=r"folder: is a folder, not a video file$"):
        anonymize_video("raw", tmp_path / "folder", tmp_path / "o.mp4", progress=False)
    with pytest.raises(VPBenchError, match=r"folder: the output video is an existing folder; name a file$"):
        anonymize_video("raw", not_a_video, tmp_path / "folder", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(VPBenchError, match=r"file: .*the folder of the output video"):
        anonymize_video("raw", not_a_video, tmp_path / "file" / "o.mp4", progress=False)
    with pytest.raises(VPBenchError, match="suffix '.gif'"):
        anonymize_video("raw", not_a_video, tmp_path / "o.gif", progress=False)
    (tmp_path / "o.mp4.json").mkdir()
    with pytest.raises(VPBenchError, match="o.mp4.json: the output record is an existing folder"):
        anonymize_video("raw", not_a_video, tmp_path / "o.mp4", progress=False)


def test_a_bad_boxes_file_fails_before_the_video_is_read(not_a_video, tmp_path):
    for rows, message in (("0,a,1,5,5\n", "line 2: x0 is 'a', not a number"), ("", "holds no box")):
        with pytest.raises(VPBenchError, match=message):
            anonymize_video("strongblur", not_a_video, tmp_path / "o.mp4", boxes=_boxes(tmp_path, rows), progress=False)
    with pytest.raises(VPBenchError, match=r"nope.csv: boxes CSV not found$"):
        anonymize_video("strongblur", not_a_video, tmp_path / "o.mp4", boxes=tmp_path / "nope.csv", progress=False)


def test_a_truncated_checkpoint_is_a_one_line_error(not_a_video, tmp_path):
    ckpt = fresh_checkpoint("vita", tmp_path / "vita.pt")
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(VPBenchError, match=r"vita.pt: not a vpbench checkpoint or refused as unsafe \(.+\)$") as err:
        anonymize_video("vita", not_a_video, tmp_path / "o.mp4", checkpoint=ckpt, progress=False)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- interrupts and the writer


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, lambda: SystemExit(143)])
def test_an_interrupted_run_leaves_the_old_output_and_no_temporary_file(small, tmp_path, monkeypatch, interrupt):
    dst = tmp_path / "o.mp4"
    dst.write_bytes(b"the previous output")
    calls = {"n": 0}
    real = METHODS.get("downsample-2x").transform

    def dies_on_the_second_window(self, videos, person_masks=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise interrupt()
        return real(self, videos, person_masks)

    monkeypatch.setattr(METHODS.get("downsample-2x"), "transform", dies_on_the_second_window)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        anonymize_video(
            "downsample-2x", write_video(tmp_path / "long.avi", textured_frames(40, 32, 64)), dst, progress=False
        )
    assert calls["n"] == 2 and dst.read_bytes() == b"the previous output"
    assert stale_temporaries(dst) == [] and not (tmp_path / "o.mp4.json").exists()


def test_one_encoder_for_one_window_or_many(tmp_path):
    frames = gradient_frames(20, 32, 48)
    whole = write_video(tmp_path / "a.mp4", frames, fps=30)
    parts = write_video_windows(
        tmp_path / "b.mp4", (frames[i : i + 7] for i in range(0, 20, 7)), fps=30, expect_frames=20
    )
    assert whole.read_bytes() == parts.read_bytes()
    with pytest.raises(VPBenchError, match="frame 7 is 40x32, the video is 48x32"):
        write_video_windows(tmp_path / "c.mp4", [frames[:7], frames[7:, :, :40]])
    with pytest.raises(VPBenchError, match="wrote 20 frames, expected 21"):
        write_video_windows(tmp_path / "d.mp4", [frames], expect_frames=21)
    assert not (tmp_path / "c.mp4").exists() and not (tmp_path / "d.mp4").exists()
    assert stale_temporaries(tmp_path / "c.mp4") == stale_temporaries(tmp_path / "d.mp4") == []


def test_the_streaming_decoder_gives_the_frames_of_the_one_shot_decoder(tmp_path):
    path = write_video(tmp_path / "a.avi", gradient_frames(23, 32, 48), fps=25)
    windows = list(iter_video(path, 10))
    assert [len(w) for w in windows] == [10, 10, 3]
    assert np.array_equal(np.concatenate(windows), read_frames(path, np.arange(23), backend="pyav"))
    assert sum(len(w) for w in iter_video(path, 4, limit=9)) == 9

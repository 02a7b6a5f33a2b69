"""export.from_mask: class-id and colour masks, the legend's errors, the clip written, and the
`from_mask` signature of a SPADE generator giving the same video."""

import json
import types

from absl import flags
from absl.testing import flagsaver
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import test_export_helpers as helpers

from configs import egan_spade_video
from export import from_mask
from export import signatures
from trainers import workdir as workdir_lib

LEGEND = {"0": [0, 0, 0], "1": [255, 0, 0], "3": [0, 0, 255]}


@pytest.fixture(scope="module")
def spade_workdir(tmp_path_factory):
  """A SPADE video smoke generator (4x16x16, 4 classes), untrained, as a workdir."""
  args = egan_spade_video.get_config("smoke").model.generator.args.to_dict()
  return helpers.make_workdir(tmp_path_factory.mktemp("spade"), "egan_spade_generator_3d", **args)[
    0
  ]


@pytest.fixture(scope="module")
def generator(spade_workdir):
  return workdir_lib.restore_generator(spade_workdir)[0]


@pytest.fixture()
def legend(tmp_path):
  path = tmp_path / "legend.json"
  path.write_text(json.dumps(LEGEND))
  return str(path)


def test_colour_drawing_maps_through_the_legend(tmp_path, legend):
  rgb = np.zeros([4, 6, 3], np.uint8)
  rgb[:2, :3] = [255, 0, 0]
  rgb[3, 5] = [0, 0, 255]
  path = str(tmp_path / "drawing.png")
  Image.fromarray(rgb).save(path)
  ids = from_mask.read_mask(path, legend)
  expected = np.zeros([4, 6], np.int32)
  expected[:2, :3] = 1
  expected[3, 5] = 3
  np.testing.assert_array_equal(ids, expected)
  rgb[0, :2] = [0, 255, 0]  # green, far from black, red, blue and their blends
  Image.fromarray(rgb).save(path)
  with pytest.raises(ValueError, match=r"received others, the commonest: \(0, 255, 0\) in 2 "):
    from_mask.read_mask(path, legend)


@pytest.mark.parametrize("saved_as", ["png", "jpeg"])
def test_a_drawing_with_anti_aliased_edges_or_jpeg_artefacts_is_read(tmp_path, legend, saved_as):
  """Editors paint anti-aliased edges (colours between two regions') and a drawing saved as
  JPEG has artefacts about them: every such pixel was refused as an unknown colour, so
  only a drawing of exact colours in a PNG could be read. Each now takes the nearest
  legend colour's class; a region of a colour off the legend is still refused."""
  ids = np.zeros([32, 32], np.int32)
  ids[:, 16:] = 1
  ids[20:, 20:] = 3
  colours = np.array([LEGEND[str(k)] for k in range(4) if str(k) in LEGEND], np.uint8)
  exact = colours[np.searchsorted([0, 1, 3], ids)]
  drawn = Image.fromarray(exact).resize((256, 256), Image.Resampling.BICUBIC)
  path = str(tmp_path / f"drawing.{saved_as}")
  drawn.save(path, **({"quality": 75} if saved_as == "jpeg" else {}))
  with Image.open(path) as image:
    assert len(image.getcolors(1 << 24)) > 3  # not only the legend's colours
  got = from_mask.read_mask(path, legend)
  expected = np.repeat(np.repeat(ids, 8, 0), 8, 1)
  assert (got == expected).mean() > 0.99
  inside = np.ones_like(ids, bool)  # pixels 4 or more from an edge
  inside[:, 15:17], inside[19:21, 19:], inside[19:, 19:21] = False, False, False
  inside = np.repeat(np.repeat(inside, 8, 0), 8, 1)
  np.testing.assert_array_equal(got[inside], expected[inside])
  region = np.asarray(drawn).copy()
  region[:64, :64] = (0, 255, 0)
  Image.fromarray(region).save(tmp_path / "region.png")
  with pytest.raises(ValueError, match=r"region\.png in the legend.*\(0, 255, 0\) in 4096 pixels"):
    from_mask.read_mask(str(tmp_path / "region.png"), legend)


@pytest.mark.parametrize(
  "content,message",
  [
    ("{not json", "Expected a JSON legend"),
    ('{"sky": [1, 2, 3]}', "Expected legend entries"),
    ('{"1": [1, 2, 300]}', "Expected legend entries"),
    ('{"1": [1, 2, 3], "2": [1, 2, 3]}', "Expected one class per colour"),
  ],
)
def test_legend_errors(tmp_path, content, message):
  path = tmp_path / "bad.json"
  path.write_text(content)
  with pytest.raises(ValueError, match=message):
    from_mask.load_legend(str(path))


def test_cli_writes_the_clip_and_matches_the_signature(spade_workdir, generator, tmp_path):
  ids = np.zeros([20, 24], np.uint8)
  ids[5:15, 4:20] = 2
  mask_path = str(tmp_path / "mask.png")
  Image.fromarray(ids, mode="L").save(mask_path)
  out = str(tmp_path / "clip.gif")
  with flagsaver.flagsaver():
    flags.FLAGS(["prog", f"--workdir={spade_workdir}", f"--mask={mask_path}", f"--out={out}"])
    from_mask.main(["prog"])
  with Image.open(out) as gif:
    assert gif.n_frames == 4 and gif.size == (16, 16)
  video = from_mask.generate(generator, ids.astype(np.int32), seed=0)
  module = signatures.GeneratorModule(generator)
  mask = tf.constant(np.asarray(from_mask.preprocess.resize_and_crop_mask(ids[None], 16, 16)))
  served = module.from_mask(mask)["video"][0]
  np.testing.assert_allclose(served, video, atol=1e-5)


def test_class_ids_out_of_range_and_wrong_models_are_refused(
  spade_workdir, generator, tmp_path, monkeypatch
):
  with pytest.raises(ValueError, match=r"Expected class ids in \[0, 4\)"):
    from_mask.generate(generator, np.full([16, 16], 7, np.int32))
  # From a file, the line names it (a 255 "ignore" label of a labelling tool); no clip.
  restored = (generator, workdir_lib.load_config(spade_workdir), None)
  monkeypatch.setattr(workdir_lib, "restore_generator", lambda *args, **kwargs: restored)
  Image.fromarray(np.full([16, 16], 255, np.uint8), mode="L").save(tmp_path / "labels.png")
  with pytest.raises(ValueError, match=r"\[0, 4\) in .*labels\.png, received ids from 255"):
    from_mask.from_mask_file(spade_workdir, str(tmp_path / "labels.png"), str(tmp_path / "c.gif"))
  assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.png"]
  with pytest.raises(ValueError, match="Expected --out to end in .mp4, .gif or .webp"):
    from_mask.from_mask_file(spade_workdir, "m.png", str(tmp_path / "clip.avi"))
  with pytest.raises(ValueError, match="mask-conditioned generator"):
    from_mask.check_mask_conditioned(types.SimpleNamespace(condition=None), spade_workdir, "x")


@pytest.mark.slow
def test_spade_workdir_exports_a_verified_from_mask_signature(spade_workdir, tmp_path):
  from export import export as export_lib

  result = export_lib.export_workdir(spade_workdir, str(tmp_path / "out"), formats=("saved_model",))
  assert result["saved_model"]["verification"]["worst"] <= 1e-5
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  assert {"from_mask", "from_mask_seeded"} <= set(loaded.signatures)

"""Photos of every kind through the one photo loader (trainers.data.video_io.read_image) that
export.animate, export.from_mask and the converter's frames use."""

import os
import subprocess
import sys
import warnings

import numpy as np
from PIL import Image
import pytest

from export import from_mask
from trainers.data import video_io

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RED, BLUE = (200, 30, 40), (20, 40, 210)


def _two_colour(height=12, width=20):
  """uint8 [H, W, 3]: RED left half, BLUE right half (orientation shows)."""
  rgb = np.zeros((height, width, 3), np.uint8)
  rgb[:, : width // 2], rgb[:, width // 2 :] = RED, BLUE
  return rgb


def test_alpha_is_composited_on_the_stated_background(tmp_path):
  rgba = np.zeros((4, 6, 4), np.uint8)
  rgba[..., :3] = RED
  rgba[:, :3, 3] = 255  # left opaque, right transparent
  rgba[:, 5, 3] = 128
  Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
  got = video_io.read_image(str(tmp_path / "a.png"))
  np.testing.assert_array_equal(got[:, 0], np.broadcast_to(RED, (4, 3)))
  np.testing.assert_array_equal(got[:, 3], 255)  # white behind transparent pixels
  np.testing.assert_allclose(got[0, 5], (np.array(RED) + 255) / 2, atol=1)
  black = video_io.read_image(str(tmp_path / "a.png"), background=(0, 0, 0))
  np.testing.assert_array_equal(black[:, 3], 0)
  la = Image.fromarray(rgba[..., [0, 3]], "LA")
  la.save(tmp_path / "la.png")
  got = video_io.read_image(str(tmp_path / "la.png"))
  np.testing.assert_array_equal(got[:, 0], 200)
  np.testing.assert_array_equal(got[:, 3], 255)


def test_palette_greyscale_cmyk_and_16_bit(tmp_path):
  rgb = _two_colour()
  Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(
    tmp_path / "p.png"
  )
  np.testing.assert_array_equal(video_io.read_image(str(tmp_path / "p.png")), rgb)
  palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
  palette.info["transparency"] = palette.getpixel((0, 0))  # RED's index
  palette.save(tmp_path / "pt.png", transparency=palette.getpixel((0, 0)))
  got = video_io.read_image(str(tmp_path / "pt.png"))
  np.testing.assert_array_equal(got[:, 0], 255)
  np.testing.assert_array_equal(got[:, -1], np.broadcast_to(BLUE, (12, 3)))
  Image.fromarray(rgb[..., 0]).save(tmp_path / "l.png")
  np.testing.assert_array_equal(
    video_io.read_image(str(tmp_path / "l.png")), np.repeat(rgb[..., :1], 3, -1)
  )
  Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=98, subsampling=0)
  np.testing.assert_allclose(video_io.read_image(str(tmp_path / "c.jpg")), rgb, atol=12)
  # 16-bit greyscale: Pillow's own RGB conversion turns it white.
  ramp = np.arange(16 * 8, dtype=np.uint16).reshape(8, 16) * 500
  Image.fromarray(ramp).save(tmp_path / "g16.png")
  with Image.open(tmp_path / "g16.png") as image:
    assert image.mode.startswith("I")
  got = video_io.read_image(str(tmp_path / "g16.png"))
  np.testing.assert_allclose(got[..., 0], ramp / 257.0, atol=0.51)
  assert got.dtype == np.uint8 and got[..., 0].max() < 255


@pytest.mark.parametrize("orientation,turn", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied(tmp_path, orientation, turn):
  """EXIF 6 means: turn the stored pixels a quarter clockwise to view them."""
  upright = _two_colour()
  stored = np.ascontiguousarray(np.rot90(upright, -turn))
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(stored).save(tmp_path / "e.jpg", exif=exif, quality=98, subsampling=0)
  got = video_io.read_image(str(tmp_path / "e.jpg"))
  assert got.shape == upright.shape
  np.testing.assert_allclose(got, upright, atol=12)


def _profile_with_red_and_green_swapped():
  """An RGB colour profile whose red primary is sRGB's green and whose green is sRGB's red:
  a colour-managed viewer shows its stored (255, 0, 0) as sRGB green. Made from Pillow's
  sRGB profile by swapping the offsets of its rXYZ and gXYZ tags and renaming it."""
  from PIL import ImageCms

  icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
  count = int.from_bytes(icc[128:132], "big")
  entries = {bytes(icc[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
  red, green = entries[b"rXYZ"], entries[b"gXYZ"]
  icc[red + 4 : red + 12], icc[green + 4 : green + 12] = (
    icc[green + 4 : green + 12],
    icc[red + 4 : red + 12],
  )
  name = "sRGB built-in".encode("utf-16-be")  # a v4 profile's description (mluc)
  at = icc.index(name)
  icc[at : at + len(name)] = "Swapped RG   ".encode("utf-16-be")
  return bytes(icc)


def test_an_embedded_colour_profile_is_applied(tmp_path):
  """A photo in another colour space (an iPhone's Display P3, a print file's CMYK) shows in
  viewers through its profile; read as if it were sRGB, its colours would be wrong. Alpha
  survives the conversion and an EXIF turn keeps the profile."""
  stored = np.zeros((8, 16, 4), np.uint8)
  stored[..., 0], stored[..., 3] = 255, 255
  stored[:, 8:, 3] = 0  # transparent on the right
  exif = Image.Exif()
  exif[0x0112] = 3  # stored upside down
  icc = _profile_with_red_and_green_swapped()
  Image.fromarray(stored).save(tmp_path / "p.png", icc_profile=icc, exif=exif)
  Image.fromarray(stored[..., :3]).save(tmp_path / "q.jpg", icc_profile=icc, quality=100)
  got = video_io.read_image(str(tmp_path / "p.png"))
  np.testing.assert_allclose(got[:, 8:], np.broadcast_to([0, 255, 0], (8, 8, 3)), atol=3)
  np.testing.assert_allclose(got[:, :8], np.broadcast_to([255, 255, 255], (8, 8, 3)), atol=0)
  got = video_io.read_image(str(tmp_path / "q.jpg"))
  np.testing.assert_allclose(got, np.broadcast_to([0, 255, 0], (8, 16, 3)), atol=3)
  # sRGB's own profile and a broken one leave the pixels as stored.
  from PIL import ImageCms

  srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
  Image.fromarray(stored[..., :3]).save(tmp_path / "s.png", icc_profile=srgb)
  Image.fromarray(stored[..., :3]).save(tmp_path / "b.png", icc_profile=b"not a profile")
  for name in ("s.png", "b.png"):
    np.testing.assert_array_equal(video_io.read_image(str(tmp_path / name)), stored[..., :3])


def test_progressive_large_and_tiny(tmp_path):
  rgb = _two_colour()
  Image.fromarray(rgb).save(tmp_path / "pr.jpg", progressive=True, quality=98, subsampling=0)
  with Image.open(tmp_path / "pr.jpg") as image:
    assert image.info.get("progressive")
  np.testing.assert_allclose(video_io.read_image(str(tmp_path / "pr.jpg")), rgb, atol=12)
  big = np.zeros((6000, 8000, 3), np.uint8)
  big[:, 4000:] = BLUE
  Image.fromarray(big).save(tmp_path / "big.png", compress_level=1)
  got = video_io.read_image(str(tmp_path / "big.png"))
  assert got.shape == (6000, 8000, 3) and tuple(got[0, -1]) == BLUE
  Image.fromarray(rgb[:8, :8]).save(tmp_path / "tiny.png")
  np.testing.assert_array_equal(video_io.read_image(str(tmp_path / "tiny.png")), rgb[:8, :8])


def test_refusals_are_one_line_naming_the_file(tmp_path):
  Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "f.tif")
  with pytest.raises(video_io.InputError, match=r"f\.tif in Pillow mode F"):
    video_io.read_image(str(tmp_path / "f.tif"))
  (tmp_path / "notes.txt").write_text("not a photo")
  with pytest.raises(video_io.InputError, match=r"received .*notes\.txt"):
    video_io.read_image(str(tmp_path / "notes.txt"))
  with pytest.raises(video_io.InputError, match="received a directory"):
    video_io.read_image(str(tmp_path))
  # The CLIs print it as one line, before any workdir is read.
  for module, flag in (("export.animate", "--image"), ("export.from_mask", "--mask")):
    result = subprocess.run(
      [
        sys.executable,
        "-m",
        module,
        f"--workdir={tmp_path}/none",
        f"{flag}={tmp_path}/notes.txt",
        f"--out={tmp_path}/o.mp4",
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      check=False,
      env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "notes.txt" in result.stderr.strip().splitlines()[-1]


def test_empty_heic_and_oversized_files_are_refused_saying_why(tmp_path, monkeypatch):
  """An empty file, an iPhone's HEIC photo and one past the loader's PHOTO_MAX_PIXELS are
  each named with what is wrong. Pillow's own bomb limit (a warning from MAX_IMAGE_PIXELS,
  a refusal from twice it: 179 MP, where a phone's 200 MP photo was refused) is not the
  loader's."""
  (tmp_path / "empty.jpg").write_bytes(b"")
  with pytest.raises(video_io.InputError, match=r"empty file \(0 bytes\): .*empty\.jpg"):
    video_io.read_image(str(tmp_path / "empty.jpg"))
  with pytest.raises(video_io.InputError, match=r"empty file \(0 bytes\): .*empty\.jpg"):
    video_io.read_mask_image(str(tmp_path / "empty.jpg"))
  (tmp_path / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" * 8)
  with pytest.raises(
    video_io.InputError, match=r"IMG_0001\.HEIC: a HEIC/HEIF photo this reader cannot put"
  ):
    video_io.read_image(str(tmp_path / "IMG_0001.HEIC"))
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a 200 MP photo against Pillow's 89 MP
  Image.fromarray(_two_colour(10, 21)).save(tmp_path / "phone.png")
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # not even Pillow's DecompressionBombWarning
    assert video_io.read_image(str(tmp_path / "phone.png")).shape == (10, 21, 3)
  assert Image.MAX_IMAGE_PIXELS == 100  # Pillow's limit is the user's again
  monkeypatch.setattr(video_io, "PHOTO_MAX_PIXELS", 200)
  with pytest.raises(
    video_io.InputError, match=r"at most 200 pixels, received .*phone\.png: 21x10"
  ):
    video_io.read_image(str(tmp_path / "phone.png"))
  with pytest.raises(video_io.InputError, match=r"at most 200 pixels, received .*phone\.png"):
    video_io.read_mask_image(str(tmp_path / "phone.png"))


def test_colour_mask_and_class_id_mask_are_turned_by_exif(tmp_path):
  ids = np.zeros((6, 10), np.uint8)
  ids[:, 5:] = 3
  exif = Image.Exif()
  exif[0x0112] = 6
  Image.fromarray(np.ascontiguousarray(np.rot90(ids, 1))).save(tmp_path / "m.png", exif=exif)
  np.testing.assert_array_equal(from_mask.read_mask(str(tmp_path / "m.png")), ids)
  # Saved as JPEG, the ids about every edge would be others, in range: refused.
  Image.fromarray(ids * 40).save(tmp_path / "m.jpg", quality=75)
  with pytest.raises(video_io.InputError, match=r"lossless format \(PNG\), received a JPEG"):
    from_mask.read_mask(str(tmp_path / "m.jpg"))


def test_a_colour_mask_is_read_by_its_stored_values_whatever_its_profile(tmp_path):
  """A drawing's colours are labels: saved by an editor that embeds its colour profile (a
  Display P3 one), the stored (255, 0, 0) is the legend's red, not the colour a viewer shows.
  A colour outside the legend is named with the drawing's file."""
  (tmp_path / "legend.json").write_text('{"0": [0, 0, 0], "1": [255, 0, 0]}')
  rgb = np.zeros((4, 6, 3), np.uint8)
  rgb[:, :3] = (255, 0, 0)
  path = str(tmp_path / "drawing.png")
  Image.fromarray(rgb).save(path, icc_profile=_profile_with_red_and_green_swapped())
  expected = np.zeros((4, 6), np.int32)
  expected[:, :3] = 1
  np.testing.assert_array_equal(from_mask.read_mask(path, str(tmp_path / "legend.json")), expected)
  assert video_io.read_image(path)[0, 0].tolist() == [0, 255, 0]  # a photo is still shown
  rgb[0, 0] = (0, 255, 0)
  Image.fromarray(rgb).save(path)
  with pytest.raises(ValueError, match=r"colour of .*drawing\.png in the legend.*\(0, 255, 0\)"):
    from_mask.read_mask(path, str(tmp_path / "legend.json"))


def test_training_and_serving_resize_agree_on_a_real_size_photo(tmp_path):
  """A 720p photo of grass-like texture: the eval pipeline's frame (data.resize's default:
  cover the model size) and the serving preprocessing are within 1 grey level; the resize
  serving used before (bilinear, no antialiasing) is far from both."""
  import tensorflow as tf

  from configs import common
  from export import preprocess
  from trainers.data import format as record_format
  from trainers.data import pipeline

  rng = np.random.default_rng(0)
  blades = rng.integers(0, 256, (720, 1280), np.uint8)
  grass = np.stack([blades // 3, blades, blades // 4], -1).astype(np.uint8)
  prefix = str(tmp_path / "grass")
  with tf.io.TFRecordWriter(record_format.shard_path(prefix, 0, 1)) as writer:
    writer.write(record_format.encode_clip(np.stack([grass, grass]), "png").SerializeToString())
  data = common.base().data
  data.source, data.eval_files = "tfrecord", prefix + "-*"
  data.num_frames, data.height, data.width = 2, 64, 64
  (batch,) = list(pipeline.make_dataset(data, 1, False))
  trained = (batch["video"].numpy()[0, 0] + 1.0) * 127.5
  served = (preprocess.resize_and_crop(grass[None], 64, 64).numpy()[0] + 1.0) * 127.5
  assert np.abs(trained - served).max() <= 1.0
  aliased = tf.image.resize(grass[None].astype(np.float32), [64, 114], antialias=False)
  aliased = aliased.numpy()[0, :, 25:89]
  psnr = 10 * np.log10(255.0**2 / np.mean((aliased - served) ** 2))
  assert psnr < 30.0


def test_a_large_photo_is_read_and_resized_without_copies_of_it(tmp_path):
  """A phone's photo (48 MP, 200 MP) is read and made the model's size holding little more
  than the decoded image: no copy of it by the EXIF turn or an RGB conversion that is not
  needed, no float32 copy of it (four times its bytes) for the resize. Measured in a fresh
  process, in bytes of peak memory per byte of the RGB image (6.0 before)."""
  import tensorflow as tf

  from zoo import inputs as zoo_inputs

  height, width = 3000, 4000
  image = np.empty((height, width, 3), np.uint8)
  image[..., 0] = (np.arange(width) % 256).astype(np.uint8)
  image[..., 1] = (np.arange(height) % 256).astype(np.uint8)[:, None]
  image[..., 2] = 128
  Image.fromarray(image).save(tmp_path / "phone.jpg", quality=90)
  del image
  script = f"""
import resource
import numpy as np
from export import preprocess
from trainers.data import video_io
preprocess.resize_and_crop(np.zeros((1, 64, 64, 3), np.uint8), 32, 32)  # TF's start-up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
preprocess.resize_and_crop(video_io.read_image({str(tmp_path / "phone.jpg")!r})[None], 64, 64)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / {height * width * 3})
"""
  result = subprocess.run(
    [sys.executable, "-c", script],
    cwd=ROOT,
    capture_output=True,
    text=True,
    check=True,
    env={**os.environ, "PYTHONPATH": ROOT},
  )
  assert float(result.stdout.split()[-1]) < 4.5, result.stdout
  # The resize of uint8 pixels gives the values of their float32 copy's.
  pixels = np.random.default_rng(0).integers(0, 256, (2, 45, 70, 3), np.uint8)
  for size in ([16, 25], [64, 100]):
    np.testing.assert_array_equal(
      zoo_inputs.resize_images(pixels, size),
      zoo_inputs.resize_images(tf.constant(pixels, tf.float32), size),
    )


def test_a_video_given_as_a_photo_is_named_a_video_and_an_animation_gives_its_first_frame(
  tmp_path, caplog
):
  """An MP4 given to `--image` was "cannot identify image file"; it is now called a video,
  with how to take a photo from it. An animated GIF gives its first frame, as the log says
  (it was taken without a word)."""
  from export import animate

  video_io.write_mp4(str(tmp_path / "clip.mp4"), np.zeros((2, 8, 8, 3), np.uint8))
  os.rename(tmp_path / "clip.mp4", tmp_path / "clip")  # named without its extension too
  for name in ("clip", "clip.mp4"):
    if name == "clip.mp4":
      os.rename(tmp_path / "clip", tmp_path / name)
    with pytest.raises(video_io.InputError, match=rf"received a video: .*{name} \(to use one"):
      animate.read_photo(str(tmp_path / name))
  frames = [Image.fromarray(np.full((6, 8, 3), v, np.uint8)) for v in (40, 200)]
  frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
  with caplog.at_level("WARNING"):
    np.testing.assert_array_equal(animate.read_photo(str(tmp_path / "a.gif")), 40)
  assert "a.gif is an animation; its first frame is the photo animated" in caplog.text

"""VGAN future generation (Vondrick et al. 2016, sec. 5): a first frame -> a 32-frame clip.

Follows the authors' released code (ARCHITECTURES.md sec. 1): 2D encoder to 4x4x1024, a
two-stream decoder, discriminator widths doubled, L1 first-frame reconstruction with
lambda 10, batch 32, no mask penalty.

  python -m trainers.train --config=configs/vgan_image_to_video.py --workdir=/tmp/vgan_i2v
  python -m trainers.train --config=configs/vgan_image_to_video.py:smoke --workdir=/tmp/smoke
"""

from configs import common


def get_config(arg=""):
  c = common.base()
  c.model.generator = common.network("vgan_image_to_video")
  c.model.discriminators.d = common.network("vgan_image_to_video_discriminator",
                                            video_shape=(32, 64, 64, 3))
  c.model.discriminators.d.weight = 1.0
  c.objective.gan_loss = "non_saturating"
  c.objective.condition = "first_frame"
  c.objective.recon_loss = "l1"
  c.objective.recon_weight = 10.0
  c.objective.recon_frame = 0
  c.optimizer.g_lr = c.optimizer.d_lr = 2e-4
  c.optimizer.beta1 = 0.5
  c.train.batch_size = 32
  c.train.steps = 100_000
  if arg == "smoke":
    common.smoke(c)
    common.shrink_vgan(c, frames=8, size=16, widths=(32, 16), d_widths=(8, 16),
                       encoder_widths=(8, 16))
  elif arg:
    raise ValueError(f"Expected config argument '' or 'smoke', received {arg!r}.")
  return c

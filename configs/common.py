"""Sections every config is built from: model, data, objective, train, optimizer, eval, runtime.

A model config calls `base()` and overrides a few fields; `smoke(config)` shrinks any config
for a quick local run (the `:smoke` argument of every config file, read by `parse_arg`).
"""

import difflib

import ml_collections


def network(name, **args):
  """A network entry: the registry name and the keyword arguments `zoo.registry.build` gets."""
  return ml_collections.ConfigDict({"name": name, "args": ml_collections.ConfigDict(args)})


def base():
  c = ml_collections.ConfigDict()
  c.seed = 0

  # What is trained: registry names + constructor arguments.
  c.model = ml_collections.ConfigDict()
  c.model.generator = network("")
  # name -> network entry with an extra `weight` (the loss weight of that discriminator).
  c.model.discriminators = ml_collections.ConfigDict()

  # Where clips come from (trainers.data). Element: {"video": float32 [T, H, W, 3] in
  # [-1, 1], plus the optional outputs named in `outputs`}.
  c.data = ml_collections.ConfigDict()
  c.data.source = "synthetic"  # "synthetic", "tfrecord" or "tfds:NAME"
  c.data.train_files = ""  # glob pattern(s), comma separated, for source "tfrecord"
  c.data.eval_files = ""
  c.data.compression = ""  # "" or "GZIP"
  c.data.tfds_data_dir = ""  # for "tfds:NAME": TFDS's data_dir ("" = TFDS's default)
  c.data.tfds_video_key = ""  # "" = the dataset's own (bair image_main, ucf101 video, ...)
  c.data.tfds_train_split = ""  # "" = train (test for moving_mnist, which has only test)
  c.data.tfds_eval_split = ""
  c.data.num_frames = 32
  c.data.frame_stride = 1
  c.data.max_start = 0  # > 0: a training clip starts in its record's first max_start frames
  # 2D pretraining (Egan 2019): each element is ONE frame drawn uniformly from a clip of
  # num_frames, as a one-frame clip [1, H, W, 3].
  c.data.frame_mode = False
  c.data.height = 64
  c.data.width = 64
  c.data.resize = 0  # 0: frames cover the model size (H x W); > 0: short side; < 0: stored size
  c.data.random_flip = True
  # Optional: first_frame, middle_frame, label, segmentation, fg_masks, background.
  c.data.outputs = ()
  c.data.skip_corrupt = False  # skip (and count) corrupt records instead of raising
  c.data.max_skip_rate = 0.01  # with skip_corrupt: stop when more of the records read are skipped
  c.data.deterministic = True
  c.data.shuffle_buffer = 256
  c.data.synthetic = ml_collections.ConfigDict()
  c.data.synthetic.num_clips = 0  # 0: an endless stream (training)
  c.data.synthetic.max_shapes = 3
  # "random" directions, or "by_appearance": frame 0 determines the motion (data/synthetic.py).
  c.data.synthetic.motion = "random"

  # The GAN objective (trainers.tasks): losses are names from trainers.losses.
  c.objective = ml_collections.ConfigDict()
  c.objective.task = "gan"
  c.objective.gan_loss = "non_saturating"
  c.objective.d_steps = 1  # discriminator steps per generator step
  c.objective.gp_weight = 0.0  # WGAN-GP penalty weight (lambda)
  c.objective.r1_weight = 0.0
  c.objective.clip_weights = 0.0  # WGAN weight clipping bound; 0 = off
  c.objective.mask_sparsity = 0.0  # weight of mean |m| for two-stream generators
  c.objective.condition = ""  # batch key fed to a conditional G and to the Ds: first_frame, ...
  c.objective.recon_loss = ""  # "", "l1" or "l2": conditioned frame vs generated frame
  c.objective.recon_weight = 0.0
  c.objective.recon_frame = 0  # which generated frame reproduces the conditioning image
  c.objective.recon_start_step = 0
  c.objective.kl_weight = 0.0

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"  # adam, adamw, rmsprop
  c.optimizer.g_lr = 2e-4
  c.optimizer.d_lr = 2e-4
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999
  c.optimizer.epsilon = 1e-8
  c.optimizer.rho = 0.9  # RMSprop's squared-gradient decay (Keras's default; PyTorch's is 0.99)
  c.optimizer.weight_decay = 0.0
  c.optimizer.schedule = "constant"  # constant, cosine_restarts, linear_decay
  c.optimizer.schedule_start_step = 0
  c.optimizer.restart_period = 1000  # steps of the first cosine period
  # The same two in epochs (> 0 replaces the step field): an epoch is train.steps_per_epoch
  # generator steps, counted from the data when 0 (trainers.data.epochs).
  c.optimizer.schedule_start_epochs = 0
  c.optimizer.restart_period_epochs = 0
  c.optimizer.clip_value = 0.0
  c.optimizer.clip_norm = 0.0

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 64  # global batch
  c.train.steps = 100_000  # generator steps
  c.train.grad_accum = 1  # micro-batches per step
  # 0: training clips (the TFRecord manifest, TFDS's split info) // batch_size; read only
  # when the schedule is given in epochs.
  c.train.steps_per_epoch = 0
  c.train.ema_decay = 0.0  # 0: no EMA copy
  c.train.steps_per_call = 1  # steps inside one tf.function call
  c.train.log_every = 50
  c.train.summary_every = 100
  c.train.sample_every = 1000
  c.train.num_samples = 16  # the fixed sample grid
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 3
  c.train.keep_every = 0  # additionally keep every K-th step's checkpoint; 0 = off

  c.eval = ml_collections.ConfigDict()
  c.eval.every = 0  # generator steps between evaluations; 0 = off
  c.eval.metrics = ()
  c.eval.num_videos = 256
  c.eval.i3d = ""  # handle or local path of the TF-Hub I3D module

  c.runtime = ml_collections.ConfigDict()
  c.runtime.strategy = "default"  # default, mirrored, multi_worker, tpu
  c.runtime.devices = ()  # for mirrored: device names; empty = all local GPUs (or the CPU)
  c.runtime.tpu = ""
  # After SIGTERM / Ctrl-C, seconds to wait for the current step before exiting unsaved.
  c.runtime.stop_timeout_secs = 20.0
  # Seconds one call of the step function may take before the process exits (status 1); 0 =
  # no limit. A dead or frozen worker of a multi-worker run is caught without it (TensorFlow's
  # heartbeats, ~10 s); this catches a live one that stops stepping and an input that never
  # delivers. It must exceed the first call (tracing) and, with several workers, the pauses of
  # the chief that the others wait through (evaluation, samples, checkpoints).
  c.runtime.step_timeout_secs = 0.0
  c.runtime.allow_model_change = False  # resume a workdir whose checkpoints are another model's
  c.runtime.precision = "float32"  # float32, mixed_float16, mixed_bfloat16
  # XLA measured ~100x slower for 3D transposed convs on CPU (bench/train_step.py):
  # "auto" compiles only on GPU/TPU.
  c.runtime.jit_compile = "auto"  # auto, true, false
  c.runtime.deterministic = False  # tf.config.experimental.enable_op_determinism
  # False: each D or G step starts after the previous D update, as in PyTorch's eager order:
  # fewer tensors alive at once; on CPU the overlap made some steps faster, others slower
  # (docs/benchmarks.md, "Steps in order").
  c.runtime.overlap_steps = True
  # Forms of the "k4 s2" 3D convs, SPADE's mask convolution and its maps' weight gradients,
  # the time-padded 3D convs and the LSTM's products with a transposed weight
  # (zoo.layers.form_choice): auto, native, rules, subpixel, patch, space_to_depth, lookup,
  # edges, transposed, taps; "" = the VIDEOGAN_CONV_FORMS environment variable, else auto
  # (measured, cached).
  c.runtime.conv_forms = ""
  return c


def smoke(c):
  """Shrinks a config in place for a quick local run; returns it."""
  c.train.batch_size = 2
  c.train.steps = 4
  c.train.log_every = 1
  c.train.summary_every = 2
  c.train.sample_every = 2
  c.train.checkpoint_every = 2
  c.train.num_samples = 2
  c.data.shuffle_buffer = 8
  c.eval.num_videos = 4
  return c


def shrink_vgan(c, frames, size, widths, d_widths, encoder_widths=None):
  """Makes a VGAN-style config small: clips of frames x size x size and narrower networks.

  Generator depth follows len(widths): 2x4x4 doubles len(widths) times, so frames =
  2 ** (len(widths) + 1) and size = 4 * 2 ** len(widths).
  """
  if frames != 2 ** (len(widths) + 1) or size != 4 * 2 ** len(widths):
    raise ValueError(
      f"Expected frames={2 ** (len(widths) + 1)}, size={4 * 2 ** len(widths)} "
      f"for {len(widths)} generator widths, received {frames}, {size}."
    )
  c.data.num_frames, c.data.height, c.data.width = frames, size, size
  g = c.model.generator.args
  g.widths = tuple(widths)
  if c.model.generator.name != "vgan_one_stream":
    g.background_widths = tuple(widths)
  if encoder_widths is not None:  # image-to-video: the background decoder starts at 4x4
    g.encoder_widths = tuple(encoder_widths)
    g.background_widths = tuple(widths[1:])
  for d in c.model.discriminators.values():
    d.args.video_shape = (frames, size, size, 3)
    d.args.widths = tuple(d_widths)
  return c


# Radner 2020: the two datasets of Table 4.1 and the shared WGAN-GP schedule (Sec. 3.8).
RADNER_DATASETS = ("bair", "landscape")
# Sec. 3.7 / 3.10 / 4: (generator args, discriminator args) per resolution; G, D_S and D_T
# share a width list per resolution and differ by their channel multiplier ch. 256x256 (the
# thesis's attempt: ch 8 / 8 / 32, D_T pooled 2x2) gives no width lists; these extend the
# 128 ones by a level, as BigGAN's 256 models do.
RADNER_WIDTHS = {
  64: (
    dict(resolution=64, ch=16, multipliers=(8, 4, 2, 1)),
    dict(ch_s=32, ch_t=32, multipliers=(2, 4, 8, 16, 16), pool=2),
  ),
  128: (
    dict(resolution=128, ch=32, multipliers=(8, 8, 4, 2, 1)),
    dict(ch_s=16, ch_t=64, multipliers=(1, 2, 4, 8, 16, 16), pool=1),
  ),
  256: (
    dict(resolution=256, ch=8, multipliers=(8, 8, 8, 4, 2, 1)),
    dict(ch_s=8, ch_t=32, multipliers=(1, 2, 4, 8, 8, 16, 16), pool=2),
  ),
}


def radner(c, dataset, resolution=0):
  """Sets the data, objective and optimizer Radner's models share; returns c.

  "bair": BAIR robot pushing via TFDS, 64x64, 30 frames. "landscape": the user's videos as
  TFRecords (made by trainers.data.make_tfrecords with --min_temporal_variance=0.001, the
  thesis's static-clip filter; set data.train_files / eval_files), 128x128 (or
  `resolution`, e.g. 256), 25 frames.
  Objective: 1 x WGAN-GP(D_S) + 5 x WGAN-GP(D_T) (the weights are the discriminators'),
  GP 10, 2 D steps per G step, Adam lr 3e-4 betas (0, 0.9) for every network, gradient
  values clipped to 2.5, batch 8 as 2 accumulated micro-batches of 4, cosine annealing with
  warm restarts after epoch 10 (an epoch: the training clips / 8 generator steps, or
  train.steps_per_epoch).
  """
  if dataset not in RADNER_DATASETS:
    raise ValueError(f"Expected a dataset in {RADNER_DATASETS}, received {dataset!r}.")
  if dataset == "bair":
    c.data.source = "tfds:bair_robot_pushing_small"
    c.data.num_frames, c.data.height, c.data.width = 30, 64, 64
  else:
    c.data.source = "tfrecord"
    size = resolution or 128
    c.data.num_frames, c.data.height, c.data.width = 25, size, size
    c.data.resize = size
  c.data.random_flip = dataset == "landscape"  # BAIR's fixed camera: keep its layout
  c.objective.gan_loss = "wgan"
  c.objective.gp_weight = 10.0
  c.objective.d_steps = 2
  c.optimizer.g_lr = c.optimizer.d_lr = 3e-4
  c.optimizer.beta1, c.optimizer.beta2 = 0.0, 0.9
  c.optimizer.clip_value = 2.5
  c.optimizer.schedule = "cosine_restarts"
  # Epochs of the data, counted when training starts: BAIR from TFDS's split info (43,264
  # clips / batch 8 = 5,408 steps), the landscape set from its TFRecord manifest.
  c.optimizer.schedule_start_epochs = 10
  c.optimizer.restart_period_epochs = 1
  c.train.batch_size = 8
  c.train.grad_accum = 2
  c.train.steps = 1_000_000
  return c


def radner_discriminators(c, conditional, ch_s, ch_t, multipliers, pool):
  """D_S (weight 1, K = 8 frames) and D_T (weight 5, first two blocks 3D) for c's clips."""
  shape = (c.data.num_frames, c.data.height, c.data.width, 3)
  c.model.discriminators.spatial = network(
    "radner_spatial_discriminator",
    video_shape=shape,
    ch=ch_s,
    multipliers=multipliers,
    num_sampled_frames=8,
    conditional=conditional,
  )
  c.model.discriminators.spatial.weight = 1.0
  c.model.discriminators.temporal = network(
    "radner_temporal_discriminator",
    video_shape=shape,
    ch=ch_t,
    multipliers=multipliers,
    pool=pool,
    num_3d_blocks=2,
    conditional=False,
  )
  c.model.discriminators.temporal.weight = 5.0
  return c


def radner_smoke(c, frames=4, size=16):
  """Shrinks a Radner config: synthetic clips of frames x size x size, narrow networks."""
  smoke(c)
  c.data.source = "synthetic"
  c.data.num_frames, c.data.height, c.data.width = frames, size, size
  c.data.resize = 0
  c.train.grad_accum = 2
  c.train.steps_per_epoch = 1  # the synthetic stream is endless: nothing to count
  g = c.model.generator.args
  g.resolution, g.num_frames, g.ch, g.multipliers = size, frames, 2, (2, 1)
  for d in c.model.discriminators.values():
    d.args.video_shape = (frames, size, size, 3)
    d.args.ch, d.args.multipliers = 2, (1, 2, 2)
    d.args.num_3d_blocks = min(d.args.get("num_3d_blocks", 0), 2)
  return c


def parse_arg(arg, **defaults):
  """A config file's argument ("", "smoke", "smoke,size=small") as a ConfigDict of `defaults`.

  Items are comma separated. `key=value` parses value with the type of the key's default
  (a bool takes true/false/1/0); a bare `key` sets a bool key to True. An unknown key or a
  value of the wrong type raises a ValueError naming it and the keys there are.

    def get_config(arg=None):
      arg = common.parse_arg(arg, smoke=False, size="mid")
  """
  result = ml_collections.ConfigDict(defaults)
  for item in (arg or "").split(","):
    key, has_value, text = (part.strip() for part in item.partition("="))
    if not key:
      continue
    if key not in defaults:
      close = difflib.get_close_matches(key, defaults, n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise ValueError(
        f"Expected config argument keys from {sorted(defaults)}, received {key!r}{hint} in {arg!r}."
      )
    default = defaults[key]
    kind = type(default).__name__
    if not has_value and not isinstance(default, bool):
      raise ValueError(
        f"Expected {key}=VALUE ({kind}) in the config argument, received {key!r} alone in {arg!r}."
      )
    result[key] = _parse_value(text, default) if has_value else True
    if result[key] is None:
      raise ValueError(f"Expected {key}=VALUE of type {kind}, received {text!r} in {arg!r}.")
  return result


def _parse_value(text, default):
  """`text` as the type of `default`; None when it does not parse."""
  if isinstance(default, bool):
    return {"true": True, "1": True, "false": False, "0": False}.get(text.lower())
  try:
    return type(default)(text)
  except ValueError:
    return None


def relive(c, task="gan", condition=""):
  """(Re)live Photos training (report sec. 4.7; docs/architecture.md) on 32x64x64 clips.

  Adam lr 1e-3, beta1 0.5, batch 32 for every model. task "gan": WGAN with gradient penalty
  lambda 10 (Gulrajani's default; the report gives none), 5 critic steps per generator step,
  beta2 0.9 (WGAN-GP's). With a `condition` (conditional GANs): MSE between generated frame 15
  (of 32: 15 before the photo, 16 after) and the photo, weight 1.0 from step 5000, the
  report's curriculum ("once the generated videos are fairly reasonable") with our numbers.
  task "prediction": next-frame predictors, L2 with teacher forcing (trainers.tasks).
  """
  c.objective.task = task
  c.optimizer.g_lr = c.optimizer.d_lr = 1e-3
  c.optimizer.beta1 = 0.5
  c.train.batch_size = 32
  c.train.steps = 100_000  # unstated in the report
  if task == "gan":
    c.objective.gan_loss = "wgan"
    c.objective.gp_weight = 10.0
    c.objective.d_steps = 5
    c.optimizer.beta2 = 0.9
    # The 5 critic steps one after the other: relive_wgan's step took 10-14% less time, its
    # allocator peak 18-21% less than overlapped (docs/benchmarks.md, "Steps in order").
    c.runtime.overlap_steps = False
  if condition:
    c.objective.condition = condition
    c.objective.recon_loss = "l2"
    c.objective.recon_weight = 1.0
    c.objective.recon_frame = (c.data.num_frames - 1) // 2
    c.objective.recon_start_step = 5000
  return c


def relive_smoke(c, frames=8, size=16):
  """`smoke` plus frames x size x size clips; the curriculum switches on at step 2."""
  smoke(c)
  c.data.num_frames, c.data.height, c.data.width = frames, size, size
  if c.objective.recon_loss:
    c.objective.recon_frame = (frames - 1) // 2
    c.objective.recon_start_step = 2
  return c


def shrink_egan(c, frames, size):
  """Makes an Egan config (configs/egan_*.py) small: `size`-pixel frames from 4-frame clips,
  every discriminator judging clips of `frames` frames (1 for image models)."""
  smoke(c)
  c.data.num_frames, c.data.frame_stride, c.data.max_start = 4, 1, 0
  c.data.height = c.data.width = size
  c.data.resize = 0
  for d in c.model.discriminators.values():
    d.args.video_shape = (frames, size, size, 3)
  return c


def to_video(c, video_shape):
  """An Egan image config -> its video twin: every `*_2d` network becomes its `*_3d` twin
  (the pair zoo.inflation converts between), discriminators judge `video_shape` clips and the
  pipeline yields whole clips instead of frames."""
  for entry in [c.model.generator, *c.model.discriminators.values()]:
    if not entry.name.endswith("_2d"):
      raise ValueError(f"Expected an image network name ending in '_2d', received {entry.name!r}.")
    entry.name = entry.name[:-3] + "_3d"
  for d in c.model.discriminators.values():
    d.args.video_shape = tuple(video_shape)
  c.data.frame_mode = False
  return c

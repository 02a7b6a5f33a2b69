"""VGAN's two-stream GAN in PyTorch, for bench/torch_step.py: networks, step, FLOP counter.

The speed targets compare our step with a PyTorch eager implementation of the same full step
(D on real and fake, G step, Adam). This module is that implementation, and imports neither
TensorFlow nor Keras (bench/torch_step.py runs without them, so that its memory and threads
are PyTorch's alone):

* `TwoStreamGenerator` and `Discriminator` are `zoo.vgan`'s networks in `torch.nn`, built by
  `networks` from the config's entries with `zoo.vgan`'s defaults and `zoo.vgan.blocks`'s
  BN epsilons, momentum and LeakyReLU slope (copied below; tests/bench compare parameter
  counts, shapes and a forward pass with the Keras models, given the same weights);
* `Step` is one step of `bench/plain_step.py`: `objective.d_steps` D updates (a fresh z, the
  fake made without gradient, D on the real batch and on the fake, one backward, Adam), then
  one G update (a fresh z, the fake made again, D with its weights frozen, the
  non-saturating loss plus `mask_sparsity` x mean |m|, backward, Adam); every network in
  training mode (batch statistics), two `torch.optim.Adam` with the config's lr, betas and
  epsilon; optionally under `torch.autocast` bf16. It computes exactly the gradients
  `bench/flops.gan_step_flops` counts: no input gradient into the first layer of D in the D
  step or of G, no D weight gradients in the G step;
* `FlopCounter` counts those FLOPs from the step itself (autograd's own state), so that
  bench/torch_step.py needs no TensorFlow to count them; tests/bench check it equals
  `bench/flops.gan_step_flops`.

Where it cannot be the same (none of this changes the work per step): PyTorch's Adam adds
epsilon to sqrt(v) / sqrt(1 - beta2^t), Keras's to sqrt(v) (epsilon-hat); BatchNorm's running
variance is updated with the unbiased batch variance (Keras: biased); z comes from
`torch.randn`, not TF's stateless normal; epsilon is the config's (1e-8, as the trainer's
Adam), where bench/plain_step.py leaves Keras's default (1e-7); ReLU and LeakyReLU run in
place, as in PyTorch's DCGAN example (Keras has no in-place activations).
"""

import contextlib
import math

MISSING_TORCH = (
  "bench/torch_step.py needs PyTorch (the CPU wheel torch==2.13.0): pip install -e '.[bench]'"
)
try:
  import torch
  from torch import nn
  from torch.nn import functional as F
except ImportError as error:
  raise ImportError(MISSING_TORCH) from error

from bench import host

# zoo.vgan's defaults and zoo.vgan.blocks's constants (importing them would import Keras).
VIDEO_WIDTHS = (512, 256, 128, 64)
BACKGROUND_WIDTHS = (512, 256, 128, 64)
DISCRIMINATOR_WIDTHS = (64, 128, 256, 512)
VIDEO_SHAPE = (32, 64, 64, 3)
INIT_STD, GAMMA_STD = 0.01, 0.02
GENERATOR_BN_EPSILON = 1e-5
DISCRIMINATOR_BN_EPSILON = 1e-3
BN_MOMENTUM = 0.9
LEAKY_RELU_SLOPE = 0.2

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_TRANSPOSE = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_BATCH_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_MEMORY_FORMAT = {2: torch.channels_last, 3: torch.channels_last_3d}
# Keras's BN momentum weighs the old moving average; PyTorch's weighs the new batch.
_TORCH_BN_MOMENTUM = 1.0 - BN_MOMENTUM


def _conv_block(
  rank, c_in, c_out, kernel, stride, padding, *, transpose, batch_norm, activation, bn_epsilon
):
  """`zoo.vgan.blocks.ConvBlock` in PyTorch: (transposed) conv with bias, BN?, activation.

  Keras's "same" padding of a "k4 s2" conv pads 1 on each side of an even size, which is
  PyTorch's padding=1 (`Discriminator` checks its sizes are even); a "k4 s2" transposed conv
  doubles every size with either.
  """
  layers = [(_CONV_TRANSPOSE if transpose else _CONV)[rank](c_in, c_out, kernel, stride, padding)]
  if batch_norm:
    layers.append(_BATCH_NORM[rank](c_out, eps=bn_epsilon, momentum=_TORCH_BN_MOMENTUM))
  layers.append(
    nn.ReLU(inplace=True) if activation == "relu" else nn.LeakyReLU(LEAKY_RELU_SLOPE, inplace=True)
  )
  return layers


def _up_stack(rank, c_in, widths, first_kernel):
  """`blocks.UpStack`: a valid `first_kernel` projection, then "k4 s2" layers, BN + ReLU."""
  layers = []
  for i, width in enumerate(widths):
    kernel, stride, padding = (first_kernel, 1, 0) if i == 0 else (4, 2, 1)
    layers += _conv_block(
      rank,
      c_in,
      width,
      kernel,
      stride,
      padding,
      transpose=True,
      batch_norm=True,
      activation="relu",
      bn_epsilon=GENERATOR_BN_EPSILON,
    )
    c_in = width
  return layers


def _output_head(rank, c_in, filters, activation):
  """`blocks.output_head`: a "k4 s2" transposed conv, no BN, then tanh or sigmoid."""
  return [_CONV_TRANSPOSE[rank](c_in, filters, 4, 2, 1), activation]


def _initialize(module, init_std, gamma_std):
  """VGAN's init (`blocks.kernel_init`, `gamma_init`): kernels N(0, init_std), biases 0,
  BN gamma N(1, gamma_std), beta 0."""
  for m in module.modules():
    if isinstance(m, tuple(_CONV.values()) + tuple(_CONV_TRANSPOSE.values())):
      nn.init.normal_(m.weight, 0.0, init_std)
      nn.init.zeros_(m.bias)
    elif isinstance(m, tuple(_BATCH_NORM.values())):
      nn.init.normal_(m.weight, 1.0, gamma_std)
      nn.init.zeros_(m.bias)


class TwoStreamGenerator(nn.Module):
  """`zoo.vgan.generators.TwoStreamGenerator` (Vondrick et al. 2016, Sec. 2.2) in PyTorch.

  z [B, latent_dim] -> trunk (transposed 3D convs, BN + ReLU) -> foreground (tanh) and mask
  (sigmoid) heads; z -> a 2D DCGAN background (tanh) replicated over time by broadcasting;
  video = b + m * (f - b), i.e. m * f + (1 - m) * b. Modules are declared in the Keras
  model's order (trunk, video head, mask head, background), so that the parameters line up
  with its trainable variables.

  Args:
    latent_dim: size of z.
    widths: hidden channels of the foreground trunk.
    background_widths: hidden channels of the background stream (as many).
    init_std, gamma_std: initializer stds (see `_initialize`).
  """

  def __init__(self, latent_dim, widths, background_widths, init_std=0.01, gamma_std=0.02):
    super().__init__()
    if len(background_widths) != len(widths):
      raise ValueError(
        f"Expected {len(widths)} background widths, received {tuple(background_widths)!r}."
      )
    self.latent_dim = int(latent_dim)
    self.trunk = nn.Sequential(*_up_stack(3, latent_dim, widths, (2, 4, 4)))
    self.video_head = nn.Sequential(*_output_head(3, widths[-1], 3, nn.Tanh()))
    self.mask_head = nn.Sequential(*_output_head(3, widths[-1], 1, nn.Sigmoid()))
    self.background = nn.Sequential(
      *_up_stack(2, latent_dim, background_widths, 4),
      *_output_head(2, background_widths[-1], 3, nn.Tanh()),
    )
    _initialize(self, init_std, gamma_std)
    self.memory_format = {3: torch.contiguous_format, 2: torch.contiguous_format}

  def to_channels_last(self):
    """Channels-last weights and inputs: channels_last_3d for the 3D convs, channels_last
    for the 2D background (`Module.to` takes one format, valid for one rank)."""
    self.memory_format = dict(_MEMORY_FORMAT)
    for stream in (self.trunk, self.video_head, self.mask_head):
      stream.to(memory_format=torch.channels_last_3d)
    self.background.to(memory_format=torch.channels_last)
    return self

  def forward(self, z):
    """z [B, latent_dim] -> (video [B, 3, T, H, W], mask [B, 1, T, H, W])."""
    volume = z.view(-1, self.latent_dim, 1, 1, 1).contiguous(memory_format=self.memory_format[3])
    image = z.view(-1, self.latent_dim, 1, 1).contiguous(memory_format=self.memory_format[2])
    hidden = self.trunk(volume)
    foreground = self.video_head(hidden)
    mask = self.mask_head(hidden)
    background = self.background(image).unsqueeze(2)  # [B, 3, 1, H, W]: one image per clip
    return background + mask * (foreground - background), mask


def _strided_sizes(video_shape, num_layers):
  """(T, H, W) after each "k4 s2" layer; Keras's "same" is PyTorch's padding=1 on even sizes."""
  sizes = [tuple(video_shape[:3])]
  for _ in range(num_layers):
    if any(s % 2 for s in sizes[-1]):
      raise ValueError(
        f"Expected even sizes before every strided layer of the discriminator "
        f"(Keras 'same' = PyTorch padding 1), received {sizes[-1]} from "
        f"video_shape {tuple(video_shape)}."
      )
    sizes.append(tuple(s // 2 for s in sizes[-1]))
  return sizes


class Discriminator(nn.Module):
  """`zoo.vgan.discriminators.Discriminator` (Vondrick et al. 2016, Sec. 2.3) in PyTorch.

  Conv3d "k4 s2" layers with LeakyReLU 0.2, BN on all but the first, then one valid Conv3d
  whose kernel is the remaining (T, H, W) -> one logit [B, 1].

  Args:
    video_shape: (T, H, W, C) of the clips it judges.
    widths: channels of the strided layers.
    init_std, gamma_std: initializer stds (see `_initialize`).
  """

  def __init__(self, video_shape, widths, init_std=0.01, gamma_std=0.02):
    super().__init__()
    self.final_kernel = _strided_sizes(video_shape, len(widths))[-1]
    layers, c_in = [], int(video_shape[-1])
    for i, width in enumerate(widths):
      layers += _conv_block(
        3,
        c_in,
        width,
        4,
        2,
        1,
        transpose=False,
        batch_norm=i > 0,
        activation="leaky_relu",
        bn_epsilon=DISCRIMINATOR_BN_EPSILON,
      )
      c_in = width
    self.trunk = nn.Sequential(*layers)
    self.final = nn.Conv3d(c_in, 1, self.final_kernel)
    _initialize(self, init_std, gamma_std)

  def to_channels_last(self):
    return self.to(memory_format=torch.channels_last_3d)

  def forward(self, video):
    """video [B, C, T, H, W] -> logits [B, 1]."""
    return self.final(self.trunk(video)).reshape(-1, 1)


def check_objective(config):
  """Raises unless config's objective is one this reference implements (VGAN's)."""
  obj = config.objective
  if obj.task != "gan" or obj.gan_loss != "non_saturating":
    raise ValueError(
      f"Expected objective.task 'gan' with gan_loss 'non_saturating', received "
      f"{obj.task!r} with {obj.gan_loss!r}."
    )
  unsupported = [
    k
    for k in ("gp_weight", "r1_weight", "clip_weights", "condition", "recon_weight", "kl_weight")
    if obj.get(k)
  ]
  if unsupported:
    raise ValueError(
      f"Expected none of {unsupported} in the objective (not implemented "
      f"here), received {[obj[k] for k in unsupported]}."
    )
  if config.optimizer.name != "adam":
    raise ValueError(f"Expected optimizer.name 'adam', received {config.optimizer.name!r}.")


def networks(config):
  """(generator, {name: discriminator}, {name: loss weight}) in PyTorch, from the config's
  `model` entries (which must name `vgan_two_stream` and `vgan_discriminator`s), with
  `zoo.vgan`'s defaults for the arguments they leave out."""
  entry = config.model.generator
  if entry.name != "vgan_two_stream":
    raise ValueError(f"Expected the generator 'vgan_two_stream', received {entry.name!r}.")
  a = entry.args
  g = TwoStreamGenerator(
    a.get("latent_dim", 100),
    a.get("widths", VIDEO_WIDTHS),
    a.get("background_widths", BACKGROUND_WIDTHS),
    a.get("init_std", INIT_STD),
    a.get("gamma_std", GAMMA_STD),
  )
  ds, weights = {}, {}
  for name, d in sorted(config.model.discriminators.items()):
    if d.name != "vgan_discriminator":
      raise ValueError(
        f"Expected discriminator {name!r} to be 'vgan_discriminator', received {d.name!r}."
      )
    ds[name] = Discriminator(
      d.args.get("video_shape", VIDEO_SHAPE),
      d.args.get("widths", DISCRIMINATOR_WIDTHS),
      d.args.get("init_std", INIT_STD),
      d.args.get("gamma_std", GAMMA_STD),
    )
    weights[name] = float(d.get("weight", 1.0))
  return g, ds, weights


def trainable_count(module):
  """Trainable parameters (BN gamma and beta included) of a PyTorch module."""
  return sum(p.numel() for p in module.parameters() if p.requires_grad)


class Step:
  """One generator step of `bench/plain_step.py`, eager: d_steps D updates, one G update.

  Args:
    generator: a `TwoStreamGenerator`.
    discriminators: {name: `Discriminator`}.
    d_weights: {name: loss weight}.
    config: the config (objective.d_steps, objective.mask_sparsity, optimizer).
    memory_format: of the real clips given to `__call__`.
    autocast: run the forward passes under `torch.autocast("cpu", torch.bfloat16)` (weights,
      gradients and Adam stay float32, as Keras's mixed_bfloat16).
  """

  def __init__(
    self,
    generator,
    discriminators,
    d_weights,
    config,
    memory_format=torch.contiguous_format,
    autocast=False,
  ):
    self.g, self.ds, self.d_weights = generator, discriminators, d_weights
    self.autocast = bool(autocast)
    self.d_steps = int(config.objective.d_steps)
    self.mask_sparsity = float(config.objective.mask_sparsity)
    self.memory_format = memory_format
    o = config.optimizer
    adam = lambda params, lr: torch.optim.Adam(
      params, lr=lr, betas=(o.beta1, o.beta2), eps=o.epsilon
    )
    self.d_params = [p for d in self.ds.values() for p in d.parameters()]
    self.d_opt = adam(self.d_params, o.d_lr)
    self.g_opt = adam(self.g.parameters(), o.g_lr)
    for m in (self.g, *self.ds.values()):
      m.train()

  def noise(self, batch_size):
    return torch.randn(batch_size, self.g.latent_dim)

  def _forward(self):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast)

  def __call__(self, real):
    """real [B, 3, T, H, W] -> (d loss, g loss) of this step, as floats."""
    b = real.shape[0]
    for _ in range(self.d_steps):
      with torch.no_grad(), self._forward():  # tf.stop_gradient(fake): G runs forward only
        fake, _ = self.g(self.noise(b))
      fake = fake.contiguous(memory_format=self.memory_format)
      self.d_opt.zero_grad(set_to_none=True)
      with self._forward():
        d_loss = sum(
          w * (F.softplus(-self.ds[n](real)).mean() + F.softplus(self.ds[n](fake)).mean())
          for n, w in self.d_weights.items()
        )
      d_loss.float().backward()
      self.d_opt.step()
    for p in self.d_params:  # D differentiated w.r.t. its input only
      p.requires_grad_(False)
    try:
      with self._forward():
        fake, mask = self.g(self.noise(b))
        fake = fake.contiguous(memory_format=self.memory_format)
        g_loss = sum(w * F.softplus(-self.ds[n](fake)).mean() for n, w in self.d_weights.items())
        if self.mask_sparsity:
          g_loss = g_loss + self.mask_sparsity * mask.abs().mean()
      g_loss = g_loss.float()
      self.g_opt.zero_grad(set_to_none=True)
      g_loss.backward()
      self.g_opt.step()
    finally:
      for p in self.d_params:
        p.requires_grad_(True)
    return d_loss.item(), g_loss.item()


# An x86 CPU without these multiplies bfloat16 in PyTorch's reference loops, on one core: a
# 4096^2 matmul did not end within 20 minutes on an AMD Zen 3 (family 25 model 1).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_FALLBACK_SIZE = 512


def bf16_matmul_size(cpu, size):
  """The bf16 matmul's size: `size` where the CPU (`host.cpu_info()`) multiplies bfloat16 in
  hardware (or is not x86), else at most BF16_FALLBACK_SIZE."""
  x86 = any(f in cpu.get("flags", ()) for f in ("avx", "avx2"))
  if x86 and not any(f in cpu.get("flags", ()) for f in BF16_FLAGS):
    return min(size, BF16_FALLBACK_SIZE)
  return size


def torch_matmul_gflops(dtype=torch.float32, size=4096, warmup=1, repeats=3):
  """`bench/common.matmul_gflops` in PyTorch: best-of-`repeats` GFLOP/s of a size^2 matmul."""
  gen = torch.Generator().manual_seed(0)
  a = torch.randn(size, size, generator=gen).to(dtype)
  b = torch.randn(size, size, generator=gen).to(dtype)
  timing = host.time_callable(lambda: torch.matmul(a, b).sum().item(), warmup, repeats)
  return {
    "gflops": 2 * size**3 / timing["best"] / 1e9,
    "median_gflops": 2 * size**3 / timing["median"] / 1e9,
    "dtype": str(dtype).removeprefix("torch."),
    "size": size,
    "seconds": timing,
  }


_COUNTED = tuple(_CONV.values()) + tuple(_CONV_TRANSPOSE.values()) + (nn.Conv1d, nn.Linear)


def call_flops(module, x, y):
  """Forward FLOPs (2 x multiply-adds) of one call of a conv, transposed conv or linear
  `module` from `x` to `y`, batch included: bench/flops.py's formulas (a convolution counts
  output positions, a transposed one input positions)."""
  if isinstance(module, nn.Linear):
    return 2 * (x.numel() // module.in_features) * module.in_features * module.out_features
  kernel = math.prod(module.kernel_size)
  c_in, c_out = module.in_channels, module.out_channels
  if isinstance(module, tuple(_CONV_TRANSPOSE.values())):
    return 2 * kernel * c_in * c_out * (x.numel() // c_in)
  return 2 * kernel * (c_in // module.groups) * c_out * (y.numel() // c_out)


class FlopCounter(contextlib.AbstractContextManager):
  """The convolution and linear FLOPs of what runs inside it, forward and backward.

  Counts from forward hooks on every conv, transposed conv and linear module of `modules`,
  with bench/flops.py's "exact" convention read from autograd's own state at each call: a
  forward pass F; a weight gradient F when grad mode is on and the weight requires grad; an
  input gradient F when grad mode is on and the input requires grad (it does not for data, z,
  or anything made under `torch.no_grad`). So the first layer of D on real clips costs no
  input gradient, a frozen D in the G step no weight gradients, G under no_grad no backward.
  """

  def __init__(self, modules):
    self.modules = list(modules)
    self.forward = self.backward = 0
    self._handles = []

  def _hook(self, module, inputs, output):
    x = inputs[0]
    f = call_flops(module, x, output)
    self.forward += f
    if torch.is_grad_enabled():
      self.backward += f * (bool(module.weight.requires_grad) + bool(x.requires_grad))

  def __enter__(self):
    for root in self.modules:
      for m in root.modules():
        if isinstance(m, _COUNTED):
          self._handles.append(m.register_forward_hook(self._hook))
    return self

  def __exit__(self, *exc):
    for h in self._handles:
      h.remove()
    self._handles = []

  @property
  def total(self):
    return self.forward + self.backward

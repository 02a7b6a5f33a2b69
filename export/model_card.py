"""The model card (the hub export's README.md) of a generator, generated from its workdir.

Everything on the card is read, never typed by hand: the registry name and arguments from
config.json, the paper from the first line of the generator class's docstring (the zoo's
habit: "what it is, the paper and section it follows"), the training data from
config.data, the step from the checkpoint, metrics from WORKDIR/metrics.json when an
evaluation wrote one (`trainers.evaluate --workdir`, or the trainer's periodic evaluation),
with the step they belong to.
"""

import json
import os
import re

import tensorflow as tf

from trainers import workdir as workdir_lib
from trainers.data import format as record_format
from zoo import base


def checkpoint_step(path):
  """The training step of a checkpoint: its `step` variable if saved, else N of ckpt-N."""
  try:
    names = dict(tf.train.list_variables(path))
  except (tf.errors.OpError, ValueError):
    names = {}
  for key in ("step/.ATTRIBUTES/VARIABLE_VALUE", "global_step/.ATTRIBUTES/VARIABLE_VALUE"):
    if key in names:
      return int(tf.train.load_variable(path, key))
  match = re.search(r"ckpt-(\d+)$", path)
  return int(match.group(1)) if match else None


def paper(generator):
  doc = (type(generator).__doc__ or "").strip()
  return doc.splitlines()[0].strip() if doc else "not stated (the class has no docstring)"


def _metrics_section(record, step):
  """The card's metrics: the workdir's latest evaluation (trainers.workdir.write_metrics)."""
  if not record:
    return (
      "Not evaluated (no metrics.json in the workdir: "
      "`python -m trainers.evaluate --workdir=WORKDIR` writes one)."
    )
  network_of = {}
  for net, about in (record.get("networks") or {}).items():
    for metric in about.get("metrics", ()):
      network_of[metric] = f"{net} ({about.get('weights', 'weights not recorded')})"
  real = record.get("real") or {}
  lines = [
    f"Evaluated at step {record.get('step')} on {record.get('date')} by "
    f"`{record.get('written_by')}`: {record.get('num_fake_clips')} generated clips "
    f"against {record.get('num_real_clips')} real clips"
    f"{' of ' + str(real.get('spec')) if real.get('spec') else ''}."
  ]
  if step is not None and record.get("step") is not None and record["step"] != step:
    lines.append(
      f"\nThese figures belong to step {record['step']}, not to the exported "
      f"checkpoint (step {step})."
    )
  lines += ["", "| metric | value | feature network |", "|---|---|---|"]
  names = record.get("names") or {}
  for key, value in sorted(record.get("metrics", {}).items()):
    lines.append(f"| {names.get(key, key)} | {value:.6g} | {network_of.get(key, '-')} |")
  return "\n".join(lines)


def _usage(generator):
  """(call expression, comment) of the hub call on the generator's own inputs."""
  spec = base.contract(generator).input_specs()
  specs = spec if isinstance(spec, dict) else {spec.name: spec}
  ranges = {
    "image": " in [-1, 1]",
    "frames": " in [-1, 1]",
    "mask": " class ids",
    "segmentation": " class ids",
  }
  comment = "; ".join(
    f"{k}: {v.dtype.name} [B, {', '.join(map(str, v.shape[1:]))}]{ranges.get(k, '')}"
    for k, v in specs.items()
  )
  if isinstance(spec, dict):
    return "{" + ", ".join(f'"{k}": {k}' for k in specs) + "}", comment
  return spec.name, comment


LICENSE_URLS = {"Apache 2.0": "https://www.apache.org/licenses/LICENSE-2.0"}


def license_text(license_name):
  """The LICENSE file of an export: the license the weights are released under."""
  url = LICENSE_URLS.get(license_name)
  return (
    f"The model files in this directory are released under the {license_name} license"
    f"{f' ({url})' if url else ''}.\n\nThey were trained and exported with VideoGAN Zoo, "
    "itself licensed under the Apache License, Version 2.0.\n"
  )


def render(
  generator,
  config,
  checkpoint_path,
  workdir,
  name,
  ema=True,
  verification=None,
  license_name="Apache 2.0",
):
  """The card's markdown text; `ema`: whether the EMA weights were asked for."""
  entry = config.model.generator
  args = entry.args.to_dict() if hasattr(entry.args, "to_dict") else dict(entry.args)
  data = config.data
  data_line = f"`{data.source}`"
  if data.get("train_files"):
    data_line += f" (files: `{data.train_files}`)"
  t, h, w, c = generator.video_shape
  call, call_comment = _usage(generator)
  step = checkpoint_step(checkpoint_path)
  decay = config.train.get("ema_decay", 0.0)
  ema = ema and decay > 0
  parity = ""
  if verification:
    parity = (
      "\n## Export parity\n\nmax |hub.load / hub.KerasLayer - Keras| on fixed inputs, "
      f"in a fresh process: {verification['worst']:.3g} (bound "
      f"{verification['bounds']['float']:g}).\n"
    )
  return f"""# {name}

A video generator of the VideoGAN Zoo, exported as a TF-Hub reusable SavedModel.

## Model

- Architecture: `{entry.name}` ({type(generator).__name__}) with arguments
  `{json.dumps(args, sort_keys=True)}`
- Paper: {paper(generator)}
- Output: video float32 [B, {t}, {h}, {w}, {c}] in [-1, 1]
- Condition: {generator.condition or "none (unconditional)"}; latent size {generator.latent_dim}
- Streams: {", ".join(base.contract(generator).streams) or "none (one-stream)"}
- Parameters: {generator.count_params():,}

## Training

- Data: {data_line}, clips of {data.num_frames} frames at {data.height}x{data.width},
  {record_format.clip_fps(data):g} fps (the source videos' rate over the frame stride; samples
  and exported clips are written at it)
- Steps: {"unknown" if step is None else step} (`{os.path.basename(checkpoint_path)}`)
- Weights: {f"EMA (decay {decay})" if ema else "raw generator (not the EMA copy)"}

## Metrics

{_metrics_section(workdir_lib.load_metrics(workdir), step)}
{parity}
## Usage

```python
import tensorflow_hub as hub
model = hub.load(PATH)  # or hub.KerasLayer(PATH) inside a tf_keras model
# {call_comment}
video = model({call})  # float32 [B, {t}, {h}, {w}, {c}] in [-1, 1]
```

`model` is the generator's `call(inputs, training=False)`; the streams of a two-stream
generator and the uint8 / seeded variants are in the serving SavedModel's signatures.

## License

{license_name} (see `LICENSE`).

## Publishing

This directory uploads as a Kaggle Models variation as it is:

```python
import kagglehub
kagglehub.model_upload("OWNER/{name}/tensorFlow2/default", PATH, license_name="{license_name}")
```
"""

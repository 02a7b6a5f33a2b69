r"""Exports a trained generator: TF Serving SavedModel, TF-Hub SavedModel, TFLite.

    python -m export.export --workdir=/tmp/vgan --out=/tmp/exported \
        [--formats=saved_model,hub,tflite,keras] [--step=N] [--no_ema] \
        [--name=NAME --version=1] [--tflite_variants=float32,float16,int8] [--overwrite] \
        [--segmenter=SAVED_MODEL]

Restores the latest (or --step) checkpoint, EMA weights unless --no_ema, and writes

    OUT/NAME/VERSION/                  SavedModel with serving signatures (TF Serving's
                                       model_base_path is OUT/NAME) + verification.json
    OUT/hub/NAME/VERSION/              TF-Hub reusable SavedModel + README.md (the model
                                       card) + LICENSE: a Kaggle Models variation as it is
                                       + verification.json
    OUT/tflite/NAME/VERSION/           NAME_float32.tflite, NAME_float16.tflite,
                                       NAME_int8.tflite + verification.json
    OUT/keras/NAME/VERSION/            NAME.keras (keras.saving.load_model after
                                       `import zoo`) + verification.json

NAME defaults to the generator's registry name. A generator that reads the photo's
segmentation (relive_segmentation_conditional) serves animate(image, segmentation); with
--segmenter (a segmentation SavedModel, `zoo.segmenter`) the SavedModel also embeds it and
serves segment_and_animate(image), its serving_default, and each TFLite variant is written
a second time with the segmenter embedded, NAME_segment_and_animate_<variant>.tflite: image
in, video and the segmentation out (`export.tflite`; verified by the rule in
`export.verify`: float32 against the whole float chain, the quantized variants' generator
part against Keras fed their own segmentation, flipped pixels recorded). The hub model
keeps the generator's own inputs (image and segmentation), without the segmenter.

Each artefact is written to a temporary directory beside its destination; all are verified
in one fresh process (`export.verify`) and only when every check passes are they renamed to
their final names. A failed check removes every temporary directory and raises with the
measured figures: a path that exists is always a complete, verified artefact, and an export
is all or nothing.
See docs/export.md for `saved_model_cli` and a TF Serving request.
"""

from collections.abc import Iterator, Sequence
import contextlib
import json
import os
import secrets
import shutil
import tempfile

from absl import flags
from absl import logging

from export import cli
from export import model_card
from export import signatures
from export import tflite
from export import verify
from trainers import cli as trainers_cli
from trainers import errors
from trainers import workdir as workdir_lib
from trainers.data import video_io

FORMATS = ("saved_model", "hub", "tflite", "keras")
VERIFICATION_FILE = "verification.json"
MODEL_CARD_FILE = "README.md"  # the name Kaggle Models shows a variation's files under
LICENSE_FILE = "LICENSE"

flags.adopt_module_key_flags(cli)  # --helpshort lists --workdir, --out, ...
FORMATS_FLAG = flags.DEFINE_list("formats", list(FORMATS), f"Any of {', '.join(FORMATS)}.")
NAME = flags.DEFINE_string("name", None, "Model name in the layout; default: registry name.")
VERSION = flags.DEFINE_integer("version", 1, "Version directory (TF Serving layout).")
TFLITE_VARIANTS = flags.DEFINE_list(
  "tflite_variants", list(tflite.VARIANTS), f"Any of {', '.join(tflite.VARIANTS)}."
)
OVERWRITE = flags.DEFINE_boolean(
  "overwrite", False, "Replace existing artefacts (after the new ones verify)."
)
LICENSE = flags.DEFINE_string(
  "license",
  "Apache 2.0",
  "License of the exported weights, written to the hub export's "
  "LICENSE and model card (a Kaggle Models license name).",
)


def destinations(out: str, name: str, version: int) -> dict[str, str]:
  """{format: final directory} of the layout above."""
  return {
    "saved_model": os.path.join(out, name, str(version)),
    "hub": os.path.join(out, "hub", name, str(version)),
    "tflite": os.path.join(out, "tflite", name, str(version)),
    "keras": os.path.join(out, "keras", name, str(version)),
  }


@contextlib.contextmanager
def staged_dir(destination: str, overwrite: bool = False) -> Iterator[str]:
  """Yields a temporary directory beside `destination`, renamed to it on success.

  On any exception the temporary directory (and parents this call created) are removed
  and the exception propagates: nothing appears under the final name.
  """
  destination = os.path.abspath(destination)
  if os.path.isdir(os.path.dirname(destination)):
    sweep_staging(os.path.dirname(destination))  # first: it may restore `destination`
  if os.path.exists(destination) and not overwrite:
    raise FileExistsError(f"Expected {destination} not to exist (pass --overwrite to replace it).")
  created, parent = [], os.path.dirname(destination)
  while not os.path.exists(parent):
    created.append(parent)
    parent = os.path.dirname(parent)
  for directory in reversed(created):
    os.mkdir(directory)
  staging = tempfile.mkdtemp(
    prefix=f".{os.path.basename(destination)}.tmp-{os.getpid()}-", dir=os.path.dirname(destination)
  )
  replaced = None
  try:
    yield staging
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would hide it from a server's user
    workdir_lib.fsync_tree(staging)
    if os.path.exists(destination):
      # Set aside by rename, removed once the new one is in place: removed first, a kill
      # during the removal left half an artefact under the final name, and one before the
      # rename left no artefact at all, the new one swept as litter by the next export.
      replaced = _aside_name(destination)
      os.rename(destination, replaced)
    os.rename(staging, destination)
    workdir_lib.fsync(os.path.dirname(destination))  # the rename itself
    if replaced:
      shutil.rmtree(replaced, ignore_errors=True)
  except BaseException:
    if replaced and not os.path.exists(destination):
      os.rename(replaced, destination)  # the artefact it was to replace stays
    shutil.rmtree(staging, ignore_errors=True)
    for directory in created:  # innermost first; only if still empty
      with contextlib.suppress(OSError):
        os.rmdir(directory)
    raise


REPLACED = ".replaced-"  # `.NAME.replaced-PID-*`: an artefact an export with --overwrite replaces


def _aside_name(destination):
  folder, name = os.path.split(destination)
  return os.path.join(folder, f".{name}{REPLACED}{os.getpid()}-{secrets.token_hex(4)}")


def sweep_staging(folder):
  """Removes, with a log line, the staging (`.NAME.tmp-PID-*`) and verification scratch
  (`.export_verify_PID-*`) folders in `folder` that a killed export left: those whose process
  is gone (folders named without a pid come from older exports and are removed too). An
  artefact that an export killed while replacing it had set aside (`.NAME.replaced-PID-*`)
  goes back to NAME when NAME is missing, else is removed."""
  for name in sorted(os.listdir(folder)):
    if name.startswith(verify.SCRATCH_PREFIX):
      tail = name[len(verify.SCRATCH_PREFIX) :]
    elif name.startswith(".") and (".tmp-" in name or REPLACED in name):
      tail = name.split(".tmp-" if ".tmp-" in name else REPLACED, 1)[1]
    else:
      continue
    pid = tail.split("-", 1)[0]
    if pid.isdigit() and int(pid) > 0 and "-" in tail and workdir_lib.pid_alive(int(pid)):
      continue  # another export at work
    path = os.path.join(folder, name)
    if REPLACED in name:
      destination = os.path.join(folder, name[1:].split(REPLACED, 1)[0])
      if not os.path.exists(destination):
        logging.warning(
          "Restoring %s from %s: the export that was replacing it did not finish.",
          destination,
          path,
        )
        os.rename(path, destination)
        continue
    logging.warning("Removing %s, left by an export that did not finish.", path)
    shutil.rmtree(path, ignore_errors=True)


def _write_json(path, value):
  with errors.writing(path), open(path, "w") as f:
    json.dump(value, f, indent=2, sort_keys=True)


def _check_choices(values, allowed, flag):
  bad = [v for v in values if v not in allowed]
  if bad or not values:
    raise ValueError(
      f"Expected --{flag} from {', '.join(allowed)}, received {','.join(values) or 'nothing'}."
    )


def export_workdir(
  workdir: str,
  out: str,
  formats: Sequence[str] = FORMATS,
  step: int | None = None,
  ema: bool = True,
  name: str | None = None,
  version: int = 1,
  tflite_variants: Sequence[str] = tflite.VARIANTS,
  overwrite: bool = False,
  segmenter: str | None = None,
  license_name: str = "Apache 2.0",
) -> dict[str, dict]:
  """Exports the workdir's generator in `formats`; returns {format: {path, verification}}.

  `segmenter`: path of a segmentation SavedModel to embed in the serving SavedModel and in
  the segment_and_animate .tflite files. `license_name`: the exported weights' license, in the
  hub export's LICENSE and model card.
  """
  formats, tflite_variants = list(formats), list(tflite_variants)
  _check_choices(formats, FORMATS, "formats")
  if "tflite" in formats:
    _check_choices(tflite_variants, tflite.VARIANTS, "tflite_variants")
  if version < 1:
    raise ValueError(f"Expected --version >= 1 (TF Serving ignores 0), received {version}.")
  generator, config, checkpoint = workdir_lib.restore_generator(workdir, step=step, ema=ema)
  segmenter = signatures.load_segmenter(segmenter, generator, config.model.generator.name)
  name = name or config.model.generator.name
  if name in ("hub", "tflite", "keras") or not name or os.sep in name:
    raise ValueError(
      f"Expected --name to be a plain name other than 'hub', 'tflite' and "
      f"'keras', received {name!r}."
    )
  video_io.check_local_output(out, "--out")
  paths = destinations(out, name, version)
  for fmt in formats:  # fail before any work rather than after the first artefact
    if os.path.exists(paths[fmt]) and not overwrite:
      raise FileExistsError(f"Expected {paths[fmt]} not to exist (pass --overwrite to replace it).")
  used_ema = ema and config.train.get("ema_decay", 0.0) > 0
  provenance = {
    "workdir": workdir,
    "checkpoint": checkpoint,
    "ema_weights": used_ema,
    "step": model_card.checkpoint_step(checkpoint),
  }
  module = signatures.GeneratorModule(generator)
  with contextlib.ExitStack() as stack:
    # All or nothing: every artefact is staged, all are verified in one fresh process, and
    # only if all pass are they renamed into place (ExitStack unwinding on an exception
    # removes every staging directory).
    staging = {fmt: stack.enter_context(staged_dir(paths[fmt], overwrite)) for fmt in formats}
    jobs, extra = [], {}
    if "saved_model" in staging:
      serving = signatures.GeneratorModule(generator, segmenter) if segmenter else module
      signatures.save_serving(serving, staging["saved_model"])
      jobs.append(verify.saved_model_job(staging["saved_model"], generator, segmenter))
      if segmenter is not None:
        extra["saved_model"] = {"segmenter": segmenter.path}  # not in the hub model
    if "hub" in staging:
      signatures.save_hub(module, staging["hub"])
      jobs.append(verify.hub_job(staging["hub"], generator))
    if "tflite" in staging:
      # With --segmenter each variant is also written as the segment_and_animate model
      # (export.tflite), which embeds the segmenter and takes the image alone.
      files, select_ops, names = {False: {}, True: {}}, {}, {}  # {embedded: {variant: path}}
      for variant in tflite_variants:
        for embedded in (False, True) if segmenter is not None else (False,):
          key = tflite.artefact_key(variant, segmenting=embedded)
          model, select_ops[key] = tflite.convert(
            generator, variant, segmenter if embedded else None
          )
          path = files[embedded][variant] = os.path.join(staging["tflite"], f"{name}_{key}.tflite")
          names[key] = os.path.basename(path)
          with errors.writing(path), open(path, "wb") as f:
            f.write(model)
          if select_ops[key]:
            logging.warning("TFLite %s needed Select TF ops: %s", key, select_ops[key])
      jobs.append(verify.tflite_job(files[False], generator, files[True], segmenter))
      extra["tflite"] = {"select_tf_ops": select_ops, "files": names}
      if segmenter is not None:
        extra["tflite"]["segmenter"] = segmenter.path  # in the segment_and_animate files
    if "keras" in staging:
      keras_path = os.path.join(staging["keras"], f"{name}.keras")
      with errors.writing(keras_path):
        generator.save(keras_path)
      jobs.append(verify.keras_job(keras_path, generator))
    logging.info("Verifying %s in a fresh process", ", ".join(formats))
    results = verify.verify_jobs(jobs)
    for fmt, result in results.items():
      result.update(extra.get(fmt, {}))
      _write_json(os.path.join(staging[fmt], VERIFICATION_FILE), {**result, **provenance})
      result["artefact"] = paths[fmt]
      logging.info(
        "%s verified: worst max |diff| %s (bounds %s)", fmt, result["worst"], result["bounds"]
      )
    for variant, seg in results.get("tflite", {}).get(tflite.SEGMENTING, {}).items():
      if seg["flipped_pixels"]:  # allowed for the quantized variants only (export.verify)
        logging.warning(
          "TFLite %s: the quantized segmenter chose another class at %d of %d "
          "pixels of the check images",
          tflite.artefact_key(variant, True),
          seg["flipped_pixels"],
          seg["pixels"],
        )
    if "hub" in staging:
      card = model_card.render(
        generator,
        config,
        checkpoint,
        workdir,
        name,
        ema=ema,
        verification=results["hub"],
        license_name=license_name,
      )
      for file, text in (
        (MODEL_CARD_FILE, card),
        (LICENSE_FILE, model_card.license_text(license_name)),
      ):
        path = os.path.join(staging["hub"], file)
        with errors.writing(path), open(path, "w") as f:
          f.write(text)
  return {fmt: {"path": paths[fmt], "verification": results[fmt]} for fmt in formats}


def main(argv):
  cli.no_positional(argv)
  results = export_workdir(
    cli.require(cli.WORKDIR),
    cli.require(cli.OUT),
    formats=FORMATS_FLAG.value,
    step=cli.STEP.value,
    ema=not cli.NO_EMA.value,
    name=NAME.value,
    version=VERSION.value,
    tflite_variants=TFLITE_VARIANTS.value,
    overwrite=OVERWRITE.value,
    segmenter=cli.SEGMENTER.value,
    license_name=LICENSE.value,
  )
  for fmt, result in results.items():
    print(f"{fmt}: {result['path']} (worst max |diff| {result['verification']['worst']:.3g})")


if __name__ == "__main__":
  trainers_cli.run(main)
